//! Dotted names for tensors and metadata: segments from dict keys and indices, sanitised
//! (no control characters, bounded length) and made unique.

use std::collections::{BTreeMap, BTreeSet};

use crate::result::Dtype;

/// Longest tensor or metadata name (the ABI's limit).
pub const MAX_NAME_BYTES: usize = 1024;

/// Escape control characters so a name never carries them.
pub fn sanitize_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `prefix.segment` (or `segment` at the root), cut to [`MAX_NAME_BYTES`] + 1 bytes: one
/// byte over the ABI limit marks a name that was cut (the final name is cut again by
/// [`NameSet::unique`]). Bounded whatever the segment: a 1 MiB dict key above a million
/// values must not be copied into each value's name.
pub fn join(prefix: &str, segment: &str) -> String {
    if prefix.len() > MAX_NAME_BYTES {
        return prefix.to_string();
    }
    let mut out = String::with_capacity((prefix.len() + 1 + segment.len()).min(MAX_NAME_BYTES + 1));
    out.push_str(prefix);
    if !prefix.is_empty() {
        out.push('.');
    }
    out.push_str(cut(segment, MAX_NAME_BYTES + 1 - out.len()));
    out
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A set of names handed out so far.
#[derive(Debug, Default)]
pub struct NameSet {
    used: BTreeSet<String>,
    /// Next suffix to try per base name, so many clashes on one name stay linear.
    next_suffix: BTreeMap<String, u64>,
}

impl NameSet {
    /// A unique name for `wanted` (or `fallback` if empty): cut to the length limit and
    /// suffixed `~2`, `~3`… on collision.
    pub fn unique(&mut self, wanted: &str, fallback: &str) -> String {
        let base = if wanted.is_empty() { fallback } else { wanted };
        let base = cut(base, MAX_NAME_BYTES - 16).to_string();
        if self.used.insert(base.clone()) {
            return base;
        }
        let mut n = self.next_suffix.get(&base).copied().unwrap_or(2);
        loop {
            let candidate = format!("{base}~{n}");
            n += 1;
            if self.used.insert(candidate.clone()) {
                self.next_suffix.insert(base, n);
                return candidate;
            }
        }
    }
}

/// Python's `repr()` of a float, closely enough for metadata (`1.0`, `0.25`, `1e-05`,
/// `inf`, `nan`).
pub fn float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let s = format!("{v:e}");
        // Rust prints `1e-5` / `1.5e20`; Python prints `1e-05` / `1.5e+20`.
        if let Some((mant, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mant}e{sign}{digits:0>2}");
        }
        return s;
    }
    let s = format!("{v}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Render one little-endian element as text (NumPy scalars in metadata).
pub fn format_element(dt: Dtype, b: &[u8]) -> String {
    fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        let n = b.len().min(N);
        a[..n].copy_from_slice(&b[..n]);
        a
    }
    match dt {
        Dtype::F64 => float_repr(f64::from_le_bytes(arr(b))),
        Dtype::F32 => float_repr(f64::from(f32::from_le_bytes(arr(b)))),
        Dtype::F16 => float_repr(f16_to_f64(u16::from_le_bytes(arr(b)))),
        Dtype::BF16 => {
            let bits = u32::from(u16::from_le_bytes(arr(b))) << 16;
            float_repr(f64::from(f32::from_bits(bits)))
        }
        Dtype::I64 => i64::from_le_bytes(arr(b)).to_string(),
        Dtype::I32 => i32::from_le_bytes(arr(b)).to_string(),
        Dtype::I16 => i16::from_le_bytes(arr(b)).to_string(),
        Dtype::I8 => i8::from_le_bytes(arr(b)).to_string(),
        Dtype::U64 => u64::from_le_bytes(arr(b)).to_string(),
        Dtype::U32 => u32::from_le_bytes(arr(b)).to_string(),
        Dtype::U16 => u16::from_le_bytes(arr(b)).to_string(),
        Dtype::U8 | Dtype::F8_E4M3 | Dtype::F8_E5M2 => u8::from_le_bytes(arr(b)).to_string(),
        Dtype::BOOL => {
            if b.first().copied().unwrap_or(0) != 0 {
                "True".into()
            } else {
                "False".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(0.25), "0.25");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(1.5e20), "1.5e+20");
        assert_eq!(float_repr(-3.0), "-3.0");
    }

    #[test]
    fn unique_names() {
        let mut n = NameSet::default();
        assert_eq!(n.unique("a", "x"), "a");
        assert_eq!(n.unique("a", "x"), "a~2");
        assert_eq!(n.unique("a~3", "x"), "a~3");
        assert_eq!(n.unique("a", "x"), "a~4");
        assert_eq!(n.unique("", "tensor"), "tensor");
        assert_eq!(sanitize_segment("a\nb"), "a\\x0ab");
    }
}
