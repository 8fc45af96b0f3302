//! Attribute message (spec §IV.A.2.m, versions 1–3): name, datatype, dataspace and the raw
//! value bytes.

use super::dataspace::Dataspace;
use super::datatype::Datatype;
use crate::hdf5::io::{Cursor, R, malformed, to_usize, unsupported};

/// An attribute as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawAttribute {
    /// Attribute name.
    pub(crate) name: String,
    /// Element type.
    pub(crate) dtype: Datatype,
    /// Shape.
    pub(crate) space: Dataspace,
    /// Raw value bytes (`numel × element size`).
    pub(crate) data: Vec<u8>,
}

/// Parses an attribute message body.
pub(crate) fn parse(data: &[u8], so: u8, sl: u8) -> R<RawAttribute> {
    let mut c = Cursor::new(data, so, sl, "attribute message");
    let version = c.u8()?;
    let flags = c.u8()?;
    let name_size = usize::from(c.u16()?);
    let dt_size = usize::from(c.u16()?);
    let ds_size = usize::from(c.u16()?);
    if !(1..=3).contains(&version) {
        return Err(unsupported(format!("attribute message version {version}")));
    }
    if version >= 2 && flags & 0x03 != 0 {
        return Err(unsupported("attribute with a shared datatype or dataspace"));
    }
    if version == 3 {
        c.skip(1)?; // name character set
    }
    let pad = |n: usize| -> R<usize> {
        if version == 1 {
            n.checked_add(7)
                .map(|v| v & !7)
                .ok_or_else(|| malformed("attribute field size overflows"))
        } else {
            Ok(n)
        }
    };
    let raw_name = c.bytes(pad(name_size)?)?;
    let name_bytes = raw_name.get(..name_size).unwrap_or(raw_name);
    let name_bytes = name_bytes.split(|&b| b == 0).next().unwrap_or(&[]);
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    let dt_bytes = c.bytes(pad(dt_size)?)?;
    let (dtype, _) = Datatype::parse(dt_bytes, so, sl)?;
    let ds_bytes = c.bytes(pad(ds_size)?)?;
    let space = Dataspace::parse(ds_bytes, so, sl)?;
    let n = space
        .numel()?
        .checked_mul(dtype.size(so))
        .ok_or_else(|| malformed(format!("attribute {name}: value size overflows")))?;
    let value = c.bytes(to_usize(n)?)?.to_vec();
    Ok(RawAttribute {
        name,
        dtype,
        space,
        data: value,
    })
}
