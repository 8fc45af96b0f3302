//! Property tests of the canonical encodings and of signing (proptest):
//!
//! - canonical JSON: any value encodes to bytes that parse back to it and are their own
//!   re-encoding; inserting whitespace or swapping two keys is always refused;
//! - manifests: random metadata round-trips through the one encoding;
//! - sign → verify round-trips for random file trees (names, depths, sizes, compressible
//!   or not, empty files) and random metadata, and every file reads back as written;
//! - any single-byte change of such a bundle is rejected (`every_byte.rs` does every
//!   position of one fixed bundle; this samples positions of many random ones).
//!
//! Case counts are kept moderate so the suite stays fast in CI; raise them with
//! `PROPTEST_CASES=…`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use modelseal::bundle::{self, SignOptions, TrustedKeys, VerifyOptions};
use modelseal::canonical;
use modelseal::manifest::Manifest;
use proptest::prelude::*;
use serde_json::{Map, Value};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        ..ProptestConfig::default()
    }
}

/// Strings with the characters canonical encoding treats specially: quotes, backslashes,
/// control characters, non-ASCII, astral-plane characters.
fn json_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            1 => prop::char::range('\0', '\u{1f}'),
            1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', 'é', '€', '\u{2028}', '😀']),
        ],
        0..12,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(json_string(), json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

/// Positions (byte offsets) in `bytes` that are outside JSON strings and between tokens.
fn token_boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if matches!(b, b'{' | b'[' | b',' | b':') {
            out.push(i + 1);
        }
        if b == b'"' {
            in_string = true;
        }
    }
    out
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn canonical_json_round_trips(value in json_value()) {
        let bytes = canonical::to_vec(&value).unwrap();
        let parsed = canonical::parse_value(&bytes, "test", usize::MAX).unwrap();
        prop_assert_eq!(&parsed, &value);
        prop_assert_eq!(canonical::to_vec(&parsed).unwrap(), bytes);
    }

    #[test]
    fn canonical_json_refuses_whitespace(value in json_value(), pick in any::<prop::sample::Index>(), ws in prop::sample::select(vec![" ", "\n", "\t", "\r"])) {
        let bytes = canonical::to_vec(&value).unwrap();
        let spots = token_boundaries(&bytes);
        prop_assume!(!spots.is_empty());
        let at = spots[pick.index(spots.len())];
        let mut changed = bytes[..at].to_vec();
        changed.extend_from_slice(ws.as_bytes());
        changed.extend_from_slice(&bytes[at..]);
        // Still the same value to a lenient reader, but not canonical.
        prop_assert_eq!(
            canonical::parse_value_lenient_format(&changed, "test", usize::MAX).unwrap(),
            value
        );
        prop_assert!(canonical::parse_value(&changed, "test", usize::MAX).is_err());
    }

    #[test]
    fn canonical_json_refuses_unsorted_keys(a in json_string(), b in json_string(), va in json_value(), vb in json_value()) {
        prop_assume!(a < b);
        let mut text = String::from("{");
        text.push_str(&serde_json::to_string(&b).unwrap());
        text.push(':');
        text.push_str(&String::from_utf8(canonical::to_vec(&vb).unwrap()).unwrap());
        text.push(',');
        text.push_str(&serde_json::to_string(&a).unwrap());
        text.push(':');
        text.push_str(&String::from_utf8(canonical::to_vec(&va).unwrap()).unwrap());
        text.push('}');
        prop_assert!(canonical::parse_value(text.as_bytes(), "test", usize::MAX).is_err());
    }

    #[test]
    fn manifest_metadata_round_trips(metadata in json_object()) {
        let mut manifest = base_manifest();
        manifest.metadata = metadata;
        let bytes = manifest.to_bytes();
        match Manifest::parse(&bytes) {
            Ok(parsed) => {
                prop_assert_eq!(&parsed, &manifest);
                prop_assert_eq!(parsed.to_bytes(), bytes);
            }
            // Only the documented size limit may refuse valid metadata.
            Err(e) => prop_assert!(e.to_string().contains("metadata larger"), "{}", e),
        }
    }
}

fn base_manifest() -> Manifest {
    let bytes = br#"{"created":"2026-01-01T00:00:00Z","digest":{"algorithm":"sha256-chunked-v1","chunk_size":16777216},"files":[],"metadata":{},"name":"m","schema":"modelseal-manifest-v1","tool":{"name":"modelseal","version":"0.1.0"},"version":"1"}"#;
    Manifest::parse(bytes).unwrap()
}

/// A file's content: random bytes, compressible text (deflated when signed), or empty.
fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        ("[a-z ]{1,20}", 1..400usize).prop_map(|(s, n)| s.repeat(n).into_bytes()),
        Just(Vec::new()),
    ]
}

/// A file tree: 1–8 files at depth 0–3, names from a small alphabet (with `.`, `-`, `_`,
/// spaces, digits), none a directory prefix of another and no two equal ignoring case.
fn tree() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    let component = "[a-zA-Z0-9][a-zA-Z0-9._ -]{0,8}";
    let path = prop::collection::vec(component, 1..4).prop_map(|c| c.join("/"));
    prop::collection::vec((path, content()), 1..8).prop_map(|files| {
        let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut folded: Vec<String> = Vec::new();
        for (p, c) in files {
            let lower = p.to_lowercase();
            let clash = folded.iter().any(|q| {
                *q == lower
                    || q.starts_with(&format!("{lower}/"))
                    || lower.starts_with(&format!("{q}/"))
            });
            if !clash {
                folded.push(lower);
                out.insert(p, c);
            }
        }
        out
    })
}

fn write_tree(root: &Path, tree: &BTreeMap<String, Vec<u8>>) {
    for (p, c) in tree {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, c).unwrap();
    }
}

fn sign_tree(
    dir: &Path,
    tree: &BTreeMap<String, Vec<u8>>,
    metadata: Map<String, Value>,
    version: &str,
) -> Vec<u8> {
    let model = dir.join("model");
    write_tree(&model, tree);
    let mut options = SignOptions::new("prop-model", version);
    options.metadata = metadata;
    options.threads = 1;
    let out = dir.join("b.zip");
    bundle::sign(
        std::slice::from_ref(&model),
        &common::key(9),
        &out,
        &options,
    )
    .unwrap();
    fs::read(out).unwrap()
}

fn verify_bytes(dir: &Path, bytes: &[u8]) -> Result<bundle::VerifiedBundle, bundle::VerifyError> {
    let path = dir.join("candidate.zip");
    fs::write(&path, bytes).unwrap();
    let options = VerifyOptions {
        threads: 1,
        ..VerifyOptions::default()
    };
    bundle::verify(
        &path,
        &TrustedKeys(vec![common::key(9).public().clone()]),
        &options,
    )
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn sign_then_verify_round_trips(tree in tree(), metadata in json_object(), version in "[0-9][0-9a-z.+-]{0,10}") {
        let dir = tempfile::tempdir().unwrap();
        let bytes = sign_tree(dir.path(), &tree, metadata.clone(), &version);
        let verified = verify_bytes(dir.path(), &bytes).unwrap();
        prop_assert_eq!(&verified.manifest().metadata, &metadata);
        prop_assert_eq!(&verified.manifest().version, &version);
        let listed: Vec<&str> = verified.manifest().files.iter().map(|f| f.path.as_str()).collect();
        let written: Vec<&str> = tree.keys().map(String::as_str).collect();
        prop_assert_eq!(listed, written);
        for (p, c) in &tree {
            prop_assert_eq!(&verified.read(p).unwrap(), c, "{}", p);
        }
    }

    #[test]
    fn any_single_byte_change_is_rejected(
        tree in tree(),
        metadata in json_object(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 48),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = sign_tree(dir.path(), &tree, metadata, "1.0.0");
        prop_assert!(verify_bytes(dir.path(), &bytes).is_ok());
        for (at, xor) in changes {
            let at = at.index(bytes.len());
            let mut changed = bytes.clone();
            changed[at] ^= xor;
            prop_assert!(
                verify_bytes(dir.path(), &changed).is_err(),
                "byte {} ^ {:#04x} of a {}-byte bundle accepted", at, xor, bytes.len()
            );
        }
    }
}
