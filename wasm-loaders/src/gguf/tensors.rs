//! GGUF tensor infos and the data-section layout → tensor descriptors.
//!
//! Checks (all with checked arithmetic): unique, bounded, UTF-8 names without control
//! characters; `n_dims` ≤ 4 (`GGML_MAX_DIMS`); every `ne` < 2^63; known ggml type;
//! `ne[0]` divisible by the block size of quantized types; offsets aligned, inside the
//! file and non-overlapping. llama.cpp additionally requires tensors to be packed in
//! declaration order; a file that is valid but not packed that way gets a warning.

use std::collections::BTreeSet;

use super::dequant;
use super::reader::Reader;
use super::types::{GgmlType, ggml_type};
use crate::result::{ByteOrder, Dtype, LoadError, LoadResult, Storage, StorageSource, TensorDesc};

/// `GGML_MAX_DIMS`.
pub const MAX_DIMS: u64 = 4;
/// Longest tensor name accepted (the ABI's limit), in bytes.
pub const MAX_NAME_BYTES: u64 = 1024;

/// One tensor info as read.
struct Info {
    name: String,
    /// ggml's `ne`, fastest-varying first.
    ne: Vec<u64>,
    ty: GgmlType,
    offset: u64,
    nbytes: u64,
}

/// Smallest tensor info: name length, empty name, n_dims, type, offset.
fn min_info_size(wide: bool) -> u64 {
    (if wide { 8 } else { 4 }) + 4 + 4 + 8
}

/// Round `v` up to a multiple of `align` (a power of two).
fn align_up(v: u64, align: u64) -> Option<u64> {
    v.checked_add(align - 1).map(|x| x & !(align - 1))
}

/// Read `n` tensor infos, validate the layout and append the descriptors to `result`.
pub(super) fn read(
    r: &mut Reader<'_>,
    n: u64,
    alignment: u64,
    dequantize: bool,
    result: &mut LoadResult,
) -> Result<(), LoadError> {
    let least = n
        .checked_mul(min_info_size(r.wide))
        .ok_or_else(|| LoadError::malformed("tensor count overflows"))?;
    r.need(least, "tensor infos")?;
    let mut infos: Vec<Info> = Vec::new();
    let mut names = BTreeSet::new();
    for i in 0..n {
        let info = read_info(r, i)?;
        if !names.insert(info.name.clone()) {
            return Err(LoadError::malformed(format!(
                "duplicate tensor name '{}'",
                info.name
            )));
        }
        infos.push(info);
    }

    let data_start = align_up(r.pos(), alignment)
        .ok_or_else(|| LoadError::malformed("data section offset overflows"))?;
    let file_len = r.len();

    // Bounds and alignment.
    let mut canonical = true;
    let mut expected_offset = 0u64;
    for t in &infos {
        if t.offset % alignment != 0 {
            return Err(LoadError::malformed(format!(
                "tensor '{}' offset {} is not a multiple of the alignment {alignment}",
                t.name, t.offset
            )));
        }
        data_start
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.nbytes))
            .filter(|&e| e <= file_len)
            .ok_or_else(|| {
                LoadError::malformed(format!(
                    "tensor '{}' ({} bytes at data offset {}) runs past the end of the file ({file_len} bytes)",
                    t.name, t.nbytes, t.offset
                ))
            })?;
        if t.offset != expected_offset {
            canonical = false;
        }
        expected_offset =
            align_up(t.offset.saturating_add(t.nbytes), alignment).unwrap_or(u64::MAX);
    }

    // No overlaps.
    let mut order: Vec<usize> = (0..infos.len()).collect();
    order.sort_by_key(|&i| infos.get(i).map_or(0, |t| t.offset));
    let mut prev: Option<(u64, &str)> = None;
    for &i in &order {
        let Some(t) = infos.get(i) else { continue };
        if let Some((prev_end, prev_name)) = prev
            && t.offset < prev_end
            && t.nbytes > 0
        {
            return Err(LoadError::malformed(format!(
                "tensors '{prev_name}' and '{}' overlap",
                t.name
            )));
        }
        // Bounded by the checks above (offset + nbytes ≤ file length).
        let end = t.offset + t.nbytes;
        if prev.is_none_or(|(e, _)| end > e) {
            prev = Some((end, &t.name));
        }
    }
    if !canonical {
        result.warnings.push(
            "GGUF tensors are not packed in declaration order; llama.cpp would refuse this file"
                .into(),
        );
    }

    let mut kept_raw: BTreeSet<&'static str> = BTreeSet::new();
    for t in infos {
        let storage = Storage {
            source: StorageSource::Input,
            // Checked above: data_start + offset + nbytes ≤ file length.
            offset: data_start + t.offset,
            length: t.nbytes,
        };
        let shape: Vec<u64> = t.ne.iter().rev().copied().collect();
        let desc = match t.ty.dtype {
            Some(dtype) => TensorDesc::contiguous(t.name, dtype, shape, ByteOrder::Little, storage),
            None if dequantize && dequant::supported(&t.ty) => {
                let mut d = TensorDesc::contiguous(
                    t.name,
                    Dtype::F32,
                    shape,
                    ByteOrder::Little,
                    dequant::dequantize(r.host(), &t.ty, storage.offset, storage.length)?,
                );
                d.extra.insert("dequantized_from".into(), t.ty.name.into());
                d
            }
            None => {
                if dequantize {
                    kept_raw.insert(t.ty.name);
                }
                let mut d = TensorDesc::contiguous(
                    t.name,
                    Dtype::U8,
                    vec![t.nbytes],
                    ByteOrder::Little,
                    storage,
                );
                d.extra.insert("ggml_type".into(), t.ty.name.into());
                let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
                d.extra
                    .insert("shape".into(), format!("[{}]", dims.join(", ")));
                d
            }
        };
        result.tensors.push(desc);
    }
    if !kept_raw.is_empty() {
        let names: Vec<&str> = kept_raw.into_iter().collect();
        result.warnings.push(format!(
            "dequantization is only implemented for Q8_0 and Q4_0; {} tensors were kept as raw blocks",
            names.join(", ")
        ));
    }
    Ok(())
}

/// One tensor info (the `index`-th).
fn read_info(r: &mut Reader<'_>, index: u64) -> Result<Info, LoadError> {
    let n = r.string_len("tensor name")?;
    if n > MAX_NAME_BYTES {
        return Err(LoadError::limit(format!(
            "tensor #{index} has a name of {n} bytes (limit {MAX_NAME_BYTES})"
        )));
    }
    // n ≤ MAX_NAME_BYTES fits in usize.
    let bytes = r.prefix(n, n as usize, "tensor name")?;
    let name = String::from_utf8(bytes)
        .map_err(|_| LoadError::malformed(format!("tensor #{index} name is not UTF-8")))?;
    if name.is_empty() {
        return Err(LoadError::malformed(format!(
            "tensor #{index} has an empty name"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(LoadError::malformed(format!(
            "tensor name {name:?} contains control characters"
        )));
    }
    let n_dims = r.u32("n_dims")?;
    if u64::from(n_dims) > MAX_DIMS {
        return Err(LoadError::malformed(format!(
            "tensor '{name}' has n_dims {n_dims} (GGML_MAX_DIMS is {MAX_DIMS})"
        )));
    }
    let mut ne = Vec::new();
    for _ in 0..n_dims {
        let d = r.count("tensor dimension")?;
        if d > i64::MAX as u64 {
            return Err(LoadError::malformed(format!(
                "tensor '{name}' has dimension {d} ≥ 2^63"
            )));
        }
        ne.push(d);
    }
    let ty = ggml_type(r.u32("tensor type")?, &name)?;
    let offset = r.u64("tensor offset")?;
    let nbytes = byte_size(&name, &ne, &ty)?;
    Ok(Info {
        name,
        ne,
        ty,
        offset,
        nbytes,
    })
}

/// Bytes of a tensor of type `ty` with ggml dims `ne`.
fn byte_size(name: &str, ne: &[u64], ty: &GgmlType) -> Result<u64, LoadError> {
    let overflow =
        || LoadError::malformed(format!("tensor '{name}': size of dims {ne:?} overflows"));
    let (first, rest) = match ne.split_first() {
        Some((f, r)) => (*f, r),
        None => (1, &[][..]),
    };
    if first % ty.block != 0 {
        return Err(LoadError::malformed(format!(
            "tensor '{name}': first dimension {first} is not a multiple of the {} block size {}",
            ty.name, ty.block
        )));
    }
    // The element count must fit in u64 even when a dimension is 0 (ggml computes it as an
    // int64 product, and the host checks every partial product of the shape in any order):
    // the product with zeros counted as 1 bounds all of them.
    ne.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d.max(1)))
        .ok_or_else(overflow)?;
    let row = (first / ty.block)
        .checked_mul(ty.size)
        .ok_or_else(overflow)?;
    rest.iter()
        .try_fold(row, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)
}
