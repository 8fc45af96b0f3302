//! The strict reader: returns the member table only if the file is exactly what the
//! canonical writer would produce for those members.

use std::collections::HashSet;
use std::io;

use super::{
    ALIGN_EXTRA_ID, CENTRAL_SIG, EOCD_SIG, Entry, FLAG_UTF8, MAX_DEFLATE_RATIO, MAX16, MAX32,
    Method, ZIP64_EOCD_SIG, ZIP64_LOCATOR_SIG, central_header, end_records, le16, le32, le64,
    local_header, local_header_len, write::EndRecords,
};
use crate::bundle::source::ReadAt;

/// Limits on what the reader will load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Most members.
    pub max_entries: u64,
    /// Largest central directory, in bytes.
    pub max_central_directory: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entries: 1_000_002,
            max_central_directory: 256 << 20,
        }
    }
}

/// Why a file is not a valid bundle container. Each names where it went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZipError {
    /// Reading failed.
    #[error("cannot read the bundle: {0}")]
    Io(#[from] io::Error),
    /// No end-of-central-directory record at the very end.
    #[error("no end-of-central-directory record at the end of the file (truncated, or not a zip)")]
    NoEndRecord,
    /// Bytes after the end record.
    #[error("{0} unexpected bytes after the end of the archive")]
    TrailingData(u64),
    /// An archive comment.
    #[error("the archive has a {0}-byte comment (bundles have none)")]
    ArchiveComment(u64),
    /// The end records disagree or use unsupported features.
    #[error("invalid end-of-central-directory records: {0}")]
    EndRecords(String),
    /// The central directory is not where the end record says.
    #[error("the central directory is not where the end record says ({0})")]
    CentralDirectoryLocation(String),
    /// Too many members or too large a central directory.
    #[error("archive too large to verify: {0}")]
    TooLarge(String),
    /// A central directory header is malformed.
    #[error("central directory entry #{index}: {detail}")]
    CentralHeader {
        /// Entry number.
        index: usize,
        /// What is wrong.
        detail: String,
    },
    /// A member name is not UTF-8.
    #[error("central directory entry #{0} has a name that is not UTF-8")]
    NonUtf8Name(usize),
    /// The encryption flag is set.
    #[error("member {0:?} is encrypted")]
    Encrypted(String),
    /// A compression method other than stored or deflate.
    #[error(
        "member {name:?} uses compression method {method} (only stored and deflate are allowed)"
    )]
    UnsupportedMethod {
        /// Member.
        name: String,
        /// Method code.
        method: u16,
    },
    /// Flags other than UTF-8 names (data descriptor, patches, …).
    #[error("member {name:?} has unsupported flags {flags:#06x}")]
    UnsupportedFlags {
        /// Member.
        name: String,
        /// The flags.
        flags: u16,
    },
    /// A header field differs from the canonical encoding.
    #[error("member {name:?}: {detail}")]
    NotCanonical {
        /// Member.
        name: String,
        /// Which field.
        detail: String,
    },
    /// Data before the first local header.
    #[error("{0} bytes of data before the first member (prepended data)")]
    PrependedData(u64),
    /// Bytes between two members or before the central directory.
    #[error("{bytes} unaccounted bytes at offset {offset} (before {before})")]
    Gap {
        /// Where the gap starts.
        offset: u64,
        /// Its length.
        bytes: u64,
        /// What follows it.
        before: String,
    },
    /// Members overlap or are out of order.
    #[error("member {0:?} overlaps the previous member or is out of order")]
    Overlap(String),
    /// The local header disagrees with the central directory.
    #[error("member {name:?}: local header and central directory disagree on {field}")]
    LocalHeaderMismatch {
        /// Member.
        name: String,
        /// The field.
        field: &'static str,
    },
    /// The same name twice.
    #[error("member {0:?} appears more than once")]
    DuplicateName(String),
    /// Declared sizes impossible for the method (zip bomb or corruption).
    #[error("member {name:?}: {detail}")]
    Sizes {
        /// Member.
        name: String,
        /// What is impossible.
        detail: String,
    },
    /// A member's data runs past the central directory.
    #[error("member {0:?} runs past the start of the central directory (truncated or corrupt)")]
    Truncated(String),
}

const EOCD_LEN: u64 = 22;
const ZIP64_EOCD_LEN: u64 = 56;
const ZIP64_LOCATOR_LEN: u64 = 20;

/// Read and check the container structure of `src`; returns members in file order.
pub fn read_index<R: ReadAt + ?Sized>(src: &R, limits: ZipLimits) -> Result<Vec<Entry>, ZipError> {
    let len = src.size()?;
    let end = find_end(src, len)?;
    let mut entries = read_central_directory(src, &end, limits)?;
    check_layout(src, &mut entries, end.cd_offset)?;
    Ok(entries)
}

/// What the end records say.
struct End {
    entries: u64,
    cd_offset: u64,
    cd_size: u64,
}

fn read_at<R: ReadAt + ?Sized>(src: &R, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    src.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

fn find_end<R: ReadAt + ?Sized>(src: &R, len: u64) -> Result<End, ZipError> {
    if len < EOCD_LEN {
        return Err(ZipError::NoEndRecord);
    }
    let eocd_pos = len - EOCD_LEN;
    let eocd = read_at(src, eocd_pos, EOCD_LEN as usize)?;
    if le32(&eocd, 0) != EOCD_SIG || le16(&eocd, 20) != 0 {
        return Err(diagnose_missing_end(src, len));
    }
    let disk = le16(&eocd, 4);
    let cd_disk = le16(&eocd, 6);
    let n_disk = u64::from(le16(&eocd, 8));
    let n = u64::from(le16(&eocd, 10));
    let cd_size32 = u64::from(le32(&eocd, 12));
    let cd_offset32 = u64::from(le32(&eocd, 16));
    if disk != 0 || cd_disk != 0 || n_disk != n {
        return Err(ZipError::EndRecords(
            "multi-disk archives are not supported".into(),
        ));
    }
    let zip64 = n == MAX16 || cd_size32 == MAX32 || cd_offset32 == MAX32;
    let end = if zip64 {
        let loc_pos = eocd_pos
            .checked_sub(ZIP64_LOCATOR_LEN)
            .ok_or_else(|| ZipError::EndRecords("zip64 locator missing".into()))?;
        let loc = read_at(src, loc_pos, ZIP64_LOCATOR_LEN as usize)?;
        if le32(&loc, 0) != ZIP64_LOCATOR_SIG || le32(&loc, 4) != 0 || le32(&loc, 16) != 1 {
            return Err(ZipError::EndRecords(
                "zip64 locator missing or multi-disk".into(),
            ));
        }
        let z_pos = le64(&loc, 8);
        if Some(z_pos) != loc_pos.checked_sub(ZIP64_EOCD_LEN) {
            return Err(ZipError::EndRecords(
                "zip64 end record is not immediately before its locator".into(),
            ));
        }
        let z = read_at(src, z_pos, ZIP64_EOCD_LEN as usize)?;
        if le32(&z, 0) != ZIP64_EOCD_SIG || le64(&z, 4) != 44 {
            return Err(ZipError::EndRecords("bad zip64 end record".into()));
        }
        if le32(&z, 16) != 0 || le32(&z, 20) != 0 || le64(&z, 24) != le64(&z, 32) {
            return Err(ZipError::EndRecords("multi-disk zip64 archive".into()));
        }
        End {
            entries: le64(&z, 32),
            cd_size: le64(&z, 40),
            cd_offset: le64(&z, 48),
        }
    } else {
        End {
            entries: n,
            cd_size: cd_size32,
            cd_offset: cd_offset32,
        }
    };
    // The end records must be exactly what the writer produces for these values.
    let expected = end_records(EndRecords {
        entries: end.entries,
        cd_size: end.cd_size,
        cd_offset: end.cd_offset,
    });
    let records_len = expected.len() as u64;
    let records_pos = len
        .checked_sub(records_len)
        .ok_or_else(|| ZipError::EndRecords("end records longer than the file".into()))?;
    if read_at(src, records_pos, expected.len())? != expected {
        return Err(ZipError::EndRecords(
            "zip64 and classic end records disagree or are not canonical".into(),
        ));
    }
    let cd_end = end.cd_offset.checked_add(end.cd_size);
    if cd_end != Some(records_pos) {
        let detail = match cd_end {
            Some(e) if e < records_pos => format!(
                "{} bytes between the central directory and the end record, or {} bytes prepended",
                records_pos - e,
                records_pos - e
            ),
            Some(e) => format!(
                "it would end {} bytes past the end record: data was removed or shifted",
                e - records_pos
            ),
            None => "offset overflows".into(),
        };
        return Err(ZipError::CentralDirectoryLocation(detail));
    }
    Ok(end)
}

/// The last 22 bytes are not a bare end record: find out why, for a precise message.
fn diagnose_missing_end<R: ReadAt + ?Sized>(src: &R, len: u64) -> ZipError {
    let window = len.min(EOCD_LEN + 0xFFFF + 4096);
    let start = len - window;
    let Ok(tail) = read_at(src, start, window as usize) else {
        return ZipError::NoEndRecord;
    };
    for i in (0..tail.len().saturating_sub(EOCD_LEN as usize - 1)).rev() {
        if le32(&tail, i) == EOCD_SIG {
            let pos = start + i as u64;
            let comment = u64::from(le16(&tail, i + 20));
            let after = len - pos - EOCD_LEN;
            if comment > 0 && comment == after {
                return ZipError::ArchiveComment(comment);
            }
            if comment == 0 {
                return ZipError::TrailingData(after);
            }
        }
    }
    ZipError::NoEndRecord
}

fn read_central_directory<R: ReadAt + ?Sized>(
    src: &R,
    end: &End,
    limits: ZipLimits,
) -> Result<Vec<Entry>, ZipError> {
    if end.entries > limits.max_entries {
        return Err(ZipError::TooLarge(format!(
            "{} members (limit {})",
            end.entries, limits.max_entries
        )));
    }
    if end.cd_size > limits.max_central_directory {
        return Err(ZipError::TooLarge(format!(
            "central directory of {} bytes (limit {})",
            end.cd_size, limits.max_central_directory
        )));
    }
    let cd_len =
        usize::try_from(end.cd_size).map_err(|_| ZipError::TooLarge("central directory".into()))?;
    let cd = read_at(src, end.cd_offset, cd_len)?;
    let mut entries = Vec::with_capacity(end.entries.min(1 << 16) as usize);
    let mut names = HashSet::new();
    let mut at = 0usize;
    for index in 0..end.entries as usize {
        let bad = |detail: &str| ZipError::CentralHeader {
            index,
            detail: detail.into(),
        };
        let fixed = cd
            .get(at..at + 46)
            .ok_or_else(|| bad("runs past the central directory"))?;
        if le32(fixed, 0) != CENTRAL_SIG {
            return Err(bad("bad signature"));
        }
        let flags = le16(fixed, 8);
        let method = le16(fixed, 10);
        let name_len = usize::from(le16(fixed, 28));
        let extra_len = usize::from(le16(fixed, 30));
        let comment_len = usize::from(le16(fixed, 32));
        let total = 46 + name_len + extra_len + comment_len;
        let raw = cd
            .get(at..at + total)
            .ok_or_else(|| bad("runs past the central directory"))?;
        let name = std::str::from_utf8(&raw[46..46 + name_len])
            .map_err(|_| ZipError::NonUtf8Name(index))?
            .to_string();
        if flags & 0x0001 != 0 || flags & 0x0040 != 0 || flags & 0x2000 != 0 {
            return Err(ZipError::Encrypted(name));
        }
        if flags != FLAG_UTF8 {
            return Err(ZipError::UnsupportedFlags { name, flags });
        }
        let method = match method {
            0 => Method::Stored,
            8 => Method::Deflated,
            other => {
                return Err(ZipError::UnsupportedMethod {
                    name,
                    method: other,
                });
            }
        };
        if !names.insert(name.clone()) {
            return Err(ZipError::DuplicateName(name));
        }
        // Sizes and offset, through the zip64 extra field when clamped.
        let mut size = u64::from(le32(fixed, 24));
        let mut compressed_size = u64::from(le32(fixed, 20));
        let mut header_offset = u64::from(le32(fixed, 42));
        let extra = &raw[46 + name_len..46 + name_len + extra_len];
        let Some(z64) = zip64_values(extra) else {
            return Err(ZipError::NotCanonical {
                name,
                detail: "unexpected extra field in the central directory".into(),
            });
        };
        let mut z = z64.into_iter();
        for field in [&mut size, &mut compressed_size, &mut header_offset] {
            if *field == MAX32 {
                *field = z.next().ok_or_else(|| ZipError::NotCanonical {
                    name: name.clone(),
                    detail: "zip64 field missing".into(),
                })?;
            }
        }
        let entry_guess = Entry {
            name: name.clone(),
            method,
            crc32: le32(fixed, 16),
            compressed_size,
            size,
            header_offset,
            data_offset: 0,
        };
        // Everything else must be byte-identical to the canonical encoding.
        if central_header(&entry_guess) != raw {
            return Err(ZipError::NotCanonical {
                name,
                detail: "central directory header differs from the canonical form (version, time, attributes, comment or zip64 use)".into(),
            });
        }
        if method == Method::Stored && size != compressed_size {
            return Err(ZipError::Sizes {
                name,
                detail: format!(
                    "stored member declares {compressed_size} stored bytes but {size} bytes of content"
                ),
            });
        }
        if method == Method::Deflated
            && size
                > compressed_size
                    .saturating_mul(MAX_DEFLATE_RATIO)
                    .saturating_add(64)
        {
            return Err(ZipError::Sizes {
                name,
                detail: format!(
                    "declares {size} bytes from {compressed_size} compressed bytes, more than deflate can produce (zip bomb)"
                ),
            });
        }
        entries.push(entry_guess);
        at += total;
    }
    if at != cd.len() {
        return Err(ZipError::CentralDirectoryLocation(format!(
            "{} bytes after the last central directory entry",
            cd.len() - at
        )));
    }
    Ok(entries)
}

/// The u64 values of a lone zip64 extra field (empty for an empty extra; `None` for any
/// other extra field).
fn zip64_values(extra: &[u8]) -> Option<Vec<u64>> {
    if extra.is_empty() {
        return Some(Vec::new());
    }
    if extra.len() < 4 || le16(extra, 0) != super::ZIP64_EXTRA_ID {
        return None;
    }
    let body = &extra[4..];
    if usize::from(le16(extra, 2)) != body.len() || !body.len().is_multiple_of(8) || body.len() > 24
    {
        return None;
    }
    Some(body.chunks_exact(8).map(|c| le64(c, 0)).collect())
}

fn check_layout<R: ReadAt + ?Sized>(
    src: &R,
    entries: &mut [Entry],
    cd_offset: u64,
) -> Result<(), ZipError> {
    let mut pos = 0u64;
    for e in entries.iter_mut() {
        if e.header_offset != pos {
            return Err(if pos == 0 {
                ZipError::PrependedData(e.header_offset)
            } else if e.header_offset > pos {
                ZipError::Gap {
                    offset: pos,
                    bytes: e.header_offset - pos,
                    before: format!("member {:?}", e.name),
                }
            } else {
                ZipError::Overlap(e.name.clone())
            });
        }
        let header_len = local_header_len(e);
        e.data_offset = e
            .header_offset
            .checked_add(header_len)
            .ok_or_else(|| ZipError::Truncated(e.name.clone()))?;
        let end = e
            .end()
            .filter(|&end| end <= cd_offset)
            .ok_or_else(|| ZipError::Truncated(e.name.clone()))?;
        let actual = read_at(src, e.header_offset, header_len as usize)?;
        let expected = local_header(e);
        if actual != expected {
            return Err(ZipError::LocalHeaderMismatch {
                name: e.name.clone(),
                field: first_difference(&actual, &expected),
            });
        }
        pos = end;
    }
    if pos != cd_offset {
        return Err(ZipError::Gap {
            offset: pos,
            bytes: cd_offset - pos,
            before: "the central directory".into(),
        });
    }
    Ok(())
}

fn first_difference(actual: &[u8], expected: &[u8]) -> &'static str {
    let at = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    match at {
        0..=3 => "signature",
        4..=5 => "version needed",
        6..=7 => {
            if actual.get(6).is_some_and(|b| b & 1 != 0) {
                "flags (encryption)"
            } else {
                "flags"
            }
        }
        8..=9 => "compression method",
        10..=13 => "modification time",
        14..=17 => "CRC-32",
        18..=21 => "compressed size",
        22..=25 => "uncompressed size",
        26..=27 => "name length",
        28..=29 => "extra field length",
        _ => {
            let name_len = usize::from(le16(expected, 26));
            if at < 30 + name_len {
                "name"
            } else if le16(expected, 28) > 0
                && expected.get(30 + name_len..32 + name_len)
                    == Some(&ALIGN_EXTRA_ID.to_le_bytes()[..])
            {
                "alignment padding"
            } else {
                "extra field"
            }
        }
    }
}
