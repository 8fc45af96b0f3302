//! Deterministic mutations of every pickle/PyTorch/joblib fixture, loaded through the
//! dispatcher (auto-detected and forced to each pickle-family format). Any error is fine;
//! a panic, a hang, or a success whose descriptors point outside their source or reach
//! elements outside their storage is not. Every refused input stays refused-or-failed.

mod pickle_support;

use std::time::{Duration, Instant};

use modelseal_loaders::{Options, SliceHost, StorageSource};
use pickle_support::{fixtures, gather, load};

const FORMATS: [&str; 6] = [
    "auto",
    "pickle",
    "pytorch-zip",
    "pytorch-legacy",
    "pytorch-tar",
    "joblib",
];
/// Mutations per file; `PICKLE_MUTATIONS=<n>` runs more locally.
const MUTATIONS_PER_FILE: u64 = 400;
const QUICK: Duration = Duration::from_secs(5);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn check(name: &str, bytes: Vec<u8>, format: &str) {
    let options = Options {
        format: format.into(),
        ..Options::default()
    };
    let started = Instant::now();
    let (r, host): (_, SliceHost) = load(bytes, &options);
    assert!(
        started.elapsed() < QUICK,
        "{name} ({format}) took {:?}",
        started.elapsed()
    );
    let Ok(res) = r else { return };
    for t in &res.tensors {
        let limit = match t.storage.source {
            StorageSource::Input => host.sources[0].len() as u64,
            StorageSource::Output => host.output.len() as u64,
            StorageSource::External(_) => 0,
        };
        let end = t.storage.offset.checked_add(t.storage.length);
        assert!(
            end.is_some_and(|e| e <= limit),
            "{name} ({format}): storage out of bounds"
        );
        // Every element addressed lies in the storage (the gather checks each one).
        if let Err(e) = gather(t, &host) {
            panic!("{name} ({format}): {e}");
        }
    }
}

fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut b = src.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..=rng.below(4) {
                let i = rng.below(b.len());
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            let i = rng.below(b.len());
            if let Some(x) = b.get_mut(i) {
                *x = [0x00, 0xff, 0x7f, 0x80, b'(', b'.', b'h', 0x94][rng.below(8)];
            }
        }
        2 => b.truncate(rng.below(b.len())),
        3 => {
            let i = rng.below(b.len());
            let n = rng.below(16) + 1;
            let start = rng.below(b.len());
            let piece: Vec<u8> = b.iter().skip(start).take(n).copied().collect();
            b.splice(i..i, piece);
        }
        _ => {
            let i = rng.below(b.len());
            let j = (i + rng.below(64)).min(b.len());
            b.drain(i..j);
        }
    }
    b
}

#[test]
fn pickle_mutated_fixtures_never_panic_or_escape() {
    let dir = fixtures().join("files");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert!(files.len() > 50);
    let per_file = std::env::var("PICKLE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MUTATIONS_PER_FILE);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = std::fs::read(path).unwrap_or_default();
        for format in FORMATS {
            check(&name, src.clone(), format);
        }
        for _ in 0..per_file {
            let m = mutate(&mut rng, &src);
            let format = FORMATS[rng.below(FORMATS.len())];
            check(&name, m, format);
        }
    }
}
