//! Robustness: truncations and seeded random byte flips of every good GGUF fixture must
//! end in `Ok` or a clear `LoadError` — never a panic, never a hang — and every
//! descriptor of an `Ok` result must be gatherable inside its storage and source.

mod onnx_gguf_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use modelseal_loaders::{Options, SliceHost, gguf};
use onnx_gguf_support::{Rng, expected, fixtures, gather};

/// Random flips per fixture.
const FLIPS: usize = 400;
/// Slowest acceptable single load.
const MAX_LOAD: Duration = Duration::from_secs(5);

/// Outcome counts, for the log.
#[derive(Default)]
struct Tally {
    ok: usize,
    err: usize,
}

fn check(tally: &mut Tally, bytes: Vec<u8>, dequantize: bool, what: &str) -> Option<String> {
    let mut host = SliceHost::new(bytes);
    host.output_limit = 64 << 20;
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        gguf::load(
            &mut host,
            &Options {
                dequantize,
                ..Options::default()
            },
        )
    }));
    let took = start.elapsed();
    if took > MAX_LOAD {
        return Some(format!("{what}: took {took:?}"));
    }
    match outcome {
        Err(_) => Some(format!("{what}: panicked")),
        Ok(Err(e)) if e.message.is_empty() => Some(format!("{what}: empty error message")),
        Ok(Err(_)) => {
            tally.err += 1;
            None
        }
        Ok(Ok(result)) => {
            tally.ok += 1;
            result
                .tensors
                .iter()
                .find_map(|t| gather(t, &host).err())
                .map(|e| format!("{what}: bad descriptor: {e}"))
        }
    }
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let exp = expected("gguf");
    let mut problems = Vec::new();
    let mut rng = Rng(0x6775_6766_0000_0001);
    let mut loads = 0usize;
    let mut tally = Tally::default();
    for rel in exp["good"].as_object().expect("good").keys() {
        let original = std::fs::read(fixtures("gguf").join(rel)).expect("fixture");
        let n = original.len();
        for cut in 0..n {
            loads += 1;
            problems.extend(check(
                &mut tally,
                original[..cut].to_vec(),
                cut % 2 == 1,
                &format!("{rel} cut at {cut}"),
            ));
        }
        for i in 0..FLIPS {
            let mut bytes = original.clone();
            for _ in 0..1 + (i % 4) {
                let at = rng.below(n as u64) as usize;
                bytes[at] ^= (rng.below(255) + 1) as u8;
            }
            loads += 1;
            problems.extend(check(
                &mut tally,
                bytes,
                i % 2 == 1,
                &format!("{rel} flip #{i}"),
            ));
        }
    }
    eprintln!(
        "{loads} mutated loads: {} ok, {} errors",
        tally.ok, tally.err
    );
    assert!(
        tally.err > 0 && tally.ok > 0,
        "mutations should produce both outcomes"
    );
    assert!(loads > 2000, "only {loads} mutated loads");
    assert!(problems.is_empty(), "{problems:#?}");
}
