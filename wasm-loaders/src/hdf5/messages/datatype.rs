//! Datatype message (spec §IV.A.2.d): the classes h5py writes. Numeric classes map to
//! tensor dtypes; strings (fixed and variable length) are decoded for attributes; other
//! classes are recognised by size only.

use crate::hdf5::io::{Cursor, R, malformed, unsupported};
use crate::result::{ByteOrder, Dtype};

/// Deepest nesting of datatypes (enum/vlen/array base types) parsed.
const MAX_TYPE_DEPTH: u32 = 8;
/// Most enum members parsed.
const MAX_ENUM_MEMBERS: usize = 65_536;

/// A parsed datatype.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Datatype {
    /// Fixed-point integer.
    Int {
        /// Bytes per element.
        size: u32,
        /// Two's complement signed.
        signed: bool,
        /// Big-endian.
        big: bool,
        /// Precision equals the full size at bit offset 0.
        full: bool,
    },
    /// IEEE-style floating point.
    Float {
        /// Bytes per element.
        size: u32,
        /// Big-endian.
        big: bool,
        /// Exponent bits.
        exp_bits: u8,
        /// Mantissa bits.
        mant_bits: u8,
        /// Precision equals the full size at bit offset 0.
        full: bool,
    },
    /// Fixed-length string.
    FixedString {
        /// Bytes per element.
        size: u32,
    },
    /// Variable-length string (stored in the global heap).
    VlenString,
    /// Enumeration over an integer base type.
    Enum {
        /// The base integer type.
        base: Box<Datatype>,
        /// Member names and raw values.
        members: Vec<(String, Vec<u8>)>,
    },
    /// Any other class (compound, reference, array, opaque, bitfield, vlen sequence…).
    Other {
        /// The class number.
        class: u8,
        /// Bytes per element.
        size: u32,
    },
}

impl Datatype {
    /// Bytes per element as stored in datasets and attributes.
    pub(crate) fn size(&self, so: u8) -> u64 {
        match self {
            Datatype::Int { size, .. }
            | Datatype::Float { size, .. }
            | Datatype::FixedString { size }
            | Datatype::Other { size, .. } => u64::from(*size),
            // Length (4) + global heap collection address + object index (4).
            Datatype::VlenString => 8 + u64::from(so),
            Datatype::Enum { base, .. } => base.size(so),
        }
    }

    /// The tensor dtype and byte order for numeric types; `None` otherwise.
    pub(crate) fn tensor_dtype(&self) -> Option<(Dtype, ByteOrder)> {
        let order = |big: bool| {
            if big {
                ByteOrder::Big
            } else {
                ByteOrder::Little
            }
        };
        match self {
            Datatype::Int {
                size,
                signed,
                big,
                full: true,
            } => {
                let d = match (size, signed) {
                    (1, true) => Dtype::I8,
                    (2, true) => Dtype::I16,
                    (4, true) => Dtype::I32,
                    (8, true) => Dtype::I64,
                    (1, false) => Dtype::U8,
                    (2, false) => Dtype::U16,
                    (4, false) => Dtype::U32,
                    (8, false) => Dtype::U64,
                    _ => return None,
                };
                Some((d, order(*big)))
            }
            Datatype::Float {
                size,
                big,
                exp_bits,
                mant_bits,
                full: true,
            } => {
                let d = match (size, exp_bits, mant_bits) {
                    (8, 11, 52) => Dtype::F64,
                    (4, 8, 23) => Dtype::F32,
                    (2, 5, 10) => Dtype::F16,
                    (2, 8, 7) => Dtype::BF16,
                    _ => return None,
                };
                Some((d, order(*big)))
            }
            Datatype::Enum { base, .. } if self.is_h5py_bool() => {
                base.tensor_dtype().map(|(_, o)| (Dtype::BOOL, o))
            }
            Datatype::Enum { base, .. } => base.tensor_dtype(),
            _ => None,
        }
    }

    /// h5py stores `bool` as an enum of a 1-byte integer with `FALSE = 0`, `TRUE = 1`.
    pub(crate) fn is_h5py_bool(&self) -> bool {
        match self {
            Datatype::Enum { base, members } => {
                matches!(**base, Datatype::Int { size: 1, .. })
                    && members.len() == 2
                    && members
                        .iter()
                        .any(|(n, v)| n == "FALSE" && v.as_slice() == [0])
                    && members
                        .iter()
                        .any(|(n, v)| n == "TRUE" && v.as_slice() == [1])
            }
            _ => false,
        }
    }

    /// A short description for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Datatype::Int { size, signed, .. } => {
                format!(
                    "{}int{}",
                    if *signed { "" } else { "u" },
                    u64::from(*size) * 8
                )
            }
            Datatype::Float { size, .. } => format!("float{}", u64::from(*size) * 8),
            Datatype::FixedString { size } => format!("fixed-length string ({size} bytes)"),
            Datatype::VlenString => "variable-length string".into(),
            Datatype::Enum { .. } => "enum".into(),
            Datatype::Other { class, .. } => match class {
                4 => "bitfield".into(),
                5 => "opaque".into(),
                6 => "compound".into(),
                7 => "reference".into(),
                9 => "variable-length sequence".into(),
                10 => "array".into(),
                11 => "complex".into(),
                c => format!("datatype class {c}"),
            },
        }
    }

    /// Parses a datatype message body; returns the type and the bytes it used.
    pub(crate) fn parse(data: &[u8], so: u8, sl: u8) -> R<(Self, usize)> {
        let mut c = Cursor::new(data, so, sl, "datatype message");
        let t = parse_at(&mut c, 0)?;
        Ok((t, c.pos()))
    }
}

fn parse_at(c: &mut Cursor<'_>, depth: u32) -> R<Datatype> {
    if depth > MAX_TYPE_DEPTH {
        return Err(malformed("datatype nesting is too deep"));
    }
    let cv = c.u8()?;
    let class = cv & 0x0f;
    let version = cv >> 4;
    if !(1..=5).contains(&version) {
        return Err(malformed(format!("datatype version {version}")));
    }
    let b0 = c.u8()?;
    let b1 = c.u8()?;
    let _b2 = c.u8()?;
    let size = c.u32()?;
    match class {
        0 => {
            let offset = c.u16()?;
            let precision = c.u16()?;
            Ok(Datatype::Int {
                size,
                signed: b0 & 0x08 != 0,
                big: b0 & 0x01 != 0,
                full: offset == 0 && u32::from(precision) == size.saturating_mul(8),
            })
        }
        1 => {
            let offset = c.u16()?;
            let precision = c.u16()?;
            let _exp_loc = c.u8()?;
            let exp_bits = c.u8()?;
            let _mant_loc = c.u8()?;
            let mant_bits = c.u8()?;
            let _bias = c.u32()?;
            if b0 & 0x40 != 0 {
                return Err(unsupported("VAX-order floating point"));
            }
            Ok(Datatype::Float {
                size,
                big: b0 & 0x01 != 0,
                exp_bits,
                mant_bits,
                full: offset == 0 && u32::from(precision) == size.saturating_mul(8),
            })
        }
        3 => Ok(Datatype::FixedString { size }),
        8 => {
            let base = parse_at(c, depth + 1)?;
            if !matches!(base, Datatype::Int { .. }) {
                return Err(unsupported("enum over a non-integer base type"));
            }
            let n = usize::from(u16::from_le_bytes([b0, b1]));
            if n > MAX_ENUM_MEMBERS {
                return Err(malformed("too many enum members"));
            }
            let mut names = Vec::with_capacity(n.min(c.remaining()));
            for _ in 0..n {
                let start = c.pos();
                let mut name = Vec::new();
                loop {
                    let b = c.u8()?;
                    if b == 0 {
                        break;
                    }
                    name.push(b);
                }
                if version < 3 {
                    // Names are NUL-terminated and padded to a multiple of 8 bytes.
                    let used = c.pos() - start;
                    c.skip((8 - used % 8) % 8)?;
                }
                names.push(String::from_utf8_lossy(&name).into_owned());
            }
            let bsize = crate::hdf5::io::to_usize(base.size(c.so))?;
            let mut members = Vec::with_capacity(names.len());
            for name in names {
                members.push((name, c.bytes(bsize)?.to_vec()));
            }
            Ok(Datatype::Enum {
                base: Box::new(base),
                members,
            })
        }
        9 => {
            let kind = b0 & 0x0f;
            let _base = parse_at(c, depth + 1)?;
            if kind == 1 {
                Ok(Datatype::VlenString)
            } else {
                Ok(Datatype::Other { class, size })
            }
        }
        2 | 4 | 5 | 6 | 7 | 10 | 11 => {
            // Recognised, not interpreted: the caller uses the declared length of the
            // message (attributes) or skips the dataset.
            Ok(Datatype::Other { class, size })
        }
        other => Err(malformed(format!("unknown datatype class {other}"))),
    }
}
