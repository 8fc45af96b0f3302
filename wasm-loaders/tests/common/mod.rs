//! Shared helpers for the container tests: fixture paths, a strided gather written
//! independently of the loaders, and expectation checks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use modelseal_loaders::{
    ByteOrder, LoadError, LoadResult, Options, SliceHost, StorageSource, TensorDesc,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `tests/fixtures/containers` at the repository root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/containers")
}

/// The shared corpus folder (`<dir holding the repo>/shared/corpora`), if present.
pub fn corpus() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dir = repo.canonicalize().ok()?;
    loop {
        let c = dir.join("shared/corpora");
        if c.is_dir() {
            return Some(c);
        }
        dir = dir.parent()?.to_path_buf();
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Options from an expectation's optional `options` object.
pub fn options_for(expect: &Value) -> Options {
    let mut o = Options::default();
    if let Some(opts) = expect.get("options") {
        if let Some(f) = opts.get("format").and_then(Value::as_str) {
            o.format = f.to_string();
        }
        if let Some(m) = opts.get("max_decompressed").and_then(Value::as_u64) {
            o.limits.max_decompressed = m;
        }
    }
    o
}

pub fn load_bytes(bytes: Vec<u8>, options: &Options) -> (SliceHost, Result<LoadResult, LoadError>) {
    let mut host = SliceHost::new(bytes);
    let r = modelseal_loaders::load(&mut host, options);
    (host, r)
}

/// The C-order, little-endian bytes of `t`, gathered element by element from the
/// descriptor (independently of the loaders' own arithmetic).
pub fn gather(host: &SliceHost, t: &TensorDesc) -> Vec<u8> {
    let src: &[u8] = match t.storage.source {
        StorageSource::Input => &host.sources[0],
        StorageSource::Output => &host.output,
        StorageSource::External(i) => &host.sources[i as usize],
    };
    let item = t.dtype.size() as usize;
    let start = t.storage.offset as usize;
    let end = start + t.storage.length as usize;
    assert!(end <= src.len(), "{}: storage outside its source", t.name);
    let storage = &src[start..end];
    assert_eq!(t.shape.len(), t.strides.len(), "{}: strides", t.name);
    let numel: u64 = t.shape.iter().product();
    let mut out = Vec::with_capacity(numel as usize * item);
    let mut index = vec![0u64; t.shape.len()];
    for _ in 0..numel {
        let elem: u64 = t.offset
            + index
                .iter()
                .zip(&t.strides)
                .map(|(i, s)| i * s)
                .sum::<u64>();
        let at = elem as usize * item;
        let mut bytes = storage[at..at + item].to_vec();
        if t.byte_order == ByteOrder::Big {
            bytes.reverse();
        }
        out.extend_from_slice(&bytes);
        // Next index in C order.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a load outcome against an expectation from `expected.json`; returns a
/// description of the mismatch, if any.
pub fn check(
    name: &str,
    expect: &Value,
    host: &SliceHost,
    r: &Result<LoadResult, LoadError>,
) -> Option<String> {
    if let Some(kind) = expect.get("error").and_then(Value::as_str) {
        let contains = expect.get("contains").and_then(Value::as_str).unwrap_or("");
        return match r {
            Ok(res) => Some(format!(
                "{name}: expected a {kind} error, loaded {} tensors",
                res.tensors.len()
            )),
            Err(e) => {
                let got = serde_json::to_value(e.kind).ok();
                if got.as_ref().and_then(Value::as_str) != Some(kind) {
                    Some(format!(
                        "{name}: expected {kind}, got {:?}: {}",
                        e.kind, e.message
                    ))
                } else if !e.message.contains(contains) {
                    Some(format!(
                        "{name}: message {:?} lacks {contains:?}",
                        e.message
                    ))
                } else {
                    None
                }
            }
        };
    }
    let res = match r {
        Ok(res) => res,
        Err(e) => {
            return Some(format!(
                "{name}: expected success, got {:?}: {}",
                e.kind, e.message
            ));
        }
    };
    let mut problems = Vec::new();
    if Some(res.format.as_str()) != expect["format"].as_str() {
        problems.push(format!("format {} != {}", res.format, expect["format"]));
    }
    let want = expect["tensors"].as_array().cloned().unwrap_or_default();
    if want.len() != res.tensors.len() {
        problems.push(format!(
            "{} tensors, expected {}",
            res.tensors.len(),
            want.len()
        ));
    }
    for w in &want {
        let wname = w["name"].as_str().unwrap_or_default();
        let Some(t) = res.tensors.iter().find(|t| t.name == wname) else {
            problems.push(format!("missing tensor {wname}"));
            continue;
        };
        let dtype = serde_json::to_value(t.dtype).ok();
        if dtype.as_ref() != Some(&w["dtype"]) {
            problems.push(format!("{wname}: dtype {:?} != {}", t.dtype, w["dtype"]));
        }
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if t.shape != shape {
            problems.push(format!("{wname}: shape {:?} != {shape:?}", t.shape));
            continue;
        }
        let digest = sha256_hex(&gather(host, t));
        if Some(digest.as_str()) != w["sha256"].as_str() {
            problems.push(format!("{wname}: bytes differ from numpy's"));
        }
    }
    let meta: std::collections::BTreeMap<String, String> =
        serde_json::from_value(expect["metadata"].clone()).unwrap_or_default();
    if res.metadata != meta {
        problems.push(format!("metadata {:?} != {meta:?}", res.metadata));
    }
    (!problems.is_empty()).then(|| format!("{name}: {}", problems.join("; ")))
}
