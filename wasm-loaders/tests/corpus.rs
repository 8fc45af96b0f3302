//! The NumPy files of the shared picklescan corpus (`shared/corpora/picklescan/data2`):
//! benign arrays load with numpy's bytes, object arrays (pickles) are refused. Expected
//! digests come from `tests/fixtures/containers/corpus_expected.json` (numpy's own load).

mod common;

use common::*;
use modelseal_loaders::Options;
use serde_json::Value;

#[test]
fn picklescan_numpy_files() {
    let Some(corpus) = corpus() else {
        eprintln!("SKIPPED: shared/corpora not found next to the repository");
        return;
    };
    let dir = corpus.join("picklescan/data2");
    let expected = match read_json(&fixtures().join("corpus_expected.json")) {
        Value::Object(m) => m,
        _ => panic!("corpus_expected.json is not an object"),
    };
    assert_eq!(expected.len(), 7);
    let mut failures = Vec::new();
    for (name, expect) in &expected {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (host, r) = load_bytes(bytes, &Options::default());
        if let Some(problem) = check(name, expect, &host, &r) {
            failures.push(problem);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Zips and other non-NumPy files of the corpus that the zip reader and detection must
/// refuse, or route to the PyTorch loader (built on another branch).
#[test]
fn picklescan_zips_are_refused_or_routed() {
    let Some(corpus) = corpus() else {
        eprintln!("SKIPPED: shared/corpora not found next to the repository");
        return;
    };
    let dir = corpus.join("picklescan");
    use modelseal_loaders::ErrorKind::{Malformed, Refused, Unsupported};
    for (name, kind, contains) in [
        (
            "data/benign_password_protected.zip",
            Refused,
            "encrypted member",
        ),
        ("data/malicious1_0x1.zip", Refused, "encrypted member"),
        ("data/malicious1_0x40.zip", Refused, "encrypted member"),
        ("data/malicious1_0x20.zip", Unsupported, "flag bits 0x0020"),
        (
            "data/malicious1_central_directory.zip",
            Malformed,
            "header mismatch",
        ),
        (
            "data/malicious1_wrong_ext.zip",
            Unsupported,
            "not a known model container",
        ),
        (
            "data/malicious1.7z",
            Unsupported,
            "unrecognised file format",
        ),
        (
            "data/bad_pytorch.pt",
            Unsupported,
            "unrecognised file format",
        ),
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (host, r) = load_bytes(bytes, &Options::default());
        let e = r.err().unwrap_or_else(|| panic!("{name}: loaded"));
        assert!(host.output.is_empty(), "{name}: wrote output");
        assert_eq!(e.kind, kind, "{name}: {}", e.message);
        assert!(e.message.contains(contains), "{name}: {}", e.message);
    }
    // Routed to the PyTorch loader (another branch), which must refuse them: any error
    // kind but with the format known.
    for name in ["data/malicious1.zip", "data2/malicious1_crc.zip"] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (host, r) = load_bytes(bytes, &Options::default());
        let e = r.err().unwrap_or_else(|| panic!("{name}: loaded"));
        assert!(host.output.is_empty(), "{name}: wrote output");
        assert_eq!(
            e.format.as_deref(),
            Some("pytorch-zip"),
            "{name}: {}",
            e.message
        );
    }
}
