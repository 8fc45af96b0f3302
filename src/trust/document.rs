//! One signed trust-root version: the file `{"signatures": [...], "signed": {...}}`
//! (`docs/format.md` §9.1).
//!
//! The whole file MUST be canonical JSON, so the bytes of the `signed` object inside it
//! are exactly its canonical encoding; signatures are checked over
//! `"modelseal/trust-root/v1\0" ‖ those bytes`, and only then is the content parsed (from
//! the same bytes) and validated. The parsed content must re-encode to exactly the signed
//! bytes, so no two encodings of one trust root exist.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{RootRole, TrustError, TrustRoot};
use crate::canonical;
use crate::keys::{KeyId, SecretKey};
use crate::signing::{self, MAX_SIGNATURES, SignatureEntry, TRUST_ROOT_CONTEXT};

/// Largest trust-root file accepted.
pub const MAX_TRUST_ROOT_BYTES: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    signatures: Vec<SignatureEntry>,
    signed: serde_json::Value,
}

/// A parsed (not yet trusted) trust-root version with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTrustRoot {
    root: TrustRoot,
    signed_bytes: Vec<u8>,
    signatures: Vec<SignatureEntry>,
}

impl SignedTrustRoot {
    /// Parse a trust-root file strictly. `what` names it in errors. Nothing is trusted yet:
    /// use [`SignedTrustRoot::check_threshold`] or the chain verification.
    pub fn parse(bytes: &[u8], what: &str) -> Result<SignedTrustRoot, TrustError> {
        let encoding = |source| TrustError::Encoding {
            what: what.to_owned(),
            source,
        };
        let invalid = |detail: String| TrustError::Invalid {
            what: what.to_owned(),
            detail,
        };
        let file: TrustFile =
            canonical::parse(bytes, "trust root", MAX_TRUST_ROOT_BYTES).map_err(encoding)?;
        if file.signatures.len() > MAX_SIGNATURES {
            return Err(invalid(format!("more than {MAX_SIGNATURES} signatures")));
        }
        // The file is canonical, so it is exactly `{"signatures":<S>,"signed":<D>}`: take
        // <D> from the bytes received, and check it is the canonical encoding of `signed`.
        let mut prefix = b"{\"signatures\":".to_vec();
        prefix.extend(canonical::to_vec(&file.signatures).map_err(|e| invalid(e.to_string()))?);
        prefix.extend_from_slice(b",\"signed\":");
        let signed_bytes = bytes
            .strip_prefix(prefix.as_slice())
            .and_then(|rest| rest.strip_suffix(b"}"))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                invalid("the file is not laid out as {\"signatures\",\"signed\"}".into())
            })?;
        if serde_json::to_vec(&file.signed).ok().as_deref() != Some(signed_bytes.as_slice()) {
            return Err(invalid("the signed object is not in canonical form".into()));
        }
        let root: TrustRoot = canonical::parse(&signed_bytes, "trust root", MAX_TRUST_ROOT_BYTES)
            .map_err(encoding)?;
        if canonical::to_vec(&root).ok().as_deref() != Some(signed_bytes.as_slice()) {
            return Err(invalid(
                "the signed content is not in its one canonical form (e.g. an explicit null)"
                    .into(),
            ));
        }
        root.validate().map_err(invalid)?;
        Ok(SignedTrustRoot {
            root,
            signed_bytes,
            signatures: file.signatures,
        })
    }

    /// An unsigned document for `root` (validated).
    pub fn new(root: TrustRoot) -> Result<SignedTrustRoot, TrustError> {
        let what = format!("trust root version {}", root.version);
        root.validate().map_err(|detail| TrustError::Invalid {
            what: what.clone(),
            detail,
        })?;
        let signed_bytes = canonical::to_vec(&root).map_err(|e| TrustError::Invalid {
            what,
            detail: e.to_string(),
        })?;
        Ok(SignedTrustRoot {
            root,
            signed_bytes,
            signatures: Vec::new(),
        })
    }

    /// The content (not trusted by itself).
    pub fn root(&self) -> &TrustRoot {
        &self.root
    }

    /// The version number.
    pub fn version(&self) -> u64 {
        self.root.version
    }

    /// The exact signed bytes.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed_bytes
    }

    /// The signatures, in the order they were added.
    pub fn signatures(&self) -> &[SignatureEntry] {
        &self.signatures
    }

    /// Add (or replace) `key`'s signature.
    pub fn sign(&mut self, key: &SecretKey) {
        self.signatures.retain(|s| s.key_id != key.id());
        self.signatures
            .push(signing::sign(key, TRUST_ROOT_CONTEXT, &self.signed_bytes));
    }

    /// The canonical file bytes.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let file = TrustFile {
            signatures: self.signatures.clone(),
            signed: serde_json::from_slice(&self.signed_bytes).unwrap_or_default(),
        };
        canonical::to_vec(&file).unwrap_or_default()
    }

    /// Distinct keys of `role` with a valid signature. A signature by a key of `role` that
    /// does not verify is an error (the file was altered); signatures by other keys are
    /// ignored. Each key counts once however often it signed (GHSA-r7vq-6425-j94w).
    pub fn valid_signers(&self, role: &RootRole) -> Result<BTreeSet<KeyId>, TrustError> {
        let check = signing::check(
            &self.signatures,
            TRUST_ROOT_CONTEXT,
            &self.signed_bytes,
            &role.public_keys(),
        );
        if let Some(key) = check.invalid.first() {
            return Err(TrustError::BadSignature {
                version: self.version(),
                key: *key,
            });
        }
        Ok(check.valid)
    }

    /// Require `role.threshold` distinct valid signatures by keys of `role`. `role_name`
    /// describes the role in the error ("of its own root keys", "root keys of version 3").
    pub fn check_threshold(&self, role: &RootRole, role_name: &str) -> Result<(), TrustError> {
        let signers = self.valid_signers(role)?;
        if signers.len() < role.threshold as usize {
            return Err(TrustError::Threshold {
                version: self.version(),
                role: role_name.to_owned(),
                have: signers.len(),
                need: role.threshold,
                signers: signers.into_iter().collect(),
            });
        }
        Ok(())
    }
}
