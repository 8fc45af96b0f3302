//! Registry operations through the library: publish, list, show, compare, best, promote,
//! rollback, and what happens when the store is tampered with.

mod registry_support;

use std::fs;

use modelseal::bundle::{Problem, VerifyError, VerifyOptions};
use modelseal::registry::{Action, Log, LogError, Registry, RegistryError, Stage, Standing, View};
use registry_support::*;

fn opts() -> VerifyOptions {
    VerifyOptions {
        threads: 1,
        ..VerifyOptions::default()
    }
}

/// Publish 1.0.0, 1.1.0, 1.2.0 with accuracies 0.95, 0.97, 0.96.
fn three_versions(root: &std::path::Path) -> (Registry, modelseal::keys::SecretKey) {
    let k = key(1);
    let t = trust(&[&k]);
    let r = registry(root);
    for (v, acc) in [("1.0.0", 0.95), ("1.1.0", 0.97), ("1.2.0", 0.96)] {
        let b = make_bundle(root, v, acc, &k);
        let p = r.publish(&b, &t, &k, &opts()).unwrap();
        assert_eq!(p.version, v);
        assert!(p.entry.is_some());
        assert_eq!(p.signers, vec![k.id()]);
        assert_eq!(p.bundle.to_string(), sha256_hex(&fs::read(&b).unwrap()));
    }
    (r, k)
}

fn sha256_hex(bytes: &[u8]) -> String {
    modelseal::digest::Sha256Digest::of(bytes).to_string()
}

#[test]
fn publish_list_show_compare_best() {
    let dir = tempfile::tempdir().unwrap();
    let (r, k) = three_versions(dir.path());
    let t = trust(&[&k]);

    let (model, warnings) = r.model(&t, "iris").unwrap();
    assert!(warnings.is_empty());
    let versions: Vec<&str> = model.versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.2.0"]);

    let d = r.show(&t, "iris", "1.1.0").unwrap();
    assert_eq!(d.metrics["accuracy"], 0.97);
    assert_eq!(d.metrics["eval.f1"], 0.485);
    assert_eq!(d.signers, vec![k.id()]);
    assert_eq!(d.publisher, k.id());
    assert_eq!(d.metadata["framework"], "scikit-learn");
    assert_eq!(d.files, fs::read_dir(iris_dir()).unwrap().count() + 1);
    assert!(d.stages.is_empty());

    let c = r.compare(&t, "iris", "1.0.0", "1.2.0").unwrap();
    let acc = c.metrics.iter().find(|m| m.metric == "accuracy").unwrap();
    assert_eq!((acc.a, acc.b), (Some(0.95), Some(0.96)));
    assert!((acc.delta.unwrap() - 0.01).abs() < 1e-12);
    assert_eq!(c.files.len(), 1);
    assert_eq!(
        (c.files[0].path.as_str(), c.files[0].change),
        ("VERSION", "changed")
    );
    assert_eq!(c.unchanged_files, fs::read_dir(iris_dir()).unwrap().count());

    let b = r.best(&t, "iris", "accuracy", false).unwrap();
    assert_eq!(b.best, "1.1.0");
    let order: Vec<&str> = b.ranking.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(order, ["1.1.0", "1.2.0", "1.0.0"]);
    assert_eq!(r.best(&t, "iris", "loss", true).unwrap().best, "1.1.0");
    assert!(matches!(
        r.best(&t, "iris", "nonexistent", false),
        Err(RegistryError::Refused(_))
    ));
    assert!(matches!(
        r.show(&t, "iris", "9.9.9"),
        Err(RegistryError::NoSuchVersion { .. })
    ));
    assert!(matches!(
        r.show(&t, "nope", "1.0.0"),
        Err(RegistryError::NoSuchModel(_))
    ));
}

#[test]
fn duplicates_are_refused_and_republishing_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let (r, k) = three_versions(dir.path());
    let t = trust(&[&k]);
    let again = r
        .publish(&dir.path().join("iris-1.0.0.zip"), &t, &k, &opts())
        .unwrap();
    assert_eq!(again.entry, None);
    // Same name and version, other content.
    let other = dir.path().join("other");
    fs::create_dir_all(&other).unwrap();
    let b = make_bundle(&other, "1.0.0", 0.5, &k);
    match r.publish(&b, &t, &k, &opts()) {
        Err(RegistryError::Duplicate { name, version, .. }) => {
            assert_eq!((name.as_str(), version.as_str()), ("iris", "1.0.0"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(Log::load(r.store(), &t).unwrap().next_index(), 3);
}

#[test]
fn tampered_and_untrusted_bundles_never_enter() {
    let dir = tempfile::tempdir().unwrap();
    let (r, k) = three_versions(dir.path());
    let t = trust(&[&k]);
    let b = make_bundle(dir.path(), "2.0.0", 0.99, &k);
    let bad = tampered_copy(&b, "2.0.0", &dir.path().join("bad.zip"));
    match r.publish(&bad, &t, &k, &opts()) {
        Err(RegistryError::Bundle(VerifyError::Rejected(p))) => {
            assert!(matches!(
                p[0],
                Problem::DigestMismatch(_) | Problem::CrcMismatch(_)
            ))
        }
        other => panic!("{other:?}"),
    }
    // Signed by a key that is not trusted.
    let stranger = key(9);
    let sb = make_bundle(&dir.path().join("s"), "3.0.0", 0.99, &stranger);
    assert!(matches!(
        r.publish(&sb, &t, &k, &opts()),
        Err(RegistryError::Bundle(VerifyError::Rejected(_)))
    ));
    // An acting key outside the trust is refused before anything is written.
    assert!(matches!(
        r.publish(&b, &t, &stranger, &opts()),
        Err(RegistryError::KeyNotTrusted { .. })
    ));
    assert_eq!(Log::load(r.store(), &t).unwrap().next_index(), 3);
    // Nothing of the refused bundles reached the blob store (3 bundles + 3 manifests).
    assert_eq!(r.store().list_blobs().unwrap().len(), 6);
}

#[test]
fn promote_and_rollback_follow_a_history() {
    let dir = tempfile::tempdir().unwrap();
    let (r, k) = three_versions(dir.path());
    let t = trust(&[&k]);
    let o = opts();
    let promote = |v: &str, s: Stage| r.promote(&t, &k, "iris", v, s, &o).unwrap();
    let c = promote("1.0.0", Stage::Production);
    assert_eq!((c.previous, c.entry), (None, Some(3)));
    assert_eq!(
        promote("1.1.0", Stage::Production).previous.as_deref(),
        Some("1.0.0")
    );
    promote("1.2.0", Stage::Production);
    promote("1.2.0", Stage::Staging);
    // Promoting what is already there records nothing.
    assert_eq!(promote("1.2.0", Stage::Production).entry, None);

    let (m, _) = r.model(&t, "iris").unwrap();
    assert_eq!(m.current(Stage::Production).unwrap().version, "1.2.0");
    assert_eq!(
        m.stages_of("1.2.0"),
        vec![Stage::Production, Stage::Staging]
    );

    let rb = r.rollback(&t, &k, "iris", Stage::Production).unwrap();
    assert_eq!(
        (rb.version.as_str(), rb.previous.as_deref()),
        ("1.1.0", Some("1.2.0"))
    );
    let rb = r.rollback(&t, &k, "iris", Stage::Production).unwrap();
    assert_eq!(rb.version, "1.0.0");
    assert!(matches!(
        r.rollback(&t, &k, "iris", Stage::Production),
        Err(RegistryError::Refused(_))
    ));
    assert!(matches!(
        r.rollback(&t, &k, "iris", Stage::Archived),
        Err(RegistryError::Refused(_))
    ));
    // Archiving what production serves is refused; archiving an old version is fine.
    assert!(matches!(
        r.promote(&t, &k, "iris", "1.0.0", Stage::Archived, &o),
        Err(RegistryError::Refused(_))
    ));
    promote("1.1.0", Stage::Archived);
    let (m, _) = r.model(&t, "iris").unwrap();
    assert_eq!(m.stages_of("1.1.0"), vec![Stage::Archived]);
    assert_eq!(m.current(Stage::Production).unwrap().version, "1.0.0");
    assert_eq!(m.current(Stage::Staging).unwrap().version, "1.2.0");

    // Every entry records who acted and when, and the chain verifies.
    let log = Log::load(r.store(), &t).unwrap();
    for e in log.entries() {
        assert_eq!(e.body.actor, k.id());
        assert_eq!(e.standing, Standing::Trusted);
        assert!(e.body.time.ends_with('Z'));
    }
    let actions: Vec<Action> = log.entries().iter().map(|e| e.body.action).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == Action::Rollback).count(),
        2
    );
}

#[test]
fn promote_verifies_the_stored_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (r, k) = three_versions(dir.path());
    let t = trust(&[&k]);
    let (m, _) = r.model(&t, "iris").unwrap();
    let v = m.version("1.2.0").unwrap();
    let blob = dir
        .path()
        .join("registry/blobs/sha256")
        .join(v.bundle.to_string());
    tampered_copy(&blob.clone(), "1.2.0", &blob);
    assert!(matches!(
        r.promote(&t, &k, "iris", "1.2.0", Stage::Production, &opts()),
        Err(RegistryError::BlobMismatch { .. })
    ));
    assert_eq!(Log::load(r.store(), &t).unwrap().next_index(), 3);
}

#[test]
fn entries_by_other_keys_are_ignored_and_a_rewritten_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (r, k) = three_versions(dir.path());
    let team_b = key(2);
    let both = trust(&[&k, &team_b]);
    let only_k = trust(&[&k]);
    // Team B (trusted by `both` only) promotes 1.2.0.
    r.promote(&both, &team_b, "iris", "1.2.0", Stage::Production, &opts())
        .unwrap();
    let (m, _) = r.model(&both, "iris").unwrap();
    assert_eq!(m.current(Stage::Production).unwrap().version, "1.2.0");
    // Under a trust without team B, that entry does not count (and is reported).
    let (_, view) = r.view(&only_k).unwrap();
    assert!(
        view.model("iris")
            .unwrap()
            .current(Stage::Production)
            .is_none()
    );
    assert_eq!(view.warnings.len(), 1, "{:?}", view.warnings);

    // Changing any byte of a trusted entry breaks its signature.
    let e1 = dir.path().join("registry/log/000000001.json");
    let text = fs::read_to_string(&e1).unwrap();
    fs::write(&e1, text.replace("1.1.0", "1.1.1")).unwrap();
    assert!(matches!(
        Log::load(r.store(), &only_k),
        Err(LogError::BadSignature { index: 1, .. })
    ));
    fs::write(&e1, &text).unwrap();
    // Removing an entry from the middle leaves a gap.
    let e2 = dir.path().join("registry/log/000000002.json");
    let saved = fs::read(&e2).unwrap();
    fs::remove_file(&e2).unwrap();
    assert!(matches!(
        Log::load(r.store(), &only_k),
        Err(LogError::Gap {
            expected: 2,
            found: 3
        })
    ));
    // Replacing it with another validly signed entry breaks the chain.
    fs::copy(dir.path().join("registry/log/000000001.json"), &e2).unwrap();
    assert!(matches!(
        Log::load(r.store(), &only_k),
        Err(LogError::Malformed { index: 2, .. } | LogError::BrokenChain { index: 2 })
    ));
    fs::write(&e2, saved).unwrap();
    let log = Log::load(r.store(), &only_k).unwrap();
    assert_eq!(log.next_index(), 4);
    assert_eq!(View::build(&log).warnings.len(), 1);
}

#[test]
fn a_missing_registry_is_not_created_by_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing");
    assert!(matches!(
        Registry::open(path.to_str().unwrap()),
        Err(modelseal::registry::StoreError::NoRegistry(_))
    ));
    assert!(!path.exists());
    #[cfg(not(feature = "object-store"))]
    assert!(matches!(
        Registry::open("s3://bucket/models"),
        Err(modelseal::registry::StoreError::Unsupported(_))
    ));
}
