//! The storage boundary of the registry (`docs/format.md` §10.1): immutable blobs
//! addressed by their SHA-256 and an append-only log of numbered entries.
//!
//! A backend only stores bytes. It is not trusted: everything read through it is checked
//! by the caller (blob digests, the signed hash chain of the log). What a backend MUST
//! provide is atomicity: a blob or log entry is either absent or complete, and
//! [`Store::create_log`] creates an entry only if that index is free (compare-and-swap),
//! so two writers can never both append at one index.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;

/// Largest log entry accepted, in bytes.
pub const MAX_LOG_ENTRY_BYTES: usize = 64 << 10;
/// Highest log index (entry names have exactly nine digits: `log/000000123.json`).
pub const MAX_LOG_INDEX: u64 = 999_999_999;
/// Largest `registry.json` accepted, in bytes.
pub const MAX_MARKER_BYTES: usize = 4 << 10;
/// Schema id of `registry.json`, the marker that says a location holds a registry.
pub const REGISTRY_SCHEMA: &str = "modelseal-registry-v1";

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// The object or file concerned.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The blob or log entry does not exist.
    #[error("{0} does not exist in the registry")]
    NotFound(String),
    /// [`Store::create_log`]: another writer created this index first.
    #[error("log entry {0} already exists (another writer appended first)")]
    Conflict(u64),
    /// The store holds something that no modelseal writer produces.
    #[error("the registry store is corrupt: {0}")]
    Corrupt(String),
    /// The location does not hold a registry.
    #[error("{0} is not a modelseal registry (no registry.json)")]
    NoRegistry(String),
    /// The location cannot be used (unsupported scheme, backend not compiled in, …).
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    /// An I/O error about `what`.
    pub fn io(what: impl fmt::Display) -> impl FnOnce(io::Error) -> StoreError {
        let what = what.to_string();
        move |source| StoreError::Io { what, source }
    }
}

/// Where a registry's objects live. Implementations: [`super::LocalStore`] (a directory,
/// the default) and, with the `object-store` feature, `ObjectStoreBackend`.
pub trait Store: Send + Sync + fmt::Debug {
    /// A description for messages (the path or URL).
    fn location(&self) -> String;

    /// Write the blob `digest` to `out`. [`StoreError::NotFound`] if absent. The bytes are
    /// NOT checked here: callers hash what they receive.
    fn get_blob(&self, digest: &Sha256Digest, out: &mut dyn Write) -> Result<u64, StoreError>;

    /// Whether the blob `digest` exists.
    fn has_blob(&self, digest: &Sha256Digest) -> Result<bool, StoreError>;

    /// Store the local file `src`, whose SHA-256 the caller computed as `digest`, unless a
    /// blob with that digest exists. The blob appears complete or not at all.
    fn put_blob(&self, digest: &Sha256Digest, src: &Path) -> Result<(), StoreError>;

    /// Every blob digest in the store.
    fn list_blobs(&self) -> Result<Vec<Sha256Digest>, StoreError>;

    /// Indexes of the log entries present with index `>= from`, ascending.
    fn log_indexes(&self, from: u64) -> Result<Vec<u64>, StoreError>;

    /// The bytes of log entry `index` (at most [`MAX_LOG_ENTRY_BYTES`]).
    fn read_log(&self, index: u64) -> Result<Vec<u8>, StoreError>;

    /// Create log entry `index` with `bytes`, only if no entry `index` exists
    /// ([`StoreError::Conflict`] otherwise). Atomic: readers see all of it or nothing.
    fn create_log(&self, index: u64, bytes: &[u8]) -> Result<(), StoreError>;

    /// A directory on the same file system as the blobs, where a caller may prepare a
    /// file that [`Store::put_blob`] can then move in without copying (local stores only).
    fn staging_dir(&self) -> Option<&Path> {
        None
    }
}

/// The file name of log entry `index` (`000000123.json`).
pub fn log_entry_name(index: u64) -> String {
    format!("{index:09}.json")
}

/// Parse a log entry file name; only the exact form [`log_entry_name`] writes is accepted.
pub fn parse_log_entry_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The canonical content of `registry.json`.
pub fn marker_bytes() -> Vec<u8> {
    format!("{{\"schema\":\"{REGISTRY_SCHEMA}\"}}").into_bytes()
}

/// Check the content of `registry.json`.
pub fn check_marker(bytes: &[u8], location: &str) -> Result<(), StoreError> {
    if bytes == marker_bytes().as_slice() {
        return Ok(());
    }
    Err(StoreError::Corrupt(format!(
        "{location}/registry.json is not {{\"schema\":\"{REGISTRY_SCHEMA}\"}} (a newer or foreign registry?)"
    )))
}

/// Copy `reader` to `writer`, returning the SHA-256 of the bytes copied and their count.
pub fn copy_hashing(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
) -> io::Result<(Sha256Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        writer.write_all(chunk)?;
        total = total.saturating_add(n as u64);
    }
    Ok((Sha256Digest(hasher.finalize().into()), total))
}

/// SHA-256 of a whole file (the blob address of a bundle).
pub fn hash_file(path: &Path) -> io::Result<(Sha256Digest, u64)> {
    let mut f = std::fs::File::open(path)?;
    copy_hashing(&mut f, &mut io::sink())
}

/// A temporary file for staging a download or upload; removed on drop.
pub(crate) fn staging_file(
    dir: Option<&Path>,
    prefix: &str,
) -> io::Result<tempfile::NamedTempFile> {
    let dir: PathBuf = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir(),
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entry_names_round_trip_and_are_strict() {
        assert_eq!(log_entry_name(123), "000000123.json");
        assert_eq!(parse_log_entry_name("000000123.json"), Some(123));
        assert_eq!(
            parse_log_entry_name(&log_entry_name(MAX_LOG_INDEX)),
            Some(MAX_LOG_INDEX)
        );
        for bad in [
            "123.json",
            "0000000123.json",
            "00000012a.json",
            "000000123.JSON",
            "+00000123.json",
            ".000000123.json",
            "000000123.json.tmp",
        ] {
            assert_eq!(parse_log_entry_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn copy_hashing_matches_sha256() {
        let data = vec![7u8; 200_000];
        let mut out = Vec::new();
        let (d, n) = copy_hashing(&mut data.as_slice(), &mut out).unwrap();
        assert_eq!(n, 200_000);
        assert_eq!(out, data);
        assert_eq!(d, Sha256Digest::of(&data));
    }
}
