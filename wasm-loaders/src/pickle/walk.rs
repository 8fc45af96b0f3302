//! Flatten the symbolic value tree into named tensors and metadata.
//!
//! Nested dicts, lists and (tolerated) objects become dotted names
//! (`model_state_dict.fc1.weight`, `optimizer_state_dict.state.0.exp_avg`); a bare tensor
//! is `tensor`, a bare array `array`, a bare scalar `value`. The walk is iterative and
//! visits each container once: a container or tensor reached again (shared or cyclic) is
//! not walked again and gets a warning, so memo tricks cannot make it exponential.

use std::collections::{BTreeMap, BTreeSet};

use super::globals::GlobalTable;
use super::names::{self, NameSet, float_repr, join, sanitize_segment};
use super::numpy::{self, ArrayData, ArraySpec, NpKind, known_of};
use super::persist::{Persistent, Resolver, StorageRef, Stream, output_storage};
use super::policy::{Known, TorchDtype};
use super::text::big_to_text;
use super::torch::{self, TensorEnv, View};
use super::value::{Arena, Blob, BytesKind, Node, NodeId, Object};
use crate::host::Host;
use crate::result::{LoadError, Options, Risk, Storage, TensorDesc, contiguous_strides};

/// Most metadata entries kept (the host's own bound).
pub const MAX_METADATA_ENTRIES: usize = 10_000;
/// Longest metadata value kept, in bytes (longer ones are cut and marked).
pub const MAX_METADATA_VALUE: usize = 4096;
/// Most warnings kept.
pub const MAX_WARNINGS: usize = 200;

/// What the walk produced.
#[derive(Debug, Default)]
pub struct Flat {
    /// Tensors, in walk order.
    pub tensors: Vec<TensorDesc>,
    /// Scalar leaves.
    pub metadata: BTreeMap<String, String>,
    /// Notes.
    pub warnings: Vec<String>,
}

/// The walker: the parsed file plus the format's resolvers.
pub struct Walker<'w> {
    arena: &'w Arena,
    globals: &'w GlobalTable,
    options: &'w Options,
    host: &'w mut dyn Host,
    stream: &'w mut Stream<'w>,
    resolver: &'w mut dyn Resolver,
    out: Flat,
    tensor_names: NameSet,
    meta_names: NameSet,
    visited: BTreeMap<NodeId, String>,
    /// Nodes of the frames currently open (to tell a cycle from a shared value).
    on_path: BTreeSet<NodeId>,
    node_storage: BTreeMap<NodeId, Storage>,
    dropped_warnings: usize,
    dropped_metadata: usize,
    tolerated: BTreeSet<String>,
    /// Text of each big integer rendered so far (one memoized integer referenced many
    /// times is rendered once).
    big_text: BTreeMap<NodeId, std::rc::Rc<str>>,
}

/// One child of a container: its name segment (`None` = same name as the parent) and node.
type Child = (Option<String>, NodeId);

struct Frame {
    node: NodeId,
    path: String,
    children: Vec<Child>,
    next: usize,
}

/// Dict-key identity, following Python's equality closely enough (`1 == 1.0 == True`).
/// Borrows from the arena: a key repeated through the memo is never copied per use (a
/// dict setting one long memoized key a million times would otherwise copy it each time).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyId<'a> {
    Num(i128),
    Float(u64),
    /// Sign and little-endian magnitude without trailing zeros (one encoding per value).
    Big(bool, &'a [u8]),
    Str(&'a str),
    None,
    Unique(usize),
}

impl<'w> Walker<'w> {
    /// A walker over a parsed file.
    pub fn new(
        arena: &'w Arena,
        globals: &'w GlobalTable,
        options: &'w Options,
        host: &'w mut dyn Host,
        stream: &'w mut Stream<'w>,
        resolver: &'w mut dyn Resolver,
    ) -> Self {
        Walker {
            arena,
            globals,
            options,
            host,
            stream,
            resolver,
            out: Flat::default(),
            tensor_names: NameSet::default(),
            meta_names: NameSet::default(),
            visited: BTreeMap::new(),
            on_path: BTreeSet::new(),
            node_storage: BTreeMap::new(),
            dropped_warnings: 0,
            dropped_metadata: 0,
            tolerated: BTreeSet::new(),
            big_text: BTreeMap::new(),
        }
    }

    /// Finish: the tensors, metadata and warnings.
    pub fn finish(mut self) -> Flat {
        if !self.tolerated.is_empty() {
            let names: Vec<String> = self.tolerated.iter().cloned().collect();
            self.warn(format!(
                "objects of these classes were not built (allow_unknown_classes); only their \
                 tensors and scalar attributes were extracted: {}",
                names.join(", ")
            ));
        }
        if self.dropped_metadata > 0 {
            let n = self.dropped_metadata;
            self.warn(format!(
                "{n} metadata entries dropped (limit {MAX_METADATA_ENTRIES})"
            ));
        }
        if self.dropped_warnings > 0 {
            let n = self.dropped_warnings;
            self.out
                .warnings
                .push(format!("{n} more warnings not shown"));
        }
        self.out
    }

    /// Record a warning (bounded).
    pub fn warn(&mut self, w: String) {
        if self.out.warnings.len() < MAX_WARNINGS {
            self.out.warnings.push(w);
        } else {
            self.dropped_warnings += 1;
        }
    }

    /// Whether the metadata is full (values past it are counted, not rendered: a value
    /// referenced a million times through the memo must not be copied a million times).
    fn meta_full(&mut self) -> bool {
        let full = self.out.metadata.len() >= MAX_METADATA_ENTRIES;
        if full {
            self.dropped_metadata += 1;
        }
        full
    }

    /// Record a metadata value, cut to [`MAX_METADATA_VALUE`] bytes before it is copied.
    fn meta(&mut self, path: &str, value: &str) {
        if self.meta_full() {
            return;
        }
        let name = self.meta_names.unique(path, "value");
        let value = if value.len() > MAX_METADATA_VALUE {
            format!(
                "{}… ({} bytes)",
                names::cut(value, MAX_METADATA_VALUE),
                value.len()
            )
        } else {
            value.to_string()
        };
        self.out.metadata.insert(name, value);
    }

    fn emit(&mut self, path: &str, view: View, fallback: &str) -> Result<(), LoadError> {
        if self.out.tensors.len() as u64 >= self.options.limits.max_tensors {
            return Err(LoadError::limit(format!(
                "more than {} tensors (limit max_tensors)",
                self.options.limits.max_tensors
            )));
        }
        let name = self.tensor_names.unique(path, fallback);
        let desc = torch::describe(&name, view)?;
        self.out.tensors.push(desc);
        Ok(())
    }

    /// Walk the value `root`, naming everything under `prefix`.
    pub fn walk(&mut self, root: NodeId, prefix: &str) -> Result<(), LoadError> {
        let max_depth = self.options.limits.max_depth;
        let mut frames: Vec<Frame> = Vec::new();
        if let Some(children) = self.visit(root, prefix)? {
            self.on_path.insert(root);
            frames.push(Frame {
                node: root,
                path: prefix.to_string(),
                children,
                next: 0,
            });
        }
        while let Some(top) = frames.last_mut() {
            let Some((seg, child)) = top.children.get(top.next).cloned() else {
                let node = top.node;
                frames.pop();
                self.on_path.remove(&node);
                continue;
            };
            top.next += 1;
            let path = match &seg {
                Some(s) => join(&top.path, s),
                None => top.path.clone(),
            };
            if let Some(children) = self.visit(child, &path)? {
                if frames.len() as u64 >= max_depth {
                    return Err(LoadError::limit(format!(
                        "value nested deeper than {max_depth} levels at `{}` (limit \
                         max_depth)",
                        names::cut(&path, 200)
                    )));
                }
                self.on_path.insert(child);
                frames.push(Frame {
                    node: child,
                    path,
                    children,
                    next: 0,
                });
            }
        }
        Ok(())
    }

    fn trackable(node: &Node) -> bool {
        matches!(
            node,
            Node::Tuple(_)
                | Node::List(_)
                | Node::Dict(_)
                | Node::Set(_)
                | Node::FrozenSet(_)
                | Node::Object(_)
                | Node::PersId(_)
        )
    }

    fn visit(&mut self, id: NodeId, path: &str) -> Result<Option<Vec<Child>>, LoadError> {
        let arena = self.arena;
        let node = arena.get(id);
        if Self::trackable(node) {
            if let Some(first) = self.visited.get(&id) {
                if self.out.warnings.len() >= MAX_WARNINGS {
                    self.dropped_warnings += 1;
                    return Ok(None);
                }
                let first = if first.is_empty() { "the root" } else { first };
                let shown = if path.is_empty() { "the root" } else { path };
                let what = if self.on_path.contains(&id) {
                    "a cycle back to"
                } else {
                    "the same object as"
                };
                let msg = format!(
                    "`{}` is {what} `{}`: not extracted again",
                    names::cut(shown, 200),
                    names::cut(first, 200)
                );
                self.warn(msg);
                return Ok(None);
            }
            self.visited.insert(id, path.to_string());
        }
        match node {
            Node::None => self.meta(path, "None"),
            Node::Bool(b) => self.meta(path, if *b { "True" } else { "False" }),
            Node::Int(v) => self.meta(path, &v.to_string()),
            Node::BigInt(b) => {
                if !self.meta_full() {
                    let text = self
                        .big_text
                        .entry(id)
                        .or_insert_with(|| big_to_text(b).into())
                        .clone();
                    self.meta(path, &text);
                }
            }
            Node::Float(v) => self.meta(path, &float_repr(*v)),
            Node::Str(s) => self.meta(path, s),
            Node::Bytes(BytesKind::Str2, blob) => {
                if let Some(s) = blob.bytes().and_then(|b| std::str::from_utf8(b).ok()) {
                    self.meta(path, s);
                }
            }
            Node::Bytes(..) => {}
            Node::Tuple(items) | Node::List(items) | Node::Set(items) | Node::FrozenSet(items) => {
                return Ok(Some(indexed(items)));
            }
            Node::Dict(pairs) => return Ok(Some(self.dict_children(pairs))),
            Node::Global(g) => {
                if let Some(g) = self.globals.get(*g) {
                    self.meta(path, &g.full_name());
                }
            }
            Node::PersId(pid) => {
                let pid = *pid;
                match self.persistent(pid)? {
                    Persistent::Storage(s) => {
                        let view = torch::storage_view(s).map_err(|e| at(path, e))?;
                        self.emit(path, view, "storage")?;
                    }
                    Persistent::Tensor(t) => {
                        let view = torch::stored_view(t).map_err(|e| at(path, e))?;
                        self.emit(path, view, "tensor")?;
                    }
                    Persistent::Value(v) => return Ok(Some(vec![(None, v)])),
                }
            }
            Node::Object(o) => return self.object(id, o, path),
        }
        Ok(None)
    }

    fn key_id(&self, k: NodeId, index: usize) -> KeyId<'w> {
        let arena: &'w Arena = self.arena;
        match arena.get(k) {
            Node::Int(v) => KeyId::Num(i128::from(*v)),
            Node::Bool(b) => KeyId::Num(i128::from(*b)),
            Node::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => KeyId::Num(*f as i128),
            Node::Float(f) => KeyId::Float(f.to_bits()),
            Node::BigInt(b) => KeyId::Big(b.negative, &b.magnitude),
            Node::Str(s) => KeyId::Str(s),
            Node::Bytes(BytesKind::Str2, blob) => {
                match blob.bytes().and_then(|b| std::str::from_utf8(b).ok()) {
                    Some(s) => KeyId::Str(s),
                    None => KeyId::Unique(index),
                }
            }
            Node::None => KeyId::None,
            _ => KeyId::Unique(index),
        }
    }

    fn key_segment(&self, k: NodeId, index: usize) -> String {
        let seg = match self.arena.get(k) {
            Node::Int(v) => v.to_string(),
            Node::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Node::Float(f) => float_repr(*f),
            Node::BigInt(b) => big_to_text(b),
            Node::None => "None".to_string(),
            _ => match self.arena.as_str(k) {
                Some(s) => s.to_string(),
                None => format!("#{index}"),
            },
        };
        sanitize_segment(&seg)
    }

    /// Dict items in Python's semantics: a repeated key keeps its first position and its
    /// last value.
    ///
    /// A key node seen before (a memo reference) is the same key without comparing
    /// contents: comparing one memoized 1 MiB key with itself a million times would take
    /// the time limit (the guest's `memcmp` has no shortcut for equal pointers).
    fn dict_children(&self, pairs: &[(NodeId, NodeId)]) -> Vec<Child> {
        let mut order: Vec<(NodeId, NodeId, usize)> = Vec::new();
        let mut pos: BTreeMap<KeyId, usize> = BTreeMap::new();
        let mut by_node: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (i, &(k, v)) in pairs.iter().enumerate() {
            let found = match by_node.get(&k) {
                Some(&p) => Some(p),
                None => {
                    let id = self.key_id(k, i);
                    let p = pos.get(&id).copied();
                    if p.is_none() {
                        pos.insert(id, order.len());
                    }
                    by_node.insert(k, p.unwrap_or(order.len()));
                    p
                }
            };
            match found {
                Some(p) => {
                    if let Some(slot) = order.get_mut(p) {
                        slot.1 = v;
                    }
                }
                None => order.push((k, v, i)),
            }
        }
        order
            .into_iter()
            .map(|(k, v, i)| (Some(self.key_segment(k, i)), v))
            .collect()
    }

    /// Children of a dict-like value: a dict node, or a sequence of `(key, value)` pairs.
    fn mapping_children(&self, id: NodeId) -> Result<Vec<Child>, LoadError> {
        match self.arena.get(id) {
            Node::Dict(pairs) => Ok(self.dict_children(pairs)),
            Node::Tuple(items) | Node::List(items) => {
                let mut pairs = Vec::with_capacity(items.len());
                for &it in items {
                    match self.arena.as_seq(it) {
                        Some([k, v]) => pairs.push((*k, *v)),
                        _ => {
                            return Err(LoadError::malformed(
                                "dict built from a sequence that is not of (key, value) pairs",
                            ));
                        }
                    }
                }
                Ok(self.dict_children(&pairs))
            }
            Node::None => Ok(Vec::new()),
            other => Err(LoadError::malformed(format!(
                "dict built from a {}",
                other.type_name()
            ))),
        }
    }

    fn array(&mut self, path: &str, spec: ArraySpec) -> Result<(), LoadError> {
        match self.array_view(spec)? {
            Ok(view) => self.emit(path, view, "array"),
            Err(why) => {
                let shown = if path.is_empty() { "array" } else { path };
                self.warn(format!("array `{shown}` not extracted: {why}"));
                Ok(())
            }
        }
    }

    /// A view of a NumPy array, or why it is not a tensor (strings, objects…).
    fn array_view(&mut self, spec: ArraySpec) -> Result<Result<View, String>, LoadError> {
        let dt = match spec.dtype.kind {
            NpKind::Numeric(d) => d,
            NpKind::Complex => {
                return Err(LoadError::unsupported(format!(
                    "complex arrays ({}) are not supported",
                    spec.dtype.descr
                )));
            }
            NpKind::Object => return Ok(Err("it holds Python objects (dtype object)".into())),
            NpKind::Other => {
                return Ok(Err(format!(
                    "dtype {} is not a numeric tensor type",
                    spec.dtype.descr
                )));
            }
        };
        let storage = match &spec.data {
            ArrayData::Blob(id, blob) => self.blob_storage(*id, blob)?,
            ArrayData::Computed(id, bytes) => match self.node_storage.get(id) {
                Some(s) => *s,
                None => {
                    let s = output_storage(self.host, bytes)?;
                    self.node_storage.insert(*id, s);
                    s
                }
            },
            ArrayData::Stream { pos, len } => self.stream.storage(self.host, *pos, *len)?,
            ArrayData::Objects => {
                return Ok(Err("it holds Python objects (dtype object)".into()));
            }
        };
        let strides = if spec.fortran {
            let mut s = Vec::with_capacity(spec.shape.len());
            let mut acc: u64 = 1;
            for &d in &spec.shape {
                s.push(acc);
                acc = acc.saturating_mul(d);
            }
            s
        } else {
            contiguous_strides(&spec.shape)
        };
        Ok(Ok(View {
            storage: StorageRef {
                storage,
                dtype: Some(TorchDtype::Supported(dt)),
                byte_order: spec.dtype.order,
                name: "array data".into(),
            },
            dtype: dt,
            offset: 0,
            shape: spec.shape,
            strides,
        }))
    }

    fn blob_storage(&mut self, id: NodeId, blob: &Blob) -> Result<Storage, LoadError> {
        if let Some(s) = self.node_storage.get(&id) {
            return Ok(*s);
        }
        let s = match blob {
            Blob::Inline(b) => output_storage(self.host, b)?,
            Blob::Small { pos, data } => self.stream.storage(self.host, *pos, data.len() as u64)?,
            Blob::Stream { pos, len } => self.stream.storage(self.host, *pos, *len)?,
        };
        self.node_storage.insert(id, s);
        Ok(s)
    }

    fn args_of(&self, o: &Object) -> Vec<NodeId> {
        o.args
            .and_then(|a| self.arena.as_seq(a))
            .unwrap_or(&[])
            .to_vec()
    }

    fn object(
        &mut self,
        id_of_self: NodeId,
        o: &'w Object,
        path: &str,
    ) -> Result<Option<Vec<Child>>, LoadError> {
        let arena = self.arena;
        let globals = self.globals;
        let args = self.args_of(o);
        let Some(known) = known_of(arena, globals, o.callable) else {
            return self.opaque(o, path);
        };
        if torch::is_tensor_call(known) {
            let view = torch::rebuild(self, known, &args, 0).map_err(|e| at(path, e))?;
            self.emit(path, view, "tensor")?;
            return Ok(None);
        }
        match known {
            Known::NumpyReconstruct => {
                let spec = numpy::reconstructed_array(arena, globals, id_of_self)
                    .map_err(|e| at(path, e))?;
                self.array(path, spec)?;
            }
            Known::NumpyFrombuffer => {
                let spec =
                    numpy::frombuffer_array(arena, globals, id_of_self).map_err(|e| at(path, e))?;
                self.array(path, spec)?;
            }
            Known::JoblibArrayWrapper => {
                let spec =
                    numpy::wrapper_array(arena, globals, id_of_self).map_err(|e| at(path, e))?;
                self.array(path, spec)?;
            }
            Known::JoblibOldWrapper => {
                return Err(at(
                    path,
                    LoadError::unsupported(
                        "old joblib format (NDArrayWrapper/ZNDArrayWrapper keeps arrays in \
                         separate files)",
                    ),
                ));
            }
            Known::DictType => {
                let mut children = match args.first() {
                    Some(&a) => self.mapping_children(a).map_err(|e| at(path, e))?,
                    None => Vec::new(),
                };
                children.extend(self.dict_children(&o.dict_items));
                return Ok(Some(children));
            }
            Known::ListType | Known::SetType | Known::TorchSize => {
                let mut items: Vec<NodeId> = match args.first().map(|&a| arena.get(a)) {
                    Some(Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v)) => {
                        v.clone()
                    }
                    Some(Node::None) | None => Vec::new(),
                    Some(other) => {
                        return Err(at(
                            path,
                            LoadError::malformed(format!(
                                "sequence built from a {}",
                                other.type_name()
                            )),
                        ));
                    }
                };
                items.extend(&o.list_items);
                items.extend(&o.set_items);
                return Ok(Some(indexed(&items)));
            }
            Known::TorchDevice => {
                let parts: Vec<String> = args
                    .iter()
                    .filter_map(|&a| match arena.get(a) {
                        Node::Str(s) => Some(s.to_string()),
                        Node::Int(i) => Some(i.to_string()),
                        _ => None,
                    })
                    .collect();
                self.meta(path, &parts.join(":"));
            }
            Known::NumpyScalar => {
                if let Some(text) = numpy::scalar_text(arena, globals, id_of_self) {
                    self.meta(path, &text);
                }
            }
            Known::NumpyDtype => {
                if let Ok(d) = numpy::dtype_of(arena, globals, id_of_self) {
                    self.meta(path, &d.descr);
                }
            }
            Known::ComplexType => {
                let parts: Vec<String> = args
                    .iter()
                    .map(|&a| match arena.get(a) {
                        Node::Float(f) => float_repr(*f),
                        Node::Int(i) => i.to_string(),
                        Node::Str(s) => s.to_string(),
                        _ => "?".into(),
                    })
                    .collect();
                self.meta(path, &format!("complex({})", parts.join(", ")));
            }
            Known::CodecsEncode | Known::BytesType | Known::ByteArrayType => {}
            other => {
                let name = self.callable_name(o);
                let shown = if path.is_empty() { "the root" } else { path };
                self.warn(format!(
                    "`{shown}`: call of {name} ({other:?}) is not interpreted; skipped"
                ));
            }
        }
        Ok(None)
    }

    fn callable_name(&self, o: &Object) -> String {
        match self.arena.get(o.callable) {
            Node::Global(g) => self
                .globals
                .get(*g)
                .map(|g| g.full_name())
                .unwrap_or_default(),
            other => format!("a {}", other.type_name()),
        }
    }

    /// An object of a tolerated unknown class: its state, items and arguments are walked.
    fn opaque(&mut self, o: &Object, path: &str) -> Result<Option<Vec<Child>>, LoadError> {
        let arena = self.arena;
        let g = match arena.get(o.callable) {
            Node::Global(g) => self.globals.get(*g),
            _ => None,
        };
        let Some(g) = g else {
            return Err(at(
                path,
                LoadError::malformed(format!(
                    "call of a {} (not a global)",
                    arena.get(o.callable).type_name()
                )),
            ));
        };
        if g.risk != Risk::UnknownClass || !self.options.allow_unknown_classes {
            // Refused before the walk; never build anything else.
            return Err(at(
                path,
                LoadError::refused(format!("object of {} is not allowed", g.full_name())),
            ));
        }
        let full = g.full_name();
        let reconstructor = matches!(
            full.as_str(),
            "copyreg._reconstructor" | "copy_reg._reconstructor"
        );
        // Name the real class for copyreg helpers.
        let class_name = if reconstructor || full.contains("__newobj__") {
            o.args
                .and_then(|a| arena.as_seq(a))
                .and_then(|a| a.first())
                .and_then(|&c| match arena.get(c) {
                    Node::Global(g) => self.globals.get(*g).map(|g| g.full_name()),
                    _ => None,
                })
                .unwrap_or(full.clone())
        } else {
            full.clone()
        };
        self.tolerated.insert(class_name);
        let mut children: Vec<Child> = Vec::new();
        if let Some(state) = o.state {
            match arena.get(state) {
                Node::Dict(pairs) => children.extend(self.dict_children(pairs)),
                Node::Tuple(parts) if parts.len() == 2 => {
                    for &p in parts {
                        match arena.get(p) {
                            Node::Dict(pairs) => children.extend(self.dict_children(pairs)),
                            Node::None => {}
                            _ => children.push((Some("__state__".into()), p)),
                        }
                    }
                }
                Node::None => {}
                _ => children.push((Some("__state__".into()), state)),
            }
        }
        children.extend(indexed(&o.list_items));
        children.extend(self.dict_children(&o.dict_items));
        children.extend(indexed(&o.set_items));
        if !reconstructor {
            for (i, &a) in self.args_of(o).iter().enumerate() {
                children.push((Some(format!("__args__.{i}")), a));
            }
        }
        Ok(Some(children))
    }

    fn persistent(&mut self, pid: NodeId) -> Result<Persistent, LoadError> {
        self.resolver
            .resolve(self.host, self.arena, self.globals, pid)
    }
}

impl TensorEnv for Walker<'_> {
    fn arena(&self) -> &Arena {
        self.arena
    }
    fn globals(&self) -> &GlobalTable {
        self.globals
    }
    fn persistent(&mut self, pid: NodeId) -> Result<Persistent, LoadError> {
        Walker::persistent(self, pid)
    }
    fn numpy_view(&mut self, id: NodeId) -> Result<View, LoadError> {
        let arena = self.arena;
        let globals = self.globals;
        let spec = match numpy::callable_known(arena, globals, id) {
            Some(Known::NumpyReconstruct) => numpy::reconstructed_array(arena, globals, id)?,
            Some(Known::NumpyFrombuffer) => numpy::frombuffer_array(arena, globals, id)?,
            _ => return Err(LoadError::malformed("expected a NumPy array")),
        };
        match self.array_view(spec)? {
            Ok(v) => Ok(v),
            Err(why) => Err(LoadError::unsupported(format!("NumPy array data: {why}"))),
        }
    }
}

fn indexed(items: &[NodeId]) -> Vec<Child> {
    items
        .iter()
        .enumerate()
        .map(|(i, &n)| (Some(i.to_string()), n))
        .collect()
}

/// Prefix an error with the value's name.
fn at(path: &str, e: LoadError) -> LoadError {
    if path.is_empty() || e.message.contains(&format!("`{path}`")) {
        return e;
    }
    LoadError {
        message: format!("`{path}`: {}", e.message),
        ..e
    }
}
