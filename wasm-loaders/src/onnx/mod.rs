//! ONNX loader (format id `onnx`).
//!
//! Reads a serialised `onnx.ModelProto` with a small hand-written protobuf reader
//! ([`wire`]) that pulls bytes through the [`Host`] instead of holding the model in memory,
//! so models larger than guest memory (2 GB protobufs exist) parse in a bounded window.
//!
//! What becomes a tensor:
//! - every `GraphProto.initializer` of the main graph, named by its `TensorProto.name`;
//! - every `Constant` node (`value`, `value_float(s)`, `value_int(s)`), named by its first
//!   output (else the node name, else `Constant_<index>`);
//! - the same inside subgraphs (`GraphProto`-valued attributes of any node, e.g. `If`,
//!   `Loop`, `Scan`), recursively up to [`MAX_SUBGRAPH_DEPTH`] levels (or
//!   `limits.max_depth` if smaller), and inside model-local functions. Subgraph tensors
//!   are named `<node>/<attribute>/<name>` (node = its name, else `<op_type>_<index>`;
//!   `GRAPHS` lists add `/<k>`), functions `functions/<function>/<name>`: sibling subgraphs
//!   may reuse value names, the prefix keeps them apart. A name that still repeats is
//!   refused as malformed.
//!
//! Tensor data: `raw_data` and external data are described in place (input or external
//! source, little-endian); typed fields (`float_data`, `int32_data`, `int64_data`,
//! `double_data`, `uint64_data`, packed or not) are decoded and written to the output
//! buffer. `string_data` tensors are skipped with a warning; sparse tensors, complex,
//! 4-bit, 2-bit, FNUZ and other exotic element types are refused as unsupported.
//! External data locations are screened here (absolute, `..`, backslash, NUL, control
//! characters → refused) and then opened through the host, which applies the real path
//! policy.

mod external;
mod graph;
mod tensor;
mod typed;
mod wire;

use std::collections::{BTreeMap, BTreeSet};

use crate::host::Host;
use crate::result::{LoadError, LoadResult, Options, TensorDesc};
use wire::Wire;

/// The format id.
pub const FORMAT: &str = "onnx";
/// Deepest subgraph nesting followed (the effective limit is the smaller of this and
/// `limits.max_depth`). Keeps the loader's recursion far from the guest's stack size.
pub const MAX_SUBGRAPH_DEPTH: u64 = 64;
/// Longest tensor name accepted, in bytes (the ABI's limit).
pub const MAX_NAME_BYTES: usize = 1024;
/// Most dimensions a tensor may have (the ABI's limit).
pub const MAX_DIMS: usize = 16;
/// Longest short string read (op types, domains, attribute names, external-data keys
/// and locations), in bytes.
const MAX_SHORT_STRING: usize = 4096;
/// Most `metadata_props` entries copied into the metadata.
const MAX_METADATA_PROPS: usize = 1000;
/// Longest metadata value copied; longer values are truncated (marked).
const MAX_METADATA_VALUE: usize = 16 * 1024;
/// Most metadata entries the loader produces.
const MAX_METADATA_ENTRIES: usize = 5000;
/// Most warnings kept; further ones are counted.
const MAX_WARNINGS: usize = 200;
/// Most distinct external data files opened.
const MAX_EXTERNAL_FILES: usize = 4096;

/// Parse an ONNX model from source 0 of `host`.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let depth = options.limits.max_depth.min(MAX_SUBGRAPH_DEPTH);
    let mut loader = Loader {
        w: Wire::new(host, 0).map_err(|e| e.with_format(FORMAT))?,
        result: LoadResult {
            format: FORMAT.to_string(),
            ..LoadResult::default()
        },
        names: BTreeSet::new(),
        max_tensors: options.limits.max_tensors,
        max_depth: depth,
        externals: BTreeMap::new(),
        dropped_warnings: 0,
        skipped_attribute_tensors: 0,
    };
    loader.model().map_err(|e| e.with_format(FORMAT))?;
    loader.finish();
    Ok(loader.result)
}

/// Parsing state shared by the graph walker and the tensor decoders.
pub(crate) struct Loader<'h> {
    /// The protobuf reader over the input.
    w: Wire<'h>,
    /// What has been found so far.
    result: LoadResult,
    /// Tensor names already used.
    names: BTreeSet<String>,
    /// `limits.max_tensors`.
    max_tensors: u64,
    /// Effective subgraph depth limit.
    max_depth: u64,
    /// External data files already opened: location → source id.
    externals: BTreeMap<String, u32>,
    /// Warnings not kept because of [`MAX_WARNINGS`].
    dropped_warnings: u64,
    /// Tensor-valued attributes of non-Constant nodes (not extracted).
    skipped_attribute_tensors: u64,
}

impl Loader<'_> {
    /// Record a warning (bounded).
    fn warn(&mut self, message: String) {
        if self.result.warnings.len() < MAX_WARNINGS {
            self.result.warnings.push(message);
        } else {
            self.dropped_warnings += 1;
        }
    }

    /// Record a metadata entry (bounded; later duplicates of a key overwrite).
    fn meta(&mut self, key: String, value: String) {
        if self.result.metadata.len() < MAX_METADATA_ENTRIES
            || self.result.metadata.contains_key(&key)
        {
            self.result.metadata.insert(key, value);
        }
    }

    /// Add a tensor after checking its name and the tensor limit.
    fn push_tensor(&mut self, desc: TensorDesc) -> Result<(), LoadError> {
        check_name(&desc.name)?;
        if self.result.tensors.len() as u64 >= self.max_tensors {
            return Err(LoadError::limit(format!(
                "more than max_tensors = {} tensors",
                self.max_tensors
            )));
        }
        if !self.names.insert(desc.name.clone()) {
            return Err(LoadError::malformed(format!(
                "duplicate tensor name '{}'",
                desc.name
            )));
        }
        self.result.tensors.push(desc);
        Ok(())
    }

    /// Reserve a tensor name before its data is decoded (so duplicates fail before any
    /// output is written).
    fn check_new_name(&self, name: &str) -> Result<(), LoadError> {
        check_name(name)?;
        if self.names.contains(name) {
            return Err(LoadError::malformed(format!(
                "duplicate tensor name '{name}'"
            )));
        }
        if self.result.tensors.len() as u64 >= self.max_tensors {
            return Err(LoadError::limit(format!(
                "more than max_tensors = {} tensors",
                self.max_tensors
            )));
        }
        Ok(())
    }

    /// Final notes.
    fn finish(&mut self) {
        if self.skipped_attribute_tensors > 0 {
            let n = self.skipped_attribute_tensors;
            self.warn(format!(
                "{n} tensor-valued attribute(s) of non-Constant nodes (e.g. ConstantOfShape.value) were not extracted"
            ));
        }
        if self.dropped_warnings > 0 {
            let n = self.dropped_warnings;
            self.result
                .warnings
                .push(format!("{n} further warning(s) suppressed"));
        }
    }

    /// Read a UTF-8 string payload ending at `sub_end` of at most `max` bytes; longer or
    /// invalid strings are errors naming `what`.
    fn string(&mut self, sub_end: u64, max: usize, what: &str) -> Result<String, LoadError> {
        let (bytes, total) = self.w.prefix(sub_end, max)?;
        if total > max as u64 {
            return Err(LoadError::limit(format!(
                "{what} is {total} bytes long (limit {max})"
            )));
        }
        String::from_utf8(bytes).map_err(|_| LoadError::malformed(format!("{what} is not UTF-8")))
    }

    /// Like [`Loader::string`], but a too-long or non-UTF-8 string is returned as an inner
    /// error to be raised only if the string is actually used (node names and outputs
    /// matter only when they name a tensor or a subgraph scope).
    fn lazy_string(
        &mut self,
        sub_end: u64,
        max: usize,
        what: &str,
    ) -> Result<Result<String, LoadError>, LoadError> {
        let (bytes, total) = self.w.prefix(sub_end, max)?;
        if total > max as u64 {
            return Ok(Err(LoadError::limit(format!(
                "{what} is {total} bytes long (limit {max})"
            ))));
        }
        Ok(String::from_utf8(bytes)
            .map_err(|_| LoadError::malformed(format!("{what} is not UTF-8"))))
    }

    /// Read a string payload for the report: lossy UTF-8, truncated to `max` bytes (the
    /// truncation is marked).
    fn text(&mut self, sub_end: u64, max: usize) -> Result<String, LoadError> {
        let (bytes, total) = self.w.prefix(sub_end, max)?;
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        if total > max as u64 {
            s.push_str(&format!("…[truncated, {total} bytes]"));
        }
        Ok(s)
    }
}

/// Check a tensor name against the ABI's rules: non-empty, at most [`MAX_NAME_BYTES`],
/// no control characters.
fn check_name(name: &str) -> Result<(), LoadError> {
    if name.is_empty() {
        return Err(LoadError::malformed("empty tensor name"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(LoadError::limit(format!(
            "tensor name of {} bytes exceeds {MAX_NAME_BYTES} bytes: '{}…'",
            name.len(),
            name.chars().take(64).collect::<String>()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(LoadError::malformed(format!(
            "tensor name {name:?} contains control characters"
        )));
    }
    Ok(())
}
