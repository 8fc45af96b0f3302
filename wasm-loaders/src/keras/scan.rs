//! Static scan of a Keras model configuration (`config.json` of a `.keras` archive, the
//! `model_config` / `training_config` attributes of a legacy `.h5`). The JSON is parsed
//! and walked; nothing in it is interpreted, executed or copied into the output.
//!
//! Findings:
//! - `Lambda` layers and `__lambda__` functions (marshalled Python bytecode) → code
//!   execution;
//! - a `module` outside `keras` / `keras.*` (CVE-2025-1550: Keras imports it and calls the
//!   named attribute) → code execution;
//! - `enable_unsafe_deserialization`, and known file-loading or downloading Keras
//!   functions (`get_file`, `load_model`, …) → code execution / file access;
//! - `TFSMLayer` (loads a SavedModel from a path) and any string that looks like a file
//!   path or URL → file or network access;
//! - a `registered_name` of a custom (non-Keras) package → unknown class.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::result::{GlobalRef, LoadError, Risk};

/// Largest configuration parsed.
pub(crate) const MAX_CONFIG_BYTES: usize = 64 << 20;
/// Most JSON values visited.
const MAX_VALUES: usize = 10_000_000;
/// Most findings kept.
const MAX_FINDINGS: usize = 1000;
/// Longest excerpt of an offending string quoted in a message.
const MAX_QUOTE: usize = 80;

/// Keras functions that reach files, the network or the deserialisation policy.
const DANGEROUS_KERAS_FUNCTIONS: &[&str] = &[
    "enable_unsafe_deserialization",
    "get_file",
    "load_model",
    "load_weights",
    "save_model",
    "save_weights",
    "load_img",
    "save_img",
];

/// One thing the scan objects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The enclosing layer (or object) name, `?` if none.
    pub(crate) layer: String,
    /// What was found.
    pub(crate) what: String,
    /// How dangerous it is.
    pub(crate) risk: Risk,
}

/// The outcome of a scan.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanReport {
    /// Objections, in document order.
    pub(crate) findings: Vec<Finding>,
    /// Every `module.class` (or `module.function`) reference seen, with its risk.
    pub(crate) globals: BTreeSet<GlobalRef>,
    /// `class_name` of the top-level object.
    pub(crate) model_class: Option<String>,
    /// Number of entries of the top-level `config.layers`, when present.
    pub(crate) layer_count: Option<usize>,
}

impl ScanReport {
    /// Whether any finding is a code-execution or file/network risk.
    pub(crate) fn dangerous(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f.risk, Risk::CodeExecution | Risk::FileOrNetwork))
    }

    /// The findings as one line each.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.findings
            .iter()
            .map(|f| format!("layer {}: {}", f.layer, f.what))
            .collect()
    }
}

/// Parses and scans `text` (named `source` in messages).
pub(crate) fn scan(text: &[u8], source: &str) -> Result<ScanReport, LoadError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(LoadError::limit(format!(
            "{source} is larger than {MAX_CONFIG_BYTES} bytes"
        )));
    }
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| LoadError::malformed(format!("{source} is not valid JSON: {e}")))?;
    let mut report = ScanReport::default();
    if let Value::Object(top) = &value {
        report.model_class = top
            .get("class_name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        report.layer_count = top
            .get("config")
            .and_then(|c| c.get("layers"))
            .and_then(Value::as_array)
            .map(Vec::len);
    }
    walk(&value, &mut report)?;
    Ok(report)
}

fn walk(root: &Value, report: &mut ScanReport) -> Result<(), LoadError> {
    let mut stack: Vec<(&Value, String)> = vec![(root, "?".to_string())];
    let mut visited = 0usize;
    while let Some((v, layer)) = stack.pop() {
        visited += 1;
        if visited > MAX_VALUES {
            return Err(LoadError::limit(format!(
                "Keras config has more than {MAX_VALUES} values"
            )));
        }
        match v {
            Value::Object(map) => {
                let layer = object_name(map).unwrap_or(layer);
                check_object(map, &layer, report);
                for (k, child) in map.iter().rev() {
                    if k.contains("enable_unsafe_deserialization") {
                        add(
                            report,
                            &layer,
                            "key enable_unsafe_deserialization".into(),
                            Risk::CodeExecution,
                        );
                    }
                    stack.push((child, layer.clone()));
                }
            }
            Value::Array(items) => {
                for child in items.iter().rev() {
                    stack.push((child, layer.clone()));
                }
            }
            Value::String(s) => check_string(s, &layer, report),
            _ => {}
        }
    }
    Ok(())
}

/// The `name` of a serialised object (`config.name`, or `name`).
fn object_name(map: &serde_json::Map<String, Value>) -> Option<String> {
    map.get("config")
        .and_then(|c| c.get("name"))
        .or_else(|| map.get("name"))
        .and_then(Value::as_str)
        .map(quote)
}

fn check_object(map: &serde_json::Map<String, Value>, layer: &str, report: &mut ScanReport) {
    let class = map.get("class_name").and_then(Value::as_str);
    let module = map.get("module").and_then(Value::as_str);
    let registered = map.get("registered_name").and_then(Value::as_str);
    match class {
        Some("Lambda") => add(
            report,
            layer,
            "Lambda layer (Python code stored in the model)".into(),
            Risk::CodeExecution,
        ),
        Some("__lambda__") => add(
            report,
            layer,
            "marshalled Python function (__lambda__)".into(),
            Risk::CodeExecution,
        ),
        Some("TFSMLayer") => add(
            report,
            layer,
            "TFSMLayer (loads a TensorFlow SavedModel from a path)".into(),
            Risk::FileOrNetwork,
        ),
        _ => {}
    }
    if let Some(module) = module {
        let member = match (class, map.get("config")) {
            (Some("function"), Some(Value::String(f))) => f.as_str(),
            (Some(c), _) => c,
            (None, _) => "?",
        };
        let name = format!("{}.{}", quote(module), quote(member));
        let in_keras = module == "keras" || module.starts_with("keras.");
        let risk = if !in_keras {
            add(
                report,
                layer,
                format!(
                    "reference to {name}: module outside keras.* (imported and called on load)"
                ),
                Risk::CodeExecution,
            );
            Risk::CodeExecution
        } else if DANGEROUS_KERAS_FUNCTIONS.contains(&member) {
            add(
                report,
                layer,
                format!("reference to {name} (file, network or policy access)"),
                Risk::CodeExecution,
            );
            Risk::CodeExecution
        } else if class == Some("Lambda") {
            Risk::CodeExecution
        } else if class == Some("TFSMLayer") {
            Risk::FileOrNetwork
        } else {
            Risk::Allowed
        };
        if report.globals.len() < MAX_FINDINGS {
            report.globals.insert(GlobalRef { name, risk });
        }
    }
    if let Some(reg) = registered
        && let Some((package, _)) = reg.split_once('>')
        && package != "keras"
        && !package.starts_with("keras.")
    {
        add(
            report,
            layer,
            format!("custom object {} (not part of Keras)", quote(reg)),
            Risk::UnknownClass,
        );
        if report.globals.len() < MAX_FINDINGS {
            report.globals.insert(GlobalRef {
                name: quote(reg),
                risk: Risk::UnknownClass,
            });
        }
    }
}

fn check_string(s: &str, layer: &str, report: &mut ScanReport) {
    if s.contains("enable_unsafe_deserialization") {
        add(
            report,
            layer,
            "string enable_unsafe_deserialization".into(),
            Risk::CodeExecution,
        );
    } else if looks_like_path(s) {
        add(
            report,
            layer,
            format!("string that looks like a file path or URL: {:?}", quote(s)),
            Risk::FileOrNetwork,
        );
    }
}

/// Absolute paths, home-relative paths, parent-directory steps, Windows drive or UNC
/// paths and URLs.
pub(crate) fn looks_like_path(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let b = s.as_bytes();
    let drive = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    s.starts_with('/')
        || s.starts_with('~')
        || s.starts_with("\\\\")
        || drive
        || s.contains("../")
        || s.contains("..\\")
        || [
            "file:", "http://", "https://", "ftp://", "s3://", "gs://", "hdfs://",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
}

fn add(report: &mut ScanReport, layer: &str, what: String, risk: Risk) {
    if report.findings.len() < MAX_FINDINGS {
        report.findings.push(Finding {
            layer: layer.to_string(),
            what,
            risk,
        });
    }
}

/// A short, printable excerpt of a string from the file.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_QUOTE)
        .collect();
    if s.chars().count() > MAX_QUOTE {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls() {
        for p in [
            "/etc/passwd",
            "~/.ssh/id_rsa",
            "C:\\x",
            "c:/x",
            "\\\\srv\\share",
            "a/../b",
            "https://x",
            "FILE:///x",
        ] {
            assert!(looks_like_path(p), "{p}");
        }
        for p in [
            "float32",
            "glorot_uniform",
            "dense_1",
            "relu",
            "channels_last",
            "a/b",
        ] {
            assert!(!looks_like_path(p), "{p}");
        }
    }

    #[test]
    fn module_outside_keras_is_code_execution() {
        let cfg = br#"{"module": "keras", "class_name": "Sequential", "config": {"name": "m", "layers": [
            {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d",
              "activation": {"module": "os", "class_name": "function", "config": "system", "registered_name": null}}}]}}"#;
        let r = scan(cfg, "config.json").unwrap();
        assert!(r.dangerous());
        assert_eq!(r.layer_count, Some(1));
        assert!(
            r.findings
                .iter()
                .any(|f| f.layer == "d" && f.what.contains("os.system"))
        );
        assert!(r.globals.contains(&GlobalRef {
            name: "keras.layers.Dense".into(),
            risk: Risk::Allowed
        }));
    }

    #[test]
    fn plain_config_is_clean() {
        let cfg = br#"{"module": "keras", "class_name": "Sequential", "config": {"name": "m", "layers": [
            {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "activation": "relu"}, "registered_name": null}]}}"#;
        let r = scan(cfg, "config.json").unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.model_class.as_deref(), Some("Sequential"));
    }
}
