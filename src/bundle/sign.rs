//! Writing a bundle: collect the files, copy them into the zip while hashing them on every
//! core, then append the manifest, its signature and the central directory. Everything goes
//! to a temporary file renamed into place only on success.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use flate2::Compression;
use flate2::write::DeflateEncoder;
use serde_json::{Map, Value};

use super::collect::{self, CollectError, CollectOptions, FileStamp, InputFile};
use super::source::ReadAt;
use super::verify::{self, TrustPolicy, VerifyError, VerifyOptions};
use super::zip::{self, EndRecords, Entry, Method};
use super::{FILES_PREFIX, MANIFEST_NAME, SIGNATURES_NAME};
use crate::digest::parallel::{self, Engine, Sink, Source, Target, Task, TaskDigest, TaskError};
use crate::digest::{DEFAULT_CHUNK_SIZE, Sha256Digest, StreamingDigest};
use crate::fsutil::TempOutput;
use crate::keys::SecretKey;
use crate::manifest::{self, Deflated, DigestParams, FileEntry, Manifest, ManifestError, Tool};
use crate::signing::{self, SignatureEnvelope};

/// Files up to this size may be deflated (default of [`SignOptions::compress_max`]).
pub const DEFAULT_COMPRESS_MAX: u64 = 1 << 20;

/// How to build a bundle.
#[derive(Clone)]
pub struct SignOptions {
    /// Model name (`[A-Za-z0-9][A-Za-z0-9._+-]*`).
    pub name: String,
    /// Model version.
    pub version: String,
    /// User metadata (a JSON object).
    pub metadata: Map<String, Value>,
    /// Creation time recorded in the manifest.
    pub created: SystemTime,
    /// Deflate level 0–9 for small text files (0 stores everything).
    pub compress_level: u32,
    /// Only files up to this size are candidates for compression.
    pub compress_max: u64,
    /// Digest chunk size.
    pub chunk_size: u64,
    /// Worker threads for hashing.
    pub threads: usize,
    /// How to walk the inputs.
    pub collect: CollectOptions,
    /// Called with the number of bytes just hashed (for progress bars).
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    /// Write a detached bundle: the manifest and signatures only; the files stay where
    /// they are and are verified in place.
    pub detached: bool,
}

impl SignOptions {
    /// Defaults for a bundle called `name`, version `version`, created now.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        SignOptions {
            name: name.into(),
            version: version.into(),
            metadata: Map::new(),
            created: SystemTime::now(),
            compress_level: 6,
            compress_max: DEFAULT_COMPRESS_MAX,
            chunk_size: DEFAULT_CHUNK_SIZE,
            threads: parallel::default_threads(),
            collect: CollectOptions::default(),
            progress: None,
            detached: false,
        }
    }
}

impl std::fmt::Debug for SignOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOptions")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("compress_level", &self.compress_level)
            .field("chunk_size", &self.chunk_size)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct SignSummary {
    /// The signed manifest.
    pub manifest: Manifest,
    /// Size of the bundle file.
    pub bundle_size: u64,
    /// Id of the key that signed.
    pub key_id: crate::keys::KeyId,
}

/// Signing failed; no output was left behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The inputs cannot be packaged.
    #[error(transparent)]
    Inputs(#[from] CollectError),
    /// Name, version or metadata are not acceptable.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An input changed while it was being signed.
    #[error("{0} changed while it was being signed; sign again once it is stable")]
    Changed(PathBuf),
    /// Reading an input or writing the bundle failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The bundle to countersign does not verify.
    #[error("cannot countersign: {0}")]
    Countersign(Box<VerifyError>),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> SignError + '_ {
    move |source| SignError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Package `inputs` into a bundle at `out`, signed by `key`. With
/// [`SignOptions::detached`], the bundle holds only the manifest and signatures, and the
/// files are verified in place later ([`super::verify_detached`]).
pub fn sign(
    inputs: &[PathBuf],
    key: &SecretKey,
    out: &Path,
    options: &SignOptions,
) -> Result<SignSummary, SignError> {
    manifest::validate_label("name", &options.name)?;
    manifest::validate_label("version", &options.version)?;
    let mut collect_options = options.collect.clone();
    collect_options.skip = Some(out.to_path_buf());
    let files = collect::collect(inputs, &collect_options)?;

    let temp = TempOutput::new(out).map_err(io_err(out))?;
    let output = Arc::new(temp.file().try_clone().map_err(io_err(out))?);
    let mut writer = BundleWriter {
        out: output.clone(),
        out_path: out,
        pos: 0,
        entries: Vec::new(),
    };
    let entries = if options.detached {
        hash_in_place(&files, options)?
    } else {
        pack_files(&files, options, &mut writer)?
    };
    let manifest = Manifest {
        schema: manifest::SCHEMA.into(),
        name: options.name.clone(),
        version: options.version.clone(),
        created: manifest::format_timestamp(options.created),
        tool: Tool {
            name: "modelseal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        metadata: options.metadata.clone(),
        digest: DigestParams {
            algorithm: manifest::DIGEST_ALGORITHM.into(),
            chunk_size: options.chunk_size,
        },
        files: entries,
    };
    manifest.validate()?;
    let manifest_bytes = manifest.to_bytes();
    let envelope = SignatureEnvelope::new(vec![signing::sign(
        key,
        signing::MANIFEST_CONTEXT,
        &manifest_bytes,
    )]);
    writer.append_stored_bytes(MANIFEST_NAME, &manifest_bytes)?;
    writer.append_stored_bytes(SIGNATURES_NAME, &envelope.to_bytes())?;
    let bundle_size = writer.finish()?;
    drop(output);
    temp.persist(0o644).map_err(io_err(out))?;
    Ok(SignSummary {
        manifest,
        bundle_size,
        key_id: key.id(),
    })
}

/// Run `tasks` on all cores, mapping failures to the input file at fault.
fn run_tasks(
    tasks: &[Task],
    files: &[&InputFile],
    options: &SignOptions,
) -> Result<Vec<TaskDigest>, SignError> {
    let engine = Engine {
        chunk_size: options.chunk_size,
        threads: options.threads,
    };
    let noop = |_: u64| {};
    let progress: &(dyn Fn(u64) + Sync) = match &options.progress {
        Some(p) => p.as_ref(),
        None => &noop,
    };
    let digests = engine.run(tasks, progress).map_err(|e| match e {
        TaskError::Truncated { task, .. } => SignError::Changed(files[task].source.clone()),
        TaskError::Io { task, source } => SignError::Io {
            path: files[task].source.clone(),
            source,
        },
    })?;
    for file in files {
        check_unchanged(file)?;
    }
    Ok(digests)
}

/// Detached signing: hash the files where they are; nothing is copied.
fn hash_in_place(files: &[InputFile], options: &SignOptions) -> Result<Vec<FileEntry>, SignError> {
    let tasks: Vec<Task> = files
        .iter()
        .map(|f| Task {
            source: Source::Path(f.source.clone()),
            size: f.size,
            sink: None,
        })
        .collect();
    let refs: Vec<&InputFile> = files.iter().collect();
    let digests = run_tasks(&tasks, &refs, options)?;
    Ok(files
        .iter()
        .zip(&digests)
        .map(|(f, d)| FileEntry {
            path: f.path.clone(),
            size: f.size,
            digest: d.digest,
            deflate: None,
        })
        .collect())
}

/// Write every file into the bundle: small text files deflated first, then the stored
/// files copied and hashed on all cores. Returns the manifest entries in path order.
fn pack_files(
    files: &[InputFile],
    options: &SignOptions,
    writer: &mut BundleWriter<'_>,
) -> Result<Vec<FileEntry>, SignError> {
    let mut stored: Vec<&InputFile> = Vec::new();
    let mut results: Vec<Option<FileEntry>> = vec![None; files.len()];
    for (i, file) in files.iter().enumerate() {
        match deflate_candidate(file, options)? {
            Some(packed) => {
                if let Some(p) = &options.progress {
                    p(file.size);
                }
                results[i] = Some(FileEntry {
                    path: file.path.clone(),
                    size: file.size,
                    digest: packed.digest,
                    deflate: Some(Deflated {
                        size: packed.data.len() as u64,
                        digest: Sha256Digest::of(&packed.data),
                    }),
                });
                writer.append_deflated(&format!("{FILES_PREFIX}{}", file.path), &packed)?;
            }
            None => stored.push(file),
        }
    }

    // Lay out the stored members' headers, then copy and hash in parallel.
    let mut tasks = Vec::with_capacity(stored.len());
    let first_stored = writer.entries.len();
    for file in &stored {
        let entry = writer.reserve_stored(&format!("{FILES_PREFIX}{}", file.path), file.size);
        tasks.push(Task {
            source: Source::Path(file.source.clone()),
            size: file.size,
            sink: Some(Sink {
                target: Target::File(writer.out.clone()),
                offset: entry.data_offset,
                fresh: true,
            }),
        });
    }
    if let Some(first) = writer.entries.get(first_stored) {
        let start = first.header_offset;
        crate::fsutil::preallocate(&writer.out, start, writer.pos - start);
    }
    let digests = run_tasks(&tasks, &stored, options)?;
    for (k, d) in digests.iter().enumerate() {
        let entry = &mut writer.entries[first_stored + k];
        entry.crc32 = d.crc32;
        let header = zip::local_header(entry);
        let at = entry.header_offset;
        writer.write_at(&header, at)?;
    }
    let mut digests = digests.iter();
    for (slot, file) in results.iter_mut().zip(files) {
        if slot.is_none() {
            let d = digests.next().ok_or_else(|| SignError::Io {
                path: file.source.clone(),
                source: std::io::Error::other("internal error: digest list out of step"),
            })?;
            *slot = Some(FileEntry {
                path: file.path.clone(),
                size: file.size,
                digest: d.digest,
                deflate: None,
            });
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// Countersign an existing bundle: verify that its files match its manifest, then add a
/// signature by `key` and write the result to `out` (which may be `bundle` itself; the
/// replacement is atomic). The manifest and files are not touched. If `trust` is given, the
/// existing signatures must also satisfy it.
pub fn add_signature(
    bundle: &Path,
    key: &SecretKey,
    out: &Path,
    trust: Option<&dyn TrustPolicy>,
) -> Result<SignSummary, SignError> {
    let accept_any = verify::AnySignature;
    let policy: &dyn TrustPolicy = trust.unwrap_or(&accept_any);
    let verified = verify::verify(bundle, policy, &VerifyOptions::default())
        .map_err(|e| SignError::Countersign(Box::new(e)))?;
    let (file, entries, manifest_bytes, mut envelope) = verified.into_parts();
    let entry = signing::sign(key, signing::MANIFEST_CONTEXT, &manifest_bytes);
    envelope.signatures.push(entry);

    // Everything before signatures.json (the last member) is copied byte for byte.
    let sig_index = entries.len() - 1;
    let keep_until = entries[sig_index].header_offset;
    let temp = TempOutput::new(out).map_err(io_err(out))?;
    let output = Arc::new(temp.file().try_clone().map_err(io_err(out))?);
    copy_range(&file, &output, keep_until).map_err(io_err(out))?;
    let mut writer = BundleWriter {
        out: output.clone(),
        out_path: out,
        pos: keep_until,
        entries: entries[..sig_index].to_vec(),
    };
    writer.append_stored_bytes(SIGNATURES_NAME, &envelope.to_bytes())?;
    let bundle_size = writer.finish()?;
    drop(output);
    temp.persist(0o644).map_err(io_err(out))?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    Ok(SignSummary {
        manifest,
        bundle_size,
        key_id: key.id(),
    })
}

fn copy_range(src: &File, dst: &File, len: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let n = usize::try_from(len - at)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        ReadAt::read_exact_at(src, &mut buf[..n], at)?;
        dst.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

fn check_unchanged(file: &InputFile) -> Result<(), SignError> {
    let meta = std::fs::metadata(&file.source).map_err(io_err(&file.source))?;
    if FileStamp::of(&meta) != file.stamp {
        return Err(SignError::Changed(file.source.clone()));
    }
    Ok(())
}

/// A member compressed in memory.
struct Packed {
    data: Vec<u8>,
    size: u64,
    crc32: u32,
    digest: crate::digest::Sha256Digest,
}

/// Deflate `file` if it is small, looks like text and shrinks by at least 10 %.
fn deflate_candidate(file: &InputFile, options: &SignOptions) -> Result<Option<Packed>, SignError> {
    if options.compress_level == 0 || file.size > options.compress_max || file.size == 0 {
        return Ok(None);
    }
    let mut content = Vec::with_capacity(file.size as usize);
    File::open(&file.source)
        .and_then(|f| f.take(options.compress_max + 1).read_to_end(&mut content))
        .map_err(io_err(&file.source))?;
    if content.len() as u64 != file.size {
        return Err(SignError::Changed(file.source.clone()));
    }
    check_unchanged(file)?;
    if content[..content.len().min(8192)].contains(&0) {
        return Ok(None);
    }
    let packed = pack(&content, options.compress_level, options.chunk_size);
    Ok((packed.data.len() as u64 * 10 <= file.size * 9).then_some(packed))
}

fn pack(content: &[u8], level: u32, chunk_size: u64) -> Packed {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::new(level.min(9)));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(content);
    let data = enc.finish().unwrap_or_default();
    let mut digest = StreamingDigest::new(chunk_size);
    digest.update(content);
    Packed {
        data,
        size: content.len() as u64,
        crc32: crc32fast::hash(content),
        digest: digest.finish(),
    }
}

/// Appends members at known offsets and writes the central directory.
struct BundleWriter<'a> {
    out: Arc<File>,
    out_path: &'a Path,
    pos: u64,
    entries: Vec<Entry>,
}

impl BundleWriter<'_> {
    fn write_at(&self, bytes: &[u8], at: u64) -> Result<(), SignError> {
        self.out
            .write_all_at(bytes, at)
            .map_err(io_err(self.out_path))
    }

    fn append_deflated(&mut self, name: &str, packed: &Packed) -> Result<(), SignError> {
        let mut e = Entry {
            name: name.to_string(),
            method: Method::Deflated,
            crc32: packed.crc32,
            compressed_size: packed.data.len() as u64,
            size: packed.size,
            header_offset: self.pos,
            data_offset: 0,
        };
        e.data_offset = e.header_offset + zip::local_header_len(&e);
        self.write_at(&zip::local_header(&e), e.header_offset)?;
        self.write_at(&packed.data, e.data_offset)?;
        self.pos = e.data_offset + e.compressed_size;
        self.entries.push(e);
        Ok(())
    }

    /// Reserve room for a stored member; its header is written once its CRC is known.
    fn reserve_stored(&mut self, name: &str, size: u64) -> Entry {
        let mut e = Entry {
            name: name.to_string(),
            method: Method::Stored,
            crc32: 0,
            compressed_size: size,
            size,
            header_offset: self.pos,
            data_offset: 0,
        };
        e.data_offset = e.header_offset + zip::local_header_len(&e);
        self.pos = e.data_offset + size;
        self.entries.push(e.clone());
        e
    }

    /// An in-memory member, stored (the metadata members are never compressed: their
    /// bytes are what the signature covers, so no other encoding may exist).
    fn append_stored_bytes(&mut self, name: &str, content: &[u8]) -> Result<(), SignError> {
        let mut e = self.reserve_stored(name, content.len() as u64);
        e.crc32 = crc32fast::hash(content);
        if let Some(last) = self.entries.last_mut() {
            last.crc32 = e.crc32;
        }
        self.write_at(&zip::local_header(&e), e.header_offset)?;
        self.write_at(content, e.data_offset)
    }

    /// Write the central directory and end records; returns the file size.
    fn finish(self) -> Result<u64, SignError> {
        let cd_offset = self.pos;
        let mut cd = Vec::new();
        for e in &self.entries {
            cd.extend_from_slice(&zip::central_header(e));
        }
        let end = zip::end_records(EndRecords {
            entries: self.entries.len() as u64,
            cd_size: cd.len() as u64,
            cd_offset,
        });
        self.write_at(&cd, cd_offset)?;
        self.write_at(&end, cd_offset + cd.len() as u64)?;
        let total = cd_offset + cd.len() as u64 + end.len() as u64;
        self.out.set_len(total).map_err(io_err(self.out_path))?;
        Ok(total)
    }
}
