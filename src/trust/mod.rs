//! The trust root: which keys may sign which bundles, when, and how many of them must,
//! itself signed by a threshold of root keys and versioned so it can be rotated, renewed
//! and pinned (`docs/format.md` §9; operations in README.md and SECURITY.md).
//!
//! * [`model`]: the signed content (keys, scopes, validity, status, thresholds);
//! * [`document`]: one signed version — strict parsing, signatures over the exact bytes;
//! * [`chain`]: following versions from a trusted anchor (TUF-style root rotation);
//! * [`store`]: the files (`trust.json`, `trust.d/N.json`, pending version, pin) and
//!   [`load`], the one way to get a [`VerifiedTrustRoot`];
//! * [`edit`]: making the next version;
//! * [`policy`]: judging a bundle's signatures with a verified trust root.

pub mod chain;
pub mod document;
pub mod edit;
mod error;
pub mod model;
pub mod policy;
pub mod store;

pub use chain::{Expiry, MAX_CHAIN_STEPS, verify_chain};
pub use document::{MAX_TRUST_ROOT_BYTES, SignedTrustRoot};
pub use edit::{Change, initial, next_version};
pub use error::TrustError;
pub use model::{
    KeyStatus, RootRole, SCHEMA, ScopePattern, SigningKey, ThresholdRule, Timestamp, TrustRoot,
    TrustedKey,
};
pub use policy::{Requirement, Standing, TrustRootPolicy};
pub use store::{
    Anchor, LoadOptions, Saved, SignatureStatus, TrustFiles, VerifiedTrustRoot, load,
    read_document, reset_pin, save, sign_version,
};

/// Whether `bytes` look like a trust-root file (a JSON object with `signed` and
/// `signatures`) rather than a public key file. Decides how `--trust` is read; the
/// chosen reader then parses strictly.
pub fn looks_like_trust_root(bytes: &[u8]) -> bool {
    crate::canonical::parse_value_lenient_format(bytes, "trust file", MAX_TRUST_ROOT_BYTES)
        .ok()
        .and_then(|v| v.as_object().map(|o| o.contains_key("signed")))
        .unwrap_or(false)
}
