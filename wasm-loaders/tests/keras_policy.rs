//! Keras policy and limits: what is refused, what an option relaxes, which limits stop a
//! load, and what the refusal reports.

mod hdf5_common;

use hdf5_common::{fixture, run};
use modelseal_loaders::{ErrorKind, Options, Risk};

#[test]
fn custom_objects_are_refused_unless_unknown_classes_are_allowed() {
    let name = "bad_keras_custom_object.keras";
    let (r, _) = run(name, fixture(name), &Options::default());
    let e = r.expect_err("custom object must be refused by default");
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(
        e.globals
            .iter()
            .any(|g| g.name == "my_package>MyDense" && g.risk == Risk::UnknownClass)
    );

    let o = Options {
        allow_unknown_classes: true,
        ..Default::default()
    };
    let (r, _) = run(name, fixture(name), &o);
    let r = r.expect("allowed with allow_unknown_classes");
    assert_eq!(r.tensors.len(), 2);
    assert!(
        r.warnings.iter().any(|w| w.contains("my_package>MyDense")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn code_execution_is_refused_even_with_unknown_classes_allowed() {
    let o = Options {
        allow_unknown_classes: true,
        ..Default::default()
    };
    for name in [
        "bad_keras_lambda.keras",
        "bad_keras_lambda_legacy.h5",
        "bad_keras_module_os.keras",
        "bad_keras_unsafe.keras",
        "bad_keras_path.keras",
    ] {
        let (r, host) = run(name, fixture(name), &o);
        let e = r.expect_err(name);
        assert_eq!(e.kind, ErrorKind::Refused, "{name}: {}", e.message);
        assert!(
            host.output.is_empty(),
            "{name}: output written before the refusal"
        );
        // A path is not a global: the message quotes it instead.
        if name == "bad_keras_path.keras" {
            assert!(e.message.contains("/etc/passwd"), "{}", e.message);
        } else {
            assert!(!e.globals.is_empty(), "{name}: refusal names no global");
        }
    }
}

#[test]
fn refusals_name_the_offending_reference() {
    let (r, _) = run(
        "bad_keras_module_os.keras",
        fixture("bad_keras_module_os.keras"),
        &Options::default(),
    );
    let e = r.expect_err("refused");
    assert!(
        e.globals
            .iter()
            .any(|g| g.name == "os.system" && g.risk == Risk::CodeExecution),
        "{:?}",
        e.globals
    );
    assert_eq!(e.format.as_deref(), Some("keras"));
    let (r, _) = run(
        "bad_keras_lambda_legacy.h5",
        fixture("bad_keras_lambda_legacy.h5"),
        &Options::default(),
    );
    let e = r.expect_err("refused");
    assert_eq!(e.format.as_deref(), Some("keras-h5"));
    assert!(
        e.globals.iter().any(|g| g.name == "keras.layers.Lambda"),
        "{:?}",
        e.globals
    );
}

#[test]
fn clean_models_report_keras_references_as_allowed_and_no_config() {
    let (r, _) = run(
        "keras_model.keras",
        fixture("keras_model.keras"),
        &Options::default(),
    );
    let r = r.expect("loads");
    assert!(
        r.globals
            .iter()
            .any(|g| g.name == "keras.layers.Dense" && g.risk == Risk::Allowed)
    );
    assert!(r.globals.iter().all(|g| g.risk == Risk::Allowed));
    // Only the few safe facts, never the configuration itself.
    for k in r.metadata.keys() {
        assert!(
            ["keras_version", "backend", "model_class", "layer_count"].contains(&k.as_str()),
            "{k}"
        );
    }
}

#[test]
fn limits_stop_the_load() {
    let mut o = Options::default();
    o.limits.max_tensors = 3;
    let (r, _) = run("hdf5_types.h5", fixture("hdf5_types.h5"), &o);
    let e = r.expect_err("too many tensors");
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("max_tensors"), "{}", e.message);

    let mut o = Options::default();
    o.limits.max_depth = 2;
    let (r, _) = run("hdf5_types.h5", fixture("hdf5_types.h5"), &o);
    let e = r.expect_err("too deep");
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("max_depth"), "{}", e.message);

    let mut o = Options::default();
    o.limits.max_objects = 50;
    let (r, _) = run("hdf5_latest.h5", fixture("hdf5_latest.h5"), &o);
    let e = r.expect_err("too many objects");
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("max_objects"), "{}", e.message);
}

#[test]
fn contiguous_data_points_into_the_input_and_chunked_data_into_the_output() {
    use modelseal_loaders::StorageSource;
    let (r, _) = run(
        "hdf5_types.h5",
        fixture("hdf5_types.h5"),
        &Options::default(),
    );
    let r = r.expect("loads");
    let t = r.tensors.iter().find(|t| t.name == "le.f8").expect("le.f8");
    assert_eq!(t.storage.source, StorageSource::Input);
    let t = r.tensors.iter().find(|t| t.name == "be.f4").expect("be.f4");
    assert_eq!(t.byte_order, modelseal_loaders::ByteOrder::Big);
    assert_eq!(t.storage.source, StorageSource::Input);
    let (r, _) = run(
        "hdf5_chunked.h5",
        fixture("hdf5_chunked.h5"),
        &Options::default(),
    );
    let r = r.expect("loads");
    assert!(
        r.tensors
            .iter()
            .all(|t| t.storage.source == StorageSource::Output)
    );
    // Inside a stored .keras member, the weights still point straight into the input.
    let (r, _) = run(
        "keras_model.keras",
        fixture("keras_model.keras"),
        &Options::default(),
    );
    let r = r.expect("loads");
    assert!(
        r.tensors
            .iter()
            .all(|t| t.storage.source == StorageSource::Input)
    );
}
