//! Output files appear whole or not at all: everything is written to a temporary file next
//! to its destination and renamed into place only on success.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A temporary file next to `dest`, removed on drop unless [`TempOutput::persist`] is
/// called.
#[derive(Debug)]
pub struct TempOutput {
    file: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl TempOutput {
    /// Create a temporary file in `dest`'s directory (mode 0600 until persisted).
    pub fn new(dest: &Path) -> io::Result<TempOutput> {
        let dir = parent_dir(dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(TempOutput {
            file,
            dest: dest.to_path_buf(),
        })
    }

    /// The open temporary file.
    pub fn file(&self) -> &File {
        self.file.as_file()
    }

    /// Flush to disk, set `mode` and rename over the destination.
    pub fn persist(self, mode: u32) -> io::Result<()> {
        let TempOutput { file, dest } = self;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
        file.as_file().sync_all()?;
        file.persist(&dest).map_err(|e| e.error)?;
        sync_dir(parent_dir(&dest));
        Ok(())
    }
}

/// Reserve disk blocks for `len` bytes at `offset` of a fresh file. Much faster writes on
/// ext4/xfs than filling a sparse file from several threads; a file system without
/// `fallocate` is simply not preallocated. The range still reads as zeros.
///
/// Preallocation is skipped unless the file system would keep at least `len` bytes free
/// afterwards: reserving blocks turns zero runs that the writers skip (sparse sources) into
/// allocated space, and a reservation that fails half-way on a nearly full disk keeps what
/// it took, so the real writes would then fail for want of space that the data never needed.
pub fn preallocate(file: &File, offset: u64, len: u64) {
    if len == 0 {
        return;
    }
    let Ok(stat) = rustix::fs::fstatvfs(file) else {
        return;
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free / 2 < len {
        return;
    }
    let _ = rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), offset, len);
}

/// Write `contents` to `path` atomically with permissions `mode`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let out = TempOutput::new(path)?;
    let mut f = out.file();
    f.write_all(contents)?;
    out.persist(mode)
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Best-effort fsync of a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_temp_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        {
            let t = TempOutput::new(&dest).unwrap();
            t.file().write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&dest, b"whole", 0o640).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"whole");
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
