//! PyTorch's oldest format (before 0.4?): a tar archive (as `_legacy_load`'s `legacy_load`
//! reads it) with members
//!
//! - `storages`: a pickle of the storage count; per storage a pickle
//!   `(key, location, storage_type)` then an 8-byte little-endian element count and the
//!   bytes; then a pickle of the storage views `[(target, root, offset, numel)]`;
//! - `tensors`: a pickle of the tensor count; per tensor a pickle
//!   `(key, storage_id, tensor_type)` then `ndim` (i32), 4 padding bytes, `ndim` sizes
//!   and `ndim` strides (i64) and the storage offset (i64);
//! - `pickle`: the main pickle, whose persistent ids are tensor/storage keys (or
//!   `('module', class, …)` tuples);
//! - `sys_info` (optional): a pickle of the saving machine's facts.
//!
//! Storage bytes, counts and tensor records are little-endian.
//!
//! Members are stored uncompressed in the tar, so storages point into the input.

use std::collections::BTreeMap;

use super::class_layout;
use crate::host::Host;
use crate::pickle::globals::GlobalTable;
use crate::pickle::persist::{Persistent, Resolver, StorageRef, StoredTensor, Stream};
use crate::pickle::reader::Reader;
use crate::pickle::torch::storage_class;
use crate::pickle::value::{Arena, Node, NodeId};
use crate::pickle::vm::Unpickler;
use crate::pickle::{self, gate};
use crate::result::{ByteOrder, LoadError, LoadResult, Options, Storage, StorageSource};

/// Format id.
pub const FORMAT: &str = "pytorch-tar";

/// Tar block size.
const BLOCK: u64 = 512;
/// Most tar members looked at.
const MAX_MEMBERS: usize = 64;
/// Most storages or tensors a tar checkpoint may declare.
const MAX_RECORDS: u64 = 10_000_000;

/// A member's data range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    offset: u64,
    size: u64,
}

fn octal(field: &[u8]) -> Result<u64, LoadError> {
    // GNU base-256 sizes (high bit set) are refused: torch never writes them.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(LoadError::unsupported("tar base-256 size field"));
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(&text).map_err(|_| LoadError::malformed("tar size not ASCII"))?;
    u64::from_str_radix(s, 8).map_err(|_| LoadError::malformed("tar size field not octal"))
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// True if `block` (the first 512 bytes) looks like a ustar/PAX header.
pub fn looks_like_tar(block: &[u8]) -> bool {
    block.len() >= 512 && block.get(257..262) == Some(b"ustar")
}

/// Regular members by name.
fn members(host: &mut dyn Host) -> Result<BTreeMap<String, Member>, LoadError> {
    let total = host.input_len()?;
    let mut out = BTreeMap::new();
    let mut at = 0u64;
    let mut pax_path: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut seen = 0usize;
    while at.checked_add(BLOCK).is_some_and(|e| e <= total) {
        let hdr = host.read_vec(0, at, BLOCK)?;
        if hdr.iter().all(|&b| b == 0) {
            break;
        }
        seen += 1;
        if seen > MAX_MEMBERS {
            return Err(LoadError::limit(format!(
                "tar holds more than {MAX_MEMBERS} members"
            )));
        }
        if hdr.get(257..262) != Some(b"ustar") {
            return Err(LoadError::malformed(format!(
                "bad tar header at offset {at}"
            )));
        }
        let stored: u64 = hdr
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if octal(&hdr[148..156])? != stored {
            return Err(LoadError::malformed(format!(
                "tar header checksum mismatch at offset {at}"
            )));
        }
        let size = pax_size.take().map_or_else(|| octal(&hdr[124..136]), Ok)?;
        let typeflag = hdr[156];
        let mut name = cstr(&hdr[0..100]);
        let prefix = cstr(&hdr[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        if let Some(p) = pax_path.take() {
            name = p;
        }
        let data = at + BLOCK;
        let end = data
            .checked_add(size)
            .filter(|&e| e <= total)
            .ok_or_else(|| {
                LoadError::malformed(format!("tar member {name:?} runs past the end"))
            })?;
        match typeflag {
            b'x' => {
                if size > 1 << 20 {
                    return Err(LoadError::limit("tar PAX header larger than 1 MiB"));
                }
                let body = host.read_vec(0, data, size)?;
                for rec in String::from_utf8_lossy(&body).split('\n') {
                    let Some((_, kv)) = rec.split_once(' ') else {
                        continue;
                    };
                    match kv.split_once('=') {
                        Some(("path", v)) => pax_path = Some(v.to_string()),
                        Some(("size", v)) => {
                            pax_size = Some(v.parse().map_err(|_| {
                                LoadError::malformed("tar PAX size is not a number")
                            })?);
                        }
                        _ => {}
                    }
                }
            }
            b'0' | 0
                if out
                    .insert(name.clone(), Member { offset: data, size })
                    .is_some() =>
            {
                return Err(LoadError::malformed(format!(
                    "tar holds member {name:?} twice"
                )));
            }
            _ => {}
        }
        let padded = end
            .checked_add(BLOCK - 1)
            .map(|e| e / BLOCK * BLOCK)
            .ok_or_else(|| LoadError::malformed("tar offset overflows"))?;
        at = padded;
    }
    Ok(out)
}

fn member(members: &BTreeMap<String, Member>, name: &str) -> Result<Member, LoadError> {
    members
        .get(name)
        .copied()
        .ok_or_else(|| LoadError::malformed(format!("PyTorch tar has no {name:?} member")))
}

fn count(up: &Unpickler, id: NodeId, what: &str) -> Result<u64, LoadError> {
    up.arena
        .as_int(id)
        .filter(|&n| n >= 0 && (n as u64) <= MAX_RECORDS)
        .map(|n| n as u64)
        .ok_or_else(|| LoadError::malformed(format!("bad {what} count")))
}

fn key(arena: &Arena, id: NodeId) -> Result<String, LoadError> {
    match arena.get(id) {
        Node::Int(v) => Ok(v.to_string()),
        _ => arena
            .as_str(id)
            .map(str::to_string)
            .ok_or_else(|| LoadError::malformed("tar record key is neither int nor str")),
    }
}

fn i64_le(r: &mut Reader<'_>, what: &str) -> Result<u64, LoadError> {
    let v = i64::from_le_bytes(r.array::<8>(what)?);
    u64::try_from(v).map_err(|_| LoadError::malformed(format!("negative {what}")))
}

/// Storages and tensors the `storages` and `tensors` members define.
#[derive(Debug, Default)]
struct Parsed {
    main: NodeId,
    main_base: u64,
    storages: BTreeMap<String, StorageRef>,
    tensors: BTreeMap<String, StoredTensor>,
}

fn parse_storages(
    host: &mut dyn Host,
    up: &mut Unpickler,
    m: Member,
    byte_order: ByteOrder,
    out: &mut BTreeMap<String, StorageRef>,
) -> Result<(), LoadError> {
    let mut r = Reader::from_host(host, 0, m.offset, m.size)?;
    let n_node = up.load(&mut r, false)?;
    let n = count(up, n_node, "storage")?;
    for _ in 0..n {
        let rec = up.load(&mut r, false)?;
        let items = up
            .arena
            .as_seq(rec)
            .filter(|s| s.len() == 3)
            .ok_or_else(|| LoadError::malformed("tar storage record is not (key, location, type)"))?
            .to_vec();
        let k = key(&up.arena, items[0])?;
        let class = storage_class(&up.arena, &up.globals, items[2])
            .ok_or_else(|| LoadError::malformed(format!("tar storage {k}: no storage type")))?;
        let (dtype, size) = class_layout(class)?;
        let numel = u64::from_le_bytes(r.array::<8>("tar storage element count")?);
        let length = numel
            .checked_mul(size)
            .ok_or_else(|| LoadError::malformed("tar storage size overflows"))?;
        let offset = m.offset + r.pos();
        r.skip(length, "tar storage data")?;
        let sref = StorageRef {
            storage: Storage {
                source: StorageSource::Input,
                offset,
                length,
            },
            dtype,
            byte_order,
            name: format!("tar storage {k}"),
        };
        if out.insert(k.clone(), sref).is_some() {
            return Err(LoadError::malformed(format!(
                "tar storage {k} defined twice"
            )));
        }
    }
    let views = up.load(&mut r, false)?;
    let views = up
        .arena
        .as_seq(views)
        .ok_or_else(|| LoadError::malformed("tar storage views are not a list"))?
        .to_vec();
    for v in views {
        let parts = up
            .arena
            .as_seq(v)
            .filter(|p| p.len() == 4)
            .ok_or_else(|| LoadError::malformed("tar storage view is not a 4-tuple"))?
            .to_vec();
        let target = key(&up.arena, parts[0])?;
        let root_key = key(&up.arena, parts[1])?;
        let root = out.get(&root_key).cloned().ok_or_else(|| {
            LoadError::malformed(format!("tar view of unknown storage {root_key}"))
        })?;
        let size = match root.dtype {
            Some(dt) => super::itemsize(dt).unwrap_or(1),
            None => 1,
        };
        let off = up
            .arena
            .as_int(parts[2])
            .filter(|&x| x >= 0)
            .map(|x| x as u64);
        let numel = up
            .arena
            .as_int(parts[3])
            .filter(|&x| x >= 0)
            .map(|x| x as u64);
        let (Some(off), Some(numel)) = (off, numel) else {
            return Err(LoadError::malformed("tar storage view offset/size invalid"));
        };
        let start = off.checked_mul(size);
        let len = numel.checked_mul(size);
        let (Some(start), Some(len)) = (start, len) else {
            return Err(LoadError::malformed("tar storage view overflows"));
        };
        if start
            .checked_add(len)
            .is_none_or(|e| e > root.storage.length)
        {
            return Err(LoadError::malformed(format!(
                "tar storage view {target} runs past storage {root_key}"
            )));
        }
        let view = StorageRef {
            storage: Storage {
                source: root.storage.source,
                offset: root.storage.offset + start,
                length: len,
            },
            name: format!("tar storage view {target}"),
            ..root
        };
        out.insert(target, view);
    }
    if !r.at_end() {
        return Err(LoadError::malformed(
            "unexpected bytes at the end of tar `storages`",
        ));
    }
    Ok(())
}

fn parse_tensors(
    host: &mut dyn Host,
    up: &mut Unpickler,
    m: Member,
    storages: &BTreeMap<String, StorageRef>,
    out: &mut BTreeMap<String, StoredTensor>,
) -> Result<(), LoadError> {
    let mut r = Reader::from_host(host, 0, m.offset, m.size)?;
    let n_node = up.load(&mut r, false)?;
    let n = count(up, n_node, "tensor")?;
    for _ in 0..n {
        let rec = up.load(&mut r, false)?;
        let items = up
            .arena
            .as_seq(rec)
            .filter(|s| s.len() == 3)
            .ok_or_else(|| {
                LoadError::malformed("tar tensor record is not (key, storage_id, type)")
            })?
            .to_vec();
        let k = key(&up.arena, items[0])?;
        let sk = key(&up.arena, items[1])?;
        let storage = storages
            .get(&sk)
            .cloned()
            .ok_or_else(|| LoadError::malformed(format!("tar tensor {k}: unknown storage {sk}")))?;
        let ndim = i32::from_le_bytes(r.array::<4>("tar tensor ndim")?);
        let ndim = usize::try_from(ndim)
            .ok()
            .filter(|&d| d <= crate::pickle::torch::MAX_DIMS)
            .ok_or_else(|| LoadError::malformed(format!("tar tensor {k}: bad ndim {ndim}")))?;
        r.skip(4, "tar tensor ndim padding")?;
        let mut shape = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            shape.push(i64_le(&mut r, "tensor size")?);
        }
        let mut strides = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            strides.push(i64_le(&mut r, "tensor stride")?);
        }
        let offset = i64_le(&mut r, "tensor storage offset")?;
        let t = StoredTensor {
            storage,
            offset,
            shape,
            strides,
        };
        if out.insert(k.clone(), t).is_some() {
            return Err(LoadError::malformed(format!(
                "tar tensor {k} defined twice"
            )));
        }
    }
    if !r.at_end() {
        return Err(LoadError::malformed(
            "unexpected bytes at the end of tar `tensors`",
        ));
    }
    Ok(())
}

fn parse(host: &mut dyn Host, up: &mut Unpickler) -> Result<Parsed, LoadError> {
    let members = members(host)?;
    let storages_m = member(&members, "storages")?;
    let tensors_m = member(&members, "tensors")?;
    let main_m = member(&members, "pickle")?;
    // `sys_info` (optional; `legacy_load` never reads it) is still parsed, so its globals
    // are checked. Storages are little-endian whatever machine wrote them.
    if let Some(info) = members.get("sys_info").copied() {
        let mut r = Reader::from_host(host, 0, info.offset, info.size)?;
        up.load(&mut r, false)?;
    }
    let byte_order = ByteOrder::Little;
    let mut parsed = Parsed::default();
    parse_storages(host, up, storages_m, byte_order, &mut parsed.storages)?;
    parse_tensors(host, up, tensors_m, &parsed.storages, &mut parsed.tensors)?;
    let mut r = Reader::from_host(host, 0, main_m.offset, main_m.size)?;
    parsed.main = up.load(&mut r, false)?;
    parsed.main_base = main_m.offset;
    if !r.at_end() {
        return Err(LoadError::malformed(
            "unexpected bytes after the tar main pickle",
        ));
    }
    Ok(parsed)
}

struct TarResolver<'p> {
    parsed: &'p Parsed,
}

impl Resolver for TarResolver<'_> {
    fn resolve(
        &mut self,
        _host: &mut dyn Host,
        arena: &Arena,
        _globals: &GlobalTable,
        pid: NodeId,
    ) -> Result<Persistent, LoadError> {
        if let Some(items) = arena.as_seq(pid) {
            // ('module', class, source_file, source): torch returns the class.
            return match items.first() {
                Some(&class) => Ok(Persistent::Value(class)),
                None => Err(LoadError::malformed("empty persistent id")),
            };
        }
        let k = key(arena, pid)?;
        if let Some(t) = self.parsed.tensors.get(&k) {
            return Ok(Persistent::Tensor(t.clone()));
        }
        if let Some(s) = self.parsed.storages.get(&k) {
            return Ok(Persistent::Storage(s.clone()));
        }
        Err(LoadError::malformed(format!(
            "persistent id {k} names no tensor or storage"
        )))
    }
}

/// Load a tar-format PyTorch checkpoint from source 0.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let mut up = Unpickler::new(&options.limits);
    let parsed = parse(host, &mut up);
    let parsed = gate(&up, options, parsed).map_err(|e| e.with_format(FORMAT))?;
    let mut stream = Stream::host(0, parsed.main_base);
    let mut resolver = TarResolver { parsed: &parsed };
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
