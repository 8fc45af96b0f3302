//! A strict, read-only zip reader for the containers modelseal opens inside the guest
//! (PyTorch zip checkpoints, `.npz`, `.keras`).
//!
//! Strict on purpose: scanners and loaders that read the same archive differently are a
//! known attack (CVE-2025-1944/1945: a member name or flag that differs between the local
//! header and the central directory). This reader refuses, rather than guesses:
//! - encrypted members (flag bit 0 or 6, or an encrypted central directory, bit 13);
//! - flag bits other than 1, 2 (deflate options), 3 (data descriptor) and 11 (UTF-8 names);
//! - compression methods other than 0 (stored) and 8 (deflate);
//! - a local header whose name, flags, method, CRC or sizes disagree with the central
//!   directory (with bit 3 the local CRC and sizes may be zero);
//! - duplicate or empty names, names that are not UTF-8;
//! - members whose headers or data overlap, or that reach outside the file or into the
//!   central directory; multi-disk archives; a central directory whose declared size or
//!   entry count does not match what is there;
//! - more than [`MAX_ENTRIES`] members or a central directory over [`MAX_CENTRAL_DIRECTORY`].
//!
//! Zip64 is supported, and so is a prefix before the archive (the end-of-central-directory
//! record is located from the end of the file and every offset is shifted by the distance
//! between where the central directory is and where the archive says it is, as Python's
//! `zipfile` does).

use std::collections::BTreeMap;

use miniz_oxide::DataFormat;

use crate::decompress::Inflater;
use crate::host::Host;
use crate::result::{ErrorKind, LoadError};

/// Maximum number of members in an archive.
pub const MAX_ENTRIES: usize = 1 << 20;
/// Maximum size in bytes of the central directory.
pub const MAX_CENTRAL_DIRECTORY: u64 = 128 << 20;
/// DEFLATE cannot expand data by more than about 1032:1; a member that declares more is
/// lying about its size (a zip bomb) and is refused before any decompression.
const MAX_DEFLATE_RATIO: u64 = 1032;
/// Bytes read from the source per host call when streaming a member.
const READ_CHUNK: u64 = 1 << 20;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_ZIP64_LOCATOR: u32 = 0x0706_4b50;
const SIG_ZIP64_EOCD: u32 = 0x0606_4b50;
const EOCD_LEN: u64 = 22;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_LEN: u64 = 56;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;
const MAX_COMMENT: u64 = 0xffff;
const ZIP64_EXTRA_ID: u16 = 0x0001;

const FLAG_ENCRYPTED: u16 = 1 << 0;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_ENCRYPTED_DIRECTORY: u16 = 1 << 13;
/// Flag bits this reader accepts: 1 and 2 (deflate level), 3 (data descriptor), 11 (UTF-8).
const FLAGS_ALLOWED: u16 = (1 << 1) | (1 << 2) | FLAG_DATA_DESCRIPTOR | (1 << 11);

/// Compression method: stored.
pub const METHOD_STORED: u16 = 0;
/// Compression method: deflate.
pub const METHOD_DEFLATE: u16 = 8;

/// One archive member, as checked against both of its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Member name (UTF-8), exactly as in both headers.
    pub name: String,
    /// Compression method: 0 stored, 8 deflate.
    pub method: u16,
    /// Bytes of (compressed) data in the archive.
    pub compressed_size: u64,
    /// Bytes once decompressed.
    pub size: u64,
    /// CRC-32 of the decompressed bytes.
    pub crc32: u32,
    /// Absolute offset of the member's data in the source.
    pub data_offset: u64,
}

/// A validated zip archive: its members in central-directory order.
#[derive(Debug, Clone)]
pub struct ZipArchive {
    source: u32,
    entries: Vec<ZipEntry>,
    index: BTreeMap<String, usize>,
    prefix: u64,
}

/// Little-endian field reader over a byte slice (every read bounds-checked).
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Fields {
            bytes,
            pos: 0,
            what,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], LoadError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = self.bytes.get(self.pos..end).unwrap_or_default();
                self.pos = end;
                Ok(s)
            }
            None => Err(LoadError::malformed(format!(
                "zip {} is truncated",
                self.what
            ))),
        }
    }
    fn u16(&mut self) -> Result<u16, LoadError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, LoadError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, LoadError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Where the central directory is, from the end records.
struct Directory {
    /// Absolute start of the central directory.
    start: u64,
    size: u64,
    entries: u64,
    /// Bytes before the archive proper (added to every offset the archive states).
    prefix: u64,
}

/// What a central-directory record says about a member.
struct Central {
    name: String,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    size: u64,
    /// Absolute offset of the local header.
    local_offset: u64,
}

impl ZipArchive {
    /// Reads and validates the archive in `source`: end records (zip64 too), the central
    /// directory, and every member's local header.
    pub fn open(host: &mut dyn Host, source: u32) -> Result<ZipArchive, LoadError> {
        let file_len = host.source_len(source)?;
        let dir = find_directory(host, source, file_len)?;
        let cd = host.read_vec(source, dir.start, dir.size)?;
        let centrals = parse_central_directory(&cd, &dir)?;

        let mut entries = Vec::with_capacity(centrals.len());
        let mut index = BTreeMap::new();
        let mut spans = Vec::with_capacity(centrals.len());
        for c in centrals {
            if index.contains_key(&c.name) {
                return Err(LoadError::malformed(format!(
                    "zip member {:?} appears twice",
                    c.name
                )));
            }
            let (entry, start, end) = check_local_header(host, source, &c, dir.start)?;
            spans.push((start, end, entries.len()));
            index.insert(c.name, entries.len());
            entries.push(entry);
        }
        spans.sort_unstable();
        for pair in spans.windows(2) {
            if let [(_, a_end, a), (b_start, _, b)] = pair
                && b_start < a_end
            {
                return Err(LoadError::malformed(format!(
                    "zip members {:?} and {:?} overlap",
                    entries.get(*a).map(|e| e.name.as_str()).unwrap_or("?"),
                    entries.get(*b).map(|e| e.name.as_str()).unwrap_or("?"),
                )));
            }
        }
        Ok(ZipArchive {
            source,
            entries,
            index,
            prefix: dir.prefix,
        })
    }

    /// The members, in central-directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The member named exactly `name`.
    pub fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.index.get(name).and_then(|&i| self.entries.get(i))
    }

    /// Bytes found before the archive proper (0 for an ordinary zip file).
    pub fn prefix_len(&self) -> u64 {
        self.prefix
    }

    /// The source this archive was read from.
    pub fn source(&self) -> u32 {
        self.source
    }

    /// The member's bytes (stored or inflated), at most `limit` of them, with size and
    /// CRC-32 checked.
    pub fn read(
        &self,
        host: &mut dyn Host,
        entry: &ZipEntry,
        limit: u64,
    ) -> Result<Vec<u8>, LoadError> {
        check_declared_size(entry, limit)?;
        let cap = usize::try_from(entry.size)
            .map_err(|_| LoadError::limit("zip member larger than the address space"))?;
        let mut out = Vec::with_capacity(cap);
        self.stream(host, entry, limit, &mut |piece| {
            out.extend_from_slice(piece);
            Ok(())
        })?;
        Ok(out)
    }

    /// Passes the member's bytes (stored or inflated) to `sink` piece by piece, holding at
    /// most one read chunk and one inflate buffer in memory. Size and CRC-32 are checked at
    /// the end: a caller must discard what it did with the pieces if this returns an error.
    pub fn stream(
        &self,
        host: &mut dyn Host,
        entry: &ZipEntry,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), LoadError>,
    ) -> Result<(), LoadError> {
        let mut reader = self.member_reader(entry, limit)?;
        while let Some(piece) = reader.next_piece(host)? {
            sink(piece)?;
        }
        Ok(())
    }

    /// A pull-style reader of the member's bytes, for callers that need the host between
    /// pieces (e.g. to append them to the output buffer). Fails at once if the member
    /// declares more than `limit` bytes.
    pub fn member_reader(&self, entry: &ZipEntry, limit: u64) -> Result<MemberReader, LoadError> {
        check_declared_size(entry, limit)?;
        Ok(MemberReader {
            source: self.source,
            entry: entry.clone(),
            inflater: (entry.method == METHOD_DEFLATE)
                .then(|| Inflater::new(DataFormat::Raw, "zip member", entry.size)),
            chunk: Vec::new(),
            chunk_pos: 0,
            read: 0,
            produced: 0,
            crc: crc32fast::Hasher::new(),
            finished: false,
        })
    }
}

/// Reads one member piece by piece (see [`ZipArchive::member_reader`]).
pub struct MemberReader {
    source: u32,
    entry: ZipEntry,
    inflater: Option<Inflater>,
    chunk: Vec<u8>,
    chunk_pos: usize,
    read: u64,
    produced: u64,
    crc: crc32fast::Hasher,
    finished: bool,
}

impl MemberReader {
    /// The next piece of the member's bytes, or `None` once all of them were returned and
    /// the size and CRC-32 checked.
    pub fn next_piece(&mut self, host: &mut dyn Host) -> Result<Option<&[u8]>, LoadError> {
        if self.finished {
            return Ok(None);
        }
        loop {
            if self.chunk_pos >= self.chunk.len() && self.read < self.entry.compressed_size {
                let n = (self.entry.compressed_size - self.read).min(READ_CHUNK);
                let at = self
                    .entry
                    .data_offset
                    .checked_add(self.read)
                    .ok_or_else(|| LoadError::malformed("zip member offset overflows"))?;
                self.chunk = host.read_vec(self.source, at, n)?;
                self.chunk_pos = 0;
                self.read += n;
            }
            let input = self.chunk.get(self.chunk_pos..).unwrap_or_default();
            let Some(inflater) = self.inflater.as_mut() else {
                // Stored: hand out the chunk as it is.
                if input.is_empty() {
                    return self.finish().map(|()| None);
                }
                self.chunk_pos = self.chunk.len();
                let piece = self.chunk.get(..).unwrap_or_default();
                self.produced = self.produced.saturating_add(piece.len() as u64);
                self.crc.update(piece);
                return Ok(Some(piece));
            };
            let no_more_input = input.is_empty() && self.read >= self.entry.compressed_size;
            let (consumed, produced) = inflater.step(input).map_err(|e| {
                if e.kind == ErrorKind::Limit {
                    // The inflater's limit is the declared size: the member lies about it.
                    LoadError::malformed(format!(
                        "zip member {:?} inflates to more than the {} bytes its headers declare",
                        self.entry.name, self.entry.size
                    ))
                } else {
                    name_error(e, &self.entry)
                }
            })?;
            let done = inflater.is_done();
            self.chunk_pos = self.chunk_pos.saturating_add(consumed);
            if produced > 0 {
                self.produced = self.produced.saturating_add(produced as u64);
                let out = self
                    .inflater
                    .as_ref()
                    .map(Inflater::last_output)
                    .unwrap_or_default();
                self.crc.update(out);
                return Ok(Some(out));
            }
            if done {
                if self.chunk_pos < self.chunk.len() || self.read < self.entry.compressed_size {
                    return Err(LoadError::malformed(format!(
                        "zip member {:?} has data after the end of its deflate stream",
                        self.entry.name
                    )));
                }
                return self.finish().map(|()| None);
            }
            if no_more_input {
                return Err(LoadError::malformed(format!(
                    "zip member {:?} is truncated (deflate stream does not end)",
                    self.entry.name
                )));
            }
        }
    }

    fn finish(&mut self) -> Result<(), LoadError> {
        self.finished = true;
        if self.produced != self.entry.size {
            return Err(LoadError::malformed(format!(
                "zip member {:?} holds {} bytes, not the {} its headers declare",
                self.entry.name, self.produced, self.entry.size
            )));
        }
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        if crc != self.entry.crc32 {
            return Err(LoadError::malformed(format!(
                "zip member {:?} fails its CRC-32 check",
                self.entry.name
            )));
        }
        Ok(())
    }
}

fn name_error(e: LoadError, entry: &ZipEntry) -> LoadError {
    let message = format!("zip member {:?}: {}", entry.name, e.message);
    LoadError { message, ..e }
}

fn check_declared_size(entry: &ZipEntry, limit: u64) -> Result<(), LoadError> {
    if entry.size > limit {
        return Err(LoadError::limit(format!(
            "zip member {:?} declares {} bytes, more than the {limit}-byte limit",
            entry.name, entry.size
        )));
    }
    Ok(())
}

/// Locates the end-of-central-directory record (and the zip64 one) and derives where the
/// central directory really is.
fn find_directory(host: &mut dyn Host, source: u32, file_len: u64) -> Result<Directory, LoadError> {
    if file_len < EOCD_LEN {
        return Err(LoadError::malformed(
            "file is too small to be a zip archive",
        ));
    }
    let tail_len = file_len.min(EOCD_LEN + MAX_COMMENT);
    let tail_start = file_len - tail_len;
    let tail = host.read_vec(source, tail_start, tail_len)?;
    // The record must end exactly at the end of the file (its comment runs to the end).
    let mut found = None;
    let last = tail.len().saturating_sub(EOCD_LEN as usize);
    for pos in (0..=last).rev() {
        let Some(rec) = tail.get(pos..) else { continue };
        if rec.get(..4) != Some(&SIG_EOCD.to_le_bytes()[..]) {
            continue;
        }
        let comment = rec.get(20..22).map(|b| u16::from_le_bytes([b[0], b[1]]));
        if comment.is_some_and(|c| pos + EOCD_LEN as usize + usize::from(c) == tail.len()) {
            found = Some(pos);
            break;
        }
    }
    let pos = found.ok_or_else(|| {
        LoadError::malformed("no zip end-of-central-directory record at the end of the file")
    })?;
    let eocd_at = tail_start + pos as u64;
    let mut f = Fields::new(tail.get(pos..).unwrap_or_default(), "end record");
    f.take(4)?;
    let disk = f.u16()?;
    let cd_disk = f.u16()?;
    let entries_disk = f.u16()?;
    let entries_total = f.u16()?;
    let cd_size = f.u32()?;
    let cd_offset = f.u32()?;
    if disk != 0 || cd_disk != 0 || entries_disk != entries_total {
        return Err(LoadError::unsupported(
            "multi-disk zip archives are not supported",
        ));
    }
    let (mut entries, mut size, mut offset) = (
        u64::from(entries_total),
        u64::from(cd_size),
        u64::from(cd_offset),
    );
    let mut cd_end = eocd_at;

    // Zip64: a locator right before the end record points at the zip64 end record.
    let locator = eocd_at
        .checked_sub(ZIP64_LOCATOR_LEN)
        .map(|at| {
            host.read_vec(source, at, ZIP64_LOCATOR_LEN)
                .map(|b| (at, b))
        })
        .transpose()?;
    if let Some((loc_at, loc)) = locator
        && loc.get(..4) == Some(&SIG_ZIP64_LOCATOR.to_le_bytes()[..])
    {
        let mut l = Fields::new(&loc, "zip64 locator");
        l.take(4)?;
        let z_disk = l.u32()?;
        let _z_offset = l.u64()?;
        let disks = l.u32()?;
        if z_disk != 0 || disks > 1 {
            return Err(LoadError::unsupported(
                "multi-disk zip archives are not supported",
            ));
        }
        // The zip64 end record sits right before the locator (no extensible data allowed).
        let z_at = loc_at
            .checked_sub(ZIP64_EOCD_LEN)
            .ok_or_else(|| LoadError::malformed("zip64 end record is missing"))?;
        let z = host.read_vec(source, z_at, ZIP64_EOCD_LEN)?;
        let mut r = Fields::new(&z, "zip64 end record");
        if r.u32()? != SIG_ZIP64_EOCD {
            return Err(LoadError::malformed(
                "zip64 end record is not where its locator says (or has extensible data)",
            ));
        }
        let rec_size = r.u64()?;
        r.take(4)?; // versions
        let z_disk = r.u32()?;
        let z_cd_disk = r.u32()?;
        let z_entries_disk = r.u64()?;
        let z_entries = r.u64()?;
        let z_size = r.u64()?;
        let z_offset = r.u64()?;
        if rec_size != ZIP64_EOCD_LEN - 12 {
            return Err(LoadError::unsupported(
                "zip64 end record with extensible data is not supported",
            ));
        }
        if z_disk != 0 || z_cd_disk != 0 || z_entries_disk != z_entries {
            return Err(LoadError::unsupported(
                "multi-disk zip archives are not supported",
            ));
        }
        // The 32-bit fields must be either saturated or equal to the zip64 ones.
        let agrees16 = |v: u16, z: u64| v == u16::MAX || u64::from(v) == z;
        let agrees32 = |v: u32, z: u64| v == u32::MAX || u64::from(v) == z;
        if !agrees16(entries_total, z_entries)
            || !agrees32(cd_size, z_size)
            || !agrees32(cd_offset, z_offset)
        {
            return Err(LoadError::malformed(
                "zip end record and zip64 end record disagree",
            ));
        }
        entries = z_entries;
        size = z_size;
        offset = z_offset;
        cd_end = z_at;
    }

    if size > MAX_CENTRAL_DIRECTORY {
        return Err(LoadError::limit(format!(
            "zip central directory of {size} bytes exceeds the {MAX_CENTRAL_DIRECTORY}-byte limit"
        )));
    }
    if entries > MAX_ENTRIES as u64 {
        return Err(LoadError::limit(format!(
            "zip archive declares {entries} members, more than the limit of {MAX_ENTRIES}"
        )));
    }
    let start = cd_end.checked_sub(size).ok_or_else(|| {
        LoadError::malformed("zip central directory size runs past the start of the file")
    })?;
    let prefix = start.checked_sub(offset).ok_or_else(|| {
        LoadError::malformed("zip central directory offset points past where the directory is")
    })?;
    if entries.saturating_mul(CENTRAL_LEN as u64) > size {
        return Err(LoadError::malformed(format!(
            "zip central directory of {size} bytes cannot hold the {entries} members it declares"
        )));
    }
    Ok(Directory {
        start,
        size,
        entries,
        prefix,
    })
}

fn parse_central_directory(cd: &[u8], dir: &Directory) -> Result<Vec<Central>, LoadError> {
    // `entries` ≤ MAX_ENTRIES and ≤ cd.len() / 46, so this allocation is bounded.
    let mut out = Vec::with_capacity(usize::try_from(dir.entries).unwrap_or(0));
    let mut f = Fields::new(cd, "central directory");
    for _ in 0..dir.entries {
        if f.u32()? != SIG_CENTRAL {
            return Err(LoadError::malformed(
                "zip central directory record has a bad signature",
            ));
        }
        f.take(4)?; // version made by, version needed
        let flags = f.u16()?;
        let method = f.u16()?;
        f.take(4)?; // time, date
        let crc32 = f.u32()?;
        let csize32 = f.u32()?;
        let size32 = f.u32()?;
        let name_len = usize::from(f.u16()?);
        let extra_len = usize::from(f.u16()?);
        let comment_len = usize::from(f.u16()?);
        let disk16 = f.u16()?;
        f.take(6)?; // internal, external attributes
        let offset32 = f.u32()?;
        let name_bytes = f.take(name_len)?;
        let extra = f.take(extra_len)?;
        f.take(comment_len)?;

        let name = member_name(name_bytes)?;
        check_flags_and_method(&name, flags, method)?;
        let z = zip64_extra(extra, &name)?;
        let mut z = Fields::new(z.unwrap_or_default(), "zip64 extra field");
        let size = if size32 == u32::MAX {
            z.u64()?
        } else {
            u64::from(size32)
        };
        let compressed_size = if csize32 == u32::MAX {
            z.u64()?
        } else {
            u64::from(csize32)
        };
        let offset = if offset32 == u32::MAX {
            z.u64()?
        } else {
            u64::from(offset32)
        };
        let disk = if disk16 == u16::MAX {
            z.u32()?
        } else {
            u32::from(disk16)
        };
        if disk != 0 {
            return Err(LoadError::unsupported(
                "multi-disk zip archives are not supported",
            ));
        }
        if method == METHOD_STORED && size != compressed_size {
            return Err(LoadError::malformed(format!(
                "stored zip member {name:?} has different compressed and uncompressed sizes"
            )));
        }
        if method == METHOD_DEFLATE
            && size
                > compressed_size
                    .saturating_mul(MAX_DEFLATE_RATIO)
                    .saturating_add(64)
        {
            return Err(LoadError::malformed(format!(
                "zip member {name:?} declares {size} bytes from {compressed_size} compressed \
                 bytes, beyond what deflate can produce (zip bomb)"
            )));
        }
        let local_offset = offset
            .checked_add(dir.prefix)
            .ok_or_else(|| LoadError::malformed(format!("zip member {name:?} offset overflows")))?;
        out.push(Central {
            name,
            flags,
            method,
            crc32,
            compressed_size,
            size,
            local_offset,
        });
    }
    if f.pos != cd.len() {
        return Err(LoadError::malformed(format!(
            "zip central directory has {} bytes beyond its {} declared members",
            cd.len() - f.pos,
            dir.entries
        )));
    }
    Ok(out)
}

fn member_name(bytes: &[u8]) -> Result<String, LoadError> {
    let name = std::str::from_utf8(bytes)
        .map_err(|_| LoadError::unsupported("zip member name is not UTF-8"))?;
    if name.is_empty() {
        return Err(LoadError::malformed("zip member with an empty name"));
    }
    if name.contains('\0') {
        return Err(LoadError::malformed(format!(
            "zip member name {name:?} contains a NUL byte"
        )));
    }
    Ok(name.to_string())
}

fn check_flags_and_method(name: &str, flags: u16, method: u16) -> Result<(), LoadError> {
    if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_ENCRYPTED_DIRECTORY) != 0 {
        return Err(LoadError::refused(format!(
            "zip member {name:?} is an encrypted member; encrypted content cannot be inspected"
        )));
    }
    if flags & !FLAGS_ALLOWED != 0 {
        return Err(LoadError::unsupported(format!(
            "zip member {name:?} uses unsupported flag bits {:#06x}",
            flags & !FLAGS_ALLOWED
        )));
    }
    if method != METHOD_STORED && method != METHOD_DEFLATE {
        return Err(LoadError::unsupported(format!(
            "zip member {name:?} uses compression method {method} (only stored and deflate \
             are supported)"
        )));
    }
    Ok(())
}

/// The zip64 extended-information field's data, if present. Extra fields must tile the
/// extra area exactly, and the zip64 one may appear once.
fn zip64_extra<'a>(extra: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, LoadError> {
    let mut f = Fields::new(extra, "extra field");
    let mut found = None;
    while f.pos < extra.len() {
        let id = f.u16()?;
        let len = usize::from(f.u16()?);
        let data = f.take(len)?;
        if id == ZIP64_EXTRA_ID {
            if found.is_some() {
                return Err(LoadError::malformed(format!(
                    "zip member {name:?} has two zip64 extra fields"
                )));
            }
            found = Some(data);
        }
    }
    Ok(found)
}

/// Reads the member's local header and checks it against the central record. Returns the
/// entry and the byte span it occupies (header start, data end).
fn check_local_header(
    host: &mut dyn Host,
    source: u32,
    c: &Central,
    cd_start: u64,
) -> Result<(ZipEntry, u64, u64), LoadError> {
    let name = &c.name;
    let fixed_end = c.local_offset.checked_add(LOCAL_LEN as u64);
    if fixed_end.is_none_or(|e| e > cd_start) {
        return Err(LoadError::malformed(format!(
            "zip member {name:?} local header lies outside the archive data"
        )));
    }
    let head = host.read_vec(source, c.local_offset, LOCAL_LEN as u64)?;
    let mut f = Fields::new(&head, "local header");
    if f.u32()? != SIG_LOCAL {
        return Err(LoadError::malformed(format!(
            "zip member {name:?} local header has a bad signature"
        )));
    }
    f.take(2)?; // version needed
    let flags = f.u16()?;
    let method = f.u16()?;
    f.take(4)?; // time, date
    let crc32 = f.u32()?;
    let csize32 = f.u32()?;
    let size32 = f.u32()?;
    let name_len = u64::from(f.u16()?);
    let extra_len = u64::from(f.u16()?);
    let var_at = c.local_offset + LOCAL_LEN as u64; // ≤ cd_start, checked above
    let var_len = name_len + extra_len; // ≤ 2 × 65535
    let data_offset = var_at.checked_add(var_len);
    let Some(data_offset) = data_offset.filter(|&d| d <= cd_start) else {
        return Err(LoadError::malformed(format!(
            "zip member {name:?} local header lies outside the archive data"
        )));
    };
    let var = host.read_vec(source, var_at, var_len)?;
    let (local_name, extra) = var.split_at(usize::try_from(name_len).unwrap_or(0));
    if local_name != name.as_bytes() {
        return Err(LoadError::malformed(format!(
            "zip member {name:?}: local header names it {:?} (header mismatch)",
            String::from_utf8_lossy(local_name)
        )));
    }
    if flags != c.flags {
        return Err(LoadError::malformed(format!(
            "zip member {name:?}: local header flags {flags:#06x} differ from the central \
             directory's {:#06x} (header mismatch)",
            c.flags
        )));
    }
    if method != c.method {
        return Err(LoadError::malformed(format!(
            "zip member {name:?}: local header method {method} differs from the central \
             directory's {} (header mismatch)",
            c.method
        )));
    }
    let z = zip64_extra(extra, name)?;
    let mut z = Fields::new(z.unwrap_or_default(), "zip64 extra field");
    // In a local header the zip64 field holds both sizes when either is saturated.
    let (size, csize) = if size32 == u32::MAX || csize32 == u32::MAX {
        (z.u64()?, z.u64()?)
    } else {
        (u64::from(size32), u64::from(csize32))
    };
    let agrees = crc32 == c.crc32 && size == c.size && csize == c.compressed_size;
    let zeroed = crc32 == 0 && size == 0 && csize == 0;
    if !(agrees || (flags & FLAG_DATA_DESCRIPTOR != 0 && zeroed)) {
        return Err(LoadError::malformed(format!(
            "zip member {name:?}: local header CRC or sizes differ from the central directory \
             (header mismatch)"
        )));
    }
    let data_end = data_offset.checked_add(c.compressed_size);
    if data_end.is_none_or(|e| e > cd_start) {
        return Err(LoadError::malformed(format!(
            "zip member {name:?} data runs outside the archive data"
        )));
    }
    let entry = ZipEntry {
        name: c.name.clone(),
        method: c.method,
        compressed_size: c.compressed_size,
        size: c.size,
        crc32: c.crc32,
        data_offset,
    };
    Ok((entry, c.local_offset, data_end.unwrap_or(data_offset)))
}
