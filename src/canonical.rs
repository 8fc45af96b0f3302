//! Canonical JSON: the one byte encoding of every signed document (manifest, signature
//! envelope, trust root).
//!
//! `docs/format.md` §Canonical JSON: UTF-8, no insignificant whitespace, object keys sorted
//! by their UTF-8 bytes, no duplicate keys, strings and numbers exactly as this writer
//! prints them (serde_json: minimal escapes, shortest round-trip floats). A reader MUST
//! verify signatures over the bytes it received; it then parses them strictly and refuses
//! any document that is not byte-identical to its own canonical re-encoding, so no two
//! encodings of one value can both be accepted.

use std::collections::btree_map::Entry;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserializer, Serialize};
use serde_json::{Map, Value};

/// Why a document is not canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// Larger than the limit for this kind of document.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Which document.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not valid JSON (or nested deeper than serde_json's limit of 128).
    #[error("{what} is not valid JSON: {detail}")]
    Syntax {
        /// Which document.
        what: &'static str,
        /// serde_json's message.
        detail: String,
    },
    /// An object repeats a key (readers disagree on which one wins).
    #[error("{what} repeats the key {key:?}")]
    DuplicateKey {
        /// Which document.
        what: &'static str,
        /// The repeated key.
        key: String,
    },
    /// Valid JSON, but not the canonical encoding of its value.
    #[error(
        "{what} is not in canonical form (whitespace, key order, escapes or number format differ)"
    )]
    NotCanonical {
        /// Which document.
        what: &'static str,
    },
    /// Canonical JSON whose shape is not the expected schema.
    #[error("{what} does not match its schema: {detail}")]
    Schema {
        /// Which document.
        what: &'static str,
        /// serde's message.
        detail: String,
    },
}

/// Encode `value` canonically.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    // Going through `Value` sorts object keys (serde_json's map is a BTreeMap).
    let value = serde_json::to_value(value)?;
    serde_json::to_vec(&value)
}

/// Parse `bytes` as a JSON value, refusing duplicate keys and non-canonical encodings.
pub fn parse_value(
    bytes: &[u8],
    what: &'static str,
    limit: usize,
) -> Result<Value, CanonicalError> {
    let value = parse_value_lenient_format(bytes, what, limit)?;
    let again = serde_json::to_vec(&value).map_err(|e| CanonicalError::Syntax {
        what,
        detail: e.to_string(),
    })?;
    if again != bytes {
        return Err(CanonicalError::NotCanonical { what });
    }
    Ok(value)
}

/// Parse `bytes` as JSON refusing duplicate keys, but accepting any whitespace and key
/// order (for user-supplied input such as `--metadata` files, never for signed documents).
pub fn parse_value_lenient_format(
    bytes: &[u8],
    what: &'static str,
    limit: usize,
) -> Result<Value, CanonicalError> {
    if bytes.len() > limit {
        return Err(CanonicalError::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            let detail = e.to_string();
            match detail.strip_prefix(DUPLICATE_PREFIX) {
                Some(rest) => CanonicalError::DuplicateKey {
                    what,
                    key: rest.split(" at line").next().unwrap_or(rest).to_string(),
                },
                None => CanonicalError::Syntax { what, detail },
            }
        })?;
    Ok(value)
}

/// Parse canonical `bytes` into `T` (whose serde definition should deny unknown fields).
pub fn parse<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
    limit: usize,
) -> Result<T, CanonicalError> {
    let value = parse_value(bytes, what, limit)?;
    serde_json::from_value(value).map_err(|e| CanonicalError::Schema {
        what,
        detail: e.to_string(),
    })
}

const DUPLICATE_PREFIX: &str = "duplicate key: ";

/// Deserializes a `serde_json::Value` like serde_json does, but errors on duplicate keys.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = std::collections::BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            match out.entry(key) {
                Entry::Occupied(e) => {
                    return Err(de::Error::custom(format_args!(
                        "{DUPLICATE_PREFIX}{:?}",
                        e.key()
                    )));
                }
                Entry::Vacant(e) => {
                    let value = map.next_value_seed(StrictValue)?;
                    e.insert(value);
                }
            }
        }
        Ok(Value::Object(
            out.into_iter().collect::<Map<String, Value>>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_round_trip() {
        let v: Value = serde_json::json!({"b": [1, 2.5, "x\u{e9}"], "a": {"z": null, "y": true}});
        let bytes = to_vec(&v).unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\"a\":{\"y\":true,\"z\":null},\"b\":[1,2.5,\"x\u{e9}\"]}"
        );
        assert_eq!(parse_value(&bytes, "doc", 1 << 20).unwrap(), v);
    }

    /// Regression: without serde_json's `float_roundtrip` feature, parsing
    /// `0.050000000000000044` (what `1.0 - 0.95` prints) gave a float one ulp away, so a
    /// manifest whose metrics held such a value was signed but then refused as
    /// non-canonical by every verifier.
    #[test]
    fn floats_survive_a_canonical_round_trip() {
        for x in [
            1.0 - 0.95,
            0.1 + 0.2,
            1.0 / 3.0,
            2.2250738585072014e-308,
            0.9737,
        ] {
            let bytes = to_vec(&serde_json::json!({ "x": x })).unwrap();
            let back = parse_value(&bytes, "doc", 100).unwrap();
            assert_eq!(
                back["x"].as_f64(),
                Some(x),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn duplicate_keys_are_refused_even_nested() {
        let err = parse_value(br#"{"a":{"k":1,"k":2}}"#, "doc", 100).unwrap_err();
        assert_eq!(
            err,
            CanonicalError::DuplicateKey {
                what: "doc",
                key: "\"k\"".into()
            }
        );
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        for text in [
            &br#"{"b":1,"a":2}"#[..],
            br#"{"a": 2}"#,
            br#"{"a":2} "#,
            br#"{"a":"\u0041"}"#,
            br#"{"a":1e2}"#,
            br#"{"a":1.50}"#,
        ] {
            let err = parse_value(text, "doc", 100).unwrap_err();
            assert_eq!(
                err,
                CanonicalError::NotCanonical { what: "doc" },
                "{text:?}"
            );
        }
    }

    #[test]
    fn size_limit_is_checked_before_parsing() {
        let err = parse_value(b"[1,2,3]", "doc", 3).unwrap_err();
        assert!(matches!(
            err,
            CanonicalError::TooLarge {
                size: 7,
                limit: 3,
                ..
            }
        ));
    }

    #[test]
    fn trailing_garbage_is_a_syntax_error() {
        let err = parse_value(b"{}x", "doc", 100).unwrap_err();
        assert!(matches!(err, CanonicalError::Syntax { .. }));
    }
}
