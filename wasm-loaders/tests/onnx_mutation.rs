//! Robustness: truncations and seeded random byte flips of every good ONNX fixture must
//! end in `Ok` or a clear `LoadError` — never a panic, never a hang — and every
//! descriptor of an `Ok` result must be gatherable inside its storage and source.

mod onnx_gguf_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use modelseal_loaders::{Options, SliceHost, onnx};
use onnx_gguf_support::{Rng, expected, fixtures, gather, host_for};

/// Random flips per fixture.
const FLIPS: usize = 400;
/// Slowest acceptable single load.
const MAX_LOAD: Duration = Duration::from_secs(5);

/// Load `bytes` with `template`'s externals; describe any misbehaviour.
/// Outcome counts, for the log.
#[derive(Default)]
struct Tally {
    ok: usize,
    err: usize,
}

fn check(tally: &mut Tally, bytes: Vec<u8>, template: &SliceHost, what: &str) -> Option<String> {
    let mut host = SliceHost::new(bytes);
    host.externals = template.externals.clone();
    host.output_limit = template.output_limit;
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        onnx::load(&mut host, &Options::default())
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
    let exp = expected("onnx");
    let mut problems = Vec::new();
    let mut rng = Rng(0x5eed_0000_0000_0001);
    let mut loads = 0usize;
    let mut tally = Tally::default();
    for rel in exp["good"].as_object().expect("good").keys() {
        let path = fixtures("onnx").join(rel);
        let template = host_for(&path);
        let original = template.sources[0].clone();
        let n = original.len();
        // Every truncation point (the fixtures are small).
        for cut in 0..n {
            loads += 1;
            problems.extend(check(
                &mut tally,
                original[..cut].to_vec(),
                &template,
                &format!("{rel} cut at {cut}"),
            ));
        }
        // Single and multi-byte flips.
        for i in 0..FLIPS {
            let mut bytes = original.clone();
            let flips = 1 + (i % 4);
            for _ in 0..flips {
                let at = rng.below(n as u64) as usize;
                let mask = (rng.below(255) + 1) as u8;
                bytes[at] ^= mask;
            }
            loads += 1;
            problems.extend(check(
                &mut tally,
                bytes,
                &template,
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
