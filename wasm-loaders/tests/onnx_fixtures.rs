//! The ONNX loader against real models written by the `onnx` library
//! (tests/fixtures/onnx/make_fixtures.py): every tensor's name, dtype, shape and bytes
//! (gathered independently from the descriptors) must match what `onnx.numpy_helper`
//! reports; every malicious or invalid model must fail with the expected error kind and
//! a message naming the fault.

mod onnx_gguf_support;

use modelseal_loaders::{ErrorKind, Format, Host, LoadError, Options, SliceHost, onnx};
use onnx_gguf_support::{compare, expected, fixtures, host_for};

fn kind_name(kind: ErrorKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn good_models_match_the_onnx_library() {
    let exp = expected("onnx");
    let good = exp["good"].as_object().expect("good fixtures");
    assert!(good.len() >= 4);
    let mut failures = Vec::new();
    for (rel, want) in good {
        let path = fixtures("onnx").join(rel);
        let mut host = host_for(&path);
        match onnx::load(&mut host, &Options::default()) {
            Ok(result) => {
                assert_eq!(result.format, "onnx");
                for p in compare(&result.tensors, &host, want) {
                    failures.push(format!("{rel}: {p}"));
                }
                if let Some(skipped) = want.get("skipped_strings").and_then(|v| v.as_array()) {
                    for s in skipped.iter().filter_map(|s| s.as_str()) {
                        if !result
                            .warnings
                            .iter()
                            .any(|w| w.contains(&format!("'{s}'")) && w.contains("string"))
                        {
                            failures
                                .push(format!("{rel}: no warning for skipped string tensor {s}"));
                        }
                    }
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
                if want.get("external").is_some() {
                    let external = result
                        .tensors
                        .iter()
                        .filter(|t| {
                            matches!(
                                t.storage.source,
                                modelseal_loaders::StorageSource::External(_)
                            )
                        })
                        .count();
                    if external < 3 {
                        failures.push(format!(
                            "{rel}: only {external} tensors point at external files"
                        ));
                    }
                }
            }
            Err(e) => failures.push(format!("{rel}: {e:?}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn typed_fields_are_decoded_into_the_output_and_raw_data_stays_in_place() {
    let path = fixtures("onnx").join("typed.onnx");
    let mut host = host_for(&path);
    let result = onnx::load(&mut host, &Options::default()).expect("loads");
    let by_name = |n: &str| {
        result
            .tensors
            .iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    use modelseal_loaders::StorageSource::{Input, Output};
    assert_eq!(by_name("f32_raw").storage.source, Input);
    assert_eq!(by_name("f32_typed").storage.source, Output);
    assert_eq!(by_name("bf16_typed").storage.source, Output);
    assert_eq!(by_name("c_floats").storage.source, Output);
    // The model-level metadata_props beyond the checked ones are copied too.
    assert_eq!(
        result
            .metadata
            .get("onnx.metadata.purpose")
            .map(String::as_str),
        Some("loader test")
    );
}

#[test]
fn bad_models_fail_with_the_expected_error() {
    let exp = expected("onnx");
    let bad = exp["bad"].as_object().expect("bad fixtures");
    assert!(bad.len() >= 20);
    let mut failures = Vec::new();
    for (rel, want) in bad {
        let path = fixtures("onnx").join(rel);
        let mut host = host_for(&path);
        match onnx::load(&mut host, &Options::default()) {
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
                if e.format.as_deref() != Some("onnx") {
                    failures.push(format!("{rel}: error does not name the format"));
                }
                // Through the dispatcher, a file detected as onnx fails the same way.
                if modelseal_loaders::detect(&mut host_for(&path)).ok() == Some(Format::Onnx) {
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

/// A host that records which external names the guest asks for and refuses them all, as
/// the real host does for a symlink leaving the model directory (`source_open` → -1).
struct RefusingHost {
    inner: SliceHost,
    asked: Vec<String>,
}

impl Host for RefusingHost {
    fn source_len(&self, source: u32) -> Result<u64, LoadError> {
        self.inner.source_len(source)
    }
    fn read_at(&mut self, source: u32, offset: u64, buf: &mut [u8]) -> Result<(), LoadError> {
        self.inner.read_at(source, offset, buf)
    }
    fn open_external(&mut self, name: &str) -> Result<u32, LoadError> {
        self.asked.push(name.to_string());
        Err(LoadError::refused(format!(
            "external data file {name:?} is outside the model's directory or not a regular file"
        )))
    }
    fn write_output(&mut self, bytes: &[u8]) -> Result<u64, LoadError> {
        self.inner.write_output(bytes)
    }
}

#[test]
fn symlink_location_is_passed_to_the_host_whose_refusal_is_reported() {
    let path = fixtures("onnx").join("ext_symlink/model.onnx");
    let mut host = RefusingHost {
        inner: SliceHost::new(std::fs::read(&path).expect("fixture")),
        asked: Vec::new(),
    };
    let err = onnx::load(&mut host, &Options::default()).expect_err("refused");
    assert_eq!(host.asked, vec!["link.bin".to_string()]);
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(
        err.message.contains("tensor 'w'") && err.message.contains("link.bin"),
        "{}",
        err.message
    );
}

#[test]
fn hostile_locations_never_reach_the_host() {
    for rel in [
        "bad/ext_dotdot.onnx",
        "bad/ext_absolute.onnx",
        "bad/ext_backslash.onnx",
        "bad/ext_nul.onnx",
    ] {
        let path = fixtures("onnx").join(rel);
        let mut host = RefusingHost {
            inner: SliceHost::new(std::fs::read(&path).expect("fixture")),
            asked: Vec::new(),
        };
        let err = onnx::load(&mut host, &Options::default()).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Refused, "{rel}");
        assert!(
            host.asked.is_empty(),
            "{rel}: host was asked for {:?}",
            host.asked
        );
    }
}

#[test]
fn subgraph_depth_follows_the_configured_limit() {
    let path = fixtures("onnx").join("typed.onnx");
    let mut options = Options::default();
    // typed.onnx nests If inside If: depth 2 is needed.
    options.limits.max_depth = 1;
    let err = onnx::load(&mut host_for(&path), &options).expect_err("too deep");
    assert_eq!(err.kind, ErrorKind::Limit);
    assert!(err.message.contains("If_1"), "{}", err.message);
    options.limits.max_depth = 2;
    onnx::load(&mut host_for(&path), &options).expect("depth 2 suffices");
}

#[test]
fn tensor_limit_is_enforced() {
    let path = fixtures("onnx").join("typed.onnx");
    let mut options = Options::default();
    options.limits.max_tensors = 5;
    let err = onnx::load(&mut host_for(&path), &options).expect_err("too many");
    assert_eq!(err.kind, ErrorKind::Limit);
    assert!(err.message.contains("max_tensors"), "{}", err.message);
}

#[test]
fn every_good_model_is_detected_as_onnx_and_loads_through_the_dispatcher() {
    let exp = expected("onnx");
    for rel in exp["good"].as_object().expect("good").keys() {
        let path = fixtures("onnx").join(rel);
        let mut host = host_for(&path);
        assert_eq!(
            modelseal_loaders::detect(&mut host).ok(),
            Some(Format::Onnx),
            "{rel}"
        );
        let result = modelseal_loaders::load(&mut host_for(&path), &Options::default())
            .unwrap_or_else(|e| panic!("{rel}: {e:?}"));
        assert_eq!(result.format, "onnx");
    }
}
