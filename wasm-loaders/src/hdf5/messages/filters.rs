//! Filter pipeline message (spec §IV.A.2.l, versions 1 and 2).

use crate::hdf5::io::{Cursor, R, malformed, unsupported};

/// Most filters in one pipeline (the library's own limit).
const MAX_FILTERS: usize = 32;
/// Most client data values per filter.
const MAX_CLIENT_VALUES: usize = 4096;

/// One filter of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Filter id (1 deflate, 2 shuffle, 3 Fletcher-32, 32000 LZF, …).
    pub(crate) id: u16,
    /// The filter may be skipped when unavailable.
    pub(crate) optional: bool,
    /// Client data values.
    pub(crate) client: Vec<u32>,
}

/// Parses a filter pipeline message body.
pub(crate) fn parse(data: &[u8], so: u8, sl: u8) -> R<Vec<Filter>> {
    let mut c = Cursor::new(data, so, sl, "filter pipeline message");
    let version = c.u8()?;
    let n = usize::from(c.u8()?);
    if n > MAX_FILTERS {
        return Err(malformed(format!("filter pipeline lists {n} filters")));
    }
    match version {
        1 => c.skip(6)?,
        2 => {}
        v => return Err(unsupported(format!("filter pipeline message version {v}"))),
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = c.u16()?;
        let name_len = if version == 1 || id >= 256 {
            usize::from(c.u16()?)
        } else {
            0
        };
        let flags = c.u16()?;
        let nvals = usize::from(c.u16()?);
        if nvals > MAX_CLIENT_VALUES {
            return Err(malformed(format!("filter {id} has {nvals} client values")));
        }
        if version == 1 {
            // Name padded to a multiple of 8 bytes.
            let padded = name_len
                .checked_add(7)
                .map(|v| v & !7)
                .ok_or_else(|| malformed("filter name length overflows"))?;
            c.skip(padded)?;
        } else {
            c.skip(name_len)?;
        }
        let mut client = Vec::with_capacity(nvals);
        for _ in 0..nvals {
            client.push(c.u32()?);
        }
        if version == 1 && nvals % 2 == 1 {
            c.skip(4)?;
        }
        out.push(Filter {
            id,
            optional: flags & 1 != 0,
            client,
        });
    }
    Ok(out)
}
