//! Shared helpers for integration tests: build real bundles, take them apart and put them
//! back together with targeted changes.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use modelseal::bundle::zip::{self, EndRecords, Entry, Method};
use modelseal::bundle::{self, SignOptions, TrustedKeys, VerifyError, VerifyOptions};
use modelseal::keys::SecretKey;

/// A model directory with a large binary file, a small text file and a nested file.
pub fn model_dir(root: &Path) -> PathBuf {
    let dir = root.join("model");
    fs::create_dir_all(dir.join("tokenizer")).unwrap();
    let weights: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.join("weights.bin"), weights).unwrap();
    fs::write(dir.join("config.json"), "{\"hidden\": 64, \"layers\": 2, \"activation\": \"gelu\", \"names\": [\"a\", \"a\", \"a\", \"a\"]}\n".repeat(20)).unwrap();
    fs::write(
        dir.join("tokenizer/vocab.txt"),
        (0..2000).map(|i| format!("tok{i}\n")).collect::<String>(),
    )
    .unwrap();
    dir
}

/// Fixed options so bundles are reproducible.
pub fn options() -> SignOptions {
    let mut o = SignOptions::new("demo", "1.0.0");
    o.created = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    o.metadata = serde_json::json!({"framework": "test", "metrics": {"accuracy": 0.5}})
        .as_object()
        .cloned()
        .unwrap();
    o
}

/// Sign `dir` with a fixed key into `out`.
pub fn sign_dir(dir: &Path, out: &Path, key: &SecretKey) {
    bundle::sign(&[dir.to_path_buf()], key, out, &options()).unwrap();
}

/// The deterministic test key number `n`.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32], format!("test key {n}"))
}

/// Verify `path` trusting `key`.
pub fn verify_with(path: &Path, key: &SecretKey) -> Result<bundle::VerifiedBundle, VerifyError> {
    bundle::verify(
        path,
        &TrustedKeys(vec![key.public().clone()]),
        &VerifyOptions::default(),
    )
}

/// A member taken out of a bundle: its entry and its raw (possibly compressed) data.
#[derive(Clone, Debug)]
pub struct RawMember {
    pub entry: Entry,
    pub data: Vec<u8>,
}

/// Split a bundle into its members (the bundle must be structurally valid).
pub fn explode(bytes: &[u8]) -> Vec<RawMember> {
    let entries = zip::read_index(bytes, zip::ZipLimits::default()).unwrap();
    entries
        .into_iter()
        .map(|e| {
            let start = e.data_offset as usize;
            let data = bytes[start..start + e.compressed_size as usize].to_vec();
            RawMember { entry: e, data }
        })
        .collect()
}

/// Lay members out again with the canonical writer (offsets recomputed).
pub fn assemble(members: &[RawMember]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut entries = Vec::new();
    for m in members {
        let mut e = m.entry.clone();
        e.header_offset = out.len() as u64;
        e.compressed_size = m.data.len() as u64;
        if e.method == Method::Stored {
            e.size = e.compressed_size;
        }
        e.data_offset = e.header_offset + zip::local_header_len(&e);
        out.extend_from_slice(&zip::local_header(&e));
        out.extend_from_slice(&m.data);
        entries.push(e);
    }
    let cd_offset = out.len() as u64;
    let mut cd = Vec::new();
    for e in &entries {
        cd.extend_from_slice(&zip::central_header(e));
    }
    out.extend_from_slice(&cd);
    out.extend_from_slice(&zip::end_records(EndRecords {
        entries: entries.len() as u64,
        cd_size: cd.len() as u64,
        cd_offset,
    }));
    out
}

/// A stored member with `content`.
pub fn stored(name: &str, content: &[u8]) -> RawMember {
    RawMember {
        entry: Entry {
            name: name.into(),
            method: Method::Stored,
            crc32: crc32fast::hash(content),
            compressed_size: content.len() as u64,
            size: content.len() as u64,
            header_offset: 0,
            data_offset: 0,
        },
        data: content.to_vec(),
    }
}

/// The decoded content of a member.
pub fn content(m: &RawMember) -> Vec<u8> {
    match m.entry.method {
        Method::Stored => m.data.clone(),
        Method::Deflated => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(&m.data[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
    }
}

/// Offsets of every central directory header and local header, by member name.
pub fn header_offsets(bytes: &[u8]) -> Vec<(String, usize, usize)> {
    let entries = zip::read_index(bytes, zip::ZipLimits::default()).unwrap();
    let cd_start = entries
        .last()
        .map(|e| (e.data_offset + e.compressed_size) as usize)
        .unwrap();
    let mut out = Vec::new();
    let mut at = cd_start;
    for e in entries {
        out.push((e.name.clone(), e.header_offset as usize, at));
        let name_len = u16::from_le_bytes([bytes[at + 28], bytes[at + 29]]) as usize;
        let extra_len = u16::from_le_bytes([bytes[at + 30], bytes[at + 31]]) as usize;
        at += 46 + name_len + extra_len;
    }
    out
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}
