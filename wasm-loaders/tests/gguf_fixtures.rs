//! The GGUF loader against files written by gguf-py's GGUFWriter (expected tensors as
//! gguf-py's GGUFReader reports them) and hand-built v1/v2/gapped files
//! (tests/fixtures/gguf/make_fixtures.py); malicious files must fail with the expected
//! error kind and a message naming the fault.

mod onnx_gguf_support;

use modelseal_loaders::gguf::{self, types::GGML_TYPES};
use modelseal_loaders::{ErrorKind, Format, Options};
use onnx_gguf_support::{compare, expected, fixtures, host_for};

fn kind_name(kind: ErrorKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn good_files_match_gguf_py() {
    let exp = expected("gguf");
    let good = exp["good"].as_object().expect("good fixtures");
    assert!(good.len() >= 5);
    let mut failures = Vec::new();
    for (rel, want) in good {
        let path = fixtures("gguf").join(rel);
        let mut host = host_for(&path);
        match gguf::load(&mut host, &Options::default()) {
            Ok(result) => {
                assert_eq!(result.format, "gguf");
                for p in compare(&result.tensors, &host, want) {
                    failures.push(format!("{rel}: {p}"));
                }
                if let Some(meta) = want.get("metadata").and_then(|v| v.as_object()) {
                    for (k, v) in meta {
                        if result.metadata.get(k).map(String::as_str) != v.as_str() {
                            failures.push(format!(
                                "{rel}: metadata {k} = {:?}, expected {v}",
                                result.metadata.get(k)
                            ));
                        }
                    }
                }
                match want.get("warning").and_then(|w| w.as_str()) {
                    Some(w) if !result.warnings.iter().any(|x| x.contains(w)) => {
                        failures.push(format!("{rel}: no warning containing {w:?}"));
                    }
                    None if result.warnings.iter().any(|x| x.contains("not packed")) => {
                        failures.push(format!("{rel}: unexpected layout warning"));
                    }
                    _ => {}
                }
            }
            Err(e) => failures.push(format!("{rel}: {e:?}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn metadata_of_every_value_type_is_rendered() {
    let path = fixtures("gguf").join("writer.gguf");
    let result = gguf::load(&mut host_for(&path), &Options::default()).expect("loads");
    let m = &result.metadata;
    let get = |k: &str| m.get(k).map(String::as_str).unwrap_or("<missing>");
    assert_eq!(get("gguf.version"), "3");
    assert_eq!(get("general.architecture"), "llama");
    assert_eq!(get("general.name"), "modelseal fixture");
    assert_eq!(get("test.u8"), "200");
    assert_eq!(get("test.i8"), "-100");
    assert_eq!(get("test.u16"), "60000");
    assert_eq!(get("test.i16"), "-30000");
    assert_eq!(get("test.u32"), "4000000000");
    assert_eq!(get("test.i32"), "-2000000000");
    assert_eq!(get("test.f32"), "0.5");
    assert_eq!(get("test.bool"), "true");
    assert_eq!(get("test.u64"), "18446744073709551615");
    assert_eq!(get("test.i64"), "-9223372036854775808");
    assert_eq!(get("test.f64"), "0.1");
    assert_eq!(get("test.string"), "hello, gguf");
    assert_eq!(get("test.arr_u32"), "[1, 2, 3]");
    assert_eq!(get("test.arr_str"), r#"["a", "b\"c"]"#);
    assert_eq!(get("test.arr_nested"), "[[1, 2], [3]]");
    assert_eq!(
        get("test.arr_long"),
        "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, … (100 int32 items)]"
    );
    // The chat template is not copied; a warning explains why.
    let tpl = get("tokenizer.chat_template");
    assert!(
        tpl.starts_with("[Jinja chat template,") && !tpl.contains("messages"),
        "{tpl}"
    );
    assert!(
        result
            .warnings
            .iter()
            .any(|w| w.contains("tokenizer.chat_template") && w.contains("CVE-2024-34359")),
        "{:?}",
        result.warnings
    );
    assert!(
        !m.values().any(|v| v.contains("{%")),
        "a template leaked into metadata"
    );
}

#[test]
fn quantized_tensors_are_raw_blocks_of_the_exact_size() {
    let path = fixtures("gguf").join("writer.gguf");
    let result = gguf::load(&mut host_for(&path), &Options::default()).expect("loads");
    let q = result
        .tensors
        .iter()
        .find(|t| t.name == "q.q8_0")
        .expect("q.q8_0");
    // [2, 64] in Q8_0: 2 rows × 2 blocks × 34 bytes.
    assert_eq!(q.shape, vec![136]);
    assert_eq!(q.extra.get("ggml_type").map(String::as_str), Some("Q8_0"));
    assert_eq!(q.extra.get("shape").map(String::as_str), Some("[2, 64]"));
    let k = result
        .tensors
        .iter()
        .find(|t| t.name == "q.q6_k")
        .expect("q.q6_k");
    assert_eq!(k.shape, vec![2 * 210]);
    assert_eq!(k.extra.get("shape").map(String::as_str), Some("[2, 256]"));
}

#[test]
fn bad_files_fail_with_the_expected_error() {
    let exp = expected("gguf");
    let bad = exp["bad"].as_object().expect("bad fixtures");
    assert!(bad.len() >= 25);
    let mut failures = Vec::new();
    for (rel, want) in bad {
        let path = fixtures("gguf").join(rel);
        let mut host = host_for(&path);
        match gguf::load(&mut host, &Options::default()) {
            Ok(r) => failures.push(format!("{rel}: loaded {} tensors", r.tensors.len())),
            Err(e) => {
                let kind = kind_name(e.kind);
                if want["kind"].as_str() != Some(kind.as_str())
                    || !e
                        .message
                        .contains(want["contains"].as_str().unwrap_or("\0"))
                {
                    failures.push(format!("{rel}: got {kind}: {}; expected {want}", e.message));
                }
                if e.format.as_deref() != Some("gguf") {
                    failures.push(format!("{rel}: error does not name the format"));
                }
                // Through the dispatcher, a file detected as gguf fails the same way.
                if modelseal_loaders::detect(&mut host_for(&path)).ok() == Some(Format::Gguf) {
                    match modelseal_loaders::load(&mut host_for(&path), &Options::default()) {
                        Err(d) if d.kind == e.kind && d.message == e.message => {}
                        other => failures.push(format!("{rel}: dispatcher gave {other:?}")),
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn array_nesting_follows_the_configured_limit() {
    let path = fixtures("gguf").join("writer.gguf");
    let mut options = Options::default();
    options.limits.max_depth = 1;
    let err = gguf::load(&mut host_for(&path), &options).expect_err("nested array too deep");
    assert_eq!(err.kind, ErrorKind::Limit);
    assert!(err.message.contains("test.arr_nested"), "{}", err.message);
    options.limits.max_depth = 2;
    gguf::load(&mut host_for(&path), &options).expect("depth 2 suffices");
}

#[test]
fn type_table_matches_gguf_py() {
    let path = fixtures("gguf").join("ggml_types.json");
    let py: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("ggml_types.json"))
            .expect("json");
    let py = py["types"].as_object().expect("types");
    for t in GGML_TYPES {
        let Some(p) = py.get(t.name) else {
            panic!("{} (id {}) is not known to gguf-py", t.name, t.id);
        };
        assert_eq!(p["id"].as_u64(), Some(u64::from(t.id)), "{}", t.name);
        assert_eq!(p["block"].as_u64(), Some(t.block), "{}", t.name);
        assert_eq!(p["size"].as_u64(), Some(t.size), "{}", t.name);
    }
    // Every gguf-py type is accepted except Q8_1 (gguf-py says 40 bytes per block, ggml's
    // block_q8_1 is 36: refused rather than guessed).
    for (name, p) in py {
        let id = p["id"].as_u64().unwrap_or(u64::MAX);
        let known = GGML_TYPES.iter().any(|t| u64::from(t.id) == id);
        assert_eq!(known, name != "Q8_1", "{name}");
    }
}

#[test]
fn every_good_file_is_detected_as_gguf_and_loads_through_the_dispatcher() {
    let exp = expected("gguf");
    for rel in exp["good"].as_object().expect("good").keys() {
        let path = fixtures("gguf").join(rel);
        let mut host = host_for(&path);
        assert_eq!(
            modelseal_loaders::detect(&mut host).ok(),
            Some(Format::Gguf),
            "{rel}"
        );
        let result = modelseal_loaders::load(&mut host_for(&path), &Options::default())
            .unwrap_or_else(|e| panic!("{rel}: {e:?}"));
        assert_eq!(result.format, "gguf");
    }
}

#[test]
fn dequantized_q8_0_and_q4_0_match_gguf_py_bit_for_bit() {
    let exp = expected("gguf");
    let options = Options {
        dequantize: true,
        ..Options::default()
    };
    let mut checked = 0;
    for (rel, want) in exp["good"].as_object().expect("good") {
        let Some(deq) = want.get("dequantized").and_then(|d| d.as_array()) else {
            continue;
        };
        let path = fixtures("gguf").join(rel);
        let mut host = host_for(&path);
        let result = gguf::load(&mut host, &options).expect("loads");
        let names: Vec<&str> = deq.iter().filter_map(|d| d["name"].as_str()).collect();
        let chosen: Vec<_> = result
            .tensors
            .iter()
            .filter(|t| names.contains(&t.name.as_str()))
            .cloned()
            .collect();
        let problems = compare(&chosen, &host, &serde_json::json!({ "tensors": deq }));
        assert!(problems.is_empty(), "{rel}: {problems:#?}");
        // Other quantized types stay raw, and the report says so.
        let raw_q4_1 = result
            .tensors
            .iter()
            .find(|t| t.name == "q.q4_1")
            .expect("q.q4_1");
        assert_eq!(
            raw_q4_1.extra.get("ggml_type").map(String::as_str),
            Some("Q4_1")
        );
        assert!(
            result.warnings.iter().any(|w| w.contains("Q4_1")),
            "{:?}",
            result.warnings
        );
        checked += names.len();
    }
    assert!(checked >= 4, "only {checked} dequantized tensors checked");
}
