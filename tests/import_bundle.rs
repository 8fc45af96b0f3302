//! `import --key`: the result is a bundle that verifies with the lead's verifier and holds
//! the safetensors file and an import record naming source, format, loader and limits.

mod import_support;

use modelseal::bundle::{SignOptions, TrustedKeys, VerifyOptions, verify};
use modelseal::import::ImportOptions;
use modelseal::import::bundle::{MODEL_FILE, RECORD_FILE, import_to_bundle_with_test_hook};
use modelseal::keys::SecretKey;
use serde_json::json;

use import_support::{files_in, read_with_python, sha256};

#[test]
fn imported_bundle_verifies_and_records_the_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.bin"), [1u8, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let echo = json!({"open": ["w.bin"], "result": {"format": "npy", "tensors": [
        {"name": "w", "dtype": "U16", "shape": [2, 2], "strides": [2, 1], "offset": 0,
         "byte_order": "big", "storage": {"source": {"external": 1}, "offset": 0, "length": 8}}
    ], "metadata": {}, "globals": [], "warnings": []}});
    let src = dir.path().join("model.echo");
    std::fs::write(&src, serde_json::to_vec(&echo).unwrap()).unwrap();
    let key = SecretKey::from_seed(&[7u8; 32], "test");
    let out = dir.path().join("out.zip");
    let (outcome, summary) = import_to_bundle_with_test_hook(
        &src,
        &out,
        &ImportOptions::default(),
        &key,
        SignOptions::new("model", "1.0"),
        "__test_echo",
    )
    .unwrap();
    assert_eq!(summary.key_id, key.id());
    assert_eq!(outcome.report.tensors.len(), 1);

    let verified = verify(
        &out,
        &TrustedKeys(vec![key.public().clone()]),
        &VerifyOptions::default(),
    )
    .unwrap();
    let model = verified.read(MODEL_FILE).unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&verified.read(RECORD_FILE).unwrap()).unwrap();
    assert_eq!(
        record["source_sha256"],
        sha256(&std::fs::read(&src).unwrap())
    );
    assert_eq!(
        record["loader_sha256"],
        modelseal::sandbox::loader_module_sha256()
    );
    assert_eq!(record["format"], "npy");
    assert_eq!(record["limits"]["max_memory"], 1u64 << 30);
    assert_eq!(record["limits"]["max_wasm_stack"], 4u64 << 20);
    assert_eq!(record["report"]["tensors"][0]["name"], "w");
    let meta = &verified.manifest().metadata;
    assert_eq!(meta["modelseal_import"]["format"], "npy");

    // The safetensors member loads with the Python library: big-endian U16 swapped.
    let member = dir.path().join("member.safetensors");
    std::fs::write(&member, &model).unwrap();
    if let Some((tensors, _)) = read_with_python(&member) {
        assert_eq!(tensors["w"].2, sha256(&[2, 1, 4, 3, 6, 5, 8, 7]));
    }
    // No staging directory left behind.
    let left = files_in(dir.path());
    assert_eq!(
        left,
        vec!["member.safetensors", "model.echo", "out.zip", "w.bin"]
    );
}
