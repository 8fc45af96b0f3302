//! Detached bundles: `sign --detached` writes only the signed manifest; `verify --files`
//! checks a directory in place against it.

mod common;

use std::fs;

use common::*;
use modelseal::bundle::{
    self, CollectOptions, Problem, TrustedKeys, VerifyError, VerifyOptions, verify_detached,
};

fn problems(r: Result<impl std::fmt::Debug, VerifyError>) -> Vec<Problem> {
    match r {
        Err(VerifyError::Rejected(p)) => p,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn detached_signature_verifies_the_directory_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let sig = dir.path().join("model.sig.zip");
    let key = key(7);
    let mut options = options();
    options.detached = true;
    let summary = bundle::sign(std::slice::from_ref(&model), &key, &sig, &options).unwrap();
    assert_eq!(summary.manifest.files.len(), 3);
    assert!(
        fs::metadata(&sig).unwrap().len() < 4096,
        "only the manifest and signatures"
    );

    let trust = TrustedKeys(vec![key.public().clone()]);
    let vo = VerifyOptions::default();
    let co = CollectOptions::default();
    let tree = verify_detached(&sig, &model, &trust, &vo, &co).unwrap();
    assert_eq!(tree.manifest().files, summary.manifest.files);
    assert_eq!(tree.signers(), &[key.id()]);

    // The same manifest as a full bundle of the same files (detachment changes nothing signed
    // but the file list's encoding, and stored files carry no `deflate` field).
    let full = dir.path().join("full.zip");
    let mut o2 = common::options();
    o2.compress_level = 0;
    let full_summary = bundle::sign(std::slice::from_ref(&model), &key, &full, &o2).unwrap();
    assert_eq!(full_summary.manifest.files, summary.manifest.files);

    // A detached bundle is not a bundle of files, and the other way round.
    let p = problems(bundle::verify(&sig, &trust, &vo));
    assert!(matches!(p[..], [Problem::Detached]), "{p:?}");
    let p = problems(verify_detached(&full, &model, &trust, &vo, &co));
    assert!(matches!(p[..], [Problem::NotDetached]), "{p:?}");

    // Changes to the directory are caught, one problem per file.
    fs::write(model.join("config.json"), b"{\"hidden\": 65}").unwrap();
    fs::write(model.join("extra.pkl"), b"cos\nsystem\n").unwrap();
    fs::remove_file(model.join("tokenizer/vocab.txt")).unwrap();
    let p = problems(verify_detached(&sig, &model, &trust, &vo, &co));
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::UnlistedFile(f) if f.as_str() == "extra.pkl"))
    );
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::MissingFile(f) if f.as_str() == "tokenizer/vocab.txt"))
    );
    assert!(p.iter().any(
        |p| matches!(p, Problem::SizeMismatch { path, .. } if path.as_str() == "config.json")
    ));

    // Same size, different bytes: a digest mismatch.
    let fresh = tempfile::tempdir().unwrap();
    let model = model_dir(fresh.path());
    let mut w = fs::read(model.join("weights.bin")).unwrap();
    w[100_000] ^= 1;
    fs::write(model.join("weights.bin"), &w).unwrap();
    let p = problems(verify_detached(&sig, &model, &trust, &vo, &co));
    assert!(
        matches!(&p[..], [Problem::DigestMismatch(f)] if f.as_str() == "weights.bin"),
        "{p:?}"
    );

    // Symlinks in the directory are refused unless followed.
    fs::write(model.join("weights.bin"), {
        w[100_000] ^= 1;
        &w
    })
    .unwrap();
    fs::rename(model.join("config.json"), fresh.path().join("config.json")).unwrap();
    std::os::unix::fs::symlink(fresh.path().join("config.json"), model.join("config.json"))
        .unwrap();
    let p = problems(verify_detached(&sig, &model, &trust, &vo, &co));
    assert!(
        matches!(&p[..], [Problem::Directory(m)] if m.contains("symbolic link")),
        "{p:?}"
    );
    let follow = CollectOptions {
        follow_symlinks: true,
        ..CollectOptions::default()
    };
    verify_detached(&sig, &model, &trust, &vo, &follow).unwrap();

    // Untrusted key: nothing is hashed.
    let p = problems(verify_detached(
        &sig,
        &model,
        &TrustedKeys(vec![common::key(8).public().clone()]),
        &vo,
        &co,
    ));
    assert!(
        matches!(&p[..], [Problem::NoTrustedSignature { .. }]),
        "{p:?}"
    );
}

#[test]
fn detached_cli_round_trip() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_modelseal"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    assert!(run(&["keygen", "--out", "k"]).status.success());
    let o = run(&[
        "sign",
        "model",
        "--key",
        "k.key",
        "--out",
        "m.sig.zip",
        "--detached",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[
        "verify",
        "m.sig.zip",
        "--trust",
        "k.pub",
        "--files",
        "model",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"], 3);
    let o = run(&["verify", "m.sig.zip", "--trust", "k.pub"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--files"));
    fs::write(model.join("config.json"), b"{}").unwrap();
    let o = run(&[
        "verify",
        "m.sig.zip",
        "--trust",
        "k.pub",
        "--files",
        "model",
    ]);
    assert_eq!(o.status.code(), Some(1));
}
