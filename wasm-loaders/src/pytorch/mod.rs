//! PyTorch checkpoints: the zip format of `torch.save` ([`zip`]), the legacy stacked-pickle
//! format of `_use_new_zipfile_serialization=False` ([`legacy`]) and the very old tar
//! format ([`tar`]). All three are a pickle whose persistent ids name storages; each module
//! locates the storages' bytes in its container and checks them.

pub mod legacy;
pub mod tar;
pub mod zip;

use crate::pickle::globals::GlobalTable;
use crate::pickle::policy::{StorageClass, TorchDtype};
use crate::pickle::torch::storage_class;
use crate::pickle::value::{Arena, Node, NodeId};
use crate::result::LoadError;

/// Bytes per element of a storage dtype, including the unsupported ones (their bytes
/// still have to be skipped in the legacy format).
pub fn itemsize(dt: TorchDtype) -> Option<u64> {
    match dt {
        TorchDtype::Supported(d) => Some(d.size()),
        TorchDtype::Unsupported(name) => Some(match name {
            "complex32" | "qint32" => 4,
            "complex64" => 8,
            "complex128" => 16,
            "qint8" | "quint8" | "quint4x2" | "quint2x4" => 1,
            _ => return None,
        }),
    }
}

/// Element type and size of a storage class (`None` dtype = untyped bytes).
pub fn class_layout(class: StorageClass) -> Result<(Option<TorchDtype>, u64), LoadError> {
    match class {
        StorageClass::Typed(dt) => {
            let size = itemsize(dt).ok_or_else(|| {
                LoadError::unsupported(format!("storage dtype {dt:?} is not supported"))
            })?;
            Ok((Some(dt), size))
        }
        StorageClass::Untyped => Ok((None, 1)),
        StorageClass::TypedGeneric => Err(LoadError::unsupported(
            "storage declared as torch.storage.TypedStorage without a dtype",
        )),
    }
}

/// A `('storage', storage_type, key, location, numel[, view_metadata])` persistent id.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageId {
    /// Storage class.
    pub class: StorageClass,
    /// Storage key (`data/<key>` in the zip format; an id string in the legacy format).
    pub key: String,
    /// Device it was saved from (informational).
    pub location: String,
    /// Number of elements of the class's dtype.
    pub numel: u64,
    /// Legacy views: `(view_key, offset, size)` in elements.
    pub view: Option<(String, u64, u64)>,
}

fn key_text(arena: &Arena, id: NodeId) -> Option<String> {
    match arena.get(id) {
        Node::Int(v) => Some(v.to_string()),
        _ => arena.as_str(id).map(str::to_string),
    }
}

/// Read a storage persistent id; `Ok(None)` if its typename is not `storage` (e.g. the
/// legacy `module` ids, handled by the caller).
pub fn storage_id(
    arena: &Arena,
    globals: &GlobalTable,
    pid: NodeId,
) -> Result<Option<StorageId>, LoadError> {
    let items = arena
        .as_seq(pid)
        .ok_or_else(|| LoadError::malformed("persistent id is not a tuple"))?;
    let typename = items
        .first()
        .and_then(|&t| arena.as_str(t))
        .ok_or_else(|| LoadError::malformed("persistent id has no typename"))?;
    if typename != "storage" {
        return Ok(None);
    }
    if items.len() != 5 && items.len() != 6 {
        return Err(LoadError::malformed(format!(
            "storage persistent id has {} items, expected 5 or 6",
            items.len()
        )));
    }
    let class = storage_class(arena, globals, items[1])
        .ok_or_else(|| LoadError::malformed("storage persistent id names no storage class"))?;
    let key = key_text(arena, items[2])
        .ok_or_else(|| LoadError::malformed("storage key is not a string"))?;
    let location = arena.as_str(items[3]).unwrap_or("").to_string();
    let numel = arena
        .as_int(items[4])
        .filter(|&n| n >= 0)
        .map(|n| n as u64)
        .ok_or_else(|| LoadError::malformed(format!("storage {key}: bad element count")))?;
    let view = match items.get(5).map(|&v| (v, arena.get(v))) {
        None | Some((_, Node::None)) => None,
        Some((v, _)) => {
            let parts = arena
                .as_seq(v)
                .filter(|p| p.len() == 3)
                .ok_or_else(|| LoadError::malformed("storage view metadata is not a 3-tuple"))?;
            let vkey = key_text(arena, parts[0])
                .ok_or_else(|| LoadError::malformed("storage view key is not a string"))?;
            let off = arena.as_int(parts[1]).filter(|&n| n >= 0);
            let size = arena.as_int(parts[2]).filter(|&n| n >= 0);
            match (off, size) {
                (Some(o), Some(s)) => Some((vkey, o as u64, s as u64)),
                _ => return Err(LoadError::malformed("storage view offset/size invalid")),
            }
        }
    };
    Ok(Some(StorageId {
        class,
        key,
        location,
        numel,
        view,
    }))
}
