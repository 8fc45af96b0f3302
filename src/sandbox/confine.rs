//! Opening an external file named by a model (`source_open`) strictly inside the model's
//! directory.
//!
//! The name is untrusted. It must be a relative path of plain components: no leading `/`,
//! no `.` or `..`, no empty component, no backslash, no NUL, at most
//! [`MAX_EXTERNAL_NAME`](super::limits::MAX_EXTERNAL_NAME) bytes. The file is then opened
//! component by component with `openat(…, O_NOFOLLOW)` starting from a descriptor of the
//! model directory taken before the run, so no symlink is ever followed and nothing can be
//! swapped between the check and the open. The result must be a regular file with a single
//! link (a hard link could alias a file outside the directory).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags, openat};
use rustix::io::Errno;

use super::limits::MAX_EXTERNAL_NAME;

/// Most path components in an external file name.
pub const MAX_COMPONENTS: usize = 32;

/// Why an external file was not opened; maps to the ABI's return codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenRefusal {
    /// The name or the file is not allowed (ABI code -1).
    #[error("refused by policy: {0}")]
    Policy(&'static str),
    /// No such file (ABI code -2).
    #[error("not found")]
    NotFound,
    /// I/O error (ABI code -4).
    #[error("I/O error: {0}")]
    Io(String),
}

/// Check the shape of `name` and split it into its components.
pub fn split_name(name: &str) -> Result<Vec<&str>, OpenRefusal> {
    if name.is_empty() {
        return Err(OpenRefusal::Policy("empty name"));
    }
    if name.len() > MAX_EXTERNAL_NAME {
        return Err(OpenRefusal::Policy("name too long"));
    }
    if name.contains('\0') {
        return Err(OpenRefusal::Policy("NUL in name"));
    }
    if name.contains('\\') {
        return Err(OpenRefusal::Policy("backslash in name"));
    }
    if name.starts_with('/') {
        return Err(OpenRefusal::Policy("absolute path"));
    }
    if name.chars().any(char::is_control) {
        return Err(OpenRefusal::Policy("control character in name"));
    }
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() > MAX_COMPONENTS {
        return Err(OpenRefusal::Policy("too many path components"));
    }
    for part in &parts {
        match *part {
            "" => return Err(OpenRefusal::Policy("empty path component")),
            "." | ".." => return Err(OpenRefusal::Policy("`.` or `..` in path")),
            _ => {}
        }
    }
    Ok(parts)
}

fn map_errno(e: Errno) -> OpenRefusal {
    match e {
        Errno::NOENT => OpenRefusal::NotFound,
        // O_NOFOLLOW on a symlink gives ELOOP; a file where a directory is expected gives
        // ENOTDIR; O_DIRECTORY on a symlink also gives ENOTDIR or ELOOP.
        Errno::LOOP | Errno::NOTDIR | Errno::MLINK => {
            OpenRefusal::Policy("symlink or non-directory on the path")
        }
        Errno::ACCESS | Errno::PERM => OpenRefusal::Io("permission denied".into()),
        other => OpenRefusal::Io(io::Error::from(other).to_string()),
    }
}

/// Open `name` (see the module docs) relative to the directory `dir`.
pub fn open_confined(dir: &File, name: &str) -> Result<File, OpenRefusal> {
    let parts = split_name(name)?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(OpenRefusal::Policy("empty name"));
    };
    let mut current: Option<File> = None;
    for part in dirs {
        let base = match &current {
            Some(f) => f.as_fd(),
            None => dir.as_fd(),
        };
        let fd = openat(
            base,
            *part,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(map_errno)?;
        current = Some(File::from(fd));
    }
    let base = match &current {
        Some(f) => f.as_fd(),
        None => dir.as_fd(),
    };
    // O_NONBLOCK: opening a FIFO must not block the host; it is refused just below.
    let fd = openat(
        base,
        *last,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(map_errno)?;
    let file = File::from(fd);
    let meta = file
        .metadata()
        .map_err(|e| OpenRefusal::Io(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(OpenRefusal::Policy("not a regular file"));
    }
    if std::os::unix::fs::MetadataExt::nlink(&meta) != 1 {
        return Err(OpenRefusal::Policy("file has several hard links"));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_open() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(
                matches!(split_name(bad), Err(OpenRefusal::Policy(_))),
                "{bad:?}"
            );
        }
        assert_eq!(split_name("a/b.bin").unwrap(), vec!["a", "b.bin"]);
        let long = "a".repeat(MAX_EXTERNAL_NAME + 1);
        assert!(split_name(&long).is_err());
        let deep = vec!["d"; MAX_COMPONENTS + 1].join("/");
        assert!(split_name(&deep).is_err());
    }

    #[test]
    fn opens_only_plain_files_inside_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/data.bin"), b"abc").unwrap();
        std::fs::write(root.join("top.bin"), b"x").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("dirlink")).unwrap();
        std::fs::hard_link(root.join("top.bin"), root.join("hard.bin")).unwrap();
        let dir = File::open(root).unwrap();

        let mut f = open_confined(&dir, "sub/data.bin").unwrap();
        let mut s = String::new();
        io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert_eq!(s, "abc");
        assert_eq!(
            open_confined(&dir, "nope").unwrap_err(),
            OpenRefusal::NotFound
        );
        assert!(matches!(
            open_confined(&dir, "link"),
            Err(OpenRefusal::Policy(_))
        ));
        assert!(matches!(
            open_confined(&dir, "dirlink/secret"),
            Err(OpenRefusal::Policy(_))
        ));
        assert!(matches!(
            open_confined(&dir, "sub"),
            Err(OpenRefusal::Policy(_))
        ));
        assert!(matches!(
            open_confined(&dir, "hard.bin"),
            Err(OpenRefusal::Policy(_))
        ));
        assert!(matches!(
            open_confined(&dir, "sub/data.bin/x"),
            Err(OpenRefusal::Policy(_))
        ));
    }
}
