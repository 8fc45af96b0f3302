//! Regression tests for bugs found by fuzzing and review (`fuzz/README.md`), one per bug,
//! named `regression_<target>_<short>`. Inputs are built here or committed under
//! `tests/regressions/` (repository root) with the target's name.

mod pickle_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use modelseal_loaders::{LoadResult, Options, SliceHost};

/// Generous: these run unoptimised on shared CI machines; each bug took minutes.
const QUICK: Duration = Duration::from_secs(5);

fn regression_input(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/regressions")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Load `bytes` (format detection), asserting it ends within [`QUICK`].
fn timed(bytes: Vec<u8>) -> (Result<LoadResult, modelseal_loaders::LoadError>, SliceHost) {
    let started = Instant::now();
    let r = pickle_support::load(bytes, &Options::default());
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    r
}

/// Protocol 4: PROTO, `body`, STOP.
fn pickle(body: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 4];
    p.extend_from_slice(body);
    p.push(b'.');
    p
}

/// BINUNICODE8 of `len` copies of `c`.
fn long_str(c: u8, len: usize) -> Vec<u8> {
    let mut b = vec![0x8d];
    b.extend_from_slice(&(len as u64).to_le_bytes());
    b.extend(std::iter::repeat_n(c, len));
    b
}

/// Review (pickle walk): a dict setting one memoized 1 MiB key 100,000 times copied the key
/// for every item while resolving duplicates (100 GB of copying: the sandbox's time limit
/// was all that stopped it). Keys are now compared in place.
#[test]
fn regression_guest_pickle_repeated_memo_key() {
    let mut b = b"}(".to_vec();
    b.extend(long_str(b'k', 1 << 20));
    b.extend_from_slice(b"\x94K\x00");
    for _ in 0..100_000 {
        b.extend_from_slice(b"h\x00K\x01");
    }
    b.push(b'u');
    let (r, _) = timed(pickle(&b));
    let err = r.expect_err("no tensors in this pickle");
    assert!(err.message.contains("no tensors"), "{err:?}");
}

/// Review (pickle walk): a list of 200,000 memo references to one 1 MiB string copied the
/// string for every item before the metadata cap was checked. Values are now cut before
/// they are copied and not rendered at all once the metadata is full.
#[test]
fn regression_guest_pickle_memo_string_copies() {
    let mut b = b"](".to_vec();
    b.extend(long_str(b'x', 1 << 20));
    b.push(0x94);
    for _ in 0..200_000 {
        b.extend_from_slice(b"h\x00");
    }
    b.push(b'e');
    let (r, _) = timed(pickle(&b));
    assert!(r.is_err(), "no tensors in this pickle");
}

/// Review (pickle names): the values under a 1 MiB dict key each copied the whole key into
/// their name before it was cut. Names are now cut while they are built.
#[test]
fn regression_guest_pickle_long_key_names() {
    let mut b = b"}(".to_vec();
    b.extend(long_str(b'k', 1 << 20));
    b.extend_from_slice(b"](");
    b.extend(std::iter::repeat_n(b'N', 200_000));
    b.extend_from_slice(b"eu");
    let (r, _) = timed(pickle(&b));
    assert!(r.is_err(), "no tensors in this pickle");
}

/// Review (pickle walk): an 8 KiB integer referenced 20,000 times through the memo was
/// converted to decimal (quadratic) for every reference. Large integers are now rendered
/// in hex, and not at all once the metadata is full.
#[test]
fn regression_guest_pickle_bigint_rendering() {
    let mut b = vec![b']', b'(', 0x8b]; // EMPTY_LIST, MARK, LONG4
    b.extend_from_slice(&8192u32.to_le_bytes());
    b.extend(std::iter::repeat_n(0x5a, 8192));
    b.push(0x94);
    for _ in 0..20_000 {
        b.extend_from_slice(b"h\x00");
    }
    b.push(b'e');
    let (r, _) = timed(pickle(&b));
    assert!(r.is_err(), "no tensors in this pickle");
}

/// Review (guest/host contract): ten thousand 4 KiB strings next to a tensor gave 40 MB of
/// metadata, which the host refuses (16 MiB): a valid model failed to import with a
/// confusing limit error. The guest now drops metadata past the host's limits, with a
/// warning.
#[test]
fn regression_guest_pickle_metadata_over_host_budget() {
    let r = pickle_support::load(
        regression_input("guest_auto_metadata_budget.pkl"),
        &Options::default(),
    )
    .0
    .expect("loads");
    assert_eq!(r.tensors.len(), 1);
    let total: usize = r.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(
        total <= modelseal_loaders::result::HOST_MAX_METADATA_TOTAL,
        "{total}"
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("metadata entries dropped")),
        "{:?}",
        r.warnings
    );
}

/// Fuzzing (`guest_gguf`): a tensor with a zero dimension and two of 2^40 has 0 elements
/// and 0 bytes, so the guest accepted it, but its shape's partial products overflow u64 and
/// the host refused the guest's answer ("element count overflows"). The guest now refuses
/// such shapes itself (the product with zeros counted as 1 must fit in u64).
#[test]
fn regression_guest_gguf_zero_dim_overflow() {
    let mut f = b"GGUF".to_vec();
    f.extend_from_slice(&3u32.to_le_bytes()); // version
    f.extend_from_slice(&1u64.to_le_bytes()); // tensors
    f.extend_from_slice(&0u64.to_le_bytes()); // metadata entries
    f.extend_from_slice(&1u64.to_le_bytes()); // name length
    f.push(b't');
    f.extend_from_slice(&3u32.to_le_bytes()); // n_dims
    for d in [0u64, 1 << 40, 1 << 40] {
        f.extend_from_slice(&d.to_le_bytes());
    }
    f.extend_from_slice(&0u32.to_le_bytes()); // F32
    f.extend_from_slice(&0u64.to_le_bytes()); // offset
    f.resize(f.len().next_multiple_of(32), 0);
    let err = timed(f).0.expect_err("refused");
    assert!(err.message.contains("overflows"), "{}", err.message);
}
