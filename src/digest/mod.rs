//! File digests: SHA-256 over fixed-size chunks under a per-file root, so that one huge
//! file can be hashed on every core (`docs/format.md` §Digests).
//!
//! For a file of `size` bytes and chunk size `C`:
//! * `size <= C`: the digest is plain SHA-256 of the content (what `sha256sum` prints);
//! * otherwise: `SHA-256("modelseal-chunked-sha256-v1\0" ‖ be64(C) ‖ be64(size) ‖ d0 ‖ d1 ‖ …)`
//!   where `di` is the SHA-256 of chunk `i` (the last chunk may be short).
//!
//! Binding `C` and `size` into the root makes the number and length of chunks unambiguous.

pub mod parallel;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// The chunk size modelseal writes: 16 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;
/// The smallest chunk size a manifest may declare (1 MiB).
pub const MIN_CHUNK_SIZE: u64 = 1 << 20;
/// The largest chunk size a manifest may declare (1 GiB).
pub const MAX_CHUNK_SIZE: u64 = 1 << 30;

const ROOT_DOMAIN: &[u8] = b"modelseal-chunked-sha256-v1\0";

/// A SHA-256 value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write(f, &self.0)
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

/// A digest string that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 digest (64 lowercase hex digits): {0:?}")]
pub struct BadDigest(pub String);

impl FromStr for Sha256Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, BadDigest> {
        crate::hex::decode(s)
            .map(Sha256Digest)
            .ok_or_else(|| BadDigest(s.chars().take(80).collect()))
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Number of chunks of a file of `size` bytes (an empty file has one empty chunk).
pub fn chunk_count(size: u64, chunk_size: u64) -> u64 {
    if size == 0 {
        1
    } else {
        size.div_ceil(chunk_size)
    }
}

/// The file digest from its chunk digests (in order).
pub fn file_digest(chunk_size: u64, size: u64, chunks: &[Sha256Digest]) -> Sha256Digest {
    if size <= chunk_size
        && let [only] = chunks
    {
        return *only;
    }
    let mut h = Sha256::new();
    h.update(ROOT_DOMAIN);
    h.update(chunk_size.to_be_bytes());
    h.update(size.to_be_bytes());
    for c in chunks {
        h.update(c.0);
    }
    Sha256Digest(h.finalize().into())
}

/// Sequential streaming computation of a file digest (for inflated members and small
/// in-memory data; large stored files go through [`parallel`]).
#[derive(Clone)]
pub struct StreamingDigest {
    chunk_size: u64,
    in_chunk: u64,
    total: u64,
    current: Sha256,
    done: Vec<Sha256Digest>,
}

impl StreamingDigest {
    /// Start a digest with chunk size `chunk_size`.
    pub fn new(chunk_size: u64) -> Self {
        StreamingDigest {
            chunk_size,
            in_chunk: 0,
            total: 0,
            current: Sha256::new(),
            done: Vec::new(),
        }
    }

    /// Feed bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.in_chunk == self.chunk_size {
                let full = std::mem::replace(&mut self.current, Sha256::new());
                self.done.push(Sha256Digest(full.finalize().into()));
                self.in_chunk = 0;
            }
            let room = usize::try_from(self.chunk_size - self.in_chunk).unwrap_or(usize::MAX);
            let take = room.min(bytes.len());
            self.current.update(&bytes[..take]);
            self.in_chunk += take as u64;
            self.total += take as u64;
            bytes = &bytes[take..];
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True if nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The digest of everything fed.
    pub fn finish(mut self) -> Sha256Digest {
        self.done.push(Sha256Digest(self.current.finalize().into()));
        file_digest(self.chunk_size, self.total, &self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_hash_like_sha256sum() {
        // sha256("abc")
        let d = StreamingDigest::new(DEFAULT_CHUNK_SIZE);
        let mut d2 = d.clone();
        d2.update(b"abc");
        assert_eq!(
            d2.finish().to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            d.finish().to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn multi_chunk_root_binds_size_and_chunks() {
        let data: Vec<u8> = (0..10u8).collect();
        let mut s = StreamingDigest::new(4);
        s.update(&data[..3]);
        s.update(&data[3..]);
        let got = s.finish();
        let chunks: Vec<_> = data.chunks(4).map(Sha256Digest::of).collect();
        let mut h = Sha256::new();
        h.update(ROOT_DOMAIN);
        h.update(4u64.to_be_bytes());
        h.update(10u64.to_be_bytes());
        for c in &chunks {
            h.update(c.0);
        }
        assert_eq!(got, Sha256Digest(h.finalize().into()));
        assert_ne!(got, Sha256Digest::of(&data));
        // A file of exactly one chunk is plain SHA-256.
        let mut one = StreamingDigest::new(4);
        one.update(&data[..4]);
        assert_eq!(one.finish(), Sha256Digest::of(&data[..4]));
    }

    #[test]
    fn hex_parsing_is_strict() {
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(good.parse::<Sha256Digest>().unwrap().to_string(), good);
        assert!(good.to_uppercase().parse::<Sha256Digest>().is_err());
        assert!(good[1..].parse::<Sha256Digest>().is_err());
        assert!(format!("{good}0").parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn chunk_counts() {
        assert_eq!(chunk_count(0, 4), 1);
        assert_eq!(chunk_count(4, 4), 1);
        assert_eq!(chunk_count(5, 4), 2);
    }
}
