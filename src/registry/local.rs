//! The embedded default store: a local directory (`docs/format.md` §10.1).
//!
//! ```text
//! ROOT/registry.json          {"schema":"modelseal-registry-v1"}
//! ROOT/blobs/sha256/<64 hex>  bundles and manifests, named by the SHA-256 of their bytes
//! ROOT/log/000000000.json     log entries, one file each, numbered from 0 without gaps
//! ROOT/tmp/                   files being prepared (same file system as blobs/ and log/)
//! ```
//!
//! Every file is written in `tmp/`, flushed, then published with `link(2)`, which fails if
//! the name exists: an entry or blob appears complete or not at all, and creating log
//! entry N is a compare-and-swap — of two writers racing for index N exactly one succeeds
//! and the other re-reads the log and retries. No lock file is needed, so a crashed writer
//! can never leave the registry locked. (A single locked log file was the alternative; it
//! needs lock recovery after crashes and an in-place append that a crash can truncate.)

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::store::{self, MAX_LOG_ENTRY_BYTES, MAX_LOG_INDEX, MAX_MARKER_BYTES, Store, StoreError};
use crate::digest::Sha256Digest;
use crate::fsutil;

/// Mode of every published file: the registry is shared, its files are not secret.
const FILE_MODE: u32 = 0o644;

/// A registry in a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    tmp: PathBuf,
}

impl LocalStore {
    /// Open the registry at `root`, which must exist ([`StoreError::NoRegistry`]).
    pub fn open(root: &Path) -> Result<LocalStore, StoreError> {
        let root = match fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoRegistry(root.display().to_string()));
            }
            Err(e) => return Err(StoreError::io(root.display())(e)),
        };
        let s = LocalStore::at(&root);
        let marker = s.root.join("registry.json");
        let bytes = match read_limited(&marker, MAX_MARKER_BYTES) {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => return Err(StoreError::NoRegistry(s.location())),
            Err(e) => return Err(e),
        };
        store::check_marker(&bytes, &s.location())?;
        for dir in [s.blob_dir(), s.log_dir(), s.tmp_dir()] {
            if !dir.is_dir() {
                return Err(StoreError::Corrupt(format!(
                    "{} is missing or not a directory",
                    dir.display()
                )));
            }
        }
        Ok(s)
    }

    /// Create the registry at `root` if it does not exist yet, then open it. Safe to run
    /// concurrently.
    pub fn create(root: &Path) -> Result<LocalStore, StoreError> {
        let s = LocalStore::at(root);
        for dir in [s.blob_dir(), s.log_dir(), s.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(StoreError::io(dir.display()))?;
        }
        let marker = s.root.join("registry.json");
        if !marker.exists() {
            match s.publish_file(&store::marker_bytes(), &marker) {
                Ok(()) => {}
                Err(StoreError::Io { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        LocalStore::open(root)
    }

    fn at(root: &Path) -> LocalStore {
        LocalStore {
            root: root.to_path_buf(),
            tmp: root.join("tmp"),
        }
    }

    /// The registry directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.tmp.clone()
    }

    fn blob_path(&self, digest: &Sha256Digest) -> PathBuf {
        self.blob_dir().join(digest.to_string())
    }

    /// Write `bytes` to a temporary file and link it at `dest`; fails with
    /// `AlreadyExists` (as [`StoreError::Io`]) if `dest` exists.
    fn publish_file(&self, bytes: &[u8], dest: &Path) -> Result<(), StoreError> {
        let tmp = store::staging_file(Some(&self.tmp_dir()), ".entry.")
            .map_err(StoreError::io(self.tmp_dir().display()))?;
        let io_tmp = StoreError::io(tmp.path().display());
        (|| {
            tmp.as_file().write_all(bytes)?;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
            tmp.as_file().sync_all()
        })()
        .map_err(io_tmp)?;
        fs::hard_link(tmp.path(), dest).map_err(StoreError::io(dest.display()))?;
        fsutil::sync_dir(fsutil::parent_dir(dest));
        Ok(())
    }
}

/// Read a regular file (not a symlink) of at most `limit` bytes.
fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, StoreError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::NotFound(path.display().to_string()));
        }
        Err(e) => return Err(StoreError::io(path.display())(e)),
    };
    if !meta.is_file() {
        return Err(StoreError::Corrupt(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > limit as u64 {
        return Err(StoreError::Corrupt(format!(
            "{} is {} bytes, over the {limit}-byte limit",
            path.display(),
            meta.len()
        )));
    }
    let f = File::open(path).map_err(StoreError::io(path.display()))?;
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(StoreError::io(path.display()))?;
    if out.len() > limit {
        return Err(StoreError::Corrupt(format!(
            "{} grew over the {limit}-byte limit while being read",
            path.display()
        )));
    }
    Ok(out)
}

/// The names in `dir`, skipping dot files (temporary files of other tools).
fn names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(StoreError::io(dir.display()))? {
        let entry = entry.map_err(StoreError::io(dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(StoreError::Corrupt(format!(
                "{} holds a file whose name is not UTF-8",
                dir.display()
            )));
        };
        if !name.starts_with('.') {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn get_blob(&self, digest: &Sha256Digest, out: &mut dyn Write) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(StoreError::Corrupt(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(format!("blob sha256:{digest}")));
            }
            Err(e) => return Err(StoreError::io(path.display())(e)),
        }
        let mut f = File::open(&path).map_err(StoreError::io(path.display()))?;
        io::copy(&mut f, out).map_err(StoreError::io(path.display()))
    }

    fn has_blob(&self, digest: &Sha256Digest) -> Result<bool, StoreError> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(path.display())(e)),
        }
    }

    fn put_blob(&self, digest: &Sha256Digest, src: &Path) -> Result<(), StoreError> {
        let dest = self.blob_path(digest);
        if self.has_blob(digest)? {
            return Ok(());
        }
        // A file prepared in our tmp/ is linked in place (no copy); anything else is
        // copied into tmp/ first, checking that it still has the announced digest.
        let staged_here = src.parent() == Some(self.tmp_dir().as_path());
        let copy;
        let from: &Path = if staged_here {
            File::open(src)
                .and_then(|f| {
                    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
                    f.sync_all()
                })
                .map_err(StoreError::io(src.display()))?;
            src
        } else {
            copy = store::staging_file(Some(&self.tmp_dir()), ".blob.")
                .map_err(StoreError::io(self.tmp_dir().display()))?;
            let mut input = File::open(src).map_err(StoreError::io(src.display()))?;
            let (actual, _) = store::copy_hashing(&mut input, &mut copy.as_file())
                .map_err(StoreError::io(src.display()))?;
            if actual != *digest {
                return Err(StoreError::Io {
                    what: src.display().to_string(),
                    source: io::Error::other(format!(
                        "changed while being stored (sha256 {actual}, expected {digest})"
                    )),
                });
            }
            copy.as_file()
                .set_permissions(fs::Permissions::from_mode(FILE_MODE))
                .and_then(|()| copy.as_file().sync_all())
                .map_err(StoreError::io(copy.path().display()))?;
            copy.path()
        };
        match fs::hard_link(from, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io(dest.display())(e)),
        }
        fsutil::sync_dir(&self.blob_dir());
        Ok(())
    }

    fn list_blobs(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        let dir = self.blob_dir();
        let mut out = Vec::new();
        for name in names(&dir)? {
            let d = Sha256Digest::from_str(&name).map_err(|_| {
                StoreError::Corrupt(format!("unexpected file {name:?} in {}", dir.display()))
            })?;
            out.push(d);
        }
        out.sort();
        Ok(out)
    }

    fn log_indexes(&self, from: u64) -> Result<Vec<u64>, StoreError> {
        let dir = self.log_dir();
        let mut out = Vec::new();
        for name in names(&dir)? {
            let index = store::parse_log_entry_name(&name).ok_or_else(|| {
                StoreError::Corrupt(format!("unexpected file {name:?} in {}", dir.display()))
            })?;
            if index >= from {
                out.push(index);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn read_log(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.log_dir().join(store::log_entry_name(index));
        read_limited(&path, MAX_LOG_ENTRY_BYTES).map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::NotFound(format!("log entry {index}")),
            other => other,
        })
    }

    fn create_log(&self, index: u64, bytes: &[u8]) -> Result<(), StoreError> {
        if index > MAX_LOG_INDEX {
            return Err(StoreError::Unsupported(format!(
                "the log is full (more than {MAX_LOG_INDEX} entries)"
            )));
        }
        if bytes.len() > MAX_LOG_ENTRY_BYTES {
            return Err(StoreError::Unsupported(format!(
                "log entry of {} bytes is over the {MAX_LOG_ENTRY_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let dest = self.log_dir().join(store::log_entry_name(index));
        match self.publish_file(bytes, &dest) {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                Err(StoreError::Conflict(index))
            }
            other => other,
        }
    }

    fn staging_dir(&self) -> Option<&Path> {
        Some(&self.tmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_requires_a_registry() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            LocalStore::open(&dir.path().join("r")),
            Err(StoreError::NoRegistry(_))
        ));
        LocalStore::create(&dir.path().join("r")).unwrap();
        LocalStore::create(&dir.path().join("r")).unwrap();
        LocalStore::open(&dir.path().join("r")).unwrap();
        fs::write(dir.path().join("r/registry.json"), "{}").unwrap();
        assert!(matches!(
            LocalStore::open(&dir.path().join("r")),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn create_log_is_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::create(dir.path()).unwrap();
        s.create_log(0, b"first").unwrap();
        assert!(matches!(
            s.create_log(0, b"second"),
            Err(StoreError::Conflict(0))
        ));
        assert_eq!(s.read_log(0).unwrap(), b"first");
        s.create_log(1, b"x").unwrap();
        assert_eq!(s.log_indexes(0).unwrap(), vec![0, 1]);
        assert_eq!(s.log_indexes(1).unwrap(), vec![1]);
        assert!(matches!(s.read_log(2), Err(StoreError::NotFound(_))));
        // Nothing left behind in tmp/.
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn blobs_are_put_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::create(&dir.path().join("r")).unwrap();
        let src = dir.path().join("b.bin");
        fs::write(&src, b"hello blob").unwrap();
        let (d, _) = store::hash_file(&src).unwrap();
        assert!(!s.has_blob(&d).unwrap());
        s.put_blob(&d, &src).unwrap();
        s.put_blob(&d, &src).unwrap();
        let mut out = Vec::new();
        s.get_blob(&d, &mut out).unwrap();
        assert_eq!(out, b"hello blob");
        assert_eq!(s.list_blobs().unwrap(), vec![d]);
        let wrong = Sha256Digest([0u8; 32]);
        assert!(s.put_blob(&wrong, &src).is_err());
        assert!(matches!(
            s.get_blob(&wrong, &mut Vec::new()),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn foreign_files_in_the_log_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::create(dir.path()).unwrap();
        fs::write(s.log_dir().join("notes.txt"), "x").unwrap();
        assert!(matches!(s.log_indexes(0), Err(StoreError::Corrupt(_))));
    }
}
