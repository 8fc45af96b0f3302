//! The bounded decompressors against streams written by Python's zlib, gzip, bz2, lzma and
//! lz4 modules (`tests/fixtures/containers/codec_*`, see `codecs.json`).

mod common;

use common::*;
use modelseal_loaders::ErrorKind;
use modelseal_loaders::decompress::{Codec, decompress, sniff};
use serde_json::Value;

fn codec(ext: &str) -> Codec {
    match ext {
        "zlib" => Codec::Zlib,
        "gz" => Codec::Gzip,
        "bz2" => Codec::Bzip2,
        "xz" => Codec::Xz,
        "lzma" => Codec::Lzma,
        "lz4" => Codec::Lz4Frame,
        other => panic!("unknown codec {other}"),
    }
}

fn cases() -> Vec<(String, Value)> {
    match read_json(&fixtures().join("codecs.json")) {
        Value::Object(m) => m.into_iter().collect(),
        _ => panic!("codecs.json is not an object"),
    }
}

#[test]
fn every_codec_round_trips_and_is_sniffed() {
    let cases = cases();
    assert!(cases.len() >= 11, "codec fixtures missing");
    for (name, e) in cases {
        let data =
            std::fs::read(fixtures().join(&name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        let c = codec(e["codec"].as_str().unwrap_or_default());
        assert_eq!(sniff(&data), Some(c), "{name}: sniff");
        let out =
            decompress(&data, c, 64 << 20).unwrap_or_else(|err| panic!("{name}: {}", err.message));
        assert_eq!(
            out.len() as u64,
            e["len"].as_u64().unwrap_or(0),
            "{name}: length"
        );
        assert_eq!(
            Some(sha256_hex(&out).as_str()),
            e["sha256"].as_str(),
            "{name}: bytes"
        );
    }
}

#[test]
fn bombs_stop_at_the_limit() {
    for (name, e) in cases() {
        let Some(limit) = e.get("bomb_limit").and_then(Value::as_u64) else {
            continue;
        };
        let data = std::fs::read(fixtures().join(&name)).unwrap_or_default();
        let c = codec(e["codec"].as_str().unwrap_or_default());
        let r = decompress(&data, c, limit);
        assert_eq!(
            r.as_ref().err().map(|e| e.kind),
            Some(ErrorKind::Limit),
            "{name}: {:?}",
            r.err()
        );
    }
}

#[test]
fn corrupt_and_truncated_streams_are_errors_not_panics() {
    for (name, e) in cases() {
        if e.get("bomb_limit").is_some() {
            continue;
        }
        let data = std::fs::read(fixtures().join(&name)).unwrap_or_default();
        let c = codec(e["codec"].as_str().unwrap_or_default());
        // Truncations: a truncated stream must never decode "successfully" to the payload.
        for cut in [1usize, 2, 5, 10, 100, data.len() / 2, data.len() - 1] {
            if cut >= data.len() {
                continue;
            }
            if let Ok(out) = decompress(&data[..cut], c, 1 << 20) {
                assert_ne!(
                    Some(sha256_hex(&out).as_str()),
                    e["sha256"].as_str(),
                    "{name} cut at {cut}"
                );
            }
        }
        // Byte flips at deterministic positions: any result but a panic is acceptable.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..60 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut bad = data.clone();
            let i = (x as usize) % bad.len();
            bad[i] ^= 1 << ((x >> 60) as u8 % 8);
            let _ = decompress(&bad, c, 1 << 20);
        }
    }
}

#[test]
fn trailing_garbage_after_zlib_and_gzip_is_refused() {
    for name in ["codec_payload.zlib", "codec_payload.gz"] {
        let mut data = std::fs::read(fixtures().join(name)).unwrap_or_default();
        data.extend_from_slice(b"PAYLOAD");
        let c = if name.ends_with("gz") {
            Codec::Gzip
        } else {
            Codec::Zlib
        };
        let r = decompress(&data, c, 1 << 20);
        assert_eq!(
            r.err().map(|e| e.kind),
            Some(ErrorKind::Malformed),
            "{name}"
        );
    }
}

#[test]
fn sniff_rejects_lookalikes() {
    assert_eq!(sniff(b"x"), None);
    assert_eq!(sniff(b"xy"), None); // 0x78 0x79 fails the zlib header check
    assert_eq!(sniff(b"BZh0"), None);
    assert_eq!(sniff(b"\x80\x02"), None);
    assert_eq!(sniff(b"\x78\x9c"), Some(Codec::Zlib));
    assert_eq!(sniff(b"\x78\x01"), Some(Codec::Zlib));
    assert_eq!(sniff(b"\x78\xda"), Some(Codec::Zlib));
}
