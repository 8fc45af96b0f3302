//! Every fixture of the guest loaders (`tests/fixtures/*/expected.json`, made by the real
//! libraries) imported end to end through the sandbox: the output is read back with
//! modelseal's reader and with the Python safetensors library and compared with the
//! expected name, dtype, shape and SHA-256 of the contiguous little-endian bytes; files
//! expected to fail fail with the right class and leave nothing behind.

mod import_support;

use std::path::{Path, PathBuf};

use modelseal::import::{ErrorClass, ImportError, ImportOptions, import};
use serde_json::Value;

use import_support::{Tensors, files_in, read_with_modelseal, read_with_python};

fn expected_tensors(entry: &Value) -> Option<Tensors> {
    let tensors = entry.get("tensors")?.as_array()?;
    Some(
        tensors
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    (
                        t["dtype"].as_str().unwrap().to_string(),
                        t["shape"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| d.as_u64().unwrap())
                            .collect(),
                        t["sha256"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect(),
    )
}

/// What a fixture should do.
enum Expect {
    Tensors {
        tensors: Tensors,
        format: Option<String>,
    },
    Error {
        kind: String,
        contains: Vec<String>,
    },
}

/// One fixture, whatever the folder's expected-file layout.
struct Case {
    name: String,
    path: PathBuf,
    options: ImportOptions,
    expect: Expect,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The import options of a fixture (its `options` or `limits`: format and loader limits).
fn options_for(entry: &Value) -> ImportOptions {
    let mut options = ImportOptions::default();
    for key in ["options", "limits"] {
        let Some(o) = entry.get(key).and_then(Value::as_object) else {
            continue;
        };
        for (key, value) in o {
            match (key.as_str(), value) {
                ("format", Value::String(f)) => options.format = Some(f.clone()),
                ("allow_unknown_classes", Value::Bool(b)) => options.allow_unknown_classes = *b,
                ("dequantize", Value::Bool(b)) => options.dequantize = *b,
                ("max_decompressed", v) => options.loader.max_decompressed = v.as_u64().unwrap(),
                ("max_depth", v) => options.loader.max_depth = v.as_u64().unwrap(),
                ("max_memo", v) => options.loader.max_memo = v.as_u64().unwrap(),
                ("max_objects", v) => options.loader.max_objects = v.as_u64().unwrap(),
                ("max_tensors", v) => options.limits.max_tensors = v.as_u64().unwrap(),
                other => panic!("fixture option not understood: {other:?}"),
            }
        }
    }
    options
}

/// An entry with `tensors` (success) or `error`/`kind`/`expect` (failure).
fn case_of(name: String, path: PathBuf, entry: &Value) -> Option<Case> {
    let mut options = options_for(entry);
    if let Some((_, format)) = EXPLICIT_FORMAT.iter().find(|(n, _)| *n == name) {
        options.format = Some(format.to_string());
    }
    let kind = ["error", "kind", "expect"]
        .iter()
        .find_map(|k| entry.get(*k).and_then(Value::as_str))
        .filter(|k| *k != "ok");
    let expect = match (kind, expected_tensors(entry)) {
        (Some(kind), _) => Expect::Error {
            kind: kind.to_string(),
            contains: [
                strings(entry.get("contains")),
                strings(entry.get("mentions")),
            ]
            .concat(),
        },
        (None, Some(tensors)) => Expect::Tensors {
            tensors,
            format: entry
                .get("format")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        (None, None) => return None,
    };
    Some(Case {
        name,
        path,
        options,
        expect,
    })
}

fn cases(root: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = dirs
        .map(|d| d.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        // Layout 1 (containers) and 2 (gguf, onnx: grouped under "good"/"bad"):
        // one expected.json keyed by relative path.
        if let Ok(text) = std::fs::read_to_string(dir.join("expected.json")) {
            let map: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
            let grouped = map.keys().all(|k| k == "good" || k == "bad");
            let groups: Vec<&serde_json::Map<String, Value>> = if grouped {
                map.values().filter_map(Value::as_object).collect()
            } else {
                vec![&map]
            };
            for group in groups {
                for (rel, entry) in group {
                    out.extend(case_of(format!("{folder}/{rel}"), dir.join(rel), entry));
                }
            }
        }
        // Layout 3 (keras): FILE.expected.json next to FILE.
        // Layout 4 (pickle): cases/FILE.json naming files/FILE.
        for (spec_dir, data_dir, suffix) in [
            (dir.clone(), dir.clone(), ".expected.json"),
            (dir.join("cases"), dir.join("files"), ".json"),
        ] {
            let Ok(entries) = std::fs::read_dir(&spec_dir) else {
                continue;
            };
            let mut specs: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
            specs.sort();
            for spec in specs {
                let file_name = spec.file_name().unwrap().to_string_lossy().into_owned();
                let Some(target) = file_name.strip_suffix(suffix) else {
                    continue;
                };
                if spec_dir == dir && suffix == ".json" {
                    continue;
                }
                let entry: Value =
                    serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
                let target = entry
                    .get("file")
                    .and_then(Value::as_str)
                    .unwrap_or(target)
                    .to_string();
                out.extend(case_of(
                    format!("{folder}/{target}"),
                    data_dir.join(&target),
                    &entry,
                ));
            }
        }
    }
    out
}

/// Fixtures imported with an explicit `--format`, and why:
/// - a broken magic number or framing cannot be detected: the loader is chosen by hand,
///   as the guest's own tests do;
/// - `.keras` archives whose weights are `model.weights.npz` are not recognised by content
///   detection (`wasm-loaders/src/detect.rs`): a known gap, reported; remove the entries
///   once detection handles them.
const EXPLICIT_FORMAT: &[(&str, &str)] = &[
    ("gguf/bad/bad_magic.gguf", "gguf"),
    ("onnx/bad/group.onnx", "onnx"),
    ("keras/keras_plain_npz.keras", "keras"),
    ("keras/keras_plain_npz_deflated.keras", "keras"),
    ("keras/bad_keras_npz_objects.keras", "keras"),
];

fn class_of(kind: &str) -> ErrorClass {
    match kind {
        "refused" => ErrorClass::Refused,
        "limit" => ErrorClass::Limit,
        _ => ErrorClass::Malformed,
    }
}

fn check(case: &Case, out_dir: &Path, problems: &mut Vec<String>) {
    let name = &case.name;
    let out = out_dir.join("out.safetensors");
    let result = import(&case.path, &out, &case.options);
    match (&case.expect, result) {
        (
            Expect::Tensors {
                tensors: want,
                format,
            },
            Ok(outcome),
        ) => {
            if let Some(format) = format
                && &outcome.report.format != format
            {
                problems.push(format!(
                    "{name}: format {} != {format}",
                    outcome.report.format
                ));
            }
            let (ours, _) = read_with_modelseal(&out);
            if &ours != want {
                problems.push(format!(
                    "{name}: modelseal reader: {ours:?}\n   expected {want:?}"
                ));
            }
            let python_ok = ours
                .values()
                .all(|(d, _, _)| !matches!(d.as_str(), "BF16" | "F8_E4M3" | "F8_E5M2"));
            if python_ok
                && let Some((py, _)) = read_with_python(&out)
                && &py != want
            {
                problems.push(format!(
                    "{name}: python reader: {py:?}\n   expected {want:?}"
                ));
            }
            std::fs::remove_file(&out).unwrap();
        }
        (Expect::Tensors { tensors, .. }, Err(ImportError::NoTensors { .. }))
            if tensors.is_empty() => {}
        (Expect::Tensors { .. }, Err(e)) => {
            problems.push(format!("{name}: expected an import, got {e}"))
        }
        (Expect::Error { kind, .. }, Ok(_)) => {
            problems.push(format!("{name}: imported, expected a {kind} error"));
            std::fs::remove_file(&out).unwrap();
        }
        (Expect::Error { kind, contains }, Err(e)) => {
            if e.class() != class_of(kind) {
                problems.push(format!(
                    "{name}: {:?} error ({e}), expected {kind}",
                    e.class()
                ));
            }
            let text = format!("{e} {:?}", e.globals());
            for needle in contains {
                if !text.contains(needle.as_str()) {
                    problems.push(format!("{name}: error {e} lacks {needle:?}"));
                }
            }
        }
    }
    let left = files_in(out_dir);
    if !left.is_empty() {
        problems.push(format!("{name}: left behind {left:?}"));
    }
}

#[test]
fn guest_fixtures_import_end_to_end() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let cases = cases(&root);
    let out_dir = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    let mut per_folder = std::collections::BTreeMap::<String, usize>::new();
    for case in &cases {
        let folder = case.name.split('/').next().unwrap_or("").to_string();
        *per_folder.entry(folder).or_default() += 1;
        if !case.path.is_file() {
            problems.push(format!("{}: fixture file missing", case.name));
            continue;
        }
        check(case, out_dir.path(), &mut problems);
    }
    eprintln!("checked {} fixtures: {per_folder:?}", cases.len());
    assert!(!cases.is_empty(), "no fixtures found");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
