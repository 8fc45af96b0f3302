//! Hostile variations of the real fixtures: every truncation of the small ones and
//! deterministic byte flips of all of them go through `load` (auto-detected and forced to
//! each container format). Any error is fine; a panic, a hang or a success that reports
//! bytes outside the file is not.

mod common;

use common::*;
use modelseal_loaders::{Options, StorageSource};

const FORMATS: [&str; 4] = ["auto", "npy", "npz", "safetensors"];

fn good_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours =
            name.ends_with(".npy") || name.ends_with(".npz") || name.ends_with(".safetensors");
        if ours && !name.starts_with("bad_") {
            out.push((name, std::fs::read(entry.path()).unwrap_or_default()));
        }
    }
    out.sort();
    assert!(out.len() > 30);
    out
}

fn run(name: &str, bytes: Vec<u8>, format: &str) {
    let options = Options {
        format: format.into(),
        ..Options::default()
    };
    let input_len = bytes.len() as u64;
    let (host, r) = load_bytes(bytes, &options);
    if let Ok(res) = r {
        for t in &res.tensors {
            let limit = match t.storage.source {
                StorageSource::Input => input_len,
                StorageSource::Output => host.output.len() as u64,
                StorageSource::External(_) => 0,
            };
            let end = t.storage.offset.checked_add(t.storage.length);
            assert!(
                end.is_some_and(|e| e <= limit),
                "{name} ({format}): storage out of bounds"
            );
            // The element count must fit the storage too.
            let numel = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let bytes = numel.and_then(|n| n.checked_mul(t.dtype.size()));
            assert!(
                bytes.is_some_and(|b| b <= t.storage.length),
                "{name} ({format}): numel"
            );
        }
    }
}

#[test]
fn truncations_never_panic() {
    for (name, bytes) in good_fixtures() {
        let step = (bytes.len() / 300).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            for format in FORMATS {
                run(&name, bytes[..cut].to_vec(), format);
            }
        }
    }
}

#[test]
fn byte_flips_never_panic() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for (name, bytes) in good_fixtures() {
        for _ in 0..150 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut bad = bytes.clone();
            // Bias flips towards the headers, where the structure is.
            let span = if x & 1 == 0 {
                bad.len().min(256)
            } else {
                bad.len()
            };
            let i = (x >> 8) as usize % span;
            bad[i] = match x >> 61 {
                0 => 0,
                1 => 0xff,
                2 => bad[i].wrapping_add(1),
                _ => bad[i] ^ (1 << ((x >> 40) % 8)),
            };
            run(&name, bad, "auto");
        }
    }
}
