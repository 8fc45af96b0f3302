//! Optional dequantization (`Options.dequantize`) of the simplest ggml block formats to
//! F32, streamed block range by block range from the input to the output buffer.
//!
//! - `Q8_0`: blocks of 32 values: `d` (f16) then 32 `i8` quants; `x = q · d`.
//! - `Q4_0`: blocks of 32 values: `d` (f16) then 16 bytes; byte `j` holds value `j` in its
//!   low nibble and value `j + 16` in its high nibble; `x = (nibble − 8) · d`.
//!
//! Both computed in f32 as ggml's reference `dequantize_row_*` does, so the results are
//! bit-identical to ggml's and gguf-py's.

use crate::host::Host;
use crate::result::{LoadError, Storage, StorageSource};

use super::types::GgmlType;

/// Bytes of blocks read per step (a multiple of both block sizes' lcm is not needed:
/// steps are whole blocks).
const READ_CHUNK: u64 = 64 * 1024;

/// Whether `ty` can be dequantized.
pub(super) fn supported(ty: &GgmlType) -> bool {
    matches!(ty.name, "Q8_0" | "Q4_0")
}

/// IEEE half → single precision (exact: every f16 is an f32).
pub(super) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if mant == 0 => sign,
        0 => {
            // Subnormal: mant · 2^-24, exact in f32.
            let v = mant as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        31 => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 112) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

/// Decode whole blocks of `ty` in `src` into `out` (little-endian f32 bytes).
fn decode_blocks(ty: &GgmlType, src: &[u8], out: &mut Vec<u8>) {
    let size = ty.size as usize;
    for block in src.chunks_exact(size) {
        // `size` ≥ 2 (checked by `dequantize`, the only caller besides tests).
        let (d, qs) = block.split_at(2);
        let d = f16_to_f32(u16::from_le_bytes([d[0], d[1]]));
        if ty.name == "Q8_0" {
            for &q in qs {
                out.extend_from_slice(&(f32::from(q as i8) * d).to_le_bytes());
            }
        } else {
            for &q in qs {
                let v = f32::from((q & 0x0f) as i8 - 8) * d;
                out.extend_from_slice(&v.to_le_bytes());
            }
            for &q in qs {
                let v = f32::from((q >> 4) as i8 - 8) * d;
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// Dequantize the `nbytes` of `ty` blocks at input offset `offset` into the output
/// buffer; returns their storage (4 bytes per element).
pub(super) fn dequantize(
    host: &mut dyn Host,
    ty: &GgmlType,
    offset: u64,
    nbytes: u64,
) -> Result<Storage, LoadError> {
    if ty.size < 2 || !nbytes.is_multiple_of(ty.size) || !supported(ty) {
        return Err(LoadError::malformed(format!(
            "cannot dequantize {} data of {nbytes} bytes",
            ty.name
        )));
    }
    let step = (READ_CHUNK / ty.size).max(1) * ty.size;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut start: Option<u64> = None;
    let mut written: u64 = 0;
    let mut done: u64 = 0;
    while done < nbytes {
        let n = step.min(nbytes - done);
        // n ≤ step ≤ READ_CHUNK, a usize.
        buf.resize(n as usize, 0);
        host.read_at(0, offset + done, &mut buf)?;
        out.clear();
        decode_blocks(ty, &buf, &mut out);
        let at = host.write_output(&out)?;
        match start {
            None => start = Some(at),
            Some(s) if s.checked_add(written) != Some(at) => {
                return Err(LoadError::malformed(
                    "output buffer writes are not contiguous",
                ));
            }
            Some(_) => {}
        }
        written += out.len() as u64;
        done += n;
    }
    Ok(Storage {
        source: StorageSource::Output,
        offset: start.unwrap_or(0),
        length: written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }

    #[test]
    fn q4_0_nibble_order() {
        let ty = super::super::types::ggml_type(2, "t").expect("Q4_0");
        let mut block = vec![0x00, 0x3c]; // d = 1.0
        block.extend((0u8..16).map(|j| (j & 0x0f) | (((15 - j) & 0x0f) << 4)));
        let mut out = Vec::new();
        decode_blocks(&ty, &block, &mut out);
        let vals: Vec<f32> = out
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(vals.len(), 32);
        assert_eq!(vals[0], -8.0);
        assert_eq!(vals[15], 7.0);
        assert_eq!(vals[16], 7.0);
        assert_eq!(vals[31], -8.0);
    }
}
