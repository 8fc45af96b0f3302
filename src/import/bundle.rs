//! Importing straight into a signed bundle: the safetensors file plus an import record
//! (`import-record.json`: source SHA-256, detected format, loader module SHA-256, limits,
//! report), signed with the bundle code of `crate::bundle`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::bundle::{SignOptions, SignSummary, sign};
use crate::keys::SecretKey;

use super::error::ImportError;
use super::options::{ImportOptions, LoaderLimits};
use super::pipeline::{ImportOutcome, import, import_with_test_hook};
use super::report::Report;

/// Name of the safetensors file inside the bundle.
pub const MODEL_FILE: &str = "model.safetensors";
/// Name of the import record inside the bundle.
pub const RECORD_FILE: &str = "import-record.json";
/// Version of the import record layout.
pub const RECORD_VERSION: u32 = 1;

/// The limits an import ran under, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedLimits {
    /// Guest memory in bytes.
    pub max_memory: u64,
    /// Time limit in milliseconds.
    pub timeout_ms: u128,
    /// Output limit in bytes.
    pub max_output: u64,
    /// Tensor count limit.
    pub max_tensors: u64,
    /// Result JSON limit in bytes.
    pub max_result_json: u64,
    /// External files limit.
    pub max_external_files: u32,
    /// Wasm stack of the loader in bytes.
    pub max_wasm_stack: u64,
    /// Parser limits.
    pub loader: LoaderLimits,
}

/// The import record stored next to the model in the bundle.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRecord {
    /// [`RECORD_VERSION`].
    pub record_version: u32,
    /// `modelseal <version>`.
    pub tool: String,
    /// Input file name (base name only).
    pub source_file: String,
    /// Input size.
    pub source_bytes: u64,
    /// Input SHA-256.
    pub source_sha256: String,
    /// Detected format.
    pub format: String,
    /// SHA-256 of the loader module that parsed the input.
    pub loader_sha256: String,
    /// Whether unknown classes were allowed.
    pub allow_unknown_classes: bool,
    /// Whether quantized types were decoded.
    pub dequantize: bool,
    /// Limits in force.
    pub limits: RecordedLimits,
    /// The model file in the bundle.
    pub model_file: String,
    /// The full report.
    pub report: Report,
}

impl ImportRecord {
    /// The record of `outcome`, imported from `src` with `options`.
    pub fn new(src: &Path, options: &ImportOptions, outcome: &ImportOutcome) -> ImportRecord {
        let report = &outcome.report;
        let l = &options.limits;
        ImportRecord {
            record_version: RECORD_VERSION,
            tool: format!("modelseal {}", env!("CARGO_PKG_VERSION")),
            source_file: src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            source_bytes: report.source_bytes,
            source_sha256: report.source_sha256.clone(),
            format: report.format.clone(),
            loader_sha256: report.loader_sha256.clone(),
            allow_unknown_classes: options.allow_unknown_classes,
            dequantize: options.dequantize,
            limits: RecordedLimits {
                max_memory: l.max_memory,
                timeout_ms: l.timeout.as_millis(),
                max_output: l.max_output,
                max_tensors: l.max_tensors,
                max_result_json: l.max_result_json,
                max_external_files: l.max_external_files,
                max_wasm_stack: l.max_wasm_stack,
                loader: options.loader.clone(),
            },
            model_file: MODEL_FILE.to_string(),
            report: report.clone(),
        }
    }
}

/// Bundle name derived from the input file name: its stem with every character outside
/// `[A-Za-z0-9._+-]` replaced by `-` (and a leading non-alphanumeric replaced by `m`).
pub fn default_bundle_name(src: &Path) -> String {
    let stem = src
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = stem
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name.insert(0, 'm');
    }
    name
}

/// Import `src` and sign the result into the bundle `out` with `key`.
/// `sign_options` gives name, version, metadata; an `import` entry (format, source and
/// loader SHA-256) is added to its metadata. Nothing is left at `out` on failure.
pub fn import_to_bundle(
    src: &Path,
    out: &Path,
    options: &ImportOptions,
    key: &SecretKey,
    sign_options: SignOptions,
) -> Result<(ImportOutcome, SignSummary), ImportError> {
    bundle_with(src, out, options, key, sign_options, |model| {
        import(src, model, options)
    })
}

/// Test-only: [`import_to_bundle`] through a `__test_*` hook of the guest.
#[doc(hidden)]
pub fn import_to_bundle_with_test_hook(
    src: &Path,
    out: &Path,
    options: &ImportOptions,
    key: &SecretKey,
    sign_options: SignOptions,
    hook: &str,
) -> Result<(ImportOutcome, SignSummary), ImportError> {
    bundle_with(src, out, options, key, sign_options, |model| {
        import_with_test_hook(src, model, options, hook)
    })
}

fn bundle_with(
    src: &Path,
    out: &Path,
    options: &ImportOptions,
    key: &SecretKey,
    mut sign_options: SignOptions,
    import_to: impl FnOnce(&Path) -> Result<ImportOutcome, ImportError>,
) -> Result<(ImportOutcome, SignSummary), ImportError> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io {
            action,
            path,
            source,
        }
    };
    let staging = tempfile::Builder::new()
        .prefix(".modelseal-import-")
        .tempdir_in(&dir)
        .map_err(io("creating a staging directory in", &dir))?;
    let model = staging.path().join(MODEL_FILE);
    let outcome = import_to(&model)?;
    let record = ImportRecord::new(src, options, &outcome);
    let record_path = staging.path().join(RECORD_FILE);
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| ImportError::Bundle(format!("cannot encode the import record: {e}")))?;
    std::fs::write(&record_path, json).map_err(io("writing", &record_path))?;

    let mut entry = Map::new();
    entry.insert("format".into(), Value::String(record.format.clone()));
    entry.insert(
        "source_file".into(),
        Value::String(record.source_file.clone()),
    );
    entry.insert(
        "source_sha256".into(),
        Value::String(record.source_sha256.clone()),
    );
    entry.insert(
        "loader_sha256".into(),
        Value::String(record.loader_sha256.clone()),
    );
    entry.insert("record".into(), Value::String(RECORD_FILE.into()));
    sign_options
        .metadata
        .insert("modelseal_import".into(), Value::Object(entry));
    let summary = sign(&[staging.path().to_path_buf()], key, out, &sign_options)
        .map_err(|e| ImportError::Bundle(e.to_string()))?;
    Ok((outcome, summary))
}
