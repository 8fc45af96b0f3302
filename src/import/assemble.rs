//! Gathering a validated tensor's elements into contiguous little-endian bytes, with
//! memory bounded whatever the tensor size:
//! - a contiguous little-endian view is copied straight from the source file
//!   ([`TensorSink::copy_from_file`]: `copy_file_range` into an output file);
//! - a contiguous big-endian view is read, byte-swapped and written in
//!   [`CHUNK_BYTES`] blocks;
//! - a strided view whose covering byte range is at most [`SPAN_IN_MEMORY`] is read once and
//!   gathered in memory;
//! - a larger strided view is split: when its fastest-varying source dimension is the
//!   outermost one (e.g. Fortran order), blocks of that dimension are gathered into tiles of
//!   at most [`TILE_BYTES`]; otherwise the outermost dimension is peeled and each sub-view
//!   handled the same way.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::tensor::Simplified;
use crate::tensor::layout::{last_element, numel};
use crate::tensor::sink::TensorSink;

use super::validate::ValidatedTensor;

/// Block size for byte-swapped copies.
pub const CHUNK_BYTES: u64 = 4 << 20;
/// Largest covering range read into memory at once for a strided view.
pub const SPAN_IN_MEMORY: u64 = 32 << 20;
/// Largest tile gathered in memory for large strided views.
pub const TILE_BYTES: u64 = 8 << 20;
/// Largest segment read at once when filling a tile.
pub const SEGMENT_BYTES: u64 = 1 << 20;
/// Output block size when gathering in memory.
const OUT_BLOCK: usize = 1 << 20;

fn overflow() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "tensor offset arithmetic overflowed",
    )
}

fn add(a: u64, b: u64) -> io::Result<u64> {
    a.checked_add(b).ok_or_else(overflow)
}

fn mul(a: u64, b: u64) -> io::Result<u64> {
    a.checked_mul(b).ok_or_else(overflow)
}

fn to_usize(v: u64) -> io::Result<usize> {
    usize::try_from(v).map_err(|_| overflow())
}

/// Write the elements of `t`, stored in `file`, to `out` as contiguous little-endian bytes
/// (exactly `t.nbytes()` bytes).
pub fn write_tensor<W: TensorSink>(
    t: &ValidatedTensor,
    file: &File,
    out: &mut W,
) -> io::Result<()> {
    write_tensor_with(t, file, out, THRESHOLDS)
}

/// [`write_tensor`] with other block sizes than the defaults (the fuzz targets use tiny ones
/// so that every strided path is reached with small inputs).
pub(crate) fn write_tensor_with_blocks<W: TensorSink>(
    t: &ValidatedTensor,
    file: &File,
    out: &mut W,
    span_in_memory: u64,
    tile_bytes: u64,
    segment_bytes: u64,
) -> io::Result<()> {
    let limits = Thresholds {
        span_in_memory,
        tile_bytes,
        segment_bytes,
    };
    write_tensor_with(t, file, out, limits)
}

fn write_tensor_with<W: TensorSink>(
    t: &ValidatedTensor,
    file: &File,
    out: &mut W,
    limits: Thresholds,
) -> io::Result<()> {
    if t.numel() == 0 {
        return Ok(());
    }
    let itemsize = t.dtype().size();
    let view = Simplified::new(t.shape(), t.strides());
    let base = t.first_byte();
    if view.is_contiguous() {
        if t.big_endian() {
            copy_swapped(file, base, t.nbytes(), itemsize, out)
        } else {
            out.copy_from_file(file, base, t.nbytes())
        }
    } else {
        let mut g = Gather {
            file,
            itemsize,
            swap: t.big_endian(),
            out,
            limits,
        };
        g.view(&view.shape, &view.strides, base)
    }
}

/// Copy `len` bytes at `offset` of `file` to `out`.
pub fn copy_range<W: Write>(file: &File, offset: u64, len: u64, out: &mut W) -> io::Result<()> {
    crate::tensor::sink::copy_through_memory(file, offset, len, out)
}

fn swap_in_place(bytes: &mut [u8], itemsize: u64) {
    if itemsize > 1 {
        // itemsize is 2, 4 or 8.
        for element in bytes.chunks_exact_mut(itemsize as usize) {
            element.reverse();
        }
    }
}

fn copy_swapped<W: Write>(
    file: &File,
    offset: u64,
    len: u64,
    itemsize: u64,
    out: &mut W,
) -> io::Result<()> {
    let mut buf = vec![0u8; to_usize(CHUNK_BYTES.min(len))?];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(CHUNK_BYTES);
        let chunk = &mut buf[..to_usize(n)?];
        file.read_exact_at(chunk, add(offset, done)?)?;
        swap_in_place(chunk, itemsize);
        out.write_all(chunk)?;
        done += n;
    }
    Ok(())
}

/// Thresholds of the strided paths (the constants above; smaller in tests).
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    span_in_memory: u64,
    tile_bytes: u64,
    segment_bytes: u64,
}

const THRESHOLDS: Thresholds = Thresholds {
    span_in_memory: SPAN_IN_MEMORY,
    tile_bytes: TILE_BYTES,
    segment_bytes: SEGMENT_BYTES,
};

struct Gather<'a, W: Write> {
    file: &'a File,
    itemsize: u64,
    swap: bool,
    out: &'a mut W,
    limits: Thresholds,
}

impl<W: Write> Gather<'_, W> {
    /// Write the view `shape`/`strides` (simplified: every dim > 1) whose first element is
    /// at byte `base`, in row-major order.
    fn view(&mut self, shape: &[u64], strides: &[u64], base: u64) -> io::Result<()> {
        let isz = self.itemsize;
        let last = last_element(0, shape, strides).ok_or_else(overflow)?;
        let span = mul(add(last, 1)?, isz)?;
        if span <= self.limits.span_in_memory {
            let mut buf = vec![0u8; to_usize(span)?];
            self.file.read_exact_at(&mut buf, base)?;
            return self.gather_buffer(&buf, shape, strides);
        }
        let (Some(&d0), Some(&s0)) = (shape.first(), strides.first()) else {
            // A scalar view always fits in memory.
            return Err(overflow());
        };
        if shape.len() == 1 {
            return self.one_dim(d0, s0, base);
        }
        let inner = numel(&shape[1..]).ok_or_else(overflow)?;
        let fastest = strides
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| **s)
            .map(|(i, _)| i);
        let inner_bytes = mul(inner, isz)?;
        if fastest == Some(0) && inner_bytes.saturating_mul(2) <= self.limits.tile_bytes {
            return self.tiles(shape, strides, base, inner);
        }
        for i in 0..d0 {
            let at = add(base, mul(mul(i, s0)?, isz)?)?;
            self.view(&shape[1..], &strides[1..], at)?;
        }
        Ok(())
    }

    /// Gather from `buf` (holding the view's covering range) in row-major order.
    fn gather_buffer(&mut self, buf: &[u8], shape: &[u64], strides: &[u64]) -> io::Result<()> {
        let isz = to_usize(self.itemsize)?;
        let mut block: Vec<u8> = Vec::with_capacity(OUT_BLOCK.min(buf.len().max(isz)));
        let (Some(&inner_n), Some(&inner_s)) = (shape.last(), strides.last()) else {
            // Scalar: one element at offset 0.
            block.extend_from_slice(buf.get(..isz).ok_or_else(overflow)?);
            return self.flush(&mut block);
        };
        let outer = &shape[..shape.len() - 1];
        let outer_strides = &strides[..strides.len() - 1];
        let mut index = vec![0u64; outer.len()];
        loop {
            let row_start: u64 = index
                .iter()
                .zip(outer_strides)
                .try_fold(0u64, |acc, (&i, &s)| acc.checked_add(i.checked_mul(s)?))
                .ok_or_else(overflow)?;
            let row_byte = to_usize(mul(row_start, self.itemsize)?)?;
            if inner_s == 1 {
                let len = to_usize(mul(inner_n, self.itemsize)?)?;
                let end = row_byte.checked_add(len).ok_or_else(overflow)?;
                block.extend_from_slice(buf.get(row_byte..end).ok_or_else(overflow)?);
            } else {
                let step = to_usize(mul(inner_s, self.itemsize)?)?;
                for k in 0..to_usize(inner_n)? {
                    let at = row_byte
                        .checked_add(k.checked_mul(step).ok_or_else(overflow)?)
                        .ok_or_else(overflow)?;
                    let end = at.checked_add(isz).ok_or_else(overflow)?;
                    block.extend_from_slice(buf.get(at..end).ok_or_else(overflow)?);
                }
            }
            if block.len() >= OUT_BLOCK {
                self.flush(&mut block)?;
            }
            if !advance(&mut index, outer) {
                break;
            }
        }
        self.flush(&mut block)
    }

    /// A 1-D strided view too large for memory: read windows of elements.
    fn one_dim(&mut self, n: u64, stride: u64, base: u64) -> io::Result<()> {
        let isz = self.itemsize;
        let step = mul(stride, isz)?;
        let per_window = (self.limits.span_in_memory / step.max(1)).max(1);
        let mut done = 0u64;
        while done < n {
            let k = (n - done).min(per_window);
            let at = add(base, mul(done, step)?)?;
            let window = mul(add(mul(k - 1, stride)?, 1)?, isz)?;
            let mut buf = vec![0u8; to_usize(window)?];
            self.file.read_exact_at(&mut buf, at)?;
            self.gather_buffer(&buf, &[k], &[stride])?;
            done += k;
        }
        Ok(())
    }

    /// Dimension 0 varies fastest in the source: gather blocks of it into tiles of
    /// `block × inner` elements (row-major), each filled by reading one segment per inner
    /// index.
    fn tiles(&mut self, shape: &[u64], strides: &[u64], base: u64, inner: u64) -> io::Result<()> {
        let isz = self.itemsize;
        let isz_us = to_usize(isz)?;
        let (d0, s0) = (shape[0], strides[0]);
        let inner_shape = &shape[1..];
        let inner_strides = &strides[1..];
        let block = (self.limits.tile_bytes / mul(inner, isz)?.max(1)).clamp(1, d0);
        let inner_us = to_usize(inner)?;
        let mut a = 0u64;
        while a < d0 {
            let b = block.min(d0 - a);
            let b_us = to_usize(b)?;
            let mut tile = vec![0u8; to_usize(mul(mul(b, inner)?, isz)?)?];
            let segment = mul(add(mul(b - 1, s0)?, 1)?, isz)?;
            let mut seg = if segment <= self.limits.segment_bytes {
                vec![0u8; to_usize(segment)?]
            } else {
                vec![0u8; isz_us]
            };
            let mut index = vec![0u64; inner_shape.len()];
            let block_base = add(base, mul(mul(a, s0)?, isz)?)?;
            for jf in 0..inner_us {
                let off: u64 = index
                    .iter()
                    .zip(inner_strides)
                    .try_fold(0u64, |acc, (&i, &s)| acc.checked_add(i.checked_mul(s)?))
                    .ok_or_else(overflow)?;
                let src = add(block_base, mul(off, isz)?)?;
                let step = to_usize(mul(s0, isz)?)?;
                if segment <= self.limits.segment_bytes {
                    self.file.read_exact_at(&mut seg, src)?;
                }
                for t in 0..b_us {
                    let dst = t
                        .checked_mul(inner_us)
                        .and_then(|v| v.checked_add(jf))
                        .and_then(|v| v.checked_mul(isz_us))
                        .ok_or_else(overflow)?;
                    let dst = tile.get_mut(dst..dst + isz_us).ok_or_else(overflow)?;
                    if segment <= self.limits.segment_bytes {
                        let at = t.checked_mul(step).ok_or_else(overflow)?;
                        dst.copy_from_slice(seg.get(at..at + isz_us).ok_or_else(overflow)?);
                    } else {
                        let at = add(src, mul(t as u64, mul(s0, isz)?)?)?;
                        self.file.read_exact_at(dst, at)?;
                    }
                }
                advance(&mut index, inner_shape);
            }
            self.flush(&mut tile)?;
            a += b;
        }
        Ok(())
    }

    fn flush(&mut self, block: &mut Vec<u8>) -> io::Result<()> {
        if self.swap {
            swap_in_place(block, self.itemsize);
        }
        self.out.write_all(block)?;
        block.clear();
        Ok(())
    }
}

/// Advance a row-major multi-index; false when it wraps around (done).
fn advance(index: &mut [u64], shape: &[u64]) -> bool {
    for (i, &dim) in index.iter_mut().zip(shape).rev() {
        *i += 1;
        if *i < dim {
            return true;
        }
        *i = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write as _;

    use super::super::descriptor::{RawSource, RawStorage, RawTensor};
    use super::super::validate::{SourceLengths, validate_tensor};
    use super::*;

    /// Reference: element bytes of a strided view, contiguous, little-endian.
    fn reference(
        data: &[u8],
        isz: usize,
        shape: &[u64],
        strides: &[u64],
        offset: u64,
        big: bool,
    ) -> Vec<u8> {
        let n: u64 = shape.iter().product();
        let mut out = Vec::new();
        let mut idx = vec![0u64; shape.len()];
        for _ in 0..n {
            let e = offset + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<u64>();
            let mut el = data[e as usize * isz..(e as usize + 1) * isz].to_vec();
            if big {
                el.reverse();
            }
            out.extend(el);
            advance(&mut idx, shape);
        }
        out
    }

    fn check(
        shape: &[u64],
        strides: &[u64],
        offset: u64,
        dtype: &str,
        big: bool,
        limits: Thresholds,
    ) {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let raw = RawTensor {
            name: "t".into(),
            dtype: dtype.into(),
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            offset,
            byte_order: if big { "big" } else { "little" }.into(),
            storage: RawStorage {
                source: RawSource::Input,
                offset: 0,
                length: data.len() as u64,
            },
            extra: BTreeMap::new(),
        };
        let lengths = SourceLengths {
            input: data.len() as u64,
            ..SourceLengths::default()
        };
        let t = validate_tensor(raw, &lengths).unwrap();
        let mut out = Vec::new();
        write_tensor_with(&t, &file, &mut out, limits).unwrap();
        let isz = t.dtype().size() as usize;
        let expected = reference(&data, isz, shape, strides, offset, big);
        assert_eq!(out.len() as u64, t.nbytes());
        assert!(
            out == expected,
            "{shape:?} {strides:?} {dtype} big={big} {limits:?}"
        );
    }

    #[test]
    fn every_path_matches_the_reference() {
        let tiny = Thresholds {
            span_in_memory: 64,
            tile_bytes: 256,
            segment_bytes: 16,
        };
        let no_segments = Thresholds {
            segment_bytes: 1,
            ..tiny
        };
        for limits in [THRESHOLDS, tiny, no_segments] {
            for big in [false, true] {
                for dtype in ["U8", "I16", "F32", "F64"] {
                    // Contiguous.
                    check(&[3, 5], &[5, 1], 2, dtype, big, limits);
                    // Fortran order (tile path when large).
                    check(&[30, 20], &[1, 30], 1, dtype, big, limits);
                    // Three dims, permuted.
                    check(&[4, 6, 5], &[1, 20, 4], 0, dtype, big, limits);
                    check(&[4, 6, 5], &[30, 1, 6], 3, dtype, big, limits);
                    // Sliced (every third element of each padded row).
                    check(&[7, 9], &[40, 3], 0, dtype, big, limits);
                    // 1-D with a stride.
                    check(&[50], &[7], 5, dtype, big, limits);
                    // Broadcast.
                    check(&[6, 4], &[0, 1], 0, dtype, big, limits);
                    check(&[6, 4], &[1, 0], 0, dtype, big, limits);
                    // Scalar and size-1 dims.
                    check(&[], &[], 9, dtype, big, limits);
                    check(&[1, 5, 1], &[99, 2, 77], 0, dtype, big, limits);
                }
            }
        }
    }

    #[test]
    fn a_short_source_is_an_error_not_a_short_tensor() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[1, 2, 3]).unwrap();
        let mut out = Vec::new();
        assert!(copy_range(&file, 0, 8, &mut out).is_err());
    }
}
