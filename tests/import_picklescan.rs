//! The picklescan corpus (`../shared/corpora/picklescan`, see its README): malicious files
//! never produce an output and are refused by policy; benign models are imported.

mod import_support;

use std::path::{Path, PathBuf};

use modelseal::import::{ErrorClass, ImportError, ImportOptions, import};

use import_support::{files_in, read_with_modelseal, read_with_python};

fn corpus() -> Option<PathBuf> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = dir.join("shared/corpora/picklescan");
        if c.is_dir() {
            return Some(c);
        }
        if !dir.pop() {
            eprintln!("SKIP: shared/corpora/picklescan not found above the project");
            return None;
        }
    }
}

const IMPORTED: &[&str] = &[
    "data/pytorch_model.bin",
    "data/new_pytorch_model.bin",
    "data2/int_array.npy",
    "data2/int_arrays.npz",
    "data2/int_arrays_compressed.npz",
];
const NO_TENSORS: &[&str] = &[
    "data/benign0_v0.pkl",
    "data/benign0_v3.pkl",
    "data/benign0_v4.pkl",
];
const NOT_MODELS: &[&str] = &[
    "data/benign_password_protected.zip",
    "data/not_a_pickle.bin",
    "data/bad_pytorch.pt",
];

/// Malicious containers the loaders reject for their structure (a 7z archive, zip header
/// differentials, unsupported flag bits, a zip with no model in it) rather than for a
/// global: they fail as malformed/unsupported rather than as a policy refusal (both exit 1).
/// Still never imported and nothing is written.
const STRUCTURAL: &[&str] = &[
    "data/malicious1.7z",
    "data/malicious1_0x20.zip",
    "data/malicious1_central_directory.zip",
    "data/malicious1_wrong_ext.zip",
    "data2/malicious1_crc.zip",
];

fn all_files(root: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for sub in ["data", "data2"] {
        for name in files_in(&root.join(sub)) {
            v.push(format!("{sub}/{name}"));
        }
    }
    v
}

fn malicious(root: &Path) -> Vec<String> {
    all_files(root)
        .into_iter()
        .filter(|f| {
            !IMPORTED.contains(&f.as_str())
                && !NO_TENSORS.contains(&f.as_str())
                && !NOT_MODELS.contains(&f.as_str())
        })
        .collect()
}

fn try_import(root: &Path, rel: &str, out_dir: &Path) -> Result<PathBuf, ImportError> {
    let out = out_dir.join(format!("{}.safetensors", rel.replace('/', "_")));
    import(&root.join(rel), &out, &ImportOptions::default()).map(|o| o.output)
}

const PY_REFERENCE: &str = r#"
import hashlib, json, sys
import numpy as np
p = sys.argv[1]
names = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
         "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32", "uint16": "U16",
         "uint8": "U8", "bool": "BOOL"}
if p.endswith(".npy"):
    items = [np.load(p)]
elif p.endswith(".npz"):
    items = list(np.load(p).values())
else:
    import torch
    obj = torch.load(p, weights_only=True, map_location="cpu")
    items = list(obj.values()) if isinstance(obj, dict) else [obj]
    items = [t.detach().contiguous().numpy() for t in items]
out = []
for a in items:
    a = np.ascontiguousarray(a)
    le = a.astype(a.dtype.newbyteorder("<"))
    out.append([names[str(a.dtype)], list(a.shape), hashlib.sha256(le.tobytes()).hexdigest()])
print(json.dumps(sorted(out)))
"#;

/// (dtype, shape, sha256) of every array in `path` as torch/numpy load it, sorted; `None`
/// if the Python libraries are not available.
fn reference_values(path: &Path) -> Option<Vec<(String, Vec<u64>, String)>> {
    let py = import_support::python()?;
    let out = std::process::Command::new(py)
        .args(["-c", PY_REFERENCE])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "SKIP reference for {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: Vec<(String, Vec<u64>, String)> = serde_json::from_slice(&out.stdout).ok()?;
    Some(v)
}

/// Holds whatever the loaders can do: nothing malicious is ever imported, and a failed
/// import leaves nothing behind.
#[test]
fn malicious_files_never_produce_output() {
    let Some(root) = corpus() else { return };
    let out_dir = tempfile::tempdir().unwrap();
    let files = malicious(&root);
    assert!(files.len() > 60, "corpus looks incomplete: {}", files.len());
    for rel in files.iter().chain(
        NOT_MODELS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        let result = try_import(&root, rel, out_dir.path());
        assert!(result.is_err(), "{rel} was imported");
        assert!(
            files_in(out_dir.path()).is_empty(),
            "{rel} left output behind"
        );
    }
}

/// The expectations of the corpus README: refusals by policy (exit 1) for malicious files
/// except the [`STRUCTURAL`] ones, "no tensors" for the benign pickles, imports for the
/// benign models.
#[test]
fn corpus_expectations() {
    let Some(root) = corpus() else { return };
    let out_dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for rel in malicious(&root) {
        match try_import(&root, &rel, out_dir.path()) {
            Err(e) if e.class() == ErrorClass::Refused => {}
            Err(_) if STRUCTURAL.contains(&rel.as_str()) => {}
            other => wrong.push(format!("{rel}: expected a refusal, got {other:?}")),
        }
    }
    for rel in NO_TENSORS {
        // The host's own NoTensors, or the loader's message saying so.
        match try_import(&root, rel, out_dir.path()) {
            Err(ImportError::NoTensors { .. }) => {}
            Err(e) if e.to_string().contains("no tensors found") => {}
            other => wrong.push(format!("{rel}: expected no tensors, got {other:?}")),
        }
    }
    for rel in NOT_MODELS {
        if let Ok(p) = try_import(&root, rel, out_dir.path()) {
            wrong.push(format!("{rel}: imported as {}", p.display()));
        }
    }
    for rel in IMPORTED {
        match try_import(&root, rel, out_dir.path()) {
            Ok(out) => {
                let (ours, _) = read_with_modelseal(&out);
                if ours.is_empty() {
                    wrong.push(format!("{rel}: no tensors"));
                }
                if let Some((py, _)) = read_with_python(&out)
                    && py != ours
                {
                    wrong.push(format!("{rel}: python safetensors disagrees"));
                }
                if let Some(reference) = reference_values(&root.join(rel)) {
                    let mut got: Vec<_> = ours.into_values().collect();
                    got.sort();
                    if got != reference {
                        wrong.push(format!(
                            "{rel}: tensors differ from what torch/numpy load:\n  got {got:?}\n  want {reference:?}"
                        ));
                    }
                }
            }
            Err(e) => wrong.push(format!("{rel}: expected an import, got {e}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
