//! `.npz` archives (`np.savez`, `np.savez_compressed`): a zip of `.npy` members; member
//! `x.npy` becomes tensor `x`.
//!
//! - Stored members are described in place: the storage points into the input at the
//!   member's data offset; nothing is copied. Their CRC-32 is still verified (the bytes
//!   stream through the guest in bounded chunks).
//! - Deflated members are inflated one at a time and their array bytes appended to the
//!   output buffer with `Host::write_output` as they are produced (the guest holds one
//!   scratch buffer, never a whole member); their storage is in the output.
//! - The total decompressed size of all members is bounded by `limits.max_decompressed`;
//!   every member must be a `.npy` file with a non-empty name; duplicates, encrypted
//!   members and header disagreements are refused by the zip reader.

use crate::host::Host;
use crate::numpy::npy::{self, NpyHeader, PREAMBLE_PROBE};
use crate::result::{LoadError, LoadResult, Options, Storage, StorageSource};
use crate::zip::{METHOD_STORED, ZipArchive, ZipEntry};

/// Array bytes are batched into writes of this size.
const WRITE_CHUNK: usize = 1 << 20;

/// Loads every array of an `.npz` archive.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let archive = ZipArchive::open(host, 0)?;
    if archive.entries().len() as u64 > options.limits.max_tensors {
        return Err(LoadError::limit(format!(
            "npz archive has {} members, more than max_tensors ({})",
            archive.entries().len(),
            options.limits.max_tensors
        )));
    }
    let mut result = LoadResult {
        format: "npz".into(),
        ..Default::default()
    };
    let mut budget = options.limits.max_decompressed;
    for entry in archive.entries() {
        let name = tensor_name(&entry.name)?;
        let tensor = if entry.method == METHOD_STORED {
            stored_member(host, &archive, entry, name)?
        } else {
            let t = deflated_member(host, &archive, entry, name, budget)?;
            budget = budget.saturating_sub(entry.size);
            t
        };
        result.tensors.push(tensor);
    }
    Ok(result)
}

/// `x.npy` → `x`.
fn tensor_name(member: &str) -> Result<&str, LoadError> {
    let stem = member
        .strip_suffix(".npy")
        .ok_or_else(|| LoadError::malformed(format!("npz member {member:?} is not a .npy file")))?;
    if stem.is_empty() {
        return Err(LoadError::malformed(
            "npz member \".npy\" has an empty array name",
        ));
    }
    Ok(stem)
}

fn member_error(e: LoadError, member: &str) -> LoadError {
    let message = format!("npz member {member:?}: {}", e.message);
    LoadError { message, ..e }
}

fn stored_member(
    host: &mut dyn Host,
    archive: &ZipArchive,
    entry: &ZipEntry,
    name: &str,
) -> Result<crate::result::TensorDesc, LoadError> {
    let header = npy::read_header(host, archive.source(), entry.data_offset, entry.size)
        .map_err(|e| member_error(e, &entry.name))?;
    // Verify the CRC over the member without keeping its bytes.
    archive.stream(host, entry, entry.size, &mut |_| Ok(()))?;
    let offset = entry
        .data_offset
        .checked_add(header.data_start)
        .ok_or_else(|| LoadError::malformed("npz member offset overflows"))?;
    Ok(header.tensor(
        name,
        Storage {
            source: StorageSource::Input,
            offset,
            length: header.data_len,
        },
    ))
}

/// Collects the npy header from the first inflated bytes, then forwards the array bytes
/// to the output buffer in contiguous batches.
struct MemberSink {
    head: Vec<u8>,
    header: Option<NpyHeader>,
    pending: Vec<u8>,
    written: u64,
    out_start: Option<u64>,
}

impl MemberSink {
    /// Takes the header bytes still missing from `piece`; returns the rest.
    fn take_header<'p>(&mut self, mut piece: &'p [u8]) -> Result<&'p [u8], LoadError> {
        while self.header.is_none() && !piece.is_empty() {
            let need = if self.head.len() < PREAMBLE_PROBE {
                PREAMBLE_PROBE
            } else {
                // ≤ 12 + MAX_HEADER_LEN, checked by `header_extent`.
                let (_, end) = npy::header_extent(&self.head)?;
                usize::try_from(end).unwrap_or(usize::MAX)
            };
            let take = need.saturating_sub(self.head.len()).min(piece.len());
            let (now, rest) = piece.split_at(take);
            self.head.extend_from_slice(now);
            piece = rest;
            if self.head.len() >= PREAMBLE_PROBE {
                let (_, end) = npy::header_extent(&self.head)?;
                if self.head.len() as u64 >= end {
                    self.header = Some(npy::parse_header(&self.head)?);
                }
            }
        }
        Ok(piece)
    }

    fn accept(&mut self, host: &mut dyn Host, piece: &[u8]) -> Result<(), LoadError> {
        let piece = self.take_header(piece)?;
        let Some(header) = &self.header else {
            return Ok(());
        };
        if piece.is_empty() {
            return Ok(());
        }
        let total = self.written + self.pending.len() as u64 + piece.len() as u64;
        if total > header.data_len {
            return Err(LoadError::malformed(format!(
                "npy file has {} bytes after the array data",
                total - header.data_len
            )));
        }
        self.pending.extend_from_slice(piece);
        if self.pending.len() >= WRITE_CHUNK {
            self.flush(host)?;
        }
        Ok(())
    }

    fn flush(&mut self, host: &mut dyn Host) -> Result<(), LoadError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let at = host.write_output(&self.pending)?;
        if let Some(start) = self.out_start
            && start.checked_add(self.written) != Some(at)
        {
            return Err(LoadError::malformed(
                "output buffer writes are not contiguous (host error)",
            ));
        }
        self.out_start.get_or_insert(at);
        self.written += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }
}

fn deflated_member(
    host: &mut dyn Host,
    archive: &ZipArchive,
    entry: &ZipEntry,
    name: &str,
    budget: u64,
) -> Result<crate::result::TensorDesc, LoadError> {
    let mut sink = MemberSink {
        head: Vec::new(),
        header: None,
        pending: Vec::with_capacity(WRITE_CHUNK.min(usize::try_from(entry.size).unwrap_or(0))),
        written: 0,
        out_start: None,
    };
    let mut reader = archive.member_reader(entry, budget)?;
    while let Some(piece) = reader.next_piece(host)? {
        sink.accept(host, piece)
            .map_err(|e| member_error(e, &entry.name))?;
    }
    sink.flush(host)?;
    let Some(header) = sink.header else {
        return Err(member_error(
            LoadError::malformed("npy data is truncated inside its header"),
            &entry.name,
        ));
    };
    npy::check_data_len(&header, sink.written).map_err(|e| member_error(e, &entry.name))?;
    let storage = Storage {
        source: StorageSource::Output,
        offset: sink.out_start.unwrap_or(0),
        length: header.data_len,
    };
    Ok(header.tensor(name, storage))
}
