//! Every fixture of the guest loaders (`tests/fixtures/*/expected.json`, made by the real
//! libraries) imported end to end through the sandbox: the output is read back with
//! modelseal's reader and with the Python safetensors library and compared with the
//! expected name, dtype, shape and SHA-256 of the contiguous little-endian bytes; files
//! expected to fail fail with the right class and leave nothing behind.

mod import_support;

use std::path::Path;

use modelseal::import::{ErrorClass, ImportOptions, import};
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

/// The import options of a fixture (`"options"`: format and loader limits).
fn options_for(entry: &Value) -> ImportOptions {
    let mut options = ImportOptions::default();
    let Some(o) = entry.get("options").and_then(Value::as_object) else {
        return options;
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
    options
}

fn class_of(kind: &str) -> ErrorClass {
    match kind {
        "refused" => ErrorClass::Refused,
        "limit" => ErrorClass::Limit,
        _ => ErrorClass::Malformed,
    }
}

fn check_folder(folder: &Path, problems: &mut Vec<String>) -> usize {
    let text = std::fs::read_to_string(folder.join("expected.json")).unwrap();
    let expected: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (file, entry) in &expected {
        let src = folder.join(file);
        if !src.is_file() {
            continue;
        }
        let out = out_dir.path().join("out.safetensors");
        let result = import(&src, &out, &options_for(entry));
        let name = format!("{}/{file}", folder.file_name().unwrap().to_string_lossy());
        checked += 1;
        if let Some(want) = expected_tensors(entry) {
            let outcome = match result {
                Ok(o) => o,
                Err(e)
                    if want.is_empty()
                        && matches!(e, modelseal::import::ImportError::NoTensors { .. }) =>
                {
                    continue;
                }
                Err(e) => {
                    problems.push(format!("{name}: expected an import, got {e}"));
                    continue;
                }
            };
            if let Some(format) = entry.get("format").and_then(Value::as_str) {
                if outcome.report.format != format {
                    problems.push(format!(
                        "{name}: format {} != {format}",
                        outcome.report.format
                    ));
                }
            }
            let (ours, _) = read_with_modelseal(&out);
            if ours != want {
                problems.push(format!(
                    "{name}: modelseal reader: {ours:?}\n   expected {want:?}"
                ));
            }
            let python_ok = ours
                .values()
                .all(|(d, _, _)| !matches!(d.as_str(), "BF16" | "F8_E4M3" | "F8_E5M2"));
            if python_ok {
                if let Some((py, _)) = read_with_python(&out) {
                    if py != want {
                        problems.push(format!(
                            "{name}: python reader: {py:?}\n   expected {want:?}"
                        ));
                    }
                }
            }
            std::fs::remove_file(&out).unwrap();
        } else if let Some(kind) = entry.get("error").and_then(Value::as_str) {
            match result {
                Ok(_) => {
                    problems.push(format!("{name}: imported, expected a {kind} error"));
                    std::fs::remove_file(&out).unwrap();
                }
                Err(e) => {
                    if e.class() != class_of(kind) {
                        problems.push(format!(
                            "{name}: {:?} error ({e}), expected {kind}",
                            e.class()
                        ));
                    }
                    if let Some(needle) = entry.get("contains").and_then(Value::as_str) {
                        if !e.to_string().contains(needle) {
                            problems.push(format!("{name}: error {e:?} lacks {needle:?}"));
                        }
                    }
                }
            }
        }
        let left = files_in(out_dir.path());
        if !left.is_empty() {
            problems.push(format!("{name}: left behind {left:?}"));
        }
    }
    checked
}

#[test]
fn guest_fixtures_import_end_to_end() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let Ok(entries) = std::fs::read_dir(&root) else {
        eprintln!("SKIP: no tests/fixtures");
        return;
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in entries {
        let folder = entry.unwrap().path();
        if folder.join("expected.json").is_file() {
            checked += check_folder(&folder, &mut problems);
        }
    }
    eprintln!("checked {checked} fixtures");
    assert!(checked > 0, "no fixtures found");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
