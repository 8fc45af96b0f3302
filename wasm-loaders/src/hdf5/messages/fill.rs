//! Fill value messages (spec §IV.A.2.e/f): the value unwritten chunks read as.

use crate::hdf5::io::{Cursor, R, unsupported};

/// Parses a fill value message (type 5, versions 1–3); `None` when no value is defined.
pub(crate) fn parse(data: &[u8], so: u8, sl: u8) -> R<Option<Vec<u8>>> {
    let mut c = Cursor::new(data, so, sl, "fill value message");
    let version = c.u8()?;
    match version {
        1 | 2 => {
            c.skip(2)?; // allocation time, write time
            let defined = c.u8()?;
            if version == 2 && defined == 0 {
                return Ok(None);
            }
            if c.remaining() < 4 {
                return Ok(None);
            }
            let size = crate::hdf5::io::to_usize(u64::from(c.u32()?))?;
            if size == 0 {
                return Ok(None);
            }
            Ok(Some(c.bytes(size)?.to_vec()))
        }
        3 => {
            let flags = c.u8()?;
            if flags & 0x20 == 0 {
                return Ok(None);
            }
            let size = crate::hdf5::io::to_usize(u64::from(c.u32()?))?;
            if size == 0 {
                return Ok(None);
            }
            Ok(Some(c.bytes(size)?.to_vec()))
        }
        v => Err(unsupported(format!("fill value message version {v}"))),
    }
}

/// Parses an old fill value message (type 4).
pub(crate) fn parse_old(data: &[u8], so: u8, sl: u8) -> R<Option<Vec<u8>>> {
    let mut c = Cursor::new(data, so, sl, "old fill value message");
    let size = crate::hdf5::io::to_usize(u64::from(c.u32()?))?;
    if size == 0 {
        return Ok(None);
    }
    Ok(Some(c.bytes(size)?.to_vec()))
}
