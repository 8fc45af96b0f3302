//! Turning the paths given to `sign` into the list of files to package.
//!
//! A directory contributes its contents (paths relative to it); a file contributes its
//! base name. Symlinks, special files, non-UTF-8 names, invalid member paths, duplicates
//! and names that differ only by case are refused with the offending path named.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::manifest::{self, MAX_FILES, MemberPath, PathError};

/// A file to package.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Path inside the bundle.
    pub path: MemberPath,
    /// Where it is on disk.
    pub source: PathBuf,
    /// Its size when listed.
    pub size: u64,
    /// Identity and modification time when listed (to detect changes while signing).
    pub stamp: FileStamp,
}

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    /// The stamp of `meta`.
    pub fn of(meta: &fs::Metadata) -> Self {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// How to walk the inputs.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// Follow symlinks to regular files and directories instead of refusing them.
    pub follow_symlinks: bool,
    /// Skip any file or directory whose name is one of these (e.g. `.git`).
    pub exclude: Vec<String>,
    /// Never include this file (the output bundle, when it lies inside an input).
    pub skip: Option<PathBuf>,
}

/// Why the inputs cannot be packaged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// Reading a directory or file failed.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Error.
        #[source]
        source: std::io::Error,
    },
    /// A symlink (refused unless following is enabled).
    #[error("{0} is a symbolic link (refused; use --follow-symlinks to package its target)")]
    Symlink(PathBuf),
    /// A FIFO, socket or device.
    #[error("{0} is not a regular file or directory")]
    SpecialFile(PathBuf),
    /// A name that is not UTF-8.
    #[error("{0} has a name that is not valid UTF-8")]
    NonUtf8Name(PathBuf),
    /// A name that cannot be a member path.
    #[error("{path}: cannot be stored in a bundle: {error}")]
    InvalidName {
        /// Path on disk.
        path: PathBuf,
        /// Why.
        error: PathError,
    },
    /// Two inputs give the same member path.
    #[error("two inputs would both be stored as {0} ({1} and {2})")]
    Duplicate(MemberPath, PathBuf, PathBuf),
    /// Two member paths differ only by case.
    #[error("{0} and {1} differ only by letter case (they would collide on macOS and Windows)")]
    CaseCollision(MemberPath, MemberPath),
    /// A file name is also a directory of another input.
    #[error("{0} is a file but {1} uses it as a directory")]
    FileIsDirectory(MemberPath, MemberPath),
    /// Nothing to package.
    #[error("no files to package")]
    Empty,
    /// Too many files.
    #[error("more than {MAX_FILES} files")]
    TooMany,
}

/// List the files to package, sorted by member path.
pub fn collect(
    inputs: &[PathBuf],
    options: &CollectOptions,
) -> Result<Vec<InputFile>, CollectError> {
    let skip = options
        .skip
        .as_ref()
        .and_then(|p| fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()));
    let mut walker = Walker {
        options,
        skip,
        out: Vec::new(),
    };
    for input in inputs {
        let meta = walker.metadata(input)?;
        if meta.is_dir() {
            walker.walk_dir(input, "")?;
        } else {
            let name = input
                .file_name()
                .ok_or_else(|| CollectError::InvalidName {
                    path: input.clone(),
                    error: PathError::Empty,
                })?
                .to_str()
                .ok_or_else(|| CollectError::NonUtf8Name(input.clone()))?
                .to_string();
            walker.add_file(input, &name, &meta)?;
        }
    }
    let mut files = walker.out;
    if files.is_empty() {
        return Err(CollectError::Empty);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for pair in files.windows(2) {
        if pair[0].path == pair[1].path {
            return Err(CollectError::Duplicate(
                pair[1].path.clone(),
                pair[0].source.clone(),
                pair[1].source.clone(),
            ));
        }
    }
    match manifest::check_case_collisions(files.iter().map(|f| &f.path)) {
        Err(manifest::ManifestError::CaseCollision(a, b)) => {
            return Err(CollectError::CaseCollision(a, b));
        }
        Err(manifest::ManifestError::FileIsDirectory(a, b)) => {
            return Err(CollectError::FileIsDirectory(a, b));
        }
        _ => {}
    }
    Ok(files)
}

/// List the files under one directory, with paths relative to it (for verifying a
/// detached bundle in place). Unlike [`collect`], an empty directory is not an error.
pub fn collect_one(dir: &Path, options: &CollectOptions) -> Result<Vec<InputFile>, CollectError> {
    match collect(&[dir.to_path_buf()], options) {
        Err(CollectError::Empty) => Ok(Vec::new()),
        other => other,
    }
}

struct Walker<'a> {
    options: &'a CollectOptions,
    skip: Option<(u64, u64)>,
    out: Vec<InputFile>,
}

impl Walker<'_> {
    fn metadata(&self, path: &Path) -> Result<fs::Metadata, CollectError> {
        let io = |source| CollectError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::symlink_metadata(path).map_err(io)?;
        if meta.file_type().is_symlink() {
            if !self.options.follow_symlinks {
                return Err(CollectError::Symlink(path.to_path_buf()));
            }
            return fs::metadata(path).map_err(io);
        }
        Ok(meta)
    }

    fn walk_dir(&mut self, dir: &Path, prefix: &str) -> Result<(), CollectError> {
        let io = |source| CollectError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut children: Vec<_> = fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = child.path();
            let name = child
                .file_name()
                .to_str()
                .ok_or_else(|| CollectError::NonUtf8Name(path.clone()))?
                .to_string();
            if self.options.exclude.contains(&name) {
                continue;
            }
            let meta = self.metadata(&path)?;
            let member = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if meta.is_dir() {
                if prefix.split('/').count() > manifest::path::MAX_DEPTH {
                    return Err(CollectError::InvalidName {
                        path,
                        error: PathError::TooDeep,
                    });
                }
                self.walk_dir(&path, &member)?;
            } else {
                self.add_file(&path, &member, &meta)?;
            }
        }
        Ok(())
    }

    fn add_file(
        &mut self,
        path: &Path,
        member: &str,
        meta: &fs::Metadata,
    ) -> Result<(), CollectError> {
        if !meta.is_file() {
            return Err(CollectError::SpecialFile(path.to_path_buf()));
        }
        if self.skip == Some((meta.dev(), meta.ino())) {
            return Ok(());
        }
        let member = MemberPath::new(member).map_err(|error| CollectError::InvalidName {
            path: path.to_path_buf(),
            error,
        })?;
        if self.out.len() >= MAX_FILES {
            return Err(CollectError::TooMany);
        }
        self.out.push(InputFile {
            path: member,
            source: path.to_path_buf(),
            size: meta.len(),
            stamp: FileStamp::of(meta),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(files: &[InputFile]) -> Vec<&str> {
        files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn directories_contribute_contents_and_files_their_names() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("m/sub")).unwrap();
        fs::write(d.path().join("m/a.json"), b"{}").unwrap();
        fs::write(d.path().join("m/sub/w.bin"), b"x").unwrap();
        fs::write(d.path().join("extra.txt"), b"y").unwrap();
        let files = collect(
            &[d.path().join("m"), d.path().join("extra.txt")],
            &CollectOptions::default(),
        )
        .unwrap();
        assert_eq!(names(&files), ["a.json", "extra.txt", "sub/w.bin"]);
    }

    #[test]
    fn refusals_name_the_offender() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("m");
        fs::create_dir(&m).unwrap();
        fs::write(m.join("a"), b"1").unwrap();
        symlink("/etc/passwd", m.join("link")).unwrap();
        let err = collect(std::slice::from_ref(&m), &CollectOptions::default()).unwrap_err();
        assert!(
            matches!(err, CollectError::Symlink(ref p) if p.ends_with("link")),
            "{err}"
        );
        fs::remove_file(m.join("link")).unwrap();

        fs::write(m.join("A"), b"2").unwrap();
        let err = collect(std::slice::from_ref(&m), &CollectOptions::default()).unwrap_err();
        assert!(matches!(err, CollectError::CaseCollision(..)), "{err}");
        fs::remove_file(m.join("A")).unwrap();

        fs::write(m.join("x:y"), b"3").unwrap();
        let err = collect(std::slice::from_ref(&m), &CollectOptions::default()).unwrap_err();
        assert!(matches!(err, CollectError::InvalidName { .. }), "{err}");
        fs::remove_file(m.join("x:y")).unwrap();

        let bad = std::ffi::OsStr::from_bytes_compat(b"bad\xff");
        fs::write(m.join(bad), b"4").unwrap();
        let err = collect(std::slice::from_ref(&m), &CollectOptions::default()).unwrap_err();
        assert!(matches!(err, CollectError::NonUtf8Name(_)), "{err}");
        fs::remove_file(m.join(bad)).unwrap();

        let fifo = m.join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = collect(std::slice::from_ref(&m), &CollectOptions::default()).unwrap_err();
        assert!(matches!(err, CollectError::SpecialFile(_)), "{err}");
        fs::remove_file(&fifo).unwrap();

        fs::write(d.path().join("a"), b"5").unwrap();
        let err = collect(&[m, d.path().join("a")], &CollectOptions::default()).unwrap_err();
        assert!(matches!(err, CollectError::Duplicate(..)), "{err}");
    }

    trait FromBytesCompat {
        fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr;
    }
    impl FromBytesCompat for std::ffi::OsStr {
        fn from_bytes_compat(b: &[u8]) -> &std::ffi::OsStr {
            use std::os::unix::ffi::OsStrExt;
            std::ffi::OsStr::from_bytes(b)
        }
    }
}
