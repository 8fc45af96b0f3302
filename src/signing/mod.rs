//! The signature envelope (`signatures.json`) and domain-separated Ed25519 signing of
//! canonical documents (`docs/format.md` §Signatures).
//!
//! The signed message is `CONTEXT ‖ document bytes`, where `CONTEXT` names the kind of
//! document (a manifest signature can never be replayed as a trust-root signature), and the
//! document bytes are exactly the bytes stored in the bundle.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::canonical::{self, CanonicalError};
use crate::keys::{KeyId, PublicKey, SecretKey};

/// Domain separation for manifest signatures.
pub const MANIFEST_CONTEXT: &[u8] = b"modelseal/manifest/v1\0";
/// Domain separation for trust-root signatures.
pub const TRUST_ROOT_CONTEXT: &[u8] = b"modelseal/trust-root/v1\0";
/// Domain separation for registry log entries (`docs/format.md` §10.2).
pub const REGISTRY_LOG_CONTEXT: &[u8] = b"modelseal/registry-log/v1\0";
/// Schema id of `signatures.json`.
pub const SCHEMA: &str = "modelseal-signatures-v1";
/// Largest `signatures.json` accepted.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// Most signatures an envelope may hold.
pub const MAX_SIGNATURES: usize = 256;

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// Id of the signing key.
    pub key_id: KeyId,
    /// Always `ed25519`.
    pub algorithm: String,
    /// Base64 of the 64-byte signature.
    pub signature: String,
}

/// The contents of `signatures.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEnvelope {
    /// [`SCHEMA`].
    pub schema: String,
    /// The signatures, in the order they were added.
    pub signatures: Vec<SignatureEntry>,
}

/// A signature envelope that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not canonical JSON of the envelope schema.
    #[error(transparent)]
    Encoding(#[from] CanonicalError),
    /// Another schema.
    #[error("unsupported signatures schema {0:?}")]
    Schema(String),
    /// Too many signatures.
    #[error("more than {MAX_SIGNATURES} signatures")]
    TooMany,
    /// No signatures at all.
    #[error("no signatures")]
    Empty,
}

impl SignatureEnvelope {
    /// An envelope holding `signatures`.
    pub fn new(signatures: Vec<SignatureEntry>) -> Self {
        SignatureEnvelope {
            schema: SCHEMA.into(),
            signatures,
        }
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        canonical::to_vec(self).unwrap_or_default()
    }

    /// Parse strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let env: SignatureEnvelope =
            canonical::parse(bytes, "signatures.json", MAX_ENVELOPE_BYTES)?;
        if env.schema != SCHEMA {
            return Err(EnvelopeError::Schema(env.schema));
        }
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(EnvelopeError::TooMany);
        }
        if env.signatures.is_empty() {
            return Err(EnvelopeError::Empty);
        }
        Ok(env)
    }
}

/// Sign `document` (exact bytes) under `context`.
pub fn sign(key: &SecretKey, context: &[u8], document: &[u8]) -> SignatureEntry {
    let sig = key.sign(&message(context, document));
    SignatureEntry {
        key_id: key.id(),
        algorithm: "ed25519".into(),
        signature: B64.encode(sig),
    }
}

fn message(context: &[u8], document: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + document.len());
    m.extend_from_slice(context);
    m.extend_from_slice(document);
    m
}

/// What the signatures of a document prove, given a set of trusted keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureCheck {
    /// Trusted keys with a valid signature (each key once).
    pub valid: BTreeSet<KeyId>,
    /// Trusted keys whose signature does not verify.
    pub invalid: BTreeSet<KeyId>,
    /// Signatures by keys that are not trusted (not checked).
    pub untrusted: BTreeSet<KeyId>,
}

/// Check every signature of `entries` over `document` against `trusted`. A key that signed
/// twice counts once; it is valid if any of its signatures verifies.
pub fn check(
    entries: &[SignatureEntry],
    context: &[u8],
    document: &[u8],
    trusted: &[PublicKey],
) -> SignatureCheck {
    let msg = message(context, document);
    let mut out = SignatureCheck::default();
    for entry in entries {
        let Some(key) = trusted.iter().find(|k| k.id() == entry.key_id) else {
            out.untrusted.insert(entry.key_id);
            continue;
        };
        let ok = entry.algorithm == "ed25519"
            && B64
                .decode(&entry.signature)
                .ok()
                .and_then(|raw| <[u8; 64]>::try_from(raw.as_slice()).ok())
                .is_some_and(|sig| key.verify(&msg, &sig));
        if ok {
            out.valid.insert(entry.key_id);
        } else {
            out.invalid.insert(entry.key_id);
        }
    }
    // A key with one good signature is valid even if another entry by it is broken.
    let valid = out.valid.clone();
    out.invalid.retain(|k| !valid.contains(k));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_domain_separated() {
        let k = SecretKey::generate("t").unwrap();
        let e = sign(&k, MANIFEST_CONTEXT, b"doc");
        let trusted = [k.public().clone()];
        assert_eq!(
            check(std::slice::from_ref(&e), MANIFEST_CONTEXT, b"doc", &trusted)
                .valid
                .len(),
            1
        );
        let r = check(
            std::slice::from_ref(&e),
            TRUST_ROOT_CONTEXT,
            b"doc",
            &trusted,
        );
        assert!(r.valid.is_empty());
        assert_eq!(r.invalid.len(), 1);
        let r = check(&[e], MANIFEST_CONTEXT, b"doc2", &trusted);
        assert_eq!(r.invalid.len(), 1);
    }

    #[test]
    fn duplicates_count_once_and_untrusted_are_listed() {
        let k = SecretKey::generate("t").unwrap();
        let other = SecretKey::generate("o").unwrap();
        let e = sign(&k, MANIFEST_CONTEXT, b"doc");
        let r = check(
            &[e.clone(), e, sign(&other, MANIFEST_CONTEXT, b"doc")],
            MANIFEST_CONTEXT,
            b"doc",
            &[k.public().clone()],
        );
        assert_eq!(r.valid.len(), 1);
        assert_eq!(r.untrusted.len(), 1);
    }

    #[test]
    fn envelope_round_trip_and_strictness() {
        let k = SecretKey::generate("t").unwrap();
        let env = SignatureEnvelope::new(vec![sign(&k, MANIFEST_CONTEXT, b"x")]);
        let bytes = env.to_bytes();
        assert_eq!(SignatureEnvelope::parse(&bytes).unwrap(), env);
        assert!(matches!(
            SignatureEnvelope::parse(&SignatureEnvelope::new(vec![]).to_bytes()),
            Err(EnvelopeError::Empty)
        ));
        let mut pretty = serde_json::to_vec_pretty(&env).unwrap();
        assert!(SignatureEnvelope::parse(&pretty).is_err());
        pretty.clear();
    }
}
