//! Dataspace message (spec §IV.A.2.b, versions 1 and 2): rank, dimensions, maximum sizes.

use crate::hdf5::io::{Cursor, R, malformed, unsupported};

/// HDF5's own rank limit.
pub(crate) const MAX_RANK: usize = 32;

/// The shape of a dataset or attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dataspace {
    /// One element, no dimensions.
    Scalar,
    /// No elements at all.
    Null,
    /// An array with these dimensions and (if given) maximum dimensions
    /// (`u64::MAX` = unlimited).
    Simple {
        /// Current dimensions.
        dims: Vec<u64>,
        /// Maximum dimensions, when stored.
        maxdims: Option<Vec<u64>>,
    },
}

impl Dataspace {
    /// Dimensions (`[]` for scalar and null).
    pub(crate) fn dims(&self) -> &[u64] {
        match self {
            Dataspace::Simple { dims, .. } => dims,
            _ => &[],
        }
    }

    /// Number of elements (checked).
    pub(crate) fn numel(&self) -> R<u64> {
        match self {
            Dataspace::Null => Ok(0),
            Dataspace::Scalar => Ok(1),
            Dataspace::Simple { dims, .. } => dims
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))
                .ok_or_else(|| malformed("dataspace element count overflows")),
        }
    }

    /// Parses a dataspace message body.
    pub(crate) fn parse(data: &[u8], so: u8, sl: u8) -> R<Self> {
        let mut c = Cursor::new(data, so, sl, "dataspace message");
        let version = c.u8()?;
        let rank = usize::from(c.u8()?);
        let flags = c.u8()?;
        if rank > MAX_RANK {
            return Err(malformed(format!(
                "dataspace rank {rank} exceeds {MAX_RANK}"
            )));
        }
        let kind = match version {
            1 => {
                c.skip(5)?;
                if rank == 0 { 0 } else { 1 }
            }
            2 => c.u8()?,
            v => return Err(unsupported(format!("dataspace message version {v}"))),
        };
        match kind {
            0 => return Ok(Dataspace::Scalar),
            2 => return Ok(Dataspace::Null),
            1 => {}
            k => return Err(malformed(format!("dataspace type {k}"))),
        }
        let mut dims = Vec::with_capacity(rank);
        for _ in 0..rank {
            dims.push(c.len()?);
        }
        let maxdims = if flags & 1 != 0 {
            let mut m = Vec::with_capacity(rank);
            for _ in 0..rank {
                m.push(c.len()?);
            }
            Some(m)
        } else {
            None
        };
        Ok(Dataspace::Simple { dims, maxdims })
    }
}
