//! Decoders for protocol-0 text arguments (INT, LONG, FLOAT, STRING, UNICODE, GET/PUT),
//! following what CPython's `pickle._Unpickler` does with each line.

use std::rc::Rc;

use super::value::BigInt;
use crate::result::LoadError;

/// Largest integer literal or LONG1/LONG4 payload accepted, in bytes of magnitude
/// (8 KiB ≈ 19 700 decimal digits). Real pickles never come close; a huge one is a DoS.
pub const MAX_BIGINT_BYTES: usize = 8 << 10;

/// A parsed integer: small or big.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integer {
    /// Fits in `i64`.
    Small(i64),
    /// Does not.
    Big(BigInt),
}

fn bad(what: &str, line: &[u8]) -> LoadError {
    let shown: String = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
    LoadError::malformed(format!("invalid {what} argument {shown:?}"))
}

/// Trim ASCII whitespace (Python's `int()`/`float()` accept surrounding whitespace).
fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    b.get(start..end).unwrap_or(&[])
}

/// Little-endian magnitude times `mul` plus `add`, in place.
fn mul_add(mag: &mut Vec<u8>, mul: u32, add: u32) {
    let mut carry = u64::from(add);
    for byte in mag.iter_mut() {
        let v = u64::from(*byte) * u64::from(mul) + carry;
        *byte = (v & 0xff) as u8;
        carry = v >> 8;
    }
    while carry > 0 {
        mag.push((carry & 0xff) as u8);
        carry >>= 8;
    }
}

/// Build an [`Integer`] from a sign and a little-endian magnitude.
pub fn from_magnitude(negative: bool, mut mag: Vec<u8>) -> Result<Integer, LoadError> {
    while mag.last() == Some(&0) {
        mag.pop();
    }
    if mag.len() > MAX_BIGINT_BYTES {
        return Err(LoadError::limit(format!(
            "integer of {} bytes exceeds the {MAX_BIGINT_BYTES}-byte limit",
            mag.len()
        )));
    }
    if mag.len() <= 8 {
        let mut buf = [0u8; 8];
        buf[..mag.len()].copy_from_slice(&mag);
        let m = u64::from_le_bytes(buf);
        if !negative && m <= i64::MAX as u64 {
            return Ok(Integer::Small(m as i64));
        }
        if negative && m <= 1u64 << 63 {
            return Ok(Integer::Small((m as i64).wrapping_neg()));
        }
    }
    Ok(Integer::Big(BigInt {
        negative,
        magnitude: Rc::from(mag),
    }))
}

/// Decode a two's-complement little-endian integer (LONG1/LONG4 payload).
pub fn from_twos_complement(bytes: &[u8]) -> Result<Integer, LoadError> {
    if bytes.len() > MAX_BIGINT_BYTES + 1 {
        return Err(LoadError::limit(format!(
            "LONG payload of {} bytes exceeds the {MAX_BIGINT_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag = bytes.to_vec();
    if negative {
        // magnitude = ~x + 1
        let mut carry = 1u16;
        for b in mag.iter_mut() {
            let v = u16::from(!*b) + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
    }
    from_magnitude(negative, mag)
}

/// Parse a Python integer literal as `int(text, 0)` would (sign, `0x`/`0o`/`0b`, `_`).
pub fn parse_int(line: &[u8], what: &str) -> Result<Integer, LoadError> {
    let t = trim(line);
    let (negative, rest) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = match rest {
        [b'0', b'x' | b'X', r @ ..] => (16u32, r),
        [b'0', b'o' | b'O', r @ ..] => (8, r),
        [b'0', b'b' | b'B', r @ ..] => (2, r),
        r => (10, r),
    };
    if digits.is_empty() || digits.first() == Some(&b'_') || digits.last() == Some(&b'_') {
        return Err(bad(what, line));
    }
    if digits.len() > MAX_BIGINT_BYTES * 3 {
        return Err(LoadError::limit(format!(
            "{what} literal of {} digits is too long",
            digits.len()
        )));
    }
    let mut mag: Vec<u8> = Vec::new();
    for &c in digits {
        if c == b'_' {
            continue;
        }
        let d = (c as char).to_digit(radix).ok_or_else(|| bad(what, line))?;
        mul_add(&mut mag, radix, d);
    }
    from_magnitude(negative, mag)
}

/// Parse a `LONG` line (an optional trailing `L`, Python 2 style).
pub fn parse_long(line: &[u8]) -> Result<Integer, LoadError> {
    let body = match line.last() {
        Some(b'L') => &line[..line.len() - 1],
        _ => line,
    };
    parse_int(body, "LONG")
}

/// Parse a decimal memo index (GET/PUT).
pub fn parse_index(line: &[u8], what: &str) -> Result<u64, LoadError> {
    match parse_int(line, what)? {
        Integer::Small(v) if v >= 0 => Ok(v as u64),
        _ => Err(bad(what, line)),
    }
}

/// Parse a FLOAT line as Python's `float()` would.
pub fn parse_float(line: &[u8]) -> Result<f64, LoadError> {
    let t = trim(line);
    let s = std::str::from_utf8(t).map_err(|_| bad("FLOAT", line))?;
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().map_err(|_| bad("FLOAT", line))
}

/// Decode the quoted argument of STRING: strip matching quotes, then apply Python's
/// `codecs.escape_decode` rules.
pub fn decode_string_literal(line: &[u8]) -> Result<Vec<u8>, LoadError> {
    let inner = match line {
        [q @ (b'\'' | b'"'), mid @ .., last] if last == q => mid,
        _ => {
            return Err(LoadError::malformed(
                "the STRING opcode argument must be quoted",
            ));
        }
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0usize;
    while let Some(&c) = inner.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err(LoadError::malformed(
                "STRING argument ends with a lone backslash",
            ));
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let hex = inner
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| LoadError::malformed("invalid \\x escape in STRING argument"))?;
                out.push(hex);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Decode a UNICODE line with Python's `raw-unicode-escape` codec: bytes are Latin-1
/// characters, except that `\uXXXX` / `\UXXXXXXXX` after an odd run of backslashes is an
/// escape. Surrogates (which Rust strings cannot hold) become U+FFFD.
pub fn decode_raw_unicode_escape(line: &[u8]) -> Result<String, LoadError> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0usize;
    while let Some(&c) = line.get(i) {
        if c != b'\\' {
            out.push(char::from(c));
            i += 1;
            continue;
        }
        let run_start = i;
        while line.get(i) == Some(&b'\\') {
            i += 1;
        }
        let run = i - run_start;
        let next = line.get(i).copied();
        let digits = match next {
            Some(b'u') => 4,
            Some(b'U') => 8,
            _ => 0,
        };
        if run.is_multiple_of(2) || digits == 0 {
            out.extend(std::iter::repeat_n('\\', run));
            continue;
        }
        out.extend(std::iter::repeat_n('\\', run - 1));
        let hex = line
            .get(i + 1..i + 1 + digits)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| LoadError::malformed("truncated \\uXXXX escape in UNICODE argument"))?;
        if hex > 0x10_FFFF {
            return Err(LoadError::malformed(
                "\\U escape out of range in UNICODE argument",
            ));
        }
        out.push(char::from_u32(hex).unwrap_or('\u{FFFD}'));
        i += 1 + digits;
    }
    Ok(out)
}

/// Largest magnitude, in bytes, rendered in decimal by [`big_to_text`] (about 600 digits).
/// Decimal conversion is quadratic in the size; larger integers are rendered in hex.
pub const MAX_DECIMAL_BIGINT_BYTES: usize = 256;

/// Most hex digits [`big_to_text`] writes (the metadata value limit).
const MAX_HEX_DIGITS: usize = 4096;

/// A big integer as text for metadata and names: decimal as Python prints it, or for a
/// magnitude over [`MAX_DECIMAL_BIGINT_BYTES`] hex as Python's `hex()` prints it, its
/// leading digits only past 4096 of them. Linear in the size, and bounded output.
pub fn big_to_text(b: &BigInt) -> String {
    if b.magnitude.len() <= MAX_DECIMAL_BIGINT_BYTES {
        return big_to_decimal(b);
    }
    let mut s = String::with_capacity(MAX_HEX_DIGITS + 32);
    if b.negative {
        s.push('-');
    }
    s.push_str("0x");
    let mut digits = b
        .magnitude
        .iter()
        .rev()
        .flat_map(|byte| [byte >> 4, byte & 0xf]);
    // The magnitude has no trailing (most significant) zero bytes, so at most one
    // leading zero nibble.
    let first = digits.next().filter(|&d| d != 0);
    for d in first.into_iter().chain(digits).take(MAX_HEX_DIGITS) {
        s.push(char::from_digit(u32::from(d), 16).unwrap_or('?'));
    }
    if b.magnitude.len() * 2 > MAX_HEX_DIGITS {
        s.push_str(&format!("… ({} bytes)", b.magnitude.len()));
    }
    s
}

/// Decimal rendering of a big integer (for metadata).
pub fn big_to_decimal(b: &BigInt) -> String {
    // Repeated division by 10^9 of a little-endian byte magnitude.
    let mut limbs: Vec<u32> = b
        .magnitude
        .chunks(4)
        .map(|c| {
            let mut buf = [0u8; 4];
            buf[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(buf)
        })
        .collect();
    let mut parts: Vec<u32> = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u64 = 0;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        parts.push(rem as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut s = String::new();
    if b.negative {
        s.push('-');
    }
    match parts.split_last() {
        None => s.push('0'),
        Some((top, rest)) => {
            s.push_str(&top.to_string());
            for p in rest.iter().rev() {
                s.push_str(&format!("{p:09}"));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int(b"42\n", "INT").ok(), Some(Integer::Small(42)));
        assert_eq!(parse_int(b"-0x10", "INT").ok(), Some(Integer::Small(-16)));
        assert!(parse_int(b"", "INT").is_err());
        assert!(parse_int(b"1x", "INT").is_err());
        let big = parse_long(b"119547037146038801333356L").ok();
        match big {
            Some(Integer::Big(b)) => assert_eq!(big_to_decimal(&b), "119547037146038801333356"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn twos_complement() {
        assert_eq!(from_twos_complement(&[0xff]).ok(), Some(Integer::Small(-1)));
        assert_eq!(from_twos_complement(&[]).ok(), Some(Integer::Small(0)));
        assert_eq!(
            from_twos_complement(&[0, 0, 0, 0, 0, 0, 0, 0x80]).ok(),
            Some(Integer::Small(i64::MIN))
        );
        match from_twos_complement(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]).ok() {
            Some(Integer::Big(b)) => assert_eq!(big_to_decimal(&b), "9223372036854775808"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strings() {
        assert_eq!(
            decode_string_literal(b"'a\\x41\\n\\101\\q'").ok(),
            Some(b"aA\nA\\q".to_vec())
        );
        assert!(decode_string_literal(b"abc").is_err());
        assert_eq!(
            decode_raw_unicode_escape(b"a\\u0041\\\\u0041\xe9").ok(),
            Some("aA\\\\u0041\u{e9}".to_string())
        );
    }
}
