//! Shared helpers for the registry tests: real bundles of the iris example (a scikit-learn
//! pipeline saved with joblib, `examples/iris/`) signed in the test, one per version.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use modelseal::bundle::{self, SignOptions, TrustedKeys};
use modelseal::keys::SecretKey;
use modelseal::registry::Registry;

/// The deterministic test key number `n`.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32], format!("registry test key {n}"))
}

/// Trust exactly these keys.
pub fn trust(keys: &[&SecretKey]) -> TrustedKeys {
    TrustedKeys(keys.iter().map(|k| k.public().clone()).collect())
}

/// The iris example directory.
pub fn iris_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iris")
}

/// The marker written into each version's `VERSION` file.
pub fn version_marker(version: &str) -> String {
    format!("iris version={version};\n")
}

/// Sign version `version` of the iris model (its files plus a `VERSION` file) with
/// `accuracy` and `loss` metrics into `root/iris-<version>.zip`.
pub fn make_bundle(root: &Path, version: &str, accuracy: f64, key: &SecretKey) -> PathBuf {
    make_named_bundle(root, "iris", version, accuracy, key)
}

/// Like [`make_bundle`] with another model name.
pub fn make_named_bundle(
    root: &Path,
    name: &str,
    version: &str,
    accuracy: f64,
    key: &SecretKey,
) -> PathBuf {
    let dir = root.join(format!("src-{name}-{version}"));
    fs::create_dir_all(&dir).unwrap();
    for f in fs::read_dir(iris_dir()).unwrap() {
        let f = f.unwrap();
        fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    fs::write(dir.join("VERSION"), version_marker(version)).unwrap();
    let out = root.join(format!("{name}-{version}.zip"));
    let mut o = SignOptions::new(name, version);
    o.created = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    o.metadata = serde_json::json!({
        "framework": "scikit-learn",
        "metrics": {"accuracy": accuracy, "loss": 1.0 - accuracy, "eval": {"f1": accuracy / 2.0}},
    })
    .as_object()
    .cloned()
    .unwrap();
    bundle::sign(&[dir], key, &out, &o).unwrap();
    out
}

/// A copy of `bundle` with one byte of the `VERSION` file's content changed (the
/// signature and manifest untouched).
pub fn tampered_copy(bundle: &Path, version: &str, out: &Path) -> PathBuf {
    let mut bytes = fs::read(bundle).unwrap();
    let marker = version_marker(version);
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("VERSION content is stored uncompressed");
    bytes[at] ^= 0x20;
    fs::write(out, bytes).unwrap();
    out.to_path_buf()
}

/// A local registry under `root/registry`.
pub fn registry(root: &Path) -> Registry {
    Registry::open_or_create(root.join("registry").to_str().unwrap()).unwrap()
}

/// What `DIR/current/VERSION` says.
pub fn served_version(target: &Path) -> String {
    fs::read_to_string(target.join("current/VERSION")).unwrap()
}

/// The directory `DIR/current` points to.
pub fn current_link(target: &Path) -> PathBuf {
    fs::read_link(target.join("current")).unwrap()
}

/// Assert that `DIR/current` is complete: every file of the iris example with its exact
/// bytes, and the `VERSION` file of `version`.
pub fn assert_serving(target: &Path, version: &str) {
    let current = target.join("current");
    for f in fs::read_dir(iris_dir()).unwrap() {
        let f = f.unwrap();
        assert_eq!(
            fs::read(current.join(f.file_name())).unwrap(),
            fs::read(f.path()).unwrap(),
            "{} in {}",
            f.file_name().to_string_lossy(),
            current.display()
        );
    }
    assert_eq!(served_version(target), version_marker(version));
}
