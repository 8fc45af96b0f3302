//! External tensor data (`data_location = EXTERNAL`): the `external_data` keys
//! `location`, `offset`, `length` (and `checksum`, ignored), an early screen of the
//! location string, and the storage descriptor in the external source.
//!
//! The host owns the real path policy (inside the model's directory, no symlink escape,
//! regular files only). The guest refuses obviously hostile locations itself so the
//! refusal names the tensor and is identical natively and in the sandbox.

use super::tensor::TensorMsg;
use super::{Loader, MAX_EXTERNAL_FILES};
use crate::result::{LoadError, Storage, StorageSource};

/// Why a location string is refused, if it is.
pub(super) fn screen_location(location: &str) -> Option<&'static str> {
    if location.is_empty() {
        return Some("it is empty");
    }
    if location.contains('\0') {
        return Some("it contains a NUL byte");
    }
    if location.chars().any(char::is_control) {
        return Some("it contains control characters");
    }
    if location.contains('\\') {
        return Some("it contains a backslash");
    }
    if location.starts_with('/') {
        return Some("it is an absolute path");
    }
    let b = location.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("it starts with a drive letter");
    }
    if location.split('/').any(|c| c == "..") {
        return Some("it contains a '..' component");
    }
    None
}

/// A decimal `offset`/`length` value: digits only, no sign, fits in u64.
fn parse_decimal(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

impl Loader<'_> {
    /// The storage of tensor `name` (of `nbytes` bytes) in its external data file.
    pub(super) fn external_storage(
        &mut self,
        t: &TensorMsg,
        name: &str,
        nbytes: u64,
    ) -> Result<Storage, LoadError> {
        let mut location: Option<&str> = None;
        let mut offset: Option<u64> = None;
        let mut length: Option<u64> = None;
        let mut seen = Vec::new();
        for (key, value) in &t.external {
            if seen.contains(&key.as_str()) {
                return Err(LoadError::malformed(format!(
                    "tensor '{name}': external_data key '{key}' appears twice"
                )));
            }
            seen.push(key.as_str());
            match key.as_str() {
                "location" => location = Some(value),
                "offset" | "length" => {
                    let v = parse_decimal(value).ok_or_else(|| {
                        LoadError::malformed(format!(
                            "tensor '{name}': external_data {key} {value:?} is not a decimal integer"
                        ))
                    })?;
                    if key == "offset" {
                        offset = Some(v);
                    } else {
                        length = Some(v);
                    }
                }
                "checksum" => {}
                other => {
                    let msg =
                        format!("tensor '{name}': unknown external_data key '{other}' ignored");
                    self.warn(msg);
                }
            }
        }
        let location = location.ok_or_else(|| {
            LoadError::malformed(format!("tensor '{name}' has external data but no location"))
        })?;
        if let Some(why) = screen_location(location) {
            return Err(LoadError::refused(format!(
                "tensor '{name}': external data location {location:?} refused: {why}"
            )));
        }
        if let Some(len) = length
            && len != nbytes
        {
            return Err(LoadError::malformed(format!(
                "tensor '{name}': external data length {len} but dims {:?} need {nbytes} bytes",
                t.dims
            )));
        }
        let id = match self.externals.get(location) {
            Some(&id) => id,
            None => {
                if self.externals.len() >= MAX_EXTERNAL_FILES {
                    return Err(LoadError::limit(format!(
                        "more than {MAX_EXTERNAL_FILES} external data files"
                    )));
                }
                let id = self.w.host().open_external(location).map_err(|mut e| {
                    e.message = format!(
                        "tensor '{name}': external data file {location:?}: {}",
                        e.message
                    );
                    e
                })?;
                self.externals.insert(location.to_string(), id);
                id
            }
        };
        let file_len = self.w.host().source_len(id)?;
        let offset = offset.unwrap_or(0);
        let fits = offset.checked_add(nbytes).is_some_and(|e| e <= file_len);
        if !fits {
            return Err(LoadError::malformed(format!(
                "tensor '{name}': external data of {nbytes} bytes at offset {offset} runs past the end of {location:?} ({file_len} bytes)"
            )));
        }
        Ok(Storage {
            source: StorageSource::External(id),
            offset,
            length: nbytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_locations_are_screened() {
        for bad in [
            "",
            "/etc/passwd",
            "../../etc/passwd",
            "a/../../b",
            "..",
            "C:/x",
            "c:x",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(screen_location(bad).is_some(), "{bad:?} should be refused");
        }
        for good in [
            "model.onnx.data",
            "weights/w.bin",
            "./w.bin",
            "a..b",
            "w..",
            "..w",
        ] {
            assert_eq!(screen_location(good), None, "{good:?} should pass");
        }
    }

    #[test]
    fn decimals_are_strict() {
        assert_eq!(parse_decimal("4096"), Some(4096));
        assert_eq!(parse_decimal("+1"), None);
        assert_eq!(parse_decimal("-1"), None);
        assert_eq!(parse_decimal(" 1"), None);
        assert_eq!(parse_decimal("99999999999999999999999"), None);
    }
}
