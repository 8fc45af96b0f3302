//! Turning the loader's tainted descriptors into checked values.
//!
//! [`ValidatedTensor`] can only be built here; every later stage (assembly, the safetensors
//! writer, the report) works from it, so unchecked numbers never reach them. The rules are
//! those of `docs/sandbox-abi.md` ("What the host enforces regardless of the guest"):
//! - names: unique, non-empty, ≤ [`MAX_NAME_BYTES`], no control characters, not the
//!   safetensors reserved key;
//! - dtype known, byte order `little`/`big`, ≤ [`MAX_DIMS`] dims, `strides` as long as `shape`;
//! - `numel` and `numel × itemsize` computed with checked arithmetic;
//! - for a non-empty view, `extent = offset + Σ (shape_i − 1)·stride_i` and
//!   `(extent + 1) · itemsize ≤ storage.length` (checked);
//! - the storage inside its source (input, output buffer or an opened external file);
//! - tensor count and total output bytes (`numel × itemsize`, what gets written: a stride-0
//!   view counts in full) within the limits;
//! - metadata and per-tensor extras bounded and merged without collisions.

use std::collections::{BTreeMap, BTreeSet};

use crate::tensor::layout::{last_element, numel};
use crate::tensor::safetensors::METADATA_KEY;
use crate::tensor::{Dtype, MAX_DIMS};

use super::descriptor::{RawError, RawGlobal, RawOutcome, RawSource, RawTensor};
use super::error::ImportError;
use super::options::FORMAT_IDS;
use super::report::{GlobalEntry, Risk, sanitize};

/// Longest tensor name in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Most metadata entries (including per-tensor extras).
pub const MAX_METADATA_ENTRIES: usize = 10_000;
/// Longest metadata key in bytes.
pub const MAX_METADATA_KEY: usize = 2048;
/// Longest metadata value in bytes.
pub const MAX_METADATA_VALUE: usize = 64 << 10;
/// Most metadata bytes in total (keys and values), keeping the safetensors header small.
pub const MAX_METADATA_TOTAL: usize = 16 << 20;
/// Most extra entries per tensor.
pub const MAX_EXTRA_PER_TENSOR: usize = 64;
/// Most globals kept in a report.
pub const MAX_GLOBALS: usize = 100_000;
/// Longest global name kept.
pub const MAX_GLOBAL_NAME: usize = 1024;
/// Most warnings kept.
pub const MAX_WARNINGS: usize = 1000;
/// Longest warning or error message kept.
pub const MAX_MESSAGE: usize = 4096;
/// Prefix of the guest's test-only format ids.
pub const TEST_FORMAT_PREFIX: &str = "__test_";

/// The byte source a storage lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRef {
    /// The input file.
    Input,
    /// The output buffer.
    Output,
    /// External file by id (≥ 1).
    External(u32),
}

/// The lengths of the sources, as the host knows them.
#[derive(Debug, Clone, Default)]
pub struct SourceLengths {
    /// Input length.
    pub input: u64,
    /// Output buffer length.
    pub output: u64,
    /// Lengths of external sources 1, 2, … (index 0 is source 1).
    pub external: Vec<u64>,
}

impl SourceLengths {
    fn get(&self, source: SourceRef) -> Option<u64> {
        match source {
            SourceRef::Input => Some(self.input),
            SourceRef::Output => Some(self.output),
            SourceRef::External(id) => {
                let index = usize::try_from(id).ok()?.checked_sub(1)?;
                self.external.get(index).copied()
            }
        }
    }
}

/// Limits the validator applies.
#[derive(Debug, Clone, Copy)]
pub struct ValidationLimits {
    /// Most tensors.
    pub max_tensors: u64,
    /// Most output bytes in total.
    pub max_output: u64,
}

/// A tensor descriptor that passed every check. Only [`validate`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<u64>,
    strides: Vec<u64>,
    offset: u64,
    big_endian: bool,
    source: SourceRef,
    storage_offset: u64,
    numel: u64,
    nbytes: u64,
    extra: BTreeMap<String, String>,
}

impl ValidatedTensor {
    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }
    /// Shape.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }
    /// Strides in elements.
    pub fn strides(&self) -> &[u64] {
        &self.strides
    }
    /// True if elements are stored most significant byte first.
    pub fn big_endian(&self) -> bool {
        self.big_endian
    }
    /// The source holding the elements.
    pub fn source(&self) -> SourceRef {
        self.source
    }
    /// Byte offset of element `[0, …, 0]` in the source. Checked: every element's bytes lie
    /// inside the storage, which lies inside the source.
    pub fn first_byte(&self) -> u64 {
        // Checked in `validate_tensor` (part of the extent computation).
        self.storage_offset + self.offset * self.dtype.size()
    }
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.numel
    }
    /// Bytes of the contiguous output (`numel × itemsize`).
    pub fn nbytes(&self) -> u64 {
        self.nbytes
    }
    /// Extra facts from the loader.
    pub fn extra(&self) -> &BTreeMap<String, String> {
        &self.extra
    }
}

/// A loader result that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedModel {
    /// Detected format id.
    pub format: String,
    /// Tensors sorted by name.
    pub tensors: Vec<ValidatedTensor>,
    /// Metadata from the loader.
    pub metadata: BTreeMap<String, String>,
    /// Globals, sorted and deduplicated.
    pub globals: Vec<GlobalEntry>,
    /// Warnings (sanitised).
    pub warnings: Vec<String>,
    /// Total output bytes.
    pub total_bytes: u64,
}

impl ValidatedModel {
    /// The `__metadata__` map of the safetensors file: the loader's metadata plus each
    /// tensor's extras under `<tensor>.<key>`.
    pub fn header_metadata(&self) -> Result<BTreeMap<String, String>, ImportError> {
        let mut out = self.metadata.clone();
        for t in &self.tensors {
            for (k, v) in &t.extra {
                let key = format!("{}.{k}", t.name);
                if out.insert(key.clone(), v.clone()).is_some() {
                    return Err(ImportError::descriptor(
                        Some(&t.name),
                        "extra",
                        format!("extra key {key:?} collides with a metadata key"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Check a result's format id.
fn check_format_id(format: &str, allow_test: bool) -> Result<(), ImportError> {
    if FORMAT_IDS.contains(&format) || (allow_test && format.starts_with(TEST_FORMAT_PREFIX)) {
        Ok(())
    } else {
        Err(ImportError::descriptor(
            None,
            "format",
            format!("unknown format id {:?}", sanitize(format, 64)),
        ))
    }
}

/// Check and convert the globals list (sanitised names, known risks, sorted, unique).
pub fn validate_globals(raw: &[RawGlobal]) -> Result<Vec<GlobalEntry>, ImportError> {
    if raw.len() > MAX_GLOBALS {
        return Err(ImportError::Limit {
            message: format!("more than {MAX_GLOBALS} globals"),
        });
    }
    let mut set = BTreeSet::new();
    for g in raw {
        let risk = Risk::parse(&g.risk).ok_or_else(|| {
            ImportError::descriptor(
                None,
                "globals",
                format!(
                    "unknown risk {:?} for {:?}",
                    sanitize(&g.risk, 64),
                    sanitize(&g.name, 256)
                ),
            )
        })?;
        set.insert(GlobalEntry {
            name: sanitize(&g.name, MAX_GLOBAL_NAME),
            risk,
        });
    }
    Ok(set.into_iter().collect())
}

/// Turn a loader failure into an [`ImportError`].
pub fn loader_error(raw: RawError) -> ImportError {
    let format = raw.format.as_deref().map(|f| sanitize(f, 64));
    let message = sanitize(&raw.message, MAX_MESSAGE);
    match raw.kind.as_str() {
        "refused" => ImportError::Refused {
            format,
            message,
            globals: validate_globals(&raw.globals).unwrap_or_default(),
        },
        "malformed" => ImportError::Malformed { format, message },
        "unsupported" => ImportError::Unsupported { format, message },
        "limit" => ImportError::Limit { message },
        other => ImportError::descriptor(
            None,
            "error.kind",
            format!("unknown error kind {:?}", sanitize(other, 64)),
        ),
    }
}

/// Validate a successful result (`raw.error` must be `None`; see [`loader_error`]).
pub fn validate(
    raw: RawOutcome,
    lengths: &SourceLengths,
    limits: ValidationLimits,
    allow_test_formats: bool,
) -> Result<ValidatedModel, ImportError> {
    if let Some(error) = raw.error {
        return Err(loader_error(error));
    }
    let format = raw
        .format
        .ok_or_else(|| ImportError::descriptor(None, "format", "missing"))?;
    check_format_id(&format, allow_test_formats)?;
    let globals = validate_globals(&raw.globals)?;

    if raw.tensors.len() as u64 > limits.max_tensors {
        return Err(ImportError::Limit {
            message: format!(
                "{} tensors exceed the limit of {}",
                raw.tensors.len(),
                limits.max_tensors
            ),
        });
    }
    let mut names = BTreeSet::new();
    let mut tensors = Vec::with_capacity(raw.tensors.len());
    let mut total: u64 = 0;
    for t in raw.tensors {
        let v = validate_tensor(t, lengths)?;
        if !names.insert(v.name.clone()) {
            return Err(ImportError::descriptor(
                Some(&v.name),
                "name",
                "duplicate tensor name",
            ));
        }
        total = total
            .checked_add(v.nbytes)
            .filter(|&t| t <= limits.max_output)
            .ok_or_else(|| ImportError::Limit {
                message: format!(
                    "tensor data exceeds the output limit of {} bytes (at tensor {:?})",
                    limits.max_output, v.name
                ),
            })?;
        tensors.push(v);
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));

    let metadata = validate_metadata(raw.metadata, &tensors)?;
    let warnings = raw
        .warnings
        .iter()
        .take(MAX_WARNINGS)
        .map(|w| sanitize(w, MAX_MESSAGE))
        .collect();
    Ok(ValidatedModel {
        format,
        tensors,
        metadata,
        globals,
        warnings,
        total_bytes: total,
    })
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("name longer than 1024 bytes");
    }
    if name.chars().any(char::is_control) {
        return Err("control character in name");
    }
    if name == METADATA_KEY {
        return Err("name is reserved by safetensors");
    }
    Ok(())
}

/// Validate one descriptor against the source lengths.
pub fn validate_tensor(
    t: RawTensor,
    lengths: &SourceLengths,
) -> Result<ValidatedTensor, ImportError> {
    if let Err(why) = check_name(&t.name) {
        return Err(ImportError::descriptor(
            Some(&sanitize(&t.name, 128)),
            "name",
            why,
        ));
    }
    let name = t.name.as_str();
    let err = |field: &'static str, msg: String| ImportError::descriptor(Some(name), field, msg);

    let dtype = Dtype::parse(&t.dtype).ok_or_else(|| {
        err(
            "dtype",
            format!("unknown dtype {:?}", sanitize(&t.dtype, 32)),
        )
    })?;
    let big_endian = match t.byte_order.as_str() {
        "little" => false,
        "big" => true,
        other => {
            return Err(err(
                "byte_order",
                format!("unknown byte order {:?}", sanitize(other, 32)),
            ));
        }
    };
    if t.shape.len() > MAX_DIMS {
        return Err(err(
            "shape",
            format!("{} dimensions (at most {MAX_DIMS})", t.shape.len()),
        ));
    }
    if t.strides.len() != t.shape.len() {
        return Err(err(
            "strides",
            format!(
                "{} strides for {} dimensions",
                t.strides.len(),
                t.shape.len()
            ),
        ));
    }
    let itemsize = dtype.size();
    let n = numel(&t.shape).ok_or_else(|| err("shape", "element count overflows".into()))?;
    let nbytes = n
        .checked_mul(itemsize)
        .ok_or_else(|| err("shape", "byte size overflows".into()))?;

    let source = match t.storage.source {
        RawSource::Input => SourceRef::Input,
        RawSource::Output => SourceRef::Output,
        RawSource::External(id) => SourceRef::External(id),
    };
    let source_len = lengths
        .get(source)
        .ok_or_else(|| err("storage", format!("no such source {source:?}")))?;
    let storage_end = t
        .storage
        .offset
        .checked_add(t.storage.length)
        .ok_or_else(|| err("storage", "range overflows".into()))?;
    if storage_end > source_len {
        return Err(err(
            "storage",
            format!(
                "bytes {}..{storage_end} lie outside the {source_len}-byte source",
                t.storage.offset
            ),
        ));
    }
    // The first element's byte offset is needed even for an empty view (the assembler
    // computes it); check it for every view.
    let first = t
        .offset
        .checked_mul(itemsize)
        .and_then(|b| b.checked_add(t.storage.offset))
        .ok_or_else(|| err("offset", "overflows".into()))?;
    if n > 0 {
        let last = last_element(t.offset, &t.shape, &t.strides)
            .ok_or_else(|| err("strides", "extent overflows".into()))?;
        let needed = last
            .checked_add(1)
            .and_then(|e| e.checked_mul(itemsize))
            .ok_or_else(|| err("strides", "extent overflows".into()))?;
        if needed > t.storage.length {
            return Err(err(
                "strides",
                format!(
                    "view reaches byte {needed} of a {}-byte storage",
                    t.storage.length
                ),
            ));
        }
    } else if first > storage_end {
        return Err(err("offset", "lies past the end of the storage".into()));
    }

    if t.extra.len() > MAX_EXTRA_PER_TENSOR {
        return Err(err(
            "extra",
            format!("more than {MAX_EXTRA_PER_TENSOR} entries"),
        ));
    }
    for (k, v) in &t.extra {
        if k.is_empty() || k.len() > 256 || k.chars().any(char::is_control) {
            return Err(err("extra", format!("bad key {:?}", sanitize(k, 64))));
        }
        if v.len() > MAX_METADATA_VALUE {
            return Err(err("extra", format!("value of {k:?} is too long")));
        }
    }

    Ok(ValidatedTensor {
        name: t.name,
        dtype,
        shape: t.shape,
        strides: t.strides,
        offset: t.offset,
        big_endian: big_endian && itemsize > 1,
        source,
        storage_offset: t.storage.offset,
        numel: n,
        nbytes,
        extra: t.extra,
    })
}

fn validate_metadata(
    raw: BTreeMap<String, String>,
    tensors: &[ValidatedTensor],
) -> Result<BTreeMap<String, String>, ImportError> {
    let extras: usize = tensors.iter().map(|t| t.extra.len()).sum();
    if raw.len().saturating_add(extras) > MAX_METADATA_ENTRIES {
        return Err(ImportError::Limit {
            message: format!("more than {MAX_METADATA_ENTRIES} metadata entries"),
        });
    }
    let mut total: usize = 0;
    for (k, v) in raw
        .iter()
        .chain(tensors.iter().flat_map(|t| t.extra.iter()))
    {
        if k.is_empty() || k.len() > MAX_METADATA_KEY || k.chars().any(char::is_control) {
            return Err(ImportError::descriptor(
                None,
                "metadata",
                format!("bad key {:?}", sanitize(k, 64)),
            ));
        }
        if v.len() > MAX_METADATA_VALUE {
            return Err(ImportError::Limit {
                message: format!(
                    "metadata value of {:?} is longer than {MAX_METADATA_VALUE} bytes",
                    sanitize(k, 64)
                ),
            });
        }
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > MAX_METADATA_TOTAL {
        return Err(ImportError::Limit {
            message: format!("metadata larger than {MAX_METADATA_TOTAL} bytes"),
        });
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::super::descriptor::{RawStorage, RawTensor};
    use super::*;

    const LIMITS: ValidationLimits = ValidationLimits {
        max_tensors: 10,
        max_output: 1 << 20,
    };

    fn lengths() -> SourceLengths {
        SourceLengths {
            input: 1000,
            output: 100,
            external: vec![50],
        }
    }

    fn raw(name: &str, shape: &[u64], strides: &[u64]) -> RawTensor {
        RawTensor {
            name: name.into(),
            dtype: "F32".into(),
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            offset: 0,
            byte_order: "little".into(),
            storage: RawStorage {
                source: RawSource::Input,
                offset: 0,
                length: 400,
            },
            extra: BTreeMap::new(),
        }
    }

    fn outcome(tensors: Vec<RawTensor>) -> RawOutcome {
        RawOutcome {
            format: Some("npy".into()),
            tensors,
            ..RawOutcome::default()
        }
    }

    fn run(tensors: Vec<RawTensor>) -> Result<ValidatedModel, ImportError> {
        validate(outcome(tensors), &lengths(), LIMITS, false)
    }

    fn field_of(r: Result<ValidatedModel, ImportError>) -> &'static str {
        match r {
            Err(ImportError::InvalidDescriptor { field, .. }) => field,
            other => panic!("expected an invalid descriptor, got {other:?}"),
        }
    }

    fn is_limit(r: Result<ValidatedModel, ImportError>) -> String {
        match r {
            Err(ImportError::Limit { message }) => message,
            other => panic!("expected a limit error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_result_passes_and_is_sorted() {
        let m = run(vec![raw("b", &[10, 10], &[10, 1]), raw("a", &[2], &[1])]).unwrap();
        assert_eq!(m.tensors[0].name(), "a");
        assert_eq!(m.tensors[1].nbytes(), 400);
        assert_eq!(m.total_bytes, 408);
    }

    #[test]
    fn duplicate_names_are_refused() {
        assert_eq!(
            field_of(run(vec![raw("a", &[1], &[1]), raw("a", &[2], &[1])])),
            "name"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for name in [
            "",
            "a\u{0}b",
            "tab\there",
            "esc\u{1b}[0m",
            "del\u{7f}",
            "c1\u{85}",
            METADATA_KEY,
        ] {
            assert_eq!(
                field_of(run(vec![raw(name, &[1], &[1])])),
                "name",
                "{name:?}"
            );
        }
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(field_of(run(vec![raw(&long, &[1], &[1])])), "name");
        assert!(run(vec![raw(&"n".repeat(MAX_NAME_BYTES), &[1], &[1])]).is_ok());
        // Names that are not UTF-8 never get past the JSON parser.
        let bad_utf8 = b"{\"format\":\"npy\",\"tensors\":[{\"name\":\"\xff\"}]}";
        assert!(serde_json::from_slice::<RawOutcome>(bad_utf8).is_err());
    }

    #[test]
    fn huge_dimensions_overflow_cleanly() {
        assert_eq!(
            field_of(run(vec![raw("a", &[1 << 62, 1 << 62], &[0, 0])])),
            "shape"
        );
        // numel fits but the byte count does not.
        assert_eq!(field_of(run(vec![raw("a", &[1 << 62], &[0])])), "shape");
        // The extent overflows.
        assert_eq!(
            field_of(run(vec![raw("a", &[3, 2], &[u64::MAX / 2, 1])])),
            "strides"
        );
        let mut t = raw("a", &[2], &[1]);
        t.offset = u64::MAX;
        assert_eq!(field_of(run(vec![t])), "offset");
    }

    #[test]
    fn stride_zero_blow_up_counts_in_full() {
        // 1 element of storage, 2^30 elements written: 4 GiB > 1 MiB limit.
        let t = raw("bomb", &[1 << 15, 1 << 15], &[0, 0]);
        let message = is_limit(run(vec![t]));
        assert!(message.contains("bomb"), "{message}");
        // Within the limit it is accepted (and written in full).
        let m = run(vec![raw("ok", &[16, 16], &[0, 0])]).unwrap();
        assert_eq!(m.total_bytes, 16 * 16 * 4);
    }

    #[test]
    fn total_output_is_limited() {
        let t = |n: &str| raw(n, &[100], &[1]);
        let mut tensors: Vec<RawTensor> = (0..3).map(|i| t(&format!("t{i}"))).collect();
        assert!(run(tensors.clone()).is_ok());
        let limits = ValidationLimits {
            max_tensors: 10,
            max_output: 1199,
        };
        assert!(validate(outcome(tensors.clone()), &lengths(), limits, false).is_err());
        tensors.pop();
        assert!(validate(outcome(tensors), &lengths(), limits, false).is_ok());
    }

    #[test]
    fn extent_past_storage_is_refused() {
        // [10, 10] needs 400 bytes; one more row does not fit.
        assert_eq!(
            field_of(run(vec![raw("a", &[11, 10], &[10, 1])])),
            "strides"
        );
        // A transposed view reaches exactly the last element.
        assert!(run(vec![raw("t", &[10, 10], &[1, 10])]).is_ok());
        let mut t = raw("off", &[10, 10], &[10, 1]);
        t.offset = 1;
        assert_eq!(field_of(run(vec![t])), "strides");
        // An empty view may not point past its storage either.
        let mut e = raw("e", &[0], &[1]);
        e.offset = 101;
        assert_eq!(field_of(run(vec![e])), "offset");
    }

    #[test]
    fn storage_past_source_is_refused() {
        let mut t = raw("a", &[1], &[1]);
        t.storage.offset = 601;
        assert_eq!(field_of(run(vec![t.clone()])), "storage");
        t.storage.offset = 600;
        assert!(run(vec![t.clone()]).is_ok());
        t.storage = RawStorage {
            source: RawSource::Output,
            offset: 0,
            length: 101,
        };
        assert_eq!(field_of(run(vec![t.clone()])), "storage");
        t.storage = RawStorage {
            source: RawSource::External(1),
            offset: 0,
            length: 51,
        };
        assert_eq!(field_of(run(vec![t.clone()])), "storage");
        t.storage.source = RawSource::External(2);
        t.storage.length = 4;
        assert_eq!(field_of(run(vec![t.clone()])), "storage");
        t.storage.source = RawSource::External(0);
        assert_eq!(field_of(run(vec![t.clone()])), "storage");
        t.storage = RawStorage {
            source: RawSource::Input,
            offset: u64::MAX,
            length: 2,
        };
        assert_eq!(field_of(run(vec![t])), "storage");
    }

    #[test]
    fn shape_rules() {
        assert_eq!(field_of(run(vec![raw("a", &[1; 17], &[1; 17])])), "shape");
        assert!(run(vec![raw("a", &[1; 16], &[1; 16])]).is_ok());
        assert_eq!(field_of(run(vec![raw("a", &[2, 2], &[2])])), "strides");
        let mut t = raw("a", &[1], &[1]);
        t.dtype = "f32".into();
        assert_eq!(field_of(run(vec![t])), "dtype");
        let mut t = raw("a", &[1], &[1]);
        t.byte_order = "middle".into();
        assert_eq!(field_of(run(vec![t])), "byte_order");
    }

    #[test]
    fn too_many_tensors() {
        let tensors: Vec<RawTensor> = (0..11).map(|i| raw(&format!("t{i}"), &[1], &[1])).collect();
        assert!(is_limit(run(tensors)).contains("11 tensors"));
    }

    #[test]
    fn metadata_and_extras_are_bounded() {
        let mut o = outcome(vec![raw("a", &[1], &[1])]);
        o.metadata
            .insert("k".into(), "v".repeat(MAX_METADATA_VALUE + 1));
        assert!(validate(o, &lengths(), LIMITS, false).is_err());
        let mut o = outcome(vec![raw("a", &[1], &[1])]);
        o.metadata.insert("bad\nkey".into(), "v".into());
        assert!(validate(o, &lengths(), LIMITS, false).is_err());
        let mut o = outcome(vec![raw("a", &[1], &[1])]);
        for i in 0..=MAX_METADATA_ENTRIES {
            o.metadata.insert(format!("k{i}"), String::new());
        }
        assert!(validate(o, &lengths(), LIMITS, false).is_err());
        // An extra colliding with a metadata key.
        let mut t = raw("a", &[1], &[1]);
        t.extra.insert("kind".into(), "x".into());
        let mut o = outcome(vec![t]);
        o.metadata.insert("a.kind".into(), "y".into());
        let m = validate(o, &lengths(), LIMITS, false).unwrap();
        assert!(m.header_metadata().is_err());
    }

    #[test]
    fn formats_globals_and_loader_errors() {
        let mut o = outcome(vec![]);
        o.format = Some("exe".into());
        assert!(validate(o, &lengths(), LIMITS, false).is_err());
        let mut o = outcome(vec![]);
        o.format = Some("__test_echo".into());
        assert!(validate(o, &lengths(), LIMITS, false).is_err());
        let mut o = outcome(vec![]);
        o.format = Some("__test_echo".into());
        assert!(validate(o, &lengths(), LIMITS, true).is_ok());
        let mut o = outcome(vec![]);
        o.globals = vec![RawGlobal {
            name: "os.system".into(),
            risk: "harmless".into(),
        }];
        assert!(validate(o, &lengths(), LIMITS, false).is_err());
        let e = loader_error(RawError {
            kind: "refused".into(),
            message: "pickle calls os.system\u{1b}[2J".into(),
            format: Some("pickle".into()),
            globals: vec![RawGlobal {
                name: "os.system".into(),
                risk: "code-execution".into(),
            }],
        });
        match e {
            ImportError::Refused {
                message, globals, ..
            } => {
                assert!(!message.contains('\u{1b}'));
                assert_eq!(globals[0].risk, Risk::CodeExecution);
            }
            other => panic!("{other:?}"),
        }
    }
}
