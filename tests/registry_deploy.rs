//! Verified deployment through the library (`Watcher`, `Deployer`): hot-swap on promotion
//! and rollback, refusal of versions that do not verify, detection of a rolled-back log,
//! restarts, pruning.

mod registry_support;

use std::fs;
use std::path::Path;

use modelseal::bundle::VerifyOptions;
use modelseal::registry::{
    Action, DeployError, DeployOptions, Deployer, LogError, Registry, RegistryError, Stage, Watcher,
};
use registry_support::*;

fn opts() -> VerifyOptions {
    VerifyOptions {
        threads: 1,
        ..VerifyOptions::default()
    }
}

fn deploy_opts(keep: usize) -> DeployOptions {
    DeployOptions {
        keep,
        verify: opts(),
        step_hook: None,
    }
}

fn publish_three(root: &Path) -> Registry {
    let k = key(1);
    let t = trust(&[&k]);
    let r = registry(root);
    for (v, acc) in [("1.0.0", 0.95), ("1.1.0", 0.97), ("1.2.0", 0.96)] {
        r.publish(&make_bundle(root, v, acc, &k), &t, &k, &opts())
            .unwrap();
    }
    r
}

fn promote(r: &Registry, version: &str) {
    let k = key(1);
    r.promote(
        &trust(&[&k]),
        &k,
        "iris",
        version,
        Stage::Production,
        &opts(),
    )
    .unwrap();
}

fn blob_path(root: &Path, r: &Registry, version: &str) -> std::path::PathBuf {
    let (m, _) = r.model(&trust(&[&key(1)]), "iris").unwrap();
    root.join("registry/blobs/sha256")
        .join(m.version(version).unwrap().bundle.to_string())
}

#[test]
fn the_watcher_follows_promotions_and_rollbacks() {
    let dir = tempfile::tempdir().unwrap();
    let r = publish_three(dir.path());
    let target = dir.path().join("srv");
    let mut w = Watcher::with_options(
        registry(dir.path()),
        trust(&[&key(1)]),
        "iris",
        Stage::Production,
        &target,
        deploy_opts(3),
    )
    .unwrap();
    assert!(matches!(w.poll(), Err(DeployError::NothingInStage { .. })));
    assert!(!target.join("current").exists());

    promote(&r, "1.0.0");
    let d = w.poll().unwrap().expect("deployed");
    assert!(d.switched);
    assert_eq!(d.info.version, "1.0.0");
    assert_eq!(
        d.bundle.read("VERSION").unwrap(),
        version_marker("1.0.0").as_bytes()
    );
    assert_serving(&target, "1.0.0");
    assert!(w.poll().unwrap().is_none(), "nothing changed");

    promote(&r, "1.2.0");
    let d = w.poll().unwrap().expect("hot-swapped");
    assert_eq!(
        (d.info.version.as_str(), d.info.action),
        ("1.2.0", Action::Promote)
    );
    assert_serving(&target, "1.2.0");
    assert_eq!(d.path, target.join("versions").join(&d.info.dir));

    let k = key(1);
    r.rollback(&trust(&[&k]), &k, "iris", Stage::Production)
        .unwrap();
    let d = w.poll().unwrap().expect("rolled back");
    assert_eq!(
        (d.info.version.as_str(), d.info.action),
        ("1.0.0", Action::Rollback)
    );
    assert_serving(&target, "1.0.0");
    assert_eq!(w.current().unwrap().version, "1.0.0");
    assert_eq!(
        w.deployer().checkpoint().unwrap().index,
        5,
        "3 publishes, 2 promotions, 1 rollback"
    );
}

#[test]
fn a_version_that_does_not_verify_is_refused_and_the_old_one_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let r = publish_three(dir.path());
    let target = dir.path().join("srv");
    let mut w = Watcher::with_options(
        registry(dir.path()),
        trust(&[&key(1)]),
        "iris",
        Stage::Production,
        &target,
        deploy_opts(3),
    )
    .unwrap();
    promote(&r, "1.0.0");
    w.poll().unwrap().unwrap();

    // Someone with write access to the store swaps 1.1.0's bytes after its promotion.
    promote(&r, "1.1.0");
    let blob = blob_path(dir.path(), &r, "1.1.0");
    let good = fs::read(&blob).unwrap();
    tampered_copy(&blob.clone(), "1.1.0", &blob);
    match w.poll() {
        Err(DeployError::Refused {
            version, reason, ..
        }) => {
            assert_eq!(version, "1.1.0");
            assert!(reason.contains("other content"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_serving(&target, "1.0.0");
    // Refused once, not retried on every poll.
    assert!(w.poll().unwrap().is_none());
    // Another validly signed bundle (an older version) under 1.1.0's address: refused too.
    fs::copy(blob_path(dir.path(), &r, "1.0.0"), &blob).unwrap();
    promote(&r, "1.2.0");
    let blob12 = blob_path(dir.path(), &r, "1.2.0");
    let good12 = fs::read(&blob12).unwrap();
    fs::copy(blob_path(dir.path(), &r, "1.0.0"), &blob12).unwrap();
    assert!(matches!(w.poll(), Err(DeployError::Refused { .. })));
    assert_serving(&target, "1.0.0");
    // Once the store is repaired and the stage moves, the deployer follows.
    fs::write(&blob, good).unwrap();
    fs::write(&blob12, good12).unwrap();
    promote(&r, "1.1.0");
    assert_eq!(w.poll().unwrap().unwrap().info.version, "1.1.0");
    assert_serving(&target, "1.1.0");
    // No temporary files left anywhere in the target.
    let names: Vec<String> = fs::read_dir(target.join("versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn a_bundle_signed_by_a_key_the_deployer_does_not_trust_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ops_key, vendor) = (key(1), key(3));
    // The registry operators trust the vendor's bundles; the deployer trusts only them.
    let ops_trust = trust(&[&ops_key, &vendor]);
    let r = registry(dir.path());
    let ours = make_bundle(dir.path(), "1.0.0", 0.9, &ops_key);
    let theirs = make_bundle(&dir.path().join("v"), "2.0.0", 0.99, &vendor);
    for b in [&ours, &theirs] {
        r.publish(b, &ops_trust, &ops_key, &opts()).unwrap();
    }
    r.promote(
        &ops_trust,
        &ops_key,
        "iris",
        "1.0.0",
        Stage::Production,
        &opts(),
    )
    .unwrap();
    let target = dir.path().join("srv");
    let mut w = Watcher::with_options(
        registry(dir.path()),
        trust(&[&ops_key]),
        "iris",
        Stage::Production,
        &target,
        deploy_opts(3),
    )
    .unwrap();
    w.poll().unwrap().unwrap();
    r.promote(
        &ops_trust,
        &ops_key,
        "iris",
        "2.0.0",
        Stage::Production,
        &opts(),
    )
    .unwrap();
    match w.poll() {
        Err(DeployError::Refused { reason, .. }) => {
            assert!(
                reason.contains("no valid signature by a trusted key"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_serving(&target, "1.0.0");
}

#[test]
fn promotions_by_keys_the_deployer_does_not_trust_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let r = publish_three(dir.path());
    let (k, intruder) = (key(1), key(7));
    promote(&r, "1.0.0");
    let target = dir.path().join("srv");
    let mut w = Watcher::with_options(
        registry(dir.path()),
        trust(&[&k]),
        "iris",
        Stage::Production,
        &target,
        deploy_opts(3),
    )
    .unwrap();
    w.poll().unwrap().unwrap();
    // A key trusted by whoever wrote the entry, but not by this deployer.
    r.promote(
        &trust(&[&k, &intruder]),
        &intruder,
        "iris",
        "1.2.0",
        Stage::Production,
        &opts(),
    )
    .unwrap();
    assert!(w.poll().unwrap().is_none());
    assert_serving(&target, "1.0.0");
}

#[test]
fn a_rolled_back_log_is_refused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let r = publish_three(dir.path());
    promote(&r, "1.0.0");
    promote(&r, "1.1.0");
    let target = dir.path().join("srv");
    let new = |dir: &Path| {
        Watcher::with_options(
            registry(dir),
            trust(&[&key(1)]),
            "iris",
            Stage::Production,
            &target,
            deploy_opts(3),
        )
        .unwrap()
    };
    let mut w = new(dir.path());
    assert_eq!(w.poll().unwrap().unwrap().info.version, "1.1.0");
    drop(w);
    // An attacker deletes the newest entry (the promotion of 1.1.0) so that the stage
    // seems to hold 1.0.0 again: every remaining entry still verifies.
    fs::remove_file(dir.path().join("registry/log/000000004.json")).unwrap();
    let mut w = new(dir.path());
    match w.poll() {
        Err(DeployError::Registry(RegistryError::Log(LogError::RolledBack {
            index: 4,
            now: 4,
        }))) => {}
        other => panic!("{other:?}"),
    }
    assert_serving(&target, "1.1.0");
}

#[test]
fn a_restart_hands_out_the_version_in_place_without_downloading() {
    let dir = tempfile::tempdir().unwrap();
    let r = publish_three(dir.path());
    promote(&r, "1.0.0");
    let target = dir.path().join("srv");
    let t = trust(&[&key(1)]);
    let mut d = Deployer::new(
        registry(dir.path()),
        "iris",
        Stage::Production,
        &target,
        deploy_opts(3),
    )
    .unwrap();
    assert!(d.poll(&t).unwrap().unwrap().switched);
    // One deployer per directory.
    assert!(matches!(
        Deployer::new(
            registry(dir.path()),
            "iris",
            Stage::Production,
            &target,
            deploy_opts(3)
        ),
        Err(DeployError::Busy(_))
    ));
    drop(d);
    // The registry can disappear: the version in place is re-verified from the local copy.
    fs::rename(
        dir.path().join("registry/blobs"),
        dir.path().join("moved-blobs"),
    )
    .unwrap();
    let mut d = Deployer::new(
        registry(dir.path()),
        "iris",
        Stage::Production,
        &target,
        deploy_opts(3),
    )
    .unwrap();
    let again = d.poll(&t).unwrap().unwrap();
    assert!(!again.switched);
    assert_eq!(
        again.bundle.read("VERSION").unwrap(),
        version_marker("1.0.0").as_bytes()
    );
    assert!(d.poll(&t).unwrap().is_none());
    // Another model or stage in the same directory is refused.
    drop(d);
    assert!(matches!(
        Deployer::new(
            registry(dir.path()),
            "iris",
            Stage::Staging,
            &target,
            deploy_opts(3)
        ),
        Err(DeployError::Target { .. })
    ));
}

#[test]
fn old_versions_are_pruned_but_never_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = publish_three(dir.path());
    let target = dir.path().join("srv");
    let mut w = Watcher::with_options(
        registry(dir.path()),
        trust(&[&key(1)]),
        "iris",
        Stage::Production,
        &target,
        deploy_opts(2),
    )
    .unwrap();
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        promote(&r, v);
        w.poll().unwrap().unwrap();
        assert_serving(&target, v);
    }
    let mut names: Vec<String> = fs::read_dir(target.join("versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        4,
        "two versions, each a directory and a bundle: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("iris-1.1.0-") || n.starts_with("iris-1.2.0-"))
    );
    assert!(
        current_link(&target)
            .to_string_lossy()
            .starts_with("versions/iris-1.2.0-")
    );
}

#[test]
fn a_lost_local_bundle_of_the_version_in_place_is_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let r = publish_three(dir.path());
    promote(&r, "1.1.0");
    let target = dir.path().join("srv");
    let t = trust(&[&key(1)]);
    let new = || {
        Deployer::new(
            registry(dir.path()),
            "iris",
            Stage::Production,
            &target,
            deploy_opts(3),
        )
        .unwrap()
    };
    let mut d = new();
    let first = d.poll(&t).unwrap().unwrap();
    let zip = target
        .join("versions")
        .join(format!("{}.zip", first.info.dir));
    drop((first, d));
    fs::remove_file(&zip).unwrap();
    let mut d = new();
    let again = d.poll(&t).unwrap().unwrap();
    assert!(!again.switched);
    assert_eq!(
        again.bundle.read("VERSION").unwrap(),
        version_marker("1.1.0").as_bytes()
    );
    assert!(zip.is_file());
    assert_serving(&target, "1.1.0");
}
