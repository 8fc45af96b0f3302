//! Trust-root files on disk (`docs/format.md` §9.4–9.5): the newest version in `trust.json`,
//! older versions in `trust.d/N.json`, a version awaiting more root signatures in
//! `trust.pending.json`, and the pin (`trust.state`): a copy of the newest version this
//! machine verified.
//!
//! Every write is atomic (temporary file + rename).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::chain::{self, Expiry, MAX_CHAIN_STEPS};
use super::document::MAX_TRUST_ROOT_BYTES;
use super::{SignedTrustRoot, TrustError, TrustRoot};
use crate::keys::SecretKey;

/// Where the files of one trust root live, derived from the path of its newest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFiles {
    file: PathBuf,
    stem: String,
}

impl TrustFiles {
    /// The layout around `file` (e.g. `keys/trust.json`).
    pub fn new(file: &Path) -> TrustFiles {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "trust".into());
        TrustFiles {
            file: file.to_path_buf(),
            stem,
        }
    }

    fn sibling(&self, name: String) -> PathBuf {
        crate::fsutil::parent_dir(&self.file).join(name)
    }

    /// The newest version (`keys/trust.json`).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The directory of older versions (`keys/trust.d`).
    pub fn history_dir(&self) -> PathBuf {
        self.sibling(format!("{}.d", self.stem))
    }

    /// Where version `v` is kept once superseded (`keys/trust.d/v.json`).
    pub fn history_file(&self, version: u64) -> PathBuf {
        self.history_dir().join(format!("{version}.json"))
    }

    /// A version still waiting for root signatures (`keys/trust.pending.json`).
    pub fn pending_file(&self) -> PathBuf {
        self.sibling(format!("{}.pending.json", self.stem))
    }

    /// The default pin (`keys/trust.state`).
    pub fn default_state_file(&self) -> PathBuf {
        self.sibling(format!("{}.state", self.stem))
    }
}

/// Read and parse one trust-root file (at most [`MAX_TRUST_ROOT_BYTES`]).
pub fn read_document(path: &Path) -> Result<SignedTrustRoot, TrustError> {
    let bytes = read_bounded(path)?;
    SignedTrustRoot::parse(&bytes, &path.display().to_string())
}

/// Read at most [`MAX_TRUST_ROOT_BYTES`] (+1 to detect larger files) from `path`.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, TrustError> {
    let io = |source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_TRUST_ROOT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

fn read_optional(path: &Path) -> Result<Option<SignedTrustRoot>, TrustError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TrustError::Io {
            path: path.to_path_buf(),
            source,
        }),
        Ok(_) => read_document(path).map(Some),
    }
}

/// How to load a trust root.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The pin: a state file holding the newest version verified before. `None`: no pin
    /// (trust on first use of the files as found, nothing remembered).
    pub state: Option<PathBuf>,
    /// Write the newest verified version to `state` (when it is newer than the pin).
    pub update_state: bool,
    /// The current time (injected so tests can move the clock).
    pub now: SystemTime,
    /// Refuse an expired newest version.
    pub expiry: Expiry,
}

impl LoadOptions {
    /// Pin in `state`, update it, check expiry, now.
    pub fn pinned(state: PathBuf) -> LoadOptions {
        LoadOptions {
            state: Some(state),
            update_state: true,
            now: SystemTime::now(),
            expiry: Expiry::Enforce,
        }
    }

    /// No pin, check expiry, now.
    pub fn unpinned() -> LoadOptions {
        LoadOptions {
            state: None,
            update_state: false,
            now: SystemTime::now(),
            expiry: Expiry::Enforce,
        }
    }
}

/// What the chain was verified from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The version pinned in the state file.
    Pinned(u64),
    /// No pin existed: the oldest version available was trusted on first use.
    FirstUse(u64),
}

/// A trust root whose chain verified. Only [`load`] creates one.
#[derive(Debug, Clone)]
pub struct VerifiedTrustRoot {
    doc: SignedTrustRoot,
    anchor: Anchor,
    pin_written: Option<PathBuf>,
}

impl VerifiedTrustRoot {
    /// The verified newest version.
    pub fn document(&self) -> &SignedTrustRoot {
        &self.doc
    }

    /// Its content.
    pub fn root(&self) -> &TrustRoot {
        self.doc.root()
    }

    /// Where the verification started.
    pub fn anchor(&self) -> Anchor {
        self.anchor
    }

    /// The state file written, if the pin moved.
    pub fn pin_written(&self) -> Option<&Path> {
        self.pin_written.as_deref()
    }
}

/// Load the trust root whose newest version is `file`, verify the chain from the pin (or,
/// without one, from the oldest consecutive version kept in the history), check expiry,
/// and move the pin forward.
pub fn load(file: &Path, options: &LoadOptions) -> Result<VerifiedTrustRoot, TrustError> {
    let files = TrustFiles::new(file);
    let newest = read_document(file)?;
    let pinned = match &options.state {
        Some(state) => read_optional(state)?,
        None => None,
    };
    let (anchor_doc, anchor) = match pinned {
        Some(doc) => {
            let v = doc.version();
            (doc, Anchor::Pinned(v))
        }
        None => {
            let doc = oldest_available(&files, &newest)?;
            let v = doc.version();
            (doc, Anchor::FirstUse(v))
        }
    };
    let (from, to) = (anchor_doc.version(), newest.version());
    if to < from {
        return Err(TrustError::Rollback {
            pinned: from,
            found: to,
        });
    }
    if to == from && anchor_doc.signed_bytes() != newest.signed_bytes() {
        return Err(TrustError::Equivocation { version: to });
    }
    if to - from > MAX_CHAIN_STEPS {
        return Err(TrustError::ChainTooLong {
            from,
            to,
            max: MAX_CHAIN_STEPS,
        });
    }
    let mut newer = Vec::new();
    for v in from.saturating_add(1)..to {
        let path = files.history_file(v);
        match read_optional(&path)? {
            Some(doc) => newer.push(doc),
            None => return Err(TrustError::MissingVersion { version: v, path }),
        }
    }
    if to > from {
        newer.push(newest.clone());
    }
    chain::verify_chain(&anchor_doc, &newer, options.now, options.expiry)?;

    let mut pin_written = None;
    if let (Some(state), true) = (&options.state, options.update_state)
        && (to > from || matches!(anchor, Anchor::FirstUse(_)))
    {
        crate::fsutil::write_atomic(state, &newest.to_file_bytes(), 0o644).map_err(|source| {
            TrustError::Io {
                path: state.clone(),
                source,
            }
        })?;
        pin_written = Some(state.clone());
    }
    Ok(VerifiedTrustRoot {
        doc: newest,
        anchor,
        pin_written,
    })
}

/// Pin `file` as it is now (after checking its own signatures and expiry), replacing any
/// previous pin: for a deliberate reset after a compromise of the root keys.
pub fn reset_pin(
    file: &Path,
    state: &Path,
    now: SystemTime,
) -> Result<VerifiedTrustRoot, TrustError> {
    let newest = read_document(file)?;
    chain::verify_chain(&newest, &[], now, Expiry::Enforce)?;
    crate::fsutil::write_atomic(state, &newest.to_file_bytes(), 0o644).map_err(|source| {
        TrustError::Io {
            path: state.to_path_buf(),
            source,
        }
    })?;
    Ok(VerifiedTrustRoot {
        anchor: Anchor::Pinned(newest.version()),
        doc: newest,
        pin_written: Some(state.to_path_buf()),
    })
}

/// The oldest version reachable from `newest` through consecutive history files (at most
/// [`MAX_CHAIN_STEPS`] back).
fn oldest_available(
    files: &TrustFiles,
    newest: &SignedTrustRoot,
) -> Result<SignedTrustRoot, TrustError> {
    let mut oldest = newest.clone();
    for _ in 0..MAX_CHAIN_STEPS {
        let Some(v) = oldest.version().checked_sub(1).filter(|v| *v > 0) else {
            break;
        };
        match read_optional(&files.history_file(v))? {
            Some(doc) => oldest = doc,
            None => break,
        }
    }
    Ok(oldest)
}

/// How many distinct root signatures a new version has and needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureStatus {
    /// The new version.
    pub version: u64,
    /// Valid signatures by its own root keys, and its threshold.
    pub own: (usize, u32),
    /// For a change: the previous version, valid signatures by its root keys, its threshold.
    pub previous: Option<(u64, usize, u32)>,
}

impl SignatureStatus {
    /// Whether both thresholds are met.
    pub fn complete(&self) -> bool {
        self.own.0 >= self.own.1 as usize
            && self
                .previous
                .is_none_or(|(_, have, need)| have >= need as usize)
    }
}

/// Count the root signatures of `doc` (a successor of `previous`, or a first version).
pub fn signature_status(
    doc: &SignedTrustRoot,
    previous: Option<&SignedTrustRoot>,
) -> Result<SignatureStatus, TrustError> {
    let own = doc.valid_signers(&doc.root().root)?.len();
    let previous = match previous {
        Some(p) => Some((
            p.version(),
            doc.valid_signers(&p.root().root)?.len(),
            p.root().root.threshold,
        )),
        None => None,
    };
    Ok(SignatureStatus {
        version: doc.version(),
        own: (own, doc.root().root.threshold),
        previous,
    })
}

/// Sign `doc` with `keys`, each of which must be a root key of `doc` or of `previous`.
pub fn sign_version(
    doc: &mut SignedTrustRoot,
    keys: &[SecretKey],
    previous: Option<&SignedTrustRoot>,
) -> Result<(), TrustError> {
    for key in keys {
        let ok = doc.root().root.contains(key.id())
            || previous.is_some_and(|p| p.root().root.contains(key.id()));
        if !ok {
            return Err(TrustError::Edit(format!(
                "key {} is not a root key of this trust root; only root keys sign trust-root versions",
                key.id()
            )));
        }
        doc.sign(key);
    }
    Ok(())
}

/// What [`save`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Both thresholds met: the version is now the newest (`trust.json`); the previous one
    /// moved to the history.
    Published(SignatureStatus),
    /// Not enough root signatures yet: written to the pending file.
    Pending(SignatureStatus),
}

/// Publish `doc` if its root signatures suffice, otherwise store it as pending.
pub fn save(
    files: &TrustFiles,
    previous: Option<&SignedTrustRoot>,
    doc: &SignedTrustRoot,
) -> Result<Saved, TrustError> {
    let status = signature_status(doc, previous)?;
    let io = |path: PathBuf| move |source| TrustError::Io { path, source };
    if !status.complete() {
        let pending = files.pending_file();
        crate::fsutil::write_atomic(&pending, &doc.to_file_bytes(), 0o644)
            .map_err(io(pending.clone()))?;
        return Ok(Saved::Pending(status));
    }
    if let Some(prev) = previous {
        let dir = files.history_dir();
        fs::create_dir_all(&dir).map_err(io(dir.clone()))?;
        let path = files.history_file(prev.version());
        let bytes = prev.to_file_bytes();
        if let Some(existing) = read_optional(&path)?
            && existing.signed_bytes() != prev.signed_bytes()
        {
            return Err(TrustError::Edit(format!(
                "{} already holds a different version {}; refusing to overwrite it",
                path.display(),
                prev.version()
            )));
        }
        crate::fsutil::write_atomic(&path, &bytes, 0o644).map_err(io(path.clone()))?;
    }
    if let Some(dir) = files.file().parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    }
    crate::fsutil::write_atomic(files.file(), &doc.to_file_bytes(), 0o644)
        .map_err(io(files.file().to_path_buf()))?;
    let pending = files.pending_file();
    if let Err(e) = fs::remove_file(&pending)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(io(pending)(e));
    }
    Ok(Saved::Published(status))
}

/// The pending version, if any.
pub fn read_pending(files: &TrustFiles) -> Result<Option<SignedTrustRoot>, TrustError> {
    read_optional(&files.pending_file())
}
