//! Attributes of an object (compact attribute messages and dense attribute storage) and
//! the decoding of their values: strings (fixed-length and variable-length through the
//! global heap) and numbers.

use super::btree_v2;
use super::file::H5;
use super::fractal_heap::FractalHeap;
use super::heaps::GlobalHeaps;
use super::io::{Cursor, R, UNDEFINED, le_uint, malformed, to_usize};
use super::messages::attribute::{self, RawAttribute};
use super::messages::datatype::Datatype;
use super::messages::link;
use super::object_header::{FLAG_SHARED, MSG_ATTRIBUTE, MSG_ATTRIBUTE_INFO, ObjectHeader};

/// Most elements decoded from one attribute.
const MAX_ATTRIBUTE_ELEMENTS: u64 = 1 << 20;

/// A decoded attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Strings (a scalar string is a one-element list).
    Strings(Vec<String>),
    /// Integers.
    Ints(Vec<i128>),
    /// Floating-point numbers.
    Floats(Vec<f64>),
    /// Anything else, described.
    Other(String),
}

/// Every attribute of the object with header `hdr` (raw), in storage order.
pub(crate) fn raw_attributes(h5: &mut H5<'_>, hdr: &ObjectHeader) -> R<Vec<RawAttribute>> {
    let mut out = Vec::new();
    for m in hdr.all(MSG_ATTRIBUTE) {
        if m.flags & FLAG_SHARED != 0 {
            h5.warn("shared attribute message skipped");
            continue;
        }
        h5.budget.object("attribute")?;
        out.push(attribute::parse(&m.data, h5.so, h5.sl)?);
    }
    if let Some(m) = hdr.first(MSG_ATTRIBUTE_INFO) {
        let info = link::parse_link_info(&m.data, h5.so, h5.sl, true)?;
        if info.heap != UNDEFINED && info.name_index != UNDEFINED {
            let mut fh = FractalHeap::open(h5, info.heap)?;
            for rec in btree_v2::records(h5, info.name_index, 8)? {
                h5.budget.object("dense attribute")?;
                let id = rec
                    .get(..fh.id_len().min(8))
                    .ok_or_else(|| malformed("attribute name record is too short"))?;
                let msg = fh.object(h5, id)?;
                out.push(attribute::parse(&msg, h5.so, h5.sl)?);
            }
        }
    }
    Ok(out)
}

/// Decodes an attribute's value.
pub(crate) fn decode(
    h5: &mut H5<'_>,
    heaps: &mut GlobalHeaps,
    attr: &RawAttribute,
) -> R<AttrValue> {
    let n = attr.space.numel()?;
    if n > MAX_ATTRIBUTE_ELEMENTS {
        return Ok(AttrValue::Other(format!("{n} elements")));
    }
    let esize = to_usize(attr.dtype.size(h5.so))?;
    let elems = || {
        attr.data
            .chunks_exact(esize.max(1))
            .take(to_usize(n).unwrap_or(0))
    };
    match &attr.dtype {
        Datatype::FixedString { .. } => Ok(AttrValue::Strings(elems().map(fixed_string).collect())),
        Datatype::VlenString => {
            let mut out = Vec::new();
            for e in elems() {
                let mut c = Cursor::new(e, h5.so, h5.sl, "variable-length string");
                let len = u64::from(c.u32()?);
                let addr = c.addr()?;
                let index = c.u32()?;
                if len == 0 || addr == UNDEFINED {
                    out.push(String::new());
                    continue;
                }
                h5.budget
                    .decompressed(len, &format!("attribute {}", attr.name))?;
                let obj = heaps.object(h5, addr, index)?;
                let bytes = obj.get(..to_usize(len)?).ok_or_else(|| {
                    malformed(format!(
                        "attribute {}: string longer than its heap object",
                        attr.name
                    ))
                })?;
                out.push(String::from_utf8_lossy(bytes).into_owned());
            }
            Ok(AttrValue::Strings(out))
        }
        Datatype::Int {
            size: 1 | 2 | 4 | 8,
            signed,
            big,
            ..
        } => Ok(AttrValue::Ints(
            elems().map(|e| int_value(e, *signed, *big)).collect(),
        )),
        Datatype::Enum { base, .. } => match &**base {
            Datatype::Int {
                size: 1 | 2 | 4 | 8,
                signed,
                big,
                ..
            } => Ok(AttrValue::Ints(
                elems().map(|e| int_value(e, *signed, *big)).collect(),
            )),
            _ => Ok(AttrValue::Other("enum".into())),
        },
        Datatype::Float {
            size: 4 | 8,
            big,
            full: true,
            ..
        } => Ok(AttrValue::Floats(
            elems().map(|e| float_value(e, *big)).collect(),
        )),
        other => Ok(AttrValue::Other(other.describe())),
    }
}

fn fixed_string(e: &[u8]) -> String {
    let end = e.iter().position(|&b| b == 0).unwrap_or(e.len());
    let s = e.get(..end).unwrap_or(e);
    String::from_utf8_lossy(s).trim_end_matches(' ').to_string()
}

fn int_value(e: &[u8], signed: bool, big: bool) -> i128 {
    let mut b = e.to_vec();
    if big {
        b.reverse();
    }
    let v = le_uint(&b);
    let bits = 8 * b.len().min(8) as u32;
    if signed && bits < 64 && (v >> (bits - 1)) & 1 == 1 {
        i128::from(v) - (1i128 << bits)
    } else if signed && bits == 64 {
        i128::from(v as i64)
    } else {
        i128::from(v)
    }
}

fn float_value(e: &[u8], big: bool) -> f64 {
    let mut b = e.to_vec();
    if big {
        b.reverse();
    }
    match b.len() {
        4 => f64::from(f32::from_bits(le_uint(&b) as u32)),
        _ => f64::from_bits(le_uint(&b)),
    }
}
