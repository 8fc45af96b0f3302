//! Signed bundles: one zip file holding the model files under `files/`, the manifest
//! (`manifest.json`) that lists every file's path, size and digest with the signed
//! metadata, and the signatures over the manifest (`signatures.json`).
//!
//! [`sign()`] writes a bundle; [`verify()`] checks one and returns a [`VerifiedBundle`], the
//! only way to read members. The container rules are in [`zip`]; the normative
//! description is `docs/format.md`.

mod collect;
mod extract;
mod sign;
pub mod source;
mod verify;
pub mod zip;

pub use collect::{CollectError, CollectOptions, InputFile};
pub use sign::{SignError, SignOptions, SignSummary, add_signature, sign};
pub(crate) use verify::{AnySignature, read_unverified_open, verify_open};
pub use verify::{
    MemberReader, Problem, TrustPolicy, TrustedKeys, UnverifiedBundle, VerifiedBundle,
    VerifiedTree, VerifyError, VerifyOptions, read_unverified, verify, verify_detached,
};

/// Name of the manifest member.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Name of the signatures member.
pub const SIGNATURES_NAME: &str = "signatures.json";
/// Prefix of every model file's member name.
pub const FILES_PREFIX: &str = "files/";

/// A cheap guess at whether `path` is a modelseal bundle rather than some other file (a
/// model to import): a zip whose first member is a model file (`files/…`), as every bundle
/// written by [`sign()`] is. Proves nothing: [`verify()`] decides.
pub fn looks_like_bundle(path: &std::path::Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 30 + FILES_PREFIX.len()];
    let mut f = std::fs::File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        match f.read(&mut head[filled..])? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(head[..4] == *b"PK\x03\x04" && head[30..] == *FILES_PREFIX.as_bytes())
}
