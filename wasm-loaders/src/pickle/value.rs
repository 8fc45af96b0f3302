//! The symbolic values a pickle builds, kept in an arena.
//!
//! Containers hold [`NodeId`]s, never copies, so a value fetched from the memo a million
//! times costs a million ids, not a million deep copies (memo expansion bombs stay linear).
//! Mutable containers (list, dict, set, objects) are mutated in place, as in Python, so every
//! reference sees the same contents.

use std::rc::Rc;

use crate::result::LoadError;

/// Index of a node in the [`Arena`].
pub type NodeId = u32;

/// Index of a global in the [`super::globals::GlobalTable`].
pub type GlobalId = u32;

/// Where the bytes of a bytes-like value are.
#[derive(Debug, Clone, PartialEq)]
pub enum Blob {
    /// Bytes computed by the parser (a protocol-0 STRING after escape decoding).
    Inline(Rc<[u8]>),
    /// A small value copied from the stream, which also remembers where it was.
    Small {
        /// Position in the stream (relative to the stream's start).
        pos: u64,
        /// The bytes.
        data: Rc<[u8]>,
    },
    /// A large value left in the pickle stream: `len` bytes at stream position `pos`.
    Stream {
        /// Position in the stream (relative to the stream's start).
        pos: u64,
        /// Length in bytes.
        len: u64,
    },
}

impl Blob {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Blob::Inline(b) | Blob::Small { data: b, .. } => b.len() as u64,
            Blob::Stream { len, .. } => *len,
        }
    }

    /// The bytes, when they are in memory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Blob::Inline(b) | Blob::Small { data: b, .. } => Some(b),
            Blob::Stream { .. } => None,
        }
    }
    /// True when the blob holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which Python type a bytes-like value had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BytesKind {
    /// `bytes` (BINBYTES, SHORT_BINBYTES, BINBYTES8).
    Bytes,
    /// `bytearray` (BYTEARRAY8).
    ByteArray,
    /// A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING): bytes that Python 3 decodes
    /// with the unpickler's encoding.
    Str2,
}

/// How an object node was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// REDUCE: `callable(*args)`.
    Reduce,
    /// NEWOBJ: `cls.__new__(cls, *args)`.
    NewObj,
    /// NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx,
    /// INST (protocol 0): `module.name(*args)`.
    Inst,
    /// OBJ (protocol 1): `cls(*args)`.
    Obj,
}

/// Array bytes that joblib wrote raw after a `NumpyArrayWrapper` BUILD.
#[derive(Debug, Clone, PartialEq)]
pub enum JoblibData {
    /// Numeric array: `len` bytes at stream position `pos`.
    Raw {
        /// Position in the stream.
        pos: u64,
        /// Length in bytes.
        len: u64,
    },
    /// Object array: a nested pickle, whose root is this node.
    Nested(NodeId),
}

/// A call the pickle asked for (never performed): REDUCE, NEWOBJ, INST, OBJ.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// What would be called (usually a global).
    pub callable: NodeId,
    /// Positional arguments (a tuple node), if any.
    pub args: Option<NodeId>,
    /// Keyword arguments (NEWOBJ_EX), if any.
    pub kwargs: Option<NodeId>,
    /// How it was created.
    pub kind: CallKind,
    /// State passed by BUILD (the last one wins, as `__setstate__` would see it last).
    pub state: Option<NodeId>,
    /// Items appended by APPEND/APPENDS (list subclasses).
    pub list_items: Vec<NodeId>,
    /// Items set by SETITEM/SETITEMS (dict subclasses such as `OrderedDict`).
    pub dict_items: Vec<(NodeId, NodeId)>,
    /// Items added by ADDITEMS (set subclasses).
    pub set_items: Vec<NodeId>,
    /// Raw array data joblib placed after this object's BUILD.
    pub joblib: Option<JoblibData>,
}

impl Object {
    /// A fresh object node body.
    pub fn new(callable: NodeId, args: Option<NodeId>, kind: CallKind) -> Self {
        Object {
            callable,
            args,
            kwargs: None,
            kind,
            state: None,
            list_items: Vec::new(),
            dict_items: Vec::new(),
            set_items: Vec::new(),
            joblib: None,
        }
    }
}

/// A Python integer too large for `i64`: sign and little-endian magnitude bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    /// True for negative values.
    pub negative: bool,
    /// Magnitude, little-endian, without trailing zero bytes.
    pub magnitude: Rc<[u8]>,
}

/// One symbolic value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A larger integer.
    BigInt(BigInt),
    /// A float.
    Float(f64),
    /// A Python 3 `str`.
    Str(Rc<str>),
    /// `bytes`, `bytearray` or a Python 2 `str`.
    Bytes(BytesKind, Blob),
    /// A tuple.
    Tuple(Vec<NodeId>),
    /// A list.
    List(Vec<NodeId>),
    /// A dict, in insertion order (duplicate keys resolved when read).
    Dict(Vec<(NodeId, NodeId)>),
    /// A set.
    Set(Vec<NodeId>),
    /// A frozenset.
    FrozenSet(Vec<NodeId>),
    /// A reference to `module.name` (never imported).
    Global(GlobalId),
    /// A persistent id (PERSID/BINPERSID), resolved by the format.
    PersId(NodeId),
    /// A call that was not performed.
    Object(Box<Object>),
}

impl Node {
    /// Short Python-ish type name for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::None => "None",
            Node::Bool(_) => "bool",
            Node::Int(_) | Node::BigInt(_) => "int",
            Node::Float(_) => "float",
            Node::Str(_) => "str",
            Node::Bytes(BytesKind::Bytes, _) => "bytes",
            Node::Bytes(BytesKind::ByteArray, _) => "bytearray",
            Node::Bytes(BytesKind::Str2, _) => "str (Python 2)",
            Node::Tuple(_) => "tuple",
            Node::List(_) => "list",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Global(_) => "global",
            Node::PersId(_) => "persistent id",
            Node::Object(_) => "object",
        }
    }
}

/// All nodes built while parsing one file (possibly several stacked pickles).
#[derive(Debug)]
pub struct Arena {
    nodes: Vec<Node>,
    max_nodes: u64,
}

impl Arena {
    /// An empty arena that refuses to hold more than `max_nodes` nodes.
    pub fn new(max_nodes: u64) -> Self {
        Arena {
            nodes: Vec::new(),
            max_nodes,
        }
    }

    /// Add a node; fails with a `Limit` error naming `max_objects` when full.
    pub fn push(&mut self, node: Node) -> Result<NodeId, LoadError> {
        let n = self.nodes.len() as u64;
        if n >= self.max_nodes || n >= u64::from(u32::MAX) {
            return Err(LoadError::limit(format!(
                "pickle builds more than {} objects (limit max_objects)",
                self.max_nodes
            )));
        }
        self.nodes.push(node);
        Ok(n as NodeId)
    }

    /// The node with id `id`. Ids only come from [`Arena::push`], so they are in range.
    pub fn get(&self, id: NodeId) -> &Node {
        // Invariant: every NodeId was returned by `push` on this arena and nodes are never
        // removed; fall back to None defensively rather than panic.
        self.nodes.get(id as usize).unwrap_or(&Node::None)
    }

    /// Mutable access to the node with id `id`.
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id as usize)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node was built.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The string value of `id` if it is a `str` (or an ASCII/UTF-8 inline Python 2 str).
    pub fn as_str(&self, id: NodeId) -> Option<&str> {
        match self.get(id) {
            Node::Str(s) => Some(s),
            Node::Bytes(BytesKind::Str2, blob) => {
                blob.bytes().and_then(|b| std::str::from_utf8(b).ok())
            }
            _ => None,
        }
    }

    /// The integer value of `id` if it is an `int` (or bool) fitting in `i64`.
    pub fn as_int(&self, id: NodeId) -> Option<i64> {
        match self.get(id) {
            Node::Int(v) => Some(*v),
            Node::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The items of a tuple or list node.
    pub fn as_seq(&self, id: NodeId) -> Option<&[NodeId]> {
        match self.get(id) {
            Node::Tuple(v) | Node::List(v) => Some(v),
            _ => None,
        }
    }

    /// The object body of `id`, if it is an object.
    pub fn as_object(&self, id: NodeId) -> Option<&Object> {
        match self.get(id) {
            Node::Object(o) => Some(o),
            _ => None,
        }
    }
}
