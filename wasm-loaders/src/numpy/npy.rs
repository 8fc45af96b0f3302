//! The `.npy` format (versions 1.0, 2.0 and 3.0), as specified in NumPy's
//! `numpy/lib/format.py`:
//!
//! ```text
//! "\x93NUMPY" major minor  header_len (u16 LE in 1.0, u32 LE in 2.0/3.0)  header  data
//! ```
//!
//! The header is a Python dict literal with exactly the keys `descr`, `fortran_order` and
//! `shape` (parsed by [`super::literal`], never evaluated), padded with spaces and ending in
//! a newline; 1.0/2.0 headers are latin-1, 3.0 headers UTF-8.
//!
//! Rules enforced here:
//! - the header is at most [`MAX_HEADER_LEN`] bytes (NumPy's own default cap) and lies
//!   inside the file;
//! - `numel × itemsize` is computed with checked arithmetic (over non-zero dimensions too,
//!   so an empty array cannot declare an absurd shape) and must not exceed `i64::MAX`;
//! - the data is **exactly** `numel × itemsize` bytes: a truncated file is malformed, and so
//!   are trailing bytes (NumPy never writes them; refusing them leaves no place to smuggle a
//!   payload);
//! - Fortran-ordered arrays are described with column-major strides (the host gathers);
//!   big-endian data is reported as such in `byte_order`.

use crate::host::Host;
use crate::numpy::literal::{self, Literal};
use crate::numpy::{MAX_DIMS, checked_sizes, parse_descr};
use crate::result::{
    ByteOrder, Dtype, LoadError, LoadResult, Options, Storage, StorageSource, TensorDesc,
};

/// The six magic bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Largest header accepted, in bytes (NumPy's `np.load` refuses larger ones by default).
pub const MAX_HEADER_LEN: u64 = 10_000;
/// Name given to the single tensor of a `.npy` file.
pub const TENSOR_NAME: &str = "array";
/// Bytes needed to know the header length: magic, version, and a 4-byte length.
pub const PREAMBLE_PROBE: usize = 12;

/// A validated `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version `(major, minor)`.
    pub version: (u8, u8),
    /// Element type.
    pub dtype: Dtype,
    /// Byte order of the elements.
    pub byte_order: ByteOrder,
    /// Dimensions, in the order NumPy reports them.
    pub shape: Vec<u64>,
    /// Whether the data is stored column-major.
    pub fortran_order: bool,
    /// Bytes before the data: magic, version, length field and header.
    pub data_start: u64,
    /// Bytes of element data: `numel × itemsize`.
    pub data_len: u64,
}

impl NpyHeader {
    /// The tensor descriptor for this array whose data lives at `storage`.
    pub fn tensor(&self, name: &str, storage: Storage) -> TensorDesc {
        let mut t = TensorDesc::contiguous(
            name,
            self.dtype,
            self.shape.clone(),
            self.byte_order,
            storage,
        );
        if self.fortran_order {
            let mut acc: u64 = 1;
            for (stride, &dim) in t.strides.iter_mut().zip(&self.shape) {
                *stride = acc;
                // Cannot overflow: `checked_sizes` bounded the product of non-zero dims.
                acc = acc.saturating_mul(dim.max(1));
            }
        }
        t
    }
}

/// From the first bytes of a `.npy` stream (at least [`PREAMBLE_PROBE`] of them, or the
/// whole stream if shorter), returns the version and the total header size (`data_start`).
pub fn header_extent(prefix: &[u8]) -> Result<((u8, u8), u64), LoadError> {
    let truncated = || LoadError::malformed("npy file is truncated inside its preamble");
    if !prefix.starts_with(MAGIC) {
        if prefix.len() < MAGIC.len() && MAGIC.starts_with(prefix) {
            return Err(truncated());
        }
        return Err(LoadError::malformed("not an npy file (bad magic)"));
    }
    if prefix.len() < 10 {
        return Err(truncated());
    }
    let version = (prefix[6], prefix[7]);
    let (len, fixed) = match version {
        (1, 0) => (u64::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10u64),
        (2, 0) | (3, 0) => {
            let b = prefix.get(8..12).ok_or_else(truncated)?;
            (
                u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                12u64,
            )
        }
        (major, minor) => {
            return Err(LoadError::unsupported(format!(
                "npy format version {major}.{minor} is not supported"
            )));
        }
    };
    if len > MAX_HEADER_LEN {
        return Err(LoadError::malformed(format!(
            "npy header length {len} exceeds the {MAX_HEADER_LEN}-byte maximum"
        )));
    }
    Ok((version, fixed + len))
}

/// Parses a complete header block (`bytes` starts at the magic and holds at least
/// `data_start` bytes) and checks its shape arithmetic.
pub fn parse_header(bytes: &[u8]) -> Result<NpyHeader, LoadError> {
    let (version, data_start) = header_extent(bytes)?;
    let fixed = if version.0 == 1 { 10 } else { 12 };
    let text = usize::try_from(data_start)
        .ok()
        .and_then(|end| bytes.get(fixed..end))
        .ok_or_else(|| LoadError::malformed("npy file is truncated inside its header"))?;
    let dict = match literal::parse(text, version.0 < 3)? {
        Literal::Dict(d) => d,
        _ => return Err(LoadError::malformed("npy header is not a dictionary")),
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in dict {
        match key.as_str() {
            "descr" => descr = Some(value),
            "fortran_order" => fortran = Some(value),
            "shape" => shape = Some(value),
            other => {
                return Err(LoadError::malformed(format!(
                    "npy header has an unexpected key {other:?}"
                )));
            }
        }
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err(LoadError::malformed(
            "npy header must have exactly the keys 'descr', 'fortran_order' and 'shape'",
        ));
    };
    let (dtype, byte_order) = match descr {
        Literal::Str(s) => parse_descr(&s)?,
        Literal::List(_) => {
            return Err(LoadError::unsupported(
                "structured NumPy dtypes (record arrays) are not supported",
            ));
        }
        _ => return Err(LoadError::malformed("npy header 'descr' is not a string")),
    };
    let Literal::Bool(fortran_order) = fortran else {
        return Err(LoadError::malformed(
            "npy header 'fortran_order' is not True or False",
        ));
    };
    let Literal::Tuple(dims) = shape else {
        return Err(LoadError::malformed("npy header 'shape' is not a tuple"));
    };
    if dims.len() > MAX_DIMS {
        return Err(LoadError::unsupported(format!(
            "npy array has {} dimensions, more than the {MAX_DIMS} supported",
            dims.len()
        )));
    }
    let shape = dims
        .into_iter()
        .map(|d| match d {
            Literal::Int(n) => Ok(n),
            _ => Err(LoadError::malformed(
                "npy header 'shape' holds something other than integers",
            )),
        })
        .collect::<Result<Vec<u64>, _>>()?;
    let (_, data_len) = checked_sizes(&shape, dtype.size())
        .map_err(|e| LoadError::malformed(format!("npy array: {}", e.message)))?;
    Ok(NpyHeader {
        version,
        dtype,
        byte_order,
        shape,
        fortran_order,
        data_start,
        data_len,
    })
}

/// Reads and validates the header of the `.npy` stream stored at `start..start + len` of
/// `source`, and checks the data fills the rest exactly.
pub fn read_header(
    host: &mut dyn Host,
    source: u32,
    start: u64,
    len: u64,
) -> Result<NpyHeader, LoadError> {
    let probe = len.min(PREAMBLE_PROBE as u64);
    let prefix = host.read_vec(source, start, probe)?;
    let (_, data_start) = header_extent(&prefix)?;
    if data_start > len {
        return Err(LoadError::malformed(format!(
            "npy header of {data_start} bytes runs past the end of the data ({len} bytes)"
        )));
    }
    let bytes = host.read_vec(source, start, data_start)?;
    let header = parse_header(&bytes)?;
    check_data_len(&header, len - data_start)?;
    Ok(header)
}

/// Checks that `available` bytes after the header are exactly the array's data.
pub fn check_data_len(header: &NpyHeader, available: u64) -> Result<(), LoadError> {
    if available < header.data_len {
        return Err(LoadError::malformed(format!(
            "npy data is truncated: shape {:?} of {:?} needs {} bytes, {available} present",
            header.shape, header.dtype, header.data_len
        )));
    }
    if available > header.data_len {
        return Err(LoadError::malformed(format!(
            "npy file has {} bytes after the array data",
            available - header.data_len
        )));
    }
    Ok(())
}

/// Loads a `.npy` file: one tensor named [`TENSOR_NAME`], described in place.
pub fn load(host: &mut dyn Host, _options: &Options) -> Result<LoadResult, LoadError> {
    let len = host.input_len()?;
    let header = read_header(host, 0, 0, len)?;
    let storage = Storage {
        source: StorageSource::Input,
        offset: header.data_start,
        length: header.data_len,
    };
    let mut result = LoadResult {
        format: "npy".into(),
        ..Default::default()
    };
    result.tensors.push(header.tensor(TENSOR_NAME, storage));
    Ok(result)
}
