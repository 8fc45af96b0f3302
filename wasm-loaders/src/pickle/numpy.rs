//! NumPy values as pickles spell them: `numpy.dtype` objects, `ndarray` reconstruction
//! (`_reconstruct` + BUILD, protocol-5 `_frombuffer`, joblib's `NumpyArrayWrapper`) and
//! NumPy scalars. Symbolic: reads the node tree, never calls NumPy.

use super::globals::GlobalTable;
use super::policy::Known;
use super::value::{Arena, Blob, BytesKind, Node, NodeId};
use crate::result::{ByteOrder, Dtype, LoadError};

/// What kind of elements a NumPy dtype has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpKind {
    /// A dtype modelseal supports.
    Numeric(Dtype),
    /// Complex numbers (refused as unsupported when they hold weights).
    Complex,
    /// Python objects (`'O'`): the "data" is more pickled objects.
    Object,
    /// Strings, bytes, void/structured, datetime, long double: not tensors.
    Other,
}

/// A decoded `numpy.dtype`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpDtype {
    /// Element kind.
    pub kind: NpKind,
    /// Bytes per element.
    pub itemsize: u64,
    /// Byte order of multi-byte elements.
    pub order: ByteOrder,
    /// NumPy's descriptor, e.g. `<f4`, for messages.
    pub descr: String,
}

/// The `Known` meaning of node `id` if it is an allowlisted global.
pub fn known_of(arena: &Arena, globals: &GlobalTable, id: NodeId) -> Option<Known> {
    match arena.get(id) {
        Node::Global(g) => globals.get(*g).and_then(|g| g.known),
        _ => None,
    }
}

/// The `Known` meaning of the callable of object `id`.
pub fn callable_known(arena: &Arena, globals: &GlobalTable, id: NodeId) -> Option<Known> {
    arena
        .as_object(id)
        .and_then(|o| known_of(arena, globals, o.callable))
}

fn item(seq: &[NodeId], i: usize) -> Option<NodeId> {
    seq.get(i).copied()
}

/// Decode a `numpy.dtype(descr, align, copy)` object with its BUILD state.
pub fn dtype_of(arena: &Arena, globals: &GlobalTable, id: NodeId) -> Result<NpDtype, LoadError> {
    let obj = arena
        .as_object(id)
        .filter(|_| callable_known(arena, globals, id) == Some(Known::NumpyDtype))
        .ok_or_else(|| {
            LoadError::malformed(format!(
                "expected a numpy.dtype, found a {}",
                arena.get(id).type_name()
            ))
        })?;
    let args = obj
        .args
        .and_then(|a| arena.as_seq(a))
        .ok_or_else(|| LoadError::malformed("numpy.dtype without arguments"))?;
    let descr = item(args, 0)
        .and_then(|d| arena.as_str(d))
        .ok_or_else(|| LoadError::malformed("numpy.dtype argument is not a string"))?
        .to_string();
    let state: &[NodeId] = obj.state.and_then(|s| arena.as_seq(s)).unwrap_or(&[]);
    let order = match item(state, 1).and_then(|o| arena.as_str(o)) {
        Some(">") => ByteOrder::Big,
        Some("<" | "|" | "=") | None => ByteOrder::Little,
        Some(other) => {
            return Err(LoadError::malformed(format!(
                "numpy.dtype byte order {other:?} is invalid"
            )));
        }
    };
    let structured = item(state, 3).is_some_and(|n| !matches!(arena.get(n), Node::None));
    let elsize = item(state, 5)
        .and_then(|n| arena.as_int(n))
        .filter(|&v| v > 0)
        .map(|v| v as u64);
    let letters: String = descr
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let digits = &descr[letters.len()..];
    let number: Option<u64> = digits
        .split('[')
        .next()
        .filter(|d| !d.is_empty())
        .and_then(|d| d.parse().ok());
    let (kind, itemsize) = match (letters.as_str(), number) {
        _ if structured => (NpKind::Other, elsize.or(number)),
        ("b", Some(1)) => (NpKind::Numeric(Dtype::BOOL), Some(1)),
        ("i", Some(1)) => (NpKind::Numeric(Dtype::I8), Some(1)),
        ("i", Some(2)) => (NpKind::Numeric(Dtype::I16), Some(2)),
        ("i", Some(4)) => (NpKind::Numeric(Dtype::I32), Some(4)),
        ("i", Some(8)) => (NpKind::Numeric(Dtype::I64), Some(8)),
        ("u", Some(1)) => (NpKind::Numeric(Dtype::U8), Some(1)),
        ("u", Some(2)) => (NpKind::Numeric(Dtype::U16), Some(2)),
        ("u", Some(4)) => (NpKind::Numeric(Dtype::U32), Some(4)),
        ("u", Some(8)) => (NpKind::Numeric(Dtype::U64), Some(8)),
        ("f", Some(2)) => (NpKind::Numeric(Dtype::F16), Some(2)),
        ("f", Some(4)) => (NpKind::Numeric(Dtype::F32), Some(4)),
        ("f", Some(8)) => (NpKind::Numeric(Dtype::F64), Some(8)),
        ("c", n) => (NpKind::Complex, n),
        ("O", n) => (NpKind::Object, n.or(Some(8))),
        ("U", n) => (NpKind::Other, elsize.or(n.and_then(|n| n.checked_mul(4)))),
        (_, n) => (NpKind::Other, elsize.or(n)),
    };
    let itemsize = itemsize
        .filter(|&s| s > 0 || kind == NpKind::Other)
        .ok_or_else(|| LoadError::malformed(format!("numpy.dtype {descr:?} has no size")))?;
    let prefix = match order {
        ByteOrder::Big => '>',
        ByteOrder::Little => '<',
    };
    Ok(NpDtype {
        kind,
        itemsize,
        order,
        descr: format!("{prefix}{descr}"),
    })
}

/// Where an array's element bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// A bytes-like node of the pickle (inline or in the stream), identified by node id
    /// so shared buffers are emitted once.
    Blob(NodeId, Blob),
    /// Bytes the loader had to compute (`_codecs.encode(str, 'latin1')`), by node id.
    Computed(NodeId, Vec<u8>),
    /// Raw bytes joblib wrote after the wrapper: stream position and length.
    Stream {
        /// Stream position.
        pos: u64,
        /// Length.
        len: u64,
    },
    /// Python objects (object dtype): nothing to extract.
    Objects,
}

/// A NumPy array described by a pickle.
#[derive(Debug, Clone, PartialEq)]
pub struct ArraySpec {
    /// Element type.
    pub dtype: NpDtype,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// True for Fortran (column-major) element order.
    pub fortran: bool,
    /// The element bytes.
    pub data: ArrayData,
}

/// Read a shape tuple of non-negative integers.
pub fn shape_of(arena: &Arena, id: NodeId, what: &str) -> Result<Vec<u64>, LoadError> {
    let seq: Vec<NodeId> = match arena.get(id) {
        Node::Tuple(v) | Node::List(v) => v.clone(),
        Node::Int(_) => vec![id],
        other => {
            return Err(LoadError::malformed(format!(
                "{what} is a {}, not a tuple of integers",
                other.type_name()
            )));
        }
    };
    seq.iter()
        .map(|&d| {
            arena
                .as_int(d)
                .filter(|&v| v >= 0)
                .map(|v| v as u64)
                .ok_or_else(|| {
                    LoadError::malformed(format!("{what} has a negative or non-integer dimension"))
                })
        })
        .collect()
}

/// Number of bytes an array of `shape` and `itemsize` holds (checked).
pub fn byte_size(shape: &[u64], itemsize: u64) -> Result<u64, LoadError> {
    shape
        .iter()
        .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| LoadError::malformed("array size overflows"))
}

/// Encode a `str` whose characters are all ≤ U+00FF as Latin-1 bytes.
pub fn latin1(s: &str) -> Result<Vec<u8>, LoadError> {
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).map_err(|_| {
                LoadError::malformed("latin-1 encoded array data holds a character above U+00FF")
            })
        })
        .collect()
}

/// The bytes-like value of node `id`: `bytes`/`bytearray`/Python 2 `str`,
/// `_codecs.encode(str, 'latin1')`, `bytearray(x)` or `bytes()`.
pub fn bytes_of(
    arena: &Arena,
    globals: &GlobalTable,
    id: NodeId,
    depth: u32,
) -> Result<ArrayData, LoadError> {
    if depth > 4 {
        return Err(LoadError::malformed("bytes value nested too deeply"));
    }
    match arena.get(id) {
        Node::Bytes(_, blob) => Ok(ArrayData::Blob(id, blob.clone())),
        Node::Object(o) => {
            let args: &[NodeId] = o.args.and_then(|a| arena.as_seq(a)).unwrap_or(&[]);
            match known_of(arena, globals, o.callable) {
                Some(Known::CodecsEncode) => {
                    let text = args.first().and_then(|&t| arena.as_str(t));
                    let enc = args.get(1).and_then(|&e| arena.as_str(e));
                    match (text, enc) {
                        (Some(t), Some("latin1" | "latin-1" | "iso-8859-1" | "iso8859-1"))
                        | (Some(t), None) => Ok(ArrayData::Computed(id, latin1(t)?)),
                        (Some(_), Some(e)) => Err(LoadError::unsupported(format!(
                            "_codecs.encode with encoding {e:?} is not interpreted"
                        ))),
                        _ => Err(LoadError::malformed(
                            "_codecs.encode without a str argument",
                        )),
                    }
                }
                Some(Known::ByteArrayType | Known::BytesType) => match args.first() {
                    None => Ok(ArrayData::Computed(id, Vec::new())),
                    Some(&inner) => {
                        if let (Some(t), Some(_)) = (arena.as_str(inner), args.get(1)) {
                            // bytearray(str, encoding)
                            return Ok(ArrayData::Computed(id, latin1(t)?));
                        }
                        bytes_of(arena, globals, inner, depth + 1)
                    }
                },
                _ => Err(LoadError::malformed("array data is not a bytes value")),
            }
        }
        Node::List(_) | Node::Tuple(_) => Ok(ArrayData::Objects),
        other => Err(LoadError::malformed(format!(
            "array data is a {}, not bytes",
            other.type_name()
        ))),
    }
}

fn check_len(spec: &ArraySpec, have: u64) -> Result<(), LoadError> {
    if matches!(spec.data, ArrayData::Objects) || spec.dtype.kind == NpKind::Object {
        return Ok(());
    }
    let need = byte_size(&spec.shape, spec.dtype.itemsize)?;
    if need != have {
        return Err(LoadError::malformed(format!(
            "array of shape {:?} and dtype {} needs {need} bytes but its data holds {have}",
            spec.shape, spec.dtype.descr
        )));
    }
    Ok(())
}

fn data_len(data: &ArrayData) -> u64 {
    match data {
        ArrayData::Blob(_, b) => b.len(),
        ArrayData::Computed(_, v) => v.len() as u64,
        ArrayData::Stream { len, .. } => *len,
        ArrayData::Objects => 0,
    }
}

/// Interpret `_reconstruct(ndarray, (0,), b'b')` + BUILD state
/// `(version, shape, dtype, is_fortran, rawdata)` (the version may be missing).
pub fn reconstructed_array(
    arena: &Arena,
    globals: &GlobalTable,
    id: NodeId,
) -> Result<ArraySpec, LoadError> {
    let obj = arena
        .as_object(id)
        .ok_or_else(|| LoadError::malformed("not an array object"))?;
    let state_id = obj
        .state
        .ok_or_else(|| LoadError::malformed("numpy array without state (no BUILD)"))?;
    let state = arena
        .as_seq(state_id)
        .ok_or_else(|| LoadError::malformed("numpy array state is not a tuple"))?;
    let rest = match state.len() {
        5 => &state[1..],
        4 => state,
        n => {
            return Err(LoadError::malformed(format!(
                "numpy array state has {n} items, expected 4 or 5"
            )));
        }
    };
    let (shape, dtype, fortran, raw) = (rest[0], rest[1], rest[2], rest[3]);
    let shape = shape_of(arena, shape, "array shape")?;
    let dtype = dtype_of(arena, globals, dtype)?;
    let fortran = arena.as_int(fortran).unwrap_or(0) != 0;
    let data = if dtype.kind == NpKind::Object {
        ArrayData::Objects
    } else {
        bytes_of(arena, globals, raw, 0)?
    };
    let spec = ArraySpec {
        dtype,
        shape,
        fortran,
        data,
    };
    check_len(&spec, data_len(&spec.data))?;
    Ok(spec)
}

/// Interpret protocol 5's `_frombuffer(buffer, dtype, shape, order)`.
pub fn frombuffer_array(
    arena: &Arena,
    globals: &GlobalTable,
    id: NodeId,
) -> Result<ArraySpec, LoadError> {
    let args = arena
        .as_object(id)
        .and_then(|o| o.args)
        .and_then(|a| arena.as_seq(a))
        .filter(|a| a.len() == 4)
        .ok_or_else(|| LoadError::malformed("_frombuffer needs (buffer, dtype, shape, order)"))?;
    let data = bytes_of(arena, globals, args[0], 0)?;
    let dtype = dtype_of(arena, globals, args[1])?;
    let shape = shape_of(arena, args[2], "array shape")?;
    let fortran = match arena.as_str(args[3]) {
        Some("F") => true,
        Some("C" | "A" | "K") | None => false,
        Some(o) => {
            return Err(LoadError::malformed(format!(
                "_frombuffer order {o:?} is invalid"
            )));
        }
    };
    let spec = ArraySpec {
        dtype,
        shape,
        fortran,
        data,
    };
    check_len(&spec, data_len(&spec.data))?;
    Ok(spec)
}

/// Look up `key` in a dict node with string keys.
pub fn dict_get(arena: &Arena, dict: NodeId, key: &str) -> Option<NodeId> {
    match arena.get(dict) {
        Node::Dict(items) => items
            .iter()
            .rev()
            .find(|(k, _)| arena.as_str(*k) == Some(key))
            .map(|&(_, v)| v),
        _ => None,
    }
}

/// Layout joblib's `NumpyArrayWrapper` state announces: the byte count of the raw data
/// that follows BUILD (`None` for object arrays, which are a nested pickle) and whether a
/// padding byte precedes it.
pub struct WrapperLayout {
    /// Raw data length, or `None` for object dtype.
    pub data_len: Option<u64>,
    /// True when the state has `numpy_array_alignment_bytes` (joblib ≥ 1.2).
    pub padded: bool,
}

/// Read a `NumpyArrayWrapper` BUILD state dict.
pub fn wrapper_layout(
    arena: &Arena,
    globals: &GlobalTable,
    state: NodeId,
) -> Result<WrapperLayout, LoadError> {
    let shape_id = dict_get(arena, state, "shape")
        .ok_or_else(|| LoadError::malformed("NumpyArrayWrapper state has no shape"))?;
    let dtype_id = dict_get(arena, state, "dtype")
        .ok_or_else(|| LoadError::malformed("NumpyArrayWrapper state has no dtype"))?;
    let shape = shape_of(arena, shape_id, "NumpyArrayWrapper shape")?;
    let dtype = dtype_of(arena, globals, dtype_id)?;
    let padded = dict_get(arena, state, "numpy_array_alignment_bytes")
        .is_some_and(|n| !matches!(arena.get(n), Node::None));
    let data_len = if dtype.kind == NpKind::Object {
        None
    } else {
        Some(byte_size(&shape, dtype.itemsize)?)
    };
    Ok(WrapperLayout { data_len, padded })
}

/// Interpret a `NumpyArrayWrapper` whose data the unpickler located.
pub fn wrapper_array(
    arena: &Arena,
    globals: &GlobalTable,
    id: NodeId,
) -> Result<ArraySpec, LoadError> {
    let obj = arena
        .as_object(id)
        .ok_or_else(|| LoadError::malformed("not a NumpyArrayWrapper"))?;
    let state = obj
        .state
        .ok_or_else(|| LoadError::malformed("NumpyArrayWrapper without state"))?;
    let shape = shape_of(
        arena,
        dict_get(arena, state, "shape")
            .ok_or_else(|| LoadError::malformed("NumpyArrayWrapper state has no shape"))?,
        "NumpyArrayWrapper shape",
    )?;
    let dtype = dtype_of(
        arena,
        globals,
        dict_get(arena, state, "dtype")
            .ok_or_else(|| LoadError::malformed("NumpyArrayWrapper state has no dtype"))?,
    )?;
    let fortran = dict_get(arena, state, "order").and_then(|o| arena.as_str(o)) == Some("F");
    let data = match &obj.joblib {
        Some(super::value::JoblibData::Raw { pos, len }) => ArrayData::Stream {
            pos: *pos,
            len: *len,
        },
        Some(super::value::JoblibData::Nested(_)) => ArrayData::Objects,
        None => {
            return Err(LoadError::malformed(
                "NumpyArrayWrapper without array data (not a joblib stream?)",
            ));
        }
    };
    let spec = ArraySpec {
        dtype,
        shape,
        fortran,
        data,
    };
    check_len(&spec, data_len(&spec.data))?;
    Ok(spec)
}

/// Render a NumPy scalar `scalar(dtype, bytes)` as text (numeric dtypes only).
pub fn scalar_text(arena: &Arena, globals: &GlobalTable, id: NodeId) -> Option<String> {
    let args = arena
        .as_object(id)
        .and_then(|o| o.args)
        .and_then(|a| arena.as_seq(a))?;
    let dtype = dtype_of(arena, globals, *args.first()?).ok()?;
    let raw = match arena.get(*args.get(1)?) {
        Node::Bytes(_, blob) if blob.bytes().is_some() => blob.bytes()?.to_vec(),
        _ => match bytes_of(arena, globals, *args.get(1)?, 0).ok()? {
            ArrayData::Computed(_, v) => v,
            _ => return None,
        },
    };
    let NpKind::Numeric(dt) = dtype.kind else {
        return None;
    };
    if raw.len() as u64 != dt.size() {
        return None;
    }
    let mut b = raw;
    if dtype.order == ByteOrder::Big {
        b.reverse();
    }
    Some(super::names::format_element(dt, &b))
}

/// True when node `id` is a Python 2 `str` or `bytes`-like node.
pub fn is_bytes_node(arena: &Arena, id: NodeId) -> bool {
    matches!(
        arena.get(id),
        Node::Bytes(BytesKind::Bytes | BytesKind::ByteArray | BytesKind::Str2, _)
    )
}
