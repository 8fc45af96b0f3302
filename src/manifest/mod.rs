//! The manifest: what a bundle contains (every file's path, size and digest) and its signed
//! metadata. Written once canonically by [`Manifest::to_bytes`]; read strictly by
//! [`Manifest::parse`] (`docs/format.md` §Manifest).

pub mod path;

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::{self, CanonicalError};
use crate::digest::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, Sha256Digest};
pub use path::{MemberPath, PathError};

/// The schema identifier of this manifest version.
pub const SCHEMA: &str = "modelseal-manifest-v1";
/// The digest algorithm identifier (see `crate::digest`).
pub const DIGEST_ALGORITHM: &str = "sha256-chunked-v1";
/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 64 << 20;
/// Most files a bundle may list.
pub const MAX_FILES: usize = 1_000_000;
/// Largest user metadata document, in bytes (canonical encoding).
pub const MAX_METADATA_BYTES: usize = 1 << 20;
/// Longest bundle name or version.
pub const MAX_LABEL_LEN: usize = 128;

/// A manifest that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not canonical JSON of the manifest schema.
    #[error(transparent)]
    Encoding(#[from] CanonicalError),
    /// The schema field names another format or version.
    #[error("unsupported manifest schema {0:?} (this modelseal reads {SCHEMA:?})")]
    Schema(String),
    /// Unknown digest algorithm or chunk size outside the allowed range.
    #[error("unsupported digest parameters: {0}")]
    Digest(String),
    /// Name or version is empty, too long or uses other characters.
    #[error(
        "invalid {field} {value:?}: use 1-{MAX_LABEL_LEN} characters from A-Z a-z 0-9 . _ - + (starting with a letter or digit)"
    )]
    Label {
        /// `name` or `version`.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// `created` is not an RFC 3339 UTC timestamp.
    #[error("invalid creation time {0:?}")]
    Created(String),
    /// Files are not sorted by path, or a path repeats.
    #[error("file list is not sorted by path or repeats {0}")]
    Order(MemberPath),
    /// Two paths differ only by case.
    #[error("paths {0} and {1} differ only by letter case")]
    CaseCollision(MemberPath, MemberPath),
    /// A file path is also used as a directory by another file.
    #[error("{0} is a file but {1} uses it as a directory")]
    FileIsDirectory(MemberPath, MemberPath),
    /// More than [`MAX_FILES`] files.
    #[error("more than {MAX_FILES} files")]
    TooManyFiles,
    /// The user metadata is too large.
    #[error("metadata larger than {MAX_METADATA_BYTES} bytes")]
    MetadataTooLarge,
}

/// Identifies the program that wrote the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Always `modelseal` for bundles written by this tool.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// How file digests are computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestParams {
    /// [`DIGEST_ALGORITHM`].
    pub algorithm: String,
    /// Chunk size in bytes: a power of two between 1 MiB and 1 GiB.
    pub chunk_size: u64,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the bundle (the zip member is `files/<path>`).
    pub path: MemberPath,
    /// Size in bytes.
    pub size: u64,
    /// Chunked SHA-256 digest.
    pub digest: Sha256Digest,
    /// Present when the member is deflated: binds the exact compressed bytes too, so no
    /// other deflate encoding of the same content (or flipped padding bits) verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate: Option<Deflated>,
}

/// The compressed form of a deflated member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deflated {
    /// Compressed size in bytes.
    pub size: u64,
    /// Plain SHA-256 of the compressed bytes.
    pub digest: Sha256Digest,
}

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`SCHEMA`].
    pub schema: String,
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Creation time, RFC 3339 UTC with seconds (`2026-11-23T12:00:00Z`).
    pub created: String,
    /// The program that wrote the bundle.
    pub tool: Tool,
    /// The user's metadata (framework, library versions, metrics, hyperparameters, …).
    pub metadata: Map<String, Value>,
    /// Digest parameters.
    pub digest: DigestParams,
    /// Every file, sorted by path.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// The canonical encoding (what gets signed).
    pub fn to_bytes(&self) -> Vec<u8> {
        // A manifest holds only strings, integers and JSON values: encoding cannot fail.
        canonical::to_vec(self).unwrap_or_default()
    }

    /// Parse and validate manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = canonical::parse(bytes, "manifest.json", MAX_MANIFEST_BYTES)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Check every rule that the JSON schema alone does not express.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.schema != SCHEMA {
            return Err(ManifestError::Schema(self.schema.clone()));
        }
        validate_label("name", &self.name)?;
        validate_label("version", &self.version)?;
        parse_timestamp(&self.created)
            .ok_or_else(|| ManifestError::Created(self.created.clone()))?;
        if self.digest.algorithm != DIGEST_ALGORITHM {
            return Err(ManifestError::Digest(format!(
                "algorithm {:?}",
                self.digest.algorithm
            )));
        }
        let c = self.digest.chunk_size;
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&c) || !c.is_power_of_two() {
            return Err(ManifestError::Digest(format!("chunk size {c}")));
        }
        if self.files.len() > MAX_FILES {
            return Err(ManifestError::TooManyFiles);
        }
        for pair in self.files.windows(2) {
            if pair[0].path >= pair[1].path {
                return Err(ManifestError::Order(pair[1].path.clone()));
            }
        }
        check_case_collisions(self.files.iter().map(|f| &f.path))?;
        let metadata_len = canonical::to_vec(&self.metadata).map_or(usize::MAX, |v| v.len());
        if metadata_len > MAX_METADATA_BYTES {
            return Err(ManifestError::MetadataTooLarge);
        }
        Ok(())
    }

    /// The entry for `path`, if listed.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// Total size of all files.
    pub fn total_size(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |acc, f| acc.saturating_add(f.size))
    }
}

/// Refuse two paths that differ only by letter case, and a file path that another path
/// uses as a directory (`a` and `a/b`): neither can be extracted faithfully.
pub fn check_case_collisions<'a>(
    paths: impl Iterator<Item = &'a MemberPath> + Clone,
) -> Result<(), ManifestError> {
    let mut seen = std::collections::BTreeMap::new();
    let mut dirs = std::collections::BTreeMap::new();
    for p in paths.clone() {
        if let Some(prev) = seen.insert(p.case_fold_key(), p)
            && prev != p
        {
            return Err(ManifestError::CaseCollision(prev.clone(), p.clone()));
        }
        let key = p.case_fold_key();
        let mut end = 0;
        while let Some(slash) = key[end..].find('/') {
            end += slash;
            dirs.entry(key[..end].to_string()).or_insert(p);
            end += 1;
        }
    }
    for p in paths {
        if let Some(user) = dirs.get(&p.case_fold_key()) {
            return Err(ManifestError::FileIsDirectory(p.clone(), (*user).clone()));
        }
    }
    Ok(())
}

/// Check a bundle name or version.
pub fn validate_label(field: &'static str, value: &str) -> Result<(), ManifestError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_LABEL_LEN
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Label {
            field,
            value: value.chars().take(200).collect(),
        })
    }
}

/// Format a time as RFC 3339 UTC with seconds.
///
/// Times before 1970 or after 9999-12-31T23:59:59Z (which RFC 3339 cannot express) are
/// clamped to those bounds; callers taking times from users validate them first.
pub fn format_timestamp(t: SystemTime) -> String {
    let t = t.clamp(SystemTime::UNIX_EPOCH, max_timestamp());
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The latest time RFC 3339 can express: 9999-12-31T23:59:59Z.
pub fn max_timestamp() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799)
}

/// Parse an RFC 3339 UTC timestamp with seconds (`2026-11-23T12:00:00Z`), strictly.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let t = humantime::parse_rfc3339(s).ok()?;
    (format_timestamp(t) == s).then_some(t)
}

/// Distinct paths of a file list (helper for callers that build manifests).
pub fn unique_paths(files: &[FileEntry]) -> BTreeSet<&MemberPath> {
    files.iter().map(|f| &f.path).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            schema: SCHEMA.into(),
            name: "iris".into(),
            version: "1.0.0".into(),
            created: "2026-11-23T12:00:00Z".into(),
            tool: Tool {
                name: "modelseal".into(),
                version: "0.1.0".into(),
            },
            metadata: serde_json::json!({"framework": "sklearn", "metrics": {"accuracy": 0.97}})
                .as_object()
                .cloned()
                .unwrap(),
            digest: DigestParams {
                algorithm: DIGEST_ALGORITHM.into(),
                chunk_size: 16 << 20,
            },
            files: vec![
                FileEntry {
                    path: MemberPath::new("a.json").unwrap(),
                    size: 3,
                    digest: Sha256Digest::of(b"abc"),
                    deflate: Some(Deflated {
                        size: 5,
                        digest: Sha256Digest::of(b"xyzzy"),
                    }),
                },
                FileEntry {
                    path: MemberPath::new("b/model.pkl").unwrap(),
                    size: 0,
                    digest: Sha256Digest::of(b""),
                    deflate: None,
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(Manifest::parse(&bytes).unwrap(), m);
        assert!(m.file("b/model.pkl").is_some());
        assert!(m.file("b").is_none());
    }

    #[test]
    fn unsorted_duplicate_and_case_colliding_files_are_refused() {
        let mut m = sample();
        m.files.swap(0, 1);
        assert!(matches!(
            Manifest::parse(&m.to_bytes()),
            Err(ManifestError::Order(_))
        ));
        let mut m = sample();
        m.files[1] = m.files[0].clone();
        assert!(matches!(
            Manifest::parse(&m.to_bytes()),
            Err(ManifestError::Order(_))
        ));
        let mut m = sample();
        m.files[1].path = MemberPath::new("A.json").unwrap();
        m.files.swap(0, 1);
        assert!(matches!(
            Manifest::parse(&m.to_bytes()),
            Err(ManifestError::CaseCollision(..))
        ));
    }

    #[test]
    fn unknown_fields_and_bad_paths_are_schema_errors() {
        let bytes = sample().to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        let extra = text.replacen("{\"created\"", "{\"aaa\":1,\"created\"", 1);
        assert!(matches!(
            Manifest::parse(extra.as_bytes()),
            Err(ManifestError::Encoding(CanonicalError::Schema { .. }))
        ));
        let traversal = text.replace("b/model.pkl", "../model.pkl");
        assert!(matches!(
            Manifest::parse(traversal.as_bytes()),
            Err(ManifestError::Encoding(CanonicalError::Schema { .. }))
        ));
    }

    #[test]
    fn labels_and_times_are_checked() {
        for bad in ["", "a b", "../x", "-x", "é"] {
            assert!(validate_label("name", bad).is_err(), "{bad:?}");
        }
        assert!(validate_label("version", "1.2.3+build.4").is_ok());
        assert!(parse_timestamp("2026-11-23T12:00:00Z").is_some());
        assert!(parse_timestamp("2026-11-23T12:00:00.5Z").is_none());
        assert!(parse_timestamp("2026-11-23 12:00:00Z").is_none());
        let far = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::MAX / 4);
        assert_eq!(format_timestamp(far), "9999-12-31T23:59:59Z");
    }
}
