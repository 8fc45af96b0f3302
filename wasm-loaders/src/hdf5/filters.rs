//! Undoing a chunk's filter pipeline: deflate (1), shuffle (2), Fletcher-32 (3) and LZF
//! (32000, h5py's own). Every stage's output is capped at the chunk's expected size, so a
//! compression bomb stops at that size.

use super::io::{R, malformed, to_usize, unsupported};
use super::messages::filters::Filter;

/// Filter id: deflate (zlib).
pub(crate) const DEFLATE: u16 = 1;
/// Filter id: byte shuffle.
pub(crate) const SHUFFLE: u16 = 2;
/// Filter id: Fletcher-32 checksum.
pub(crate) const FLETCHER32: u16 = 3;
/// Filter id: LZF (registered by h5py).
pub(crate) const LZF: u16 = 32000;

/// Whether this reader can undo filter `id`.
pub(crate) fn supported(id: u16) -> bool {
    matches!(id, DEFLATE | SHUFFLE | FLETCHER32 | LZF)
}

/// Undoes `pipeline` on `data` (the stored chunk), skipping filters whose bit is set in
/// `mask`; the result must be exactly `expected` bytes.
pub(crate) fn decode(
    pipeline: &[Filter],
    mask: u32,
    mut data: Vec<u8>,
    expected: u64,
    what: &str,
) -> R<Vec<u8>> {
    // Each Fletcher-32 stage still to undo adds 4 bytes to the size before it.
    let exp = to_usize(expected)?;
    for (i, f) in pipeline.iter().enumerate().rev() {
        if i < 32 && mask & (1 << i) != 0 {
            continue;
        }
        let later_checksums = pipeline
            .iter()
            .take(i)
            .enumerate()
            .filter(|(j, g)| g.id == FLETCHER32 && !(*j < 32 && mask & (1 << j) != 0))
            .count();
        let cap = exp.saturating_add(4 * later_checksums);
        data = match f.id {
            DEFLATE => inflate(&data, cap, what)?,
            SHUFFLE => {
                let size = f.client.first().copied().unwrap_or(1);
                unshuffle(&data, to_usize(u64::from(size))?)
            }
            FLETCHER32 => strip_fletcher32(data, what)?,
            LZF => lzf_decompress(&data, cap, what)?,
            id if f.optional => {
                return Err(unsupported(format!(
                    "{what}: optional filter {id} was applied and cannot be undone"
                )));
            }
            id => return Err(unsupported(format!("{what}: filter {id}"))),
        };
    }
    if data.len() != exp {
        return Err(malformed(format!(
            "{what}: decoded chunk has {} bytes, expected {expected}",
            data.len()
        )));
    }
    Ok(data)
}

fn inflate(data: &[u8], cap: usize, what: &str) -> R<Vec<u8>> {
    use miniz_oxide::inflate::{TINFLStatus, decompress_to_vec_zlib_with_limit};
    match decompress_to_vec_zlib_with_limit(data, cap) {
        Ok(v) => Ok(v),
        Err(e) if e.status == TINFLStatus::HasMoreOutput => Err(malformed(format!(
            "{what}: deflate stream expands beyond the chunk size ({cap} bytes)"
        ))),
        Err(e) => Err(malformed(format!(
            "{what}: bad deflate stream ({:?})",
            e.status
        ))),
    }
}

/// Reverses the shuffle filter: byte `b` of element `e` was stored at `b * n + e`.
fn unshuffle(data: &[u8], size: usize) -> Vec<u8> {
    if size <= 1 || data.len() < size {
        return data.to_vec();
    }
    let n = data.len() / size;
    let body = n * size;
    let mut out = vec![0u8; data.len()];
    for b in 0..size {
        let plane = data.get(b * n..(b + 1) * n).unwrap_or(&[]);
        for (e, &x) in plane.iter().enumerate() {
            if let Some(slot) = out.get_mut(e * size + b) {
                *slot = x;
            }
        }
    }
    // Trailing bytes that do not form a whole element are stored as they were.
    if let (Some(dst), Some(src)) = (out.get_mut(body..), data.get(body..)) {
        dst.copy_from_slice(src);
    }
    out
}

/// The HDF5 variant of Fletcher-32 over 16-bit big-endian words (`H5_checksum_fletcher32`).
fn fletcher32(data: &[u8]) -> u32 {
    let (mut s1, mut s2) = (0xffffu32, 0xffffu32);
    let mut words = data.chunks_exact(2);
    let mut left = data.len() / 2;
    while left > 0 {
        let block = left.min(360);
        left -= block;
        for w in words.by_ref().take(block) {
            s1 += (u32::from(w[0]) << 8) | u32::from(w[1]);
            s2 += s1;
        }
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    if let Some(&odd) = words.remainder().first() {
        s1 += u32::from(odd) << 8;
        s2 += s1;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    (s2 << 16) | s1
}

fn strip_fletcher32(mut data: Vec<u8>, what: &str) -> R<Vec<u8>> {
    let n = data.len().checked_sub(4).ok_or_else(|| {
        malformed(format!(
            "{what}: chunk too short for its Fletcher-32 checksum"
        ))
    })?;
    let stored = data
        .get(n..)
        .map(super::io::le_uint)
        .ok_or_else(|| malformed(format!("{what}: chunk too short")))? as u32;
    let sum = fletcher32(data.get(..n).unwrap_or(&[]));
    // Files from HDF5 < 1.6.3 store the sum with the bytes of each half swapped; the
    // library accepts both.
    let reversed = ((sum & 0x00ff_00ff) << 8) | ((sum >> 8) & 0x00ff_00ff);
    if stored != sum && stored != reversed {
        return Err(malformed(format!("{what}: Fletcher-32 checksum mismatch")));
    }
    data.truncate(n);
    Ok(data)
}

/// LZF decompression (the format of liblzf, used by h5py's filter 32000).
fn lzf_decompress(src: &[u8], cap: usize, what: &str) -> R<Vec<u8>> {
    let bad = || malformed(format!("{what}: bad LZF stream"));
    let mut out: Vec<u8> = Vec::with_capacity(cap.min(src.len().saturating_mul(4)));
    let mut i = 0usize;
    while i < src.len() {
        let ctrl = usize::from(*src.get(i).ok_or_else(bad)?);
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = src.get(i..i + n).ok_or_else(bad)?;
            if out.len() + n > cap {
                return Err(malformed(format!(
                    "{what}: LZF stream expands beyond the chunk size"
                )));
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*src.get(i).ok_or_else(bad)?);
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + usize::from(*src.get(i).ok_or_else(bad)?) + 1;
            i += 1;
            let start = out.len().checked_sub(back).ok_or_else(bad)?;
            if out.len() + len > cap {
                return Err(malformed(format!(
                    "{what}: LZF stream expands beyond the chunk size"
                )));
            }
            for k in 0..len {
                let b = *out.get(start + k).ok_or_else(bad)?;
                out.push(b);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshuffle_reverses_shuffle() {
        // Three 4-byte elements shuffled into byte planes.
        let plain: Vec<u8> = (0u8..12).collect();
        let mut shuffled = vec![0u8; 12];
        for e in 0..3 {
            for b in 0..4 {
                shuffled[b * 3 + e] = plain[e * 4 + b];
            }
        }
        assert_eq!(unshuffle(&shuffled, 4), plain);
    }

    #[test]
    fn lzf_literal_and_backref() {
        // "abcabcabc": literal "abc", then a back reference of length 6 at distance 3.
        let stream = [2u8, b'a', b'b', b'c', 4 << 5, 2];
        assert_eq!(lzf_decompress(&stream, 100, "t").unwrap(), b"abcabcabc");
        assert!(lzf_decompress(&stream, 5, "t").is_err());
    }
}
