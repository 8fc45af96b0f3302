//! Walks `ModelProto` → `GraphProto` → `NodeProto` → `AttributeProto` (→ subgraphs),
//! finding initializers and `Constant` values. Field numbers are those of `onnx.proto`
//! (ONNX 1.18+, proto2 syntax).

use super::tensor::TensorMsg;
use super::typed::Kind;
use super::wire::{Tag, WireType};
use super::{Loader, MAX_METADATA_PROPS, MAX_METADATA_VALUE, MAX_NAME_BYTES, MAX_SHORT_STRING};
use crate::result::{ByteOrder, Dtype, LoadError, TensorDesc};

// ModelProto fields.
const MODEL_IR_VERSION: u32 = 1;
const MODEL_PRODUCER_NAME: u32 = 2;
const MODEL_PRODUCER_VERSION: u32 = 3;
const MODEL_DOMAIN: u32 = 4;
const MODEL_MODEL_VERSION: u32 = 5;
const MODEL_DOC_STRING: u32 = 6;
const MODEL_GRAPH: u32 = 7;
const MODEL_OPSET_IMPORT: u32 = 8;
const MODEL_METADATA_PROPS: u32 = 14;
const MODEL_TRAINING_INFO: u32 = 20;
const MODEL_FUNCTIONS: u32 = 25;
const MODEL_CONFIGURATION: u32 = 26;

// GraphProto fields.
const GRAPH_NODE: u32 = 1;
const GRAPH_NAME: u32 = 2;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_SPARSE_INITIALIZER: u32 = 15;

// NodeProto fields.
const NODE_OUTPUT: u32 = 2;
const NODE_NAME: u32 = 3;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const NODE_DOMAIN: u32 = 7;

// AttributeProto fields.
const ATTR_NAME: u32 = 1;
const ATTR_F: u32 = 2;
const ATTR_I: u32 = 3;
const ATTR_S: u32 = 4;
const ATTR_T: u32 = 5;
const ATTR_G: u32 = 6;
const ATTR_FLOATS: u32 = 7;
const ATTR_INTS: u32 = 8;
const ATTR_STRINGS: u32 = 9;
const ATTR_TENSORS: u32 = 10;
const ATTR_GRAPHS: u32 = 11;
const ATTR_SPARSE_TENSOR: u32 = 22;
const ATTR_SPARSE_TENSORS: u32 = 23;

// FunctionProto fields.
const FUNCTION_NAME: u32 = 1;
const FUNCTION_NODE: u32 = 7;

// OperatorSetIdProto and StringStringEntryProto fields.
const OPSET_DOMAIN: u32 = 1;
const OPSET_VERSION: u32 = 2;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;

// SparseTensorProto fields.
const SPARSE_VALUES: u32 = 1;

/// The wire type each known ModelProto field must have.
fn model_field_wire(field: u32) -> Option<WireType> {
    match field {
        MODEL_IR_VERSION | MODEL_MODEL_VERSION => Some(WireType::Varint),
        MODEL_PRODUCER_NAME
        | MODEL_PRODUCER_VERSION
        | MODEL_DOMAIN
        | MODEL_DOC_STRING
        | MODEL_GRAPH
        | MODEL_OPSET_IMPORT
        | MODEL_METADATA_PROPS
        | MODEL_TRAINING_INFO
        | MODEL_FUNCTIONS
        | MODEL_CONFIGURATION => Some(WireType::Len),
        _ => None,
    }
}

/// Refuse a known field that arrives with the wrong wire type.
fn wrong_wire(message: &str, tag: Tag) -> LoadError {
    LoadError::malformed(format!(
        "{message} field {} has wire type {:?}, which onnx.proto does not allow",
        tag.field, tag.wire
    ))
}

/// What the attribute walker needs to know about the node that owns the attributes.
struct NodeInfo {
    /// `node.name` (may be empty), or why it is unusable.
    name: Result<String, LoadError>,
    /// `op_type`.
    op_type: String,
    /// First output (may be empty), or why it is unusable.
    output: Result<String, LoadError>,
    /// `op_type == "Constant"` in the default domain.
    is_constant: bool,
    /// Index of the node in its graph.
    index: u64,
}

impl NodeInfo {
    /// Node name, else `<op_type>_<index>`: the node's part of a subgraph scope.
    fn label(&self) -> Result<String, LoadError> {
        let name = self.name.clone()?;
        Ok(if name.is_empty() {
            format!("{}_{}", self.op_type, self.index)
        } else {
            name
        })
    }

    /// The name of the tensor a Constant node produces: its first output, else its name,
    /// else `Constant_<index>`.
    fn constant_name(&self) -> Result<String, LoadError> {
        let output = self.output.clone()?;
        if !output.is_empty() {
            return Ok(output);
        }
        let name = self.name.clone()?;
        Ok(if name.is_empty() {
            format!("Constant_{}", self.index)
        } else {
            name
        })
    }
}

/// The first pass over an attribute: its name and where its values are.
#[derive(Default)]
struct AttrInfo {
    name: String,
    f: Option<u32>,
    i: Option<u64>,
    t: Option<(u64, u64)>,
    g: Option<(u64, u64)>,
    has_floats: bool,
    has_ints: bool,
    graphs: u64,
    tensors: u64,
    sparse: u64,
}

impl Loader<'_> {
    /// Walk the ModelProto (the whole input).
    pub(super) fn model(&mut self) -> Result<(), LoadError> {
        let end = self.w.len();
        let mut graph_seen = false;
        let mut training = 0u64;
        let mut metadata_props = 0usize;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            match model_field_wire(tag.field) {
                None => {
                    self.w.skip(tag.wire, end)?;
                    continue;
                }
                Some(w) if w != tag.wire => return Err(wrong_wire("ModelProto", tag)),
                Some(_) => {}
            }
            match tag.field {
                MODEL_IR_VERSION | MODEL_MODEL_VERSION => {
                    let v = self.w.varint(end)? as i64;
                    let key = if tag.field == MODEL_IR_VERSION {
                        "onnx.ir_version"
                    } else {
                        "onnx.model_version"
                    };
                    self.meta(key.into(), v.to_string());
                }
                MODEL_PRODUCER_NAME | MODEL_PRODUCER_VERSION | MODEL_DOMAIN => {
                    let sub = self.w.len_delimited(end)?;
                    let value = self.text(sub, MAX_METADATA_VALUE)?;
                    let key = match tag.field {
                        MODEL_PRODUCER_NAME => "onnx.producer_name",
                        MODEL_PRODUCER_VERSION => "onnx.producer_version",
                        _ => "onnx.domain",
                    };
                    self.meta(key.into(), value);
                }
                MODEL_GRAPH => {
                    if graph_seen {
                        return Err(LoadError::malformed(
                            "ModelProto has more than one graph field",
                        ));
                    }
                    graph_seen = true;
                    let sub = self.w.len_delimited(end)?;
                    self.graph(sub, "", 0, true)?;
                }
                MODEL_OPSET_IMPORT => {
                    let sub = self.w.len_delimited(end)?;
                    self.opset_import(sub)?;
                }
                MODEL_METADATA_PROPS => {
                    let sub = self.w.len_delimited(end)?;
                    if metadata_props < MAX_METADATA_PROPS {
                        metadata_props += 1;
                        self.metadata_prop(sub)?;
                    } else {
                        self.w.seek(sub)?;
                        if metadata_props == MAX_METADATA_PROPS {
                            metadata_props += 1;
                            self.warn(format!(
                                "more than {MAX_METADATA_PROPS} metadata_props entries; the rest were not copied"
                            ));
                        }
                    }
                }
                MODEL_TRAINING_INFO => {
                    training += 1;
                    self.w.skip(tag.wire, end)?;
                }
                MODEL_FUNCTIONS => {
                    let sub = self.w.len_delimited(end)?;
                    self.function(sub)?;
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        if !graph_seen {
            return Err(LoadError::malformed(
                "ONNX model has no graph (ModelProto.graph)",
            ));
        }
        if training > 0 {
            self.warn(format!(
                "model has {training} training_info entries; their initialization graphs were not extracted"
            ));
        }
        Ok(())
    }

    /// `OperatorSetIdProto` → `onnx.opset_import.<domain>` = version.
    fn opset_import(&mut self, end: u64) -> Result<(), LoadError> {
        let mut domain = String::new();
        let mut version: i64 = 0;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            match (tag.field, tag.wire) {
                (OPSET_DOMAIN, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    domain = self.text(sub, MAX_SHORT_STRING)?;
                }
                (OPSET_VERSION, WireType::Varint) => version = self.w.varint(end)? as i64,
                (OPSET_DOMAIN | OPSET_VERSION, _) => {
                    return Err(wrong_wire("OperatorSetIdProto", tag));
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        if domain.is_empty() {
            domain = "ai.onnx".into();
        }
        self.meta(format!("onnx.opset_import.{domain}"), version.to_string());
        Ok(())
    }

    /// A `StringStringEntryProto` of `ModelProto.metadata_props` → `onnx.metadata.<key>`.
    fn metadata_prop(&mut self, end: u64) -> Result<(), LoadError> {
        let (key, value) = self.string_entry(end, MAX_SHORT_STRING, MAX_METADATA_VALUE)?;
        self.meta(format!("onnx.metadata.{key}"), value);
        Ok(())
    }

    /// A `StringStringEntryProto` as (key, value) for the report (lossy, truncated).
    pub(super) fn string_entry(
        &mut self,
        end: u64,
        max_key: usize,
        max_value: usize,
    ) -> Result<(String, String), LoadError> {
        let mut key = String::new();
        let mut value = String::new();
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            match (tag.field, tag.wire) {
                (ENTRY_KEY, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    key = self.text(sub, max_key)?;
                }
                (ENTRY_VALUE, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    value = self.text(sub, max_value)?;
                }
                (ENTRY_KEY | ENTRY_VALUE, _) => {
                    return Err(wrong_wire("StringStringEntryProto", tag));
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        Ok((key, value))
    }

    /// A `FunctionProto`: its nodes' Constants become `functions/<name>/<value>`.
    fn function(&mut self, end: u64) -> Result<(), LoadError> {
        let start = self.w.pos();
        // First pass: the name, wherever it is.
        let mut name = String::new();
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            match (tag.field, tag.wire) {
                (FUNCTION_NAME, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    name = self.string(sub, MAX_NAME_BYTES, "function name")?;
                }
                (FUNCTION_NAME | FUNCTION_NODE, _) if tag.wire != WireType::Len => {
                    return Err(wrong_wire("FunctionProto", tag));
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        if name.is_empty() {
            name = "unnamed".into();
        }
        let scope = format!("functions/{name}/");
        // Second pass: the nodes.
        self.w.seek(start)?;
        let mut index = 0u64;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            if tag.field == FUNCTION_NODE {
                let sub = self.w.len_delimited(end)?;
                self.node(sub, &scope, 0, index)?;
                index += 1;
            } else {
                self.w.skip(tag.wire, end)?;
            }
        }
        Ok(())
    }

    /// A `GraphProto` ending at `end`; tensor names get the prefix `scope`.
    fn graph(&mut self, end: u64, scope: &str, depth: u64, top: bool) -> Result<(), LoadError> {
        let mut node_index = 0u64;
        let mut init_index = 0u64;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            match tag.field {
                GRAPH_NODE | GRAPH_NAME | GRAPH_INITIALIZER | GRAPH_SPARSE_INITIALIZER
                    if tag.wire != WireType::Len =>
                {
                    return Err(wrong_wire("GraphProto", tag));
                }
                GRAPH_NODE => {
                    let sub = self.w.len_delimited(end)?;
                    self.node(sub, scope, depth, node_index)?;
                    node_index += 1;
                }
                GRAPH_NAME => {
                    let sub = self.w.len_delimited(end)?;
                    if top {
                        let name = self.text(sub, MAX_METADATA_VALUE)?;
                        self.meta("onnx.graph_name".into(), name);
                    } else {
                        self.w.seek(sub)?;
                    }
                }
                GRAPH_INITIALIZER => {
                    let sub = self.w.len_delimited(end)?;
                    let msg = self.tensor_msg(sub)?;
                    let Some(own) = msg.name.clone().filter(|n| !n.is_empty()) else {
                        return Err(LoadError::malformed(format!(
                            "initializer #{init_index} of graph '{}' has no name",
                            scope.trim_end_matches('/')
                        )));
                    };
                    self.add_tensor(&msg, format!("{scope}{own}"), "initializer")?;
                    init_index += 1;
                }
                GRAPH_SPARSE_INITIALIZER => {
                    let sub = self.w.len_delimited(end)?;
                    let name = self.sparse_name(sub)?;
                    return Err(LoadError::unsupported(format!(
                        "sparse initializer '{scope}{name}' (sparse tensors are not supported)"
                    )));
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        Ok(())
    }

    /// The name of a `SparseTensorProto` (that of its `values` tensor), for messages.
    fn sparse_name(&mut self, end: u64) -> Result<String, LoadError> {
        let mut name = String::from("?");
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            if tag.field == SPARSE_VALUES && tag.wire == WireType::Len {
                let sub = self.w.len_delimited(end)?;
                let msg = self.tensor_msg(sub)?;
                if let Some(n) = msg.name {
                    name = n;
                }
            } else {
                self.w.skip(tag.wire, end)?;
            }
        }
        Ok(name)
    }

    /// A `NodeProto` ending at `end`.
    fn node(&mut self, end: u64, scope: &str, depth: u64, index: u64) -> Result<(), LoadError> {
        let start = self.w.pos();
        // First pass: identity (fields may come in any order).
        let mut name = Ok(String::new());
        let mut op_type = String::new();
        let mut domain = String::new();
        let mut output: Option<Result<String, LoadError>> = None;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            match tag.field {
                NODE_OUTPUT | NODE_NAME | NODE_OP_TYPE | NODE_ATTRIBUTE | NODE_DOMAIN
                    if tag.wire != WireType::Len =>
                {
                    return Err(wrong_wire("NodeProto", tag));
                }
                NODE_OUTPUT => {
                    let sub = self.w.len_delimited(end)?;
                    if output.is_none() {
                        output = Some(self.lazy_string(sub, MAX_NAME_BYTES, "node output name")?);
                    } else {
                        self.w.seek(sub)?;
                    }
                }
                NODE_NAME => {
                    let sub = self.w.len_delimited(end)?;
                    name = self.lazy_string(sub, MAX_NAME_BYTES, "node name")?;
                }
                NODE_OP_TYPE => {
                    let sub = self.w.len_delimited(end)?;
                    op_type = self.string(sub, MAX_SHORT_STRING, "node op_type")?;
                }
                NODE_DOMAIN => {
                    let sub = self.w.len_delimited(end)?;
                    domain = self.string(sub, MAX_SHORT_STRING, "node domain")?;
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        let info = NodeInfo {
            name,
            is_constant: op_type == "Constant" && (domain.is_empty() || domain == "ai.onnx"),
            op_type,
            output: output.unwrap_or(Ok(String::new())),
            index,
        };
        // Second pass: the attributes.
        self.w.seek(start)?;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            if tag.field == NODE_ATTRIBUTE {
                let sub = self.w.len_delimited(end)?;
                self.attribute(sub, &info, scope, depth)?;
            } else {
                self.w.skip(tag.wire, end)?;
            }
        }
        Ok(())
    }

    /// First pass over an `AttributeProto`.
    fn attribute_info(&mut self, end: u64) -> Result<AttrInfo, LoadError> {
        let mut a = AttrInfo::default();
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            let field = tag.field;
            match (field, tag.wire) {
                (ATTR_NAME, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    a.name = self.string(sub, MAX_SHORT_STRING, "attribute name")?;
                }
                (ATTR_F, WireType::I32) => a.f = Some(self.w.fixed32(end)?),
                (ATTR_I, WireType::Varint) => a.i = Some(self.w.varint(end)?),
                (ATTR_T | ATTR_G, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    let range = Some((self.w.pos(), sub));
                    let slot = if field == ATTR_T { &mut a.t } else { &mut a.g };
                    if slot.is_some() {
                        return Err(LoadError::malformed(format!(
                            "attribute '{}' has field {field} twice",
                            a.name
                        )));
                    }
                    *slot = range;
                    self.w.seek(sub)?;
                }
                (ATTR_FLOATS, WireType::Len | WireType::I32) => {
                    a.has_floats = true;
                    self.w.skip(tag.wire, end)?;
                }
                (ATTR_INTS, WireType::Len | WireType::Varint) => {
                    a.has_ints = true;
                    self.w.skip(tag.wire, end)?;
                }
                (ATTR_S | ATTR_STRINGS, WireType::Len) => self.w.skip(tag.wire, end)?,
                (ATTR_TENSORS, WireType::Len) => {
                    a.tensors += 1;
                    self.w.skip(tag.wire, end)?;
                }
                (ATTR_GRAPHS, WireType::Len) => {
                    a.graphs += 1;
                    self.w.skip(tag.wire, end)?;
                }
                (ATTR_SPARSE_TENSOR | ATTR_SPARSE_TENSORS, WireType::Len) => {
                    a.sparse += 1;
                    self.w.skip(tag.wire, end)?;
                }
                (
                    ATTR_NAME | ATTR_F | ATTR_I | ATTR_S | ATTR_T | ATTR_G | ATTR_FLOATS
                    | ATTR_INTS | ATTR_STRINGS | ATTR_TENSORS | ATTR_GRAPHS | ATTR_SPARSE_TENSOR
                    | ATTR_SPARSE_TENSORS,
                    _,
                ) => return Err(wrong_wire("AttributeProto", tag)),
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        Ok(a)
    }

    /// An `AttributeProto` of node `node`: recurse into graphs, extract Constant values.
    fn attribute(
        &mut self,
        end: u64,
        node: &NodeInfo,
        scope: &str,
        depth: u64,
    ) -> Result<(), LoadError> {
        let start = self.w.pos();
        let a = self.attribute_info(end)?;

        // Subgraphs.
        if a.g.is_some() || a.graphs > 0 {
            let label = node.label()?;
            if depth >= self.max_depth {
                return Err(LoadError::limit(format!(
                    "subgraphs nested deeper than {} levels (node '{label}', attribute '{}')",
                    self.max_depth, a.name
                )));
            }
            let base = format!("{scope}{label}/{}/", a.name);
            if let Some((s, e)) = a.g {
                self.w.seek(s)?;
                self.graph(e, &base, depth + 1, false)?;
            }
            if a.graphs > 0 {
                self.w.seek(start)?;
                let mut k = 0u64;
                while self.w.pos() < end {
                    let tag = self.w.tag(end)?;
                    if tag.field == ATTR_GRAPHS {
                        let sub = self.w.len_delimited(end)?;
                        self.graph(sub, &format!("{base}{k}/"), depth + 1, false)?;
                        k += 1;
                    } else {
                        self.w.skip(tag.wire, end)?;
                    }
                }
            }
        }

        if node.is_constant {
            self.constant(&a, start, end, node, scope)?;
        } else if a.t.is_some() || a.tensors > 0 {
            self.skipped_attribute_tensors += 1;
        }
        self.w.seek(end)
    }

    /// The value of a `Constant` node, carried by attribute `a` (range `start..end`).
    fn constant(
        &mut self,
        a: &AttrInfo,
        start: u64,
        end: u64,
        node: &NodeInfo,
        scope: &str,
    ) -> Result<(), LoadError> {
        let name = format!("{scope}{}", node.constant_name()?);
        match a.name.as_str() {
            "value" => {
                let Some((s, e)) = a.t else {
                    return Err(LoadError::malformed(format!(
                        "Constant '{name}': attribute 'value' has no tensor"
                    )));
                };
                self.w.seek(s)?;
                let msg: TensorMsg = self.tensor_msg(e)?;
                self.add_tensor(&msg, name, "Constant")
            }
            "value_float" => {
                let Some(bits) = a.f else {
                    return Err(LoadError::malformed(format!(
                        "Constant '{name}': attribute 'value_float' has no float"
                    )));
                };
                self.scalar(name, Dtype::F32, &bits.to_le_bytes())
            }
            "value_int" => {
                let Some(v) = a.i else {
                    return Err(LoadError::malformed(format!(
                        "Constant '{name}': attribute 'value_int' has no int"
                    )));
                };
                self.scalar(name, Dtype::I64, &v.to_le_bytes())
            }
            "value_floats" | "value_ints" => {
                self.check_new_name(&name)?;
                let (field, kind, dtype, present) = if a.name == "value_floats" {
                    (ATTR_FLOATS, Kind::F32Bits, Dtype::F32, a.has_floats)
                } else {
                    (ATTR_INTS, Kind::I64, Dtype::I64, a.has_ints)
                };
                let (storage, count) = if present {
                    self.decode_typed(start, end, field, kind, None, &name)?
                } else {
                    // An empty list: protobuf writes nothing for it.
                    (super::typed::empty_output(), 0)
                };
                let desc =
                    TensorDesc::contiguous(name, dtype, vec![count], ByteOrder::Little, storage);
                self.push_tensor(desc)
            }
            "value_string" | "value_strings" => {
                self.warn(format!("Constant '{name}' holds strings; skipped"));
                Ok(())
            }
            "sparse_value" => Err(LoadError::unsupported(format!(
                "Constant '{name}' has a sparse_value (sparse tensors are not supported)"
            ))),
            other => {
                if a.sparse > 0 {
                    return Err(LoadError::unsupported(format!(
                        "Constant '{name}' has a sparse tensor attribute '{other}' (sparse tensors are not supported)"
                    )));
                }
                self.warn(format!(
                    "Constant '{name}' has an unexpected attribute '{other}'; ignored"
                ));
                Ok(())
            }
        }
    }

    /// A scalar (shape `[]`) whose little-endian bytes are `bytes`, written to the output.
    fn scalar(&mut self, name: String, dtype: Dtype, bytes: &[u8]) -> Result<(), LoadError> {
        self.check_new_name(&name)?;
        let storage = super::typed::write_all(self.w.host(), bytes)?;
        let desc = TensorDesc::contiguous(name, dtype, Vec::new(), ByteOrder::Little, storage);
        self.push_tensor(desc)
    }
}
