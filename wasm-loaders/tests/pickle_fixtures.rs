//! Data-driven tests over `tests/fixtures/pickle/cases/*.json` (made by
//! `tests/fixtures/pickle/make_fixtures.py` with the real torch/numpy/joblib): every good
//! file's tensors are gathered from the returned descriptors and compared (name, dtype,
//! shape, SHA-256 of the C-contiguous little-endian bytes) with what the library reports;
//! every bad file must fail with the expected error kind, naming what is at fault.

mod pickle_support;

use std::time::{Duration, Instant};

use modelseal_loaders::{ErrorKind, Options};
use pickle_support::{check_tensors, fixtures, load};

/// Every fixture must be handled this fast (they are a few KB).
const PER_FILE: Duration = Duration::from_secs(5);

fn options(case: &serde_json::Value) -> Options {
    let mut o = Options::default();
    if let Some(b) = case["options"]["allow_unknown_classes"].as_bool() {
        o.allow_unknown_classes = b;
    }
    o
}

fn kind_name(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Refused => "refused",
        ErrorKind::Malformed => "malformed",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Limit => "limit",
    }
}

fn run_case(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let case: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return vec![format!("bad case JSON: {e}")],
    };
    let file = case["file"].as_str().unwrap_or_default();
    let bytes = match std::fs::read(fixtures().join("files").join(file)) {
        Ok(b) => b,
        Err(e) => return vec![format!("cannot read {file}: {e}")],
    };
    let started = Instant::now();
    let (result, host) = load(bytes, &options(&case));
    let mut problems = Vec::new();
    if started.elapsed() > PER_FILE {
        problems.push(format!("took {:?}", started.elapsed()));
    }
    let expect = case["expect"].as_str().unwrap_or_default();
    match (expect, result) {
        ("ok", Ok(r)) => {
            if Some(r.format.as_str()) != case["format"].as_str() {
                problems.push(format!("format {} != {}", r.format, case["format"]));
            }
            let empty = Vec::new();
            let expected = case["tensors"].as_array().unwrap_or(&empty);
            problems.extend(check_tensors(&r, &host, expected));
            if let Some(meta) = case["metadata"].as_object() {
                for (k, v) in meta {
                    match r.metadata.get(k) {
                        Some(got) if Some(got.as_str()) == v.as_str() => {}
                        got => problems.push(format!("metadata {k}: {got:?} != {v}")),
                    }
                }
            }
            if case["metadata_exact"].as_bool() == Some(true) {
                let want: Vec<&String> = case["metadata"]
                    .as_object()
                    .map(|m| m.keys().collect())
                    .unwrap_or_default();
                let got: Vec<&String> = r.metadata.keys().collect();
                if want != got {
                    problems.push(format!("metadata keys {got:?} != {want:?}"));
                }
            }
            for w in case["warnings_contain"].as_array().unwrap_or(&empty) {
                let w = w.as_str().unwrap_or_default();
                if !r.warnings.iter().any(|x| x.contains(w)) {
                    problems.push(format!("no warning mentions {w:?}: {:?}", r.warnings));
                }
            }
            for t in &r.tensors {
                if t.name.is_empty() || t.name.len() > 1024 || t.name.chars().any(char::is_control)
                {
                    problems.push(format!("bad tensor name {:?}", t.name));
                }
            }
        }
        ("ok", Err(e)) => problems.push(format!("expected success, got {e:?}")),
        (kind, Ok(r)) => problems.push(format!(
            "expected {kind}, got success with {} tensors",
            r.tensors.len()
        )),
        (kind, Err(e)) => {
            if kind_name(e.kind) != kind {
                problems.push(format!("expected {kind}, got {e:?}"));
            }
            for m in case["mentions"].as_array().into_iter().flatten() {
                let m = m.as_str().unwrap_or_default();
                if !e.message.contains(m) {
                    problems.push(format!("message does not mention {m:?}: {}", e.message));
                }
            }
            if e.kind == ErrorKind::Refused && e.globals.is_empty() && !e.message.contains("BUILD")
            {
                problems.push("refusal without globals".into());
            }
            if host.output.len() > 1 << 20 {
                problems.push(format!(
                    "refused file wrote {} output bytes",
                    host.output.len()
                ));
            }
        }
    }
    problems
}

#[test]
fn pickle_fixture_cases() {
    let dir = fixtures().join("cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 50,
        "expected the generated cases, found {}",
        paths.len()
    );
    let mut failures = Vec::new();
    for p in &paths {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        for problem in run_case(p) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
