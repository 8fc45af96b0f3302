//! GGUF metadata key/value pairs → stringified metadata entries.
//!
//! Every length and count is checked against the bytes remaining before it is used;
//! array nesting is bounded; long strings are truncated and long arrays summarised (the
//! rest of their bytes is skipped, not read into memory). `tokenizer.chat_template*`
//! values are Jinja templates: they are never copied, only their size is reported with a
//! warning.

use super::reader::Reader;
use crate::result::LoadError;

/// GGUF value type ids.
pub(super) mod vt {
    pub const UINT8: u32 = 0;
    pub const INT8: u32 = 1;
    pub const UINT16: u32 = 2;
    pub const INT16: u32 = 3;
    pub const UINT32: u32 = 4;
    pub const INT32: u32 = 5;
    pub const FLOAT32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const UINT64: u32 = 10;
    pub const INT64: u32 = 11;
    pub const FLOAT64: u32 = 12;
}

/// Longest top-level string value copied (longer ones are truncated, marked).
pub const MAX_STRING_VALUE: usize = 16 * 1024;
/// Longest rendering of an array value (the rest is summarised).
pub const MAX_ARRAY_RENDER: usize = 1024;
/// Most array elements rendered before summarising.
pub const MAX_ARRAY_SHOWN: u64 = 16;
/// Longest string element of an array shown (longer ones are cut).
const MAX_ELEMENT_STRING: usize = 256;

/// Name of a value type, for messages.
pub(super) fn type_name(t: u32) -> &'static str {
    match t {
        vt::UINT8 => "uint8",
        vt::INT8 => "int8",
        vt::UINT16 => "uint16",
        vt::INT16 => "int16",
        vt::UINT32 => "uint32",
        vt::INT32 => "int32",
        vt::FLOAT32 => "float32",
        vt::BOOL => "bool",
        vt::STRING => "string",
        vt::ARRAY => "array",
        vt::UINT64 => "uint64",
        vt::INT64 => "int64",
        vt::FLOAT64 => "float64",
        _ => "unknown",
    }
}

/// Byte size of a fixed-size value type; `None` for strings and arrays.
fn fixed_size(t: u32) -> Option<u64> {
    match t {
        vt::UINT8 | vt::INT8 | vt::BOOL => Some(1),
        vt::UINT16 | vt::INT16 => Some(2),
        vt::UINT32 | vt::INT32 | vt::FLOAT32 => Some(4),
        vt::UINT64 | vt::INT64 | vt::FLOAT64 => Some(8),
        _ => None,
    }
}

/// Smallest number of bytes a value of type `t` occupies (used to bound counts).
fn min_size(t: u32, wide: bool) -> u64 {
    let count = if wide { 8 } else { 4 };
    match t {
        vt::STRING => count,
        vt::ARRAY => 4 + count,
        other => fixed_size(other).unwrap_or(1),
    }
}

/// Check a value type id.
fn check_type(t: u32, key: &str) -> Result<(), LoadError> {
    if t > vt::FLOAT64 {
        return Err(LoadError::malformed(format!(
            "metadata '{key}' has unknown value type {t}"
        )));
    }
    Ok(())
}

/// A rendering buffer with a size cap.
struct Out {
    s: String,
    cap: usize,
    full: bool,
}

impl Out {
    fn push(&mut self, text: &str) {
        if self.full {
            return;
        }
        if self.s.len() + text.len() > self.cap {
            self.full = true;
        } else {
            self.s.push_str(text);
        }
    }
}

/// Reads values for one key.
pub(super) struct ValueReader<'a, 'h> {
    /// The input.
    pub r: &'a mut Reader<'h>,
    /// The key, for messages.
    pub key: &'a str,
    /// Deepest array nesting allowed.
    pub max_depth: u64,
}

impl ValueReader<'_, '_> {
    /// A fixed-size scalar as text.
    fn scalar(&mut self, t: u32) -> Result<String, LoadError> {
        let what = "metadata value";
        Ok(match t {
            vt::UINT8 => self.r.u8(what)?.to_string(),
            vt::INT8 => (self.r.u8(what)? as i8).to_string(),
            vt::UINT16 => self.r.u16(what)?.to_string(),
            vt::INT16 => (self.r.u16(what)? as i16).to_string(),
            vt::UINT32 => self.r.u32(what)?.to_string(),
            vt::INT32 => (self.r.u32(what)? as i32).to_string(),
            vt::FLOAT32 => format!("{:?}", f32::from_bits(self.r.u32(what)?)),
            vt::UINT64 => self.r.u64(what)?.to_string(),
            vt::INT64 => (self.r.u64(what)? as i64).to_string(),
            vt::FLOAT64 => format!("{:?}", f64::from_bits(self.r.u64(what)?)),
            vt::BOOL => match self.r.u8(what)? {
                0 => "false".into(),
                1 => "true".into(),
                other => {
                    return Err(LoadError::malformed(format!(
                        "metadata '{}' has bool value {other} (must be 0 or 1)",
                        self.key
                    )));
                }
            },
            other => {
                return Err(LoadError::malformed(format!(
                    "metadata '{}': type {other} is not a scalar",
                    self.key
                )));
            }
        })
    }

    /// A string of at most `max` bytes (lossy UTF-8; longer ones cut and marked).
    fn string(&mut self, max: usize) -> Result<String, LoadError> {
        let n = self.r.string_len("metadata string")?;
        let bytes = self.r.prefix(n, max, "metadata string")?;
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        if n > max as u64 {
            s.push_str(&format!("…[truncated, {n} bytes]"));
        }
        Ok(s)
    }

    /// Read a top-level value of type `t` and render it.
    pub fn render(&mut self, t: u32) -> Result<String, LoadError> {
        check_type(t, self.key)?;
        match t {
            vt::STRING => self.string(MAX_STRING_VALUE),
            vt::ARRAY => {
                let mut out = Out {
                    s: String::new(),
                    cap: MAX_ARRAY_RENDER,
                    full: false,
                };
                self.array(1, &mut out)?;
                if out.full {
                    out.s.push_str(" …]");
                }
                Ok(out.s)
            }
            other => self.scalar(other),
        }
    }

    /// Read an array (element type, count, elements) at nesting `depth`, rendering into
    /// `out` as far as it goes and skipping the rest.
    fn array(&mut self, depth: u64, out: &mut Out) -> Result<(), LoadError> {
        if depth > self.max_depth {
            return Err(LoadError::limit(format!(
                "metadata '{}': arrays nested deeper than {} levels",
                self.key, self.max_depth
            )));
        }
        let et = self.r.u32("array element type")?;
        check_type(et, self.key)?;
        let n = self.r.count("array length")?;
        let least = n.checked_mul(min_size(et, self.r.wide)).ok_or_else(|| {
            LoadError::malformed(format!(
                "metadata '{}': array length {n} overflows",
                self.key
            ))
        })?;
        self.r.need(least, "array")?;
        out.push("[");
        let shown = n.min(MAX_ARRAY_SHOWN);
        for i in 0..shown {
            if i > 0 {
                out.push(", ");
            }
            match et {
                vt::STRING => {
                    let s = self.string(MAX_ELEMENT_STRING)?;
                    out.push(&format!("{s:?}"));
                }
                vt::ARRAY => self.array(depth + 1, out)?,
                other => {
                    let s = self.scalar(other)?;
                    out.push(&s);
                }
            }
        }
        let rest = n - shown;
        if rest > 0 {
            self.skip_elements(et, rest, depth)?;
            out.push(&format!(", … ({n} {} items)", type_name(et)));
        }
        out.push("]");
        Ok(())
    }

    /// Skip `n` elements of type `et` of an array at nesting `depth`.
    fn skip_elements(&mut self, et: u32, n: u64, depth: u64) -> Result<(), LoadError> {
        if let Some(size) = fixed_size(et) {
            let bytes = n.checked_mul(size).ok_or_else(|| {
                LoadError::malformed(format!("metadata '{}': array size overflows", self.key))
            })?;
            return self.r.skip(bytes, "array");
        }
        for _ in 0..n {
            self.skip_value(et, depth)?;
        }
        Ok(())
    }

    /// Skip one value of type `t` (an array element at nesting `depth`, or a top-level
    /// value with `depth` 0).
    pub fn skip_value(&mut self, t: u32, depth: u64) -> Result<(), LoadError> {
        check_type(t, self.key)?;
        match t {
            vt::STRING => {
                let n = self.r.string_len("metadata string")?;
                self.r.skip(n, "metadata string")
            }
            vt::ARRAY => {
                let depth = depth + 1;
                if depth > self.max_depth {
                    return Err(LoadError::limit(format!(
                        "metadata '{}': arrays nested deeper than {} levels",
                        self.key, self.max_depth
                    )));
                }
                let et = self.r.u32("array element type")?;
                check_type(et, self.key)?;
                let n = self.r.count("array length")?;
                let least = n.checked_mul(min_size(et, self.r.wide)).ok_or_else(|| {
                    LoadError::malformed(format!(
                        "metadata '{}': array length {n} overflows",
                        self.key
                    ))
                })?;
                self.r.need(least, "array")?;
                self.skip_elements(et, n, depth)
            }
            other => {
                // check_type passed, so `other` is a fixed-size type.
                let size = fixed_size(other).unwrap_or(1);
                self.r.skip(size, "metadata value")
            }
        }
    }
}

/// The smallest key/value pair: key length, empty key, type, one-byte value.
pub(super) fn min_kv_size(wide: bool) -> u64 {
    (if wide { 8 } else { 4 }) + 4 + 1
}
