//! PyTorch's legacy format (`torch.save(..., _use_new_zipfile_serialization=False)`), as
//! read by `torch.serialization._legacy_load`:
//!
//! 1. a pickle of the magic number `0x1950a86a20f9469cfc6c`;
//! 2. a pickle of the protocol version, `1001`;
//! 3. a pickle of `sys_info` (`little_endian`, type sizes);
//! 4. the main pickle, whose persistent ids are
//!    `('storage', storage_type, key, location, numel, view_metadata)`;
//! 5. a pickle of the list of storage keys;
//! 6. for each key in that order: an 8-byte little-endian element count, then the
//!    storage's bytes, always little-endian (`writeFileRaw` swaps on big-endian machines).
//!
//! Every pickle is parsed by the same machine (globals from all five are checked). Storage
//! offsets are found by walking the counts; each count must match the main pickle's
//! declaration, and nothing may follow the last storage.

use std::collections::BTreeMap;

use super::{StorageId, class_layout, storage_id};
use crate::host::Host;
use crate::pickle::globals::GlobalTable;
use crate::pickle::persist::{Persistent, Resolver, StorageRef, Stream};
use crate::pickle::policy::TorchDtype;
use crate::pickle::reader::Reader;
use crate::pickle::value::{Arena, Node, NodeId};
use crate::pickle::vm::Unpickler;
use crate::pickle::{self, gate, is_torch_magic};
use crate::result::{ByteOrder, LoadError, LoadResult, Options, Storage, StorageSource};

/// Format id.
pub const FORMAT: &str = "pytorch-legacy";

/// The legacy protocol version PyTorch writes and accepts.
pub const PROTOCOL_VERSION: i64 = 1001;

/// A storage's bytes in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Located {
    offset: u64,
    length: u64,
}

/// What parsing found.
#[derive(Debug)]
pub struct Parsed {
    main: NodeId,
    declared: BTreeMap<String, StorageId>,
    located: BTreeMap<String, Located>,
    byte_order: ByteOrder,
}

/// Every storage persistent id in the arena, by key (first declaration wins, as in
/// `_legacy_load`).
fn declared_storages(
    arena: &Arena,
    globals: &GlobalTable,
) -> Result<BTreeMap<String, StorageId>, LoadError> {
    let mut out = BTreeMap::new();
    for id in 0..arena.len() as NodeId {
        if let Node::PersId(pid) = arena.get(id)
            && let Some(s) = storage_id(arena, globals, *pid)?
        {
            out.entry(s.key.clone()).or_insert(s);
        }
    }
    Ok(out)
}

/// Continue a legacy file after its magic-number pickle (already parsed by `up`).
pub fn parse_after_magic(up: &mut Unpickler, r: &mut Reader<'_>) -> Result<Parsed, LoadError> {
    let version = up.load(r, false)?;
    if up.arena.as_int(version) != Some(PROTOCOL_VERSION) {
        return Err(LoadError::malformed(format!(
            "legacy PyTorch protocol version is not {PROTOCOL_VERSION}"
        )));
    }
    // sys_info records the saving machine's byte order, but storages (and their counts)
    // are always written little-endian (torch/csrc/serialization.cpp, writeFileRaw).
    let _sys_info = up.load(r, false)?;
    let byte_order = ByteOrder::Little;
    let main = up.load(r, false)?;
    let keys_node = up.load(r, false)?;
    let keys: Vec<String> = up
        .arena
        .as_seq(keys_node)
        .ok_or_else(|| LoadError::malformed("legacy storage key list is not a list"))?
        .iter()
        .map(|&k| {
            up.arena
                .as_str(k)
                .map(str::to_string)
                .ok_or_else(|| LoadError::malformed("legacy storage key is not a string"))
        })
        .collect::<Result<_, _>>()?;
    let declared = declared_storages(&up.arena, &up.globals)?;
    let mut located = BTreeMap::new();
    for key in keys {
        let decl = declared.get(&key).ok_or_else(|| {
            LoadError::malformed(format!(
                "legacy storage {key:?} has data but no tensor declares it"
            ))
        })?;
        let (_, size) = class_layout(decl.class)?;
        let count = u64::from_le_bytes(r.array::<8>("legacy storage element count")?);
        if count != decl.numel {
            return Err(LoadError::malformed(format!(
                "legacy storage {key:?} holds {count} elements but is declared with {}",
                decl.numel
            )));
        }
        let length = count
            .checked_mul(size)
            .ok_or_else(|| LoadError::malformed("legacy storage size overflows"))?;
        let offset = r.pos();
        r.skip(length, "legacy storage data")?;
        if located
            .insert(key.clone(), Located { offset, length })
            .is_some()
        {
            return Err(LoadError::malformed(format!(
                "legacy storage {key:?} is listed twice"
            )));
        }
    }
    if !r.at_end() {
        return Err(LoadError::malformed(format!(
            "{} unexpected bytes after the last legacy storage",
            r.remaining()
        )));
    }
    Ok(Parsed {
        main,
        declared,
        located,
        byte_order,
    })
}

struct LegacyResolver<'p> {
    parsed: &'p Parsed,
}

impl Resolver for LegacyResolver<'_> {
    fn resolve(
        &mut self,
        _host: &mut dyn Host,
        arena: &Arena,
        globals: &GlobalTable,
        pid: NodeId,
    ) -> Result<Persistent, LoadError> {
        let Some(sid) = storage_id(arena, globals, pid)? else {
            // ('module', class, source_file, source): torch returns the class itself.
            let items = arena.as_seq(pid).unwrap_or(&[]);
            return match (items.first().and_then(|&t| arena.as_str(t)), items.get(1)) {
                (Some("module"), Some(&class)) => Ok(Persistent::Value(class)),
                _ => Err(LoadError::malformed(
                    "unknown legacy persistent id typename",
                )),
            };
        };
        // The root storage decides the dtype (first declaration of its key).
        let root = self.parsed.declared.get(&sid.key).unwrap_or(&sid);
        let (dtype, size) = class_layout(sid.class)?;
        let (root_dtype, root_size) = class_layout(root.class)?;
        let loc = self.parsed.located.get(&sid.key).ok_or_else(|| {
            LoadError::malformed(format!("legacy storage {:?} has no data", sid.key))
        })?;
        let root_len = root
            .numel
            .checked_mul(root_size)
            .ok_or_else(|| LoadError::malformed("storage size overflows"))?;
        let (offset, length) = match &sid.view {
            None => {
                let want = sid
                    .numel
                    .checked_mul(size)
                    .ok_or_else(|| LoadError::malformed("storage size overflows"))?;
                if want != root_len {
                    return Err(LoadError::malformed(format!(
                        "legacy storage {:?} is declared with {want} bytes and with {root_len}",
                        sid.key
                    )));
                }
                (loc.offset, loc.length)
            }
            Some((_, view_off, view_size)) => {
                let start = view_off.checked_mul(size);
                let len = view_size.checked_mul(size);
                match (start, len) {
                    (Some(s), Some(l)) if s.checked_add(l).is_some_and(|e| e <= loc.length) => {
                        (loc.offset + s, l)
                    }
                    _ => {
                        return Err(LoadError::malformed(format!(
                            "legacy storage view of {:?} runs past its storage",
                            sid.key
                        )));
                    }
                }
            }
        };
        let dtype: Option<TorchDtype> = dtype.or(root_dtype);
        Ok(Persistent::Storage(StorageRef {
            storage: Storage {
                source: StorageSource::Input,
                offset,
                length,
            },
            dtype,
            byte_order: self.parsed.byte_order,
            name: format!("legacy storage {:?}", sid.key),
        }))
    }
}

/// Policy check, walk and answer for a parsed legacy file.
pub fn finish_load(
    host: &mut dyn Host,
    options: &Options,
    up: Unpickler,
    parsed: Result<Parsed, LoadError>,
) -> Result<LoadResult, LoadError> {
    let parsed = gate(&up, options, parsed).map_err(|e| e.with_format(FORMAT))?;
    let mut stream = Stream::host(0, 0);
    let mut resolver = LegacyResolver { parsed: &parsed };
    let flat = pickle::walk_roots(
        &up,
        &[parsed.main],
        options,
        host,
        &mut stream,
        &mut resolver,
    )
    .map_err(|e| e.with_format(FORMAT))?;
    pickle::finish(FORMAT, &up, flat)
}

/// Load a legacy PyTorch checkpoint from source 0.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let len = host.input_len()?;
    let mut up = Unpickler::new(&options.limits);
    let parsed = {
        let mut r = Reader::from_host(host, 0, 0, len)?;
        match up.load(&mut r, false) {
            Ok(first) if is_torch_magic(&up, first) => parse_after_magic(&mut up, &mut r),
            Ok(_) => {
                // Not the magic number: scan what follows anyway so every global is
                // reported (the "magic number" bypass puts a payload first).
                // Whether that scan ends in an error does not matter: the file is rejected
                // either way, and the gate names any global it found.
                let mut roots = Vec::new();
                let _scan_outcome = pickle::parse_stacked(&mut up, &mut r, false, &mut roots);
                Err(LoadError::malformed(
                    "not a legacy PyTorch file: the first pickle is not the magic number",
                ))
            }
            Err(e) => Err(e),
        }
    };
    finish_load(host, options, up, parsed)
}
