//! Keras models and weights:
//! - `.keras` archives (format id `keras`): a zip with `config.json`, `metadata.json` and
//!   `model.weights.h5` (or `model.weights.npz`);
//! - legacy HDF5 files (format id `keras-h5`): whole models saved with `model.save("x.h5")`
//!   (`model_config` attribute, weights under `model_weights/<layer>/…` listed by the
//!   `layer_names` / `weight_names` attributes, split into `layer_names0`, `layer_names1`…
//!   when large), weights saved with `save_weights` (the same layout at the root), and
//!   Keras 3 `.weights.h5` files (`layers/<layer>/vars/<i>`, `vars/…`).
//!
//! Tensor names are the HDF5 dataset paths with `.` between link names, exactly as stored:
//! `model_weights.dense.sequential.dense.kernel` (legacy model), `layers.dense.vars.0`
//! (Keras 3 weights). They are the same for the weights inside a `.keras` archive.
//!
//! The model configuration is scanned, never executed nor copied into the output (see
//! [`scan`]); dangerous content is refused. Metadata carries only the Keras version, the
//! backend, the model class and the layer count.

mod scan;

use std::collections::BTreeMap;

use crate::hdf5::{AttrValue, Backing, H5, Node, NodeKind};
use crate::host::Host;
use crate::result::{GlobalRef, LoadError, LoadResult, Options, Risk};
use crate::result::{Storage, StorageSource};
use crate::zip::{METHOD_STORED, ZipArchive, ZipEntry};

/// Format id of `.keras` archives.
pub const FORMAT_ZIP: &str = "keras";
/// Format id of legacy Keras HDF5 models and weights files.
pub const FORMAT_H5: &str = "keras-h5";

/// Largest `metadata.json` read.
const MAX_METADATA_JSON: u64 = 1 << 20;
/// Largest deflated `model.weights.h5` (or `.npz`) inflated into memory.
const MAX_INFLATED_WEIGHTS: u64 = 1 << 30;
/// Most findings quoted in a refusal message.
const MAX_QUOTED_FINDINGS: usize = 8;
/// Longest metadata value copied from the file.
const MAX_FACT_LEN: usize = 64;

/// Whether the archive's members make it a `.keras` model.
pub fn is_keras_zip(zip: &ZipArchive) -> bool {
    zip.find("config.json").is_some()
        && (zip.find("model.weights.h5").is_some() || zip.find("model.weights.npz").is_some())
}

/// Whether an opened HDF5 file is a Keras model or weights file.
pub(crate) fn is_keras_h5(h5: &mut H5<'_>, nodes: &[Node]) -> Result<bool, LoadError> {
    let Some(root) = nodes.first() else {
        return Ok(false);
    };
    for name in h5.attribute_names(root)? {
        if matches!(
            name.as_str(),
            "keras_version" | "model_config" | "layer_names" | "layer_names0" | "backend"
        ) {
            return Ok(true);
        }
    }
    let top = |n: &str| {
        nodes
            .iter()
            .any(|x| x.kind == NodeKind::Group && x.path.len() == 1 && x.path[0] == n)
    };
    Ok(top("model_weights") || (top("layers") && top("vars")))
}

/// Loads a legacy Keras HDF5 file (or Keras 3 weights file) already opened as `h5`.
pub(crate) fn load_h5(
    h5: &mut H5<'_>,
    nodes: &[Node],
    options: &Options,
) -> Result<LoadResult, LoadError> {
    inner_h5(h5, nodes, options).map_err(|mut e| {
        e.format = Some(FORMAT_H5.into());
        e
    })
}

fn inner_h5(h5: &mut H5<'_>, nodes: &[Node], options: &Options) -> Result<LoadResult, LoadError> {
    let mut result = LoadResult {
        format: FORMAT_H5.into(),
        ..Default::default()
    };
    let root = nodes
        .first()
        .ok_or_else(|| LoadError::malformed("HDF5 file without a root group"))?;
    let root_attrs: BTreeMap<String, AttrValue> = h5.attributes(root)?.into_iter().collect();
    for key in ["model_config", "training_config"] {
        if let Some(v) = root_attrs.get(key) {
            let text = single_string(v)
                .ok_or_else(|| LoadError::malformed(format!("attribute {key} is not a string")))?;
            let report = scan::scan(text.as_bytes(), key)?;
            apply_scan(&report, key, options, &mut result)?;
            if key == "model_config" {
                put_fact(&mut result, "model_class", report.model_class.as_deref());
                if let Some(n) = report.layer_count {
                    result.metadata.insert("layer_count".into(), n.to_string());
                }
            }
        }
    }
    put_fact(
        &mut result,
        "keras_version",
        root_attrs
            .get("keras_version")
            .and_then(single_string)
            .as_deref(),
    );
    put_fact(
        &mut result,
        "backend",
        root_attrs.get("backend").and_then(single_string).as_deref(),
    );

    // Legacy layout: check that every weight Keras would load is there.
    let weights_root: Vec<String> = if nodes
        .iter()
        .any(|n| n.kind == NodeKind::Group && n.path == ["model_weights"])
    {
        vec!["model_weights".into()]
    } else {
        Vec::new()
    };
    check_legacy_names(h5, nodes, &weights_root, &mut result)?;

    h5.extract_all(nodes, options, &mut result)?;
    result.warnings.extend(h5.take_warnings());
    Ok(result)
}

/// Reads `layer_names` / `weight_names` (split or not) and warns about listed weights that
/// are missing.
fn check_legacy_names(
    h5: &mut H5<'_>,
    nodes: &[Node],
    weights_root: &[String],
    result: &mut LoadResult,
) -> Result<(), LoadError> {
    let Some(wr) = nodes.iter().find(|n| n.path == weights_root) else {
        return Ok(());
    };
    let Some(layers) = split_attribute(h5, wr, "layer_names")? else {
        return Ok(());
    };
    if !result.metadata.contains_key("layer_count") {
        result
            .metadata
            .insert("layer_count".into(), layers.len().to_string());
    }
    for layer in &layers {
        let mut lpath = weights_root.to_vec();
        lpath.push(layer.clone());
        let Some(lnode) = nodes.iter().find(|n| n.path == lpath) else {
            result.warnings.push(format!(
                "layer_names lists {layer:?} but the file has no such group"
            ));
            continue;
        };
        let weights = split_attribute(h5, lnode, "weight_names")?.unwrap_or_default();
        for w in weights {
            let mut wpath = lpath.clone();
            wpath.extend(w.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
            if !nodes
                .iter()
                .any(|n| n.kind == NodeKind::Dataset && n.path == wpath)
            {
                result.warnings.push(format!(
                    "layer {layer:?} lists weight {w:?} but the file has no such dataset"
                ));
            }
        }
    }
    Ok(())
}

/// A string-list attribute saved by Keras, possibly split into `name0`, `name1`, ….
fn split_attribute(
    h5: &mut H5<'_>,
    node: &Node,
    name: &str,
) -> Result<Option<Vec<String>>, LoadError> {
    let attrs: BTreeMap<String, AttrValue> = h5.attributes(node)?.into_iter().collect();
    let strings = |v: &AttrValue| match v {
        AttrValue::Strings(s) => s.clone(),
        _ => Vec::new(),
    };
    if let Some(v) = attrs.get(name) {
        return Ok(Some(strings(v)));
    }
    let mut out = Vec::new();
    let mut found = false;
    for i in 0..attrs.len() {
        match attrs.get(&format!("{name}{i}")) {
            Some(v) => {
                found = true;
                out.extend(strings(v));
            }
            None => break,
        }
    }
    Ok(found.then_some(out))
}

/// The value of a scalar (or one-element) string attribute.
fn single_string(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::Strings(s) if s.len() == 1 => s.first().cloned(),
        _ => None,
    }
}

/// Records a short, printable fact in the metadata (dropped otherwise).
fn put_fact(result: &mut LoadResult, key: &str, value: Option<&str>) {
    if let Some(v) = value
        && !v.is_empty()
        && v.len() <= MAX_FACT_LEN
        && v.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    {
        result.metadata.insert(key.into(), v.into());
    }
}

/// Refuses dangerous configurations; records the references seen.
fn apply_scan(
    report: &scan::ScanReport,
    source: &str,
    options: &Options,
    result: &mut LoadResult,
) -> Result<(), LoadError> {
    let unknown = report.findings.iter().any(|f| f.risk == Risk::UnknownClass);
    if report.dangerous() || (unknown && !options.allow_unknown_classes) {
        let lines = report.lines();
        let mut msg = format!("Keras {source} refused: ");
        msg.push_str(
            &lines
                .iter()
                .take(MAX_QUOTED_FINDINGS)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
        );
        if lines.len() > MAX_QUOTED_FINDINGS {
            msg.push_str(&format!(
                " (and {} more)",
                lines.len() - MAX_QUOTED_FINDINGS
            ));
        }
        let mut err = LoadError::refused(msg);
        err.globals = report
            .globals
            .iter()
            .filter(|g| g.risk != Risk::Allowed)
            .cloned()
            .collect();
        for f in &report.findings {
            if f.risk != Risk::UnknownClass
                && !err.globals.iter().any(|g| g.name == f.what)
                && let Some(g) = finding_global(f)
            {
                err.globals.push(g);
            }
        }
        err.globals.sort();
        err.globals.dedup();
        return Err(err);
    }
    for line in report.lines() {
        result.warnings.push(format!("Keras {source}: {line}"));
    }
    for g in &report.globals {
        if !result.globals.contains(g) {
            result.globals.push(g.clone());
        }
    }
    Ok(())
}

/// A global for findings that name no module (Lambda layers, TFSMLayer).
fn finding_global(f: &scan::Finding) -> Option<GlobalRef> {
    let name = if f.what.starts_with("Lambda layer") {
        "keras.layers.Lambda"
    } else if f.what.starts_with("TFSMLayer") {
        "keras.layers.TFSMLayer"
    } else {
        return None;
    };
    Some(GlobalRef {
        name: name.into(),
        risk: f.risk,
    })
}

/// Loads a `.keras` archive from the input.
pub fn load_zip(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    inner_zip(host, options).map_err(|mut e| {
        e.format = Some(FORMAT_ZIP.into());
        e
    })
}

fn inner_zip(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let zip = ZipArchive::open(host, 0)?;
    let mut result = LoadResult {
        format: FORMAT_ZIP.into(),
        ..Default::default()
    };
    let config = zip
        .find("config.json")
        .ok_or_else(|| LoadError::malformed(".keras archive without config.json"))?;
    let text = zip.read(host, config, scan::MAX_CONFIG_BYTES as u64)?;
    let report = scan::scan(&text, "config.json")?;
    drop(text);
    apply_scan(&report, "config.json", options, &mut result)?;
    put_fact(&mut result, "model_class", report.model_class.as_deref());
    if let Some(n) = report.layer_count {
        result.metadata.insert("layer_count".into(), n.to_string());
    }
    if let Some(meta) = zip.find("metadata.json") {
        let bytes = zip.read(host, meta, MAX_METADATA_JSON)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| LoadError::malformed(format!("metadata.json is not valid JSON: {e}")))?;
        put_fact(
            &mut result,
            "keras_version",
            v.get("keras_version").and_then(|x| x.as_str()),
        );
    }
    for e in zip.entries() {
        if !matches!(
            e.name.as_str(),
            "config.json" | "metadata.json" | "model.weights.h5" | "model.weights.npz"
        ) {
            result
                .warnings
                .push(format!(".keras member {:?} ignored", e.name));
        }
    }
    if let Some(w) = zip.find("model.weights.h5").cloned() {
        let backing = if w.method == METHOD_STORED {
            // Stream the member once to check its CRC-32 (as Python's zipfile does when
            // Keras reads it); only one read chunk is held at a time.
            zip.stream(host, &w, w.size, &mut |_| Ok(()))?;
            Backing::Input {
                start: w.data_offset,
                len: w.size,
            }
        } else {
            let cap = MAX_INFLATED_WEIGHTS.min(options.limits.max_decompressed);
            Backing::Memory(zip.read(host, &w, cap)?)
        };
        let mut h5 = H5::open(host, backing, &options.limits)?;
        let nodes = h5.nodes()?;
        h5.extract_all(&nodes, options, &mut result)?;
        result.warnings.extend(h5.take_warnings());
    } else if let Some(w) = zip.find("model.weights.npz").cloned() {
        let inner = load_nested_npz(host, &zip, &w, options)?;
        for mut t in inner.tensors {
            // Same naming as the HDF5 weights: `layers/dense/vars/0` → `layers.dense.vars.0`.
            t.name = t.name.replace('/', ".");
            if result.tensors.iter().any(|x| x.name == t.name) {
                return Err(LoadError::malformed(format!(
                    "two npz members map to the tensor name {:?}",
                    t.name
                )));
            }
            result.tensors.push(t);
        }
        result.warnings.extend(inner.warnings);
    } else {
        return Err(LoadError::malformed(".keras archive without model weights"));
    }
    Ok(result)
}

/// Runs the npz loader on the `model.weights.npz` member: in place through a window of
/// the input when the member is stored, from memory when it is deflated. Tensors whose
/// storage is the npz's "input" are then pointed at the real input (window) or copied to
/// the output (memory).
fn load_nested_npz(
    host: &mut dyn Host,
    zip: &ZipArchive,
    w: &ZipEntry,
    options: &Options,
) -> Result<LoadResult, LoadError> {
    if w.method == METHOD_STORED {
        let mut window = SubHost {
            inner: &mut *host,
            bytes: Window::Input {
                start: w.data_offset,
                len: w.size,
            },
        };
        let mut r = crate::numpy::npz::load(&mut window, options)?;
        for t in &mut r.tensors {
            if t.storage.source == StorageSource::Input {
                t.storage.offset = t
                    .storage
                    .offset
                    .checked_add(w.data_offset)
                    .ok_or_else(|| LoadError::malformed("npz member offset overflows"))?;
            }
        }
        return Ok(r);
    }
    let cap = MAX_INFLATED_WEIGHTS.min(options.limits.max_decompressed);
    let data = zip.read(host, w, cap)?;
    let mut sub = SubHost {
        inner: &mut *host,
        bytes: Window::Memory(data),
    };
    let mut r = crate::numpy::npz::load(&mut sub, options)?;
    for t in &mut r.tensors {
        if t.storage.source == StorageSource::Input {
            let start = usize::try_from(t.storage.offset)
                .map_err(|_| LoadError::malformed("npz storage offset"))?;
            let end = usize::try_from(t.storage.length)
                .ok()
                .and_then(|n| start.checked_add(n))
                .ok_or_else(|| LoadError::malformed("npz storage length"))?;
            let Window::Memory(bytes) = &sub.bytes else {
                return Err(LoadError::malformed("npz window changed"));
            };
            let piece = bytes
                .get(start..end)
                .ok_or_else(|| LoadError::malformed("npz storage outside the member"))?
                .to_vec();
            let offset = sub.inner.write_output(&piece)?;
            t.storage = Storage {
                source: StorageSource::Output,
                offset,
                length: t.storage.length,
            };
        }
    }
    Ok(r)
}

/// What a [`SubHost`] presents as its source 0.
enum Window {
    /// `len` bytes of the real input from `start`.
    Input { start: u64, len: u64 },
    /// Bytes held in memory.
    Memory(Vec<u8>),
}

/// A host whose input is a window of the real input (or bytes in memory); output goes
/// to the real host's output; no external files.
struct SubHost<'a> {
    inner: &'a mut dyn Host,
    bytes: Window,
}

impl Host for SubHost<'_> {
    fn source_len(&self, source: u32) -> Result<u64, LoadError> {
        match (&self.bytes, source) {
            (Window::Input { len, .. }, 0) => Ok(*len),
            (Window::Memory(v), 0) => Ok(v.len() as u64),
            _ => Err(LoadError::malformed(format!("no source {source}"))),
        }
    }

    fn read_at(&mut self, source: u32, offset: u64, buf: &mut [u8]) -> Result<(), LoadError> {
        let total = self.source_len(source)?;
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= total)
            .ok_or_else(|| LoadError::malformed("read past the end of the npz member"))?;
        match &self.bytes {
            Window::Input { start, .. } => {
                let at = start
                    .checked_add(offset)
                    .ok_or_else(|| LoadError::malformed("npz member offset overflows"))?;
                self.inner.read_at(0, at, buf)
            }
            Window::Memory(v) => {
                let s = usize::try_from(offset).map_err(|_| LoadError::malformed("offset"))?;
                let e = usize::try_from(end).map_err(|_| LoadError::malformed("offset"))?;
                let src = v
                    .get(s..e)
                    .ok_or_else(|| LoadError::malformed("read past the end of the npz member"))?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    fn open_external(&mut self, name: &str) -> Result<u32, LoadError> {
        Err(LoadError::refused(format!(
            "a Keras weights archive cannot open external files ({name})"
        )))
    }

    fn write_output(&mut self, bytes: &[u8]) -> Result<u64, LoadError> {
        self.inner.write_output(bytes)
    }
}
