//! The byte sources a guest may read: the input (id 0) and external files it opened, and
//! the output buffer it appends to.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::confine::{OpenRefusal, open_confined};

/// One readable file with its length fixed when it was opened.
#[derive(Debug)]
pub struct SourceFile {
    /// The open file.
    pub file: File,
    /// Its length when opened (reads past it are refused).
    pub len: u64,
    /// The name the model used (empty for the input).
    pub name: String,
}

impl SourceFile {
    /// Wrap an open regular file, recording its length.
    pub fn new(file: File, name: String) -> io::Result<SourceFile> {
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(SourceFile {
            file,
            len: meta.len(),
            name,
        })
    }
}

/// Source 0 (the input) plus external files, by id.
#[derive(Debug)]
pub struct Sources {
    files: Vec<SourceFile>,
    model_dir: Option<File>,
    max_external: u32,
}

impl Sources {
    /// Sources for `input`; external files are looked up in `model_dir` (none allowed if
    /// `None`), at most `max_external` of them.
    pub fn new(input: SourceFile, model_dir: Option<File>, max_external: u32) -> Sources {
        Sources {
            files: vec![input],
            model_dir,
            max_external,
        }
    }

    /// Open the input file `path` and its directory.
    pub fn open_input(path: &Path, max_external: u32) -> io::Result<Sources> {
        // O_NONBLOCK: a FIFO given as input must not block the open; it is refused as
        // "not a regular file" just after.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)?;
        let input = SourceFile::new(file, String::new())?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let model_dir = File::open(dir).ok().filter(|d| {
            d.metadata()
                .map(|m| m.file_type().is_dir())
                .unwrap_or(false)
        });
        Ok(Sources::new(input, model_dir, max_external))
    }

    /// The source with id `id`.
    pub fn get(&self, id: u32) -> Option<&SourceFile> {
        self.files.get(usize::try_from(id).ok()?)
    }

    /// The input file.
    pub fn input(&self) -> &SourceFile {
        // `files` always holds the input at index 0 (set in `new`, never removed).
        &self.files[0]
    }

    /// Number of external files opened.
    pub fn external_count(&self) -> usize {
        self.files.len().saturating_sub(1)
    }

    /// Open an external file; `Err(None)` when too many are open already.
    pub fn open_external(&mut self, name: &str) -> Result<u32, Option<OpenRefusal>> {
        if self.external_count() >= self.max_external as usize {
            return Err(None);
        }
        let Some(dir) = &self.model_dir else {
            return Err(Some(OpenRefusal::Policy("no model directory")));
        };
        let file = open_confined(dir, name).map_err(Some)?;
        let source = SourceFile::new(file, name.to_string())
            .map_err(|e| Some(OpenRefusal::Io(e.to_string())))?;
        let id = u32::try_from(self.files.len()).map_err(|_| None)?;
        self.files.push(source);
        Ok(id)
    }
}

/// The output buffer: bytes the guest produced, kept in an anonymous temporary file and
/// capped in size.
#[derive(Debug)]
pub struct OutputBuffer {
    file: File,
    len: u64,
    limit: u64,
    limit_hit: bool,
}

impl OutputBuffer {
    /// An empty buffer in an anonymous file in `dir` (the system temporary directory if
    /// `None`), holding at most `limit` bytes.
    pub fn new(dir: Option<&Path>, limit: u64) -> io::Result<OutputBuffer> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d)?,
            None => tempfile::tempfile()?,
        };
        Ok(OutputBuffer {
            file,
            len: 0,
            limit,
            limit_hit: false,
        })
    }

    /// Append `bytes`; returns where they start, or `None` if the limit would be exceeded
    /// (nothing is written then).
    pub fn append(&mut self, bytes: &[u8]) -> Result<Option<u64>, io::Error> {
        let start = self.len;
        let end = match start.checked_add(bytes.len() as u64) {
            Some(end) if end <= self.limit => end,
            _ => {
                self.limit_hit = true;
                return Ok(None);
            }
        };
        self.file.write_all(bytes)?;
        self.len = end;
        Ok(Some(start))
    }

    /// Bytes in the buffer.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when an append was refused for the size limit.
    pub fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    /// The underlying file (read it with positioned reads).
    pub fn file(&self) -> &File {
        &self.file
    }
}
