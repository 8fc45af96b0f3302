//! PyTorch's zip checkpoints (`torch.save` since 1.6): one top directory (any name:
//! `archive/`, the file's stem, …) holding `data.pkl`, whose persistent ids are
//! `('storage', storage_type, key, location, numel)`, the storages as `data/<key>`, and
//! `byteorder` (`little`/`big`) and `version` records.
//!
//! Stored members are pointed at in the input (no copy); a compressed member (torch never
//! writes one) is inflated, bounded by `max_decompressed`, and copied to the output. Each
//! storage's declared size (`numel × itemsize`) must equal its member's size (a larger
//! declaration is CVE-2026-24747's out-of-bounds read), and each view must stay inside its
//! storage. TorchScript archives (`constants.pkl`, `code/`) are refused as unsupported.

use std::collections::BTreeMap;

use super::{class_layout, storage_id};
use crate::host::Host;
use crate::pickle::globals::GlobalTable;
use crate::pickle::persist::{Persistent, Resolver, StorageRef, Stream, output_storage};
use crate::pickle::reader::Reader;
use crate::pickle::value::{Arena, NodeId};
use crate::pickle::vm::Unpickler;
use crate::pickle::{self, gate, parse_stacked};
use crate::result::{ByteOrder, LoadError, LoadResult, Options, Storage, StorageSource};
use crate::zip::{METHOD_STORED, ZipArchive, ZipEntry};

/// Format id.
pub const FORMAT: &str = "pytorch-zip";

/// Longest `byteorder` record accepted.
const MAX_BYTEORDER: u64 = 16;

/// Where the checkpoint's records are.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The top directory with its slash (`archive/`).
    pub prefix: String,
    /// `<prefix>data.pkl`.
    pub pickle: ZipEntry,
}

/// True if the archive is a TorchScript archive (`torch.jit.save`).
pub fn is_torchscript(archive: &ZipArchive, prefix: &str) -> bool {
    archive.find(&format!("{prefix}constants.pkl")).is_some()
        || archive
            .entries()
            .iter()
            .any(|e| e.name.starts_with(&format!("{prefix}code/")))
}

/// Find the top directory and `data.pkl`; every member must be under that directory.
pub fn layout(archive: &ZipArchive) -> Result<Layout, LoadError> {
    let first = archive
        .entries()
        .first()
        .ok_or_else(|| LoadError::malformed("empty zip archive"))?;
    let prefix = match first.name.split_once('/') {
        Some((dir, _)) => format!("{dir}/"),
        None => {
            return Err(LoadError::malformed(
                "zip is not a PyTorch checkpoint: its members are not in one directory",
            ));
        }
    };
    if let Some(stray) = archive
        .entries()
        .iter()
        .find(|e| !e.name.starts_with(&prefix))
    {
        return Err(LoadError::malformed(format!(
            "zip member {:?} is outside the checkpoint directory {prefix:?}",
            stray.name
        )));
    }
    if is_torchscript(archive, &prefix) {
        return Err(LoadError::unsupported(
            "TorchScript archive (torch.jit.save): it holds code, not just weights; export \
             the weights with torch.save(model.state_dict())",
        ));
    }
    let pickle = archive
        .find(&format!("{prefix}data.pkl"))
        .cloned()
        .ok_or_else(|| {
            LoadError::malformed(format!(
                "zip is not a PyTorch checkpoint: no {prefix}data.pkl"
            ))
        })?;
    Ok(Layout { prefix, pickle })
}

fn byte_order(
    host: &mut dyn Host,
    archive: &ZipArchive,
    prefix: &str,
) -> Result<ByteOrder, LoadError> {
    let Some(entry) = archive.find(&format!("{prefix}byteorder")) else {
        return Ok(ByteOrder::Little);
    };
    let raw = archive.read(host, entry, MAX_BYTEORDER)?;
    match raw.as_slice() {
        b"little" => Ok(ByteOrder::Little),
        b"big" => Ok(ByteOrder::Big),
        other => Err(LoadError::malformed(format!(
            "unknown byteorder record {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

struct ZipResolver<'a> {
    archive: &'a ZipArchive,
    prefix: &'a str,
    byte_order: ByteOrder,
    limit: u64,
    inflated: BTreeMap<String, Storage>,
}

impl Resolver for ZipResolver<'_> {
    fn resolve(
        &mut self,
        host: &mut dyn Host,
        arena: &Arena,
        globals: &GlobalTable,
        pid: NodeId,
    ) -> Result<Persistent, LoadError> {
        let sid = storage_id(arena, globals, pid)?
            .ok_or_else(|| LoadError::malformed("persistent id in data.pkl is not a storage"))?;
        if sid.view.is_some() {
            return Err(LoadError::malformed(
                "storage view ids belong to the legacy format",
            ));
        }
        let name = format!("{}data/{}", self.prefix, sid.key);
        let entry = self
            .archive
            .find(&name)
            .ok_or_else(|| LoadError::malformed(format!("storage {name} is missing")))?;
        let (dtype, size) = class_layout(sid.class)?;
        let declared = sid
            .numel
            .checked_mul(size)
            .ok_or_else(|| LoadError::malformed(format!("storage {name}: size overflows")))?;
        if declared != entry.size {
            return Err(LoadError::malformed(format!(
                "storage {name} is declared with {} elements ({declared} bytes) but the \
                 member holds {} bytes",
                sid.numel, entry.size
            )));
        }
        let storage = if entry.method == METHOD_STORED {
            let source = match self.archive.source() {
                0 => StorageSource::Input,
                s => StorageSource::External(s),
            };
            Storage {
                source,
                offset: entry.data_offset,
                length: entry.size,
            }
        } else if let Some(s) = self.inflated.get(&name) {
            *s
        } else {
            let bytes = self.archive.read(host, entry, self.limit)?;
            let s = output_storage(host, &bytes)?;
            self.inflated.insert(name.clone(), s);
            s
        };
        Ok(Persistent::Storage(StorageRef {
            storage,
            dtype,
            byte_order: self.byte_order,
            name,
        }))
    }
}

/// Load a PyTorch zip checkpoint from source 0.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let archive = ZipArchive::open(host, 0).map_err(|e| e.with_format(FORMAT))?;
    load_archive(host, options, &archive)
}

/// Most bytes of one member scanned by [`scan_members`].
const MAX_SCAN_MEMBER: u64 = 64 << 20;

/// For a zip that is not a PyTorch checkpoint: parse every member that looks like a pickle
/// (a `.pkl`/`.pickle`/`data.*` name, or a first byte that is the PROTO opcode) and, if
/// any references a global the policy refuses, return that refusal naming the member and
/// the globals. `None` if nothing offending was found.
pub fn scan_members(
    host: &mut dyn Host,
    options: &Options,
    archive: &ZipArchive,
) -> Option<LoadError> {
    for entry in archive.entries() {
        let base = entry.name.rsplit('/').next().unwrap_or(&entry.name);
        let named =
            base.ends_with(".pkl") || base.ends_with(".pickle") || base.starts_with("data.");
        let proto = entry.method == METHOD_STORED
            && entry.size > 0
            && host
                .read_vec(archive.source(), entry.data_offset, 1)
                .is_ok_and(|b| b.first() == Some(&crate::pickle::vm::op::PROTO));
        if !(named || proto) || entry.size > MAX_SCAN_MEMBER {
            continue;
        }
        let Ok(data) = archive.read(host, entry, MAX_SCAN_MEMBER) else {
            continue;
        };
        let mut up = Unpickler::new(&options.limits);
        let mut roots = Vec::new();
        let outcome = parse_stacked(&mut up, &mut Reader::from_slice(&data), false, &mut roots);
        if let Err(mut e) = gate(&up, options, outcome)
            && e.kind == crate::result::ErrorKind::Refused
        {
            e.message = format!("zip member {:?}: {}", entry.name, e.message);
            return Some(e);
        }
    }
    None
}

/// Load a PyTorch zip checkpoint from an opened archive.
pub fn load_archive(
    host: &mut dyn Host,
    options: &Options,
    archive: &ZipArchive,
) -> Result<LoadResult, LoadError> {
    let fail = |e: LoadError| e.with_format(FORMAT);
    let layout = match layout(archive) {
        Ok(l) => l,
        Err(e) if e.kind == crate::result::ErrorKind::Malformed => {
            return Err(fail(scan_members(host, options, archive).unwrap_or(e)));
        }
        Err(e) => return Err(fail(e)),
    };
    let order = byte_order(host, archive, &layout.prefix).map_err(fail)?;
    let data = archive
        .read(host, &layout.pickle, options.limits.max_decompressed)
        .map_err(fail)?;
    let mut up = Unpickler::new(&options.limits);
    let mut roots = Vec::new();
    let outcome = {
        let mut r = Reader::from_slice(&data);
        parse_stacked(&mut up, &mut r, false, &mut roots)
    };
    gate(&up, options, outcome).map_err(fail)?;
    if roots.len() > 1 {
        return Err(fail(LoadError::malformed(format!(
            "{}data.pkl holds data after its pickle",
            layout.prefix
        ))));
    }
    let mut stream = Stream::memory(&data);
    let mut resolver = ZipResolver {
        archive,
        prefix: &layout.prefix,
        byte_order: order,
        limit: options.limits.max_decompressed,
        inflated: BTreeMap::new(),
    };
    let flat =
        pickle::walk_roots(&up, &roots, options, host, &mut stream, &mut resolver).map_err(fail)?;
    pickle::finish(FORMAT, &up, flat)
}
