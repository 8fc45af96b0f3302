//! A bounded protobuf wire-format reader that pulls bytes through the [`Host`].
//!
//! Only what ONNX needs: varints (at most 10 bytes, the last one ≤ 1), fixed 32/64-bit
//! values, length-delimited fields whose length is checked against the enclosing message
//! before anything is read or allocated, and skipping of unknown fields by wire type.
//! Groups (wire types 3 and 4, absent from `onnx.proto`) are refused.
//!
//! The reader never holds the whole file: it keeps a small window of the source and reads
//! further windows on demand, so payloads (e.g. `raw_data`) are skipped by moving the
//! position and are described as (offset, length) ranges instead of being copied.

use crate::host::Host;
use crate::result::LoadError;

/// Largest read-ahead window.
const WINDOW: usize = 64 * 1024;
/// Window read after a jump (e.g. past a skipped payload); it doubles while reading
/// continues sequentially, up to [`WINDOW`].
const MIN_WINDOW: usize = 4 * 1024;
/// Longest valid varint encoding of a 64-bit value.
const MAX_VARINT_BYTES: usize = 10;
/// Largest field number protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// The wire type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    /// Type 0: a varint.
    Varint,
    /// Type 1: 8 little-endian bytes.
    I64,
    /// Type 2: a varint length and that many bytes.
    Len,
    /// Type 5: 4 little-endian bytes.
    I32,
}

/// A field key: number and wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    /// The field number (1 ..= 2^29-1).
    pub field: u32,
    /// Its wire type.
    pub wire: WireType,
}

/// A protobuf reader over one host source.
pub(crate) struct Wire<'h> {
    host: &'h mut dyn Host,
    source: u32,
    len: u64,
    window: Vec<u8>,
    window_start: u64,
    next_window: usize,
    pos: u64,
}

impl<'h> Wire<'h> {
    /// A reader over `source`, positioned at its start.
    pub fn new(host: &'h mut dyn Host, source: u32) -> Result<Self, LoadError> {
        let len = host.source_len(source)?;
        Ok(Wire {
            host,
            source,
            len,
            window: Vec::new(),
            window_start: 0,
            next_window: MIN_WINDOW / 2,
            pos: 0,
        })
    }

    /// Total length of the source.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Current position.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Move to `pos`, which must not lie past the end of the source.
    pub fn seek(&mut self, pos: u64) -> Result<(), LoadError> {
        if pos > self.len {
            return Err(LoadError::malformed(format!(
                "protobuf position {pos} is past the end of the input ({} bytes)",
                self.len
            )));
        }
        self.pos = pos;
        Ok(())
    }

    /// The host, for output writes and external files.
    pub fn host(&mut self) -> &mut dyn Host {
        &mut *self.host
    }

    /// Fail unless `n` bytes remain before `end` (the end of the enclosing message).
    fn check_room(&self, n: u64, end: u64, what: &str) -> Result<(), LoadError> {
        let fits = self
            .pos
            .checked_add(n)
            .is_some_and(|e| e <= end && e <= self.len);
        if fits {
            Ok(())
        } else {
            Err(LoadError::malformed(format!(
                "truncated protobuf: {what} of {n} bytes at offset {} runs past the end of its message (ends at {end})",
                self.pos
            )))
        }
    }

    /// The bytes `pos .. pos+n` (n ≤ WINDOW), refilling the window if needed. The caller
    /// has checked that they lie inside the source.
    fn peek(&mut self, n: usize) -> Result<&[u8], LoadError> {
        let n64 = n as u64;
        let in_window = self.pos >= self.window_start
            && self
                .pos
                .checked_add(n64)
                .is_some_and(|e| e <= self.window_start + self.window.len() as u64);
        if !in_window {
            let window_end = self.window_start + self.window.len() as u64;
            let sequential = self.pos >= self.window_start && self.pos <= window_end;
            self.next_window = if sequential {
                (self.next_window * 2).min(WINDOW)
            } else {
                MIN_WINDOW
            };
            let size = self.next_window.max(n) as u64;
            let want = self.len.saturating_sub(self.pos).min(size);
            if want < n64 {
                return Err(LoadError::malformed(format!(
                    "truncated protobuf: {n} bytes needed at offset {} of {}",
                    self.pos, self.len
                )));
            }
            // `want` ≤ max(WINDOW, n) with n ≤ WINDOW, so it fits in usize.
            self.window.resize(want as usize, 0);
            self.host.read_at(self.source, self.pos, &mut self.window)?;
            self.window_start = self.pos;
        }
        let at = (self.pos - self.window_start) as usize;
        self.window
            .get(at..at + n)
            .ok_or_else(|| LoadError::malformed("protobuf read window out of range"))
    }

    /// One byte.
    fn byte(&mut self, end: u64) -> Result<u8, LoadError> {
        self.check_room(1, end, "a byte")?;
        let b = self.peek(1)?.first().copied().unwrap_or(0);
        self.pos += 1;
        Ok(b)
    }

    /// A varint of at most 10 bytes whose value fits in 64 bits.
    pub fn varint(&mut self, end: u64) -> Result<u64, LoadError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..MAX_VARINT_BYTES {
            let b = self.byte(end)?;
            if i == MAX_VARINT_BYTES - 1 && b > 1 {
                return Err(LoadError::malformed(format!(
                    "protobuf varint at offset {start} overflows 64 bits"
                )));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(LoadError::malformed(format!(
            "protobuf varint at offset {start} is longer than 10 bytes"
        )))
    }

    /// A little-endian 32-bit value.
    pub fn fixed32(&mut self, end: u64) -> Result<u32, LoadError> {
        self.check_room(4, end, "a fixed32")?;
        let mut b = [0u8; 4];
        b.copy_from_slice(self.peek(4)?);
        self.pos += 4;
        Ok(u32::from_le_bytes(b))
    }

    /// A little-endian 64-bit value.
    pub fn fixed64(&mut self, end: u64) -> Result<u64, LoadError> {
        self.check_room(8, end, "a fixed64")?;
        let mut b = [0u8; 8];
        b.copy_from_slice(self.peek(8)?);
        self.pos += 8;
        Ok(u64::from_le_bytes(b))
    }

    /// A field key.
    pub fn tag(&mut self, end: u64) -> Result<Tag, LoadError> {
        let at = self.pos;
        let key = self.varint(end)?;
        let field = key >> 3;
        if field == 0 || field > MAX_FIELD_NUMBER {
            return Err(LoadError::malformed(format!(
                "invalid protobuf field number {field} at offset {at}"
            )));
        }
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::I64,
            2 => WireType::Len,
            5 => WireType::I32,
            3 | 4 => {
                return Err(LoadError::malformed(format!(
                    "protobuf group (field {field}) at offset {at}: groups are not used by ONNX"
                )));
            }
            other => {
                return Err(LoadError::malformed(format!(
                    "invalid protobuf wire type {other} for field {field} at offset {at}"
                )));
            }
        };
        // `field` ≤ 2^29 - 1 fits in u32.
        Ok(Tag {
            field: field as u32,
            wire,
        })
    }

    /// The length prefix of a length-delimited field; returns the end of its payload,
    /// checked against `end`. The position is left at the payload's start.
    pub fn len_delimited(&mut self, end: u64) -> Result<u64, LoadError> {
        let len = self.varint(end)?;
        self.check_room(len, end, "a length-delimited field")?;
        Ok(self.pos + len)
    }

    /// Skip the value of a field of wire type `wire`.
    pub fn skip(&mut self, wire: WireType, end: u64) -> Result<(), LoadError> {
        match wire {
            WireType::Varint => {
                self.varint(end)?;
            }
            WireType::I64 => {
                self.check_room(8, end, "a fixed64")?;
                self.pos += 8;
            }
            WireType::I32 => {
                self.check_room(4, end, "a fixed32")?;
                self.pos += 4;
            }
            WireType::Len => {
                let sub_end = self.len_delimited(end)?;
                self.pos = sub_end;
            }
        }
        Ok(())
    }

    /// Read at most `max` bytes of the payload `pos .. sub_end` (already checked by
    /// [`Wire::len_delimited`]) and move to `sub_end`. Returns the bytes read and the full
    /// payload length, so callers can refuse or truncate longer payloads without
    /// allocating them.
    pub fn prefix(&mut self, sub_end: u64, max: usize) -> Result<(Vec<u8>, u64), LoadError> {
        let total = sub_end.checked_sub(self.pos).ok_or_else(|| {
            LoadError::malformed("protobuf payload end lies before the current position")
        })?;
        // min(total, max) ≤ max, a usize.
        let n = total.min(max as u64) as usize;
        let out = if n <= WINDOW {
            self.peek(n)?.to_vec()
        } else {
            let mut v = vec![0u8; n];
            self.host.read_at(self.source, self.pos, &mut v)?;
            v
        };
        self.pos = sub_end;
        Ok((out, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SliceHost;

    fn wire_of(bytes: &[u8]) -> SliceHost {
        SliceHost::new(bytes.to_vec())
    }

    #[test]
    fn varints_decode_and_overflow_is_refused() {
        let mut h = wire_of(&[
            0x96, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        let mut w = Wire::new(&mut h, 0).unwrap();
        let end = w.len();
        assert_eq!(w.varint(end).unwrap(), 150);
        assert_eq!(w.varint(end).unwrap(), u64::MAX);

        let mut h = wire_of(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        let mut w = Wire::new(&mut h, 0).unwrap();
        let end = w.len();
        assert!(w.varint(end).unwrap_err().message.contains("overflows"));

        let mut h = wire_of(&[0x80, 0x80]);
        let mut w = Wire::new(&mut h, 0).unwrap();
        let end = w.len();
        assert!(w.varint(end).unwrap_err().message.contains("truncated"));
    }

    #[test]
    fn lengths_are_checked_against_the_enclosing_message() {
        // field 1, LEN, length 5 but only 2 bytes follow.
        let mut h = wire_of(&[0x0a, 0x05, 1, 2]);
        let mut w = Wire::new(&mut h, 0).unwrap();
        let end = w.len();
        let t = w.tag(end).unwrap();
        assert_eq!(t.wire, WireType::Len);
        assert!(w.len_delimited(end).is_err());
    }

    #[test]
    fn groups_and_field_zero_are_refused() {
        let mut h = wire_of(&[0x0b]);
        let mut w = Wire::new(&mut h, 0).unwrap();
        let end = w.len();
        assert!(w.tag(end).unwrap_err().message.contains("group"));
        let mut h = wire_of(&[0x02]);
        let mut w = Wire::new(&mut h, 0).unwrap();
        let end = w.len();
        assert!(w.tag(end).unwrap_err().message.contains("field number 0"));
    }

    #[test]
    fn reads_cross_window_boundaries() {
        let mut data = vec![0u8; WINDOW - 2];
        data.extend_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        let mut h = wire_of(&data);
        let mut w = Wire::new(&mut h, 0).unwrap();
        let end = w.len();
        w.seek((WINDOW - 2) as u64).unwrap();
        assert_eq!(w.fixed64(end).unwrap(), 0x1122_3344_5566_7788);
    }
}
