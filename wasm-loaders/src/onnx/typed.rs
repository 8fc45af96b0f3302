//! Decoding of the typed repeated fields of `TensorProto` (and of `AttributeProto.floats`
//! / `ints`) into little-endian element bytes in the host's output buffer.
//!
//! Repeated scalars may be packed (one length-delimited field) or not (one field per
//! element), and the two may be mixed; both are accepted. Elements are streamed to the
//! output in chunks and counted as they go, so a tensor with more elements than its dims
//! allow is refused before its surplus is written.
//!
//! `int32_data` carries INT32/INT16/INT8/UINT16/UINT8/BOOL and the bit patterns of
//! FLOAT16/BFLOAT16/FLOAT8 (as unsigned integers, per `onnx.proto`). Each value must fit
//! the element type (the ONNX reference implementation refuses out-of-range values too):
//! nothing is silently truncated.

use super::Loader;
use super::wire::WireType;
use crate::host::Host;
use crate::result::{LoadError, Storage, StorageSource};

/// Bytes buffered before each `write_output` call.
const WRITE_CHUNK: usize = 64 * 1024;

/// How one element is encoded in the field and what it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// fixed32 bits, copied (FLOAT).
    F32Bits,
    /// fixed64 bits, copied (DOUBLE).
    F64Bits,
    /// int64 varint → 8 bytes.
    I64,
    /// uint64 varint → 8 bytes.
    U64,
    /// uint64 varint ≤ u32::MAX → 4 bytes.
    U32,
    /// int32 varint → 4 bytes.
    I32,
    /// int32 varint in i16 range → 2 bytes.
    I16,
    /// int32 varint in i8 range → 1 byte.
    I8,
    /// int32 varint in 0..=65535 → 2 bytes (UINT16, FLOAT16 and BFLOAT16 bit patterns).
    U16,
    /// int32 varint in 0..=255 → 1 byte (UINT8, FLOAT8 bit patterns).
    U8,
    /// int32 varint 0 or 1 → 1 byte.
    Bool,
}

impl Kind {
    /// Wire type of one unpacked element.
    fn element_wire(self) -> WireType {
        match self {
            Kind::F32Bits => WireType::I32,
            Kind::F64Bits => WireType::I64,
            _ => WireType::Varint,
        }
    }
}

/// Buffers element bytes and appends them to the host's output buffer.
struct Sink {
    buf: Vec<u8>,
    start: Option<u64>,
    written: u64,
}

impl Sink {
    fn new() -> Self {
        Sink {
            buf: Vec::with_capacity(WRITE_CHUNK),
            start: None,
            written: 0,
        }
    }

    fn push(&mut self, host: &mut dyn Host, bytes: &[u8]) -> Result<(), LoadError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= WRITE_CHUNK {
            self.flush(host)?;
        }
        Ok(())
    }

    fn flush(&mut self, host: &mut dyn Host) -> Result<(), LoadError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let at = host.write_output(&self.buf)?;
        match self.start {
            None => self.start = Some(at),
            Some(s) => {
                // Our writes must land back to back.
                if s.checked_add(self.written) != Some(at) {
                    return Err(LoadError::malformed(
                        "output buffer writes are not contiguous",
                    ));
                }
            }
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self, host: &mut dyn Host) -> Result<Storage, LoadError> {
        self.flush(host)?;
        Ok(Storage {
            source: StorageSource::Output,
            offset: self.start.unwrap_or(0),
            length: self.written,
        })
    }
}

/// A zero-length storage (for tensors with no elements).
pub(super) fn empty_output() -> Storage {
    Storage {
        source: StorageSource::Output,
        offset: 0,
        length: 0,
    }
}

/// Write `bytes` to the output buffer and describe them.
pub(super) fn write_all(host: &mut dyn Host, bytes: &[u8]) -> Result<Storage, LoadError> {
    let mut sink = Sink::new();
    sink.push(host, bytes)?;
    sink.finish(host)
}

/// Convert one raw field value to element bytes, checking its range.
fn element(kind: Kind, raw: u64, out: &mut [u8; 8]) -> Result<usize, String> {
    let as_i32 = || {
        let v = raw as i64;
        i32::try_from(v).map_err(|_| format!("value {v} is out of int32 range"))
    };
    let ranged = |lo: i64, hi: i64| -> Result<i64, String> {
        let v = i64::from(as_i32()?);
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("value {v} is outside {lo}..={hi}"))
        }
    };
    let n = match kind {
        Kind::F32Bits | Kind::U32 => {
            let v = u32::try_from(raw).map_err(|_| format!("value {raw} exceeds 32 bits"))?;
            out[..4].copy_from_slice(&v.to_le_bytes());
            4
        }
        Kind::F64Bits | Kind::I64 | Kind::U64 => {
            out.copy_from_slice(&raw.to_le_bytes());
            8
        }
        Kind::I32 => {
            out[..4].copy_from_slice(&as_i32()?.to_le_bytes());
            4
        }
        Kind::I16 => {
            let v = ranged(i64::from(i16::MIN), i64::from(i16::MAX))? as i16;
            out[..2].copy_from_slice(&v.to_le_bytes());
            2
        }
        Kind::U16 => {
            let v = ranged(0, i64::from(u16::MAX))? as u16;
            out[..2].copy_from_slice(&v.to_le_bytes());
            2
        }
        Kind::I8 => {
            out[0] = ranged(i64::from(i8::MIN), i64::from(i8::MAX))? as i8 as u8;
            1
        }
        Kind::U8 => {
            out[0] = ranged(0, i64::from(u8::MAX))? as u8;
            1
        }
        Kind::Bool => {
            out[0] = ranged(0, 1)? as u8;
            1
        }
    };
    Ok(n)
}

impl Loader<'_> {
    /// Decode every occurrence of repeated field `field` in the message `start..end` as
    /// `kind` elements into the output buffer. With `expected`, the element count must
    /// equal it (checked as elements arrive). Returns the storage and the element count;
    /// leaves the position at `end`.
    pub(super) fn decode_typed(
        &mut self,
        start: u64,
        end: u64,
        field: u32,
        kind: Kind,
        expected: Option<u64>,
        name: &str,
    ) -> Result<(Storage, u64), LoadError> {
        let mut sink = Sink::new();
        let mut count: u64 = 0;
        let mut tmp = [0u8; 8];
        self.w.seek(start)?;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            if tag.field != field {
                self.w.skip(tag.wire, end)?;
                continue;
            }
            let (elem_end, packed) = if tag.wire == WireType::Len {
                let sub = self.w.len_delimited(end)?;
                let width = match kind.element_wire() {
                    WireType::I32 => 4,
                    WireType::I64 => 8,
                    _ => 1,
                };
                if !(sub - self.w.pos()).is_multiple_of(width) {
                    return Err(LoadError::malformed(format!(
                        "tensor '{name}': packed field {field} has a length that is not a multiple of {width}"
                    )));
                }
                (sub, true)
            } else if tag.wire == kind.element_wire() {
                (end, false)
            } else {
                return Err(LoadError::malformed(format!(
                    "tensor '{name}': field {field} has wire type {:?}",
                    tag.wire
                )));
            };
            loop {
                if packed && self.w.pos() >= elem_end {
                    break;
                }
                let raw = match kind.element_wire() {
                    WireType::I32 => u64::from(self.w.fixed32(elem_end)?),
                    WireType::I64 => self.w.fixed64(elem_end)?,
                    _ => self.w.varint(elem_end)?,
                };
                count += 1;
                if expected.is_some_and(|n| count > n) {
                    return Err(LoadError::malformed(format!(
                        "tensor '{name}' has more values in field {field} than its dims allow ({})",
                        expected.unwrap_or(0)
                    )));
                }
                let n = element(kind, raw, &mut tmp).map_err(|why| {
                    LoadError::malformed(format!(
                        "tensor '{name}': element {} of field {field}: {why}",
                        count - 1
                    ))
                })?;
                sink.push(self.w.host(), &tmp[..n])?;
                if !packed {
                    break;
                }
            }
        }
        if let Some(n) = expected
            && count != n
        {
            return Err(LoadError::malformed(format!(
                "tensor '{name}' has {count} values in field {field} but its dims hold {n}"
            )));
        }
        let storage = sink.finish(self.w.host())?;
        Ok((storage, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int32_carried_values_are_range_checked() {
        let mut b = [0u8; 8];
        assert_eq!(element(Kind::U16, 0xffff, &mut b), Ok(2));
        assert_eq!(&b[..2], &[0xff, 0xff]);
        assert!(element(Kind::U16, 0x1_0000, &mut b).is_err());
        // -1 as a sign-extended varint.
        assert_eq!(element(Kind::I8, u64::MAX, &mut b), Ok(1));
        assert_eq!(b[0], 0xff);
        assert!(element(Kind::U8, u64::MAX, &mut b).is_err());
        assert!(element(Kind::Bool, 2, &mut b).is_err());
        assert!(element(Kind::I32, 1 << 40, &mut b).is_err());
        assert!(element(Kind::U32, 1 << 32, &mut b).is_err());
        assert_eq!(element(Kind::I64, u64::MAX, &mut b), Ok(8));
        assert_eq!(b, [0xff; 8]);
    }
}
