//! The adversarial suite: hostile inputs with the outcome each must have, through the real
//! sandbox, and the guarantee that no refusal leaves anything behind.
//!
//! 1. **Corpora**: every file under `../shared/corpora/<corpus>/` is imported and must match
//!    its rule in `tests/fixtures/adversarial/corpus.json` (a new file without a rule fails
//!    the test). Imports are compared with what torch/numpy load when Python is available.
//! 2. **Resource bombs**: time (a pickle looping through its memo; a memo string copied a
//!    million times), memory (millions of objects), nesting (per format) and decompression
//!    (joblib through every codec, deflated zip members of npz, PyTorch and Keras archives)
//!    each end quickly with the right limit error, or — where the loader needs no limit to
//!    stay linear — quickly with the right result.
//! 3. **The CLI**: a refused import exits 1 and writes nothing (also with `--key`, which
//!    would write a signed bundle), and every limit is visible in `--help` with its default.
//!
//! The project's own fixtures (good and bad) are walked by `import_fixtures.rs`, which
//! checks the same "nothing left behind" for each; bundle attacks are in
//! `verify_attacks.rs` and `every_byte.rs`.

mod import_support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use modelseal::import::{ErrorClass, ImportError, ImportOptions, import};
use modelseal::sandbox::SandboxError;
use serde_json::Value;

use import_support::{files_in, read_with_modelseal, read_with_python};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `shared/corpora` in the nearest directory above the project that has one.
fn corpora() -> Option<PathBuf> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = dir.join("shared/corpora");
        if c.is_dir() {
            return Some(c);
        }
        if !dir.pop() {
            eprintln!("SKIP: shared/corpora not found above the project");
            return None;
        }
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            walk(root, &r, out);
        } else {
            out.push(r.to_string_lossy().into_owned());
        }
    }
}

const PY_REFERENCE: &str = r#"
import hashlib, json, sys
import numpy as np
p = sys.argv[1]
names = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
         "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32", "uint16": "U16",
         "uint8": "U8", "bool": "BOOL"}
if p.endswith(".npy"):
    items = [np.load(p)]
elif p.endswith(".npz"):
    items = list(np.load(p).values())
else:
    import torch
    obj = torch.load(p, weights_only=True, map_location="cpu")
    items = list(obj.values()) if isinstance(obj, dict) else [obj]
    items = [t.detach().contiguous().numpy() for t in items]
out = []
for a in items:
    a = np.ascontiguousarray(a)
    le = a.astype(a.dtype.newbyteorder("<"))
    out.append([names[str(a.dtype)], list(a.shape), hashlib.sha256(le.tobytes()).hexdigest()])
print(json.dumps(sorted(out)))
"#;

/// (dtype, shape, sha256) of every array in `path` as torch/numpy load it, sorted; `None`
/// if the Python libraries are not available.
fn reference_values(path: &Path) -> Option<Vec<(String, Vec<u64>, String)>> {
    let py = import_support::python()?;
    let out = Command::new(py)
        .args(["-c", PY_REFERENCE])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "SKIP reference for {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Short description of an import result, for the failure table.
fn describe(r: &Result<PathBuf, ImportError>) -> String {
    match r {
        Ok(_) => "imported".into(),
        Err(e) => format!("{:?}: {e}", e.class()),
    }
}

/// Check one corpus file against its rule; problems go to `wrong`.
fn check_corpus_file(
    root: &Path,
    rel: &str,
    rule: &Value,
    out_dir: &Path,
    wrong: &mut Vec<String>,
) {
    let expect = rule["expect"].as_str().unwrap();
    let out = out_dir.join("out.safetensors");
    let result = import(&root.join(rel), &out, &ImportOptions::default()).map(|o| o.output);
    let text = describe(&result);
    let ok = match (expect, &result) {
        ("import", Ok(out)) => {
            let (ours, _) = read_with_modelseal(out);
            if let Some((py, _)) = read_with_python(out)
                && py != ours
            {
                wrong.push(format!("{rel}: python safetensors reads other tensors"));
            }
            if let Some(reference) = reference_values(&root.join(rel)) {
                let mut got: Vec<_> = ours.into_values().collect();
                got.sort();
                if got != reference {
                    wrong.push(format!(
                        "{rel}: tensors differ from torch/numpy:\n  got {got:?}\n  want {reference:?}"
                    ));
                }
            }
            std::fs::remove_file(out).unwrap();
            true
        }
        ("no-tensors", Err(ImportError::NoTensors { .. })) => true,
        ("no-tensors", Err(e)) => e.to_string().contains("no tensors found"),
        // A policy refusal names what it refuses: a global with its risk.
        ("refused", Err(e @ ImportError::Refused { .. })) => {
            !e.globals().is_empty() || e.to_string().contains("refused")
        }
        ("structural", Err(e)) => e.class() == ErrorClass::Malformed,
        ("limit", Err(e)) => e.class() == ErrorClass::Limit,
        _ => false,
    };
    if !ok {
        wrong.push(format!("{rel}: expected {expect}, got {text}"));
    }
    if let (Some(needle), Err(e)) = (rule.get("mentions").and_then(Value::as_str), &result)
        && !e.to_string().contains(needle)
    {
        wrong.push(format!("{rel}: error does not mention {needle:?}: {e}"));
    }
    let left = files_in(out_dir);
    if !left.is_empty() {
        wrong.push(format!("{rel}: left behind {left:?}"));
        for f in left {
            let _ = std::fs::remove_file(out_dir.join(f));
        }
    }
}

#[test]
fn every_corpus_file_has_its_expected_outcome() {
    let Some(corpora) = corpora() else { return };
    let table: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("adversarial/corpus.json")).unwrap(),
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    let mut checked = 0;
    let mut corpora_seen: Vec<String> = std::fs::read_dir(&corpora)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    corpora_seen.sort();
    for name in &corpora_seen {
        let Some(rules) = table.get(name).and_then(Value::as_array) else {
            wrong.push(format!(
                "corpus {name} has no rules in tests/fixtures/adversarial/corpus.json"
            ));
            continue;
        };
        let root = corpora.join(name);
        let mut files = Vec::new();
        walk(&root, Path::new(""), &mut files);
        for rel in files {
            let rule = rules
                .iter()
                .find(|r| glob(r["match"].as_str().unwrap(), &rel))
                .unwrap_or_else(|| panic!("{name}/{rel} matches no rule"));
            if rule["expect"] == "skip" {
                continue;
            }
            checked += 1;
            check_corpus_file(&root, &rel, rule, out_dir.path(), &mut wrong);
        }
    }
    eprintln!("checked {checked} corpus files in {corpora_seen:?}");
    assert!(
        checked > 100 || corpora_seen.is_empty(),
        "corpus looks incomplete: {checked} files"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Resource bombs.

/// A bomb: bytes, options, and what must happen.
struct Bomb {
    name: &'static str,
    bytes: Vec<u8>,
    options: ImportOptions,
    expect: fn(&Result<modelseal::import::ImportOutcome, ImportError>) -> bool,
    /// Wall-clock bound for the whole import (generous: CI machines are slow and shared).
    within: Duration,
}

fn options_with(f: impl FnOnce(&mut ImportOptions)) -> ImportOptions {
    let mut o = ImportOptions::default();
    f(&mut o);
    o
}

fn is_limit(r: &Result<modelseal::import::ImportOutcome, ImportError>, needle: &str) -> bool {
    matches!(r, Err(e @ ImportError::Limit { .. }) if e.to_string().contains(needle))
}

fn run_bombs(bombs: Vec<Bomb>) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // Compile the loader module first so the time bounds measure the imports only.
    let _ = modelseal::sandbox::engine::compiled().expect("module compiles");
    let mut wrong = Vec::new();
    for bomb in bombs {
        let src = dir.path().join(bomb.name);
        std::fs::write(&src, &bomb.bytes).unwrap();
        let out = out_dir.join("out.safetensors");
        let started = Instant::now();
        let result = import(&src, &out, &bomb.options);
        let took = started.elapsed();
        let shown = match &result {
            Ok(o) => format!("imported {} tensors", o.report.tensors.len()),
            Err(e) => format!("{e:?}"),
        };
        eprintln!("{}: {shown} in {took:?}", bomb.name);
        if !(bomb.expect)(&result) {
            wrong.push(format!("{}: unexpected outcome {shown}", bomb.name));
        }
        if took > bomb.within {
            wrong.push(format!(
                "{}: took {took:?} (bound {:?})",
                bomb.name, bomb.within
            ));
        }
        if result.is_ok() {
            std::fs::remove_file(&out).unwrap();
        } else if !files_in(&out_dir).is_empty() {
            wrong.push(format!(
                "{}: left behind {:?}",
                bomb.name,
                files_in(&out_dir)
            ));
        }
        std::fs::remove_file(&src).unwrap();
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A protocol-4 pickle: PROTO 4, `body`, STOP.
fn pickle(body: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 4];
    p.extend_from_slice(body);
    p.push(b'.');
    p
}

/// A tiny NumPy array pickled (protocol 2 `_reconstruct` + BUILD), so a pickle around it
/// holds one tensor.
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

/// `{"a": <array>, "s": <string of len bytes>, "l": [s, s, s, … n times]}`: every list
/// item is a memo reference to the same long string.
fn memo_string_bomb(len: usize, n: usize) -> Vec<u8> {
    let mut b = vec![b'}', b'(']; // EMPTY_DICT, MARK
    b.extend_from_slice(b"\x8c\x01a");
    b.extend(tiny_array());
    b.extend_from_slice(b"\x8c\x01s");
    b.push(0x8d); // BINUNICODE8
    b.extend_from_slice(&(len as u64).to_le_bytes());
    b.extend(std::iter::repeat_n(b'x', len));
    b.push(0x94); // MEMOIZE -> memo[0]
    b.extend_from_slice(b"\x8c\x01l](");
    for _ in 0..n {
        b.extend_from_slice(b"h\x00"); // BINGET 0
    }
    b.extend_from_slice(b"eu"); // APPENDS, SETITEMS
    pickle(&b)
}

/// `{"a": <array>, <long key>: [None × n]}`: every item's name starts with the long key.
fn long_key_bomb(len: usize, n: usize) -> Vec<u8> {
    let mut b = vec![b'}', b'('];
    b.extend_from_slice(b"\x8c\x01a");
    b.extend(tiny_array());
    b.push(0x8d);
    b.extend_from_slice(&(len as u64).to_le_bytes());
    b.extend(std::iter::repeat_n(b'k', len));
    b.extend_from_slice(b"](");
    b.extend(std::iter::repeat_n(b'N', n));
    b.extend_from_slice(b"eu");
    pickle(&b)
}

/// `{"a": <array>, "d": {k: 0, k: 1, …}}` with one memoized long key repeated `n` times.
fn repeated_key_bomb(len: usize, n: usize) -> Vec<u8> {
    let mut b = vec![b'}', b'('];
    b.extend_from_slice(b"\x8c\x01a");
    b.extend(tiny_array());
    b.extend_from_slice(b"\x8c\x01d}(");
    b.push(0x8d);
    b.extend_from_slice(&(len as u64).to_le_bytes());
    b.extend(std::iter::repeat_n(b'k', len));
    b.push(0x94);
    b.extend_from_slice(b"K\x00");
    for _ in 1..n {
        b.extend_from_slice(b"h\x00K\x01");
    }
    b.extend_from_slice(b"uu");
    pickle(&b)
}

#[test]
fn time_bombs_end_quickly() {
    run_bombs(vec![
        // A pickle that loops through its memo: five million BINGET + POP. Legitimate work
        // (no limit counts it), so the time limit is what ends it.
        Bomb {
            name: "memo_loop.pkl",
            bytes: {
                let mut b = vec![b'N', 0x94];
                for _ in 0..5_000_000 {
                    b.extend_from_slice(b"h\x000");
                }
                pickle(&b)
            },
            options: options_with(|o| o.limits.timeout = Duration::from_millis(100)),
            expect: |r| matches!(r, Err(ImportError::Sandbox(SandboxError::Timeout { limit })) if *limit == Duration::from_millis(100)),
            within: Duration::from_secs(5),
        },
        // One 1 MiB string referenced 200,000 times through the memo: the loader must not
        // copy it per reference (200 GB of copying) but keep one metadata value.
        Bomb {
            name: "memo_string.pkl",
            bytes: memo_string_bomb(1 << 20, 200_000),
            options: ImportOptions::default(),
            expect: |r| r.is_ok(),
            within: Duration::from_secs(20),
        },
        // A 1 MiB dict key above 200,000 values: names must not carry the key per value.
        Bomb {
            name: "long_key.pkl",
            bytes: long_key_bomb(1 << 20, 200_000),
            options: ImportOptions::default(),
            expect: |r| r.is_ok(),
            within: Duration::from_secs(20),
        },
        // One memoized 1 MiB key set 200,000 times in a dict (Python keeps one entry).
        Bomb {
            name: "repeated_key.pkl",
            bytes: repeated_key_bomb(1 << 20, 200_000),
            options: ImportOptions::default(),
            expect: |r| r.is_ok(),
            within: Duration::from_secs(20),
        },
    ]);
}

#[test]
fn memory_bombs_hit_the_memory_limit() {
    run_bombs(vec![
        // Millions of empty lists on the unpickling stack: each is an object the loader
        // must keep. 64 MiB of guest memory cannot hold them.
        Bomb {
            name: "many_lists.pkl",
            bytes: pickle(&[b']'; 8_000_000]),
            options: options_with(|o| o.limits.max_memory = 64 << 20),
            expect: |r| matches!(r, Err(ImportError::Sandbox(SandboxError::MemoryLimit { limit })) if *limit == 64 << 20),
            within: Duration::from_secs(20),
        },
        // The same within the object limit: the loader's own count stops it first.
        Bomb {
            name: "many_lists_objects.pkl",
            bytes: pickle(&[b']'; 2_000_000]),
            options: options_with(|o| o.loader.max_objects = 1_000_000),
            expect: |r| is_limit(r, "max_objects"),
            within: Duration::from_secs(20),
        },
    ]);
}

/// A safetensors file whose header is `header`.
fn safetensors_with_header(header: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b
}

/// A version-1.0 `.npy` whose header dict is `dict`.
fn npy_with_header(dict: &str) -> Vec<u8> {
    let mut header = dict.as_bytes().to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend(header);
    b
}

/// A zip archive (deflate compression for `deflated` members, stored otherwise).
fn zip_of(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut cursor);
        for (name, data, deflated) in members {
            let method = if *deflated {
                zip::CompressionMethod::Deflated
            } else {
                zip::CompressionMethod::Stored
            };
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(method)
                .unix_permissions(0o644);
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }
    cursor.into_inner()
}

fn is_nesting_refusal(r: &Result<modelseal::import::ImportOutcome, ImportError>) -> bool {
    match r {
        Err(e @ (ImportError::Limit { .. } | ImportError::Malformed { .. })) => {
            let t = e.to_string();
            t.contains("deep")
                || t.contains("depth")
                || t.contains("recursion")
                || t.contains("nest")
        }
        _ => false,
    }
}

#[test]
fn nesting_bombs_hit_the_depth_limit() {
    let fx = fixtures();
    run_bombs(vec![
        Bomb {
            name: "deep_lists.pkl",
            bytes: {
                let mut b = vec![b']'; 200_000];
                b.extend(std::iter::repeat_n(b'a', 199_999));
                pickle(&b)
            },
            options: ImportOptions::default(),
            expect: |r| is_limit(r, "max_depth"),
            within: Duration::from_secs(10),
        },
        Bomb {
            name: "deep_marks.pkl",
            bytes: pickle(&[b'('; 200_000]),
            options: ImportOptions::default(),
            expect: |r| is_limit(r, "max_depth"),
            within: Duration::from_secs(10),
        },
        Bomb {
            name: "deep_tuples.pkl",
            bytes: {
                let mut b = vec![b'N'];
                b.extend(std::iter::repeat_n(0x85u8, 200_000));
                pickle(&b)
            },
            options: ImportOptions::default(),
            expect: |r| is_limit(r, "max_depth"),
            within: Duration::from_secs(10),
        },
        // The same value nesting inside a PyTorch checkpoint's pickle.
        Bomb {
            name: "deep_lists.pt",
            bytes: {
                let mut b = vec![b']'; 100_000];
                b.extend(std::iter::repeat_n(b'a', 99_999));
                zip_of(&[
                    ("archive/data.pkl", &pickle(&b), false),
                    ("archive/version", b"3\n", false),
                ])
            },
            options: options_with(|o| o.format = Some("pytorch-zip".into())),
            expect: |r| is_limit(r, "max_depth"),
            within: Duration::from_secs(10),
        },
        // JSON headers: the typed parse refuses a nested value where it expects a string
        // or number before descending (no depth to exhaust); a refusal, not a crash.
        Bomb {
            name: "deep_header.safetensors",
            bytes: safetensors_with_header(
                format!("{{\"t\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
            ),
            options: ImportOptions::default(),
            expect: |r| matches!(r, Err(ImportError::Malformed { .. })),
            within: Duration::from_secs(10),
        },
        // The NumPy header's Python literal, nested within the 10,000-byte header limit.
        Bomb {
            name: "deep_header.npy",
            bytes: npy_with_header(&format!(
                "{{'descr': '<f4', 'fortran_order': False, 'shape': {}{}, }}",
                "(".repeat(4_000),
                ")".repeat(4_000)
            )),
            options: ImportOptions::default(),
            expect: is_nesting_refusal,
            within: Duration::from_secs(10),
        },
        Bomb {
            name: "deep_config.keras",
            bytes: zip_of(&[
                (
                    "config.json",
                    format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
                    false,
                ),
                ("metadata.json", b"{\"keras_version\": \"3.0.0\"}", false),
                ("model.weights.h5", b"", false),
            ]),
            options: options_with(|o| o.format = Some("keras".into())),
            expect: is_nesting_refusal,
            within: Duration::from_secs(10),
        },
        Bomb {
            name: "deep_subgraph.onnx",
            bytes: std::fs::read(fx.join("onnx/bad/deep_subgraph.onnx")).unwrap(),
            options: ImportOptions::default(),
            expect: |r| is_limit(r, "nested deeper than 64"),
            within: Duration::from_secs(10),
        },
        Bomb {
            name: "nested_arrays.gguf",
            bytes: std::fs::read(fx.join("gguf/bad/nested_arrays.gguf")).unwrap(),
            options: ImportOptions::default(),
            expect: |r| is_limit(r, "nested deeper than 64"),
            within: Duration::from_secs(10),
        },
        Bomb {
            name: "cyclic_header.h5",
            bytes: std::fs::read(fx.join("keras/bad_cyclic_header.h5")).unwrap(),
            options: ImportOptions::default(),
            expect: |r| matches!(r, Err(e) if e.class() != ErrorClass::Failure),
            within: Duration::from_secs(10),
        },
    ]);
}

#[test]
fn decompression_bombs_hit_the_decompression_limit() {
    let fx = fixtures();
    let small = || options_with(|o| o.loader.max_decompressed = 1 << 20);
    let mut bombs = Vec::new();
    // Joblib compressed with every codec it supports (real joblib.dump output).
    for ext in ["z", "gz", "bz2", "xz", "lzma", "lz4"] {
        bombs.push(Bomb {
            name: Box::leak(format!("bomb_joblib.{ext}").into_boxed_str()),
            bytes: std::fs::read(fx.join(format!("adversarial/bomb_joblib.{ext}"))).unwrap(),
            options: small(),
            expect: |r| is_limit(r, "limit"),
            within: Duration::from_secs(10),
        });
    }
    let zeros = vec![0u8; 8 << 20];
    let mut npy =
        npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (8388608,), }");
    npy.extend_from_slice(&zeros);
    bombs.push(Bomb {
        name: "bomb.npz",
        bytes: zip_of(&[("a.npy", &npy, true)]),
        options: small(),
        expect: |r| is_limit(r, "limit"),
        within: Duration::from_secs(10),
    });
    // A PyTorch checkpoint whose storage member is deflated (torch never writes one).
    bombs.push(Bomb {
        name: "bomb.pt",
        bytes: {
            // {"w": torch.ByteTensor of 8 MiB} as torch pickles it (persistent id "0").
            let mut b = vec![b'}', b'('];
            b.extend_from_slice(b"\x8c\x01w");
            b.extend_from_slice(b"\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2\x93(");
            b.extend_from_slice(b"(\x8c\x07storage\x8c\x05torch\x8c\x0bByteStorage\x93\x8c\x010\x8c\x03cpuJ\x00\x00\x80\x00tQ");
            b.extend_from_slice(b"K\x00J\x00\x00\x80\x00\x85K\x01\x85\x89\x8c\x0bcollections\x8c\x0bOrderedDict\x93)RtR");
            b.push(b'u');
            zip_of(&[
                ("archive/data.pkl", &pickle(&b), false),
                ("archive/data/0", &zeros, true),
                ("archive/version", b"3\n", false),
            ])
        },
        options: small(),
        expect: |r| is_limit(r, "limit"),
        within: Duration::from_secs(10),
    });
    bombs.push(Bomb {
        name: "deflated_weights.keras",
        bytes: std::fs::read(fx.join("keras/keras_deflated_weights.keras")).unwrap(),
        options: options_with(|o| o.loader.max_decompressed = 4 << 10),
        expect: |r| is_limit(r, "limit"),
        within: Duration::from_secs(10),
    });
    bombs.push(Bomb {
        name: "bomb_chunk.h5",
        bytes: std::fs::read(fx.join("keras/bomb_limit.h5")).unwrap(),
        options: options_with(|o| o.loader.max_decompressed = 1 << 20),
        expect: |r| is_limit(r, "limit"),
        within: Duration::from_secs(10),
    });
    run_bombs(bombs);
}

// ---------------------------------------------------------------------------------------
// The CLI.

fn modelseal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_modelseal"))
}

#[test]
fn cli_refusals_exit_1_and_write_nothing() {
    let Some(corpora) = corpora() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let st = modelseal()
        .args(["keygen", "--comment", "adversarial test", "--out"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let inputs = [
        "picklescan/data/malicious0.pkl",
        "picklescan/data/pytorch_magic_bypass.pt",
        "picklescan/data2/GHSA-jgw4-cr84-mqxg.bin",
        "picklescan/data2/object_arrays.npz",
        "picklescan/data/malicious1_central_directory.zip",
    ];
    for rel in inputs {
        let src = corpora.join(rel);
        for (out, extra) in [
            (out_dir.join("m.safetensors"), vec![]),
            (
                out_dir.join("m.zip"),
                vec![
                    "--key".to_string(),
                    key.with_extension("key").display().to_string(),
                ],
            ),
        ] {
            let o = modelseal()
                .arg("import")
                .arg(&src)
                .arg("--out")
                .arg(&out)
                .args(&extra)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{rel} {extra:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{rel}: {stderr}");
            assert!(
                files_in(&out_dir).is_empty(),
                "{rel} {extra:?} left {:?}",
                files_in(&out_dir)
            );
        }
    }
}

#[test]
fn every_limit_is_visible_in_help_with_its_default() {
    for command in ["import", "inspect"] {
        let o = modelseal().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&o.stdout);
        for (flag, default) in [
            ("--max-memory", "1GiB"),
            ("--timeout", "60s"),
            ("--max-output", "16GiB"),
            ("--max-tensors", "100000"),
            ("--max-decompressed", "4GiB"),
            ("--max-depth", "1000"),
            ("--max-memo", "1000000"),
            ("--max-objects", "10000000"),
        ] {
            // The option's own entry (`--flag <VALUE>`), not the mention in the summary.
            let Some(at) = help.find(&format!("{flag} <")) else {
                panic!("{command} --help lacks {flag}:\n{help}");
            };
            let rest = &help[at..];
            let entry = &rest[..rest[2..].find("\n  -").map_or(rest.len(), |i| i + 2)];
            assert!(
                entry.contains(&format!("[default: {default}]")),
                "{command} --help: {flag} does not show its default {default}:\n{entry}"
            );
        }
    }
}
