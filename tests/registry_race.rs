//! Concurrency: publishers racing each other (threads and real processes) and a deployer
//! polling while versions are promoted never corrupt the store or serve a partial version.

mod registry_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use modelseal::bundle::VerifyOptions;
use modelseal::registry::{DeployOptions, Log, Registry, RegistryError, Stage, Watcher};
use registry_support::*;

fn opts() -> VerifyOptions {
    VerifyOptions {
        threads: 1,
        ..VerifyOptions::default()
    }
}

/// The log verifies, has exactly `n` entries numbered 0..n, no stray temporary files are
/// visible as entries, and every blob has the digest it is named by.
fn assert_consistent(root: &Path, n: u64) {
    let k = key(1);
    let t = trust(&[&k]);
    let r = registry(root);
    let log = Log::load(r.store(), &t).unwrap();
    assert_eq!(log.next_index(), n);
    assert_eq!(
        r.store().log_indexes(0).unwrap(),
        (0..n).collect::<Vec<_>>()
    );
    let report = r.check(&t, false, &opts()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    for d in r.store().list_blobs().unwrap() {
        let bytes = std::fs::read(root.join("registry/blobs/sha256").join(d.to_string())).unwrap();
        assert_eq!(modelseal::digest::Sha256Digest::of(&bytes), d);
    }
}

#[test]
fn threads_publishing_at_once_never_corrupt_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    registry(dir.path());
    // Four publishers with three versions each, plus two that race for one name+version
    // with different content.
    let mut jobs: Vec<Vec<std::path::PathBuf>> = Vec::new();
    for p in 0..4 {
        let sub = dir.path().join(format!("p{p}"));
        jobs.push(
            (0..3)
                .map(|i| make_bundle(&sub, &format!("{p}.{i}.0"), 0.5, &k))
                .collect(),
        );
    }
    let contested: Vec<_> = (0..2)
        .map(|c| make_bundle(&dir.path().join(format!("c{c}")), "9.9.9", f64::from(c), &k))
        .collect();
    jobs.push(vec![contested[0].clone()]);
    jobs.push(vec![contested[1].clone()]);

    let barrier = Arc::new(Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|bundles| {
            let root = dir.path().to_path_buf();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let k = key(1);
                let t = trust(&[&k]);
                let r = registry(&root);
                barrier.wait();
                bundles
                    .iter()
                    .map(|b| r.publish(b, &t, &k, &opts()).map(|p| p.version))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<Result<String, RegistryError>> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let ok: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let dup = results
        .iter()
        .filter(|r| matches!(r, Err(RegistryError::Duplicate { .. })))
        .count();
    assert_eq!(ok.len(), 13, "{results:?}");
    assert_eq!(dup, 1, "exactly one of the two contested publishes loses");
    let distinct: BTreeSet<&&String> = ok.iter().collect();
    assert_eq!(distinct.len(), 13);
    assert_consistent(dir.path(), 13);
}

#[test]
fn processes_publishing_at_once_never_corrupt_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let key_file = dir.path().join("k");
    modelseal::keys::write_key_pair(&key_file, &k, false).unwrap();
    let bundles: Vec<_> = (0..4)
        .map(|i| make_bundle(dir.path(), &format!("2.{i}.0"), 0.5, &k))
        .collect();
    let children: Vec<_> = bundles
        .iter()
        .map(|b| {
            Command::new(env!("CARGO_BIN_EXE_modelseal"))
                .current_dir(dir.path())
                .args([
                    "registry", "publish", "--key", "k.key", "--trust", "k.pub", "--json",
                ])
                .arg(b)
                .output_async()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_consistent(dir.path(), 4);
}

/// Spawn a command with captured output (std has no async spawn with output).
trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}

impl OutputAsync for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn a_deployer_polling_while_versions_move_only_ever_serves_complete_versions() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let t = trust(&[&k]);
    let r = registry(dir.path());
    let versions = ["1.0.0", "1.1.0", "1.2.0"];
    for v in versions {
        r.publish(&make_bundle(dir.path(), v, 0.5, &k), &t, &k, &opts())
            .unwrap();
    }
    r.promote(&t, &k, "iris", "1.0.0", Stage::Production, &opts())
        .unwrap();
    let target = dir.path().join("srv");
    let mut w = Watcher::with_options(
        registry(dir.path()),
        trust(&[&k]),
        "iris",
        Stage::Production,
        &target,
        DeployOptions {
            keep: 2,
            verify: opts(),
            step_hook: None,
        },
    )
    .unwrap();
    w.poll().unwrap().unwrap();

    let root = dir.path().to_path_buf();
    let promoter = std::thread::spawn(move || {
        let k = key(1);
        let t = trust(&[&k]);
        let r = registry(&root);
        let mut last = "1.0.0";
        for i in 0..12 {
            last = versions[(i + 1) % versions.len()];
            r.promote(&t, &k, "iris", last, Stage::Production, &opts())
                .unwrap();
            // A publisher adds unrelated versions at the same time.
            let extra = make_named_bundle(
                &root.join(format!("x{i}")),
                "other",
                &format!("0.{i}"),
                0.1,
                &k,
            );
            r.publish(&extra, &t, &k, &opts()).unwrap();
        }
        last
    });
    let mut swaps = 0;
    while !promoter.is_finished() {
        if let Some(d) = w.poll().unwrap() {
            swaps += 1;
            assert_serving(&target, &d.info.version);
        }
    }
    let last = promoter.join().unwrap();
    while w.poll().unwrap().is_some() {}
    assert_serving(&target, last);
    assert_eq!(w.current().unwrap().version, last);
    assert!(swaps >= 1);
    // 3 publishes + 1 promote before, 12 promotions and 12 publishes during.
    assert_consistent(dir.path(), 28);
    let _ = Registry::open(dir.path().join("registry").to_str().unwrap()).unwrap();
}
