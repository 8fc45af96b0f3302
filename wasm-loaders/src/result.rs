//! The loader's answer: tensor descriptors and a report, serialised as the JSON described
//! in `docs/sandbox-abi.md`. The host re-validates every field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Element types, named as in safetensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs, non_camel_case_types)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    F8_E4M3,
    F8_E5M2,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    BOOL,
}

impl Dtype {
    /// Size of one element in bytes.
    pub fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::F8_E4M3 | Dtype::F8_E5M2 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => 1,
        }
    }
}

/// Byte order of the elements in a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

/// Which byte source a storage lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageSource {
    /// The input file (source 0).
    Input,
    /// The output buffer filled through `Host::write_output`.
    Output,
    /// An external file opened through `Host::open_external`.
    External(u32),
}

/// A byte range holding a tensor's elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// Where the bytes are.
    pub source: StorageSource,
    /// Byte offset of the storage within its source.
    pub offset: u64,
    /// Byte length of the storage.
    pub length: u64,
}

/// One tensor, described (not copied): the host gathers the bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorDesc {
    /// Unique dotted name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, row-major.
    pub shape: Vec<u64>,
    /// Strides in elements, same length as `shape`.
    pub strides: Vec<u64>,
    /// Element offset of the first element from the start of the storage.
    pub offset: u64,
    /// Byte order of the elements.
    pub byte_order: ByteOrder,
    /// Where the elements live.
    pub storage: Storage,
    /// Extra facts about this tensor (e.g. `ggml_type`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl TensorDesc {
    /// A C-contiguous tensor whose storage is exactly its bytes.
    pub fn contiguous(
        name: impl Into<String>,
        dtype: Dtype,
        shape: Vec<u64>,
        byte_order: ByteOrder,
        storage: Storage,
    ) -> Self {
        let strides = contiguous_strides(&shape);
        TensorDesc {
            name: name.into(),
            dtype,
            shape,
            strides,
            offset: 0,
            byte_order,
            storage,
            extra: BTreeMap::new(),
        }
    }
}

/// Row-major strides for `shape` (saturating: the host re-checks with checked arithmetic).
pub fn contiguous_strides(shape: &[u64]) -> Vec<u64> {
    let mut strides = vec![0u64; shape.len()];
    let mut acc: u64 = 1;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i]);
    }
    strides
}

/// How dangerous a referenced global is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// On the allowlist: interpreted symbolically.
    Allowed,
    /// Not interpreted, not dangerous by name (e.g. a scikit-learn estimator class).
    UnknownClass,
    /// Can run code (os, subprocess, builtins.eval, runpy, …).
    CodeExecution,
    /// Can read or write files or reach the network.
    FileOrNetwork,
    /// Unknown and not interpreted.
    Unknown,
}

/// A global (module.qualname) referenced by a pickle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GlobalRef {
    /// `module.qualname`.
    pub name: String,
    /// Its risk class.
    pub risk: Risk,
}

/// A successful load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    /// Detected format id (see the ABI document).
    pub format: String,
    /// Tensor descriptors.
    pub tensors: Vec<TensorDesc>,
    /// Non-tensor leaves, stringified.
    pub metadata: BTreeMap<String, String>,
    /// Globals referenced by the file.
    pub globals: Vec<GlobalRef>,
    /// Notes for the report.
    pub warnings: Vec<String>,
}

/// Most metadata entries (including per-tensor extras) the host accepts.
pub const HOST_MAX_METADATA_ENTRIES: usize = 10_000;
/// Longest metadata key, in bytes, the host accepts.
pub const HOST_MAX_METADATA_KEY: usize = 2048;
/// Longest metadata value, in bytes, the host accepts.
pub const HOST_MAX_METADATA_VALUE: usize = 64 << 10;
/// Most metadata bytes in total (keys and values, extras included) the host accepts.
pub const HOST_MAX_METADATA_TOTAL: usize = 16 << 20;

impl LoadResult {
    /// Drop metadata entries the host would refuse (`docs/sandbox-abi.md`, "What the host
    /// enforces"), with a warning: a file whose only excess is informative metadata (ten
    /// thousand long strings in a pickle, say) still imports. Entries are kept in name
    /// order until the budget left by the tensors' extras runs out; over-long values are
    /// cut, keys the host refuses are dropped.
    pub fn fit_metadata_to_host_limits(&mut self) {
        let extras = self.tensors.iter().map(|t| t.extra.len()).sum::<usize>();
        let mut total: usize = self
            .tensors
            .iter()
            .flat_map(|t| t.extra.iter())
            .map(|(k, v)| k.len().saturating_add(v.len()))
            .fold(0, usize::saturating_add);
        let mut room = HOST_MAX_METADATA_ENTRIES.saturating_sub(extras);
        let mut dropped = 0usize;
        let mut kept = BTreeMap::new();
        for (k, mut v) in std::mem::take(&mut self.metadata) {
            if k.is_empty() || k.len() > HOST_MAX_METADATA_KEY || k.chars().any(char::is_control) {
                dropped += 1;
                continue;
            }
            if v.len() > HOST_MAX_METADATA_VALUE {
                let mut end = HOST_MAX_METADATA_VALUE - 64;
                while !v.is_char_boundary(end) {
                    end -= 1;
                }
                let len = v.len();
                v.truncate(end);
                v.push_str(&format!("… ({len} bytes)"));
            }
            let size = k.len().saturating_add(v.len());
            if room == 0 || total.saturating_add(size) > HOST_MAX_METADATA_TOTAL {
                dropped += 1;
                continue;
            }
            room -= 1;
            total += size;
            kept.insert(k, v);
        }
        self.metadata = kept;
        if dropped > 0 {
            self.warnings.push(format!(
                "{dropped} metadata entries dropped (at most {HOST_MAX_METADATA_ENTRIES} \
                 entries and {} MiB in total are kept)",
                HOST_MAX_METADATA_TOTAL >> 20
            ));
        }
    }
}

/// Why a load failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// Dangerous content, refused by policy.
    Refused,
    /// Not a valid file of the format.
    Malformed,
    /// Valid but not supported.
    Unsupported,
    /// A configured limit was hit.
    Limit,
}

/// A failed load, with what the loader learned before failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// One-line explanation naming what is at fault.
    pub message: String,
    /// The format, if it was detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Globals referenced (for the refusal report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub globals: Vec<GlobalRef>,
}

impl LoadError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        LoadError {
            kind,
            message: message.into(),
            format: None,
            globals: Vec::new(),
        }
    }
    /// A malformed-input error.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }
    /// A limit error.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Limit, message)
    }
    /// A policy refusal.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    /// An unsupported-feature error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// Attach the detected format.
    pub fn with_format(mut self, format: &str) -> Self {
        if self.format.is_none() {
            self.format = Some(format.to_string());
        }
        self
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Limits the loaders enforce themselves (the host enforces its own as well).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Maximum nesting depth (pickle stack/containers, HDF5 groups, GGUF arrays).
    pub max_depth: u64,
    /// Maximum pickle memo entries.
    pub max_memo: u64,
    /// Maximum objects built while parsing.
    pub max_objects: u64,
    /// Maximum tensors in the result.
    pub max_tensors: u64,
    /// Maximum bytes produced by decompression.
    pub max_decompressed: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1000,
            max_memo: 1_000_000,
            max_objects: 10_000_000,
            max_tensors: 100_000,
            max_decompressed: 4 << 30,
        }
    }
}

/// What the host asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// `auto` or a format id.
    pub format: String,
    /// Input file name, for messages only.
    pub file_name: String,
    /// Extract tensors from objects of unknown but non-dangerous classes.
    pub allow_unknown_classes: bool,
    /// Dequantize the quantized tensor types a loader can decode (GGUF: Q8_0, Q4_0) to
    /// F32 in the output buffer instead of keeping their raw blocks. Off by default.
    pub dequantize: bool,
    /// Loader-side limits.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: "auto".into(),
            file_name: String::new(),
            allow_unknown_classes: false,
            dequantize: false,
            limits: Limits::default(),
        }
    }
}

/// The JSON the guest returns: either a result or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outcome {
    /// The load failed.
    Failed {
        /// Why.
        error: LoadError,
    },
    /// The load succeeded.
    Loaded(LoadResult),
}
