//! NumPy type descriptors (`dtype.str`, e.g. `'<f4'`) to modelseal element types.
//!
//! Only the canonical `<byte order><kind><item size>` form is accepted, as NumPy itself
//! writes it in `.npy` headers: byte order `<` (little), `>` (big) or `|` (not applicable,
//! one-byte types only). Object arrays (`O`) are refused because their payload is a pickle;
//! complex, structured, void, string, unicode and datetime types are unsupported.

use crate::result::{ByteOrder, Dtype, LoadError};

/// Parses a NumPy type descriptor such as `'<f4'`, `'>i8'`, `'|b1'` or `'|u1'`.
///
/// One-byte types report [`ByteOrder::Little`] (byte order is meaningless for them).
pub fn parse_descr(descr: &str) -> Result<(Dtype, ByteOrder), LoadError> {
    let bytes = descr.as_bytes();
    let (order, rest) = match bytes {
        [b'<', rest @ ..] => (Some(ByteOrder::Little), rest),
        [b'>', rest @ ..] => (Some(ByteOrder::Big), rest),
        [b'|', rest @ ..] => (None, rest),
        [b'=', ..] => {
            return Err(LoadError::malformed(format!(
                "NumPy dtype {descr:?} uses native byte order, which a file cannot specify"
            )));
        }
        _ => (None, bytes),
    };
    let (kind, size) = match rest {
        [kind, size @ ..] => (*kind, size),
        [] => return Err(bad(descr)),
    };
    match kind {
        b'O' => {
            return Err(LoadError::refused(format!(
                "NumPy object arrays (dtype {descr:?}) are refused: they are stored as pickles \
                 and can run code when loaded"
            )));
        }
        b'c' => {
            return Err(LoadError::unsupported(format!(
                "complex dtypes are not supported (dtype {descr:?})"
            )));
        }
        b'V' | b'S' | b'a' | b'U' | b'M' | b'm' | b'T' => {
            return Err(LoadError::unsupported(format!(
                "NumPy dtype {descr:?} (structured, void, bytes, string or datetime) is not \
                 supported"
            )));
        }
        _ => {}
    }
    let size: u32 = std::str::from_utf8(size)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(descr))?;
    let dtype = match (kind, size) {
        (b'f', 8) => Dtype::F64,
        (b'f', 4) => Dtype::F32,
        (b'f', 2) => Dtype::F16,
        (b'i', 8) => Dtype::I64,
        (b'i', 4) => Dtype::I32,
        (b'i', 2) => Dtype::I16,
        (b'i', 1) => Dtype::I8,
        (b'u', 8) => Dtype::U64,
        (b'u', 4) => Dtype::U32,
        (b'u', 2) => Dtype::U16,
        (b'u', 1) => Dtype::U8,
        (b'b', 1) => Dtype::BOOL,
        (b'f', 12 | 16) => {
            return Err(LoadError::unsupported(format!(
                "extended-precision float dtype {descr:?} is not supported"
            )));
        }
        _ => return Err(bad(descr)),
    };
    let order = match (order, dtype.size()) {
        (Some(order), _) => order,
        (None, 1) => ByteOrder::Little,
        (None, _) => {
            return Err(LoadError::malformed(format!(
                "NumPy dtype {descr:?} of more than one byte must state its byte order"
            )));
        }
    };
    Ok((dtype, order))
}

fn bad(descr: &str) -> LoadError {
    LoadError::malformed(format!("unknown NumPy dtype descriptor {descr:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::ErrorKind;

    #[test]
    fn canonical_forms() {
        assert_eq!(
            parse_descr("<f4").ok(),
            Some((Dtype::F32, ByteOrder::Little))
        );
        assert_eq!(parse_descr(">i8").ok(), Some((Dtype::I64, ByteOrder::Big)));
        assert_eq!(
            parse_descr("|b1").ok(),
            Some((Dtype::BOOL, ByteOrder::Little))
        );
        assert_eq!(
            parse_descr("|u1").ok(),
            Some((Dtype::U8, ByteOrder::Little))
        );
        assert_eq!(
            parse_descr("<f2").ok(),
            Some((Dtype::F16, ByteOrder::Little))
        );
        assert_eq!(parse_descr(">u2").ok(), Some((Dtype::U16, ByteOrder::Big)));
        assert_eq!(
            parse_descr("|i1").ok(),
            Some((Dtype::I8, ByteOrder::Little))
        );
    }

    #[test]
    fn refusals() {
        let kind = |d: &str| parse_descr(d).err().map(|e| e.kind);
        assert_eq!(kind("|O"), Some(ErrorKind::Refused));
        assert_eq!(kind("<c8"), Some(ErrorKind::Unsupported));
        assert_eq!(kind("<c16"), Some(ErrorKind::Unsupported));
        assert_eq!(kind("|V8"), Some(ErrorKind::Unsupported));
        assert_eq!(kind("<U5"), Some(ErrorKind::Unsupported));
        assert_eq!(kind("|S3"), Some(ErrorKind::Unsupported));
        assert_eq!(kind("<M8[ns]"), Some(ErrorKind::Unsupported));
        assert_eq!(kind("<f16"), Some(ErrorKind::Unsupported));
        assert_eq!(kind("|f4"), Some(ErrorKind::Malformed));
        assert_eq!(kind("=f4"), Some(ErrorKind::Malformed));
        assert_eq!(kind("<f3"), Some(ErrorKind::Malformed));
        assert_eq!(kind("<f"), Some(ErrorKind::Malformed));
        assert_eq!(kind(""), Some(ErrorKind::Malformed));
        assert_eq!(kind("<i+4"), Some(ErrorKind::Malformed));
        assert_eq!(kind("<i004"), Some(ErrorKind::Malformed));
    }
}
