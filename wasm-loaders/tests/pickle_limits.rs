//! Hostile shapes built in code: deep nesting, memo bombs, huge declared lengths, and each
//! configured limit. Each must end quickly with the right error kind (naming the limit),
//! never by exhausting memory or the stack.

mod pickle_support;

use std::time::{Duration, Instant};

use modelseal_loaders::{ErrorKind, LoadError, LoadResult, Options, StorageSource};
use pickle_support::{fixtures, load};

const QUICK: Duration = Duration::from_secs(5);

fn run(bytes: Vec<u8>, options: &Options) -> Result<LoadResult, LoadError> {
    let started = Instant::now();
    let (r, _) = load(bytes, options);
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    r
}

fn expect_err(r: Result<LoadResult, LoadError>, kind: ErrorKind, mention: &str) {
    match r {
        Ok(res) => panic!("expected {kind:?}, got {} tensors", res.tensors.len()),
        Err(e) => {
            assert_eq!(e.kind, kind, "{e:?}");
            assert!(
                e.message.contains(mention),
                "{mention:?} not in {}",
                e.message
            );
        }
    }
}

/// A protocol-2 pickle of a one-element float32 array, no memo: `_reconstruct` + BUILD.
fn tiny_array() -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R",
    );
    p.extend_from_slice(b"(K\x01K\x01\x85cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R");
    p.extend_from_slice(b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
    p.extend_from_slice(b"\x89C\x04\x00\x00\x80?tb");
    p
}

#[test]
fn pickle_tiny_array_helper_is_valid() {
    let mut p = b"\x80\x02".to_vec();
    p.extend(tiny_array());
    p.push(b'.');
    let r = run(p, &Options::default()).expect("tiny array loads");
    assert_eq!(r.tensors.len(), 1);
    assert_eq!(r.tensors[0].name, "array");
    assert_eq!(r.tensors[0].shape, vec![1]);
}

#[test]
fn pickle_deep_list_nesting_hits_max_depth() {
    let depth = 200_000;
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b']', depth));
    p.extend(std::iter::repeat_n(b'a', depth - 1));
    p.push(b'.');
    expect_err(run(p, &Options::default()), ErrorKind::Limit, "max_depth");
}

#[test]
fn pickle_deep_mark_nesting_hits_max_depth() {
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b'(', 200_000));
    p.extend_from_slice(b"N.");
    expect_err(run(p, &Options::default()), ErrorKind::Limit, "max_depth");
}

#[test]
fn pickle_deep_tuple_nesting_hits_max_depth() {
    // ((((...)))) through TUPLE1: no marks, no lists.
    let mut p = b"\x80\x02N".to_vec();
    p.extend(std::iter::repeat_n(0x85u8, 100_000));
    p.push(b'.');
    expect_err(run(p, &Options::default()), ErrorKind::Limit, "max_depth");
}

/// 10^30 leaves if expanded; an array at the bottom is extracted exactly once.
#[test]
fn pickle_memo_bomb_stays_linear() {
    let mut p = b"\x80\x02".to_vec();
    p.extend(tiny_array());
    p.extend_from_slice(b"r\x00\x00\x00\x00"); // LONG_BINPUT 0
    for i in 1u32..=30 {
        p.extend_from_slice(b"](");
        for _ in 0..10 {
            p.push(b'j');
            p.extend_from_slice(&(i - 1).to_le_bytes());
        }
        p.push(b'e');
        p.push(b'r');
        p.extend_from_slice(&i.to_le_bytes());
    }
    // A final list holding the top 100 000 times.
    p.extend_from_slice(b"](");
    for _ in 0..100_000 {
        p.extend_from_slice(b"j\x1e\x00\x00\x00");
    }
    p.extend_from_slice(b"e.");
    let r = run(p, &Options::default()).expect("bomb with one array loads");
    assert_eq!(r.tensors.len(), 1, "{:?}", r.tensors);
    assert!(
        r.warnings.len() <= 201,
        "warnings are bounded: {}",
        r.warnings.len()
    );
    assert!(r.warnings.iter().any(|w| w.contains("same object")));
}

#[test]
fn pickle_cycle_ends_the_walk() {
    // l = []; l.append(l); plus an array so the file is not empty of tensors.
    let mut p = b"\x80\x02}(X\x01\x00\x00\x00a".to_vec();
    p.extend(tiny_array());
    p.extend_from_slice(b"X\x01\x00\x00\x00l]q\x00h\x00au.");
    let r = run(p, &Options::default()).expect("cyclic list loads");
    assert_eq!(r.tensors.len(), 1);
    assert!(
        r.warnings.iter().any(|w| w.contains("cycle")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn pickle_memo_limit() {
    let mut o = Options::default();
    o.limits.max_memo = 100;
    let mut p = b"\x80\x04N".to_vec();
    p.extend(std::iter::repeat_n(0x94u8, 1000)); // MEMOIZE
    p.push(b'.');
    expect_err(run(p, &o), ErrorKind::Limit, "max_memo");
}

#[test]
fn pickle_object_limit() {
    let mut o = Options::default();
    o.limits.max_objects = 1000;
    let mut p = b"\x80\x02(".to_vec();
    p.extend(std::iter::repeat_n(b'N', 5000));
    p.extend_from_slice(b"l.");
    expect_err(run(p, &o), ErrorKind::Limit, "max_objects");
}

#[test]
fn pickle_tensor_limit() {
    let mut o = Options::default();
    o.limits.max_tensors = 3;
    let mut p = b"\x80\x02(".to_vec();
    for _ in 0..5 {
        p.extend(tiny_array());
    }
    p.extend_from_slice(b"l.");
    expect_err(run(p, &o), ErrorKind::Limit, "max_tensors");
}

#[test]
fn pickle_huge_declared_lengths_allocate_nothing() {
    for (op, what) in [
        (&b"\x8e"[..], "BINBYTES8"),
        (&b"\x96"[..], "BYTEARRAY8"),
        (&b"\x8d"[..], "BINUNICODE8"),
        (&b"\x95"[..], "FRAME"),
    ] {
        let mut p = b"\x80\x05".to_vec();
        p.extend_from_slice(op);
        p.extend_from_slice(&(1u64 << 40).to_le_bytes());
        p.extend_from_slice(b"xyz.");
        expect_err(run(p, &Options::default()), ErrorKind::Malformed, what);
    }
    let p = b"\x80\x02X\xff\xff\xff\xffab.".to_vec();
    expect_err(
        run(p, &Options::default()),
        ErrorKind::Malformed,
        "BINUNICODE",
    );
    let p = b"\x80\x02T\xff\xff\xff\xffab.".to_vec();
    expect_err(
        run(p, &Options::default()),
        ErrorKind::Malformed,
        "negative length",
    );
}

#[test]
fn pickle_huge_integer_literals_are_limited() {
    let mut p = b"L".to_vec();
    p.extend(std::iter::repeat_n(b'9', 100_000));
    p.extend_from_slice(b"L\n.");
    expect_err(run(p, &Options::default()), ErrorKind::Limit, "too long");
    let mut p = b"\x80\x02\x8b\x00\x00\x01\x00".to_vec(); // LONG4 of 65536 bytes
    p.extend(std::iter::repeat_n(1u8, 65536));
    p.push(b'.');
    expect_err(run(p, &Options::default()), ErrorKind::Limit, "LONG4");
}

#[test]
fn pickle_every_truncation_of_a_real_file_fails_cleanly() {
    for name in ["numpy_p2.pkl", "all_opcodes.pkl", "sklearn_pipeline.joblib"] {
        let full = std::fs::read(fixtures().join("files").join(name)).expect("fixture");
        for cut in 0..full.len() {
            let (r, _) = load(full[..cut].to_vec(), &Options::default());
            assert!(r.is_err(), "{name} cut at {cut} was accepted");
        }
    }
}

#[test]
fn pickle_arrays_in_the_file_point_into_the_input() {
    for name in [
        "numpy_large_p4.pkl",
        "numpy_p4.pkl",
        "numpy_p5.pkl",
        "numpy_mixed_p5.pkl",
        "torch_tar.pt",
        "joblib_arrays.joblib",
        "torch_zip_views.pt",
        "torch_legacy_checkpoint.pt",
    ] {
        let bytes = std::fs::read(fixtures().join("files").join(name)).expect("fixture");
        let (r, host) = load(bytes, &Options::default());
        let r = r.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(
            r.tensors
                .iter()
                .all(|t| t.storage.source == StorageSource::Input),
            "{name}"
        );
        assert!(host.output.is_empty(), "{name} wrote to the output");
    }
}

#[test]
fn pickle_shared_storage_is_described_once() {
    let bytes =
        std::fs::read(fixtures().join("files").join("torch_zip_views.pt")).expect("fixture");
    let (r, _) = load(bytes, &Options::default());
    let r = r.expect("views load");
    let find = |n: &str| r.tensors.iter().find(|t| t.name == n).expect(n).clone();
    let base = find("base");
    for n in ["transposed", "slice", "row"] {
        assert_eq!(find(n).storage, base.storage, "{n} shares base's storage");
    }
    assert_eq!(find("transposed").strides, vec![1, 6]);
    assert_eq!(find("slice").offset, 8);
    assert_eq!(find("expanded").strides, vec![0, 1]);
    assert!(find("scalar").shape.is_empty());
}

/// Many values under one over-long name: unique names stay cheap (no quadratic `~n` search).
#[test]
fn pickle_many_clashing_names_stay_linear() {
    let key = "k".repeat(1100);
    let mut p = b"\x80\x02}X".to_vec();
    p.extend_from_slice(&(key.len() as u32).to_le_bytes());
    p.extend_from_slice(key.as_bytes());
    p.extend_from_slice(b"}X");
    p.extend_from_slice(&(key.len() as u32).to_le_bytes());
    p.extend_from_slice(key.as_bytes());
    p.extend_from_slice(b"](");
    for _ in 0..8_000 {
        p.extend(tiny_array());
    }
    for i in 0..20_000u32 {
        p.push(b'J');
        p.extend_from_slice(&i.to_le_bytes());
    }
    p.extend_from_slice(b"ess.");
    let r = run(p, &Options::default()).expect("loads");
    assert_eq!(r.tensors.len(), 8_000);
    let names: std::collections::BTreeSet<_> = r.tensors.iter().map(|t| &t.name).collect();
    assert_eq!(names.len(), 8_000, "names are unique");
    assert!(r.tensors.iter().all(|t| t.name.len() <= 1024));
    assert!(r.metadata.len() <= 10_000);
}

/// A shared container referenced 300 000 times from deep inside the tree.
#[test]
fn pickle_many_revisits_at_depth_stay_cheap() {
    let mut p = b"\x80\x02".to_vec();
    p.extend(tiny_array());
    p.extend_from_slice(b"q\x00");
    p.extend(std::iter::repeat_n(b']', 900));
    p.extend_from_slice(b"}q\x010](");
    for _ in 0..300_000 {
        p.extend_from_slice(b"h\x01");
    }
    p.extend_from_slice(b"e");
    p.extend(std::iter::repeat_n(b'a', 900));
    p.extend_from_slice(b"h\x00a.");
    let r = run(p, &Options::default()).expect("loads");
    assert_eq!(r.tensors.len(), 1);
    assert!(r.warnings.len() <= 201);
}
