//! Atomic extraction: files are written into a fresh private directory next to the
//! destination, which is renamed into place only when everything verified.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::verify::VerifyError;
use crate::fsutil;
use crate::manifest::MemberPath;

/// A directory being filled; removed on drop unless committed.
pub(crate) struct Extraction {
    temp: tempfile::TempDir,
    dest: PathBuf,
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> VerifyError + '_ {
    move |source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Extraction {
    /// Check that `dest` is absent or an empty directory and create the working directory.
    pub(crate) fn prepare(dest: &Path) -> Result<Extraction, VerifyError> {
        match fs::symlink_metadata(dest) {
            Ok(meta) if meta.is_dir() => {
                if fs::read_dir(dest).map_err(io_at(dest))?.next().is_some() {
                    return Err(VerifyError::DestinationNotEmpty(dest.to_path_buf()));
                }
            }
            Ok(_) => return Err(VerifyError::DestinationNotEmpty(dest.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(dest)(e)),
        }
        let parent = fsutil::parent_dir(dest);
        let temp = tempfile::Builder::new()
            .prefix(".modelseal-extract.")
            .tempdir_in(parent)
            .map_err(io_at(parent))?;
        Ok(Extraction {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// Create the (empty, pre-sized) file for `path` and return where it is.
    pub(crate) fn create_file(&self, path: &MemberPath, size: u64) -> Result<PathBuf, VerifyError> {
        // Components are validated (no `..`, no absolute paths): joining stays inside.
        let mut target = self.temp.path().to_path_buf();
        for c in path.components() {
            target.push(c);
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(io_at(&target))?;
        f.set_len(size).map_err(io_at(&target))?;
        fsutil::preallocate(&f, 0, size);
        Ok(target)
    }

    /// Move the finished directory into place.
    pub(crate) fn commit(self) -> Result<(), VerifyError> {
        let path = self.temp.keep();
        let result = (|| {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
            for entry in walk(&path)? {
                if let Ok(f) = fs::File::open(&entry) {
                    let _ = f.sync_all();
                }
            }
            fs::rename(&path, &self.dest)
        })();
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&path);
            return Err(io_at(&self.dest)(e));
        }
        fsutil::sync_dir(fsutil::parent_dir(&self.dest));
        Ok(())
    }
}

fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}
