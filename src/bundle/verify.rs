//! Verifying a bundle: container structure, signatures, manifest, then every member's
//! size and digest. Only a bundle that passes every check yields a [`VerifiedBundle`].
//!
//! Order matters: the zip structure is checked first (nothing else is read from an
//! ambiguous file), then the signatures over the exact manifest bytes (nothing is hashed
//! for an untrusted bundle), then the manifest is parsed and every member is hashed on all
//! cores. Problems found in the last stage are all reported, one per file.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::DeflateDecoder;

use super::extract::Extraction;
use super::source::ReadAt;
use super::zip::{self, Entry, Method, ZipError, ZipLimits};
use super::{FILES_PREFIX, MANIFEST_NAME, SIGNATURES_NAME};
use crate::digest::parallel::{self, Engine, Sink, Source, Target, Task, TaskError};
use crate::digest::{Sha256Digest, StreamingDigest};
use crate::keys::{KeyId, PublicKey};
use crate::manifest::{self, Manifest, ManifestError, MemberPath, PathError};
use crate::signing::{self, EnvelopeError, SignatureCheck, SignatureEnvelope};

/// Decides which signatures make a bundle trusted.
pub trait TrustPolicy {
    /// The keys whose signatures are checked.
    fn keys(&self) -> Vec<PublicKey>;
    /// Whether `check` (valid, invalid and untrusted signers) is enough for a bundle with
    /// this manifest. Returns the signers that count, or the problems.
    fn accept(
        &self,
        manifest: &Manifest,
        check: &SignatureCheck,
    ) -> Result<Vec<KeyId>, Vec<Problem>>;
    /// Whether `signer`, one of [`TrustPolicy::keys`] with a valid signature over a
    /// registry log entry about model `name` made at `time` (claimed by the signer), may
    /// act in a registry (publish, promote, roll back). An `Err` gives the reason; the entry
    /// is then ignored. By default every key of [`TrustPolicy::keys`] may act; policies
    /// with revocation, expiry or scopes MUST override this.
    fn accept_registry_signer(
        &self,
        signer: KeyId,
        name: &str,
        time: std::time::SystemTime,
    ) -> Result<(), String> {
        let _ = (name, time);
        if self.keys().iter().any(|k| k.id() == signer) {
            Ok(())
        } else {
            Err(format!("key {signer} is not trusted"))
        }
    }
}

/// The simple policy: one valid signature by any of these keys.
#[derive(Debug, Clone)]
pub struct TrustedKeys(pub Vec<PublicKey>);

impl TrustPolicy for TrustedKeys {
    fn keys(&self) -> Vec<PublicKey> {
        self.0.clone()
    }
    fn accept(
        &self,
        _manifest: &Manifest,
        check: &SignatureCheck,
    ) -> Result<Vec<KeyId>, Vec<Problem>> {
        if check.valid.is_empty() {
            return Err(vec![Problem::NoTrustedSignature {
                signers: check.untrusted.iter().copied().collect(),
            }]);
        }
        Ok(check.valid.iter().copied().collect())
    }
}

/// Accepts any signature envelope without checking it (countersigning without `--trust`:
/// the content is still fully verified against the manifest).
pub(crate) struct AnySignature;

impl TrustPolicy for AnySignature {
    fn keys(&self) -> Vec<PublicKey> {
        Vec::new()
    }
    fn accept(&self, _: &Manifest, check: &SignatureCheck) -> Result<Vec<KeyId>, Vec<Problem>> {
        Ok(check.untrusted.iter().copied().collect())
    }
}

/// How to verify.
#[derive(Clone)]
pub struct VerifyOptions {
    /// Container limits.
    pub zip_limits: ZipLimits,
    /// Worker threads for hashing.
    pub threads: usize,
    /// Extract the files into this directory once everything verified (atomically).
    pub extract_to: Option<PathBuf>,
    /// Called with the number of bytes just hashed.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            zip_limits: ZipLimits::default(),
            threads: parallel::default_threads(),
            extract_to: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("zip_limits", &self.zip_limits)
            .field("threads", &self.threads)
            .field("extract_to", &self.extract_to)
            .finish_non_exhaustive()
    }
}

/// One reason a bundle is rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The zip container is invalid or ambiguous.
    #[error("{0}")]
    Container(#[from] ZipError),
    /// `manifest.json` is not the second-to-last member.
    #[error("manifest.json is missing or not in its place (second-to-last member)")]
    MissingManifest,
    /// `signatures.json` is not the last member.
    #[error("signatures.json is missing or not in its place (last member)")]
    MissingSignatures,
    /// A metadata member is larger than its limit.
    #[error("{name} is {size} bytes, over the {limit}-byte limit")]
    MetadataTooLarge {
        /// Member.
        name: &'static str,
        /// Declared size.
        size: u64,
        /// Limit.
        limit: usize,
    },
    /// The signature envelope is malformed.
    #[error("signatures.json: {0}")]
    Signatures(#[from] EnvelopeError),
    /// A trusted key's signature does not verify (manifest or signature altered).
    #[error(
        "signature by trusted key {0} does not verify: the manifest or the signature was altered"
    )]
    InvalidSignature(KeyId),
    /// No valid signature by a trusted key.
    #[error("no valid signature by a trusted key (signed by: {})", list_ids(.signers))]
    NoTrustedSignature {
        /// Key ids that signed, none of them trusted.
        signers: Vec<KeyId>,
    },
    /// The trust policy refused the signers (scope, validity, threshold, revocation…).
    #[error("{0}")]
    Policy(String),
    /// The manifest is malformed.
    #[error("manifest.json: {0}")]
    Manifest(#[from] ManifestError),
    /// A member name is not a valid path.
    #[error("member {name:?} has an invalid name: {error}")]
    BadMemberName {
        /// The zip name.
        name: String,
        /// Why.
        error: PathError,
    },
    /// A member that the manifest does not list.
    #[error("member {0:?} is not listed in the manifest")]
    UnlistedMember(String),
    /// A listed file with no member.
    #[error("file {0} is listed in the manifest but missing from the bundle")]
    MissingFile(MemberPath),
    /// A member whose size differs from the manifest.
    #[error("file {path} is {actual} bytes but the manifest says {expected}")]
    SizeMismatch {
        /// File.
        path: MemberPath,
        /// Manifest size.
        expected: u64,
        /// Member size.
        actual: u64,
    },
    /// A member whose content differs from the manifest.
    #[error("file {0} does not match its digest in the manifest (content modified)")]
    DigestMismatch(MemberPath),
    /// A member stored differently from what the manifest binds (method, compressed size
    /// or compressed bytes): another encoding of the file than the one signed.
    #[error("file {0} is not encoded as signed (compression method or compressed bytes differ)")]
    EncodingMismatch(MemberPath),
    /// A detached bundle (no files inside) given to [`verify`].
    #[error(
        "this is a detached bundle (signatures only): verify it with the model directory (--files DIR)"
    )]
    Detached,
    /// A bundle with files given to [`verify_detached`].
    #[error("this bundle holds its files: verify it without --files")]
    NotDetached,
    /// The directory to verify in place cannot be walked (symlink, special file, bad name…).
    #[error("{0}")]
    Directory(String),
    /// A file in the directory that the manifest does not list.
    #[error("file {0} is not listed in the manifest")]
    UnlistedFile(MemberPath),
    /// A member whose CRC-32 differs from its headers.
    #[error("member {0:?} does not match its CRC-32 (content modified)")]
    CrcMismatch(String),
    /// A deflated member that cannot be inflated to exactly its declared size.
    #[error("member {name:?}: {detail}")]
    Corrupt {
        /// Member.
        name: String,
        /// What is wrong.
        detail: String,
    },
}

fn list_ids(ids: &[KeyId]) -> String {
    if ids.is_empty() {
        return "nobody".into();
    }
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bundle cannot be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The bundle or output path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The bundle is not exactly what a trusted key signed.
    #[error("bundle rejected: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<Problem>),
    /// The extraction directory exists and is not empty.
    #[error("{0} exists and is not an empty directory")]
    DestinationNotEmpty(PathBuf),
    /// No such file in the verified bundle.
    #[error("no file {0:?} in the bundle")]
    NoSuchFile(String),
}

impl VerifyError {
    /// The problems, if the bundle was rejected.
    pub fn problems(&self) -> &[Problem] {
        match self {
            VerifyError::Rejected(p) => p,
            _ => &[],
        }
    }
}

fn reject(p: impl Into<Problem>) -> VerifyError {
    VerifyError::Rejected(vec![p.into()])
}

/// A bundle that passed verification. Only [`verify`] creates one; reading members
/// through it re-checks their digests, so a bundle modified after verification is
/// detected.
#[derive(Debug)]
pub struct VerifiedBundle {
    path: PathBuf,
    file: Arc<File>,
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    envelope: SignatureEnvelope,
    signers: Vec<KeyId>,
    entries: Vec<Entry>,
    members: HashMap<String, usize>,
}

/// Verify the bundle at `path` under `policy`.
pub fn verify(
    path: &Path,
    policy: &dyn TrustPolicy,
    options: &VerifyOptions,
) -> Result<VerifiedBundle, VerifyError> {
    verify_open(path, open_file(path)?, policy, options)
}

/// [`verify`] on a file already open (`path` names it in errors and in the result). The
/// fuzz targets pass an in-memory file here (`crate::fuzzing`).
pub(crate) fn verify_open(
    path: &Path,
    file: Arc<File>,
    policy: &dyn TrustPolicy,
    options: &VerifyOptions,
) -> Result<VerifiedBundle, VerifyError> {
    let Container {
        file,
        entries,
        manifest_bytes,
        signature_bytes,
    } = container(path, file, options.zip_limits)?;
    let n = entries.len();

    let Trusted {
        manifest,
        envelope,
        signers,
    } = check_signatures(&manifest_bytes, &signature_bytes, policy)?;
    if n == 2 && !manifest.files.is_empty() {
        return Err(reject(Problem::Detached));
    }
    let mut problems = Vec::new();

    // Every member is a listed file, every listed file a member of the right size.
    let mut members = HashMap::new();
    for (i, e) in entries[..n - 2].iter().enumerate() {
        let Some(rel) = e.name.strip_prefix(FILES_PREFIX) else {
            problems.push(match MemberPath::new(&e.name) {
                Err(error) => Problem::BadMemberName {
                    name: e.name.clone(),
                    error,
                },
                Ok(_) => Problem::UnlistedMember(e.name.clone()),
            });
            continue;
        };
        if let Err(error) = MemberPath::new(rel) {
            problems.push(Problem::BadMemberName {
                name: e.name.clone(),
                error,
            });
            continue;
        }
        if manifest.file(rel).is_none() {
            problems.push(Problem::UnlistedMember(e.name.clone()));
            continue;
        }
        members.insert(rel.to_string(), i);
    }
    let mut to_hash = Vec::new();
    for f in &manifest.files {
        match members.get(f.path.as_str()) {
            None => problems.push(Problem::MissingFile(f.path.clone())),
            Some(&i) if entries[i].size != f.size => problems.push(Problem::SizeMismatch {
                path: f.path.clone(),
                expected: f.size,
                actual: entries[i].size,
            }),
            Some(&i) => {
                let e = &entries[i];
                let bound = match (f.deflate, e.method) {
                    (None, Method::Stored) => true,
                    (Some(d), Method::Deflated) => d.size == e.compressed_size,
                    _ => false,
                };
                if bound {
                    to_hash.push((f, e));
                } else {
                    problems.push(Problem::EncodingMismatch(f.path.clone()));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(VerifyError::Rejected(problems));
    }

    // Hash everything (copying into a fresh directory when extracting).
    let extraction = match &options.extract_to {
        Some(dest) => Some(Extraction::prepare(dest)?),
        None => None,
    };
    let mut sinks = Vec::with_capacity(to_hash.len());
    for (f, _) in &to_hash {
        sinks.push(match &extraction {
            Some(x) => Some(x.create_file(&f.path, f.size)?),
            None => None,
        });
    }
    let chunk_size = manifest.digest.chunk_size;
    let mut tasks = Vec::new();
    let mut task_files = Vec::new();
    for ((f, e), sink) in to_hash.iter().zip(&sinks) {
        match e.method {
            Method::Stored => {
                tasks.push(Task {
                    source: Source::File {
                        file: file.clone(),
                        offset: e.data_offset,
                    },
                    size: e.size,
                    sink: sink.as_ref().map(|p| Sink {
                        target: Target::Path(p.clone()),
                        offset: 0,
                        fresh: true,
                    }),
                });
                task_files.push((*f, *e));
            }
            Method::Deflated => {
                let sink_file = match sink {
                    Some(p) => Some(std::fs::OpenOptions::new().write(true).open(p).map_err(
                        |source| VerifyError::Io {
                            path: p.clone(),
                            source,
                        },
                    )?),
                    None => None,
                };
                let raw_ok = f
                    .deflate
                    .is_some_and(|d| raw_digest(&file, e).is_ok_and(|raw| raw == d.digest));
                if !raw_ok {
                    problems.push(Problem::EncodingMismatch(f.path.clone()));
                    continue;
                }
                match inflate_member(&file, e, chunk_size, sink_file.as_ref()) {
                    Ok((digest, _)) if digest == f.digest => {}
                    Ok(_) => problems.push(Problem::DigestMismatch(f.path.clone())),
                    Err(p) => problems.push(p),
                }
                if let Some(p) = &options.progress {
                    p(e.compressed_size);
                }
            }
        }
    }
    let engine = Engine {
        chunk_size,
        threads: options.threads,
    };
    let noop = |_: u64| {};
    let progress: &(dyn Fn(u64) + Sync) = match &options.progress {
        Some(p) => p.as_ref(),
        None => &noop,
    };
    let digests = engine.run(&tasks, progress).map_err(|e| VerifyError::Io {
        path: path.to_path_buf(),
        source: match e {
            TaskError::Io { source, .. } => source,
            truncated @ TaskError::Truncated { .. } => io::Error::other(truncated.to_string()),
        },
    })?;
    for ((f, e), d) in task_files.iter().zip(&digests) {
        if d.digest != f.digest {
            problems.push(Problem::DigestMismatch(f.path.clone()));
        } else if d.crc32 != e.crc32 {
            problems.push(Problem::CrcMismatch(e.name.clone()));
        }
    }
    if !problems.is_empty() {
        return Err(VerifyError::Rejected(problems));
    }
    if let Some(x) = extraction {
        x.commit()?;
    }
    Ok(VerifiedBundle {
        path: path.to_path_buf(),
        file,
        manifest,
        manifest_bytes,
        envelope,
        signers,
        entries,
        members,
    })
}

/// What the signatures established.
struct Trusted {
    manifest: Manifest,
    envelope: SignatureEnvelope,
    signers: Vec<KeyId>,
}

/// Check the signatures over the exact manifest bytes under `policy` (before anything in the
/// manifest is believed), then parse the manifest and apply the policy.
fn check_signatures(
    manifest_bytes: &[u8],
    signature_bytes: &[u8],
    policy: &dyn TrustPolicy,
) -> Result<Trusted, VerifyError> {
    let envelope = SignatureEnvelope::parse(signature_bytes).map_err(reject)?;
    let keys = policy.keys();
    let check = signing::check(
        &envelope.signatures,
        signing::MANIFEST_CONTEXT,
        manifest_bytes,
        &keys,
    );
    let mut problems: Vec<Problem> = check
        .invalid
        .iter()
        .map(|k| Problem::InvalidSignature(*k))
        .collect();
    if check.valid.is_empty() && problems.is_empty() && !keys.is_empty() {
        problems.push(Problem::NoTrustedSignature {
            signers: check.untrusted.iter().copied().collect(),
        });
    }
    if !problems.is_empty() {
        return Err(VerifyError::Rejected(problems));
    }
    let manifest = Manifest::parse(manifest_bytes).map_err(reject)?;
    let signers = policy
        .accept(&manifest, &check)
        .map_err(VerifyError::Rejected)?;
    Ok(Trusted {
        manifest,
        envelope,
        signers,
    })
}

/// Files verified in place against a detached bundle. Only [`verify_detached`] creates one.
#[derive(Debug)]
pub struct VerifiedTree {
    root: PathBuf,
    manifest: Manifest,
    signers: Vec<KeyId>,
}

impl VerifiedTree {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// Keys whose signatures made the bundle trusted.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }
    /// The directory that was verified.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Verify the files under `dir` against the detached bundle at `bundle` (written by
/// `sign` with `detached`): the bundle's signatures and manifest as for [`verify`], then
/// the directory must hold exactly the listed files (same walking rules as `sign`: no
/// symlinks unless `collect` follows them, no special files), each with its size and
/// digest. The result holds for the bytes as they were read: files that can change
/// afterwards are not protected (deploy full bundles, or verify a read-only copy).
pub fn verify_detached(
    bundle: &Path,
    dir: &Path,
    policy: &dyn TrustPolicy,
    options: &VerifyOptions,
    collect: &super::CollectOptions,
) -> Result<VerifiedTree, VerifyError> {
    let c = container(bundle, open_file(bundle)?, options.zip_limits)?;
    if c.entries.len() != 2 {
        return Err(reject(Problem::NotDetached));
    }
    let Trusted {
        manifest, signers, ..
    } = check_signatures(&c.manifest_bytes, &c.signature_bytes, policy)?;
    let files = super::collect::collect_one(dir, collect)
        .map_err(|e| reject(Problem::Directory(e.to_string())))?;
    let mut problems = Vec::new();
    let mut tasks = Vec::new();
    let mut expected = Vec::new();
    let on_disk: HashMap<&str, &super::InputFile> =
        files.iter().map(|f| (f.path.as_str(), f)).collect();
    for f in &files {
        if manifest.file(f.path.as_str()).is_none() {
            problems.push(Problem::UnlistedFile(f.path.clone()));
        }
    }
    for entry in &manifest.files {
        match on_disk.get(entry.path.as_str()) {
            None => problems.push(Problem::MissingFile(entry.path.clone())),
            Some(f) if f.size != entry.size => problems.push(Problem::SizeMismatch {
                path: entry.path.clone(),
                expected: entry.size,
                actual: f.size,
            }),
            Some(f) => {
                tasks.push(Task {
                    source: Source::Path(f.source.clone()),
                    size: f.size,
                    sink: None,
                });
                expected.push(entry);
            }
        }
    }
    if !problems.is_empty() {
        return Err(VerifyError::Rejected(problems));
    }
    let engine = Engine {
        chunk_size: manifest.digest.chunk_size,
        threads: options.threads,
    };
    let noop = |_: u64| {};
    let progress: &(dyn Fn(u64) + Sync) = match &options.progress {
        Some(p) => p.as_ref(),
        None => &noop,
    };
    let digests = engine.run(&tasks, progress).map_err(|e| {
        let task = e.task();
        VerifyError::Io {
            path: dir.join(expected[task].path.as_str()),
            source: match e {
                TaskError::Io { source, .. } => source,
                truncated @ TaskError::Truncated { .. } => io::Error::other(truncated.to_string()),
            },
        }
    })?;
    for (entry, d) in expected.iter().zip(&digests) {
        if d.digest != entry.digest {
            problems.push(Problem::DigestMismatch(entry.path.clone()));
        }
    }
    if !problems.is_empty() {
        return Err(VerifyError::Rejected(problems));
    }
    Ok(VerifiedTree {
        root: dir.to_path_buf(),
        manifest,
        signers,
    })
}

/// A structurally valid bundle file with its two metadata members read.
struct Container {
    file: Arc<File>,
    entries: Vec<Entry>,
    manifest_bytes: Vec<u8>,
    signature_bytes: Vec<u8>,
}

/// Open the regular file at `path`.
fn open_file(path: &Path) -> Result<Arc<File>, VerifyError> {
    let io = |source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = Arc::new(File::open(path).map_err(io)?);
    if !file.metadata().map_err(io)?.is_file() {
        return Err(io(io::Error::other("not a regular file")));
    }
    Ok(file)
}

/// Check the container structure of `file` (named `path` in errors) and read the metadata
/// members, which sit last in a fixed order.
fn container(path: &Path, file: Arc<File>, limits: ZipLimits) -> Result<Container, VerifyError> {
    let io = |source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let entries = zip::read_index(file.as_ref(), limits).map_err(|e| match e {
        ZipError::Io(source) => io(source),
        other => reject(other),
    })?;
    let n = entries.len();
    let (Some(man_entry), Some(sig_entry)) =
        (n.checked_sub(2).map(|i| &entries[i]), entries.last())
    else {
        return Err(reject(Problem::MissingManifest));
    };
    if sig_entry.name != SIGNATURES_NAME {
        return Err(reject(Problem::MissingSignatures));
    }
    if man_entry.name != MANIFEST_NAME {
        return Err(reject(Problem::MissingManifest));
    }
    let manifest_bytes = read_small(
        &file,
        man_entry,
        MANIFEST_NAME,
        manifest::MAX_MANIFEST_BYTES,
    )?;
    let signature_bytes = read_small(
        &file,
        sig_entry,
        SIGNATURES_NAME,
        signing::MAX_ENVELOPE_BYTES,
    )?;
    Ok(Container {
        file,
        entries,
        manifest_bytes,
        signature_bytes,
    })
}

/// Read and decode a small metadata member, bounded by `limit`.
fn read_small(
    file: &File,
    e: &Entry,
    name: &'static str,
    limit: usize,
) -> Result<Vec<u8>, VerifyError> {
    if e.method != Method::Stored {
        return Err(reject(Problem::Corrupt {
            name: name.into(),
            detail: "metadata members must be stored, not compressed".into(),
        }));
    }
    if e.size > limit as u64 || e.compressed_size > limit as u64 {
        return Err(reject(Problem::MetadataTooLarge {
            name,
            size: e.size,
            limit,
        }));
    }
    let mut out = Vec::with_capacity(e.size as usize);
    let mut reader = member_reader(file, e);
    reader.read_to_end(&mut out).map_err(|err| {
        reject(Problem::Corrupt {
            name: name.into(),
            detail: err.to_string(),
        })
    })?;
    if out.len() as u64 != e.size || crc32fast::hash(&out) != e.crc32 {
        return Err(reject(Problem::CrcMismatch(name.into())));
    }
    if let Some(inner) = reader.total_in()
        && inner != e.compressed_size
    {
        return Err(reject(Problem::Corrupt {
            name: name.into(),
            detail: "compressed data does not end where the member ends".into(),
        }));
    }
    Ok(out)
}

/// Plain SHA-256 of a member's raw (compressed) bytes.
fn raw_digest(file: &File, e: &Entry) -> io::Result<Sha256Digest> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let mut reader = RangeReader {
        file,
        pos: e.data_offset,
        end: e.data_offset + e.compressed_size,
    };
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(Sha256Digest(h.finalize().into()));
        }
        h.update(&buf[..n]);
    }
}

/// Inflate a deflated member, returning its digest and CRC; optionally copy it to `sink`.
fn inflate_member(
    file: &File,
    e: &Entry,
    chunk_size: u64,
    mut sink: Option<&File>,
) -> Result<(Sha256Digest, u32), Problem> {
    let corrupt = |detail: String| Problem::Corrupt {
        name: e.name.clone(),
        detail,
    };
    let mut reader = member_reader(file, e);
    let mut digest = StreamingDigest::new(chunk_size);
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|err| corrupt(format!("cannot inflate: {err}")))?;
        if n == 0 {
            break;
        }
        if digest.len() + n as u64 > e.size {
            return Err(corrupt(format!(
                "inflates to more than its declared {} bytes (zip bomb)",
                e.size
            )));
        }
        digest.update(&buf[..n]);
        crc.update(&buf[..n]);
        if let Some(out) = sink.as_mut() {
            std::io::Write::write_all(out, &buf[..n])
                .map_err(|err| corrupt(format!("cannot extract: {err}")))?;
        }
    }
    if digest.len() != e.size {
        return Err(corrupt(format!(
            "inflates to {} bytes, not its declared {}",
            digest.len(),
            e.size
        )));
    }
    if reader.total_in() != Some(e.compressed_size) {
        return Err(corrupt(
            "compressed data does not end where the member ends (hidden bytes)".into(),
        ));
    }
    let crc = crc.finalize();
    if crc != e.crc32 {
        return Err(Problem::CrcMismatch(e.name.clone()));
    }
    Ok((digest.finish(), crc))
}

/// Reads a byte range of a file through positioned reads.
struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        ReadAt::read_exact_at(self.file, &mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Stored or inflating reader over a member's data.
enum MemberData<'a> {
    Stored(RangeReader<'a>),
    Deflated(Box<DeflateDecoder<RangeReader<'a>>>),
}

impl MemberData<'_> {
    /// Compressed bytes consumed (deflated members only).
    fn total_in(&self) -> Option<u64> {
        match self {
            MemberData::Stored(_) => None,
            MemberData::Deflated(d) => Some(d.total_in()),
        }
    }
}

impl Read for MemberData<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MemberData::Stored(r) => r.read(buf),
            MemberData::Deflated(d) => d.read(buf),
        }
    }
}

fn member_reader<'a>(file: &'a File, e: &Entry) -> MemberData<'a> {
    let range = RangeReader {
        file,
        pos: e.data_offset,
        end: e.data_offset + e.compressed_size,
    };
    match e.method {
        Method::Stored => MemberData::Stored(range),
        Method::Deflated => MemberData::Deflated(Box::new(DeflateDecoder::new(range))),
    }
}

/// Streams one verified member; the final read fails if the bytes no longer match the
/// manifest (the bundle was modified after verification).
pub struct MemberReader<'a> {
    inner: MemberData<'a>,
    digest: Option<StreamingDigest>,
    expected: Sha256Digest,
    size: u64,
    path: String,
}

impl Read for MemberReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(digest) = self.digest.as_mut() else {
            return Ok(0);
        };
        let room = usize::try_from(self.size - digest.len().min(self.size))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = if room == 0 {
            0
        } else {
            self.inner.read(&mut buf[..room])?
        };
        if n > 0 {
            digest.update(&buf[..n]);
            return Ok(n);
        }
        let done = self.digest.take().map(StreamingDigest::finish);
        if done != Some(self.expected) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} changed since the bundle was verified", self.path),
            ));
        }
        Ok(0)
    }
}

impl VerifiedBundle {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The exact manifest bytes that were signed.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// Keys whose signatures made the bundle trusted.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }

    /// Every key that signed (trusted or not).
    pub fn all_signers(&self) -> BTreeSet<KeyId> {
        self.envelope.signatures.iter().map(|s| s.key_id).collect()
    }

    /// The bundle file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stream file `path`; the digest is checked again as it is read.
    pub fn open(&self, path: &str) -> Result<MemberReader<'_>, VerifyError> {
        let (f, e) = self.lookup(path)?;
        Ok(MemberReader {
            inner: member_reader(&self.file, e),
            digest: Some(StreamingDigest::new(self.manifest.digest.chunk_size)),
            expected: f.digest,
            size: f.size,
            path: path.to_string(),
        })
    }

    /// Read file `path` into memory (checking its digest again).
    pub fn read(&self, path: &str) -> Result<Vec<u8>, VerifyError> {
        let mut out = Vec::new();
        self.open(path)?
            .read_to_end(&mut out)
            .map_err(|source| VerifyError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(out)
    }

    /// Extract every file into `dest` (which must not exist or be empty), re-verifying
    /// as it copies; `dest` appears complete or not at all.
    pub fn extract_to(&self, dest: &Path) -> Result<(), VerifyError> {
        let x = Extraction::prepare(dest)?;
        for f in &self.manifest.files {
            let target = x.create_file(&f.path, f.size)?;
            let mut out = File::create(&target).map_err(|source| VerifyError::Io {
                path: target.clone(),
                source,
            })?;
            io::copy(&mut self.open(f.path.as_str())?, &mut out).map_err(|source| {
                VerifyError::Io {
                    path: self.path.clone(),
                    source,
                }
            })?;
        }
        x.commit()
    }

    fn lookup(&self, path: &str) -> Result<(&manifest::FileEntry, &Entry), VerifyError> {
        let f = self
            .manifest
            .file(path)
            .ok_or_else(|| VerifyError::NoSuchFile(path.into()))?;
        let e = self
            .members
            .get(path)
            .map(|&i| &self.entries[i])
            .ok_or_else(|| VerifyError::NoSuchFile(path.into()))?;
        Ok((f, e))
    }

    /// Pieces needed to countersign: the open file, the entries, the manifest bytes and
    /// the signature envelope.
    pub(crate) fn into_parts(self) -> (Arc<File>, Vec<Entry>, Vec<u8>, SignatureEnvelope) {
        (self.file, self.entries, self.manifest_bytes, self.envelope)
    }
}

/// What a bundle *claims* about itself, read without checking any signature or digest
/// (for `inspect` without `--trust`). Never use it to decide whether to trust a bundle.
#[derive(Debug, Clone)]
pub struct UnverifiedBundle {
    /// The manifest as stored (strictly parsed, not verified).
    pub manifest: Manifest,
    /// Key ids named by the signatures (not verified).
    pub claimed_signers: Vec<KeyId>,
}

/// Read a bundle's manifest and signature key ids without verifying anything beyond the
/// container structure and the manifest's syntax.
pub fn read_unverified(path: &Path) -> Result<UnverifiedBundle, VerifyError> {
    read_unverified_open(path, open_file(path)?)
}

/// [`read_unverified`] on a file already open (`path` names it in errors).
pub(crate) fn read_unverified_open(
    path: &Path,
    file: Arc<File>,
) -> Result<UnverifiedBundle, VerifyError> {
    let c = container(path, file, ZipLimits::default())?;
    let manifest = Manifest::parse(&c.manifest_bytes).map_err(reject)?;
    let envelope = SignatureEnvelope::parse(&c.signature_bytes).map_err(reject)?;
    Ok(UnverifiedBundle {
        manifest,
        claimed_signers: envelope.signatures.iter().map(|s| s.key_id).collect(),
    })
}

impl Problem {
    /// A stable identifier of the kind of problem (for `--json` output and scripts).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Container(z) => match z {
                ZipError::Io(_) => "io",
                ZipError::NoEndRecord => "no-end-record",
                ZipError::TrailingData(_) => "trailing-data",
                ZipError::ArchiveComment(_) => "archive-comment",
                ZipError::EndRecords(_) => "bad-end-records",
                ZipError::CentralDirectoryLocation(_) => "central-directory-location",
                ZipError::TooLarge(_) => "too-large",
                ZipError::CentralHeader { .. } => "bad-central-header",
                ZipError::NonUtf8Name(_) => "non-utf8-name",
                ZipError::Encrypted(_) => "encrypted-member",
                ZipError::UnsupportedMethod { .. } => "unsupported-compression",
                ZipError::UnsupportedFlags { .. } => "unsupported-flags",
                ZipError::NotCanonical { .. } => "non-canonical-header",
                ZipError::PrependedData(_) => "prepended-data",
                ZipError::Gap { .. } => "gap",
                ZipError::Overlap(_) => "overlap",
                ZipError::LocalHeaderMismatch { .. } => "local-central-mismatch",
                ZipError::DuplicateName(_) => "duplicate-member",
                ZipError::Sizes { .. } => "impossible-sizes",
                ZipError::Truncated(_) => "truncated",
            },
            Problem::MissingManifest => "missing-manifest",
            Problem::MissingSignatures => "missing-signatures",
            Problem::MetadataTooLarge { .. } => "metadata-too-large",
            Problem::Signatures(_) => "bad-signatures-file",
            Problem::InvalidSignature(_) => "invalid-signature",
            Problem::NoTrustedSignature { .. } => "no-trusted-signature",
            Problem::Policy(_) => "policy",
            Problem::Manifest(_) => "bad-manifest",
            Problem::BadMemberName { .. } => "bad-member-name",
            Problem::UnlistedMember(_) => "unlisted-member",
            Problem::MissingFile(_) => "missing-file",
            Problem::SizeMismatch { .. } => "size-mismatch",
            Problem::DigestMismatch(_) => "digest-mismatch",
            Problem::EncodingMismatch(_) => "encoding-mismatch",
            Problem::Detached => "detached-bundle",
            Problem::NotDetached => "not-detached",
            Problem::Directory(_) => "bad-directory",
            Problem::UnlistedFile(_) => "unlisted-file",
            Problem::CrcMismatch(_) => "crc-mismatch",
            Problem::Corrupt { .. } => "corrupt-member",
        }
    }
}
