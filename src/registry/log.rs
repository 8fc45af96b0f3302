//! The registry log (`docs/format.md` §10.2): numbered entries, each signed by the
//! key that acted and chained to the previous entry by its SHA-256, so that nobody without
//! a trusted key can add, change, reorder or remove an entry other than at the end without
//! being detected.
//!
//! Reading is strict: every entry must be the canonical JSON the writer produces, carry its
//! own index, link to the exact bytes of the entry before it and have a valid signature if
//! its key is trusted. A trusted key's entry whose signature fails, a broken link, a gap or
//! a malformed entry makes the whole log unreadable ([`LogError`]): the registry then
//! refuses to act rather than guess. Entries by keys the trust does not accept are kept in
//! the chain but do not count ([`Standing::Untrusted`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::store::{MAX_LOG_ENTRY_BYTES, MAX_LOG_INDEX, Store, StoreError};
use crate::bundle::TrustPolicy;
use crate::canonical::{self, CanonicalError};
use crate::digest::Sha256Digest;
use crate::keys::{KeyId, SecretKey};
use crate::manifest;
use crate::signing::{self, REGISTRY_LOG_CONTEXT, SignatureEntry};

/// Schema id of a log entry body.
pub const ENTRY_SCHEMA: &str = "modelseal-registry-entry-v1";
/// Most bundle signers a publish entry may list.
pub const MAX_ENTRY_SIGNERS: usize = 64;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A verified bundle was added to the registry.
    Publish,
    /// A version was put into a stage.
    Promote,
    /// A stage went back to the version it held before.
    Rollback,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Publish => "publish",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
        })
    }
}

/// A deployment stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// What serves users.
    Production,
    /// What is being tried before production.
    Staging,
    /// Retired versions.
    Archived,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 3] = [Stage::Production, Stage::Staging, Stage::Archived];

    /// Whether a deployer can follow this stage (production and staging hold one current
    /// version; archived is a set of retired versions).
    pub fn is_deployable(self) -> bool {
        matches!(self, Stage::Production | Stage::Staging)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Production => "production",
            Stage::Staging => "staging",
            Stage::Archived => "archived",
        })
    }
}

/// Not a stage name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage {0:?} (production, staging or archived)")]
pub struct BadStage(pub String);

impl FromStr for Stage {
    type Err = BadStage;
    fn from_str(s: &str) -> Result<Stage, BadStage> {
        Stage::ALL
            .into_iter()
            .find(|st| st.to_string() == s)
            .ok_or_else(|| BadStage(s.chars().take(40).collect()))
    }
}

/// The signed part of a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    /// [`ENTRY_SCHEMA`].
    pub schema: String,
    /// Position in the log, from 0; equals the number in the entry's name.
    pub index: u64,
    /// SHA-256 of the exact bytes of entry `index - 1` (64 zeros for entry 0).
    pub prev: Sha256Digest,
    /// When the action was taken (RFC 3339 UTC, whole seconds), by the actor's clock.
    pub time: String,
    /// The key that acted and signed the entry.
    pub actor: KeyId,
    /// What happened.
    pub action: Action,
    /// Model name.
    pub name: String,
    /// The version published, promoted, or rolled back to.
    pub version: String,
    /// SHA-256 of the bundle file (its blob address).
    pub bundle: Sha256Digest,
    /// Promote and rollback: the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Publish: the bundle's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Publish: SHA-256 of the bundle's `manifest.json` (also stored as a blob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Sha256Digest>,
    /// Publish: the keys whose signatures made the bundle verify when it was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signers: Option<Vec<KeyId>>,
    /// Rollback: the version the stage held before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
}

/// A log entry file: the body and the actor's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    body: EntryBody,
    signature: SignatureEntry,
}

/// What an entry will say, before it gets its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// What happened.
    pub action: Action,
    /// Model name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Bundle digest.
    pub bundle: Sha256Digest,
    /// Stage (promote, rollback).
    pub stage: Option<Stage>,
    /// Bundle size (publish).
    pub size: Option<u64>,
    /// Manifest digest (publish).
    pub manifest: Option<Sha256Digest>,
    /// Bundle signers (publish).
    pub signers: Option<Vec<KeyId>>,
    /// Previous version (rollback).
    pub from_version: Option<String>,
}

impl Draft {
    fn into_body(self, index: u64, prev: Sha256Digest, time: String, actor: KeyId) -> EntryBody {
        EntryBody {
            schema: ENTRY_SCHEMA.into(),
            index,
            prev,
            time,
            actor,
            action: self.action,
            name: self.name,
            version: self.version,
            bundle: self.bundle,
            stage: self.stage,
            size: self.size,
            manifest: self.manifest,
            signers: self.signers,
            from_version: self.from_version,
        }
    }
}

/// Whether an entry counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Validly signed by a key the trust accepts for registry actions.
    Trusted,
    /// Signed by a key the trust does not accept (the reason); the entry is ignored.
    Untrusted(String),
}

/// A log entry that was read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The signed content.
    pub body: EntryBody,
    /// SHA-256 of the entry's bytes (what the next entry's `prev` must be).
    pub hash: Sha256Digest,
    /// Whether it counts under the trust it was read with.
    pub standing: Standing,
}

impl LogEntry {
    /// Whether the entry counts.
    pub fn is_trusted(&self) -> bool {
        self.standing == Standing::Trusted
    }
}

/// A log position a reader has seen: the index and hash of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Entry index.
    pub index: u64,
    /// Its hash.
    pub hash: Sha256Digest,
}

/// The log cannot be trusted as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Entries are not numbered 0, 1, 2, … without gaps.
    #[error("the log has a gap: entry {expected} is missing but entry {found} exists")]
    Gap {
        /// The missing index.
        expected: u64,
        /// The next index present.
        found: u64,
    },
    /// An entry is not a well-formed entry for its position.
    #[error("log entry {index} is malformed: {detail}")]
    Malformed {
        /// Entry index.
        index: u64,
        /// What is wrong.
        detail: String,
    },
    /// An entry's `prev` is not the hash of the entry before it.
    #[error(
        "log entry {index} does not link to entry {} (the log was rewritten)",
        index.saturating_sub(1)
    )]
    BrokenChain {
        /// Entry index.
        index: u64,
    },
    /// A trusted key's signature does not verify.
    #[error(
        "log entry {index}: the signature by trusted key {key} does not verify (entry altered)"
    )]
    BadSignature {
        /// Entry index.
        index: u64,
        /// The key.
        key: KeyId,
    },
    /// An entry seen before is gone (the log was rolled back).
    #[error(
        "log entry {index} was seen before but is gone: the registry log was rolled back (it now has {now} entries)"
    )]
    RolledBack {
        /// The entry that disappeared.
        index: u64,
        /// How many entries there are now.
        now: u64,
    },
    /// An entry seen before now has different bytes.
    #[error(
        "log entry {index} differs from when it was first seen: the registry log was rewritten"
    )]
    Rewritten {
        /// The entry.
        index: u64,
    },
}

/// The genesis `prev`: 32 zero bytes.
pub const GENESIS: Sha256Digest = Sha256Digest([0u8; 32]);

/// Encode and sign an entry body with `key` (which must be `body.actor`).
pub fn encode(body: &EntryBody, key: &SecretKey) -> Vec<u8> {
    let body_bytes = canonical::to_vec(body).unwrap_or_default();
    let signature = signing::sign(key, REGISTRY_LOG_CONTEXT, &body_bytes);
    canonical::to_vec(&EntryFile {
        body: body.clone(),
        signature,
    })
    .unwrap_or_default()
}

/// Parse and check entry `index` (its bytes), which must follow an entry hashing to
/// `prev`, and classify it under `policy`.
pub fn parse(
    bytes: &[u8],
    index: u64,
    prev: &Sha256Digest,
    policy: &dyn TrustPolicy,
) -> Result<LogEntry, LogError> {
    let malformed = |detail: String| LogError::Malformed { index, detail };
    let file: EntryFile = canonical::parse(bytes, "log entry", MAX_LOG_ENTRY_BYTES)
        .map_err(|e: CanonicalError| malformed(e.to_string()))?;
    let body = file.body;
    check_body(&body, index).map_err(malformed)?;
    if body.prev != *prev {
        return Err(LogError::BrokenChain { index });
    }
    if file.signature.key_id != body.actor {
        return Err(malformed(format!(
            "signed by {} but the actor is {}",
            file.signature.key_id, body.actor
        )));
    }
    // The file is canonical, so the body's canonical encoding is exactly the bytes stored
    // after `{"body":`; check that, and verify the signature over them.
    let body_bytes = canonical::to_vec(&body).map_err(|e| malformed(e.to_string()))?;
    let prefix = b"{\"body\":";
    if !bytes.starts_with(prefix)
        || bytes.get(prefix.len()..prefix.len() + body_bytes.len()) != Some(body_bytes.as_slice())
    {
        return Err(malformed("body is not stored canonically".into()));
    }
    let check = signing::check(
        std::slice::from_ref(&file.signature),
        REGISTRY_LOG_CONTEXT,
        &body_bytes,
        &policy.keys(),
    );
    let standing = if check.valid.contains(&body.actor) {
        let time = manifest::parse_timestamp(&body.time)
            .ok_or_else(|| malformed(format!("invalid time {:?}", body.time)))?;
        match policy.accept_registry_signer(body.actor, &body.name, time) {
            Ok(()) => Standing::Trusted,
            Err(why) => Standing::Untrusted(why),
        }
    } else if check.invalid.contains(&body.actor) {
        return Err(LogError::BadSignature {
            index,
            key: body.actor,
        });
    } else {
        Standing::Untrusted(format!("key {} is not trusted", body.actor))
    };
    Ok(LogEntry {
        hash: Sha256Digest::of(bytes),
        body,
        standing,
    })
}

/// The rules on a body that its JSON schema does not express.
fn check_body(b: &EntryBody, index: u64) -> Result<(), String> {
    if b.schema != ENTRY_SCHEMA {
        return Err(format!("unsupported schema {:?}", b.schema));
    }
    if b.index != index {
        return Err(format!("it says it is entry {}", b.index));
    }
    if index == 0 && b.prev != GENESIS {
        return Err("entry 0 must have prev = 64 zeros".into());
    }
    manifest::validate_label("name", &b.name).map_err(|e| e.to_string())?;
    manifest::validate_label("version", &b.version).map_err(|e| e.to_string())?;
    manifest::parse_timestamp(&b.time).ok_or_else(|| format!("invalid time {:?}", b.time))?;
    let publish_fields = b.size.is_some() && b.manifest.is_some() && b.signers.is_some();
    let no_publish_fields = b.size.is_none() && b.manifest.is_none() && b.signers.is_none();
    match b.action {
        Action::Publish => {
            if !publish_fields || b.stage.is_some() || b.from_version.is_some() {
                return Err(
                    "a publish entry has size, manifest and signers, and no stage or from_version"
                        .into(),
                );
            }
            let signers = b.signers.as_deref().unwrap_or_default();
            if signers.is_empty() || signers.len() > MAX_ENTRY_SIGNERS {
                return Err(format!("1 to {MAX_ENTRY_SIGNERS} signers are required"));
            }
            if signers.windows(2).any(|w| w[0] >= w[1]) {
                return Err("signers must be sorted and unique".into());
            }
        }
        Action::Promote => {
            if b.stage.is_none() || !no_publish_fields || b.from_version.is_some() {
                return Err("a promote entry has a stage and no publish or rollback fields".into());
            }
        }
        Action::Rollback => {
            let Some(stage) = b.stage else {
                return Err("a rollback entry needs a stage".into());
            };
            if !stage.is_deployable() {
                return Err(format!("cannot roll back stage {stage}"));
            }
            let Some(from) = &b.from_version else {
                return Err("a rollback entry needs from_version".into());
            };
            manifest::validate_label("from_version", from).map_err(|e| e.to_string())?;
            if !no_publish_fields {
                return Err("a rollback entry has no publish fields".into());
            }
        }
    }
    Ok(())
}

/// The log as read so far: every entry checked, in order. [`Log::refresh`] reads only the
/// entries added since, so a long-running reader (a deployer) stays cheap.
#[derive(Debug, Clone, Default)]
pub struct Log {
    entries: Vec<LogEntry>,
}

impl Log {
    /// An empty log (nothing read yet).
    pub fn new() -> Log {
        Log::default()
    }

    /// Read and check the whole log of `store` under `policy`.
    pub fn load(store: &dyn Store, policy: &dyn TrustPolicy) -> Result<Log, LogError> {
        let mut log = Log::new();
        log.refresh(store, policy)?;
        Ok(log)
    }

    /// Read the entries appended since the last call; returns how many. Also checks that
    /// the last entry already read is still there with the same bytes (a rolled-back or
    /// rewritten log is an error).
    pub fn refresh(
        &mut self,
        store: &dyn Store,
        policy: &dyn TrustPolicy,
    ) -> Result<usize, LogError> {
        let from = self.next_index();
        if let Some(last) = self.entries.last() {
            self.check_still_there(store, last.body.index, &last.hash)?;
        }
        let indexes = store.log_indexes(from)?;
        let mut prev = self.tail_hash();
        let mut added = 0;
        for (i, &found) in indexes.iter().enumerate() {
            let expected = from.saturating_add(i as u64);
            if found != expected {
                return Err(LogError::Gap { expected, found });
            }
            let bytes = match store.read_log(found) {
                Ok(b) => b,
                Err(StoreError::NotFound(_)) => {
                    return Err(LogError::RolledBack {
                        index: found,
                        now: found,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            let entry = parse(&bytes, found, &prev, policy)?;
            prev = entry.hash;
            self.entries.push(entry);
            added += 1;
        }
        Ok(added)
    }

    /// Check that entry `index` still exists with hash `hash`.
    pub fn check_still_there(
        &self,
        store: &dyn Store,
        index: u64,
        hash: &Sha256Digest,
    ) -> Result<(), LogError> {
        match store.read_log(index) {
            Ok(bytes) if Sha256Digest::of(&bytes) == *hash => Ok(()),
            Ok(_) => Err(LogError::Rewritten { index }),
            Err(StoreError::NotFound(_)) => Err(LogError::RolledBack {
                index,
                now: store.log_indexes(0)?.len() as u64,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Fail if `checkpoint` (an entry seen earlier) is not part of this log.
    pub fn check_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), LogError> {
        match usize::try_from(checkpoint.index)
            .ok()
            .and_then(|i| self.entries.get(i))
        {
            Some(e) if e.hash == checkpoint.hash => Ok(()),
            Some(_) => Err(LogError::Rewritten {
                index: checkpoint.index,
            }),
            None => Err(LogError::RolledBack {
                index: checkpoint.index,
                now: self.next_index(),
            }),
        }
    }

    /// Every entry read, trusted or not.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// The entries that count.
    pub fn trusted(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter().filter(|e| e.is_trusted())
    }

    /// The index the next entry will have.
    pub fn next_index(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The hash the next entry must link to.
    pub fn tail_hash(&self) -> Sha256Digest {
        self.entries.last().map_or(GENESIS, |e| e.hash)
    }

    /// The position of the last trusted entry.
    pub fn last_trusted(&self) -> Option<Checkpoint> {
        self.trusted().last().map(|e| Checkpoint {
            index: e.body.index,
            hash: e.hash,
        })
    }

    /// Append an entry signed by `key`: `make` looks at the up-to-date log and returns what
    /// to record (or `None` for nothing to do). If another writer appends first, the log is
    /// re-read and `make` asked again, so its checks always see the latest state.
    pub fn append<E>(
        &mut self,
        store: &dyn Store,
        policy: &dyn TrustPolicy,
        key: &SecretKey,
        mut make: impl FnMut(&Log) -> Result<Option<Draft>, E>,
    ) -> Result<Option<LogEntry>, E>
    where
        E: From<LogError>,
    {
        const MAX_ATTEMPTS: u32 = 1000;
        for attempt in 0..MAX_ATTEMPTS {
            self.refresh(store, policy)?;
            let Some(draft) = make(self)? else {
                return Ok(None);
            };
            let index = self.next_index();
            if index > MAX_LOG_INDEX {
                return Err(LogError::Store(StoreError::Unsupported(format!(
                    "the log is full ({MAX_LOG_INDEX} entries)"
                )))
                .into());
            }
            let time = manifest::format_timestamp(std::time::SystemTime::now());
            let body = draft.into_body(index, self.tail_hash(), time, key.id());
            let bytes = encode(&body, key);
            match store.create_log(index, &bytes) {
                Ok(()) => {
                    let entry = parse(&bytes, index, &self.tail_hash(), policy)?;
                    self.entries.push(entry.clone());
                    return Ok(Some(entry));
                }
                Err(StoreError::Conflict(_)) => {
                    // Someone else took this index: back off a little and retry.
                    let pause = u64::from(attempt.min(20)) + u64::from(getrandom_u8() % 8);
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                }
                Err(e) => return Err(LogError::Store(e).into()),
            }
        }
        Err(LogError::Store(StoreError::Unsupported(format!(
            "could not append to the log after {MAX_ATTEMPTS} attempts (too much contention)"
        )))
        .into())
    }
}

fn getrandom_u8() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    b[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::TrustedKeys;

    fn draft(action: Action) -> Draft {
        Draft {
            action,
            name: "iris".into(),
            version: "1.0.0".into(),
            bundle: Sha256Digest::of(b"bundle"),
            stage: (action != Action::Publish).then_some(Stage::Production),
            size: (action == Action::Publish).then_some(6),
            manifest: (action == Action::Publish).then(|| Sha256Digest::of(b"m")),
            signers: (action == Action::Publish).then(|| vec![KeyId([1; 16])]),
            from_version: (action == Action::Rollback).then(|| "0.9".into()),
        }
    }

    fn body(index: u64, prev: Sha256Digest, key: &SecretKey, action: Action) -> EntryBody {
        draft(action).into_body(index, prev, "2026-11-23T12:00:00Z".into(), key.id())
    }

    #[test]
    fn entries_round_trip_and_chain() {
        let k = SecretKey::from_seed(&[1; 32], "t");
        let trust = TrustedKeys(vec![k.public().clone()]);
        let b0 = body(0, GENESIS, &k, Action::Publish);
        let e0 = encode(&b0, &k);
        let p0 = parse(&e0, 0, &GENESIS, &trust).unwrap();
        assert_eq!(p0.body, b0);
        assert!(p0.is_trusted());
        let b1 = body(1, p0.hash, &k, Action::Promote);
        let e1 = encode(&b1, &k);
        assert!(parse(&e1, 1, &p0.hash, &trust).unwrap().is_trusted());
        // Wrong position, wrong link.
        assert!(matches!(
            parse(&e1, 2, &p0.hash, &trust),
            Err(LogError::Malformed { .. })
        ));
        assert!(matches!(
            parse(&e1, 1, &GENESIS, &trust),
            Err(LogError::BrokenChain { index: 1 })
        ));
    }

    #[test]
    fn altered_untrusted_and_malformed_entries() {
        let k = SecretKey::from_seed(&[1; 32], "t");
        let other = SecretKey::from_seed(&[2; 32], "o");
        let trust = TrustedKeys(vec![k.public().clone()]);
        let e = encode(&body(0, GENESIS, &k, Action::Promote), &k);
        let text = String::from_utf8(e.clone()).unwrap();
        let altered = text.replace("production", "staging");
        assert!(matches!(
            parse(altered.as_bytes(), 0, &GENESIS, &trust),
            Err(LogError::BadSignature { index: 0, .. })
        ));
        let by_other = encode(&body(0, GENESIS, &other, Action::Promote), &other);
        let p = parse(&by_other, 0, &GENESIS, &trust).unwrap();
        assert!(matches!(p.standing, Standing::Untrusted(_)));
        // Not canonical (whitespace), missing rollback field, publish fields on a promote.
        let spaced = text.replacen(":", ": ", 1);
        assert!(matches!(
            parse(spaced.as_bytes(), 0, &GENESIS, &trust),
            Err(LogError::Malformed { .. })
        ));
        let mut b = body(0, GENESIS, &k, Action::Rollback);
        b.from_version = None;
        assert!(parse(&encode(&b, &k), 0, &GENESIS, &trust).is_err());
        let mut b = body(0, GENESIS, &k, Action::Promote);
        b.size = Some(1);
        assert!(parse(&encode(&b, &k), 0, &GENESIS, &trust).is_err());
        // The actor must be the signer.
        let mut b = body(0, GENESIS, &k, Action::Promote);
        b.actor = other.id();
        assert!(matches!(
            parse(&encode(&b, &k), 0, &GENESIS, &trust),
            Err(LogError::Malformed { .. })
        ));
    }

    #[test]
    fn a_signature_from_another_context_does_not_verify() {
        let k = SecretKey::from_seed(&[1; 32], "t");
        let trust = TrustedKeys(vec![k.public().clone()]);
        let b = body(0, GENESIS, &k, Action::Promote);
        let body_bytes = canonical::to_vec(&b).unwrap();
        let forged = canonical::to_vec(&EntryFile {
            body: b,
            signature: signing::sign(&k, signing::MANIFEST_CONTEXT, &body_bytes),
        })
        .unwrap();
        assert!(matches!(
            parse(&forged, 0, &GENESIS, &trust),
            Err(LogError::BadSignature { .. })
        ));
    }

    #[test]
    fn stages_parse() {
        assert_eq!("staging".parse::<Stage>().unwrap(), Stage::Staging);
        assert!("prod".parse::<Stage>().is_err());
    }
}
