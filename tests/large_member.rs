//! A member larger than 4 GiB (zip64) round-trips through sign, verify and extract. The
//! source is sparse and the writer skips zero blocks, so the test costs hashing time, not
//! disk space.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;

use common::*;
use modelseal::bundle::zip::{self, ZipLimits};
use modelseal::bundle::{self, TrustedKeys, VerifyOptions};

#[test]
fn member_over_4_gib_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    fs::create_dir(&model).unwrap();
    let size: u64 = (4 << 30) + 123_457;
    let big = File::create(model.join("huge.bin")).unwrap();
    big.set_len(size).unwrap();
    big.write_all_at(b"head", 0).unwrap();
    big.write_all_at(b"in the middle", 3 << 30).unwrap();
    big.write_all_at(b"tail!", size - 5).unwrap();
    fs::write(model.join("config.json"), b"{\"big\": true}").unwrap();

    let out = dir.path().join("big.zip");
    let key = key(3);
    let summary = bundle::sign(std::slice::from_ref(&model), &key, &out, &options()).unwrap();
    assert_eq!(summary.manifest.file("huge.bin").unwrap().size, size);

    let bytes_len = fs::metadata(&out).unwrap().len();
    assert!(bytes_len > size);
    let entries = zip::read_index(&File::open(&out).unwrap(), ZipLimits::default()).unwrap();
    let huge = entries.iter().find(|e| e.name == "files/huge.bin").unwrap();
    assert_eq!(huge.size, size, "zip64 size recorded");

    let dest = dir.path().join("extracted");
    let options = VerifyOptions {
        extract_to: Some(dest.clone()),
        ..Default::default()
    };
    let verified =
        bundle::verify(&out, &TrustedKeys(vec![key.public().clone()]), &options).unwrap();
    assert_eq!(verified.manifest().files.len(), 2);
    let extracted = File::open(dest.join("huge.bin")).unwrap();
    assert_eq!(extracted.metadata().unwrap().len(), size);
    for (at, expect) in [
        (0, &b"head"[..]),
        (3 << 30, b"in the middle"),
        (size - 5, b"tail!"),
    ] {
        let mut buf = vec![0u8; expect.len()];
        extracted.read_exact_at(&mut buf, at).unwrap();
        assert_eq!(buf, expect);
    }

    // Flipping one byte beyond 4 GiB is still caught.
    let f = fs::OpenOptions::new().write(true).open(&out).unwrap();
    f.write_all_at(b"X", huge.data_offset + (4 << 30) + 7)
        .unwrap();
    let err = bundle::verify(
        &out,
        &TrustedKeys(vec![key.public().clone()]),
        &VerifyOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("huge.bin"), "{err}");
}
