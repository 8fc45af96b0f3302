//! The globals a pickle references, deduplicated, each with its risk class.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::policy::{self, Known};
use super::value::GlobalId;
use crate::result::{GlobalRef, LoadError, Risk};

/// Most distinct globals one file may reference.
pub const MAX_GLOBALS: usize = 100_000;

/// One referenced global.
#[derive(Debug, Clone)]
pub struct Global {
    /// Module as written in the pickle.
    pub module: Rc<str>,
    /// Qualified name as written.
    pub name: Rc<str>,
    /// Risk class.
    pub risk: Risk,
    /// Interpretation, when allowlisted.
    pub known: Option<Known>,
}

/// Longest global name reported (longer ones are cut and marked).
pub const MAX_GLOBAL_NAME: usize = 256;

impl Global {
    /// `module.name`, for reports: control characters escaped (a name may hold anything a
    /// pickle puts in it, newlines included) and cut to [`MAX_GLOBAL_NAME`] bytes.
    pub fn full_name(&self) -> String {
        let raw = super::names::sanitize_segment(&format!("{}.{}", self.module, self.name));
        if raw.len() <= MAX_GLOBAL_NAME {
            return raw;
        }
        let mut end = MAX_GLOBAL_NAME;
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &raw[..end], raw.len())
    }
}

/// All globals seen so far, in first-seen order.
#[derive(Debug, Default)]
pub struct GlobalTable {
    entries: Vec<Global>,
    index: BTreeMap<(Rc<str>, Rc<str>), GlobalId>,
}

impl GlobalTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `module.name` (classifying it the first time) and return its id.
    pub fn intern(&mut self, module: &str, name: &str) -> Result<GlobalId, LoadError> {
        let key: (Rc<str>, Rc<str>) = (Rc::from(module), Rc::from(name));
        if let Some(&id) = self.index.get(&key) {
            return Ok(id);
        }
        if self.entries.len() >= MAX_GLOBALS {
            return Err(LoadError::limit(format!(
                "pickle references more than {MAX_GLOBALS} distinct globals"
            )));
        }
        let id = self.entries.len() as GlobalId;
        self.entries.push(Global {
            module: key.0.clone(),
            name: key.1.clone(),
            risk: policy::classify(module, name),
            known: policy::known(module, name),
        });
        self.index.insert(key, id);
        Ok(id)
    }

    /// Record a copyreg extension code (EXT1/2/4): it names a global through a registry
    /// the file cannot be checked against, so it is `unknown`.
    pub fn intern_extension(&mut self, code: u32) -> Result<GlobalId, LoadError> {
        self.intern("copyreg", &format!("extension code {code}"))
    }

    /// The global with id `id`.
    pub fn get(&self, id: GlobalId) -> Option<&Global> {
        self.entries.get(id as usize)
    }

    /// All globals.
    pub fn iter(&self) -> impl Iterator<Item = &Global> {
        self.entries.iter()
    }

    /// The report form: every global with its risk.
    pub fn refs(&self) -> Vec<GlobalRef> {
        self.entries
            .iter()
            .map(|g| GlobalRef {
                name: g.full_name(),
                risk: g.risk,
            })
            .collect()
    }

    /// Globals that the policy refuses: everything not allowed, except `unknown-class`
    /// names when `allow_unknown_classes` is set.
    pub fn offending(&self, allow_unknown_classes: bool) -> Vec<&Global> {
        self.entries
            .iter()
            .filter(|g| match g.risk {
                Risk::Allowed => false,
                Risk::UnknownClass => !allow_unknown_classes,
                _ => true,
            })
            .collect()
    }

    /// Names of the `unknown-class` globals (for warnings when they are tolerated).
    pub fn unknown_classes(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|g| g.risk == Risk::UnknownClass)
            .map(Global::full_name)
            .collect()
    }
}

/// Risk class label as used in messages.
pub fn risk_label(risk: Risk) -> &'static str {
    match risk {
        Risk::Allowed => "allowed",
        Risk::UnknownClass => "unknown-class",
        Risk::CodeExecution => "code-execution",
        Risk::FileOrNetwork => "file-or-network",
        Risk::Unknown => "unknown",
    }
}

/// Most offending globals named in one refusal message (all are in `LoadError.globals`).
const MAX_NAMED: usize = 20;

/// The refusal for a table with offending globals, or `None` if there are none.
/// `context` is appended (e.g. why parsing stopped early).
pub fn refusal(
    table: &GlobalTable,
    violations: &[String],
    allow_unknown_classes: bool,
    context: Option<&str>,
) -> Option<LoadError> {
    let bad = table.offending(allow_unknown_classes);
    if bad.is_empty() && violations.is_empty() {
        return None;
    }
    if bad.is_empty() {
        let mut msg = violations.join("; ");
        if let Some(c) = context {
            msg.push_str("; ");
            msg.push_str(c);
        }
        let mut err = LoadError::refused(msg);
        err.globals = table.refs();
        return Some(err);
    }
    let mut bad_sorted = bad.clone();
    // Most dangerous first.
    bad_sorted.sort_by_key(|g| match g.risk {
        Risk::CodeExecution => 0,
        Risk::FileOrNetwork => 1,
        Risk::Unknown => 2,
        _ => 3,
    });
    let mut parts: Vec<String> = bad_sorted
        .iter()
        .take(MAX_NAMED)
        .map(|g| format!("{} ({})", g.full_name(), risk_label(g.risk)))
        .collect();
    if bad_sorted.len() > MAX_NAMED {
        parts.push(format!("and {} more", bad_sorted.len() - MAX_NAMED));
    }
    let mut msg = format!(
        "pickle references {} that modelseal will not load: {}",
        if bad.len() == 1 {
            "a global"
        } else {
            "globals"
        },
        parts.join(", ")
    );
    if !allow_unknown_classes && bad.iter().all(|g| g.risk == Risk::UnknownClass) {
        msg.push_str(
            " (these are classes of known ML libraries; allow_unknown_classes extracts their \
             tensors without building them)",
        );
    }
    for v in violations {
        msg.push_str("; ");
        msg.push_str(v);
    }
    if let Some(c) = context {
        msg.push_str("; ");
        msg.push_str(c);
    }
    let mut err = LoadError::refused(msg);
    err.globals = table.refs();
    Some(err)
}
