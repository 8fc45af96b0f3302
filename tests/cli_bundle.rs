//! The command-line contract of keygen / sign / verify / inspect: flags, exit codes,
//! messages, JSON output and files left behind. Uses the real example model
//! (`examples/iris`, a scikit-learn pipeline saved by joblib; see
//! `examples/make_iris_example.py`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn modelseal(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run modelseal")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A temp dir with a fresh key pair `keys/dev`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = modelseal(
        &["keygen", "--out", "keys/dev", "--comment", "ci"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

fn sign_example(dir: &Path, out: &str) -> Output {
    let iris = example().join("iris");
    let meta = example().join("iris-metadata.json");
    modelseal(
        &[
            "sign",
            iris.to_str().unwrap(),
            "--key",
            "keys/dev.key",
            "--out",
            out,
            "--name",
            "iris",
            "--version",
            "1.0.0",
            "--metadata",
            meta.to_str().unwrap(),
        ],
        dir,
    )
}

#[test]
fn keygen_writes_a_private_key_and_never_overwrites_it() {
    let dir = setup();
    let key = dir.path().join("keys/dev.key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = fs::read(&key).unwrap();
    let o = modelseal(&["keygen", "--out", "keys/dev"], dir.path());
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(fs::read(&key).unwrap(), before);
    let o = modelseal(
        &["keygen", "--out", "keys/dev", "--force", "--json"],
        dir.path(),
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["key_id"].as_str().unwrap().len(), 32);
    assert_ne!(fs::read(&key).unwrap(), before);
}

#[test]
fn sign_verify_extract_round_trip_of_a_real_sklearn_model() {
    let dir = setup();
    let o = sign_example(dir.path(), "iris.zip");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = modelseal(
        &[
            "verify",
            "iris.zip",
            "--trust",
            "keys/dev.pub",
            "--extract",
            "out",
            "--json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["name"], "iris");
    assert_eq!(v["files"], 2);
    for f in ["model.joblib", "config.json"] {
        assert_eq!(
            fs::read(dir.path().join("out").join(f)).unwrap(),
            fs::read(example().join("iris").join(f)).unwrap(),
            "{f}"
        );
    }
    // The signed metadata travels with the bundle.
    let o = modelseal(
        &["inspect", "iris.zip", "--json", "--trust", "keys/dev.pub"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"], true);
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(example().join("iris-metadata.json")).unwrap()).unwrap();
    assert_eq!(v["manifest"]["metadata"], expected);
    assert_eq!(v["manifest"]["tool"]["name"], "modelseal");
    // The extracted model still loads in scikit-learn and predicts (when Python has it).
    let py = std::env::var("MODELSEAL_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import joblib,sys; from sklearn.datasets import load_iris; \
                  m=joblib.load(sys.argv[1]); d=load_iris(); print((m.predict(d.data)==d.target).mean())";
    match Command::new(&py)
        .args(["-c", script])
        .arg(dir.path().join("out/model.joblib"))
        .output()
    {
        Ok(o) if o.status.success() => {
            let acc: f64 = stdout(&o).trim().parse().unwrap();
            assert!(acc > 0.9, "accuracy {acc}");
        }
        _ => eprintln!(
            "skipping the scikit-learn load check: {py} has no scikit-learn (set MODELSEAL_PYTHON)"
        ),
    }
}

#[test]
fn inspect_without_trust_is_marked_unverified() {
    let dir = setup();
    assert!(sign_example(dir.path(), "iris.zip").status.success());
    let o = modelseal(&["inspect", "iris.zip"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("UNVERIFIED"), "{}", stdout(&o));
    assert!(stdout(&o).contains("model.joblib"));
}

#[test]
fn tampered_bundle_fails_with_exit_1_and_one_line_per_problem() {
    let dir = setup();
    assert!(sign_example(dir.path(), "iris.zip").status.success());
    let mut bytes = fs::read(dir.path().join("iris.zip")).unwrap();
    // Flip one byte of model.joblib's data (stored member) and append junk.
    let at = bytes
        .windows(12)
        .position(|w| w == b"files/model.")
        .unwrap()
        + 200;
    bytes[at] ^= 0x20;
    fs::write(dir.path().join("bad.zip"), &bytes).unwrap();
    let o = modelseal(
        &["verify", "bad.zip", "--trust", "keys/dev.pub"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.lines().any(|l| l.starts_with("error: ")), "{err}");
    let o = modelseal(
        &["verify", "bad.zip", "--trust", "keys/dev.pub", "--json"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"], false);
    assert!(!v["problems"].as_array().unwrap().is_empty());
    // Wrong key: exit 1 naming the signer.
    let o = modelseal(&["keygen", "--out", "keys/other"], dir.path());
    assert!(o.status.success());
    let o = modelseal(
        &["verify", "iris.zip", "--trust", "keys/other.pub"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no valid signature by a trusted key"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn failed_sign_leaves_nothing_behind() {
    let dir = setup();
    let model = dir.path().join("model");
    fs::create_dir(&model).unwrap();
    fs::write(model.join("w.bin"), b"weights").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", model.join("passwd")).unwrap();
    let o = modelseal(
        &["sign", "model", "--key", "keys/dev.key", "--out", "m.zip"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--follow-symlinks"), "{}", stderr(&o));
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("m.zip")), "{names:?}");
    // With the flag the link target is packaged.
    let o = modelseal(
        &[
            "sign",
            "model",
            "--key",
            "keys/dev.key",
            "--out",
            "m.zip",
            "--follow-symlinks",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn world_readable_secret_key_is_refused() {
    let dir = setup();
    let key = dir.path().join("keys/dev.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let o = sign_example(dir.path(), "iris.zip");
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    assert!(!dir.path().join("iris.zip").exists());
}

#[test]
fn countersigning_adds_a_signature_without_touching_contents() {
    let dir = setup();
    assert!(sign_example(dir.path(), "iris.zip").status.success());
    assert!(
        modelseal(&["keygen", "--out", "keys/release"], dir.path())
            .status
            .success()
    );
    let before = fs::read(dir.path().join("iris.zip")).unwrap();
    let o = modelseal(
        &[
            "sign",
            "--add-signature",
            "iris.zip",
            "--key",
            "keys/release.key",
            "--trust",
            "keys/dev.pub",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let after = fs::read(dir.path().join("iris.zip")).unwrap();
    assert_ne!(before, after);
    // Everything up to the signatures member is byte-identical.
    let sig_at = before
        .windows(15)
        .position(|w| w == b"signatures.json")
        .unwrap();
    assert!(
        before[..sig_at - 30] == after[..sig_at - 30],
        "contents changed"
    );
    for k in ["keys/dev.pub", "keys/release.pub"] {
        let o = modelseal(&["verify", "iris.zip", "--trust", k], dir.path());
        assert!(o.status.success(), "{k}: {}", stderr(&o));
    }
}

#[test]
fn reproducible_bundles_with_source_date_epoch() {
    let dir = setup();
    let iris = example().join("iris");
    let run = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_modelseal"))
            .args([
                "sign",
                iris.to_str().unwrap(),
                "--key",
                "keys/dev.key",
                "--out",
                out,
                "--version",
                "2",
            ])
            .current_dir(dir.path())
            .env("SOURCE_DATE_EPOCH", "1790000000")
            .output()
            .unwrap()
    };
    assert!(run("a.zip").status.success());
    assert!(run("b.zip").status.success());
    assert_eq!(
        fs::read(dir.path().join("a.zip")).unwrap(),
        fs::read(dir.path().join("b.zip")).unwrap()
    );
}

#[test]
fn help_explains_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = modelseal(&["verify", "--help"], dir.path());
    assert!(o.status.success());
    let text = stdout(&o);
    for needle in ["--trust", "--extract", "--json", "prepended"] {
        assert!(text.contains(needle), "{needle} missing from verify --help");
    }
    let o = modelseal(&["sign"], dir.path());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_shipped_example_bundle_verifies_against_the_shipped_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = modelseal(
        &[
            "verify",
            "examples/iris-1.0.0.zip",
            "--trust",
            "keys/example.pub",
            "--json",
        ],
        root,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "iris");
    assert_eq!(v["version"], "1.0.0");
}
