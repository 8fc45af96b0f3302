//! [`ImportError`]: why an import failed, keeping policy refusals, malformed input, limits
//! and operational failures apart.

use std::path::PathBuf;

use crate::sandbox::SandboxError;
use crate::tensor::safetensors::SafetensorsError;

use super::report::GlobalEntry;

/// The broad class of an [`ImportError`] (the CLI maps it to an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The input was refused by policy (dangerous content, nothing to import).
    Refused,
    /// The input is not a valid model file, or uses something unsupported.
    Malformed,
    /// A configured limit was hit.
    Limit,
    /// Something went wrong that is not about the input (I/O, setup, bad options).
    Failure,
}

/// Why an import (or a model inspection) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Dangerous content: the loader or the host policy refused the file.
    #[error("refused: {message}")]
    Refused {
        /// Detected format, if known.
        format: Option<String>,
        /// What is at fault.
        message: String,
        /// The globals the file references, with their risk.
        globals: Vec<GlobalEntry>,
    },
    /// The file holds no tensors: nothing to import.
    #[error("no tensors found in this {format} file")]
    NoTensors {
        /// Detected format.
        format: String,
    },
    /// The loader could not parse the file.
    #[error("malformed {}: {message}", format.as_deref().unwrap_or("input"))]
    Malformed {
        /// Detected format, if known.
        format: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The file is valid but uses something modelseal does not support.
    #[error("unsupported {}: {message}", format.as_deref().unwrap_or("input"))]
    Unsupported {
        /// Detected format, if known.
        format: Option<String>,
        /// What is unsupported.
        message: String,
    },
    /// The loader's description of the file is inconsistent (a malformed file the loader
    /// did not catch, or a loader bug); names the tensor and field at fault.
    #[error("invalid {field}{}: {message}", tensor.as_ref().map(|t| format!(" of tensor {t:?}")).unwrap_or_default())]
    InvalidDescriptor {
        /// The tensor, if the problem is in one.
        tensor: Option<String>,
        /// The field (`shape`, `strides`, `storage`, `name`, `metadata`, …).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A limit was hit (by the loader or the host).
    #[error("limit exceeded: {message}")]
    Limit {
        /// Which limit, with its value.
        message: String,
    },
    /// The sandbox stopped the loader (memory, time, stack, panic, crash).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The requested format id is not one of the supported ones.
    #[error("unknown format {0:?} (expected auto or one of: {list})", list = super::options::FORMAT_IDS.join(", "))]
    UnknownFormat(String),
    /// Reading the input or writing the output failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `writing`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Writing the safetensors file failed.
    #[error("writing the safetensors output: {0}")]
    Output(#[from] SafetensorsError),
    /// A signed bundle was requested but cannot be produced.
    #[error("bundle output: {0}")]
    Bundle(String),
}

impl ImportError {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            ImportError::Refused { .. } | ImportError::NoTensors { .. } => ErrorClass::Refused,
            ImportError::Malformed { .. }
            | ImportError::Unsupported { .. }
            | ImportError::InvalidDescriptor { .. } => ErrorClass::Malformed,
            ImportError::Limit { .. } => ErrorClass::Limit,
            ImportError::Sandbox(e) if e.is_limit() => ErrorClass::Limit,
            ImportError::Sandbox(
                SandboxError::GuestPanic { .. } | SandboxError::GuestTrap { .. },
            ) => ErrorClass::Malformed,
            ImportError::Output(SafetensorsError::HeaderTooLarge(_)) => ErrorClass::Limit,
            ImportError::Sandbox(_)
            | ImportError::UnknownFormat(_)
            | ImportError::Io { .. }
            | ImportError::Output(_)
            | ImportError::Bundle(_) => ErrorClass::Failure,
        }
    }

    /// The globals to show with a refusal (empty otherwise).
    pub fn globals(&self) -> &[GlobalEntry] {
        match self {
            ImportError::Refused { globals, .. } => globals,
            _ => &[],
        }
    }

    pub(crate) fn descriptor(
        tensor: Option<&str>,
        field: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ImportError::InvalidDescriptor {
            tensor: tensor.map(str::to_string),
            field,
            message: message.into(),
        }
    }
}
