//! HDF5 reader (own code, the subset h5py and Keras write) and the loader for plain HDF5
//! files. Every dataset with a numeric type becomes a tensor named by its path with `.`
//! between link names (`group.sub.dataset`).
//!
//! Supported: superblock v0–v3 (with a user block), object header v1/v2 with
//! continuations, symbol-table groups, compact and dense link storage, compact /
//! contiguous / chunked layouts with B-tree v1, single chunk, implicit, fixed array,
//! extensible array and B-tree v2 chunk indexes, the deflate / shuffle / Fletcher-32 / LZF
//! filters, integers and IEEE floats of every size and byte order, h5py booleans, fixed
//! and variable-length string attributes, compact and dense attribute storage, committed
//! datatypes. Everything read from the file is bounds-checked against the file size;
//! counts, depth and decoded bytes are bounded by `Options.limits`.

mod attrs;
mod btree_v1;
mod btree_v2;
mod checksum;
mod chunk_index;
mod dataset;
mod extensible_array;
mod file;
mod filters;
mod fixed_array;
mod fractal_heap;
mod group;
mod heaps;
mod io;
mod messages;
mod object_header;
mod superblock;
mod walk;

use std::collections::BTreeSet;

pub use attrs::AttrValue;
pub use file::H5;
pub use io::Backing;
pub use walk::{Node, NodeKind};

use crate::host::Host;
use crate::result::{LoadError, LoadResult, Options};
use io::R;

/// Format id of plain HDF5 files.
pub const FORMAT: &str = "hdf5";

/// Longest tensor name (the ABI's limit).
const MAX_NAME_BYTES: usize = 1024;
/// Most metadata entries taken from attributes of a plain HDF5 file.
const MAX_METADATA: usize = 1000;
/// Longest attribute string copied into metadata.
const MAX_METADATA_VALUE: usize = 4096;
/// Most elements of an attribute copied into metadata.
const MAX_METADATA_ELEMENTS: usize = 16;

/// Whether the input holds the HDF5 signature at 0 or after a user block (512, 1024, …).
pub fn is_hdf5(host: &mut dyn Host) -> Result<bool, LoadError> {
    let len = host.input_len()?;
    let mut src = io::Source::new(host, Backing::Input { start: 0, len })?;
    Ok(superblock::find(&mut src)?.is_some())
}

/// Loads an HDF5 input: a Keras model or weights file (`keras-h5`) or a plain HDF5 file
/// (`hdf5`).
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let len = host.input_len()?;
    let mut h5 = H5::open(host, Backing::Input { start: 0, len }, &options.limits)?;
    let nodes = h5.nodes()?;
    if crate::keras::is_keras_h5(&mut h5, &nodes)? {
        return crate::keras::load_h5(&mut h5, &nodes, options);
    }
    load_plain(&mut h5, &nodes, options).map_err(|e| e.with_format(FORMAT))
}

fn load_plain(h5: &mut H5<'_>, nodes: &[Node], options: &Options) -> R<LoadResult> {
    let mut result = LoadResult {
        format: FORMAT.into(),
        ..Default::default()
    };
    h5.extract_all(nodes, options, &mut result)?;
    for node in nodes {
        if result.metadata.len() >= MAX_METADATA {
            h5.warn(format!(
                "more than {MAX_METADATA} attributes; the rest are not in the metadata"
            ));
            break;
        }
        let attributes = match h5.attributes(node) {
            Ok(a) => a,
            Err(e) if e.kind == crate::result::ErrorKind::Limit => return Err(e),
            Err(e) => {
                h5.warn(format!(
                    "attributes of /{} not read: {}",
                    node.path.join("/"),
                    e.message
                ));
                continue;
            }
        };
        for (name, value) in attributes {
            let mut key = node.path.join(".");
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(&name);
            if let Some(v) = metadata_value(&value)
                && result.metadata.len() < MAX_METADATA
            {
                result.metadata.insert(key, v);
            }
        }
    }
    result.warnings.extend(h5.take_warnings());
    Ok(result)
}

/// A short string form of a small attribute value, or `None` if it is too big or opaque.
fn metadata_value(v: &AttrValue) -> Option<String> {
    let join = |items: Vec<String>| -> Option<String> {
        if items.len() > MAX_METADATA_ELEMENTS {
            return None;
        }
        let s = if items.len() == 1 {
            items.into_iter().next().unwrap_or_default()
        } else {
            format!("[{}]", items.join(", "))
        };
        (s.len() <= MAX_METADATA_VALUE).then_some(s)
    };
    match v {
        AttrValue::Strings(s) => join(s.clone()),
        AttrValue::Ints(i) => join(i.iter().map(|x| x.to_string()).collect()),
        AttrValue::Floats(f) => join(f.iter().map(|x| x.to_string()).collect()),
        AttrValue::Other(_) => None,
    }
}

impl<'h> H5<'h> {
    /// Every object reachable from the root through hard links (see [`walk`]).
    pub fn nodes(&mut self) -> Result<Vec<Node>, LoadError> {
        walk::walk(self)
    }

    /// The attributes of `node`, decoded.
    pub fn attributes(&mut self, node: &Node) -> Result<Vec<(String, AttrValue)>, LoadError> {
        let raw = attrs::raw_attributes(self, &node.header)?;
        let mut heaps = std::mem::take(&mut self.global_heaps);
        let mut out = Vec::with_capacity(raw.len());
        let mut res = Ok(());
        for a in raw {
            match attrs::decode(self, &mut heaps, &a) {
                Ok(v) => out.push((a.name, v)),
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        self.global_heaps = heaps;
        res.map(|()| out)
    }

    /// The names of `node`'s attributes (values not decoded).
    pub fn attribute_names(&mut self, node: &Node) -> Result<Vec<String>, LoadError> {
        Ok(attrs::raw_attributes(self, &node.header)?
            .into_iter()
            .map(|a| a.name)
            .collect())
    }

    /// The attribute `name` of `node`, if present.
    pub fn attribute(&mut self, node: &Node, name: &str) -> Result<Option<AttrValue>, LoadError> {
        Ok(self
            .attributes(node)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v))
    }

    /// Describes every numeric dataset in `nodes` as a tensor named by its path joined
    /// with `.`, appending to `result` (non-numeric datasets become warnings).
    pub fn extract_all(
        &mut self,
        nodes: &[Node],
        options: &Options,
        result: &mut LoadResult,
    ) -> Result<(), LoadError> {
        let mut names: BTreeSet<String> = result.tensors.iter().map(|t| t.name.clone()).collect();
        for node in nodes.iter().filter(|n| n.kind == NodeKind::Dataset) {
            let name = tensor_name(&node.path)?;
            if !names.insert(name.clone()) {
                return Err(io::malformed(format!(
                    "two datasets map to the tensor name {name:?}"
                )));
            }
            let info = dataset::info(self, &node.header).map_err(|e| prefix(e, &name))?;
            match dataset::extract(self, &name, &info).map_err(|e| prefix(e, &name))? {
                Ok(t) => {
                    if result.tensors.len() as u64 >= options.limits.max_tensors {
                        return Err(io::limit(format!(
                            "limits.max_tensors ({}) exceeded",
                            options.limits.max_tensors
                        )));
                    }
                    result.tensors.push(t);
                }
                Err(dataset::Skip(why)) => self.warn(why),
            }
        }
        Ok(())
    }
}

/// Adds the dataset name to an error that lacks it.
fn prefix(mut e: LoadError, name: &str) -> LoadError {
    if !e.message.contains(name) {
        e.message = format!("dataset {name}: {}", e.message);
    }
    e
}

/// The tensor name of a dataset path: link names joined with `.`.
fn tensor_name(path: &[String]) -> R<String> {
    let name = path.join(".");
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(io::malformed(format!(
            "dataset path {:?} is not a valid tensor name (empty, over {MAX_NAME_BYTES} bytes or with control characters)",
            path.join("/")
        )));
    }
    Ok(name)
}
