//! A little-endian cursor over the input that pulls bytes through the [`Host`] in
//! windows, with every length checked against the bytes remaining before anything is
//! read or allocated.

use crate::host::Host;
use crate::result::LoadError;

/// Size of the read-ahead window.
const WINDOW: usize = 64 * 1024;

/// A cursor over source 0.
pub(super) struct Reader<'h> {
    host: &'h mut dyn Host,
    len: u64,
    window: Vec<u8>,
    window_start: u64,
    pos: u64,
    /// GGUF v2+ (64-bit counts and lengths) rather than v1 (32-bit).
    pub wide: bool,
}

impl<'h> Reader<'h> {
    /// A cursor at the start of the input.
    pub fn new(host: &'h mut dyn Host) -> Result<Self, LoadError> {
        let len = host.input_len()?;
        Ok(Reader {
            host,
            len,
            window: Vec::new(),
            window_start: 0,
            pos: 0,
            wide: true,
        })
    }

    /// Current position.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The host (for tensor reads and output writes after the header).
    pub fn host(&mut self) -> &mut dyn Host {
        &mut *self.host
    }

    /// Input length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Bytes left after the position.
    pub fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// Fail unless `n` bytes remain.
    pub fn need(&self, n: u64, what: &str) -> Result<(), LoadError> {
        if n <= self.remaining() {
            Ok(())
        } else {
            Err(LoadError::malformed(format!(
                "truncated GGUF: {what} needs {n} bytes at offset {} but only {} remain",
                self.pos,
                self.remaining()
            )))
        }
    }

    /// The next `N` bytes.
    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LoadError> {
        self.need(N as u64, what)?;
        let end = self.pos + N as u64;
        if self.pos < self.window_start || end > self.window_start + self.window.len() as u64 {
            let want = self.remaining().min(WINDOW as u64) as usize;
            self.window.resize(want, 0);
            self.host.read_at(0, self.pos, &mut self.window)?;
            self.window_start = self.pos;
        }
        let at = (self.pos - self.window_start) as usize;
        let mut out = [0u8; N];
        let src = self
            .window
            .get(at..at + N)
            .ok_or_else(|| LoadError::malformed("GGUF read window out of range"))?;
        out.copy_from_slice(src);
        self.pos = end;
        Ok(out)
    }

    /// A byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, LoadError> {
        Ok(self.take::<1>(what)?[0])
    }
    /// A little-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16, LoadError> {
        Ok(u16::from_le_bytes(self.take(what)?))
    }
    /// A little-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, LoadError> {
        Ok(u32::from_le_bytes(self.take(what)?))
    }
    /// A little-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64, LoadError> {
        Ok(u64::from_le_bytes(self.take(what)?))
    }
    /// A count or length: u32 in GGUF v1, u64 from v2 on.
    pub fn count(&mut self, what: &str) -> Result<u64, LoadError> {
        if self.wide {
            self.u64(what)
        } else {
            self.u32(what).map(u64::from)
        }
    }

    /// Skip `n` bytes.
    pub fn skip(&mut self, n: u64, what: &str) -> Result<(), LoadError> {
        self.need(n, what)?;
        self.pos += n;
        Ok(())
    }

    /// Read the first `min(n, max)` of the next `n` bytes (n checked against the bytes
    /// remaining first) and skip the rest.
    pub fn prefix(&mut self, n: u64, max: usize, what: &str) -> Result<Vec<u8>, LoadError> {
        self.need(n, what)?;
        // min(n, max) ≤ max, a usize.
        let k = n.min(max as u64) as usize;
        let mut out = vec![0u8; k];
        self.host.read_at(0, self.pos, &mut out)?;
        self.pos += n;
        Ok(out)
    }

    /// A GGUF string's length (checked against the bytes remaining).
    pub fn string_len(&mut self, what: &str) -> Result<u64, LoadError> {
        let n = self.count(what)?;
        self.need(n, what)?;
        Ok(n)
    }
}
