//! `TensorProto`: the header pass (name, dims, data_type, where the data is) and the
//! conversion into a [`TensorDesc`].

use super::typed::Kind;
use super::wire::WireType;
use super::{Loader, MAX_DIMS, MAX_NAME_BYTES, MAX_SHORT_STRING};
use crate::result::{ByteOrder, Dtype, LoadError, Storage, StorageSource, TensorDesc};

// TensorProto fields.
const DIMS: u32 = 1;
const DATA_TYPE: u32 = 2;
const SEGMENT: u32 = 3;
pub(super) const FLOAT_DATA: u32 = 4;
pub(super) const INT32_DATA: u32 = 5;
const STRING_DATA: u32 = 6;
pub(super) const INT64_DATA: u32 = 7;
const NAME: u32 = 8;
const RAW_DATA: u32 = 9;
pub(super) const DOUBLE_DATA: u32 = 10;
pub(super) const UINT64_DATA: u32 = 11;
const EXTERNAL_DATA: u32 = 13;
const DATA_LOCATION: u32 = 14;

/// `TensorProto.DataLocation.EXTERNAL`.
const LOCATION_EXTERNAL: i32 = 1;
/// Most `external_data` entries accepted (four keys are defined).
const MAX_EXTERNAL_ENTRIES: usize = 16;

/// Bit for each typed-data field in [`TensorMsg::typed`].
fn typed_bit(field: u32) -> u8 {
    match field {
        FLOAT_DATA => 1,
        INT32_DATA => 2,
        STRING_DATA => 4,
        INT64_DATA => 8,
        DOUBLE_DATA => 16,
        UINT64_DATA => 32,
        _ => 0,
    }
}

/// Name of the typed-data field for bit `bit`.
fn typed_name(bit: u8) -> &'static str {
    match bit {
        1 => "float_data",
        2 => "int32_data",
        4 => "string_data",
        8 => "int64_data",
        16 => "double_data",
        _ => "uint64_data",
    }
}

/// The header of a `TensorProto`: everything except the element values.
#[derive(Debug, Default)]
pub(super) struct TensorMsg {
    /// Range of the message in the input.
    pub start: u64,
    /// End of the message.
    pub end: u64,
    /// `name`, if present.
    pub name: Option<String>,
    /// `dims` (negative ones are recorded in `negative_dim`).
    pub dims: Vec<u64>,
    /// The first negative dimension, refused once the tensor's name is known.
    pub negative_dim: Option<i64>,
    /// Whether there were more than [`MAX_DIMS`] dimensions.
    pub too_many_dims: bool,
    /// `data_type` (0 if absent).
    pub data_type: i32,
    /// `raw_data` as (offset, length) in the input.
    pub raw: Option<(u64, u64)>,
    /// Which typed-data fields occur (bits from [`typed_bit`]).
    pub typed: u8,
    /// `data_location`.
    pub location: i32,
    /// `external_data` entries.
    pub external: Vec<(String, String)>,
    /// Whether `segment` is set.
    pub segment: bool,
}

/// How a data type maps to our element types.
enum Mapped {
    /// Supported, with the typed field that carries it when not in `raw_data`.
    Dtype(Dtype, u32, Kind),
    /// `STRING`: skipped.
    String,
}

/// Map `TensorProto.DataType` to a [`Dtype`] (and its typed field and decoding).
fn map_data_type(dt: i32, name: &str) -> Result<Mapped, LoadError> {
    let m = |d, f, k| Ok(Mapped::Dtype(d, f, k));
    match dt {
        1 => m(Dtype::F32, FLOAT_DATA, Kind::F32Bits),
        2 => m(Dtype::U8, INT32_DATA, Kind::U8),
        3 => m(Dtype::I8, INT32_DATA, Kind::I8),
        4 => m(Dtype::U16, INT32_DATA, Kind::U16),
        5 => m(Dtype::I16, INT32_DATA, Kind::I16),
        6 => m(Dtype::I32, INT32_DATA, Kind::I32),
        7 => m(Dtype::I64, INT64_DATA, Kind::I64),
        8 => Ok(Mapped::String),
        9 => m(Dtype::BOOL, INT32_DATA, Kind::Bool),
        10 => m(Dtype::F16, INT32_DATA, Kind::U16),
        11 => m(Dtype::F64, DOUBLE_DATA, Kind::F64Bits),
        12 => m(Dtype::U32, UINT64_DATA, Kind::U32),
        13 => m(Dtype::U64, UINT64_DATA, Kind::U64),
        16 => m(Dtype::BF16, INT32_DATA, Kind::U16),
        17 => m(Dtype::F8_E4M3, INT32_DATA, Kind::U8),
        19 => m(Dtype::F8_E5M2, INT32_DATA, Kind::U8),
        0 => Err(LoadError::malformed(format!(
            "tensor '{name}' has no data_type (UNDEFINED)"
        ))),
        other => {
            let type_name = match other {
                14 => "COMPLEX64",
                15 => "COMPLEX128",
                18 => "FLOAT8E4M3FNUZ",
                20 => "FLOAT8E5M2FNUZ",
                21 => "UINT4",
                22 => "INT4",
                23 => "FLOAT4E2M1",
                24 => "FLOAT8E8M0",
                25 => "UINT2",
                26 => "INT2",
                27 => "FLOAT6E2M3",
                28 => "FLOAT6E3M2",
                _ => "an unknown data type",
            };
            Err(LoadError::unsupported(format!(
                "tensor '{name}' has data_type {other} ({type_name}), which modelseal does not support"
            )))
        }
    }
}

impl Loader<'_> {
    /// Header pass over a `TensorProto` that starts at the current position and ends at
    /// `end`; leaves the position at `end`.
    pub(super) fn tensor_msg(&mut self, end: u64) -> Result<TensorMsg, LoadError> {
        let mut t = TensorMsg {
            start: self.w.pos(),
            end,
            ..TensorMsg::default()
        };
        let mut seen_type = false;
        let mut seen_location = false;
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            let bad = || {
                LoadError::malformed(format!(
                    "TensorProto field {} has wire type {:?}, which onnx.proto does not allow",
                    tag.field, tag.wire
                ))
            };
            match tag.field {
                DIMS => match tag.wire {
                    WireType::Varint => {
                        let v = self.w.varint(end)?;
                        t.push_dim(v);
                    }
                    WireType::Len => {
                        let sub = self.w.len_delimited(end)?;
                        while self.w.pos() < sub {
                            let v = self.w.varint(sub)?;
                            t.push_dim(v);
                        }
                    }
                    _ => return Err(bad()),
                },
                DATA_TYPE | DATA_LOCATION => {
                    if tag.wire != WireType::Varint {
                        return Err(bad());
                    }
                    let seen = if tag.field == DATA_TYPE {
                        &mut seen_type
                    } else {
                        &mut seen_location
                    };
                    if *seen {
                        return Err(LoadError::malformed(format!(
                            "TensorProto has field {} twice",
                            tag.field
                        )));
                    }
                    *seen = true;
                    let raw = self.w.varint(end)? as i64;
                    let v = i32::try_from(raw).map_err(|_| {
                        LoadError::malformed(format!(
                            "TensorProto field {} value {raw} is out of int32 range",
                            tag.field
                        ))
                    })?;
                    if tag.field == DATA_TYPE {
                        t.data_type = v;
                    } else {
                        t.location = v;
                    }
                }
                SEGMENT => {
                    t.segment = true;
                    self.w.skip(tag.wire, end)?;
                }
                FLOAT_DATA | INT32_DATA | STRING_DATA | INT64_DATA | DOUBLE_DATA | UINT64_DATA => {
                    let ok = match tag.field {
                        FLOAT_DATA => matches!(tag.wire, WireType::Len | WireType::I32),
                        DOUBLE_DATA => matches!(tag.wire, WireType::Len | WireType::I64),
                        STRING_DATA => tag.wire == WireType::Len,
                        _ => matches!(tag.wire, WireType::Len | WireType::Varint),
                    };
                    if !ok {
                        return Err(bad());
                    }
                    t.typed |= typed_bit(tag.field);
                    self.w.skip(tag.wire, end)?;
                }
                NAME => {
                    if tag.wire != WireType::Len {
                        return Err(bad());
                    }
                    let sub = self.w.len_delimited(end)?;
                    let name = self.string(sub, MAX_NAME_BYTES, "tensor name")?;
                    if t.name.replace(name).is_some() {
                        return Err(LoadError::malformed("TensorProto has two names"));
                    }
                }
                RAW_DATA => {
                    if tag.wire != WireType::Len {
                        return Err(bad());
                    }
                    let sub = self.w.len_delimited(end)?;
                    let at = self.w.pos();
                    if t.raw.replace((at, sub - at)).is_some() {
                        return Err(LoadError::malformed(format!(
                            "tensor '{}' has raw_data twice",
                            t.name.as_deref().unwrap_or("?")
                        )));
                    }
                    self.w.seek(sub)?;
                }
                EXTERNAL_DATA => {
                    if tag.wire != WireType::Len {
                        return Err(bad());
                    }
                    let sub = self.w.len_delimited(end)?;
                    if t.external.len() >= MAX_EXTERNAL_ENTRIES {
                        return Err(LoadError::limit(format!(
                            "tensor has more than {MAX_EXTERNAL_ENTRIES} external_data entries"
                        )));
                    }
                    let entry = self.exact_entry(sub)?;
                    t.external.push(entry);
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        Ok(t)
    }

    /// A `StringStringEntryProto` whose key and value must be valid, short UTF-8.
    fn exact_entry(&mut self, end: u64) -> Result<(String, String), LoadError> {
        let mut key = String::new();
        let mut value = String::new();
        while self.w.pos() < end {
            let tag = self.w.tag(end)?;
            match (tag.field, tag.wire) {
                (1, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    key = self.string(sub, MAX_SHORT_STRING, "external_data key")?;
                }
                (2, WireType::Len) => {
                    let sub = self.w.len_delimited(end)?;
                    value = self.string(sub, MAX_SHORT_STRING, "external_data value")?;
                }
                (1 | 2, _) => {
                    return Err(LoadError::malformed(
                        "external_data entry field has the wrong wire type",
                    ));
                }
                _ => self.w.skip(tag.wire, end)?,
            }
        }
        Ok((key, value))
    }

    /// Convert the tensor `t` (an initializer or Constant value) to a descriptor named
    /// `name` and add it; string tensors are skipped with a warning.
    pub(super) fn add_tensor(
        &mut self,
        t: &TensorMsg,
        name: String,
        what: &str,
    ) -> Result<(), LoadError> {
        self.check_new_name(&name)?;
        let (dtype, field, kind) = match map_data_type(t.data_type, &name)? {
            Mapped::String => {
                self.warn(format!("{what} '{name}' is a string tensor; skipped"));
                return Ok(());
            }
            Mapped::Dtype(d, f, k) => (d, f, k),
        };
        if let Some(d) = t.negative_dim {
            return Err(LoadError::malformed(format!(
                "tensor '{name}' has negative dimension {d}"
            )));
        }
        if t.too_many_dims {
            return Err(LoadError::unsupported(format!(
                "tensor '{name}' has more than {MAX_DIMS} dimensions"
            )));
        }
        if t.segment {
            return Err(LoadError::unsupported(format!(
                "tensor '{name}' is a segment of a larger tensor (TensorProto.segment)"
            )));
        }
        let numel = t
            .dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                LoadError::malformed(format!(
                    "tensor '{name}': the product of dims {:?} overflows",
                    t.dims
                ))
            })?;
        let nbytes = numel.checked_mul(dtype.size()).ok_or_else(|| {
            LoadError::malformed(format!(
                "tensor '{name}': byte size of dims {:?} overflows",
                t.dims
            ))
        })?;

        let expected_bit = typed_bit(field);
        if t.typed & !expected_bit != 0 {
            let wrong = t.typed & !expected_bit;
            let bit = 1u8 << wrong.trailing_zeros();
            return Err(LoadError::malformed(format!(
                "tensor '{name}' of type {dtype:?} has {}, which that type does not use",
                typed_name(bit)
            )));
        }

        let storage = if t.location == LOCATION_EXTERNAL {
            if t.raw.is_some() || t.typed != 0 {
                return Err(LoadError::malformed(format!(
                    "tensor '{name}' has external data and also data inside the model"
                )));
            }
            self.external_storage(t, &name, nbytes)?
        } else if t.location != 0 {
            return Err(LoadError::malformed(format!(
                "tensor '{name}' has unknown data_location {}",
                t.location
            )));
        } else if let Some((offset, length)) = t.raw {
            if t.typed != 0 {
                return Err(LoadError::malformed(format!(
                    "tensor '{name}' has both raw_data and {}",
                    typed_name(t.typed)
                )));
            }
            if length != nbytes {
                return Err(LoadError::malformed(format!(
                    "tensor '{name}': raw_data has {length} bytes but dims {:?} of {dtype:?} need {nbytes}",
                    t.dims
                )));
            }
            Storage {
                source: StorageSource::Input,
                offset,
                length,
            }
        } else if t.typed != 0 {
            let (storage, _) =
                self.decode_typed(t.start, t.end, field, kind, Some(numel), &name)?;
            storage
        } else if numel == 0 {
            super::typed::empty_output()
        } else {
            return Err(LoadError::malformed(format!(
                "tensor '{name}' has dims {:?} but no data",
                t.dims
            )));
        };
        let desc = TensorDesc::contiguous(name, dtype, t.dims.clone(), ByteOrder::Little, storage);
        self.push_tensor(desc)
    }
}

impl TensorMsg {
    /// Record a dimension read as a protobuf int64; negative values and dimensions past
    /// [`MAX_DIMS`] are noted (and refused by [`Loader::add_tensor`], which knows the name).
    fn push_dim(&mut self, raw: u64) {
        let v = raw as i64;
        if v < 0 {
            self.negative_dim.get_or_insert(v);
        } else if self.dims.len() >= MAX_DIMS {
            self.too_many_dims = true;
        } else {
            self.dims.push(raw);
        }
    }
}
