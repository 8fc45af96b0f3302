//! The canonical encoder: the only way modelseal lays out a bundle's zip structures.

use super::{
    ALIGN_EXTRA_ID, ALIGNMENT, CENTRAL_SIG, DOS_DATE, DOS_TIME, EOCD_SIG, EXTERNAL_ATTRS, Entry,
    FLAG_UTF8, LOCAL_SIG, MAX16, MAX32, Method, VERSION_20, VERSION_45, ZIP64_EOCD_SIG,
    ZIP64_EXTRA_ID, ZIP64_LOCATOR_SIG,
};

/// Smallest alignment extra field: 4-byte header + 2-byte alignment value.
const MIN_ALIGN_EXTRA: u64 = 6;

fn local_needs_zip64(e: &Entry) -> bool {
    e.size >= MAX32 || e.compressed_size >= MAX32
}

fn central_zip64_fields(e: &Entry) -> Vec<u64> {
    [e.size, e.compressed_size, e.header_offset]
        .into_iter()
        .filter(|&v| v >= MAX32)
        .collect()
}

fn version_needed(e: &Entry) -> u16 {
    if local_needs_zip64(e) || !central_zip64_fields(e).is_empty() {
        VERSION_45
    } else {
        VERSION_20
    }
}

/// Padding (total length of the alignment extra field) needed for a stored member whose
/// local header starts at `header_offset`.
/// Only model files (`files/…`) are aligned: they are what gets memory-mapped.
fn padding(e: &Entry, name_len: u64, zip64: bool) -> u64 {
    if e.method != Method::Stored || !e.name.starts_with(crate::bundle::FILES_PREFIX) {
        return 0;
    }
    let base = e.header_offset + 30 + name_len + if zip64 { 20 } else { 0 };
    let mut pad = (ALIGNMENT - base % ALIGNMENT) % ALIGNMENT;
    if pad != 0 && pad < MIN_ALIGN_EXTRA {
        pad += ALIGNMENT;
    }
    pad
}

/// Length of `e`'s local header given its name, method, sizes and `header_offset`
/// (so `data_offset = header_offset + local_header_len(e)`).
pub fn local_header_len(e: &Entry) -> u64 {
    let n = e.name.len() as u64;
    let z = local_needs_zip64(e);
    30 + n + if z { 20 } else { 0 } + padding(e, n, z)
}

/// The local header of `e` (its `data_offset` must be `header_offset + local_header_len`).
pub fn local_header(e: &Entry) -> Vec<u8> {
    let n = e.name.len() as u64;
    let z = local_needs_zip64(e);
    let pad = padding(e, n, z);
    let extra_len = if z { 20 } else { 0 } + pad;
    let mut h = Vec::with_capacity(30 + n as usize + extra_len as usize);
    h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
    h.extend_from_slice(&version_needed(e).to_le_bytes());
    h.extend_from_slice(&FLAG_UTF8.to_le_bytes());
    h.extend_from_slice(&e.method.code().to_le_bytes());
    h.extend_from_slice(&DOS_TIME.to_le_bytes());
    h.extend_from_slice(&DOS_DATE.to_le_bytes());
    h.extend_from_slice(&e.crc32.to_le_bytes());
    let (c, u) = if z {
        (MAX32 as u32, MAX32 as u32)
    } else {
        (e.compressed_size as u32, e.size as u32)
    };
    h.extend_from_slice(&c.to_le_bytes());
    h.extend_from_slice(&u.to_le_bytes());
    h.extend_from_slice(&(n as u16).to_le_bytes());
    h.extend_from_slice(&(extra_len as u16).to_le_bytes());
    h.extend_from_slice(e.name.as_bytes());
    if z {
        h.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(&e.size.to_le_bytes());
        h.extend_from_slice(&e.compressed_size.to_le_bytes());
    }
    if pad > 0 {
        h.extend_from_slice(&ALIGN_EXTRA_ID.to_le_bytes());
        h.extend_from_slice(&((pad - 4) as u16).to_le_bytes());
        h.extend_from_slice(&(ALIGNMENT as u16).to_le_bytes());
        h.resize(h.len() + (pad - MIN_ALIGN_EXTRA) as usize, 0);
    }
    h
}

/// The central directory header of `e`.
pub fn central_header(e: &Entry) -> Vec<u8> {
    let n = e.name.len();
    let z = central_zip64_fields(e);
    let extra_len = if z.is_empty() { 0 } else { 4 + 8 * z.len() };
    let v = version_needed(e);
    let clamp = |x: u64| if x >= MAX32 { MAX32 as u32 } else { x as u32 };
    let mut h = Vec::with_capacity(46 + n + extra_len);
    h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
    h.extend_from_slice(&(0x0300 | v).to_le_bytes()); // made by: Unix, same version
    h.extend_from_slice(&v.to_le_bytes());
    h.extend_from_slice(&FLAG_UTF8.to_le_bytes());
    h.extend_from_slice(&e.method.code().to_le_bytes());
    h.extend_from_slice(&DOS_TIME.to_le_bytes());
    h.extend_from_slice(&DOS_DATE.to_le_bytes());
    h.extend_from_slice(&e.crc32.to_le_bytes());
    h.extend_from_slice(&clamp(e.compressed_size).to_le_bytes());
    h.extend_from_slice(&clamp(e.size).to_le_bytes());
    h.extend_from_slice(&(n as u16).to_le_bytes());
    h.extend_from_slice(&(extra_len as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // comment length
    h.extend_from_slice(&0u16.to_le_bytes()); // disk number start
    h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    h.extend_from_slice(&EXTERNAL_ATTRS.to_le_bytes());
    h.extend_from_slice(&clamp(e.header_offset).to_le_bytes());
    h.extend_from_slice(e.name.as_bytes());
    if !z.is_empty() {
        h.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
        h.extend_from_slice(&((8 * z.len()) as u16).to_le_bytes());
        for v in z {
            h.extend_from_slice(&v.to_le_bytes());
        }
    }
    h
}

/// The end records for a central directory of `entries` entries, `cd_size` bytes at
/// `cd_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndRecords {
    /// Number of central directory entries.
    pub entries: u64,
    /// Central directory size.
    pub cd_size: u64,
    /// Central directory offset.
    pub cd_offset: u64,
}

impl EndRecords {
    /// True when zip64 end records are required.
    pub fn needs_zip64(&self) -> bool {
        self.entries >= MAX16 || self.cd_size >= MAX32 || self.cd_offset >= MAX32
    }
}

/// Encode the end records (zip64 record and locator when needed, then the classic one).
pub fn end_records(r: EndRecords) -> Vec<u8> {
    let mut out = Vec::with_capacity(98);
    if r.needs_zip64() {
        let z64_offset = r.cd_offset + r.cd_size;
        out.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&(0x0300 | VERSION_45).to_le_bytes());
        out.extend_from_slice(&VERSION_45.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&r.entries.to_le_bytes());
        out.extend_from_slice(&r.entries.to_le_bytes());
        out.extend_from_slice(&r.cd_size.to_le_bytes());
        out.extend_from_slice(&r.cd_offset.to_le_bytes());
        out.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&z64_offset.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    let n16 = r.entries.min(MAX16) as u16;
    let c32 = |x: u64| x.min(MAX32) as u32;
    out.extend_from_slice(&EOCD_SIG.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&c32(r.cd_size).to_le_bytes());
    out.extend_from_slice(&c32(r.cd_offset).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
