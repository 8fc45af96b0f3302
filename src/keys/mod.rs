//! Signing keys: Ed25519 key pairs, key ids and the key file formats, plain or
//! passphrase-encrypted (`docs/format.md` §Key files, `keys/README.md` for handling).

mod encrypted;
mod file;
pub mod passphrase;

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

pub use encrypted::{ENCRYPTED_SECRET_KEY_TYPE, KdfParams};
pub(crate) use file::secret_key_from_bytes_with;
pub use file::{
    KeyError, PUBLIC_KEY_TYPE, SECRET_KEY_TYPE, is_encrypted_key_file, load_public_key,
    load_secret_key, load_secret_key_with, replace_secret_key_file, write_key_pair,
    write_key_pair_with,
};

const KEY_ID_DOMAIN: &[u8] = b"modelseal-key-id-v1\0ed25519\0";

/// A key's identifier: the first 16 bytes of a domain-separated SHA-256 of the public key,
/// written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> KeyId {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(key.as_bytes());
        let full: [u8; 32] = h.finalize().into();
        let mut id = [0u8; 16];
        id.copy_from_slice(&full[..16]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write(f, &self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A string that is not a key id (32 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a key id (32 lowercase hex digits): {0:?}")]
pub struct BadKeyId(pub String);

impl FromStr for KeyId {
    type Err = BadKeyId;
    fn from_str(s: &str) -> Result<Self, BadKeyId> {
        crate::hex::decode(s)
            .map(KeyId)
            .ok_or_else(|| BadKeyId(s.chars().take(80).collect()))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 public key with its id and comment.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
    comment: String,
}

impl PublicKey {
    /// Wrap a verifying key.
    pub fn new(key: VerifyingKey, comment: impl Into<String>) -> Self {
        PublicKey {
            id: KeyId::of(&key),
            key,
            comment: comment.into(),
        }
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The free-form comment (e.g. who holds the key).
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The raw 32-byte key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Verify `signature` over `message` (strict: refuses malleable and small-order forms).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// An Ed25519 signing key (zeroized on drop).
pub struct SecretKey {
    key: SigningKey,
    public: PublicKey,
}

impl SecretKey {
    /// Generate a new key from the operating system's random source.
    pub fn generate(comment: impl Into<String>) -> Result<SecretKey, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed, comment))
    }

    /// The key for a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32], comment: impl Into<String>) -> SecretKey {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::new(key.verifying_key(), comment);
        SecretKey { key, public }
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.public.id
    }

    /// Sign `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_stable_and_parse() {
        let k = SecretKey::from_seed(&[7u8; 32], "t");
        let id = k.id();
        assert_eq!(id.to_string().len(), 32);
        assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        assert_ne!(SecretKey::from_seed(&[8u8; 32], "t").id(), id);
        assert!("XYZ".parse::<KeyId>().is_err());
        assert!(id.to_string().to_uppercase().parse::<KeyId>().is_err());
    }

    #[test]
    fn sign_and_verify() {
        let k = SecretKey::generate("t").unwrap();
        let sig = k.sign(b"hello");
        assert!(k.public().verify(b"hello", &sig));
        assert!(!k.public().verify(b"hellO", &sig));
        let other = SecretKey::generate("u").unwrap();
        assert!(!other.public().verify(b"hello", &sig));
    }
}
