//! The loader's result JSON as it arrives from the sandbox: tainted. These types only
//! give the JSON a shape (unknown fields are rejected, lists are bounded while parsing);
//! `validate` turns them into checked values.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

/// Most entries any list in the result may have while parsing (the configured limits are
/// checked afterwards and are lower).
pub const MAX_LIST_WHILE_PARSING: usize = 1_000_000;
/// Most dimensions accepted while parsing (the validator checks `MAX_DIMS`).
pub const MAX_DIMS_WHILE_PARSING: usize = 64;

/// The whole answer: either `error` alone, or a result.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutcome {
    /// Set when the loader failed.
    pub error: Option<RawError>,
    /// Detected format.
    pub format: Option<String>,
    /// Tensor descriptors.
    #[serde(default, deserialize_with = "bounded::<_, _, MAX_LIST_WHILE_PARSING>")]
    pub tensors: Vec<RawTensor>,
    /// Non-tensor leaves.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Referenced globals.
    #[serde(default, deserialize_with = "bounded::<_, _, MAX_LIST_WHILE_PARSING>")]
    pub globals: Vec<RawGlobal>,
    /// Notes.
    #[serde(default, deserialize_with = "bounded::<_, _, MAX_LIST_WHILE_PARSING>")]
    pub warnings: Vec<String>,
}

/// A loader failure.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawError {
    /// `refused`, `malformed`, `unsupported` or `limit`.
    pub kind: String,
    /// Explanation.
    pub message: String,
    /// Format, if detected.
    #[serde(default)]
    pub format: Option<String>,
    /// Globals referenced.
    #[serde(default, deserialize_with = "bounded::<_, _, MAX_LIST_WHILE_PARSING>")]
    pub globals: Vec<RawGlobal>,
}

/// A referenced global.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    /// `module.qualname`.
    pub name: String,
    /// Risk class name.
    pub risk: String,
}

/// Where a storage lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum RawSource {
    /// The input file.
    Input,
    /// The output buffer.
    Output,
    /// An external file by id.
    External(u32),
}

/// A storage range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// Which source.
    pub source: RawSource,
    /// Byte offset in the source.
    pub offset: u64,
    /// Byte length.
    pub length: u64,
}

/// A tensor descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTensor {
    /// Name.
    pub name: String,
    /// dtype name.
    pub dtype: String,
    /// Shape.
    #[serde(deserialize_with = "bounded::<_, _, MAX_DIMS_WHILE_PARSING>")]
    pub shape: Vec<u64>,
    /// Strides in elements.
    #[serde(deserialize_with = "bounded::<_, _, MAX_DIMS_WHILE_PARSING>")]
    pub strides: Vec<u64>,
    /// Element offset.
    pub offset: u64,
    /// `little` or `big`.
    pub byte_order: String,
    /// Where the bytes are.
    pub storage: RawStorage,
    /// Extra facts.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// Deserialize a list, failing as soon as it has more than `N` entries (so a hostile list
/// never grows past `N` in memory).
pub fn bounded<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T, const N: usize>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Bounded<T, N> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {N} entries")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N).min(1024));
            while let Some(item) = seq.next_element()? {
                if out.len() >= N {
                    return Err(serde::de::Error::custom(format!(
                        "list has more than {N} entries"
                    )));
                }
                out.push(item);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(Bounded::<T, N>(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_long_lists_are_rejected() {
        let ok = r#"{"format":"npy","tensors":[{"name":"a","dtype":"F32","shape":[2],"strides":[1],
            "offset":0,"byte_order":"little","storage":{"source":{"external":3},"offset":0,"length":8}}]}"#;
        let parsed: RawOutcome = serde_json::from_str(ok).unwrap();
        assert_eq!(parsed.tensors[0].storage.source, RawSource::External(3));
        let extra = ok.replace(
            "\"offset\":0,\"byte_order\"",
            "\"offset\":0,\"evil\":1,\"byte_order\"",
        );
        assert!(serde_json::from_str::<RawOutcome>(&extra).is_err());
        assert!(serde_json::from_str::<RawOutcome>(r#"{"format":"x","surprise":true}"#).is_err());
        let dims = vec!["1"; MAX_DIMS_WHILE_PARSING + 1].join(",");
        let long = ok.replace("\"shape\":[2]", &format!("\"shape\":[{dims}]"));
        let err = serde_json::from_str::<RawOutcome>(&long).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        let neg = ok.replace(
            "\"offset\":0,\"byte_order\"",
            "\"offset\":-1,\"byte_order\"",
        );
        assert!(serde_json::from_str::<RawOutcome>(&neg).is_err());
    }
}
