//! NumPy containers: `.npy` arrays, `.npz` archives of them, and the dtype descriptors
//! shared with the joblib loader.

pub mod descr;
pub mod literal;
pub mod npy;
pub mod npz;

pub use descr::parse_descr;

use crate::result::LoadError;

/// Most dimensions a tensor may have (the ABI's limit; NumPy allows 64).
pub const MAX_DIMS: usize = 16;

/// `(numel, numel × itemsize)` for `shape`, with checked arithmetic.
///
/// The product of the non-zero dimensions times `itemsize` must fit in `i64` (NumPy's own
/// bound on array sizes), so an empty array cannot carry an absurd shape and every stride
/// the host derives from the shape fits in 64 bits.
pub fn checked_sizes(shape: &[u64], itemsize: u64) -> Result<(u64, u64), LoadError> {
    let overflow = || {
        LoadError::malformed(format!(
            "shape {shape:?} × {itemsize}-byte elements overflows 63 bits"
        ))
    };
    let mut nonzero: u64 = 1;
    let mut has_zero = false;
    for &d in shape {
        if d == 0 {
            has_zero = true;
        } else {
            nonzero = nonzero.checked_mul(d).ok_or_else(overflow)?;
        }
    }
    let bytes = nonzero.checked_mul(itemsize).ok_or_else(overflow)?;
    if bytes > i64::MAX as u64 {
        return Err(overflow());
    }
    if has_zero {
        Ok((0, 0))
    } else {
        Ok((nonzero, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(checked_sizes(&[], 4).ok(), Some((1, 4)));
        assert_eq!(checked_sizes(&[2, 3], 8).ok(), Some((6, 48)));
        assert_eq!(checked_sizes(&[0, 3], 8).ok(), Some((0, 0)));
        assert!(checked_sizes(&[1 << 40, 1 << 30], 1).is_err());
        assert!(checked_sizes(&[0, 1 << 40, 1 << 30], 1).is_err());
        assert!(checked_sizes(&[1 << 61], 8).is_err());
    }
}
