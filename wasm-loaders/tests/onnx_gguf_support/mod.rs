//! Test helpers shared by the ONNX and GGUF tests: fixture paths, a `SliceHost` with a
//! model directory's files as externals, an independent strided gather of a descriptor's
//! bytes, and a seeded PRNG for mutation tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use modelseal_loaders::{ByteOrder, SliceHost, StorageSource, TensorDesc};
use sha2::{Digest, Sha256};

/// `<repo>/tests/fixtures/<kind>`.
pub fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("fixtures")
        .join(kind)
}

/// The parsed `expected.json` of a fixture folder.
pub fn expected(kind: &str) -> serde_json::Value {
    let path = fixtures(kind).join("expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("expected.json is valid JSON")
}

/// A host whose input is `path` and whose externals are the regular files next to it
/// (symlinks are not followed: the real host's policy refuses them, and a native test
/// must never read outside the fixture folder).
pub fn host_for(path: &Path) -> SliceHost {
    let input = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut host = SliceHost::new(input);
    host.output_limit = 64 << 20;
    if let Some(dir) = path.parent() {
        for entry in std::fs::read_dir(dir).expect("fixture dir") {
            let entry = entry.expect("dir entry");
            let meta = std::fs::symlink_metadata(entry.path()).expect("metadata");
            if meta.is_file() && entry.path() != path {
                let name = entry.file_name().to_string_lossy().into_owned();
                host.externals
                    .push((name, std::fs::read(entry.path()).expect("read")));
            }
        }
    }
    host
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The tensor's elements in C order as little-endian bytes, gathered from its storage
/// with its own shape, strides, offset and byte order. Every access is bounds-checked
/// against the storage and the storage against its source.
pub fn gather(desc: &TensorDesc, host: &SliceHost) -> Result<Vec<u8>, String> {
    let source: &[u8] = match desc.storage.source {
        StorageSource::Input => host.sources.first().ok_or("no input")?,
        StorageSource::Output => &host.output,
        StorageSource::External(id) => host
            .sources
            .get(id as usize)
            .ok_or_else(|| format!("no external source {id}"))?,
    };
    let s_off = u128::from(desc.storage.offset);
    let s_len = u128::from(desc.storage.length);
    if s_off + s_len > source.len() as u128 {
        return Err(format!("{}: storage runs past its source", desc.name));
    }
    if desc.strides.len() != desc.shape.len() {
        return Err(format!("{}: strides and shape differ in length", desc.name));
    }
    let item = u128::from(desc.dtype.size());
    let numel: u128 = desc.shape.iter().map(|&d| u128::from(d)).product();
    if numel > 1 << 32 {
        return Err(format!("{}: too many elements for a test", desc.name));
    }
    let mut out = Vec::with_capacity((numel * item) as usize);
    let mut index = vec![0u64; desc.shape.len()];
    for _ in 0..numel {
        let elem: u128 = u128::from(desc.offset)
            + index
                .iter()
                .zip(&desc.strides)
                .map(|(&i, &s)| u128::from(i) * u128::from(s))
                .sum::<u128>();
        let start = elem * item;
        if start + item > s_len {
            return Err(format!("{}: element outside its storage", desc.name));
        }
        let at = (s_off + start) as usize;
        let mut bytes = source[at..at + item as usize].to_vec();
        if desc.byte_order == ByteOrder::Big {
            bytes.reverse();
        }
        out.extend_from_slice(&bytes);
        // Next C-order index.
        for k in (0..index.len()).rev() {
            index[k] += 1;
            if index[k] < desc.shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    Ok(out)
}

/// Compare a load result's tensors with an `expected.json` entry (`tensors`: name, dtype,
/// shape, sha256). Returns the mismatches.
pub fn compare(
    tensors: &[TensorDesc],
    host: &SliceHost,
    expected: &serde_json::Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    let want = expected["tensors"].as_array().cloned().unwrap_or_default();
    if want.len() != tensors.len() {
        problems.push(format!(
            "{} tensors, expected {}: got {:?}",
            tensors.len(),
            want.len(),
            tensors.iter().map(|t| &t.name).collect::<Vec<_>>()
        ));
    }
    for w in &want {
        let name = w["name"].as_str().unwrap_or_default();
        let Some(t) = tensors.iter().find(|t| t.name == name) else {
            problems.push(format!("missing tensor {name}"));
            continue;
        };
        let dtype = serde_json::to_value(t.dtype).expect("dtype serialises");
        if dtype != w["dtype"] {
            problems.push(format!("{name}: dtype {dtype} != {}", w["dtype"]));
        }
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        if t.shape != shape {
            problems.push(format!("{name}: shape {:?} != {shape:?}", t.shape));
        }
        if let Some(extra) = w.get("extra").and_then(|e| e.as_object()) {
            for (k, v) in extra {
                if t.extra.get(k).map(String::as_str) != v.as_str() {
                    problems.push(format!(
                        "{name}: extra {k} = {:?}, expected {v}",
                        t.extra.get(k)
                    ));
                }
            }
        }
        match gather(t, host) {
            Ok(bytes) => {
                let got = sha256_hex(&bytes);
                if got != w["sha256"].as_str().unwrap_or_default() {
                    problems.push(format!("{name}: sha256 {got} != {}", w["sha256"]));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    problems
}

/// xorshift64*: a small deterministic PRNG for mutation tests.
pub struct Rng(pub u64);

impl Rng {
    /// Next value.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A host that counts the bytes the loader reads (to show payloads are not copied).
pub struct CountingHost {
    /// The wrapped host.
    pub inner: SliceHost,
    /// Bytes read through `read_at`.
    pub read: u64,
}

impl modelseal_loaders::Host for CountingHost {
    fn source_len(&self, source: u32) -> Result<u64, modelseal_loaders::LoadError> {
        self.inner.source_len(source)
    }
    fn read_at(
        &mut self,
        source: u32,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), modelseal_loaders::LoadError> {
        self.read += buf.len() as u64;
        self.inner.read_at(source, offset, buf)
    }
    fn open_external(&mut self, name: &str) -> Result<u32, modelseal_loaders::LoadError> {
        self.inner.open_external(name)
    }
    fn write_output(&mut self, bytes: &[u8]) -> Result<u64, modelseal_loaders::LoadError> {
        self.inner.write_output(bytes)
    }
}
