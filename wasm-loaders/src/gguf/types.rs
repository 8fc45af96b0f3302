//! The ggml tensor types a GGUF file may name: block size (elements per block), type size
//! (bytes per block) and, for plain element types, the matching [`Dtype`].
//!
//! Sizes are those of ggml's `ggml-common.h` (`static_assert`ed block structs); the test
//! suite compares them with gguf-py's `GGML_QUANT_SIZES`.

use crate::result::{Dtype, LoadError};

/// One ggml type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    /// The `ggml_type` id stored in the file.
    pub id: u32,
    /// ggml's name for it (upper case, as gguf-py spells it).
    pub name: &'static str,
    /// Elements per block (1 for plain types).
    pub block: u64,
    /// Bytes per block.
    pub size: u64,
    /// The element type, for plain (non-quantized) types.
    pub dtype: Option<Dtype>,
}

const fn plain(id: u32, name: &'static str, size: u64, dtype: Dtype) -> GgmlType {
    GgmlType {
        id,
        name,
        block: 1,
        size,
        dtype: Some(dtype),
    }
}

const fn quant(id: u32, name: &'static str, block: u64, size: u64) -> GgmlType {
    GgmlType {
        id,
        name,
        block,
        size,
        dtype: None,
    }
}

/// Every ggml type modelseal accepts.
pub const GGML_TYPES: &[GgmlType] = &[
    plain(0, "F32", 4, Dtype::F32),
    plain(1, "F16", 2, Dtype::F16),
    quant(2, "Q4_0", 32, 18),
    quant(3, "Q4_1", 32, 20),
    quant(6, "Q5_0", 32, 22),
    quant(7, "Q5_1", 32, 24),
    quant(8, "Q8_0", 32, 34),
    quant(10, "Q2_K", 256, 84),
    quant(11, "Q3_K", 256, 110),
    quant(12, "Q4_K", 256, 144),
    quant(13, "Q5_K", 256, 176),
    quant(14, "Q6_K", 256, 210),
    quant(15, "Q8_K", 256, 292),
    quant(16, "IQ2_XXS", 256, 66),
    quant(17, "IQ2_XS", 256, 74),
    quant(18, "IQ3_XXS", 256, 98),
    quant(19, "IQ1_S", 256, 50),
    quant(20, "IQ4_NL", 32, 18),
    quant(21, "IQ3_S", 256, 110),
    quant(22, "IQ2_S", 256, 82),
    quant(23, "IQ4_XS", 256, 136),
    plain(24, "I8", 1, Dtype::I8),
    plain(25, "I16", 2, Dtype::I16),
    plain(26, "I32", 4, Dtype::I32),
    plain(27, "I64", 8, Dtype::I64),
    plain(28, "F64", 8, Dtype::F64),
    quant(29, "IQ1_M", 256, 56),
    plain(30, "BF16", 2, Dtype::BF16),
    quant(34, "TQ1_0", 256, 54),
    quant(35, "TQ2_0", 256, 66),
    quant(39, "MXFP4", 32, 17),
    quant(40, "NVFP4", 64, 36),
    quant(41, "Q1_0", 128, 18),
];

/// Look up type `id` for tensor `tensor`; unknown, removed and internal ids are refused
/// as unsupported, naming the id.
pub fn ggml_type(id: u32, tensor: &str) -> Result<GgmlType, LoadError> {
    if let Some(t) = GGML_TYPES.iter().find(|t| t.id == id) {
        return Ok(*t);
    }
    let why = match id {
        4 | 5 => "Q4_2/Q4_3, removed from ggml in 2023",
        9 => {
            "Q8_1, an internal ggml type never stored in model files (ggml and gguf-py disagree on its block size)"
        }
        31..=33 => "Q4_0_4_4/Q4_0_4_8/Q4_0_8_8, removed from ggml (repacked at load time now)",
        36..=38 => "IQ4_NL_4_4/4_8/8_8, removed from ggml",
        _ => "an unknown ggml type",
    };
    Err(LoadError::unsupported(format!(
        "tensor '{tensor}' has ggml type {id} ({why})"
    )))
}
