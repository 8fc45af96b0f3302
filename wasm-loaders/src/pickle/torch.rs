//! PyTorch tensors as pickles spell them: calls of `torch._utils._rebuild_tensor*`,
//! `_rebuild_parameter*`, `torch._tensor._rebuild_from_type_v2` over a storage persistent
//! id. Interpreted symbolically into a strided view of a storage, checked against it.

use super::globals::GlobalTable;
use super::numpy::{self, known_of};
use super::persist::{Persistent, StorageRef, StoredTensor};
use super::policy::{Known, StorageClass, TorchDtype};
use super::value::{Arena, Node, NodeId};
use crate::result::{Dtype, LoadError, TensorDesc, contiguous_strides};

/// Most dimensions a tensor may have (the ABI's limit).
pub const MAX_DIMS: usize = 16;

/// How deep `_rebuild_parameter(_rebuild_from_type_v2(...))` wrappers may nest.
const MAX_WRAP: u32 = 4;

/// A tensor view before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The storage.
    pub storage: StorageRef,
    /// Element type of the view.
    pub dtype: Dtype,
    /// Element offset.
    pub offset: u64,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Strides in elements.
    pub strides: Vec<u64>,
}

/// What a tensor call needs from its surroundings.
pub trait TensorEnv {
    /// The arena.
    fn arena(&self) -> &Arena;
    /// The globals.
    fn globals(&self) -> &GlobalTable;
    /// Resolve a persistent-id node (the `PersId` payload).
    fn persistent(&mut self, pid: NodeId) -> Result<Persistent, LoadError>;
    /// A NumPy array node as a view (for `_rebuild_device_tensor_from_numpy`).
    fn numpy_view(&mut self, id: NodeId) -> Result<View, LoadError>;
}

fn ints(arena: &Arena, id: NodeId, what: &str) -> Result<Vec<u64>, LoadError> {
    numpy::shape_of(arena, id, what)
}

fn int(arena: &Arena, id: NodeId, what: &str) -> Result<u64, LoadError> {
    arena
        .as_int(id)
        .filter(|&v| v >= 0)
        .map(|v| v as u64)
        .ok_or_else(|| LoadError::malformed(format!("{what} is not a non-negative integer")))
}

fn unsupported_dtype(name: &str) -> LoadError {
    LoadError::unsupported(format!(
        "dtype {name} is not supported (modelseal handles real floating-point, integer and \
         bool tensors)"
    ))
}

fn supported(dt: TorchDtype) -> Result<Dtype, LoadError> {
    match dt {
        TorchDtype::Supported(d) => Ok(d),
        TorchDtype::Unsupported(n) => Err(unsupported_dtype(n)),
    }
}

/// The torch dtype a dtype argument names.
fn dtype_arg(arena: &Arena, globals: &GlobalTable, id: NodeId) -> Result<Dtype, LoadError> {
    match known_of(arena, globals, id) {
        Some(Known::TorchDtype(dt)) => supported(dt),
        _ => Err(LoadError::malformed(
            "tensor dtype argument is not a torch dtype",
        )),
    }
}

/// The storage behind a `storage` argument.
fn storage_arg(env: &mut dyn TensorEnv, id: NodeId) -> Result<StorageRef, LoadError> {
    let pid = match env.arena().get(id) {
        Node::PersId(p) => *p,
        other => {
            return Err(LoadError::malformed(format!(
                "tensor storage is a {}, not a persistent id",
                other.type_name()
            )));
        }
    };
    match env.persistent(pid)? {
        Persistent::Storage(s) => Ok(s),
        _ => Err(LoadError::malformed(
            "tensor storage persistent id does not name a storage",
        )),
    }
}

/// Reject the conj/neg bits (`metadata` of `_rebuild_tensor_v2/v3`): the stored bytes
/// would not be the tensor's values.
fn check_metadata(arena: &Arena, id: Option<NodeId>) -> Result<(), LoadError> {
    let Some(id) = id else { return Ok(()) };
    match arena.get(id) {
        Node::None => Ok(()),
        Node::Dict(items) => {
            for &(k, v) in items {
                let truthy = !matches!(arena.get(v), Node::None | Node::Bool(false) | Node::Int(0));
                if truthy {
                    let key = arena.as_str(k).unwrap_or("?");
                    return Err(LoadError::unsupported(format!(
                        "tensor has its {key:?} bit set; its stored bytes are not its values"
                    )));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A view of `storage` with the storage's own dtype.
fn typed_view(
    storage: StorageRef,
    offset: u64,
    shape: Vec<u64>,
    strides: Vec<u64>,
) -> Result<View, LoadError> {
    let dtype = match storage.dtype {
        Some(dt) => supported(dt)?,
        None => {
            return Err(LoadError::malformed(format!(
                "tensor on untyped storage {} has no dtype",
                storage.name
            )));
        }
    };
    Ok(View {
        storage,
        dtype,
        offset,
        shape,
        strides,
    })
}

/// Interpret the call of tensor-rebuild function `known` with `args`.
pub fn rebuild(
    env: &mut dyn TensorEnv,
    known: Known,
    args: &[NodeId],
    depth: u32,
) -> Result<View, LoadError> {
    if depth > MAX_WRAP {
        return Err(LoadError::malformed(
            "tensor rebuild calls nested too deeply",
        ));
    }
    let arg = |i: usize| -> Result<NodeId, LoadError> {
        args.get(i).copied().ok_or_else(|| {
            LoadError::malformed(format!("tensor rebuild call has {} arguments", args.len()))
        })
    };
    match known {
        Known::RebuildTensor | Known::RebuildTensorV2 | Known::RebuildTensorV3 => {
            let storage = storage_arg(env, arg(0)?)?;
            let arena = env.arena();
            let offset = int(arena, arg(1)?, "storage offset")?;
            let shape = ints(arena, arg(2)?, "tensor size")?;
            let strides = ints(arena, arg(3)?, "tensor stride")?;
            match known {
                Known::RebuildTensorV2 => check_metadata(arena, args.get(6).copied())?,
                Known::RebuildTensorV3 => check_metadata(arena, args.get(7).copied())?,
                _ => {}
            }
            if known == Known::RebuildTensorV3 {
                let dtype = dtype_arg(arena, env.globals(), arg(6)?)?;
                Ok(View {
                    storage,
                    dtype,
                    offset,
                    shape,
                    strides,
                })
            } else {
                typed_view(storage, offset, shape, strides)
            }
        }
        Known::RebuildParameter | Known::RebuildParameterWithState => {
            tensor_value(env, arg(0)?, depth + 1)
        }
        Known::RebuildFromTypeV2 => {
            let func = arg(0)?;
            let inner_args = arg(2)?;
            let arena = env.arena();
            let inner_known = known_of(arena, env.globals(), func).ok_or_else(|| {
                LoadError::malformed("_rebuild_from_type_v2 does not wrap a tensor rebuild")
            })?;
            let inner: Vec<NodeId> = arena
                .as_seq(inner_args)
                .ok_or_else(|| LoadError::malformed("_rebuild_from_type_v2 args not a tuple"))?
                .to_vec();
            rebuild(env, inner_known, &inner, depth + 1)
        }
        Known::RebuildDeviceFromNumpy => {
            let want = dtype_arg(env.arena(), env.globals(), arg(1)?)?;
            let view = env.numpy_view(arg(0)?)?;
            if view.dtype != want {
                return Err(LoadError::unsupported(format!(
                    "tensor rebuilt from a NumPy array of {:?} cast to {want:?} is not supported",
                    view.dtype
                )));
            }
            Ok(view)
        }
        Known::RebuildDeviceFromCpu => {
            let want = dtype_arg(env.arena(), env.globals(), arg(1)?)?;
            let view = tensor_value(env, arg(0)?, depth + 1)?;
            if view.dtype != want {
                return Err(LoadError::unsupported(format!(
                    "tensor cast from {:?} to {want:?} on load is not supported",
                    view.dtype
                )));
            }
            Ok(view)
        }
        Known::UnsupportedTensor(kind) => {
            Err(LoadError::unsupported(format!("{kind} is not supported")))
        }
        _ => Err(LoadError::malformed("not a tensor rebuild function")),
    }
}

/// The tensor node `id` stands for (an object whose callable is a rebuild function, or a
/// persistent id naming a whole tensor).
pub fn tensor_value(env: &mut dyn TensorEnv, id: NodeId, depth: u32) -> Result<View, LoadError> {
    let arena = env.arena();
    match arena.get(id) {
        Node::Object(o) => {
            let known = known_of(arena, env.globals(), o.callable)
                .ok_or_else(|| LoadError::malformed("tensor argument is not a tensor"))?;
            let args: Vec<NodeId> = o.args.and_then(|a| arena.as_seq(a)).unwrap_or(&[]).to_vec();
            rebuild(env, known, &args, depth)
        }
        Node::PersId(p) => {
            let p = *p;
            match env.persistent(p)? {
                Persistent::Tensor(t) => stored_view(t),
                _ => Err(LoadError::malformed("persistent id does not name a tensor")),
            }
        }
        other => Err(LoadError::malformed(format!(
            "tensor argument is a {}",
            other.type_name()
        ))),
    }
}

/// A view from the tar format's `tensors` records.
pub fn stored_view(t: StoredTensor) -> Result<View, LoadError> {
    typed_view(t.storage, t.offset, t.shape, t.strides)
}

/// True if `known` is a tensor-producing call.
pub fn is_tensor_call(known: Known) -> bool {
    matches!(
        known,
        Known::RebuildTensor
            | Known::RebuildTensorV2
            | Known::RebuildTensorV3
            | Known::RebuildParameter
            | Known::RebuildParameterWithState
            | Known::RebuildFromTypeV2
            | Known::RebuildDeviceFromNumpy
            | Known::RebuildDeviceFromCpu
            | Known::UnsupportedTensor(_)
    )
}

/// A whole storage as a one-dimensional tensor (when a storage itself is saved).
pub fn storage_view(storage: StorageRef) -> Result<View, LoadError> {
    let dtype = match storage.dtype {
        Some(dt) => supported(dt)?,
        None => Dtype::U8,
    };
    let numel = storage.storage.length / dtype.size();
    Ok(View {
        storage,
        dtype,
        offset: 0,
        shape: vec![numel],
        strides: vec![1],
    })
}

/// The storage class of a storage-type global (for persistent ids).
pub fn storage_class(arena: &Arena, globals: &GlobalTable, id: NodeId) -> Option<StorageClass> {
    match known_of(arena, globals, id) {
        Some(Known::Storage(c)) => Some(c),
        _ => None,
    }
}

/// Check a view against its storage and describe it: rank ≤ 16, strides and offset such
/// that the last element addressed, `offset + Σ (size_i − 1)·stride_i`, lies inside the
/// storage (checked arithmetic). Empty tensors address nothing.
pub fn describe(name: &str, v: View) -> Result<TensorDesc, LoadError> {
    if v.shape.len() > MAX_DIMS {
        return Err(LoadError::unsupported(format!(
            "tensor `{name}` has {} dimensions (at most {MAX_DIMS} are supported)",
            v.shape.len()
        )));
    }
    if v.shape.len() != v.strides.len() {
        return Err(LoadError::malformed(format!(
            "tensor `{name}` has {} sizes but {} strides",
            v.shape.len(),
            v.strides.len()
        )));
    }
    let itemsize = v.dtype.size();
    let capacity = v.storage.storage.length / itemsize;
    let empty = v.shape.contains(&0);
    let mut offset = v.offset;
    if empty {
        offset = 0;
    } else {
        let mut last = v.offset;
        for (&size, &stride) in v.shape.iter().zip(&v.strides) {
            last = (size - 1)
                .checked_mul(stride)
                .and_then(|x| last.checked_add(x))
                .ok_or_else(|| {
                    LoadError::malformed(format!("tensor `{name}`: view extent overflows"))
                })?;
        }
        if last >= capacity {
            return Err(LoadError::malformed(format!(
                "tensor `{name}`: its view reaches element {last} but storage {} holds only \
                 {capacity} elements of {:?}",
                v.storage.name, v.dtype
            )));
        }
    }
    let strides = if empty {
        contiguous_strides(&v.shape)
    } else {
        v.strides
    };
    Ok(TensorDesc {
        name: name.to_string(),
        dtype: v.dtype,
        shape: v.shape,
        strides,
        offset,
        byte_order: v.storage.byte_order,
        storage: v.storage.storage,
        extra: Default::default(),
    })
}
