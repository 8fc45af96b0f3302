//! The registry on object storage (`--features object-store`), against `object_store`'s
//! in-memory and local file system backends. No S3-compatible server is available where
//! these tests run; S3, GCS and Azure go through the same `ObjectStore` trait and the same
//! `PutMode::Create` compare-and-swap.
#![cfg(feature = "object-store")]

mod registry_support;

use std::sync::{Arc, Barrier};

use modelseal::bundle::VerifyOptions;
use modelseal::registry::{
    DeployOptions, Log, ObjectStoreBackend, Registry, Stage, Store, StoreError, Watcher,
};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use registry_support::*;

fn opts() -> VerifyOptions {
    VerifyOptions {
        threads: 1,
        ..VerifyOptions::default()
    }
}

fn backend(store: &Arc<dyn ObjectStore>, create: bool) -> Result<ObjectStoreBackend, StoreError> {
    ObjectStoreBackend::new(
        store.clone(),
        "teams/ml/registry",
        "test://registry",
        create,
    )
}

/// The Store contract: create-if-absent log entries, listing from an index, blobs.
fn contract(store: Arc<dyn ObjectStore>) {
    assert!(matches!(
        backend(&store, false),
        Err(StoreError::NoRegistry(_))
    ));
    let s = backend(&store, true).unwrap();
    backend(&store, false).unwrap();
    s.create_log(0, b"zero").unwrap();
    assert!(matches!(
        s.create_log(0, b"again"),
        Err(StoreError::Conflict(0))
    ));
    assert_eq!(s.read_log(0).unwrap(), b"zero");
    for i in 1..12 {
        s.create_log(i, format!("{i}").as_bytes()).unwrap();
    }
    assert_eq!(s.log_indexes(0).unwrap(), (0..12).collect::<Vec<_>>());
    assert_eq!(s.log_indexes(10).unwrap(), vec![10, 11]);
    assert!(s.log_indexes(12).unwrap().is_empty());
    assert!(matches!(s.read_log(12), Err(StoreError::NotFound(_))));

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("blob");
    std::fs::write(&f, b"some bundle bytes").unwrap();
    let (d, _) = modelseal::registry::store::hash_file(&f).unwrap();
    assert!(!s.has_blob(&d).unwrap());
    s.put_blob(&d, &f).unwrap();
    s.put_blob(&d, &f).unwrap();
    assert!(s.has_blob(&d).unwrap());
    let mut out = Vec::new();
    s.get_blob(&d, &mut out).unwrap();
    assert_eq!(out, b"some bundle bytes");
    assert_eq!(s.list_blobs().unwrap(), vec![d]);
    // A file that does not match the announced digest is not stored.
    let wrong = modelseal::digest::Sha256Digest([7; 32]);
    assert!(s.put_blob(&wrong, &f).is_err());
    assert!(!s.has_blob(&wrong).unwrap());
}

#[test]
fn in_memory_backend_honours_the_store_contract() {
    contract(Arc::new(InMemory::new()));
}

#[test]
fn local_file_system_backend_honours_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(Arc::new(
        LocalFileSystem::new_with_prefix(dir.path()).unwrap(),
    ));
}

#[test]
fn publish_promote_deploy_over_object_storage() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bucket")).unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path().join("bucket")).unwrap());
    let k = key(1);
    let t = trust(&[&k]);
    let r = Registry::new(Box::new(backend(&store, true).unwrap()));
    for (v, acc) in [("1.0.0", 0.9), ("1.1.0", 0.95)] {
        r.publish(&make_bundle(dir.path(), v, acc, &k), &t, &k, &opts())
            .unwrap();
    }
    r.promote(&t, &k, "iris", "1.0.0", Stage::Production, &opts())
        .unwrap();
    assert_eq!(r.best(&t, "iris", "accuracy", false).unwrap().best, "1.1.0");
    let target = dir.path().join("srv");
    let mut w = Watcher::with_options(
        Registry::new(Box::new(backend(&store, false).unwrap())),
        trust(&[&k]),
        "iris",
        Stage::Production,
        &target,
        DeployOptions {
            verify: opts(),
            ..DeployOptions::default()
        },
    )
    .unwrap();
    assert_eq!(w.poll().unwrap().unwrap().info.version, "1.0.0");
    assert_serving(&target, "1.0.0");
    r.promote(&t, &k, "iris", "1.1.0", Stage::Production, &opts())
        .unwrap();
    assert_eq!(w.poll().unwrap().unwrap().info.version, "1.1.0");
    assert_serving(&target, "1.1.0");
    r.rollback(&t, &k, "iris", Stage::Production).unwrap();
    assert_eq!(w.poll().unwrap().unwrap().info.version, "1.0.0");
    assert_serving(&target, "1.0.0");
    // The objects are where docs/format.md says.
    assert!(
        dir.path()
            .join("bucket/teams/ml/registry/log/000000004.json")
            .is_file()
    );
    assert!(
        dir.path()
            .join("bucket/teams/ml/registry/registry.json")
            .is_file()
    );
}

#[test]
fn concurrent_publishers_on_one_bucket_get_distinct_log_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let k = key(1);
    backend(&store, true).unwrap();
    let bundles: Vec<_> = (0..6)
        .map(|i| {
            make_bundle(
                &dir.path().join(format!("b{i}")),
                &format!("3.{i}.0"),
                0.5,
                &k,
            )
        })
        .collect();
    let barrier = Arc::new(Barrier::new(bundles.len()));
    let handles: Vec<_> = bundles
        .into_iter()
        .map(|b| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let k = key(1);
                let r = Registry::new(Box::new(backend(&store, false).unwrap()));
                barrier.wait();
                r.publish(&b, &trust(&[&k]), &k, &opts())
                    .unwrap()
                    .entry
                    .unwrap()
            })
        })
        .collect();
    let mut indexes: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..6).collect::<Vec<_>>());
    let s = backend(&store, false).unwrap();
    let log = Log::load(&s, &trust(&[&k])).unwrap();
    assert_eq!(log.next_index(), 6);
    assert_eq!(log.trusted().count(), 6);
}

#[test]
fn urls_select_the_backend() {
    // memory:/// is a fresh empty store each time: no registry there.
    assert!(matches!(
        Registry::open("memory:///"),
        Err(StoreError::NoRegistry(_))
    ));
    assert!(Registry::open_or_create("memory:///x").is_ok());
    // Clouds need their feature; without it the error says so.
    #[cfg(not(feature = "s3"))]
    match Registry::open("s3://bucket/models") {
        Err(StoreError::Unsupported(msg)) => assert!(msg.contains("s3"), "{msg}"),
        other => panic!("{other:?}"),
    }
}
