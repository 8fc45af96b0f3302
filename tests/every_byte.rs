//! Exhaustive: changing any single byte of a bundle, or cutting it at any length, makes
//! verification fail. This is the property the strict container rules exist for: no byte
//! of a bundle is outside what the signature covers or what the reader checks.

mod common;

use std::fs;

use common::*;
use modelseal::bundle::{self, TrustedKeys, VerifyOptions};

#[test]
fn every_single_byte_change_and_every_truncation_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    fs::create_dir_all(model.join("sub")).unwrap();
    fs::write(
        model.join("weights.bin"),
        (0..1500u32).map(|i| (i * 7) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    fs::write(
        model.join("sub/config.json"),
        "{\"layers\": 3, \"name\": \"tiny\"}\n".repeat(8),
    )
    .unwrap();
    fs::write(model.join("empty.txt"), b"").unwrap();
    let path = dir.path().join("b.zip");
    let key = key(5);
    sign_dir(&model, &path, &key);
    let original = fs::read(&path).unwrap();
    let trust = TrustedKeys(vec![key.public().clone()]);
    let options = VerifyOptions {
        threads: 1,
        ..Default::default()
    };
    assert!(bundle::verify(&path, &trust, &options).is_ok());

    let mutated = dir.path().join("x.zip");
    let mut accepted = Vec::new();
    // 0x81 changes both the lowest and the highest bit: a byte where either matters
    // (including padding bits at the end of a deflate stream) is covered.
    for at in 0..original.len() {
        let mut bytes = original.clone();
        bytes[at] ^= 0x81;
        fs::write(&mutated, &bytes).unwrap();
        if bundle::verify(&mutated, &trust, &options).is_ok() {
            accepted.push(at);
        }
    }
    assert!(
        accepted.is_empty(),
        "single-byte changes accepted at {accepted:?}"
    );

    let n = original.len();
    for len in (0..n).filter(|&l| l < 64 || l > n - 64 || l % 61 == 0) {
        fs::write(&mutated, &original[..len]).unwrap();
        assert!(
            bundle::verify(&mutated, &trust, &options).is_err(),
            "truncation to {len} bytes accepted"
        );
    }
    println!("checked {} positions", original.len());
}
