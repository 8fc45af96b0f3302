//! A tiny parser for the Python literal in a `.npy` header, e.g.
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
//!
//! NumPy reads it with `ast.literal_eval`; this accepts the subset NumPy writes and nothing
//! that needs evaluating: strings without escapes, non-negative decimal integers (with the
//! Python 2 `L` suffix in version 1 and 2 headers, as NumPy still accepts), `True`,
//! `False`, `None`, tuples, lists and dicts with string keys (duplicate keys are refused).

use crate::result::LoadError;

/// Deepest nesting of tuples, lists and dicts accepted.
const MAX_DEPTH: usize = 32;

/// A parsed literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A quoted string.
    Str(String),
    /// A non-negative integer that fits in a `u64`.
    Int(u64),
    /// `True` or `False`.
    Bool(bool),
    /// `None`.
    None,
    /// `(a, b, …)`.
    Tuple(Vec<Literal>),
    /// `[a, b, …]`.
    List(Vec<Literal>),
    /// `{'k': v, …}` in source order.
    Dict(Vec<(String, Literal)>),
}

/// Parses `text` as one literal followed only by whitespace. `latin1` decodes strings
/// byte-for-byte (headers of versions 1 and 2); otherwise strings must be UTF-8 (version 3).
pub fn parse(text: &[u8], latin1: bool) -> Result<Literal, LoadError> {
    let mut p = Parser {
        s: text,
        pos: 0,
        latin1,
    };
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.error("unexpected text after the header dictionary"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    latin1: bool,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> LoadError {
        LoadError::malformed(format!("npy header: {what} (at byte {})", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, LoadError> {
        if depth > MAX_DEPTH {
            return Err(self.error("literal nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(Literal::Str),
            Some(b'0'..=b'9') => self.int(),
            Some(b'-') => Err(self.error("negative number")),
            Some(b'(') => self.tuple(depth),
            Some(b'[') => self
                .sequence(depth, b']')
                .map(|(items, _)| Literal::List(items)),
            Some(b'{') => self.dict(depth),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'_') => self.name(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn string(&mut self) -> Result<String, LoadError> {
        let quote = self.peek().unwrap_or(b'\'');
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some(b'\n') => return Err(self.error("unterminated string")),
                Some(b'\\') => return Err(self.error("escape sequences are not supported")),
                Some(c) if c == quote => break,
                Some(_) => self.pos += 1,
            }
        }
        let raw = self.s.get(start..self.pos).unwrap_or_default();
        self.pos += 1;
        if self.latin1 {
            Ok(raw.iter().map(|&b| char::from(b)).collect())
        } else {
            std::str::from_utf8(raw)
                .map(str::to_string)
                .map_err(|_| self.error("string is not UTF-8"))
        }
    }

    fn int(&mut self) -> Result<Literal, LoadError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = self.s.get(start..self.pos).unwrap_or_default();
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(self.error("integer with a leading zero"));
        }
        if self.latin1 && matches!(self.peek(), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        if matches!(
            self.peek(),
            Some(b'_' | b'.' | b'e' | b'E' | b'x' | b'X' | b'j' | b'J' | b'A'..=b'Z' | b'a'..=b'z')
        ) {
            return Err(self.error("only plain decimal integers are supported"));
        }
        let text = std::str::from_utf8(digits).unwrap_or_default();
        text.parse::<u64>()
            .map(Literal::Int)
            .map_err(|_| self.error("integer does not fit in 64 bits"))
    }

    fn name(&mut self) -> Result<Literal, LoadError> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_')
        ) {
            self.pos += 1;
        }
        match self.s.get(start..self.pos).unwrap_or_default() {
            b"True" => Ok(Literal::Bool(true)),
            b"False" => Ok(Literal::Bool(false)),
            b"None" => Ok(Literal::None),
            _ => {
                self.pos = start;
                Err(self.error("names other than True, False and None are not allowed"))
            }
        }
    }

    /// `(x)` is just `x` in Python; `()`, `(x,)` and `(x, y)` are tuples.
    fn tuple(&mut self, depth: usize) -> Result<Literal, LoadError> {
        let (mut items, trailing_comma) = self.sequence(depth, b')')?;
        if items.len() == 1 && !trailing_comma {
            return Ok(items.remove(0));
        }
        Ok(Literal::Tuple(items))
    }

    /// Items between an opening bracket (at `pos`) and `close`; whether a comma ended it.
    fn sequence(&mut self, depth: usize, close: u8) -> Result<(Vec<Literal>, bool), LoadError> {
        self.pos += 1;
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, trailing_comma));
            }
            if !items.is_empty() && !trailing_comma {
                return Err(self.error("expected a comma"));
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            trailing_comma = self.peek() == Some(b',');
            if trailing_comma {
                self.pos += 1;
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Literal, LoadError> {
        self.pos += 1;
        let mut entries: Vec<(String, Literal)> = Vec::new();
        let mut comma = true;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Literal::Dict(entries));
            }
            if !comma {
                return Err(self.error("expected a comma"));
            }
            if !matches!(self.peek(), Some(b'\'' | b'"')) {
                return Err(self.error("dictionary keys must be strings"));
            }
            let key = self.string()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(self.error(&format!("duplicate key {key:?}")));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_ws();
            comma = self.peek() == Some(b',');
            if comma {
                self.pos += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Literal {
        match parse(s.as_bytes(), true) {
            Ok(v) => v,
            Err(e) => panic!("{s:?}: {}", e.message),
        }
    }

    #[test]
    fn numpy_headers() {
        let v = ok("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n");
        assert_eq!(
            v,
            Literal::Dict(vec![
                ("descr".into(), Literal::Str("<f4".into())),
                ("fortran_order".into(), Literal::Bool(false)),
                (
                    "shape".into(),
                    Literal::Tuple(vec![Literal::Int(2), Literal::Int(3)])
                ),
            ])
        );
        assert_eq!(ok("(3,)"), Literal::Tuple(vec![Literal::Int(3)]));
        assert_eq!(ok("()"), Literal::Tuple(vec![]));
        assert_eq!(ok("(3)"), Literal::Int(3));
        assert_eq!(
            ok("(3L, 4L)"),
            Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)])
        );
        assert_eq!(ok("[('a', '<f4')]").clone(), ok("[('a','<f4'),]"));
    }

    #[test]
    fn rejects() {
        for bad in [
            "{'a': 1, 'a': 2}",
            "{'a': 1 'b': 2}",
            "(1 2)",
            "-1",
            "1.5",
            "0x10",
            "01",
            "1_000",
            "__import__('os')",
            "{'a': 'b\\'}",
            "{'a': 1} x",
            "{1: 2}",
            "'abc",
            "99999999999999999999999",
            &"(".repeat(100),
        ] {
            assert!(parse(bad.as_bytes(), true).is_err(), "{bad:?} accepted");
        }
    }
}
