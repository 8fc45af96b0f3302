//! Shared helpers for the HDF5 / Keras fixture tests: locating fixtures, running the
//! loaders on a `SliceHost`, and gathering tensor bytes from descriptors independently of
//! the loaders (strided gather + byte swap to little-endian).

#![allow(dead_code)]

use std::path::PathBuf;

use modelseal_loaders::{
    ByteOrder, LoadError, LoadResult, Options, SliceHost, StorageSource, TensorDesc,
};
use sha2::{Digest, Sha256};

/// The fixture folder (`tests/fixtures/keras` at the repository root).
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keras")
}

/// Reads one fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every fixture with an `.expected.json`, sorted.
pub fn fixtures() -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(fixture_dir()).expect("fixture dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if let Some(base) = name.strip_suffix(".expected.json") {
            let text = std::fs::read_to_string(fixture_dir().join(&name)).expect("read");
            out.push((base.to_string(), serde_json::from_str(&text).expect("json")));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Runs the loader through the crate's dispatcher (content detection), except for
/// `.keras` archives whose weights are an npz, which detection does not classify as
/// Keras yet: those are run with `format = "keras"`.
pub fn run(
    name: &str,
    bytes: Vec<u8>,
    options: &Options,
) -> (Result<LoadResult, LoadError>, SliceHost) {
    let mut host = SliceHost::new(bytes);
    let mut options = options.clone();
    if name.ends_with(".keras") && name.contains("npz") {
        options.format = "keras".into();
    }
    let r = modelseal_loaders::load(&mut host, &options);
    (r, host)
}

/// The tensor's elements as C-contiguous little-endian bytes, gathered from the host's
/// input or output with the descriptor's strides (panics on any out-of-range access).
pub fn gather(host: &SliceHost, t: &TensorDesc) -> Vec<u8> {
    let src: &[u8] = match t.storage.source {
        StorageSource::Input => &host.sources[0],
        StorageSource::Output => &host.output,
        StorageSource::External(i) => &host.sources[i as usize],
    };
    let start = t.storage.offset as usize;
    let storage = &src[start..start + t.storage.length as usize];
    let item = t.dtype.size() as usize;
    let numel: u64 = t.shape.iter().product();
    let mut out = Vec::with_capacity(numel as usize * item);
    let mut idx = vec![0u64; t.shape.len()];
    for _ in 0..numel {
        let elem: u64 = t.offset + idx.iter().zip(&t.strides).map(|(i, s)| i * s).sum::<u64>();
        let at = elem as usize * item;
        let mut bytes = storage[at..at + item].to_vec();
        if t.byte_order == ByteOrder::Big {
            bytes.reverse();
        }
        out.extend_from_slice(&bytes);
        for k in (0..idx.len()).rev() {
            idx[k] += 1;
            if idx[k] < t.shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Hex sha256.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Options with the fixture's `limits` overrides applied.
pub fn options_for(expected: &serde_json::Value) -> Options {
    let mut o = Options::default();
    if let Some(l) = expected.get("limits").and_then(|l| l.as_object())
        && let Some(v) = l.get("max_decompressed").and_then(|v| v.as_u64())
    {
        o.limits.max_decompressed = v;
    }
    o
}

/// Checks one good fixture against its expectation; returns a description of every
/// difference (empty when it matches).
pub fn check_good(name: &str, expected: &serde_json::Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let (r, host) = run(name, fixture(name), &options_for(expected));
    let r = match r {
        Ok(r) => r,
        Err(e) => return vec![format!("{name}: failed: {e:?}")],
    };
    if r.format != expected["format"].as_str().unwrap_or("") {
        diffs.push(format!(
            "{name}: format {} != {}",
            r.format, expected["format"]
        ));
    }
    let want = expected["tensors"].as_array().expect("tensors");
    let names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    let want_names: Vec<&str> = want
        .iter()
        .map(|t| t["name"].as_str().unwrap_or(""))
        .collect();
    if names != want_names {
        diffs.push(format!(
            "{name}: tensor names/order {names:?} != {want_names:?}"
        ));
    }
    for w in want {
        let wname = w["name"].as_str().unwrap_or("");
        let Some(t) = r.tensors.iter().find(|t| t.name == wname) else {
            continue;
        };
        let dtype = serde_json::to_value(t.dtype).expect("dtype");
        if dtype != w["dtype"] {
            diffs.push(format!("{name}: {wname}: dtype {dtype} != {}", w["dtype"]));
        }
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_u64().unwrap_or(u64::MAX))
            .collect();
        if t.shape != shape {
            diffs.push(format!("{name}: {wname}: shape {:?} != {shape:?}", t.shape));
            continue;
        }
        let got = sha256(&gather(&host, t));
        if got != w["sha256"].as_str().unwrap_or("") {
            diffs.push(format!("{name}: {wname}: bytes differ (sha256 {got})"));
        }
    }
    if let Some(meta) = expected.get("metadata").and_then(|m| m.as_object()) {
        for (k, v) in meta {
            if r.metadata.get(k).map(String::as_str) != v.as_str() {
                diffs.push(format!(
                    "{name}: metadata {k} = {:?}, expected {v}",
                    r.metadata.get(k)
                ));
            }
        }
    }
    if let Some(ws) = expected.get("warnings_contain").and_then(|w| w.as_array()) {
        for w in ws {
            let w = w.as_str().unwrap_or("");
            if !r.warnings.iter().any(|x| x.contains(w)) {
                diffs.push(format!(
                    "{name}: no warning contains {w:?}: {:?}",
                    r.warnings
                ));
            }
        }
    }
    diffs
}

/// Checks one bad fixture: the load must fail with the expected kind and message parts.
pub fn check_bad(name: &str, expected: &serde_json::Value) -> Vec<String> {
    let (r, _) = run(name, fixture(name), &options_for(expected));
    let e = match r {
        Ok(r) => {
            return vec![format!(
                "{name}: loaded ({} tensors) but should fail",
                r.tensors.len()
            )];
        }
        Err(e) => e,
    };
    let mut diffs = Vec::new();
    let kind = serde_json::to_value(e.kind).expect("kind");
    if kind != expected["error"] {
        diffs.push(format!(
            "{name}: error kind {kind} != {} ({})",
            expected["error"], e.message
        ));
    }
    for c in expected["contains"].as_array().expect("contains") {
        let c = c.as_str().unwrap_or("");
        if !e.message.contains(c) {
            diffs.push(format!("{name}: message {:?} lacks {c:?}", e.message));
        }
    }
    diffs
}
