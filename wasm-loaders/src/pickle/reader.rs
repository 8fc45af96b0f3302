//! A forward-only byte reader over a pickle stream: either bytes in guest memory (a zip
//! member, a decompressed stream) or a range of a host source read in windows, so a
//! multi-gigabyte input is never loaded whole.
//!
//! Every length is checked against the bytes remaining before anything is allocated.

use crate::host::Host;
use crate::result::LoadError;

/// Bytes read from the host per window.
const WINDOW: usize = 64 << 10;

/// Longest protocol-0 text line accepted (GLOBAL names, INT/FLOAT/GET/PUT arguments and
/// the quoted STRING/UNICODE data). Long text strings are legitimate (protocol-0 NumPy
/// arrays), so this is generous; the bytes remaining bound it first.
pub const MAX_LINE: u64 = 1 << 30;

enum Input<'a> {
    Slice(&'a [u8]),
    Host {
        host: &'a mut dyn Host,
        source: u32,
        base: u64,
        window: Vec<u8>,
        window_at: u64,
    },
}

/// Where a stream's bytes live, so large blobs can be located without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Stream position `p` is byte `base + p` of host source `source`.
    Host {
        /// Host source id.
        source: u32,
        /// Offset of the stream's first byte in the source.
        base: u64,
    },
    /// The stream is a buffer in guest memory.
    Memory,
}

/// A forward reader with a position and an end.
pub struct Reader<'a> {
    input: Input<'a>,
    pos: u64,
    end: u64,
}

fn truncated(what: &str, need: u64, pos: u64, left: u64) -> LoadError {
    LoadError::malformed(format!(
        "pickle truncated: {what} needs {need} bytes at offset {pos} but only {left} remain"
    ))
}

impl<'a> Reader<'a> {
    /// A reader over bytes in memory.
    pub fn from_slice(data: &'a [u8]) -> Self {
        Reader {
            end: data.len() as u64,
            input: Input::Slice(data),
            pos: 0,
        }
    }

    /// A reader over `len` bytes of host source `source` starting at `base`.
    pub fn from_host(
        host: &'a mut dyn Host,
        source: u32,
        base: u64,
        len: u64,
    ) -> Result<Self, LoadError> {
        let total = host.source_len(source)?;
        if base.checked_add(len).is_none_or(|e| e > total) {
            return Err(LoadError::malformed(format!(
                "stream range {base}+{len} runs past the end of the input ({total} bytes)"
            )));
        }
        Ok(Reader {
            input: Input::Host {
                host,
                source,
                base,
                window: Vec::new(),
                window_at: 0,
            },
            pos: 0,
            end: len,
        })
    }

    /// Where the stream lives.
    pub fn origin(&self) -> Origin {
        match &self.input {
            Input::Slice(_) => Origin::Memory,
            Input::Host { source, base, .. } => Origin::Host {
                source: *source,
                base: *base,
            },
        }
    }

    /// Current position (from the stream start).
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Length of the stream.
    pub fn len(&self) -> u64 {
        self.end
    }

    /// True for an empty stream.
    pub fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// Bytes left.
    pub fn remaining(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    /// True at the end of the stream.
    pub fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// Make sure `n` bytes are available, else a truncation error naming `what`.
    pub fn need(&self, n: u64, what: &str) -> Result<(), LoadError> {
        if n > self.remaining() {
            return Err(truncated(what, n, self.pos, self.remaining()));
        }
        Ok(())
    }

    /// Refill the host window so that it starts at `self.pos`.
    fn refill(&mut self) -> Result<(), LoadError> {
        let left = self.remaining();
        if let Input::Host {
            host,
            source,
            base,
            window,
            window_at,
        } = &mut self.input
        {
            let n = left.min(WINDOW as u64) as usize;
            window.resize(n, 0);
            let at = base
                .checked_add(self.pos)
                .ok_or_else(|| LoadError::malformed("stream offset overflows"))?;
            host.read_at(*source, at, window)?;
            *window_at = self.pos;
        }
        Ok(())
    }

    /// The buffered bytes starting at the current position (at least one byte unless at
    /// the end).
    fn chunk(&mut self) -> Result<&[u8], LoadError> {
        if self.at_end() {
            return Ok(&[]);
        }
        let needs_refill = match &self.input {
            Input::Slice(_) => false,
            Input::Host {
                window, window_at, ..
            } => self.pos < *window_at || self.pos - *window_at >= window.len() as u64,
        };
        if needs_refill {
            self.refill()?;
        }
        let pos = self.pos;
        let end = self.end;
        match &self.input {
            Input::Slice(d) => Ok(d.get(pos as usize..end as usize).unwrap_or(&[])),
            Input::Host {
                window, window_at, ..
            } => {
                let start = (pos - *window_at) as usize;
                Ok(window.get(start..).unwrap_or(&[]))
            }
        }
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, LoadError> {
        let pos = self.pos;
        let left = self.remaining();
        let b = *self
            .chunk()?
            .first()
            .ok_or_else(|| truncated("an opcode", 1, pos, left))?;
        self.pos += 1;
        Ok(b)
    }

    /// Exactly `N` bytes.
    pub fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LoadError> {
        self.need(N as u64, what)?;
        let mut out = [0u8; N];
        self.fill(&mut out)?;
        Ok(out)
    }

    /// Fill `buf` from the current position (the caller checked the length).
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), LoadError> {
        let mut done = 0usize;
        while done < buf.len() {
            let want = buf.len() - done;
            // Large reads from the host go straight into `buf`.
            if want > WINDOW
                && let Input::Host {
                    host, source, base, ..
                } = &mut self.input
            {
                let at = base
                    .checked_add(self.pos)
                    .ok_or_else(|| LoadError::malformed("stream offset overflows"))?;
                host.read_at(*source, at, &mut buf[done..])?;
                self.pos += want as u64;
                return Ok(());
            }
            let pos = self.pos;
            let left = self.remaining();
            let chunk = self.chunk()?;
            if chunk.is_empty() {
                return Err(truncated("a value", want as u64, pos, left));
            }
            let n = chunk.len().min(want);
            buf[done..done + n].copy_from_slice(&chunk[..n]);
            done += n;
            self.pos += n as u64;
        }
        Ok(())
    }

    /// `n` bytes into a new vector (checked against the bytes remaining first).
    pub fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>, LoadError> {
        self.need(n, what)?;
        let n = usize::try_from(n)
            .map_err(|_| LoadError::limit(format!("{what} of {n} bytes exceeds memory")))?;
        let mut out = vec![0u8; n];
        self.fill(&mut out)?;
        Ok(out)
    }

    /// Skip `n` bytes.
    pub fn skip(&mut self, n: u64, what: &str) -> Result<(), LoadError> {
        self.need(n, what)?;
        self.pos += n;
        Ok(())
    }

    /// A protocol-0 line, without its `\n`. A missing newline is a truncation.
    pub fn line(&mut self, what: &str) -> Result<Vec<u8>, LoadError> {
        let start = self.pos;
        let mut out = Vec::new();
        loop {
            let pos = self.pos;
            let chunk = self.chunk()?;
            if chunk.is_empty() {
                return Err(LoadError::malformed(format!(
                    "pickle truncated: {what} at offset {start} has no terminating newline"
                )));
            }
            if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
                out.extend_from_slice(&chunk[..i]);
                self.pos = pos + i as u64 + 1;
                return Ok(out);
            }
            let n = chunk.len();
            out.extend_from_slice(chunk);
            self.pos = pos + n as u64;
            if out.len() as u64 > MAX_LINE {
                return Err(LoadError::limit(format!(
                    "{what} at offset {start} is longer than {MAX_LINE} bytes"
                )));
            }
        }
    }

    /// Move to position `pos` (only used to restart at a known offset).
    pub fn seek(&mut self, pos: u64) -> Result<(), LoadError> {
        if pos > self.end {
            return Err(LoadError::malformed(format!(
                "offset {pos} is past the end of the stream ({} bytes)",
                self.end
            )));
        }
        self.pos = pos;
        Ok(())
    }
}
