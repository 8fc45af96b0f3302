//! What the caller asks of an import: format, policy switch, limits.

use serde::Serialize;

use crate::sandbox::SandboxLimits;

/// The format ids a user may ask for (besides `auto`), as in `docs/sandbox-abi.md`.
pub const FORMAT_IDS: &[&str] = &[
    "pickle",
    "pytorch-zip",
    "pytorch-legacy",
    "pytorch-tar",
    "npy",
    "npz",
    "joblib",
    "safetensors",
    "keras",
    "keras-h5",
    "hdf5",
    "onnx",
    "gguf",
];

/// Limits the loaders enforce themselves while parsing (sent to the guest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoaderLimits {
    /// Maximum nesting depth.
    pub max_depth: u64,
    /// Maximum pickle memo entries.
    pub max_memo: u64,
    /// Maximum objects built while parsing.
    pub max_objects: u64,
    /// Maximum bytes produced by decompression.
    pub max_decompressed: u64,
}

/// Default nesting depth the loaders accept.
pub const DEFAULT_MAX_DEPTH: u64 = 1000;
/// Default pickle memo size.
pub const DEFAULT_MAX_MEMO: u64 = 1_000_000;
/// Default objects per parse.
pub const DEFAULT_MAX_OBJECTS: u64 = 10_000_000;
/// Default decompressed bytes: 4 GiB.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 4 << 30;

impl Default for LoaderLimits {
    fn default() -> Self {
        LoaderLimits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_memo: DEFAULT_MAX_MEMO,
            max_objects: DEFAULT_MAX_OBJECTS,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// Options of [`import`](super::import) and [`inspect_model`](super::inspect_model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// A format id from [`FORMAT_IDS`], or `None` to detect it from the content.
    pub format: Option<String>,
    /// Import tensors held by objects of unknown but not dangerous classes.
    pub allow_unknown_classes: bool,
    /// Decode the quantized types a loader can (GGUF `Q8_0`, `Q4_0`) to F32 instead of
    /// keeping their raw blocks.
    pub dequantize: bool,
    /// Sandbox and output limits.
    pub limits: SandboxLimits,
    /// Parser limits passed to the loaders.
    pub loader: LoaderLimits,
    /// Told how many bytes of tensor data were just written (for progress bars).
    pub progress: Option<Progress>,
}

/// A progress callback: called with the number of bytes just processed.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

impl PartialEq for Progress {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Progress {}

impl ImportOptions {
    /// The options JSON for the guest, with `format` as given (already checked).
    pub(crate) fn guest_json(&self, format: &str, file_name: &str) -> Vec<u8> {
        let value = serde_json::json!({
            "format": format,
            "file_name": file_name,
            "allow_unknown_classes": self.allow_unknown_classes,
            "dequantize": self.dequantize,
            "limits": {
                "max_depth": self.loader.max_depth,
                "max_memo": self.loader.max_memo,
                "max_objects": self.loader.max_objects,
                "max_tensors": self.limits.max_tensors,
                "max_decompressed": self.loader.max_decompressed.min(self.limits.max_output),
            },
        });
        // Serialising a `Value` built from strings, bools and integers cannot fail.
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

/// Check a user-supplied format id; `None` or `"auto"` means detection.
pub fn check_format(format: Option<&str>) -> Result<&str, super::ImportError> {
    match format {
        None | Some("auto") => Ok("auto"),
        Some(f) if FORMAT_IDS.contains(&f) => Ok(f),
        Some(f) => Err(super::ImportError::UnknownFormat(f.to_string())),
    }
}
