//! safetensors files, validated as strictly as the reference implementation
//! (huggingface/safetensors, `safetensors/src/tensor.rs`), and a little more:
//!
//! ```text
//! u64 LE header length N | N bytes of UTF-8 JSON | data
//! ```
//!
//! - `N` ≤ [`MAX_HEADER_SIZE`] (100 MB) and `8 + N` ≤ file length; the header starts with
//!   `{`, is valid UTF-8 and a JSON object (trailing spaces allowed, as the writer pads);
//! - no duplicate keys anywhere (serde_json would silently keep the last one: a file that
//!   means different things to different readers is refused);
//! - `__metadata__`, if present, maps strings to strings; it becomes `LoadResult.metadata`;
//! - each tensor has exactly `dtype`, `shape` and `data_offsets`; the dtype is one modelseal
//!   supports; at most [`MAX_DIMS`] dimensions;
//! - sorted by offsets, tensors are contiguous from 0: no gap, no overlap, `end ≥ start`,
//!   `end − start = numel × itemsize` (checked arithmetic), and the last end is exactly the
//!   end of the file.
//!
//! Descriptors point into the input; nothing is copied.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use crate::host::Host;
use crate::numpy::{MAX_DIMS, checked_sizes};
use crate::result::{
    ByteOrder, Dtype, LoadError, LoadResult, Options, Storage, StorageSource, TensorDesc,
};

/// Largest header accepted (the reference implementation's limit).
pub const MAX_HEADER_SIZE: u64 = 100_000_000;
/// The key holding free-form string metadata.
const METADATA_KEY: &str = "__metadata__";

/// One tensor entry of the header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Info {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The header: tensors in file order, and the metadata map.
#[derive(Debug, Default)]
struct Header {
    metadata: BTreeMap<String, String>,
    tensors: Vec<(String, Info)>,
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensors")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut header = Header::default();
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            if key == METADATA_KEY {
                header.metadata = map.next_value::<StringMap>()?.0;
            } else {
                let info = map.next_value::<Info>()?;
                header.tensors.push((key, info));
            }
        }
        Ok(header)
    }
}

/// A string → string map that refuses duplicate keys.
struct StringMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping strings to strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<String>()?;
                    if out.insert(key.clone(), value).is_some() {
                        return Err(de::Error::custom(format!(
                            "duplicate __metadata__ key {key:?}"
                        )));
                    }
                }
                Ok(StringMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The modelseal element type for a safetensors dtype name.
pub fn dtype_from_name(name: &str) -> Result<Dtype, LoadError> {
    Ok(match name {
        "F64" => Dtype::F64,
        "F32" => Dtype::F32,
        "F16" => Dtype::F16,
        "BF16" => Dtype::BF16,
        "F8_E4M3" => Dtype::F8_E4M3,
        "F8_E5M2" => Dtype::F8_E5M2,
        "I64" => Dtype::I64,
        "I32" => Dtype::I32,
        "I16" => Dtype::I16,
        "I8" => Dtype::I8,
        "U64" => Dtype::U64,
        "U32" => Dtype::U32,
        "U16" => Dtype::U16,
        "U8" => Dtype::U8,
        "BOOL" => Dtype::BOOL,
        "F8_E8M0" | "F4" | "F6_E2M3" | "F6_E3M2" | "C64" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ" => {
            return Err(LoadError::unsupported(format!(
                "safetensors dtype {name} is not supported"
            )));
        }
        _ => {
            return Err(LoadError::malformed(format!(
                "unknown safetensors dtype {name:?}"
            )));
        }
    })
}

/// Loads a safetensors file: every tensor described in place, `__metadata__` as metadata.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let file_len = host.input_len()?;
    if file_len < 8 {
        return Err(LoadError::malformed(
            "safetensors file is shorter than its 8-byte header length",
        ));
    }
    let n_bytes = host.read_vec(0, 0, 8)?;
    let mut n = [0u8; 8];
    n.copy_from_slice(&n_bytes);
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER_SIZE {
        return Err(LoadError::malformed(format!(
            "safetensors header length {n} exceeds the {MAX_HEADER_SIZE}-byte maximum"
        )));
    }
    let data_start = 8 + n;
    if data_start > file_len {
        return Err(LoadError::malformed(format!(
            "safetensors header length {n} runs past the end of the file ({file_len} bytes)"
        )));
    }
    let raw = host.read_vec(0, 8, n)?;
    let text = std::str::from_utf8(&raw)
        .map_err(|_| LoadError::malformed("safetensors header is not valid UTF-8"))?;
    if !text.starts_with('{') {
        return Err(LoadError::malformed(
            "safetensors header does not start with '{'",
        ));
    }
    let header: Header = serde_json::from_str(text)
        .map_err(|e| LoadError::malformed(format!("safetensors header is invalid: {e}")))?;
    if header.tensors.len() as u64 > options.limits.max_tensors {
        return Err(LoadError::limit(format!(
            "safetensors file has {} tensors, more than max_tensors ({})",
            header.tensors.len(),
            options.limits.max_tensors
        )));
    }

    let mut tensors = header.tensors;
    tensors.sort_by_key(|(_, info)| info.data_offsets);
    let data_len = file_len - data_start;
    let mut cursor: u64 = 0;
    let mut out = Vec::with_capacity(tensors.len());
    for (name, info) in tensors {
        let (start, end) = info.data_offsets;
        if name.is_empty() {
            return Err(LoadError::malformed(
                "safetensors tensor with an empty name",
            ));
        }
        if start != cursor || end < start {
            return Err(LoadError::malformed(format!(
                "safetensors tensor {name:?}: data_offsets [{start}, {end}] leave a gap or \
                 overlap (expected to start at {cursor})"
            )));
        }
        let dtype = dtype_from_name(&info.dtype)
            .map_err(|e| LoadError::new(e.kind, format!("tensor {name:?}: {}", e.message)))?;
        if info.shape.len() > MAX_DIMS {
            return Err(LoadError::unsupported(format!(
                "safetensors tensor {name:?} has {} dimensions, more than the {MAX_DIMS} \
                 supported",
                info.shape.len()
            )));
        }
        let (_, nbytes) = checked_sizes(&info.shape, dtype.size())
            .map_err(|e| LoadError::malformed(format!("tensor {name:?}: {}", e.message)))?;
        if end - start != nbytes {
            return Err(LoadError::malformed(format!(
                "safetensors tensor {name:?}: data_offsets span {} bytes but shape {:?} of {} \
                 needs {nbytes}",
                end - start,
                info.shape,
                info.dtype
            )));
        }
        if end > data_len {
            return Err(LoadError::malformed(format!(
                "safetensors tensor {name:?} runs past the end of the file"
            )));
        }
        cursor = end;
        let storage = Storage {
            source: StorageSource::Input,
            offset: data_start + start,
            length: nbytes,
        };
        out.push(TensorDesc::contiguous(
            name,
            dtype,
            info.shape,
            ByteOrder::Little,
            storage,
        ));
    }
    if cursor != data_len {
        return Err(LoadError::malformed(format!(
            "safetensors tensors cover {cursor} bytes but the data section has {data_len} \
             (the data must be covered exactly)"
        )));
    }
    Ok(LoadResult {
        format: "safetensors".into(),
        tensors: out,
        metadata: header.metadata,
        ..Default::default()
    })
}
