//! End to end through the real binary: train-sign-publish-compare-promote-deploy-rollback,
//! a tampered bundle refused, the deployer killed at every step of a swap, and
//! `deploy --watch` hot-swapping, refusing and following a rollback.

mod registry_support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use registry_support::{assert_serving, current_link, iris_dir, tampered_copy, version_marker};
use serde_json::Value;

fn modelseal(args: &[&str], cwd: &Path) -> Output {
    modelseal_env(args, cwd, None)
}

fn modelseal_env(args: &[&str], cwd: &Path, env: Option<(&str, &str)>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modelseal"));
    c.args(args).current_dir(cwd);
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap()
}

const T: [&str; 2] = ["--trust", "k.pub"];

/// keygen, then "train" three versions (the iris model with a VERSION file and metrics)
/// and sign them with the CLI.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&modelseal(&["keygen", "--out", "k"], d));
    for (v, acc) in [("1.0.0", 0.95), ("1.1.0", 0.97), ("1.2.0", 0.96)] {
        let src = d.join(format!("model-{v}"));
        fs::create_dir_all(&src).unwrap();
        for f in fs::read_dir(iris_dir()).unwrap() {
            let f = f.unwrap();
            fs::copy(f.path(), src.join(f.file_name())).unwrap();
        }
        fs::write(src.join("VERSION"), version_marker(v)).unwrap();
        let meta = d.join(format!("meta-{v}.json"));
        fs::write(
            &meta,
            serde_json::json!({"framework": "scikit-learn", "metrics": {"accuracy": acc, "loss": 1.0 - acc}})
                .to_string(),
        )
        .unwrap();
        ok(&modelseal(
            &[
                "sign",
                src.to_str().unwrap(),
                "--key",
                "k.key",
                "--out",
                &format!("iris-{v}.zip"),
                "--name",
                "iris",
                "--version",
                v,
                "--metadata",
                meta.to_str().unwrap(),
                "-q",
            ],
            d,
        ));
    }
    dir
}

fn publish(d: &Path, v: &str) -> Value {
    json(&modelseal(
        &[
            "registry",
            "publish",
            &format!("iris-{v}.zip"),
            "--key",
            "k.key",
            T[0],
            T[1],
            "--json",
        ],
        d,
    ))
}

fn promote(d: &Path, v: &str) {
    ok(&modelseal(
        &[
            "registry",
            "promote",
            &format!("iris@{v}"),
            "--stage",
            "production",
            "--key",
            "k.key",
            T[0],
            T[1],
        ],
        d,
    ));
}

fn deploy(d: &Path) -> Output {
    modelseal(
        &["deploy", T[0], T[1], "--name", "iris", "--target", "srv"],
        d,
    )
}

fn log_len(d: &Path) -> usize {
    json(&modelseal(&["registry", "log", T[0], T[1], "--json"], d))
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn the_whole_loop_publish_compare_promote_deploy_tamper_rollback() {
    let dir = setup();
    let d = dir.path();
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        let p = publish(d, v);
        assert_eq!(p["version"], v);
        assert!(p["entry"].is_u64());
    }
    let list = json(&modelseal(
        &["registry", "list", "iris", T[0], T[1], "--json"],
        d,
    ));
    assert_eq!(list.as_array().unwrap().len(), 3);

    let show = json(&modelseal(
        &["registry", "show", "iris@1.1.0", T[0], T[1], "--json"],
        d,
    ));
    assert_eq!(show["metrics"]["accuracy"], 0.97);
    assert_eq!(
        show["size"],
        fs::metadata(d.join("iris-1.1.0.zip")).unwrap().len()
    );

    let cmp = json(&modelseal(
        &[
            "registry", "compare", "iris", "1.0.0", "1.1.0", T[0], T[1], "--json",
        ],
        d,
    ));
    let acc = cmp["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "accuracy")
        .unwrap();
    assert!((acc["delta"].as_f64().unwrap() - 0.02).abs() < 1e-9);
    assert_eq!(cmp["files"][0]["path"], "VERSION");
    assert_eq!(cmp["files"][0]["change"], "changed");
    let human = ok(&modelseal(
        &["registry", "compare", "iris", "1.0.0", "1.1.0", T[0], T[1]],
        d,
    ));
    assert!(human.contains("+0.02"), "{human}");

    let best = json(&modelseal(
        &[
            "registry", "best", "iris", "--metric", "accuracy", T[0], T[1], "--json",
        ],
        d,
    ));
    assert_eq!(best["best"], "1.1.0");
    let best = json(&modelseal(
        &[
            "registry", "best", "iris", "--metric", "loss", "--min", T[0], T[1], "--json",
        ],
        d,
    ));
    assert_eq!(best["best"], "1.1.0");

    // Nothing in production yet: deploy refuses (exit 1) and creates no `current`.
    let o = deploy(d);
    assert_eq!(o.status.code(), Some(1));
    assert!(!d.join("srv/current").exists());

    promote(d, "1.0.0");
    let out = ok(&deploy(d));
    assert!(out.starts_with("deployed iris@1.0.0"), "{out}");
    assert_serving(&d.join("srv"), "1.0.0");

    // A tampered bundle is refused at the door: exit 1, one line per problem, no entry.
    let before = log_len(d);
    tampered_copy(&d.join("iris-1.2.0.zip"), "1.2.0", &d.join("evil.zip"));
    let o = modelseal(
        &[
            "registry", "publish", "evil.zip", "--key", "k.key", T[0], T[1],
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("VERSION"), "{err}");
    assert_eq!(log_len(d), before);
    // The same bundle again changes nothing; other content under a published
    // name+version is refused.
    let o = modelseal(
        &[
            "registry",
            "publish",
            "iris-1.2.0.zip",
            "--key",
            "k.key",
            T[0],
            T[1],
        ],
        d,
    );
    assert!(ok(&o).contains("already published with exactly this content"));
    ok(&modelseal(
        &[
            "sign",
            "model-1.1.0",
            "--key",
            "k.key",
            "--out",
            "dup.zip",
            "--name",
            "iris",
            "--version",
            "1.2.0",
            "-q",
        ],
        d,
    ));
    let o = modelseal(
        &[
            "registry", "publish", "dup.zip", "--key", "k.key", T[0], T[1],
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already published with other content"));
    assert_eq!(log_len(d), before);

    promote(d, "1.1.0");
    assert!(ok(&deploy(d)).starts_with("deployed iris@1.1.0"));
    assert_serving(&d.join("srv"), "1.1.0");
    // Deploying again changes nothing.
    assert!(ok(&deploy(d)).starts_with("up-to-date iris@1.1.0"));

    let rb = ok(&modelseal(
        &[
            "registry",
            "rollback",
            "iris",
            "--stage",
            "production",
            "--key",
            "k.key",
            T[0],
            T[1],
        ],
        d,
    ));
    assert!(rb.contains("1.1.0 -> 1.0.0"), "{rb}");
    assert!(ok(&deploy(d)).starts_with("rolled-back iris@1.0.0"));
    assert_serving(&d.join("srv"), "1.0.0");

    // The log says who did what.
    let log = json(&modelseal(
        &["registry", "log", "iris", T[0], T[1], "--json"],
        d,
    ));
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "publish", "publish", "publish", "promote", "promote", "rollback"
        ]
    );
    let check = json(&modelseal(
        &["registry", "check", "--deep", T[0], T[1], "--json"],
        d,
    ));
    assert_eq!(check["problems"].as_array().unwrap().len(), 0);

    // Usage errors: a key outside the trust, a missing registry.
    ok(&modelseal(&["keygen", "--out", "other"], d));
    let o = modelseal(
        &[
            "registry",
            "promote",
            "iris@1.2.0",
            "--stage",
            "production",
            "--key",
            "other.key",
            T[0],
            T[1],
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2));
    let o = modelseal(
        &["registry", "list", "--registry", "nowhere", T[0], T[1]],
        d,
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a modelseal registry"));
}

/// Files in `DIR/versions` whose names start with a dot (temporary leftovers) and whether
/// `current.tmp` exists.
fn leftovers(target: &Path) -> (Vec<String>, bool) {
    let dots = fs::read_dir(target.join("versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    (
        dots,
        fs::symlink_metadata(target.join("current.tmp")).is_ok(),
    )
}

#[test]
fn killing_the_deployer_at_any_step_leaves_current_complete() {
    let dir = setup();
    let d = dir.path();
    let target = d.join("srv");
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        publish(d, v);
    }
    promote(d, "1.0.0");
    ok(&deploy(d));
    let mut serving = "1.0.0";
    let cycle = ["1.1.0", "1.2.0", "1.0.0"];
    let steps = [
        "fetched",
        "extracted",
        "link-created",
        "switched",
        "state-saved",
        "pruned",
    ];
    for (i, step) in steps.iter().enumerate() {
        let next = cycle[i % cycle.len()];
        promote(d, next);
        let o = modelseal_env(
            &[
                "deploy", T[0], T[1], "--name", "iris", "--target", "srv", "--keep", "2",
            ],
            d,
            Some(("MODELSEAL_TEST_DEPLOY_CRASH_AT", step)),
        );
        assert!(
            !o.status.success(),
            "{step}: the hook should have aborted the deployer"
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains(step));
        // Before the rename the old version serves, after it the new one; complete either way.
        let switched = i >= 3;
        let expected = if switched { next } else { serving };
        assert_serving(&target, expected);
        assert!(
            current_link(&target)
                .to_string_lossy()
                .starts_with(&format!("versions/iris-{expected}-"))
        );
        // The next run finishes the job and cleans up.
        let out = ok(&deploy(d));
        assert!(out.contains(&format!("iris@{next}")), "{step}: {out}");
        assert_serving(&target, next);
        assert_eq!(leftovers(&target), (vec![], false), "{step}");
        serving = next;
    }
}

#[test]
fn watch_hot_swaps_refuses_a_bad_version_and_follows_a_rollback() {
    let dir = setup();
    let d = dir.path();
    let target = d.join("srv");
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        publish(d, v);
    }
    promote(d, "1.0.0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args([
            "deploy", "--trust", "k.pub", "--name", "iris", "--target", "srv",
        ])
        .args(["--watch", "--interval", "50ms", "--json"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| -> Value {
        let e = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no event while waiting for {what}"));
        assert_eq!(e["event"], what, "{e}");
        e
    };
    assert_eq!(next("deployed")["version"], "1.0.0");
    assert_serving(&target, "1.0.0");

    promote(d, "1.1.0");
    assert_eq!(next("deployed")["version"], "1.1.0");
    assert_serving(&target, "1.1.0");

    ok(&modelseal(
        &[
            "registry",
            "rollback",
            "iris",
            "--stage",
            "production",
            "--key",
            "k.key",
            T[0],
            T[1],
        ],
        d,
    ));
    assert_eq!(next("rolled-back")["version"], "1.0.0");
    assert_serving(&target, "1.0.0");

    // The registry operators also trust a vendor's key, this deployer does not: the
    // vendor-signed 2.0.0 is promoted but refused here, and 1.0.0 serves on.
    ok(&modelseal(&["keygen", "--out", "vendor"], d));
    fs::create_dir_all(d.join("model-2.0.0")).unwrap();
    fs::write(d.join("model-2.0.0/VERSION"), version_marker("2.0.0")).unwrap();
    ok(&modelseal(
        &[
            "sign",
            "model-2.0.0",
            "--key",
            "vendor.key",
            "--out",
            "iris-2.0.0.zip",
            "--name",
            "iris",
            "--version",
            "2.0.0",
            "-q",
        ],
        d,
    ));
    let ops_trust = ["--trust", "k.pub", "--trust", "vendor.pub"];
    ok(&modelseal(
        &[
            &["registry", "publish", "iris-2.0.0.zip", "--key", "k.key"][..],
            &ops_trust,
        ]
        .concat(),
        d,
    ));
    ok(&modelseal(
        &[
            &[
                "registry",
                "promote",
                "iris@2.0.0",
                "--stage",
                "production",
                "--key",
                "k.key",
            ][..],
            &ops_trust,
        ]
        .concat(),
        d,
    ));
    let e = next("refused");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("iris@2.0.0") && msg.contains("no valid signature by a trusted key"),
        "{msg}"
    );
    assert_eq!(e["version"], "1.0.0", "still serving");
    assert_serving(&target, "1.0.0");

    // The next good version goes through.
    promote(d, "1.2.0");
    assert_eq!(next("deployed")["version"], "1.2.0");
    assert_serving(&target, "1.2.0");

    // Killed at an arbitrary moment: what it serves is complete.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_serving(&target, "1.2.0");
}

#[test]
fn under_a_trust_root_scopes_and_revocation_govern_log_entries() {
    let dir = setup();
    let d = dir.path();
    for k in ["root", "rm", "fraud-team"] {
        ok(&modelseal(&["keygen", "--out", k], d));
    }
    let tr = "trust.json";
    ok(&modelseal(
        &["keys", "init", "--root-key", "root.key", "--out", tr],
        d,
    ));
    for (pubkey, scope) in [
        ("k.pub", "*"),
        ("rm.pub", "iris"),
        ("fraud-team.pub", "fraud-*"),
    ] {
        ok(&modelseal(
            &[
                "keys",
                "add",
                tr,
                "--pub",
                pubkey,
                "--scope",
                scope,
                "--root-key",
                "root.key",
            ],
            d,
        ));
    }
    fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [args, &["--trust", "trust.json"]].concat()
    }
    for v in ["1.0.0", "1.1.0"] {
        ok(&modelseal(
            &with(&[
                "registry",
                "publish",
                &format!("iris-{v}.zip"),
                "--key",
                "k.key",
            ]),
            d,
        ));
    }
    let promote_as = |key: &str, v: &str| {
        modelseal(
            &with(&[
                "registry",
                "promote",
                &format!("iris@{v}"),
                "--stage",
                "production",
                "--key",
                key,
            ]),
            d,
        )
    };
    let deploy_tr = || modelseal(&with(&["deploy", "--name", "iris", "--target", "srv"]), d);
    ok(&promote_as("rm.key", "1.0.0"));
    ok(&deploy_tr());
    assert_serving(&d.join("srv"), "1.0.0");

    // A key scoped to other models may not act on this one.
    let o = promote_as("fraud-team.key", "1.1.0");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("scopes"));

    ok(&promote_as("rm.key", "1.1.0"));
    ok(&deploy_tr());
    assert_serving(&d.join("srv"), "1.1.0");

    // The release manager's key leaks and is revoked: its promotions stop counting. Nothing
    // is left in production, so the deployer refuses and keeps serving what it has.
    ok(&modelseal(
        &[
            "keys",
            "revoke",
            tr,
            "--key",
            "rm.pub",
            "--reason",
            "leaked",
            "--root-key",
            "root.key",
        ],
        d,
    ));
    let o = deploy_tr();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_serving(&d.join("srv"), "1.1.0");
    let log = json(&modelseal(&with(&["registry", "log", "--json"]), d));
    let untrusted = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["trusted"] == false)
        .count();
    assert_eq!(untrusted, 2);
    // A key still in good standing promotes again; the deployer follows.
    ok(&promote_as("k.key", "1.0.0"));
    ok(&deploy_tr());
    assert_serving(&d.join("srv"), "1.0.0");
}
