//! Passphrase-encrypted secret key files (`docs/format.md` §8.1).
//!
//! Construction: scrypt (RFC 7914) derives a 32-byte key from the passphrase and a random
//! 32-byte salt; XChaCha20-Poly1305 (random 24-byte nonce) encrypts the 32-byte Ed25519
//! seed. The associated data is the canonical JSON of every other field of the file, so
//! the KDF parameters, key id, public key and comment cannot be changed without the
//! decryption failing. Readers bound the KDF cost *before* running it, so a hostile file
//! cannot make modelseal allocate gigabytes or spin for minutes.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{KeyError, KeyId, SecretKey};
use crate::canonical;

/// `type` of an encrypted secret key file.
pub const ENCRYPTED_SECRET_KEY_TYPE: &str = "modelseal-encrypted-secret-key";
/// The only KDF: scrypt.
pub const KDF_NAME: &str = "scrypt";
/// The only cipher: XChaCha20-Poly1305.
pub const CIPHER_NAME: &str = "xchacha20poly1305";
/// Smallest scrypt `log_n` accepted (readers and writers).
pub const MIN_KDF_LOG_N: u8 = 10;
/// Largest scrypt `log_n` accepted.
pub const MAX_KDF_LOG_N: u8 = 20;
/// Largest scrypt `r` accepted.
pub const MAX_KDF_R: u32 = 32;
/// Largest scrypt `p` accepted.
pub const MAX_KDF_P: u32 = 4;
/// Most memory the KDF may need (128 · r · 2^log_n bytes).
pub const MAX_KDF_MEMORY: u64 = 256 << 20;

const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const SEED_LEN: usize = 32;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"modelseal-encrypted-key-v1\0";

/// scrypt cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// log2 of the CPU/memory cost N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// What writers use: N = 2^17, r = 8, p = 1 (128 MiB, a fraction of a second).
    pub const DEFAULT: KdfParams = KdfParams {
        log_n: 17,
        r: 8,
        p: 1,
    };

    /// Bytes of memory scrypt needs for these parameters.
    pub fn memory(&self) -> Option<u64> {
        let n = 1u64.checked_shl(u32::from(self.log_n))?;
        n.checked_mul(128)?.checked_mul(u64::from(self.r))
    }

    /// Check the bounds: `log_n` in [`MIN_KDF_LOG_N`, `MAX_KDF_LOG_N`], `r` in 1..=
    /// [`MAX_KDF_R`], `p` in 1..=[`MAX_KDF_P`], memory at most [`MAX_KDF_MEMORY`].
    pub fn check(&self) -> Result<(), String> {
        let memory = self.memory().unwrap_or(u64::MAX);
        if !(MIN_KDF_LOG_N..=MAX_KDF_LOG_N).contains(&self.log_n)
            || !(1..=MAX_KDF_R).contains(&self.r)
            || !(1..=MAX_KDF_P).contains(&self.p)
            || memory > MAX_KDF_MEMORY
        {
            return Err(format!(
                "scrypt parameters log_n={} r={} p={} are outside the accepted bounds \
                 (log_n {MIN_KDF_LOG_N}-{MAX_KDF_LOG_N}, r 1-{MAX_KDF_R}, p 1-{MAX_KDF_P}, \
                 at most {} MiB)",
                self.log_n,
                self.r,
                self.p,
                MAX_KDF_MEMORY >> 20
            ));
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfField {
    name: String,
    log_n: u8,
    r: u32,
    p: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherField {
    name: String,
    nonce: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedKeyFile {
    #[serde(rename = "type")]
    kind: String,
    algorithm: String,
    key_id: KeyId,
    public_key: String,
    comment: String,
    kdf: KdfField,
    cipher: CipherField,
    ciphertext: String,
}

/// The associated data: a domain string and the canonical JSON of every field but the
/// ciphertext.
fn associated_data(file: &EncryptedKeyFile) -> Result<Vec<u8>, String> {
    let mut value = serde_json::to_value(file).map_err(|e| e.to_string())?;
    if let Some(obj) = value.as_object_mut() {
        obj.remove("ciphertext");
    }
    let mut aad = AAD_DOMAIN.to_vec();
    aad.extend(canonical::to_vec(&value).map_err(|e| e.to_string())?);
    Ok(aad)
}

fn derive(
    passphrase: &[u8],
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, String> {
    params.check()?;
    let p = scrypt::Params::new(params.log_n, params.r, params.p).map_err(|e| e.to_string())?;
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &p, out.as_mut()).map_err(|e| e.to_string())?;
    Ok(out)
}

impl SecretKey {
    /// The contents of an encrypted `.key` file protecting this key with `passphrase`.
    pub fn to_encrypted_file_string(
        &self,
        passphrase: &str,
        params: KdfParams,
    ) -> Result<String, KeyError> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut salt).map_err(|e| KeyError::Random(e.to_string()))?;
        getrandom::fill(&mut nonce).map_err(|e| KeyError::Random(e.to_string()))?;
        let fail = |detail: String| KeyError::Encrypt(detail);
        let mut file = EncryptedKeyFile {
            kind: ENCRYPTED_SECRET_KEY_TYPE.into(),
            algorithm: "ed25519".into(),
            key_id: self.id(),
            public_key: B64.encode(self.public.as_bytes()),
            comment: self.public.comment.clone(),
            kdf: KdfField {
                name: KDF_NAME.into(),
                log_n: params.log_n,
                r: params.r,
                p: params.p,
                salt: B64.encode(salt),
            },
            cipher: CipherField {
                name: CIPHER_NAME.into(),
                nonce: B64.encode(nonce),
            },
            ciphertext: String::new(),
        };
        let key = derive(passphrase.as_bytes(), &salt, params).map_err(fail)?;
        let aad = associated_data(&file).map_err(fail)?;
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        let seed = self.seed();
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: seed.as_ref(),
                    aad: &aad,
                },
            )
            .map_err(|_| fail("encryption failed".into()))?;
        file.ciphertext = B64.encode(sealed);
        let mut text = serde_json::to_string_pretty(&file).map_err(|e| fail(e.to_string()))?;
        text.push('\n');
        Ok(text)
    }
}

/// Whether parsed key-file JSON is an encrypted secret key.
pub(super) fn is_encrypted(value: &serde_json::Value) -> bool {
    value.get("type").and_then(|t| t.as_str()) == Some(ENCRYPTED_SECRET_KEY_TYPE)
}

/// Decrypt an encrypted key file (already parsed as JSON) with `passphrase`.
pub(super) fn decrypt(
    value: serde_json::Value,
    path: &Path,
    passphrase: &str,
) -> Result<SecretKey, KeyError> {
    let bad = |detail: String| KeyError::Format {
        path: path.to_path_buf(),
        kind: "encrypted secret",
        detail,
    };
    let file: EncryptedKeyFile = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    if file.algorithm != "ed25519" {
        return Err(bad(format!("unsupported algorithm {:?}", file.algorithm)));
    }
    if file.kdf.name != KDF_NAME {
        return Err(bad(format!("unsupported KDF {:?}", file.kdf.name)));
    }
    if file.cipher.name != CIPHER_NAME {
        return Err(bad(format!("unsupported cipher {:?}", file.cipher.name)));
    }
    let params = KdfParams {
        log_n: file.kdf.log_n,
        r: file.kdf.r,
        p: file.kdf.p,
    };
    params.check().map_err(|detail| KeyError::Kdf {
        path: path.to_path_buf(),
        detail,
    })?;
    let salt: [u8; SALT_LEN] = decode_exact(&file.kdf.salt)
        .ok_or_else(|| bad(format!("kdf.salt is not {SALT_LEN} bytes of base64")))?;
    let nonce: [u8; NONCE_LEN] = decode_exact(&file.cipher.nonce)
        .ok_or_else(|| bad(format!("cipher.nonce is not {NONCE_LEN} bytes of base64")))?;
    let sealed: [u8; SEED_LEN + TAG_LEN] = decode_exact(&file.ciphertext).ok_or_else(|| {
        bad(format!(
            "ciphertext is not {} bytes of base64",
            SEED_LEN + TAG_LEN
        ))
    })?;
    let aad = associated_data(&file).map_err(bad)?;
    let key = derive(passphrase.as_bytes(), &salt, params).map_err(bad)?;
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    let seed = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| KeyError::Decrypt(path.to_path_buf()))?,
    );
    let seed: Zeroizing<[u8; SEED_LEN]> = Zeroizing::new(
        seed.as_slice()
            .try_into()
            .map_err(|_| bad("decrypted seed is not 32 bytes".into()))?,
    );
    let key = SecretKey::from_seed(&seed, file.comment);
    if B64.encode(key.public.as_bytes()) != file.public_key || key.id() != file.key_id {
        return Err(bad(
            "the decrypted key does not match public_key or key_id".into()
        ));
    }
    Ok(key)
}

fn decode_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = Zeroizing::new(B64.decode(text).ok()?);
    bytes.as_slice().try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        log_n: MIN_KDF_LOG_N,
        r: 8,
        p: 1,
    };

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let key = SecretKey::generate("ci").unwrap();
        let text = key.to_encrypted_file_string("correct horse", FAST).unwrap();
        assert!(!text.contains(&B64.encode(key.seed().as_ref())));
        let p = Path::new("k.key");
        let back = decrypt(parse(&text), p, "correct horse").unwrap();
        assert_eq!(back.id(), key.id());
        assert_eq!(back.public().comment(), "ci");
        assert!(matches!(
            decrypt(parse(&text), p, "wrong"),
            Err(KeyError::Decrypt(_))
        ));
    }

    #[test]
    fn every_field_is_authenticated() {
        let key = SecretKey::generate("ci").unwrap();
        let text = key.to_encrypted_file_string("pw", FAST).unwrap();
        let p = Path::new("k.key");
        let changed = text.replace("\"comment\": \"ci\"", "\"comment\": \"cj\"");
        assert_ne!(changed, text);
        assert!(matches!(
            decrypt(parse(&changed), p, "pw"),
            Err(KeyError::Decrypt(_))
        ));
        let mut v = parse(&text);
        v["kdf"]["r"] = 9.into();
        assert!(matches!(decrypt(v, p, "pw"), Err(KeyError::Decrypt(_))));
    }

    #[test]
    fn excessive_kdf_parameters_are_refused_before_running() {
        let key = SecretKey::generate("ci").unwrap();
        let text = key.to_encrypted_file_string("pw", FAST).unwrap();
        let p = Path::new("k.key");
        for (field, value) in [("log_n", 36u32), ("log_n", 21), ("r", 1 << 20), ("p", 64)] {
            let mut v = parse(&text);
            v["kdf"][field] = value.into();
            assert!(
                matches!(decrypt(v, p, "pw"), Err(KeyError::Kdf { .. })),
                "{field}={value}"
            );
        }
        // 2^20 · 128 · 8 = 1 GiB: over the memory bound although log_n is allowed.
        let mut v = parse(&text);
        v["kdf"]["log_n"] = 20.into();
        assert!(matches!(decrypt(v, p, "pw"), Err(KeyError::Kdf { .. })));
        assert!(KdfParams::DEFAULT.check().is_ok());
    }
}
