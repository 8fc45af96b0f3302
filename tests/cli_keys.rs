//! The command-line contract of `modelseal keys` and `verify --trust TRUST.json`: command
//! names and flags, exit codes (0 ok, 1 refused, 2 usage, 3 failure), messages, JSON, the
//! files left behind (trust.json, trust.d/N.json, trust.pending.json, trust.state) and
//! encrypted keys. Bundles are the real example model (`examples/iris`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_modelseal")
}

fn run(args: &[&str], cwd: &Path, passphrase: Option<&str>) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("MODELSEAL_PASSPHRASE");
    if let Some(p) = passphrase {
        c.env("MODELSEAL_PASSPHRASE", p);
    }
    c.output().expect("run modelseal")
}

fn ms(args: &[&str], cwd: &Path) -> Output {
    run(args, cwd, None)
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", out(o), err(o)))
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        out(&o),
        err(&o)
    );
    o
}

#[track_caller]
fn refused(o: Output, code: i32, text: &str) {
    assert_eq!(o.status.code(), Some(code), "{}{}", out(&o), err(&o));
    let all = format!("{}{}", out(&o), err(&o));
    assert!(all.contains(text), "expected {text:?} in:\n{all}");
}

/// A temp dir with key pairs keys/NAME for every name.
fn setup(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for n in names {
        ok(ms(
            &["keygen", "--out", &format!("keys/{n}"), "--comment", n],
            dir.path(),
        ));
    }
    dir
}

fn key_id(dir: &Path, name: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join(format!("keys/{name}.pub"))).unwrap()).unwrap();
    v["key_id"].as_str().unwrap().to_owned()
}

fn iris() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iris")
}

/// Sign the example as bundle `name` with keys/KEY.key into OUT.
fn sign(dir: &Path, key: &str, name: &str, out_file: &str) {
    sign_created(dir, key, name, out_file, None);
}

/// Like [`sign`], claiming creation at `created` (RFC 3339).
fn sign_created(dir: &Path, key: &str, name: &str, out_file: &str, created: Option<&str>) {
    let mut extra = Vec::new();
    if let Some(c) = created {
        extra = vec!["--created", c];
    }
    ok(ms(
        &[
            "sign",
            iris().to_str().unwrap(),
            "--key",
            &format!("keys/{key}.key"),
            "--out",
            out_file,
            "--name",
            name,
            "--version",
            "1.0.0",
        ]
        .into_iter()
        .chain(extra)
        .collect::<Vec<_>>(),
        dir,
    ));
}

fn verify(dir: &Path, bundle: &str) -> Output {
    ms(&["verify", bundle, "--trust", "keys/trust.json"], dir)
}

const T: &str = "keys/trust.json";

/// init with root key `root`, then add signing key `ci`.
fn init_with_ci(dir: &Path) {
    ok(ms(
        &["keys", "init", "--root-key", "keys/root.key", "--out", T],
        dir,
    ));
    ok(ms(
        &[
            "keys",
            "add",
            T,
            "--pub",
            "keys/ci.pub",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
}

#[test]
fn init_add_verify_and_the_files_left_behind() {
    let d = setup(&["root", "ci"]);
    let dir = d.path();
    let o = ok(ms(
        &[
            "keys",
            "init",
            "--root-key",
            "keys/root.key",
            "--expires",
            "30d",
            "--out",
            T,
            "--json",
        ],
        dir,
    ));
    let v = json(&o);
    assert_eq!(v["version"], 1);
    assert_eq!(v["published"], true);
    // init never overwrites.
    refused(
        ms(
            &["keys", "init", "--root-key", "keys/root.key", "--out", T],
            dir,
        ),
        2,
        "already exists",
    );
    ok(ms(
        &[
            "keys",
            "add",
            T,
            "--pub",
            "keys/ci.pub",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    assert!(dir.join("keys/trust.d/1.json").is_file());
    assert!(dir.join("keys/trust.state").is_file());
    // The pin holds version 2, byte for byte what was published.
    assert_eq!(
        fs::read(dir.join("keys/trust.state")).unwrap(),
        fs::read(dir.join(T)).unwrap()
    );
    sign(dir, "ci", "iris", "iris.zip");
    let o = ok(ms(&["verify", "iris.zip", "--trust", T, "--json"], dir));
    let v = json(&o);
    assert_eq!(v["verified"], true);
    assert_eq!(v["trust_root_version"], 2);
    assert_eq!(v["signers"][0], key_id(dir, "ci"));

    let v = json(&ok(ms(&["keys", "list", T, "--json"], dir)));
    assert_eq!(v["version"], 2);
    assert_eq!(v["expired"], false);
    assert_eq!(v["content"]["signing_keys"][0]["status"]["state"], "active");
    assert_eq!(v["content"]["signing_keys"][0]["scopes"][0], "*");
    let text = out(&ok(ms(&["keys", "list", T], dir)));
    assert!(
        text.contains(&key_id(dir, "ci")) && text.contains("active"),
        "{text}"
    );

    // A trust root must be the only --trust.
    refused(
        ms(
            &["verify", "iris.zip", "--trust", T, "--trust", "keys/ci.pub"],
            dir,
        ),
        2,
        "only --trust",
    );
    // A root key cannot also be a signing key.
    refused(
        ms(
            &[
                "keys",
                "add",
                T,
                "--pub",
                "keys/root.pub",
                "--root-key",
                "keys/root.key",
            ],
            dir,
        ),
        2,
        "both a root key and a signing key",
    );
    // Root keys only sign trust roots: a bundle signed by one is not trusted.
    sign(dir, "root", "iris", "by-root.zip");
    refused(
        verify(dir, "by-root.zip"),
        1,
        "no valid signature by a trusted key",
    );
}

#[test]
fn rotation_with_and_after_grace_by_pub_file_or_key_id() {
    let d = setup(&["root", "ci", "ci2", "ci3"]);
    let dir = d.path();
    init_with_ci(dir);
    sign_created(dir, "ci", "iris", "old.zip", Some("2026-01-01T00:00:00Z"));
    // OLD given as a .pub file; 30 days of grace.
    let o = ok(ms(
        &[
            "keys",
            "rotate",
            T,
            "--from",
            "keys/ci.pub",
            "--to",
            "keys/ci2.pub",
            "--grace",
            "30d",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    assert!(out(&o).contains("version 3 published"), "{}", out(&o));
    ok(verify(dir, "old.zip"));
    sign(dir, "ci2", "iris", "new.zip");
    ok(verify(dir, "new.zip"));
    // A bundle by the retired key claiming creation after the rotation is refused.
    sign_created(dir, "ci", "iris", "late.zip", Some("2099-01-01T00:00:00Z"));
    refused(verify(dir, "late.zip"), 1, "after that");
    // OLD given as a key id; no grace: bundles by ci2 stop verifying at once.
    let ci2 = key_id(dir, "ci2");
    ok(ms(
        &[
            "keys",
            "rotate",
            T,
            "--from",
            &ci2,
            "--to",
            "keys/ci3.pub",
            "--grace",
            "0s",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    refused(verify(dir, "new.zip"), 1, "grace period ended");
    // The old key inside its grace period still verifies.
    ok(verify(dir, "old.zip"));
    // Rotating a key that is no longer active is refused with a usage error.
    refused(
        ms(
            &[
                "keys",
                "rotate",
                T,
                "--from",
                &ci2,
                "--to",
                "keys/ci.pub",
                "--root-key",
                "keys/root.key",
            ],
            dir,
        ),
        2,
        "already in the trust root",
    );
    refused(
        ms(
            &[
                "keys",
                "retire",
                T,
                "--key",
                "0123456789abcdef0123456789abcdef",
                "--root-key",
                "keys/root.key",
            ],
            dir,
        ),
        2,
        "no signing key",
    );
}

#[test]
fn revocation_refuses_every_bundle_of_the_key() {
    let d = setup(&["root", "ci", "release"]);
    let dir = d.path();
    init_with_ci(dir);
    ok(ms(
        &[
            "keys",
            "add",
            T,
            "--pub",
            "keys/release.pub",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    sign(dir, "ci", "iris", "a.zip");
    ok(ms(
        &[
            "sign",
            "--add-signature",
            "a.zip",
            "--key",
            "keys/release.key",
        ],
        dir,
    ));
    ok(verify(dir, "a.zip"));
    let o = ok(ms(
        &[
            "keys",
            "revoke",
            T,
            "--key",
            "keys/ci.pub",
            "--reason",
            "leaked CI secret",
            "--root-key",
            "keys/root.key",
            "--json",
        ],
        dir,
    ));
    assert_eq!(json(&o)["version"], 4);
    // Even countersigned by a good key, a bundle signed by a revoked key is refused.
    let o = ms(&["verify", "a.zip", "--trust", T, "--json"], dir);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["verified"], false);
    assert_eq!(v["problems"][0]["code"], "policy");
    let msg = v["problems"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains(&key_id(dir, "ci"))
            && msg.contains("revoked on")
            && msg.contains("leaked CI secret"),
        "{msg}"
    );
    refused(
        ms(
            &[
                "keys",
                "revoke",
                T,
                "--key",
                "keys/ci.pub",
                "--reason",
                "again",
                "--root-key",
                "keys/root.key",
            ],
            dir,
        ),
        2,
        "already revoked",
    );
    // A bundle by the other key still verifies.
    sign(dir, "release", "iris", "b.zip");
    ok(verify(dir, "b.zip"));
}

#[test]
fn scopes_and_countersignature_thresholds() {
    let d = setup(&["root", "build", "manager", "fraud"]);
    let dir = d.path();
    ok(ms(
        &["keys", "init", "--root-key", "keys/root.key", "--out", T],
        dir,
    ));
    for (k, scope) in [
        ("build", "*"),
        ("manager", "release-*"),
        ("fraud", "fraud-*"),
    ] {
        ok(ms(
            &[
                "keys",
                "add",
                T,
                "--pub",
                &format!("keys/{k}.pub"),
                "--scope",
                scope,
                "--root-key",
                "keys/root.key",
            ],
            dir,
        ));
    }
    ok(ms(
        &[
            "keys",
            "threshold",
            T,
            "--scope",
            "release-*",
            "--signatures",
            "2",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    // Scope: the fraud key signs fraud-* only.
    sign(dir, "fraud", "fraud-detector", "f.zip");
    ok(verify(dir, "f.zip"));
    sign(dir, "fraud", "iris", "i.zip");
    refused(
        verify(dir, "i.zip"),
        1,
        "may only sign bundles named fraud-*",
    );

    // Threshold 2 for release-*: one signature is not enough.
    sign(dir, "build", "release-app", "r.zip");
    refused(verify(dir, "r.zip"), 1, "needs 2 signature(s)");
    // The same key countersigning again still counts once.
    ok(ms(
        &[
            "sign",
            "--add-signature",
            "r.zip",
            "--key",
            "keys/build.key",
        ],
        dir,
    ));
    refused(verify(dir, "r.zip"), 1, "and has 1");
    // The release manager countersigns (checked against the trust root first).
    ok(ms(
        &[
            "sign",
            "--add-signature",
            "r.zip",
            "--key",
            "keys/manager.key",
            "--trust",
            T,
        ],
        dir,
    ));
    let v = json(&ok(ms(&["verify", "r.zip", "--trust", T, "--json"], dir)));
    assert_eq!(v["signers"].as_array().unwrap().len(), 2);
    // Two keys, one outside its scope, do not meet the threshold of another scope.
    ok(ms(
        &[
            "keys",
            "threshold",
            T,
            "--scope",
            "fraud-*",
            "--signatures",
            "2",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    refused(verify(dir, "f.zip"), 1, "needs 2 signature(s)");
    refused(
        ms(
            &[
                "keys",
                "threshold",
                T,
                "--scope",
                "*",
                "--signatures",
                "9",
                "--root-key",
                "keys/root.key",
            ],
            dir,
        ),
        2,
        "usable signing keys",
    );
}

#[test]
fn rollback_missing_versions_and_no_pin() {
    let d = setup(&["root", "ci", "ci2"]);
    let dir = d.path();
    init_with_ci(dir);
    ok(ms(
        &[
            "keys",
            "add",
            T,
            "--pub",
            "keys/ci2.pub",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    sign(dir, "ci", "iris", "a.zip");
    ok(verify(dir, "a.zip"));
    let v3 = fs::read(dir.join(T)).unwrap();
    // An attacker (or a stale mirror) serves version 2 again.
    fs::copy(dir.join("keys/trust.d/2.json"), dir.join(T)).unwrap();
    refused(ms(&["keys", "verify", T], dir), 1, "rollback refused");
    refused(verify(dir, "a.zip"), 1, "rollback refused");
    // Without the pin it is accepted, as documented.
    ok(ms(&["verify", "a.zip", "--trust", T, "--no-pin"], dir));
    // A fresh state file: trust on first use of what is there, chain from trust.d/1.json.
    let v = json(&ok(ms(
        &["keys", "verify", T, "--state", "other.state", "--json"],
        dir,
    )));
    assert_eq!(v["anchor"]["kind"], "first-use");
    assert_eq!(v["anchor"]["version"], 1);
    assert_eq!(v["pin_updated"], true);
    // Back to the real version 3; a pin at version 1 with version 2 missing is refused.
    fs::write(dir.join(T), &v3).unwrap();
    fs::copy(dir.join("keys/trust.d/1.json"), dir.join("pin1.state")).unwrap();
    fs::rename(dir.join("keys/trust.d/2.json"), dir.join("two.json")).unwrap();
    refused(
        ms(&["keys", "verify", T, "--state", "pin1.state"], dir),
        1,
        "version 2 is missing",
    );
    fs::rename(dir.join("two.json"), dir.join("keys/trust.d/2.json")).unwrap();
    let v = json(&ok(ms(
        &["keys", "verify", T, "--state", "pin1.state", "--json"],
        dir,
    )));
    assert_eq!(v["anchor"]["kind"], "pinned");
    assert_eq!(v["version"], 3);
    // A deliberate reset re-pins whatever is given.
    fs::copy(dir.join("keys/trust.d/2.json"), dir.join(T)).unwrap();
    ok(ms(&["keys", "pin", T, "--reset"], dir));
    ok(ms(&["keys", "verify", T], dir));
}

#[test]
fn an_expired_trust_root_is_refused_until_renewed() {
    let d = setup(&["root", "ci"]);
    let dir = d.path();
    ok(ms(
        &[
            "keys",
            "init",
            "--root-key",
            "keys/root.key",
            "--expires",
            "2s",
            "--out",
            T,
        ],
        dir,
    ));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refused(ms(&["keys", "verify", T], dir), 1, "expired on");
    // Changes other than renewing need a new expiry.
    refused(
        ms(
            &[
                "keys",
                "add",
                T,
                "--pub",
                "keys/ci.pub",
                "--root-key",
                "keys/root.key",
            ],
            dir,
        ),
        2,
        "--expires",
    );
    let text = out(&ok(ms(&["keys", "list", T], dir)));
    assert!(text.contains("EXPIRED"), "{text}");
    ok(ms(
        &[
            "keys",
            "renew",
            T,
            "--expires",
            "365d",
            "--root-key",
            "keys/root.key",
        ],
        dir,
    ));
    ok(ms(&["keys", "verify", T], dir));
}

#[test]
fn root_rotation_collects_signatures_from_several_holders() {
    let d = setup(&["r1", "r2", "r3", "r4", "ci"]);
    let dir = d.path();
    // 2-of-3, r3 only known by its public key.
    ok(ms(
        &[
            "keys",
            "init",
            "--root-key",
            "keys/r1.key",
            "--root-key",
            "keys/r2.key",
            "--root-pub",
            "keys/r3.pub",
            "--threshold",
            "2",
            "--out",
            T,
        ],
        dir,
    ));
    // One holder alone makes a pending version; the published one is unchanged.
    let o = ok(ms(
        &[
            "keys",
            "add",
            T,
            "--pub",
            "keys/ci.pub",
            "--root-key",
            "keys/r1.key",
            "--json",
        ],
        dir,
    ));
    let v = json(&o);
    assert_eq!(v["published"], false);
    assert_eq!(
        v["root_signatures"]["previous"],
        serde_json::json!([1, 1, 2])
    );
    assert!(dir.join("keys/trust.pending.json").is_file());
    assert_eq!(
        json(&ok(ms(&["keys", "list", T, "--json"], dir)))["version"],
        1
    );
    // Another change cannot start while one is pending.
    refused(
        ms(&["keys", "renew", T, "--root-key", "keys/r1.key"], dir),
        2,
        "waiting for root signatures",
    );
    // A key that is not a root key cannot sign it.
    refused(
        ms(&["keys", "sign", T, "--root-key", "keys/ci.key"], dir),
        2,
        "not a root key",
    );
    let o = ok(ms(&["keys", "sign", T, "--root-key", "keys/r3.key"], dir));
    assert!(out(&o).contains("signing key added"), "{}", out(&o));
    assert!(!dir.join("keys/trust.pending.json").exists());
    assert_eq!(
        json(&ok(ms(&["keys", "list", T, "--json"], dir)))["version"],
        2
    );

    // Replace r1 by r4: old threshold (2 of r1,r2,r3) and new (2 of r2,r3,r4).
    let o = ok(ms(
        &[
            "keys",
            "root",
            T,
            "--add-root",
            "keys/r4.pub",
            "--remove-root",
            "keys/r1.pub",
            "--root-key",
            "keys/r1.key",
            "--root-key",
            "keys/r2.key",
            "--json",
        ],
        dir,
    ));
    let v = json(&o);
    assert_eq!(v["published"], false, "the new root keys signed only once");
    assert_eq!(v["root_signatures"]["own"], serde_json::json!([1, 2]));
    ok(ms(&["keys", "sign", T, "--root-key", "keys/r4.key"], dir));
    let v = json(&ok(ms(&["keys", "verify", T, "--json"], dir)));
    assert_eq!(v["version"], 3);
    // The removed key can no longer sign trust-root versions.
    refused(
        ms(
            &[
                "keys",
                "renew",
                T,
                "--root-key",
                "keys/r1.key",
                "--root-key",
                "keys/r2.key",
            ],
            dir,
        ),
        2,
        "not a root key",
    );
    // The new root keys alone can.
    ok(ms(
        &[
            "keys",
            "renew",
            T,
            "--root-key",
            "keys/r4.key",
            "--root-key",
            "keys/r2.key",
        ],
        dir,
    ));
    assert_eq!(
        json(&ok(ms(&["keys", "verify", T, "--json"], dir)))["version"],
        4
    );
}

#[test]
fn encrypted_keys_sign_with_a_passphrase_from_the_environment() {
    let d = setup(&[]);
    let dir = d.path();
    let o = ok(run(
        &["keygen", "--out", "keys/enc", "--encrypt", "--json"],
        dir,
        Some("correct horse battery"),
    ));
    assert_eq!(json(&o)["encrypted"], true);
    let text = fs::read_to_string(dir.join("keys/enc.key")).unwrap();
    assert!(text.contains("modelseal-encrypted-secret-key") && text.contains("scrypt"));
    assert!(!text.contains("secret_key"), "{text}");
    assert_eq!(
        fs::metadata(dir.join("keys/enc.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let sign_args: [String; 8] = [
        "sign".into(),
        iris().to_str().unwrap().to_owned(),
        "--key".into(),
        "keys/enc.key".into(),
        "--out".into(),
        "e.zip".into(),
        "--name".into(),
        "iris".into(),
    ];
    let sign_args: Vec<&str> = sign_args.iter().map(String::as_str).collect();
    refused(run(&sign_args, dir, Some("wrong")), 3, "wrong passphrase");
    ok(run(&sign_args, dir, Some("correct horse battery")));
    ok(ms(&["verify", "e.zip", "--trust", "keys/enc.pub"], dir));
    // No environment variable and no terminal: a clear error, no hang.
    let o = Command::new("setsid")
        .arg(bin())
        .args(&sign_args)
        .current_dir(dir)
        .env_remove("MODELSEAL_PASSPHRASE")
        .stdin(std::process::Stdio::null())
        .output();
    if let Ok(o) = o {
        refused(o, 3, "MODELSEAL_PASSPHRASE");
    }
    // Encrypted keys are still refused when other users can read them.
    fs::set_permissions(dir.join("keys/enc.key"), fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        run(&sign_args, dir, Some("correct horse battery")),
        3,
        "chmod 600",
    );

    // `keys encrypt` protects an existing plain key; root keys can be encrypted too.
    ok(ms(&["keygen", "--out", "keys/root"], dir));
    ok(run(&["keys", "encrypt", "keys/root.key"], dir, Some("pw")));
    refused(
        run(&["keys", "encrypt", "keys/root.key"], dir, Some("pw")),
        2,
        "already encrypted",
    );
    ok(run(
        &["keys", "init", "--root-key", "keys/root.key", "--out", T],
        dir,
        Some("pw"),
    ));
}
