//! A little-endian cursor over the input that pulls bytes through the [`Host`] in
//! windows, with every length checked against the bytes remaining before anything is
//! read or allocated.

use crate::host::Host;
use crate::result::LoadError;

/// Largest read-ahead window.
const WINDOW: usize = 64 * 1024;
/// Window read after a jump; it doubles while reading continues sequentially, up to
/// [`WINDOW`].
const MIN_WINDOW: usize = 4 * 1024;

/// A cursor over source 0.
pub(super) struct Reader<'h> {
    host: &'h mut dyn Host,
    len: u64,
    window: Vec<u8>,
    window_start: u64,
    next_window: usize,
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
            next_window: MIN_WINDOW / 2,
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

    /// The bytes `pos .. pos+n` (n ≤ WINDOW, already checked against the bytes
    /// remaining), refilling the window if needed.
    fn window_slice(&mut self, n: usize) -> Result<&[u8], LoadError> {
        let end = self.pos + n as u64;
        let window_end = self.window_start + self.window.len() as u64;
        if self.pos < self.window_start || end > window_end {
            let sequential = self.pos >= self.window_start && self.pos <= window_end;
            self.next_window = if sequential {
                (self.next_window * 2).min(WINDOW)
            } else {
                MIN_WINDOW
            };
            // ≤ max(WINDOW, n) with n ≤ WINDOW: fits in usize.
            let want = self.remaining().min(self.next_window.max(n) as u64) as usize;
            self.window.resize(want, 0);
            self.host.read_at(0, self.pos, &mut self.window)?;
            self.window_start = self.pos;
        }
        let at = (self.pos - self.window_start) as usize;
        self.window
            .get(at..at + n)
            .ok_or_else(|| LoadError::malformed("GGUF read window out of range"))
    }

    /// The next `N` bytes.
    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LoadError> {
        self.need(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(self.window_slice(N)?);
        self.pos += N as u64;
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
        let out = if k <= WINDOW {
            self.window_slice(k)?.to_vec()
        } else {
            let mut v = vec![0u8; k];
            self.host.read_at(0, self.pos, &mut v)?;
            v
        };
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
