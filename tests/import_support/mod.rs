//! Helpers shared by the import tests: reading a safetensors output back with modelseal's
//! strict reader and with the Python `safetensors` library.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use modelseal::tensor::safetensors::read_header;
use sha2::{Digest, Sha256};

/// name → (dtype, shape, sha256 of the contiguous little-endian bytes).
pub type Tensors = BTreeMap<String, (String, Vec<u64>, String)>;

/// Lowercase hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Read `path` with modelseal's own strict safetensors reader.
pub fn read_with_modelseal(path: &Path) -> (Tensors, BTreeMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let file = read_header(&bytes[..], bytes.len() as u64).unwrap();
    let tensors = file
        .tensors
        .iter()
        .map(|t| {
            let data = &bytes[t.start as usize..t.end as usize];
            (
                t.name.clone(),
                (t.dtype.name().to_string(), t.shape.clone(), sha256(data)),
            )
        })
        .collect();
    (tensors, file.metadata)
}

/// The Python interpreter with the real libraries, if present.
pub fn python() -> Option<PathBuf> {
    let p = PathBuf::from("/work/venv/bin/python");
    let ok = p.exists()
        && Command::new(&p)
            .args(["-c", "import safetensors.numpy, numpy"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok {
        Some(p)
    } else {
        eprintln!("SKIP: /work/venv/bin/python with numpy+safetensors not available");
        None
    }
}

const PY_READ: &str = r#"
import hashlib, json, sys
from safetensors import safe_open
out = {}
with safe_open(sys.argv[1], framework="numpy") as f:
    for k in f.keys():
        v = f.get_tensor(k)
        names = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
                 "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64",
                 "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL"}
        le = v.astype(v.dtype.newbyteorder("<"))
        out[k] = [names[str(v.dtype)], list(v.shape), hashlib.sha256(le.tobytes()).hexdigest()]
    meta = f.metadata() or {}
print(json.dumps({"tensors": out, "metadata": meta}))
"#;

/// Read `path` with the Python safetensors library; `None` when unavailable.
pub fn read_with_python(path: &Path) -> Option<(Tensors, BTreeMap<String, String>)> {
    let py = python()?;
    let out = Command::new(py)
        .args(["-c", PY_READ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python safetensors failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tensors = v["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| {
            let shape = t[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            (
                k.clone(),
                (
                    t[0].as_str().unwrap().to_string(),
                    shape,
                    t[2].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    let meta = v["metadata"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    Some((tensors, meta))
}

/// Files left in `dir` (to check that nothing was left behind).
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
