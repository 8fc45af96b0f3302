//! Key files: `NAME.pub` (shareable) and `NAME.key` (secret, mode 0600).
//!
//! Both are small JSON objects (format in `docs/format.md` §Key files):
//! `{"type":"modelseal-public-key","algorithm":"ed25519","key_id":…,"public_key":<base64>,"comment":…}`
//! and the same with `"type":"modelseal-secret-key"` plus `"secret_key":<base64 seed>`.
//! Readers refuse unknown fields, duplicate keys, ids or public keys that do not match the
//! key material, and secret keys readable or writable by other users.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::passphrase::{EnvOrTerminal, PassphraseSource};
use super::{KdfParams, KeyId, PublicKey, SecretKey};
use crate::canonical;

/// `type` of a public key file.
pub const PUBLIC_KEY_TYPE: &str = "modelseal-public-key";
/// `type` of a secret key file.
pub const SECRET_KEY_TYPE: &str = "modelseal-secret-key";
const ALGORITHM: &str = "ed25519";
const MAX_KEY_FILE: usize = 64 << 10;

/// A key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The key file already exists.
    #[error("{0} already exists (use --force to overwrite it)")]
    Exists(PathBuf),
    /// The file is not a key file of the expected kind.
    #[error("{path} is not a valid modelseal {kind} key file: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// `public` or `secret`.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A secret key file that other users can access.
    #[error("{path} has permissions {mode:04o}: other users can access it (run: chmod 600 {path})")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The operating system's random source failed.
    #[error("cannot get random bytes: {0}")]
    Random(String),
    /// No passphrase could be obtained for an encrypted key.
    #[error("{path} is encrypted: {detail}")]
    Passphrase {
        /// The file.
        path: PathBuf,
        /// Why there is no passphrase.
        detail: String,
    },
    /// The passphrase is wrong or the encrypted key file was modified.
    #[error("{0}: wrong passphrase, or the encrypted key file was modified")]
    Decrypt(PathBuf),
    /// The encrypted key file asks for KDF work beyond the accepted bounds.
    #[error("{path}: {detail}")]
    Kdf {
        /// The file.
        path: PathBuf,
        /// The parameters and the bounds.
        detail: String,
    },
    /// Encrypting a key failed.
    #[error("cannot encrypt the key: {0}")]
    Encrypt(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyFile {
    #[serde(rename = "type")]
    kind: String,
    algorithm: String,
    key_id: KeyId,
    public_key: String,
    comment: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretKeyFile {
    #[serde(rename = "type")]
    kind: String,
    algorithm: String,
    key_id: KeyId,
    public_key: String,
    comment: String,
    secret_key: String,
}

impl PublicKey {
    /// The `.pub` file contents.
    pub fn to_file_string(&self) -> String {
        let file = PublicKeyFile {
            kind: PUBLIC_KEY_TYPE.into(),
            algorithm: ALGORITHM.into(),
            key_id: self.id,
            public_key: B64.encode(self.key.as_bytes()),
            comment: self.comment.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parse `.pub` file contents.
    pub fn from_file_bytes(bytes: &[u8], path: &Path) -> Result<PublicKey, KeyError> {
        let bad = |detail: String| KeyError::Format {
            path: path.to_path_buf(),
            kind: "public",
            detail,
        };
        let file: PublicKeyFile = parse_key_json(bytes, PUBLIC_KEY_TYPE).map_err(bad)?;
        if file.algorithm != ALGORITHM {
            return Err(bad(format!("unsupported algorithm {:?}", file.algorithm)));
        }
        let raw = decode_32(&file.public_key)
            .ok_or_else(|| bad("public_key is not 32 bytes of base64".into()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| bad("public_key is not a valid Ed25519 point".into()))?;
        let public = PublicKey::new(key, file.comment);
        if public.id != file.key_id {
            return Err(bad(format!(
                "key_id {} does not match the key ({})",
                file.key_id, public.id
            )));
        }
        Ok(public)
    }
}

impl SecretKey {
    /// The `.key` file contents (secret!).
    pub fn to_file_string(&self) -> Zeroizing<String> {
        let seed = self.seed();
        let file = SecretKeyFile {
            kind: SECRET_KEY_TYPE.into(),
            algorithm: ALGORITHM.into(),
            key_id: self.id(),
            public_key: B64.encode(self.public.as_bytes()),
            comment: self.public.comment.clone(),
            secret_key: B64.encode(seed.as_ref()),
        };
        let mut text = Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default());
        text.push('\n');
        let SecretKeyFile { secret_key, .. } = file;
        drop(Zeroizing::new(secret_key));
        text
    }

    /// Parse `.key` file contents.
    pub fn from_file_bytes(bytes: &[u8], path: &Path) -> Result<SecretKey, KeyError> {
        let bad = |detail: String| KeyError::Format {
            path: path.to_path_buf(),
            kind: "secret",
            detail,
        };
        let file: SecretKeyFile = parse_key_json(bytes, SECRET_KEY_TYPE).map_err(bad)?;
        let secret_b64 = Zeroizing::new(file.secret_key);
        if file.algorithm != ALGORITHM {
            return Err(bad(format!("unsupported algorithm {:?}", file.algorithm)));
        }
        let seed = Zeroizing::new(
            decode_32(&secret_b64)
                .ok_or_else(|| bad("secret_key is not 32 bytes of base64".into()))?,
        );
        let key = SecretKey::from_seed(&seed, file.comment);
        if B64.encode(key.public.as_bytes()) != file.public_key {
            return Err(bad("public_key does not match secret_key".into()));
        }
        if key.id() != file.key_id {
            return Err(bad(format!(
                "key_id {} does not match the key ({})",
                file.key_id,
                key.id()
            )));
        }
        Ok(key)
    }
}

/// Parse a key file of type `expected`, explaining a mix-up of public and secret files.
fn parse_key_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    expected: &str,
) -> Result<T, String> {
    let value = canonical::parse_value_lenient_format(bytes, "key file", MAX_KEY_FILE)
        .map_err(|e| e.to_string())?;
    let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if kind != expected {
        return Err(match kind {
            SECRET_KEY_TYPE | super::ENCRYPTED_SECRET_KEY_TYPE => {
                "this is a secret key; pass the .pub file".into()
            }
            PUBLIC_KEY_TYPE => "this is a public key; pass the .key file".into(),
            other => format!("type {other:?}, expected {expected:?}"),
        });
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn decode_32(text: &str) -> Option<[u8; 32]> {
    let bytes = Zeroizing::new(B64.decode(text).ok()?);
    bytes.as_slice().try_into().ok()
}

/// Read a public key file.
pub fn load_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let bytes = read_limited(path)?;
    PublicKey::from_file_bytes(&bytes, path)
}

/// Read a secret key file, refusing one that other users can access. An encrypted key is
/// decrypted with a passphrase from [`EnvOrTerminal`] (`MODELSEAL_PASSPHRASE`, else a
/// terminal prompt).
pub fn load_secret_key(path: &Path) -> Result<SecretKey, KeyError> {
    load_secret_key_with(path, &EnvOrTerminal)
}

/// Read a secret key file, plain or encrypted, taking passphrases from `source`.
pub fn load_secret_key_with(
    path: &Path,
    source: &dyn PassphraseSource,
) -> Result<SecretKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
    if mode & 0o007 != 0 || mode & 0o020 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes = Zeroizing::new(read_limited(path)?);
    secret_key_from_bytes_with(&bytes, path, source)
}

/// Parse secret key file contents, plain or encrypted (`path` names the file in errors;
/// the fuzz targets call this directly).
pub(crate) fn secret_key_from_bytes_with(
    bytes: &[u8],
    path: &Path,
    source: &dyn PassphraseSource,
) -> Result<SecretKey, KeyError> {
    let value = canonical::parse_value_lenient_format(bytes, "key file", MAX_KEY_FILE).ok();
    match value {
        Some(v) if super::encrypted::is_encrypted(&v) => {
            let passphrase = source
                .passphrase(path)
                .map_err(|detail| KeyError::Passphrase {
                    path: path.to_path_buf(),
                    detail,
                })?;
            super::encrypted::decrypt(v, path, &passphrase)
        }
        _ => SecretKey::from_file_bytes(bytes, path),
    }
}

/// Whether the secret key file at `path` is passphrase-encrypted (without decrypting it).
pub fn is_encrypted_key_file(path: &Path) -> Result<bool, KeyError> {
    let bytes = Zeroizing::new(read_limited(path)?);
    Ok(
        canonical::parse_value_lenient_format(&bytes, "key file", MAX_KEY_FILE)
            .ok()
            .is_some_and(|v| super::encrypted::is_encrypted(&v)),
    )
}

fn read_limited(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = fs::metadata(path).map_err(io)?.len();
    if len > MAX_KEY_FILE as u64 {
        return Err(KeyError::Format {
            path: path.to_path_buf(),
            kind: "public or secret",
            detail: format!("{len} bytes is too large for a key file"),
        });
    }
    fs::read(path).map_err(io)
}

/// Write `BASE.key` (mode 0600) and `BASE.pub`. Refuses to overwrite either unless `force`.
/// Returns the two paths.
pub fn write_key_pair(
    base: &Path,
    key: &SecretKey,
    force: bool,
) -> Result<(PathBuf, PathBuf), KeyError> {
    write_key_pair_with(base, key, force, None)
}

/// Like [`write_key_pair`], encrypting `BASE.key` when `encrypt` gives a passphrase
/// source and the KDF parameters.
pub fn write_key_pair_with(
    base: &Path,
    key: &SecretKey,
    force: bool,
    encrypt: Option<(&dyn PassphraseSource, KdfParams)>,
) -> Result<(PathBuf, PathBuf), KeyError> {
    let secret_path = with_suffix(base, "key");
    let public_path = with_suffix(base, "pub");
    if !force {
        for p in [&secret_path, &public_path] {
            if fs::symlink_metadata(p).is_ok() {
                return Err(KeyError::Exists(p.clone()));
            }
        }
    }
    let contents = match encrypt {
        None => key.to_file_string(),
        Some((source, params)) => {
            params.check().map_err(KeyError::Encrypt)?;
            let passphrase =
                source
                    .new_passphrase(&secret_path)
                    .map_err(|detail| KeyError::Passphrase {
                        path: secret_path.clone(),
                        detail,
                    })?;
            Zeroizing::new(key.to_encrypted_file_string(&passphrase, params)?)
        }
    };
    write_private(&secret_path, contents.as_bytes(), force)?;
    crate::fsutil::write_atomic(
        &public_path,
        key.public().to_file_string().as_bytes(),
        0o644,
    )
    .map_err(|source| KeyError::Io {
        path: public_path.clone(),
        source,
    })?;
    Ok((secret_path, public_path))
}

/// Atomically replace the secret key file at `path` with `contents` (mode 0600), e.g. its
/// encrypted form.
pub fn replace_secret_key_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    write_private(path, contents, true)
}

fn write_private(path: &Path, contents: &[u8], force: bool) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if force {
        return crate::fsutil::write_atomic(path, contents, 0o600).map_err(io);
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(path.to_path_buf())
            } else {
                io(e)
            }
        })?;
    let written = f.write_all(contents).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(path);
        return Err(io(e));
    }
    Ok(())
}

fn with_suffix(base: &Path, ext: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_with_safe_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("ci");
        let key = SecretKey::generate("ci key").unwrap();
        let (sk, pk) = write_key_pair(&base, &key, false).unwrap();
        assert_eq!(
            fs::metadata(&sk).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = load_secret_key(&sk).unwrap();
        assert_eq!(loaded.id(), key.id());
        let public = load_public_key(&pk).unwrap();
        assert_eq!(public.id(), key.id());
        assert_eq!(public.comment(), "ci key");
        // Never overwritten without force.
        assert!(matches!(
            write_key_pair(&base, &key, false),
            Err(KeyError::Exists(_))
        ));
        let other = SecretKey::generate("x").unwrap();
        write_key_pair(&base, &other, true).unwrap();
        assert_eq!(load_secret_key(&sk).unwrap().id(), other.id());
        assert_eq!(
            fs::metadata(&sk).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn world_readable_secret_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate("x").unwrap();
        let (sk, _) = write_key_pair(&dir.path().join("k"), &key, false).unwrap();
        fs::set_permissions(&sk, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_secret_key(&sk),
            Err(KeyError::Permissions { mode: 0o644, .. })
        ));
    }

    #[test]
    fn tampered_key_files_are_refused() {
        let key = SecretKey::generate("x").unwrap();
        let p = Path::new("k.pub");
        let text = key.public().to_file_string();
        let other = SecretKey::generate("y").unwrap();
        let swapped = text.replace(&key.id().to_string(), &other.id().to_string());
        assert!(PublicKey::from_file_bytes(swapped.as_bytes(), p).is_err());
        let secret = key.to_file_string();
        assert!(PublicKey::from_file_bytes(secret.as_bytes(), p).is_err());
        let dup = text.replacen("{", "{\"comment\":\"a\",", 1);
        assert!(PublicKey::from_file_bytes(dup.as_bytes(), p).is_err());
    }
}
