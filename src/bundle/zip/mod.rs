//! The zip subset bundles use, with one canonical writer and a strict reader
//! (`docs/format.md` §Container).
//!
//! Every byte of a valid bundle belongs to a local header and the data of a member, the
//! central directory, or the end records, in that order, with no gaps. Stored model files'
//! data start on a 4096-byte boundary (padding lives in an Android-style alignment extra
//! field, `0xD935`); names are UTF-8; the only compression methods are stored and
//! deflate; no encryption, data descriptors, comments or multi-disk archives. The reader
//! refuses anything else, including encodings of the same content that differ from what
//! the writer produces, so no two readers can see different contents in one bundle.

mod read;
mod write;

pub use read::{ZipError, ZipLimits, read_index};
pub use write::{EndRecords, central_header, end_records, local_header, local_header_len};

/// Local file header signature.
pub(crate) const LOCAL_SIG: u32 = 0x0403_4b50;
/// Central directory header signature.
pub(crate) const CENTRAL_SIG: u32 = 0x0201_4b50;
/// End of central directory record signature.
pub(crate) const EOCD_SIG: u32 = 0x0605_4b50;
/// Zip64 end of central directory record signature.
pub(crate) const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
/// Zip64 end of central directory locator signature.
pub(crate) const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// General-purpose flag: names are UTF-8. The only flag bundles use.
pub(crate) const FLAG_UTF8: u16 = 0x0800;
/// DOS time written in every header (00:00:00).
pub(crate) const DOS_TIME: u16 = 0;
/// DOS date written in every header (1980-01-01): bundles are reproducible; the creation
/// time lives in the signed manifest.
pub(crate) const DOS_DATE: u16 = 0x0021;
/// External attributes: a regular file, mode 0644.
pub(crate) const EXTERNAL_ATTRS: u32 = 0o100_644 << 16;
/// Zip64 extended information extra field id.
pub(crate) const ZIP64_EXTRA_ID: u16 = 0x0001;
/// Alignment padding extra field id (as Android's zipalign).
pub(crate) const ALIGN_EXTRA_ID: u16 = 0xD935;
/// Alignment of stored members' data.
pub const ALIGNMENT: u64 = 4096;
/// Version needed without / with zip64.
pub(crate) const VERSION_20: u16 = 20;
pub(crate) const VERSION_45: u16 = 45;
/// Largest value of a 16-bit field before zip64 takes over.
pub(crate) const MAX16: u64 = 0xFFFF;
/// Largest value of a 32-bit field before zip64 takes over.
pub(crate) const MAX32: u64 = 0xFFFF_FFFF;
/// The largest expansion deflate can achieve (about 1032:1); a member that declares
/// more is a zip bomb.
pub(crate) const MAX_DEFLATE_RATIO: u64 = 1032;

/// Compression method of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Method 0.
    Stored,
    /// Method 8.
    Deflated,
}

impl Method {
    pub(crate) fn code(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflated => 8,
        }
    }
}

/// One member as laid out in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// UTF-8 name.
    pub name: String,
    /// Compression method.
    pub method: Method,
    /// CRC-32 of the uncompressed bytes.
    pub crc32: u32,
    /// Bytes in the file.
    pub compressed_size: u64,
    /// Bytes once uncompressed.
    pub size: u64,
    /// Offset of the local header.
    pub header_offset: u64,
    /// Offset of the data (after the local header).
    pub data_offset: u64,
}

impl Entry {
    /// Offset just past the member's data.
    pub fn end(&self) -> Option<u64> {
        self.data_offset.checked_add(self.compressed_size)
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
