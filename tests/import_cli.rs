//! The `modelseal import` command line: documented limits, exit codes, no output on failure.

use std::path::Path;
use std::process::{Command, Output};

fn modelseal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_documents_every_limit_and_its_default() {
    let out = modelseal(&["import", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "--max-memory",
        "[default: 1GiB]",
        "--timeout",
        "[default: 60s]",
        "--max-output",
        "[default: 16GiB]",
        "--max-tensors",
        "[default: 100000]",
        "--allow-unknown-classes",
        "--key",
        "Exit codes",
        "loader result 64 MiB",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

fn scratch() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("mystery.bin");
    std::fs::write(&src, b"\x00\x01 not any model format \xff").unwrap();
    let s = src.to_string_lossy().into_owned();
    (dir, s)
}

fn only_input_left(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["mystery.bin".to_string()],
        "left behind: {left:?}"
    );
}

#[test]
fn unrecognised_input_is_refused_with_exit_1_and_no_output() {
    let (dir, src) = scratch();
    let out_path = dir.path().join("out.safetensors");
    let out = modelseal(&["import", &src, "--out", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("mystery.bin"),
        "{}",
        text(&out.stderr)
    );
    only_input_left(dir.path());
}

#[test]
fn json_errors_go_to_stdout() {
    let (dir, src) = scratch();
    let out_path = dir.path().join("out.safetensors");
    let out = modelseal(&[
        "import",
        &src,
        "--out",
        out_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"]["class"].is_string(), "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    only_input_left(dir.path());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let (dir, src) = scratch();
    let zip = dir.path().join("out.zip");
    let out = modelseal(&["import", &src, "--out", zip.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--key"));
    let st = dir.path().join("out.safetensors");
    let out = modelseal(&[
        "import",
        &src,
        "--out",
        st.to_str().unwrap(),
        "--max-memory",
        "1 parsec",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = modelseal(&[
        "import",
        &src,
        "--out",
        st.to_str().unwrap(),
        "--format",
        "__test_spin",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown format"),
        "{}",
        text(&out.stderr)
    );
    only_input_left(dir.path());
}

#[test]
fn missing_input_is_an_operational_error() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("out.safetensors");
    let out = modelseal(&[
        "import",
        "/nonexistent/model.pt",
        "--out",
        st.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("reading /nonexistent/model.pt"),
        "{}",
        text(&out.stderr)
    );
    assert!(!st.exists());
}

fn corpus_file(rel: &str) -> Option<std::path::PathBuf> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let f = dir.join("shared/corpora/picklescan").join(rel);
        if f.is_file() {
            return Some(f);
        }
        if !dir.pop() {
            eprintln!("SKIP: shared/corpora/picklescan not found");
            return None;
        }
    }
}

#[test]
fn malicious_pickle_exits_1_naming_the_global_and_writes_nothing() {
    let Some(src) = corpus_file("data/malicious0.pkl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("out.safetensors");
    let out = modelseal(&[
        "import",
        src.to_str().unwrap(),
        "--out",
        st.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("refused"), "{err}");
    assert!(
        err.contains("code-execution") || err.contains("system") || err.contains("eval"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn benign_pytorch_model_imports_with_exit_0() {
    let Some(src) = corpus_file("data/new_pytorch_model.bin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("out.safetensors");
    let out = modelseal(&[
        "import",
        src.to_str().unwrap(),
        "--out",
        st.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["format"], "pytorch-zip");
    assert!(st.is_file());
    let bytes = std::fs::read(&st).unwrap();
    let parsed =
        modelseal::tensor::safetensors::read_header(&bytes[..], bytes.len() as u64).unwrap();
    assert!(!parsed.tensors.is_empty());
}

#[test]
fn import_with_key_writes_a_bundle_that_verifies() {
    let Some(src) = corpus_file("data2/int_array.npy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let out = modelseal(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bundle = dir.path().join("model.zip");
    let out = modelseal(&[
        "import",
        src.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
        "--key",
        dir.path().join("k.key").to_str().unwrap(),
        "--version",
        "1.0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("signed bundle"),
        "{}",
        text(&out.stdout)
    );
    let out = modelseal(&[
        "verify",
        bundle.to_str().unwrap(),
        "--trust",
        dir.path().join("k.pub").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Only the keys and the bundle: no staging directory left behind.
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["k.key", "k.pub", "model.zip"]);
}

#[test]
fn the_wasm_stack_is_configurable_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/untrusted/mlp-checkpoint.pt");
    let st = dir.path().join("out.safetensors");
    let out = modelseal(&[
        "import",
        src.to_str().unwrap(),
        "--out",
        st.to_str().unwrap(),
        "--max-stack",
        "512KiB",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = modelseal(&[
        "import",
        src.to_str().unwrap(),
        "--out",
        st.to_str().unwrap(),
        "--max-stack",
        "1KiB",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("between 256 KiB and 256 MiB"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn loader_limits_are_flags() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("deep.pkl");
    let mut bytes = b"\x80\x02".to_vec();
    bytes.extend(std::iter::repeat_n(b'(', 1500));
    bytes.extend(std::iter::repeat_n(b'l', 1500));
    bytes.push(b'.');
    std::fs::write(&src, &bytes).unwrap();
    let src = src.to_str().unwrap();
    let out = modelseal(&["inspect", src]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("max_depth"),
        "{}",
        text(&out.stderr)
    );
    let out = modelseal(&["inspect", src, "--max-depth", "2000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no tensors found"),
        "{}",
        text(&out.stderr)
    );
}
