//! Checked shape and stride arithmetic: element counts, byte sizes, the extent of a strided
//! view, and the simplification of a view into the fewest dimensions that visit the same
//! elements in the same (row-major) order.
//!
//! Every function here takes untrusted numbers and returns `None` on overflow instead of
//! wrapping or panicking.

/// Most dimensions a tensor may have (`docs/sandbox-abi.md`).
pub const MAX_DIMS: usize = 16;

/// Number of elements of `shape` (1 for a scalar), or `None` on overflow.
pub fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// Row-major (C-contiguous) strides of `shape`, in elements, or `None` on overflow.
pub fn contiguous_strides(shape: &[u64]) -> Option<Vec<u64>> {
    let mut strides = vec![0u64; shape.len()];
    let mut acc: u64 = 1;
    for (stride, &dim) in strides.iter_mut().zip(shape).rev() {
        *stride = acc;
        acc = acc.checked_mul(dim)?;
    }
    Some(strides)
}

/// Element offset of the last element of a non-empty view:
/// `offset + Σ (shape_i − 1) · stride_i`, or `None` on overflow. Strides are non-negative,
/// so every element of the view lies in `offset ..= extent`.
///
/// Returns `Some(offset)` for a view with no elements too; callers must not rely on it then.
pub fn last_element(offset: u64, shape: &[u64], strides: &[u64]) -> Option<u64> {
    shape
        .iter()
        .zip(strides)
        .try_fold(offset, |acc, (&dim, &stride)| {
            let steps = dim.saturating_sub(1);
            acc.checked_add(steps.checked_mul(stride)?)
        })
}

/// A view reduced to the fewest dimensions that visit the same elements in the same order:
/// dimensions of size 1 are dropped, and neighbours `(a, b)` with `stride_a = stride_b ·
/// shape_b` are merged. A C-contiguous view becomes one dimension of stride 1 (or none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simplified {
    /// Dimensions (all > 1).
    pub shape: Vec<u64>,
    /// Strides in elements.
    pub strides: Vec<u64>,
}

impl Simplified {
    /// Simplify `shape`/`strides` (same length, already validated so that no product of the
    /// shape and no extent overflows).
    pub fn new(shape: &[u64], strides: &[u64]) -> Simplified {
        let mut out_shape: Vec<u64> = Vec::with_capacity(shape.len());
        let mut out_strides: Vec<u64> = Vec::with_capacity(shape.len());
        for (&dim, &stride) in shape.iter().zip(strides) {
            if dim == 1 {
                continue;
            }
            if let (Some(last_dim), Some(last_stride)) =
                (out_shape.last_mut(), out_strides.last_mut())
                && stride.checked_mul(dim) == Some(*last_stride)
            {
                *last_dim = last_dim.saturating_mul(dim);
                *last_stride = stride;
                continue;
            }
            out_shape.push(dim);
            out_strides.push(stride);
        }
        Simplified {
            shape: out_shape,
            strides: out_strides,
        }
    }

    /// True when the view is one run of consecutive elements.
    pub fn is_contiguous(&self) -> bool {
        matches!(self.strides.as_slice(), [] | [1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_checks_overflow() {
        assert_eq!(numel(&[]), Some(1));
        assert_eq!(numel(&[2, 3, 4]), Some(24));
        assert_eq!(numel(&[0, u64::MAX]), Some(0));
        assert_eq!(numel(&[1 << 62, 4]), None);
        assert_eq!(numel(&[1 << 32, 1 << 32]), None);
    }

    #[test]
    fn strides_and_extent() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), Some(vec![12, 4, 1]));
        assert_eq!(contiguous_strides(&[]), Some(vec![]));
        assert_eq!(contiguous_strides(&[u64::MAX, 2, 2]), None);
        assert_eq!(last_element(5, &[2, 3], &[3, 1]), Some(5 + 3 + 2));
        assert_eq!(last_element(0, &[1 << 62, 2], &[8, 1]), None);
        assert_eq!(last_element(u64::MAX, &[2], &[1]), None);
    }

    #[test]
    fn simplification_merges_contiguous_and_drops_unit_dims() {
        let s = Simplified::new(&[2, 1, 3, 4], &[12, 99, 4, 1]);
        assert_eq!(s.shape, vec![24]);
        assert_eq!(s.strides, vec![1]);
        assert!(s.is_contiguous());
        // Fortran order does not merge.
        let f = Simplified::new(&[3, 4], &[1, 3]);
        assert_eq!(f.shape, vec![3, 4]);
        assert!(!f.is_contiguous());
        // Every other element of a 4×10 matrix is one run of stride 2...
        let sl = Simplified::new(&[4, 5], &[10, 2]);
        assert_eq!((sl.shape, sl.strides), (vec![20], vec![2]));
        // ...but a column slice of a padded matrix stays two-dimensional.
        let pad = Simplified::new(&[4, 5], &[12, 2]);
        assert_eq!(pad.shape, vec![4, 5]);
        assert!(!pad.is_contiguous());
        // Broadcast (stride 0) does not merge with a real dimension.
        let b = Simplified::new(&[3, 4], &[0, 1]);
        assert_eq!(b.shape, vec![3, 4]);
        assert!(Simplified::new(&[], &[]).is_contiguous());
        assert!(Simplified::new(&[1, 1], &[7, 9]).is_contiguous());
    }
}
