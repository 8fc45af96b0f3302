//! Member paths: the only names a bundle may contain (`docs/format.md` §Paths).
//!
//! A member path is relative POSIX: components separated by `/`, each non-empty, not `.`
//! or `..`, with no NUL, control character, backslash or `:`; at most
//! [`MAX_PATH_BYTES`] bytes and [`MAX_DEPTH`] components. Two paths of one bundle may not
//! differ only by letter case (they would collide when extracted on macOS or Windows).

use std::fmt;

/// Longest member path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Deepest member path, in components.
pub const MAX_DEPTH: usize = 64;

/// Why a name is not a valid member path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The empty string.
    #[error("empty path")]
    Empty,
    /// Longer than [`MAX_PATH_BYTES`].
    #[error("path longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    /// Deeper than [`MAX_DEPTH`].
    #[error("path deeper than {MAX_DEPTH} components")]
    TooDeep,
    /// Starts with `/`.
    #[error("absolute path")]
    Absolute,
    /// Has an empty component (`a//b`, trailing `/`).
    #[error("empty path component")]
    EmptyComponent,
    /// Has a `.` or `..` component.
    #[error("`.` or `..` component")]
    DotComponent,
    /// Has a forbidden character.
    #[error("forbidden character {0:?}")]
    ForbiddenChar(char),
}

/// A validated member path.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberPath(String);

impl MemberPath {
    /// Validate `name` as a member path.
    pub fn new(name: &str) -> Result<MemberPath, PathError> {
        if name.is_empty() {
            return Err(PathError::Empty);
        }
        if name.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        if name.starts_with('/') {
            return Err(PathError::Absolute);
        }
        if let Some(c) = name
            .chars()
            .find(|&c| c.is_control() || c == '\\' || c == ':')
        {
            return Err(PathError::ForbiddenChar(c));
        }
        let mut depth = 0;
        for component in name.split('/') {
            depth += 1;
            match component {
                "" => return Err(PathError::EmptyComponent),
                "." | ".." => return Err(PathError::DotComponent),
                _ => {}
            }
        }
        if depth > MAX_DEPTH {
            return Err(PathError::TooDeep);
        }
        Ok(MemberPath(name.to_string()))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key used to detect names that differ only by case.
    pub fn case_fold_key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for MemberPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MemberPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl serde::Serialize for MemberPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for MemberPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MemberPath::new(&s).map_err(|e| serde::de::Error::custom(format_args!("{s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_relative_paths() {
        for ok in [
            "model.pkl",
            "a/b/c.json",
            "weights-00001-of-00002.safetensors",
            "é/ü.txt",
            ".hidden",
        ] {
            assert_eq!(MemberPath::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_every_dangerous_form() {
        let cases = [
            ("", PathError::Empty),
            ("/etc/passwd", PathError::Absolute),
            ("a//b", PathError::EmptyComponent),
            ("a/", PathError::EmptyComponent),
            ("../x", PathError::DotComponent),
            ("a/./b", PathError::DotComponent),
            ("a/..", PathError::DotComponent),
            ("a\\b", PathError::ForbiddenChar('\\')),
            ("a\0b", PathError::ForbiddenChar('\0')),
            ("C:/x", PathError::ForbiddenChar(':')),
            ("a\nb", PathError::ForbiddenChar('\n')),
        ];
        for (name, err) in cases {
            assert_eq!(MemberPath::new(name).unwrap_err(), err, "{name:?}");
        }
        assert_eq!(
            MemberPath::new(&"a".repeat(1025)).unwrap_err(),
            PathError::TooLong
        );
        assert_eq!(
            MemberPath::new(&["a"; 65].join("/")).unwrap_err(),
            PathError::TooDeep
        );
    }
}
