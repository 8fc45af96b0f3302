//! The registry log as a deployer reads it from an untrusted store: strict entry parsing,
//! the hash chain, signatures, and the state (versions, stage histories) derived from the
//! trusted entries.
//!
//! Input: up to 16 entries separated by `\n--\n`. A first byte `R` ("re-sign") makes the
//! harness treat each part as an entry body, fix its index and `prev` link and sign it with
//! the seed signer, so mutated bodies reach the state derivation; otherwise the entries are
//! stored as they are.
#![no_main]
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use modelseal::bundle::TrustedKeys;
use modelseal::digest::Sha256Digest;
use modelseal::registry::log::{self, EntryBody};
use modelseal::registry::{Log, Stage, Store, StoreError, View};

/// A read-only store holding only log entries.
#[derive(Debug)]
struct Entries(Vec<Vec<u8>>);

impl Store for Entries {
    fn location(&self) -> String {
        "fuzz".into()
    }
    fn get_blob(&self, d: &Sha256Digest, _: &mut dyn Write) -> Result<u64, StoreError> {
        Err(StoreError::NotFound(format!("blob {d}")))
    }
    fn has_blob(&self, _: &Sha256Digest) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn put_blob(&self, _: &Sha256Digest, _: &Path) -> Result<(), StoreError> {
        Err(StoreError::NotFound("read-only".into()))
    }
    fn list_blobs(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        Ok(Vec::new())
    }
    fn log_indexes(&self, from: u64) -> Result<Vec<u64>, StoreError> {
        Ok((from..self.0.len() as u64).collect())
    }
    fn read_log(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.get(i))
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("entry {index}")))
    }
    fn create_log(&self, _: u64, _: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::NotFound("read-only".into()))
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (resigning, body) = match data.split_first() {
        Some((b'R', rest)) => (true, rest),
        _ => (false, data),
    };
    let signer = modelseal_fuzz::keys::signer();
    let mut entries = Vec::new();
    let mut prev = log::GENESIS;
    for (i, part) in modelseal_fuzz::split_documents(body, 16)
        .into_iter()
        .enumerate()
    {
        let bytes = if resigning {
            let Ok(mut b) = serde_json::from_slice::<EntryBody>(part) else {
                return;
            };
            b.index = i as u64;
            b.prev = prev;
            b.actor = signer.id();
            log::encode(&b, &signer)
        } else {
            part.to_vec()
        };
        prev = Sha256Digest::of(&bytes);
        entries.push(bytes);
    }
    let store = Entries(entries);
    let policy = TrustedKeys(vec![signer.public().clone()]);
    let Ok(log) = Log::load(&store, &policy) else {
        return;
    };
    assert_eq!(log.entries().len(), store.0.len());
    let view = View::build(&log);
    for model in view.models() {
        for stage in Stage::ALL {
            if let Some(v) = model.current(stage) {
                // A current version was published by a trusted entry.
                assert!(model.version(&v.version).is_some());
            }
            let _ = model.rollback_target(stage);
        }
    }
});
