//! Robustness: truncations at many points and seeded random byte flips of every good
//! HDF5 / Keras fixture each end in `Ok` or a `LoadError` — no panic, no hang — within a
//! time bound, with tight limits so a corrupted size cannot make a test allocate much.

mod hdf5_common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdf5_common::{fixture, fixtures};
use modelseal_loaders::{Options, SliceHost};

/// Byte flips per fixture.
const FLIPS: usize = 300;
/// Truncation points per fixture (plus the first 64 lengths).
const CUTS: usize = 80;
/// Longest a single mutated load may take.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// xorshift64*: a small deterministic generator for the mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn options() -> Options {
    let mut o = Options::default();
    o.limits.max_decompressed = 64 << 20;
    o.limits.max_objects = 1_000_000;
    o
}

/// Runs one mutated input on a worker thread; returns a description of a failure.
fn run_case(name: &str, label: String, bytes: Vec<u8>) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    let keras = name.ends_with(".keras");
    let worker = std::thread::Builder::new()
        .name(label.clone())
        .spawn(move || {
            let mut host = SliceHost::new(bytes);
            host.output_limit = 256 << 20;
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if keras {
                    modelseal_loaders::keras::load_zip(&mut host, &options()).map(|_| ())
                } else {
                    modelseal_loaders::hdf5::load(&mut host, &options()).map(|_| ())
                }
            }));
            let _ = tx.send(outcome.is_ok());
        })
        .expect("spawn");
    match rx.recv_timeout(CASE_TIMEOUT) {
        Ok(true) => {
            let _ = worker.join();
            None
        }
        Ok(false) => Some(format!("{label}: panicked")),
        Err(_) => Some(format!(
            "{label}: no answer within {CASE_TIMEOUT:?} (hang?)"
        )),
    }
}

#[test]
fn truncations_and_byte_flips_never_panic_or_hang() {
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut cases = 0usize;
    let good: Vec<String> = fixtures()
        .into_iter()
        .filter(|(_, e)| e.get("error").is_none())
        .map(|(n, _)| n)
        .collect();
    assert!(good.len() >= 10, "fixtures missing");
    for (fi, name) in good.iter().enumerate() {
        let data = fixture(name);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (fi as u64 + 1));
        // Truncations: every length up to 64, then evenly spread and random points.
        let mut cuts: Vec<usize> = (0..64.min(data.len())).collect();
        for i in 0..CUTS {
            cuts.push(data.len() * i / CUTS);
            cuts.push((rng.next() % data.len() as u64) as usize);
        }
        for cut in cuts {
            cases += 1;
            if let Some(f) = run_case(name, format!("{name} cut at {cut}"), data[..cut].to_vec()) {
                failures.push(f);
            }
        }
        // Byte flips: one to four random bytes replaced.
        for i in 0..FLIPS {
            let mut m = data.clone();
            let n = 1 + (rng.next() % 4) as usize;
            let mut at = Vec::new();
            for _ in 0..n {
                let p = (rng.next() % m.len() as u64) as usize;
                m[p] = (rng.next() & 0xff) as u8;
                at.push(p);
            }
            cases += 1;
            if let Some(f) = run_case(name, format!("{name} flip #{i} at {at:?}"), m) {
                failures.push(f);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} mutated inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{cases} mutated inputs in {:?}", start.elapsed());
}
