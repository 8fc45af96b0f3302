//! The safetensors format: a canonical streaming writer and a strict reader.
//!
//! Layout: an 8-byte little-endian header length `N`, `N` bytes of JSON header, then the
//! tensor data. The header maps each tensor name to `{"dtype", "shape", "data_offsets"}`
//! (offsets relative to the start of the data) and may hold `"__metadata__"`, a map of
//! strings. modelseal writes:
//! - tensors in the order given by the caller (the import pipeline sorts them by name), with
//!   no holes between them;
//! - the header padded with spaces so that the data starts at an 8-byte boundary;
//! - compact JSON with the keys in sorted order.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use serde_json::{Map, Value};

use super::dtype::Dtype;
use super::layout::{MAX_DIMS, numel};

/// Largest header accepted by the reference implementation (and by this writer/reader).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The reserved header key for the metadata map.
pub const METADATA_KEY: &str = "__metadata__";

/// One tensor as it will appear in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTensor {
    /// Tensor name (must not be [`METADATA_KEY`]).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, row-major.
    pub shape: Vec<u64>,
    /// Number of data bytes (`numel × itemsize`).
    pub nbytes: u64,
}

/// Why a safetensors file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafetensorsError {
    /// The header would exceed [`MAX_HEADER_BYTES`].
    #[error("safetensors header of {0} bytes exceeds the {MAX_HEADER_BYTES}-byte limit")]
    HeaderTooLarge(u64),
    /// A tensor is named like the reserved metadata key, or twice.
    #[error("invalid or duplicate tensor name {0:?}")]
    BadName(String),
    /// The caller wrote a different number of bytes than planned for a tensor.
    #[error("tensor {name:?}: {written} bytes written, {expected} expected")]
    WrongLength {
        /// The tensor.
        name: String,
        /// Bytes received.
        written: u64,
        /// Bytes planned.
        expected: u64,
    },
    /// `finish` was called before every tensor was written, or too many were written.
    #[error("safetensors writer used out of order: {0}")]
    Misuse(&'static str),
    /// Sizes overflow.
    #[error("tensor sizes overflow")]
    Overflow,
    /// The file is not a valid safetensors file (reader).
    #[error("invalid safetensors file: {0}")]
    Invalid(String),
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Build the padded header for `tensors` (in file order) and `metadata`.
pub fn build_header(
    tensors: &[PlannedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, SafetensorsError> {
    let mut map = Map::new();
    if !metadata.is_empty() {
        let meta: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        map.insert(METADATA_KEY.to_string(), Value::Object(meta));
    }
    let mut at: u64 = 0;
    for t in tensors {
        if t.name == METADATA_KEY || map.contains_key(&t.name) {
            return Err(SafetensorsError::BadName(t.name.clone()));
        }
        let end = at.checked_add(t.nbytes).ok_or(SafetensorsError::Overflow)?;
        let mut entry = Map::new();
        entry.insert("dtype".into(), Value::String(t.dtype.name().into()));
        entry.insert(
            "shape".into(),
            Value::Array(t.shape.iter().map(|&d| Value::from(d)).collect()),
        );
        entry.insert(
            "data_offsets".into(),
            Value::Array(vec![Value::from(at), Value::from(end)]),
        );
        map.insert(t.name.clone(), Value::Object(entry));
        at = end;
    }
    let mut header = serde_json::to_vec(&Value::Object(map))
        .map_err(|e| SafetensorsError::Invalid(format!("cannot encode header: {e}")))?;
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let len = header.len() as u64;
    if len > MAX_HEADER_BYTES {
        return Err(SafetensorsError::HeaderTooLarge(len));
    }
    Ok(header)
}

/// Streams a safetensors file: the header at construction, then each tensor's bytes in
/// the planned order through [`SafetensorsWriter::write_tensor`].
pub struct SafetensorsWriter<W: Write> {
    out: W,
    plan: Vec<PlannedTensor>,
    next: usize,
}

impl<W: Write> SafetensorsWriter<W> {
    /// Write the length prefix and header for `plan` to `out`.
    pub fn begin(
        mut out: W,
        plan: Vec<PlannedTensor>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self, SafetensorsError> {
        let header = build_header(&plan, metadata)?;
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        Ok(SafetensorsWriter { out, plan, next: 0 })
    }

    /// The tensor whose bytes are expected next, if any.
    pub fn next_tensor(&self) -> Option<&PlannedTensor> {
        self.plan.get(self.next)
    }

    /// Let `fill` write the next tensor's bytes; checks it wrote exactly the planned count.
    pub fn write_tensor<E>(
        &mut self,
        fill: impl FnOnce(&mut CountingWriter<&mut W>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<SafetensorsError>,
    {
        let Some(planned) = self.plan.get(self.next) else {
            return Err(SafetensorsError::Misuse("more tensors written than planned").into());
        };
        let mut counting = CountingWriter {
            inner: &mut self.out,
            count: 0,
        };
        fill(&mut counting)?;
        if counting.count != planned.nbytes {
            return Err(SafetensorsError::WrongLength {
                name: planned.name.clone(),
                written: counting.count,
                expected: planned.nbytes,
            }
            .into());
        }
        self.next += 1;
        Ok(())
    }

    /// Check every tensor was written, flush, and give the writer back.
    pub fn finish(mut self) -> Result<W, SafetensorsError> {
        if self.next != self.plan.len() {
            return Err(SafetensorsError::Misuse(
                "finished before every tensor was written",
            ));
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A writer that counts the bytes passed through.
pub struct CountingWriter<W: Write> {
    inner: W,
    count: u64,
}

impl<W: Write> CountingWriter<W> {
    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wrapped writer (writes through it are not counted).
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Record `n` bytes written directly through [`Self::inner_mut`].
    pub fn add_uncounted(&mut self, n: u64) {
        self.count = self.count.saturating_add(n);
    }
}

impl<W: super::sink::TensorSink> super::sink::TensorSink for CountingWriter<W> {
    fn copy_from_file(&mut self, src: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
        self.inner.copy_from_file(src, offset, len)?;
        self.count = self.count.saturating_add(len);
        Ok(())
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A tensor found by [`read_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTensor {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<u64>,
    /// Byte range in the file (absolute).
    pub start: u64,
    /// End of the byte range (exclusive, absolute).
    pub end: u64,
}

/// The parsed header of a safetensors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Tensors in data order.
    pub tensors: Vec<StoredTensor>,
    /// The `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
}

/// Strictly read a safetensors header from `input` whose total length is `file_len`:
/// the header must be a JSON object within [`MAX_HEADER_BYTES`]; every tensor a known
/// dtype, at most [`MAX_DIMS`] dims, `data_offsets` matching `numel × itemsize`; the data
/// regions must tile the data section exactly (no holes, no overlap, nothing after).
pub fn read_header(mut input: impl Read, file_len: u64) -> Result<StoredFile, SafetensorsError> {
    let bad = |m: String| SafetensorsError::Invalid(m);
    let mut prefix = [0u8; 8];
    input.read_exact(&mut prefix)?;
    let header_len = u64::from_le_bytes(prefix);
    if header_len > MAX_HEADER_BYTES {
        return Err(SafetensorsError::HeaderTooLarge(header_len));
    }
    let data_start = 8u64
        .checked_add(header_len)
        .filter(|&s| s <= file_len)
        .ok_or_else(|| bad("header runs past the end of the file".into()))?;
    let mut header = vec![0u8; header_len as usize];
    input.read_exact(&mut header)?;
    let value: Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad("header is not a JSON object".into()));
    };
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::new();
    for (name, entry) in map {
        if name == METADATA_KEY {
            let Value::Object(meta) = entry else {
                return Err(bad("__metadata__ is not an object".into()));
            };
            for (k, v) in meta {
                let Value::String(v) = v else {
                    return Err(bad(format!("metadata {k:?} is not a string")));
                };
                metadata.insert(k, v);
            }
            continue;
        }
        tensors.push(parse_entry(&name, &entry, data_start)?);
    }
    tensors.sort_by_key(|t| (t.start, t.end));
    let mut at = data_start;
    let mut names = BTreeSet::new();
    for t in &tensors {
        if t.start != at {
            return Err(bad(format!(
                "tensor {:?} does not start where the previous ended",
                t.name
            )));
        }
        names.insert(t.name.clone());
        at = t.end;
    }
    if at != file_len {
        return Err(bad(format!(
            "data section ends at {at}, file is {file_len} bytes"
        )));
    }
    Ok(StoredFile { tensors, metadata })
}

fn parse_entry(
    name: &str,
    entry: &Value,
    data_start: u64,
) -> Result<StoredTensor, SafetensorsError> {
    let bad = |m: &str| SafetensorsError::Invalid(format!("tensor {name:?}: {m}"));
    let Value::Object(fields) = entry else {
        return Err(bad("entry is not an object"));
    };
    if fields
        .keys()
        .any(|k| !matches!(k.as_str(), "dtype" | "shape" | "data_offsets"))
    {
        return Err(bad("unknown field"));
    }
    let dtype = fields
        .get("dtype")
        .and_then(Value::as_str)
        .and_then(Dtype::parse)
        .ok_or_else(|| bad("missing or unknown dtype"))?;
    let shape: Vec<u64> = fields
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("missing shape"))?
        .iter()
        .map(|d| d.as_u64().ok_or_else(|| bad("shape entry is not a u64")))
        .collect::<Result<_, _>>()?;
    if shape.len() > MAX_DIMS {
        return Err(bad("too many dimensions"));
    }
    let offsets = fields
        .get("data_offsets")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("missing data_offsets"))?;
    let (begin, end) = match offsets.as_slice() {
        [b, e] => (
            b.as_u64().ok_or_else(|| bad("bad data_offsets"))?,
            e.as_u64().ok_or_else(|| bad("bad data_offsets"))?,
        ),
        _ => return Err(bad("data_offsets is not a pair")),
    };
    let nbytes = numel(&shape)
        .and_then(|n| n.checked_mul(dtype.size()))
        .ok_or_else(|| bad("size overflows"))?;
    if end.checked_sub(begin) != Some(nbytes) {
        return Err(bad("data_offsets do not match dtype and shape"));
    }
    let start = data_start
        .checked_add(begin)
        .ok_or_else(|| bad("offset overflows"))?;
    let end = data_start
        .checked_add(end)
        .ok_or_else(|| bad("offset overflows"))?;
    Ok(StoredTensor {
        name: name.to_string(),
        dtype,
        shape,
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, dtype: Dtype, shape: Vec<u64>) -> PlannedTensor {
        let nbytes = numel(&shape).unwrap() * dtype.size();
        PlannedTensor {
            name: name.into(),
            dtype,
            shape,
            nbytes,
        }
    }

    #[test]
    fn writes_aligned_header_and_reads_back() {
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "npy \"quoted\"\n".to_string());
        let tensors = vec![
            plan("a", Dtype::F32, vec![2, 2]),
            plan("b", Dtype::U8, vec![3]),
        ];
        let mut w = SafetensorsWriter::begin(Vec::new(), tensors, &meta).unwrap();
        w.write_tensor::<SafetensorsError>(|o| Ok(o.write_all(&[1u8; 16])?))
            .unwrap();
        w.write_tensor::<SafetensorsError>(|o| Ok(o.write_all(&[7, 8, 9])?))
            .unwrap();
        let bytes = w.finish().unwrap();
        let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(hlen % 8, 0);
        let file = read_header(&bytes[..], bytes.len() as u64).unwrap();
        assert_eq!(file.metadata, meta);
        assert_eq!(file.tensors.len(), 2);
        assert_eq!(file.tensors[1].name, "b");
        let b = &file.tensors[1];
        assert_eq!(&bytes[b.start as usize..b.end as usize], &[7, 8, 9]);
    }

    #[test]
    fn wrong_length_and_reserved_names_are_errors() {
        let mut w = SafetensorsWriter::begin(
            Vec::new(),
            vec![plan("a", Dtype::F32, vec![1])],
            &BTreeMap::new(),
        )
        .unwrap();
        let err = w
            .write_tensor::<SafetensorsError>(|o| Ok(o.write_all(&[1, 2])?))
            .unwrap_err();
        assert!(matches!(
            err,
            SafetensorsError::WrongLength { written: 2, .. }
        ));
        let err = build_header(&[plan(METADATA_KEY, Dtype::U8, vec![])], &BTreeMap::new());
        assert!(matches!(err, Err(SafetensorsError::BadName(_))));
        let w = SafetensorsWriter::begin(
            Vec::new(),
            vec![plan("a", Dtype::F32, vec![1])],
            &BTreeMap::new(),
        )
        .unwrap();
        assert!(matches!(w.finish(), Err(SafetensorsError::Misuse(_))));
    }

    #[test]
    fn reader_rejects_holes_and_trailing_bytes() {
        let header = br#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0, 0, 0]);
        assert!(read_header(&bytes[..], bytes.len() as u64).is_err());
        let header = br#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0, 0, 0]);
        assert!(read_header(&bytes[..], bytes.len() as u64).is_err());
        bytes.pop();
        assert!(read_header(&bytes[..], bytes.len() as u64).is_ok());
    }
}
