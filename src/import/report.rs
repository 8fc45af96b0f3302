//! What an import or inspection learned about a model, serialisable to JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::tensor::Dtype;

/// How dangerous a referenced global is (`docs/sandbox-abi.md`, field `globals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// On the loader's allowlist and interpreted symbolically.
    Allowed,
    /// Not dangerous by name but not interpreted (e.g. an estimator class).
    UnknownClass,
    /// Can run code.
    CodeExecution,
    /// Can read or write files or reach the network.
    FileOrNetwork,
    /// Unknown and not interpreted.
    Unknown,
}

impl Risk {
    /// Parse the ABI name.
    pub fn parse(s: &str) -> Option<Risk> {
        Some(match s {
            "allowed" => Risk::Allowed,
            "unknown-class" => Risk::UnknownClass,
            "code-execution" => Risk::CodeExecution,
            "file-or-network" => Risk::FileOrNetwork,
            "unknown" => Risk::Unknown,
            _ => return None,
        })
    }

    /// The ABI name.
    pub fn name(self) -> &'static str {
        match self {
            Risk::Allowed => "allowed",
            Risk::UnknownClass => "unknown-class",
            Risk::CodeExecution => "code-execution",
            Risk::FileOrNetwork => "file-or-network",
            Risk::Unknown => "unknown",
        }
    }
}

/// A global referenced by the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GlobalEntry {
    /// `module.qualname` (control characters escaped).
    pub name: String,
    /// Its risk class.
    pub risk: Risk,
}

/// One tensor of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorSummary {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<u64>,
    /// Bytes in the output (`numel × itemsize`).
    pub nbytes: u64,
    /// Extra facts from the loader.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The report on a model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Detected format id.
    pub format: String,
    /// Input file name (as given).
    pub file: String,
    /// Input size in bytes.
    pub source_bytes: u64,
    /// SHA-256 of the input (lowercase hex).
    pub source_sha256: String,
    /// SHA-256 of the loader module that parsed it.
    pub loader_sha256: String,
    /// Tensors, sorted by name.
    pub tensors: Vec<TensorSummary>,
    /// Total tensor bytes.
    pub total_bytes: u64,
    /// Globals referenced, sorted, with risk.
    pub globals: Vec<GlobalEntry>,
    /// Loader and host notes.
    pub warnings: Vec<String>,
    /// Non-tensor leaves.
    pub metadata: BTreeMap<String, String>,
    /// Why `import` would refuse this file, if it would (inspection only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// Escape control characters (terminal safety) and cap the length of a string from the
/// guest.
pub fn sanitize(s: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_bytes));
    for c in s.chars() {
        if out.len() >= max_bytes {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_controls_and_caps() {
        assert_eq!(sanitize("a\x1b[31mb\n", 100), "a\\u{1b}[31mb\\n");
        assert_eq!(sanitize("abcdef", 3), "abc…");
        for r in [
            "allowed",
            "unknown-class",
            "code-execution",
            "file-or-network",
            "unknown",
        ] {
            assert_eq!(Risk::parse(r).map(Risk::name), Some(r));
        }
        assert_eq!(Risk::parse("safe"), None);
    }
}
