//! Every fixture of `tests/fixtures/containers` (written by numpy / safetensors / torch, or
//! crafted by `make_fixtures.py`) loaded through `modelseal_loaders::load` with a
//! `SliceHost`; tensor bytes gathered from the descriptors and compared with the digests
//! numpy computed.

mod common;

use common::*;
use modelseal_loaders::{ErrorKind, Format, Options, SliceHost};
use serde_json::Value;

fn expected() -> serde_json::Map<String, Value> {
    match read_json(&fixtures().join("expected.json")) {
        Value::Object(m) => m,
        _ => panic!("expected.json is not an object"),
    }
}

#[test]
fn every_fixture_matches_numpy() {
    let all = expected();
    assert!(all.len() > 50, "fixtures missing");
    let mut failures = Vec::new();
    for (name, expect) in &all {
        let bytes = std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (host, r) = load_bytes(bytes, &options_for(expect));
        if let Some(problem) = check(name, expect, &host, &r) {
            failures.push(problem);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn detection_by_content() {
    let cases = [
        ("npy_f4.npy", Format::Npy),
        ("npy_v3.npy", Format::Npy),
        ("npz_stored.npz", Format::Npz),
        ("npz_deflated.npz", Format::Npz),
        ("st_numpy.safetensors", Format::Safetensors),
        ("codec_payload.gz", Format::Joblib),
        ("codec_payload.zlib", Format::Joblib),
        ("codec_payload.bz2", Format::Joblib),
        ("codec_payload.xz", Format::Joblib),
        ("codec_payload.lzma", Format::Joblib),
        ("codec_payload.lz4", Format::Joblib),
    ];
    for (name, want) in cases {
        let bytes = std::fs::read(fixtures().join(name)).unwrap_or_default();
        let mut host = SliceHost::new(bytes);
        let got = modelseal_loaders::detect(&mut host).map_err(|e| e.message);
        assert_eq!(got, Ok(want), "{name}");
    }
}

#[test]
fn detection_of_other_formats_by_signature() {
    let mut legacy = vec![
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
    ];
    legacy.extend_from_slice(b"\x80\x02M\xe9\x03.");
    let mut tar = vec![0u8; 1024];
    tar[257..263].copy_from_slice(b"ustar\0");
    tar[0..8].copy_from_slice(b"sys_info");
    let mut hdf5_at_512 = vec![0u8; 2048];
    hdf5_at_512[512..520].copy_from_slice(b"\x89HDF\r\n\x1a\n");
    // ModelProto: ir_version = 8, producer_name = "pytorch", graph {...}
    let onnx = b"\x08\x08\x12\x07pytorch\x3a\x02\x0a\x00".to_vec();
    let cases: Vec<(&str, Vec<u8>, Format)> = vec![
        ("pickle v2", b"\x80\x02}q\x00.".to_vec(), Format::Pickle),
        (
            "pickle v4",
            b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00}\x94.".to_vec(),
            Format::Pickle,
        ),
        ("pickle v0", b"(dp0\n.".to_vec(), Format::Pickle),
        (
            "pickle global",
            b"cos\nsystem\n(S'id'\ntR.".to_vec(),
            Format::Pickle,
        ),
        ("torch legacy", legacy, Format::PytorchLegacy),
        ("tar", tar, Format::PytorchTar),
        ("hdf5", b"\x89HDF\r\n\x1a\n\0\0\0\0".to_vec(), Format::Hdf5),
        ("hdf5 at 512", hdf5_at_512, Format::Hdf5),
        ("gguf", b"GGUF\x03\0\0\0".to_vec(), Format::Gguf),
        ("onnx", onnx, Format::Onnx),
    ];
    for (what, bytes, want) in cases {
        let mut host = SliceHost::new(bytes);
        let got = modelseal_loaders::detect(&mut host).map_err(|e| e.message);
        assert_eq!(got, Ok(want), "{what}");
    }
    for junk in [
        b"\x89PNG\r\n\x1a\n\0\0".to_vec(),
        b"7z\xbc\xaf\x27\x1c".to_vec(),
        Vec::new(),
    ] {
        let mut host = SliceHost::new(junk.clone());
        assert!(modelseal_loaders::detect(&mut host).is_err(), "{junk:?}");
    }
}

#[test]
fn zip_containers_are_classified_by_member_names() {
    use std::io::Write;
    fn zip(names: &[&str]) -> Vec<u8> {
        // Stored members written by hand (no zip crate in the guest's tests).
        let mut out = Vec::new();
        let mut central = Vec::new();
        for name in names {
            let data = b"x";
            let crc = crc32(data);
            let at = out.len() as u32;
            out.write_all(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0").ok();
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\0\0\0\0\0\0\0\0");
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&1u32.to_le_bytes());
            central.extend_from_slice(&1u32.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0u8; 12]);
            central.extend_from_slice(&at.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_at = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let detect = |names: &[&str]| {
        let mut host = SliceHost::new(zip(names));
        modelseal_loaders::detect(&mut host).map_err(|e| (e.kind, e.message))
    };
    assert_eq!(
        detect(&["archive/data.pkl", "archive/data/0", "archive/version"]),
        Ok(Format::PytorchZip)
    );
    assert_eq!(
        detect(&["config.json", "metadata.json", "model.weights.h5"]),
        Ok(Format::Keras)
    );
    assert_eq!(detect(&["a.npy", "b.npy"]), Ok(Format::Npz));
    let ts = detect(&["m/data.pkl", "m/constants.pkl", "m/code/__torch__.py"]);
    assert!(
        matches!(&ts, Err((ErrorKind::Unsupported, m)) if m.contains("TorchScript")),
        "{ts:?}"
    );
    let other = detect(&["readme.txt"]);
    assert!(
        matches!(&other, Err((ErrorKind::Unsupported, _))),
        "{other:?}"
    );
}

#[test]
fn forced_format_and_unknown_ids() {
    let bytes = std::fs::read(fixtures().join("npy_f4.npy")).unwrap_or_default();
    let mut o = Options {
        format: "safetensors".into(),
        ..Options::default()
    };
    let (_, r) = load_bytes(bytes.clone(), &o);
    let e = r.err().map(|e| (e.kind, e.format));
    assert_eq!(e, Some((ErrorKind::Malformed, Some("safetensors".into()))));
    o.format = "no-such-format".into();
    let (_, r) = load_bytes(bytes.clone(), &o);
    assert_eq!(r.err().map(|e| e.kind), Some(ErrorKind::Malformed));
    // Forcing the pickle loader on a .npy: `\x93` is STACK_GLOBAL on an empty stack.
    o.format = "pickle".into();
    let (_, r) = load_bytes(bytes, &o);
    let e = r.err().map(|e| (e.kind, e.format));
    assert_eq!(e, Some((ErrorKind::Malformed, Some("pickle".into()))));
}

#[test]
#[should_panic(expected = "test panic")]
fn test_hook_panics() {
    let o = Options {
        format: "__test_panic".into(),
        ..Options::default()
    };
    let _ = load_bytes(Vec::new(), &o);
}

#[test]
fn npy_fortran_order_is_described_with_strides() {
    let bytes = std::fs::read(fixtures().join("npy_fortran.npy")).unwrap_or_default();
    let (_, r) = load_bytes(bytes, &Options::default());
    let t = r
        .ok()
        .and_then(|r| r.tensors.into_iter().next())
        .map(|t| (t.shape, t.strides));
    assert_eq!(t, Some((vec![3, 4, 2], vec![1, 3, 12])));
}

#[test]
fn stored_npz_members_point_into_the_input_and_deflated_into_the_output() {
    use modelseal_loaders::StorageSource;
    for (name, source) in [
        ("npz_stored.npz", StorageSource::Input),
        ("npz_deflated.npz", StorageSource::Output),
    ] {
        let bytes = std::fs::read(fixtures().join(name)).unwrap_or_default();
        let (host, r) = load_bytes(bytes, &Options::default());
        let r = r.unwrap_or_else(|e| panic!("{name}: {}", e.message));
        assert!(
            r.tensors.iter().all(|t| t.storage.source == source),
            "{name}"
        );
        if source == StorageSource::Input {
            assert!(host.output.is_empty(), "stored members must not be copied");
        }
    }
}
