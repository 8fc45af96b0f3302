//! Shared helpers for the pickle / PyTorch / joblib tests: fixture discovery, loading a
//! file with the right loader, and an independent strided gather of tensor bytes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use modelseal_loaders::{
    ByteOrder, LoadError, LoadResult, Options, SliceHost, StorageSource, TensorDesc,
};
use sha2::{Digest, Sha256};

/// `tests/fixtures/pickle` at the repository root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("fixtures")
        .join("pickle")
}

/// The picklescan corpus (`shared/corpora/picklescan` in some parent directory), if present.
pub fn corpus() -> Option<PathBuf> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let cand = dir.join("shared").join("corpora").join("picklescan");
        if cand.is_dir() {
            return Some(cand);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Load `bytes` with the crate's dispatcher (content detection, then the loader).
pub fn load(bytes: Vec<u8>, options: &Options) -> (Result<LoadResult, LoadError>, SliceHost) {
    let mut host = SliceHost::new(bytes);
    let r = modelseal_loaders::load(&mut host, options);
    (r, host)
}

/// The bytes of `t`, gathered element by element in C order from its storage, converted
/// to little-endian. Written independently of the loaders: plain index arithmetic.
pub fn gather(t: &TensorDesc, host: &SliceHost) -> Result<Vec<u8>, String> {
    let src: &[u8] = match t.storage.source {
        StorageSource::Input => &host.sources[0],
        StorageSource::Output => &host.output,
        StorageSource::External(i) => host
            .sources
            .get(i as usize)
            .ok_or_else(|| format!("{}: no external source {i}", t.name))?,
    };
    let start = t.storage.offset as usize;
    let end = start + t.storage.length as usize;
    let storage = src
        .get(start..end)
        .ok_or_else(|| format!("{}: storage {start}..{end} outside its source", t.name))?;
    let isz = t.dtype.size() as usize;
    if t.shape.len() != t.strides.len() {
        return Err(format!("{}: shape/strides length mismatch", t.name));
    }
    let numel: u64 = t.shape.iter().product();
    let mut out = Vec::with_capacity(numel as usize * isz);
    if numel == 0 {
        return Ok(out);
    }
    let mut idx = vec![0u64; t.shape.len()];
    for _ in 0..numel {
        let elem: u64 = t.offset + idx.iter().zip(&t.strides).map(|(i, s)| i * s).sum::<u64>();
        let at = elem as usize * isz;
        let mut bytes = storage
            .get(at..at + isz)
            .ok_or_else(|| format!("{}: element {elem} outside its storage", t.name))?
            .to_vec();
        if t.byte_order == ByteOrder::Big {
            bytes.reverse();
        }
        out.extend_from_slice(&bytes);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// Hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare a result's tensors with `[{"name","dtype","shape","sha256"}]`; returns problems.
pub fn check_tensors(
    r: &LoadResult,
    host: &SliceHost,
    expected: &[serde_json::Value],
) -> Vec<String> {
    let mut problems = Vec::new();
    if r.tensors.len() != expected.len() {
        problems.push(format!(
            "expected {} tensors, got {}: {:?}",
            expected.len(),
            r.tensors.len(),
            r.tensors.iter().map(|t| &t.name).collect::<Vec<_>>()
        ));
    }
    for e in expected {
        let name = e["name"].as_str().unwrap_or_default();
        let Some(t) = r.tensors.iter().find(|t| t.name == name) else {
            problems.push(format!("missing tensor {name}"));
            continue;
        };
        let dtype = serde_json::to_value(t.dtype).unwrap_or_default();
        if dtype != e["dtype"] {
            problems.push(format!("{name}: dtype {dtype} != {}", e["dtype"]));
        }
        let shape: Vec<u64> = e["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        if t.shape != shape {
            problems.push(format!("{name}: shape {:?} != {shape:?}", t.shape));
        }
        match gather(t, host) {
            Ok(bytes) => {
                let got = sha256(&bytes);
                if got != e["sha256"].as_str().unwrap_or_default() {
                    problems.push(format!("{name}: sha256 mismatch"));
                }
            }
            Err(err) => problems.push(err),
        }
    }
    problems
}
