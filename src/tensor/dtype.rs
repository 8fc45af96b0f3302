//! Element types, named and sized as in safetensors (`docs/sandbox-abi.md`, field `dtype`).

use std::fmt;

use serde::Serialize;

/// An element type of a tensor. The names are the safetensors ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[allow(non_camel_case_types)]
pub enum Dtype {
    /// IEEE 754 binary64.
    F64,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16.
    BF16,
    /// 8-bit float, 4 exponent bits, 3 mantissa bits.
    F8_E4M3,
    /// 8-bit float, 5 exponent bits, 2 mantissa bits.
    F8_E5M2,
    /// Signed 64-bit integer.
    I64,
    /// Signed 32-bit integer.
    I32,
    /// Signed 16-bit integer.
    I16,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 64-bit integer.
    U64,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 8-bit integer.
    U8,
    /// Boolean, one byte per element.
    BOOL,
}

/// Every dtype, for parsing and tests.
pub const ALL_DTYPES: [Dtype; 15] = [
    Dtype::F64,
    Dtype::F32,
    Dtype::F16,
    Dtype::BF16,
    Dtype::F8_E4M3,
    Dtype::F8_E5M2,
    Dtype::I64,
    Dtype::I32,
    Dtype::I16,
    Dtype::I8,
    Dtype::U64,
    Dtype::U32,
    Dtype::U16,
    Dtype::U8,
    Dtype::BOOL,
];

impl Dtype {
    /// Size of one element in bytes (1, 2, 4 or 8).
    pub const fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::F8_E4M3 | Dtype::F8_E5M2 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => 1,
        }
    }

    /// The safetensors name (`"F32"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::F8_E4M3 => "F8_E4M3",
            Dtype::F8_E5M2 => "F8_E5M2",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U64 => "U64",
            Dtype::U32 => "U32",
            Dtype::U16 => "U16",
            Dtype::U8 => "U8",
            Dtype::BOOL => "BOOL",
        }
    }

    /// Parse a safetensors name; `None` for anything else (case-sensitive).
    pub fn parse(name: &str) -> Option<Dtype> {
        ALL_DTYPES.iter().copied().find(|d| d.name() == name)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sizes_match_the_abi() {
        let sizes = [8, 4, 2, 2, 1, 1, 8, 4, 2, 1, 8, 4, 2, 1, 1];
        for (d, size) in ALL_DTYPES.iter().zip(sizes) {
            assert_eq!(Dtype::parse(d.name()), Some(*d));
            assert_eq!(d.size(), size, "{d}");
        }
        assert_eq!(Dtype::parse("f32"), None);
        assert_eq!(Dtype::parse("C64"), None);
        assert_eq!(Dtype::parse(""), None);
    }
}
