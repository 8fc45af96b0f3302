//! The import pipeline end to end through the real loader module, driven by the guest's
//! `__test_echo` hook: the test writes the loader's answer (descriptors, output bytes,
//! external files to open) and checks what the host does with it — assembled bytes read
//! back by modelseal's reader and by the Python safetensors library, hostile descriptors
//! refused with the right error, and never a partial output.

mod import_support;

use std::path::{Path, PathBuf};

use modelseal::import::{ImportError, ImportOptions, import_with_test_hook};
use serde_json::{Value, json};

use import_support::{files_in, read_with_modelseal, read_with_python, sha256};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }
    /// Write the echo input and import it.
    fn import(&self, echo: Value, options: &ImportOptions) -> Result<PathBuf, ImportError> {
        self.write("model.echo", &serde_json::to_vec(&echo).unwrap());
        let out = self.path("out.safetensors");
        import_with_test_hook(&self.path("model.echo"), &out, options, "__test_echo")
            .map(|o| o.output)
    }
    fn assert_no_output(&self) {
        let left = files_in(self.dir.path());
        assert!(
            left.iter()
                .all(|f| f != "out.safetensors" && !f.ends_with(".tmp")),
            "left behind: {left:?}"
        );
    }
}

#[allow(clippy::too_many_arguments)] // one argument per descriptor field, readable at call sites
fn tensor(
    name: &str,
    dtype: &str,
    shape: &[u64],
    strides: &[u64],
    offset: u64,
    order: &str,
    source: Value,
    st_off: u64,
    st_len: u64,
) -> Value {
    json!({
        "name": name, "dtype": dtype, "shape": shape, "strides": strides, "offset": offset,
        "byte_order": order,
        "storage": {"source": source, "offset": st_off, "length": st_len}
    })
}

fn result(tensors: Vec<Value>) -> Value {
    json!({"format": "npy", "tensors": tensors, "metadata": {"note": "x"}, "globals": [], "warnings": []})
}

/// Reference gather: element bytes of a strided view, contiguous, little-endian.
fn gather(
    data: &[u8],
    isz: usize,
    shape: &[u64],
    strides: &[u64],
    offset: u64,
    big: bool,
) -> Vec<u8> {
    let n: u64 = shape.iter().product();
    let mut out = Vec::new();
    let mut idx = vec![0u64; shape.len()];
    for _ in 0..n {
        let e: u64 = offset + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<u64>();
        let mut el = data[e as usize * isz..(e as usize + 1) * isz].to_vec();
        if big {
            el.reverse();
        }
        out.extend(el);
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

fn check_both_readers(out: &Path, expected: &[(&str, &str, Vec<u64>, Vec<u8>)]) {
    let (ours, meta) = read_with_modelseal(out);
    assert_eq!(ours.len(), expected.len());
    for (name, dtype, shape, bytes) in expected {
        let got = &ours[*name];
        assert_eq!(
            (got.0.as_str(), &got.1, &got.2),
            (*dtype, shape, &sha256(bytes)),
            "{name}"
        );
    }
    assert_eq!(meta.get("note").map(String::as_str), Some("x"));
    if let Some((py, py_meta)) = read_with_python(out) {
        assert_eq!(py, ours, "python safetensors disagrees");
        assert_eq!(py_meta, meta);
    }
}

#[test]
fn strided_big_endian_broadcast_and_external_views_are_assembled() {
    let case = Case::new();
    // 64 bytes of data in an external file: 0, 1, 2, ...
    let data: Vec<u8> = (0u8..96).collect();
    case.write("data.bin", &data);
    let out_bytes: Vec<u8> = (100u8..132).collect();
    let ext = json!({"external": 1});
    let tensors = vec![
        // Contiguous F32 [2, 3] at byte 8.
        tensor(
            "a.contig",
            "F32",
            &[2, 3],
            &[3, 1],
            0,
            "little",
            ext.clone(),
            8,
            24,
        ),
        // Fortran-order I16 [3, 4] (strides [1, 3]) with an element offset of 2.
        tensor(
            "b.fortran",
            "I16",
            &[3, 4],
            &[1, 3],
            2,
            "little",
            ext.clone(),
            0,
            28,
        ),
        // Big-endian U32 [5].
        tensor("c.big", "U32", &[5], &[1], 0, "big", ext.clone(), 40, 20),
        // Broadcast: stride 0 on the first dim, [4, 2] of F64.
        tensor(
            "d.broadcast",
            "F64",
            &[4, 2],
            &[0, 1],
            0,
            "little",
            ext.clone(),
            0,
            16,
        ),
        // Every other element, big-endian, I64 [3] from the output buffer.
        tensor(
            "e.output",
            "I64",
            &[2],
            &[2],
            0,
            "big",
            json!("output"),
            0,
            32,
        ),
        // Scalar and empty tensors.
        tensor("f.scalar", "U8", &[], &[], 5, "little", ext.clone(), 0, 8),
        tensor("g.empty", "F32", &[0, 7], &[7, 1], 0, "little", ext, 0, 0),
    ];
    let echo = json!({"open": ["data.bin"], "output": out_bytes, "result": result(tensors)});
    let out = case.import(echo, &ImportOptions::default()).unwrap();

    let expected = vec![
        ("a.contig", "F32", vec![2, 3], data[8..32].to_vec()),
        (
            "b.fortran",
            "I16",
            vec![3, 4],
            gather(&data, 2, &[3, 4], &[1, 3], 2, false),
        ),
        (
            "c.big",
            "U32",
            vec![5],
            gather(&data[40..], 4, &[5], &[1], 0, true),
        ),
        (
            "d.broadcast",
            "F64",
            vec![4, 2],
            gather(&data, 8, &[4, 2], &[0, 1], 0, false),
        ),
        (
            "e.output",
            "I64",
            vec![2],
            gather(&out_bytes, 8, &[2], &[2], 0, true),
        ),
        ("f.scalar", "U8", vec![], vec![5]),
        ("g.empty", "F32", vec![0, 7], vec![]),
    ];
    check_both_readers(&out, &expected);
    assert_eq!(
        files_in(case.dir.path()),
        vec!["data.bin", "model.echo", "out.safetensors"]
    );
}

#[test]
fn input_bytes_are_copied_from_the_model_file() {
    let case = Case::new();
    let pad = "0123456789abcdef".repeat(4);
    // Find where the pad lands in the serialised input, then point a tensor at it.
    let mut echo = json!({"pad": pad, "result": result(vec![])});
    let text = serde_json::to_string(&echo).unwrap();
    let at = text.find(&pad).unwrap() as u64;
    let t = tensor(
        "pad",
        "U8",
        &[4, 16],
        &[16, 1],
        0,
        "little",
        json!("input"),
        at,
        64,
    );
    echo["result"] = result(vec![t]);
    // Re-serialising with a tensor changes the position: find it again.
    let text2 = serde_json::to_string(&echo).unwrap();
    let at2 = text2.find(&pad).unwrap() as u64;
    echo["result"]["tensors"][0]["storage"]["offset"] = json!(at2);
    let text3 = serde_json::to_string(&echo).unwrap();
    assert_eq!(text3.find(&pad).unwrap() as u64, at2);
    let out = case.import(echo, &ImportOptions::default()).unwrap();
    check_both_readers(&out, &[("pad", "U8", vec![4, 16], pad.as_bytes().to_vec())]);
}

fn assert_refused<F: Fn(&ImportError) -> bool>(
    case: &Case,
    echo: Value,
    options: &ImportOptions,
    ok: F,
) {
    let err = case.import(echo, options).unwrap_err();
    assert!(ok(&err), "unexpected error: {err:?}");
    case.assert_no_output();
}

fn ext_case() -> Case {
    let case = Case::new();
    case.write("data.bin", &[0u8; 64]);
    case
}

fn one(t: Value) -> Value {
    json!({"open": ["data.bin"], "result": result(vec![t])})
}

#[test]
fn stride_zero_blow_up_hits_the_output_limit() {
    let case = ext_case();
    // 2^40 elements of a single 8-byte storage: 8 TiB if written.
    let t = tensor(
        "bomb",
        "F64",
        &[1 << 20, 1 << 20],
        &[0, 0],
        0,
        "little",
        json!({"external": 1}),
        0,
        8,
    );
    assert_refused(
        &case,
        one(t),
        &ImportOptions::default(),
        |e| matches!(e, ImportError::Limit { message } if message.contains("output limit") && message.contains("bomb")),
    );
}

#[test]
fn hostile_descriptors_are_refused_by_name() {
    let ext = || json!({"external": 1});
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            tensor("past", "F32", &[4, 5], &[5, 1], 0, "little", ext(), 0, 64),
            "past",
            "strides",
        ),
        (
            tensor("src", "U8", &[8], &[1], 0, "little", ext(), 60, 8),
            "src",
            "storage",
        ),
        (
            tensor(
                "huge",
                "U8",
                &[1 << 62, 1 << 62],
                &[1, 1],
                0,
                "little",
                ext(),
                0,
                8,
            ),
            "huge",
            "shape",
        ),
        (
            tensor(
                "nosrc",
                "U8",
                &[1],
                &[1],
                0,
                "little",
                json!({"external": 7}),
                0,
                1,
            ),
            "nosrc",
            "storage",
        ),
        (
            tensor("rank", "U8", &[1; 17], &[1; 17], 0, "little", ext(), 0, 8),
            "rank",
            "shape",
        ),
        (
            tensor("bad\u{1b}[2J", "U8", &[1], &[1], 0, "little", ext(), 0, 1),
            "bad\\u{1b}[2J",
            "name",
        ),
        (
            tensor("__metadata__", "U8", &[1], &[1], 0, "little", ext(), 0, 1),
            "__metadata__",
            "name",
        ),
        (
            tensor("st", "U8", &[2], &[1, 1], 0, "little", ext(), 0, 2),
            "st",
            "strides",
        ),
    ];
    for (t, name, field) in cases {
        let case = ext_case();
        assert_refused(
            &case,
            one(t),
            &ImportOptions::default(),
            |e| matches!(e, ImportError::InvalidDescriptor { tensor: Some(t), field: f, .. } if t == name && *f == field),
        );
    }
}

#[test]
fn duplicate_names_and_too_many_tensors_are_refused() {
    let case = ext_case();
    let t = tensor(
        "same",
        "U8",
        &[1],
        &[1],
        0,
        "little",
        json!({"external": 1}),
        0,
        1,
    );
    let echo = json!({"open": ["data.bin"], "result": result(vec![t.clone(), t.clone()])});
    assert_refused(&case, echo, &ImportOptions::default(), |e| {
        matches!(e, ImportError::InvalidDescriptor { field: "name", .. })
    });
    let mut options = ImportOptions::default();
    options.limits.max_tensors = 2;
    let many: Vec<Value> = (0..3)
        .map(|i| {
            tensor(
                &format!("t{i}"),
                "U8",
                &[1],
                &[1],
                0,
                "little",
                json!({"external": 1}),
                0,
                1,
            )
        })
        .collect();
    let echo = json!({"open": ["data.bin"], "result": result(many)});
    assert_refused(
        &case,
        echo,
        &options,
        |e| matches!(e, ImportError::Limit { message } if message.contains("3 tensors exceed the limit of 2")),
    );
}

#[test]
fn loader_output_past_the_limit_is_a_limit_error() {
    let case = Case::new();
    let mut options = ImportOptions::default();
    options.limits.max_output = 16;
    let echo = json!({"output": vec![7u8; 17], "result": result(vec![])});
    assert_refused(
        &case,
        echo,
        &options,
        |e| matches!(e, ImportError::Limit { message } if message.contains("output limit")),
    );
}

#[test]
fn dangerous_globals_are_refused_even_if_the_loader_accepted_them() {
    let case = ext_case();
    let t = tensor(
        "w",
        "U8",
        &[1],
        &[1],
        0,
        "little",
        json!({"external": 1}),
        0,
        1,
    );
    let mut r = result(vec![t]);
    r["globals"] = json!([{"name": "posix.system", "risk": "code-execution"},
                          {"name": "collections.OrderedDict", "risk": "allowed"}]);
    let echo = json!({"open": ["data.bin"], "result": r.clone()});
    assert_refused(&case, echo, &ImportOptions::default(), |e| {
        matches!(e, ImportError::Refused { message, globals, .. }
            if message.contains("posix.system") && globals.len() == 2)
    });
    // Unknown classes: refused by default, imported with the switch.
    r["globals"] = json!([{"name": "sklearn.svm.SVC", "risk": "unknown-class"}]);
    let echo = json!({"open": ["data.bin"], "result": r});
    assert_refused(
        &case,
        echo.clone(),
        &ImportOptions::default(),
        |e| matches!(e, ImportError::Refused { message, .. } if message.contains("--allow-unknown-classes")),
    );
    let options = ImportOptions {
        allow_unknown_classes: true,
        ..ImportOptions::default()
    };
    assert!(case.import(echo, &options).is_ok());
}

#[test]
fn external_files_are_confined_to_the_model_directory() {
    let case = Case::new();
    case.write("ok.bin", &[1, 2, 3, 4]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret!!").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), case.path("link.bin")).unwrap();
    std::fs::create_dir(case.path("sub")).unwrap();
    std::fs::write(case.path("sub/x.bin"), [9u8; 4]).unwrap();
    let names = [
        "ok.bin",
        "link.bin",
        "../secret",
        "/etc/passwd",
        "sub/../ok.bin",
        "sub/x.bin",
        "missing.bin",
        "sub\\x.bin",
    ];
    let t = tensor(
        "w",
        "U8",
        &[4],
        &[1],
        0,
        "little",
        json!({"external": 2}),
        0,
        4,
    );
    let echo = json!({"open": names, "result": result(vec![t])});
    let case_out = case.import(echo, &ImportOptions::default()).unwrap();
    let (ours, _) = read_with_modelseal(&case_out);
    // Only ok.bin (id 1) and sub/x.bin (id 2) were opened.
    assert_eq!(ours["w"].2, sha256(&[9u8; 4]));
    let report = modelseal::import::inspect_model_with_test_hook(
        &case.path("model.echo"),
        &ImportOptions::default(),
        "__test_echo",
    )
    .unwrap();
    let w = report.warnings.join("\n");
    for (name, expect) in [
        ("ok.bin", "open ok.bin: 1"),
        ("sub/x.bin", "open sub/x.bin: 2"),
        ("link.bin", "open link.bin: error"),
        ("../secret", "open ../secret: error"),
        ("/etc/passwd", "open /etc/passwd: error"),
        ("missing.bin", "open missing.bin: error"),
    ] {
        assert!(w.contains(expect), "{name}: {w}");
    }
    assert!(
        w.contains("refused to open external file \"link.bin\""),
        "{w}"
    );
}

#[test]
fn loader_errors_keep_their_class() {
    let case = Case::new();
    // The guest rejects input that is not the echo JSON as malformed.
    case.write("model.echo", b"not json");
    let out = case.path("out.safetensors");
    let err = import_with_test_hook(
        &case.path("model.echo"),
        &out,
        &ImportOptions::default(),
        "__test_echo",
    )
    .unwrap_err();
    assert!(matches!(err, ImportError::Malformed { .. }), "{err:?}");
    case.assert_no_output();
    // No tensors: a refusal with its own variant.
    let err = case
        .import(json!({"result": result(vec![])}), &ImportOptions::default())
        .unwrap_err();
    assert!(matches!(err, ImportError::NoTensors { .. }), "{err:?}");
    case.assert_no_output();
}
