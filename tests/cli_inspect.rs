//! `modelseal inspect` on the two kinds of input: bundles (manifest, unverified unless
//! --trust) and model files (the import report, as a scanner: exit 1 when import would
//! refuse the file).

use std::path::Path;
use std::process::{Command, Output};

fn modelseal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run modelseal")
}

fn corpus(rel: &str) -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpora/picklescan")
        .join(rel);
    if p.exists() {
        Some(p.to_string_lossy().into_owned())
    } else {
        eprintln!(
            "skipping: {} not found (the shared corpora are absent)",
            p.display()
        );
        None
    }
}

#[test]
fn a_model_file_gets_the_import_report() {
    let o = modelseal(&["inspect", "examples/iris/model.joblib", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "scikit-learn classes are refused by default"
    );
    let o = modelseal(&[
        "inspect",
        "examples/iris/model.joblib",
        "--allow-unknown-classes",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "joblib");
    let names: Vec<&str> = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"steps.0.1.mean_"), "{names:?}");
    assert!(names.contains(&"steps.1.1.coef_"), "{names:?}");
    let globals: Vec<&str> = v["globals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        globals.contains(&"sklearn.pipeline.Pipeline"),
        "{globals:?}"
    );
}

#[test]
fn a_malicious_pickle_is_reported_and_exits_1() {
    let Some(path) = corpus("data/malicious0.pkl") else {
        return;
    };
    let o = modelseal(&["inspect", &path]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("__builtin__.eval (code-execution)"), "{err}");
}

#[test]
fn a_benign_checkpoint_lists_its_tensors() {
    let Some(path) = corpus("data/pytorch_model.bin") else {
        return;
    };
    let o = modelseal(&["inspect", &path, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "pytorch-legacy");
    assert_eq!(v["tensors"].as_array().unwrap().len(), 38);
}

#[test]
fn a_bundle_gets_its_manifest() {
    let o = modelseal(&["inspect", "examples/iris-1.0.0.zip", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["manifest"]["name"], "iris");
    let o = modelseal(&[
        "inspect",
        "examples/iris/model.joblib",
        "--trust",
        "keys/example.pub",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--trust on a model file is a usage error"
    );
}

#[test]
fn several_files_in_one_run_report_the_worst_outcome() {
    let o = modelseal(&[
        "inspect",
        "examples/untrusted/mlp-checkpoint.pt",
        "examples/untrusted/evil.pkl",
        "examples/iris-1.0.0.zip",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the malicious pickle decides the exit code"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("== examples/untrusted/mlp-checkpoint.pt"),
        "{out}"
    );
    assert!(out.contains("import:  allowed"), "{out}");
    assert!(
        out.contains("UNVERIFIED bundle examples/iris-1.0.0.zip"),
        "{out}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("posix.system (code-execution)") || err.contains("os.system (code-execution)"),
        "{err}"
    );
    let o = modelseal(&[
        "inspect",
        "examples/untrusted/mlp-checkpoint.pt",
        "examples/iris-1.0.0.zip",
    ]);
    assert!(o.status.success());
}
