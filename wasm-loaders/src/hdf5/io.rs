//! Byte access for the HDF5 reader: a window of the input (read on demand through the
//! [`Host`]) or bytes held in memory, and a bounds-checked cursor over what was read.

use crate::host::Host;
use crate::result::LoadError;

/// The "undefined address" value (all bits set), after widening to 64 bits.
pub(crate) const UNDEFINED: u64 = u64::MAX;

/// Largest single metadata read (object header chunk, heap block, B-tree node…).
pub(crate) const MAX_METADATA_READ: u64 = 64 << 20;

/// Total bytes a load may read, as a multiple of the file size (plus
/// [`READ_ALLOWANCE`]): structures that overlap or are referenced many times cannot make
/// a small file cost unbounded reads, memory or time.
const READ_AMPLIFICATION: u64 = 8;
/// Bytes every load may read on top of [`READ_AMPLIFICATION`] × the file size.
const READ_ALLOWANCE: u64 = 256 << 20;

/// Shorthand for results of this module tree.
pub(crate) type R<T> = Result<T, LoadError>;

/// A malformed-input error tagged with the `hdf5` format.
pub(crate) fn malformed(message: impl Into<String>) -> LoadError {
    LoadError::malformed(message).with_format("hdf5")
}

/// An unsupported-feature error tagged with the `hdf5` format.
pub(crate) fn unsupported(message: impl Into<String>) -> LoadError {
    LoadError::unsupported(message).with_format("hdf5")
}

/// A limit error tagged with the `hdf5` format.
pub(crate) fn limit(message: impl Into<String>) -> LoadError {
    LoadError::limit(message).with_format("hdf5")
}

/// Where the HDF5 bytes are.
#[derive(Debug)]
pub enum Backing {
    /// `len` bytes of the input file (source 0) starting at `start` (a whole `.h5` file, or
    /// a stored member of a zip archive).
    Input {
        /// Absolute offset in the input.
        start: u64,
        /// Length of the HDF5 file.
        len: u64,
    },
    /// The whole HDF5 file, held in guest memory (e.g. decompressed from an archive).
    Memory(Vec<u8>),
}

/// Random access to the HDF5 file's bytes.
pub(crate) struct Source<'h> {
    host: &'h mut dyn Host,
    backing: Backing,
    read_total: u64,
    read_budget: u64,
}

impl<'h> Source<'h> {
    /// Wraps `backing`, checking that an input window lies inside the input.
    pub(crate) fn new(host: &'h mut dyn Host, backing: Backing) -> R<Self> {
        if let Backing::Input { start, len } = backing {
            let total = host.input_len()?;
            let end = start
                .checked_add(len)
                .ok_or_else(|| malformed("HDF5 window overflows"))?;
            if end > total {
                return Err(malformed(format!(
                    "HDF5 window {start}+{len} runs past the end of the input ({total} bytes)"
                )));
            }
        }
        let len = match &backing {
            Backing::Input { len, .. } => *len,
            Backing::Memory(v) => v.len() as u64,
        };
        let read_budget = len
            .saturating_mul(READ_AMPLIFICATION)
            .saturating_add(READ_ALLOWANCE);
        Ok(Source {
            host,
            backing,
            read_total: 0,
            read_budget,
        })
    }

    /// Length of the HDF5 file in bytes.
    pub(crate) fn len(&self) -> u64 {
        match &self.backing {
            Backing::Input { len, .. } => *len,
            Backing::Memory(v) => v.len() as u64,
        }
    }

    /// The host, for writing output.
    pub(crate) fn host(&mut self) -> &mut dyn Host {
        &mut *self.host
    }

    /// The absolute input offset of file position `pos`, when the file is a window of the
    /// input (so tensors can point straight at it).
    pub(crate) fn input_offset(&self, pos: u64) -> Option<u64> {
        match &self.backing {
            Backing::Input { start, .. } => start.checked_add(pos),
            Backing::Memory(_) => None,
        }
    }

    /// Checks that `pos..pos+len` lies inside the file; returns the end.
    pub(crate) fn check_range(&self, pos: u64, len: u64, what: &str) -> R<u64> {
        let end = pos
            .checked_add(len)
            .ok_or_else(|| malformed(format!("{what}: address {pos} + {len} overflows")))?;
        if end > self.len() {
            return Err(malformed(format!(
                "{what}: {len} bytes at {pos} run past the end of the file ({} bytes)",
                self.len()
            )));
        }
        Ok(end)
    }

    /// Fills `buf` from file position `pos` (checked against the file length first).
    pub(crate) fn read_into(&mut self, pos: u64, buf: &mut [u8], what: &str) -> R<()> {
        let end = self.check_range(pos, buf.len() as u64, what)?;
        self.read_total = self.read_total.saturating_add(buf.len() as u64);
        if self.read_total > self.read_budget {
            return Err(limit(format!(
                "{what}: reading more than {} bytes of a {}-byte file (structures referenced \
                 over and over)",
                self.read_budget,
                self.len()
            )));
        }
        match &self.backing {
            Backing::Input { start, .. } => {
                let abs = start
                    .checked_add(pos)
                    .ok_or_else(|| malformed(format!("{what}: address overflows")))?;
                self.host.read_at(0, abs, buf)
            }
            Backing::Memory(v) => {
                let (s, e) = (to_usize(pos)?, to_usize(end)?);
                let src = v
                    .get(s..e)
                    .ok_or_else(|| malformed(format!("{what}: range outside the file")))?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    /// Reads `len` bytes at file position `pos` into a new vector (length checked against
    /// the file and [`MAX_METADATA_READ`] before allocating).
    pub(crate) fn read(&mut self, pos: u64, len: u64, what: &str) -> R<Vec<u8>> {
        self.check_range(pos, len, what)?;
        if len > MAX_METADATA_READ {
            return Err(limit(format!(
                "{what}: a {len}-byte read exceeds the {MAX_METADATA_READ}-byte metadata read limit"
            )));
        }
        let mut buf = vec![0u8; to_usize(len)?];
        self.read_into(pos, &mut buf, what)?;
        Ok(buf)
    }
}

/// `u64` → `usize`, as a limit error when it does not fit (wasm32).
pub(crate) fn to_usize(v: u64) -> R<usize> {
    usize::try_from(v).map_err(|_| limit(format!("{v} does not fit in the address space")))
}

/// A bounds-checked little-endian reader over bytes already read from the file.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Size of file addresses ("offsets") in bytes.
    pub(crate) so: u8,
    /// Size of file lengths in bytes.
    pub(crate) sl: u8,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`; `what` names the structure in error messages.
    pub(crate) fn new(buf: &'a [u8], so: u8, sl: u8, what: &'static str) -> Self {
        Cursor {
            buf,
            pos: 0,
            so,
            sl,
            what,
        }
    }

    /// Current position.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                malformed(format!(
                    "{} is truncated: needs {n} bytes at position {}, has {}",
                    self.what,
                    self.pos,
                    self.remaining()
                ))
            })?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| malformed(format!("{} is truncated", self.what)))?;
        self.pos = end;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize) -> R<()> {
        self.bytes(n).map(|_| ())
    }

    /// Moves to absolute position `p` (must be within the buffer).
    pub(crate) fn seek(&mut self, p: usize) -> R<()> {
        if p > self.buf.len() {
            return Err(malformed(format!(
                "{}: position {p} outside {} bytes",
                self.what,
                self.buf.len()
            )));
        }
        self.pos = p;
        Ok(())
    }

    /// Skips to the next multiple of 8 from the buffer start.
    pub(crate) fn align8(&mut self) -> R<()> {
        let pad = (8 - self.pos % 8) % 8;
        self.skip(pad)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> R<u8> {
        Ok(self.bytes(1)?.first().copied().unwrap_or(0))
    }

    /// Little-endian u16.
    pub(crate) fn u16(&mut self) -> R<u16> {
        Ok(self.uint(2)? as u16)
    }

    /// Little-endian u32.
    pub(crate) fn u32(&mut self) -> R<u32> {
        Ok(self.uint(4)? as u32)
    }

    /// Little-endian u64.
    pub(crate) fn u64(&mut self) -> R<u64> {
        self.uint(8)
    }

    /// Little-endian unsigned integer of `n` ≤ 8 bytes.
    pub(crate) fn uint(&mut self, n: usize) -> R<u64> {
        if n > 8 {
            return Err(malformed(format!(
                "{}: {n}-byte integer field is wider than 8 bytes",
                self.what
            )));
        }
        let b = self.bytes(n)?;
        Ok(le_uint(b))
    }

    /// A file address (`so` bytes); all bits set means undefined ([`UNDEFINED`]).
    pub(crate) fn addr(&mut self) -> R<u64> {
        let n = usize::from(self.so);
        let v = self.uint(n)?;
        Ok(if is_all_ones(v, n) { UNDEFINED } else { v })
    }

    /// A file length (`sl` bytes); all bits set is returned as [`UNDEFINED`].
    pub(crate) fn len(&mut self) -> R<u64> {
        let n = usize::from(self.sl);
        let v = self.uint(n)?;
        Ok(if is_all_ones(v, n) { UNDEFINED } else { v })
    }

    /// Fails unless the next bytes are `sig`.
    pub(crate) fn expect_sig(&mut self, sig: &[u8; 4]) -> R<()> {
        let got = self.bytes(4)?;
        if got != sig {
            return Err(malformed(format!(
                "{}: bad signature {:?} (expected {:?})",
                self.what,
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(sig)
            )));
        }
        Ok(())
    }
}

/// Little-endian value of up to 8 bytes.
pub(crate) fn le_uint(b: &[u8]) -> u64 {
    b.iter()
        .take(8)
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

fn is_all_ones(v: u64, n: usize) -> bool {
    if n >= 8 {
        v == u64::MAX
    } else {
        v == (1u64 << (8 * n)) - 1
    }
}

/// Checks the trailing Jenkins lookup3 checksum of a metadata block: the last 4 bytes of
/// `block` must equal the checksum of the bytes before them.
pub(crate) fn verify_checksum(block: &[u8], what: &str) -> R<()> {
    let n = block
        .len()
        .checked_sub(4)
        .ok_or_else(|| malformed(format!("{what}: too short for a checksum")))?;
    let (data, sum) = block.split_at(n);
    let stored = le_uint(sum) as u32;
    let computed = super::checksum::lookup3(data, 0);
    if stored != computed {
        return Err(malformed(format!(
            "{what}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )));
    }
    Ok(())
}
