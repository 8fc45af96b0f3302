//! Why a trust root, a chain of versions or a change to the trust root is refused.

use std::path::PathBuf;

use super::Timestamp;
use crate::canonical::CanonicalError;
use crate::keys::KeyId;

/// A trust root cannot be read, verified or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not canonical JSON of the trust-root schema (§9.1).
    #[error("{what}: {source}")]
    Encoding {
        /// The file or version.
        what: String,
        /// The encoding problem.
        #[source]
        source: CanonicalError,
    },
    /// Well-formed JSON whose content breaks a rule of §9 (field named in the detail).
    #[error("{what}: {detail}")]
    Invalid {
        /// The file or version.
        what: String,
        /// The rule broken.
        detail: String,
    },
    /// A signature by a root key does not verify over the signed bytes.
    #[error(
        "trust root version {version}: the signature by root key {key} does not verify (the file was altered)"
    )]
    BadSignature {
        /// The version.
        version: u64,
        /// The key.
        key: KeyId,
    },
    /// Fewer distinct root keys signed than the threshold requires.
    #[error(
        "trust root version {version} is signed by {have} of the {need} required {role} (valid signers: {})",
        list(.signers)
    )]
    Threshold {
        /// The version being checked.
        version: u64,
        /// `"root keys of version N"` (the previous version) or `"of its own root keys"`.
        role: String,
        /// Distinct valid signers.
        have: usize,
        /// The threshold.
        need: u32,
        /// Who signed validly.
        signers: Vec<KeyId>,
    },
    /// A version follows another that is not its predecessor.
    #[error("trust root version {found} cannot follow version {previous}: versions must be consecutive (expected {})", previous.saturating_add(1))]
    VersionGap {
        /// The previous version.
        previous: u64,
        /// The version found.
        found: u64,
    },
    /// An intermediate version needed to follow the chain is not available.
    #[error(
        "trust root version {version} is missing ({path}); every version between the pinned one and the newest is needed"
    )]
    MissingVersion {
        /// The version.
        version: u64,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The trust root is older than the version already pinned (a rollback).
    #[error(
        "trust root version {found} is older than version {pinned}, already verified on this machine (rollback refused)"
    )]
    Rollback {
        /// The pinned version.
        pinned: u64,
        /// The version offered.
        found: u64,
    },
    /// Two different documents claim the same version.
    #[error(
        "trust root version {version} differs from the version {version} pinned on this machine (two different documents with one version number)"
    )]
    Equivocation {
        /// The version.
        version: u64,
    },
    /// The newest trust root has expired (a freeze attack, or it was not renewed).
    #[error("trust root version {version} expired on {expires}")]
    Expired {
        /// The version.
        version: u64,
        /// When it expired.
        expires: Timestamp,
    },
    /// More versions to follow than allowed in one verification.
    #[error("following trust root versions {from} to {to} takes more than {max} steps")]
    ChainTooLong {
        /// The anchor version.
        from: u64,
        /// The newest version.
        to: u64,
        /// The cap.
        max: u64,
    },
    /// A requested change cannot be made.
    #[error("{0}")]
    Edit(String),
}

fn list(ids: &[KeyId]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
