//! Trust roots: the file parser (canonical layout, signed bytes, content rules), the chain
//! of versions (thresholds of old and new root keys, gaps, expiry) and the bundle policy of
//! the newest version (scopes, validity, retirement, revocation, thresholds).
//!
//! Input: up to four documents separated by `\n--\n`. A first byte `R` ("re-sign") makes
//! the harness sign each document's `signed` content with the seed root keys, so mutated
//! content still reaches the chain and policy checks; otherwise the files are used as they
//! are (mutations then mostly test the parser and the signature checks).
#![no_main]
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use modelseal::bundle::TrustPolicy;
use modelseal::fuzzing;
use modelseal::keys::KeyId;
use modelseal::manifest::{DigestParams, Manifest, Tool};
use modelseal::signing::SignatureCheck;
use modelseal::trust::{Expiry, Requirement, SignedTrustRoot, TrustRoot, verify_chain};

/// A fixed "now" (2026-06-01) so runs are reproducible.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_272_000)
}

fn manifest(name: &str) -> Manifest {
    Manifest {
        schema: modelseal::manifest::SCHEMA.into(),
        name: name.into(),
        version: "1.0.0".into(),
        created: "2026-01-01T00:00:00Z".into(),
        tool: Tool {
            name: "modelseal".into(),
            version: "0.1.0".into(),
        },
        metadata: Default::default(),
        digest: DigestParams {
            algorithm: modelseal::manifest::DIGEST_ALGORITHM.into(),
            chunk_size: 16 << 20,
        },
        files: Vec::new(),
    }
}

fn resign(doc: &[u8]) -> Option<SignedTrustRoot> {
    let value: serde_json::Value = serde_json::from_slice(doc).ok()?;
    let signed = value.get("signed").cloned().unwrap_or(value);
    let root: TrustRoot = serde_json::from_value(signed).ok()?;
    let mut d = SignedTrustRoot::new(root).ok()?;
    for k in modelseal_fuzz::keys::roots() {
        d.sign(&k);
    }
    Some(d)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (resigning, body) = match data.split_first() {
        Some((b'R', rest)) => (true, rest),
        _ => (false, data),
    };
    let mut docs = Vec::new();
    for part in modelseal_fuzz::split_documents(body, 4) {
        let doc = if resigning {
            resign(part)
        } else {
            SignedTrustRoot::parse(part, "fuzz").ok().inspect(|d| {
                assert_eq!(
                    d.to_file_bytes(),
                    part,
                    "accepted a non-canonical trust root"
                );
            })
        };
        match doc {
            Some(d) => docs.push(d),
            None => return,
        }
    }
    let Some((anchor, newer)) = docs.split_first() else {
        return;
    };
    for expiry in [Expiry::Enforce, Expiry::Ignore] {
        let _ = verify_chain(anchor, newer, now(), expiry);
    }
    let Ok(newest) = verify_chain(anchor, newer, now(), Expiry::Ignore) else {
        return;
    };
    // The policy of the newest version, with the signing keys that "signed" chosen by the
    // input's length (every subset is reachable by the fuzzer over runs).
    let root = newest.root().clone();
    let ids: Vec<KeyId> = root.signing_keys.iter().map(|k| k.id()).collect();
    let chosen: BTreeSet<KeyId> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| data.len() >> (i % 16) & 1 == 1)
        .map(|(_, id)| *id)
        .collect();
    let check = SignatureCheck {
        valid: chosen.clone(),
        ..SignatureCheck::default()
    };
    for name in ["fraud-detector", "iris", "a"] {
        for requirement in [Requirement::Threshold, Requirement::AtLeastOne] {
            let policy = fuzzing::trust_root_policy(root.clone(), now(), requirement);
            if let Ok(signers) = policy.accept(&manifest(name), &check) {
                assert!(!signers.is_empty(), "accepted with no signer counting");
                assert!(
                    signers.iter().all(|s| chosen.contains(s)),
                    "a signer that did not sign counts"
                );
            }
            for id in &ids {
                let _ = policy.accept_registry_signer(*id, name, now());
            }
        }
    }
});
