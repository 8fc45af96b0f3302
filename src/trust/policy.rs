//! Deciding whether a bundle's signatures satisfy a verified trust root
//! (`docs/format.md` §9.6).
//!
//! modelseal has no trusted timestamps: every decision uses the verifier's clock. The
//! bundle's `created` field is chosen by whoever signed it, so it is only ever used to
//! *refuse* (a bundle claiming to be created after its key was retired, or outside the
//! key's validity window), never to grant validity.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::{KeyStatus, SigningKey, TrustRoot, VerifiedTrustRoot};
use crate::bundle::{Problem, TrustPolicy};
use crate::keys::{KeyId, PublicKey};
use crate::manifest::{self, Manifest};
use crate::signing::SignatureCheck;

/// What the policy requires of the signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The full policy: the scope's signature threshold must be met.
    Threshold,
    /// For countersigning: at least one signature that counts (the threshold is what the
    /// countersignature is for); revoked signers still refuse.
    AtLeastOne,
}

/// The bundle policy of a verified trust root at a given time.
#[derive(Debug, Clone)]
pub struct TrustRootPolicy {
    root: TrustRoot,
    now: SystemTime,
    requirement: Requirement,
}

/// How one key's valid signature is judged for one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It counts toward the threshold.
    Counts,
    /// It does not count (retired beyond grace, out of scope, outside its validity).
    Ignored(String),
    /// The key is revoked: the bundle is refused whatever else signed it.
    Revoked(String),
}

impl TrustRootPolicy {
    /// The policy of `verified` at time `now`.
    pub fn new(verified: &VerifiedTrustRoot, now: SystemTime, requirement: Requirement) -> Self {
        TrustRootPolicy {
            root: verified.root().clone(),
            now,
            requirement,
        }
    }

    /// How `key`'s signature on a bundle called `name`, claiming creation at `created`,
    /// is judged now.
    pub fn standing(&self, key: &SigningKey, name: &str, created: Option<SystemTime>) -> Standing {
        let who = who(key);
        let claimed = created.map(manifest::format_timestamp);
        match &key.status {
            KeyStatus::Revoked { since, reason } => {
                return Standing::Revoked(format!("key {who} was revoked on {since}: {reason}"));
            }
            KeyStatus::Retired { since, grace_until } => {
                if self.now >= grace_until.system() {
                    return Standing::Ignored(format!(
                        "key {who} was retired on {since}; its grace period ended on {grace_until}"
                    ));
                }
                if let (Some(c), Some(text)) = (created, &claimed)
                    && c > since.system()
                {
                    return Standing::Ignored(format!(
                        "key {who} was retired on {since}, but the bundle claims to be created at {text}, after that"
                    ));
                }
            }
            KeyStatus::Active => {}
        }
        if let Some(nb) = key.not_before {
            if self.now < nb.system() {
                return Standing::Ignored(format!("key {who} is not valid before {nb}"));
            }
            if let (Some(c), Some(text)) = (created, &claimed)
                && c < nb.system()
            {
                return Standing::Ignored(format!(
                    "the bundle claims to be created at {text}, before key {who} became valid ({nb})"
                ));
            }
        }
        if let Some(na) = key.not_after {
            if self.now >= na.system() {
                return Standing::Ignored(format!("key {who} expired on {na}"));
            }
            if let (Some(c), Some(text)) = (created, &claimed)
                && c >= na.system()
            {
                return Standing::Ignored(format!(
                    "the bundle claims to be created at {text}, after key {who} expired ({na})"
                ));
            }
        }
        if !key.covers(name) {
            let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
            return Standing::Ignored(format!(
                "key {who} may only sign bundles named {}, not {name:?}",
                scopes.join(" or ")
            ));
        }
        Standing::Counts
    }
}

fn who(key: &SigningKey) -> String {
    let comment = key.key.comment();
    if comment.is_empty() {
        key.id().to_string()
    } else {
        format!("{} ({comment})", key.id())
    }
}

impl TrustPolicy for TrustRootPolicy {
    fn keys(&self) -> Vec<PublicKey> {
        self.root
            .signing_keys
            .iter()
            .map(|k| k.key.0.clone())
            .collect()
    }

    fn accept(
        &self,
        manifest: &Manifest,
        check: &SignatureCheck,
    ) -> Result<Vec<KeyId>, Vec<Problem>> {
        let created = manifest::parse_timestamp(&manifest.created);
        let name = manifest.name.as_str();
        let mut counting = BTreeSet::new();
        let mut revoked = Vec::new();
        let mut ignored = Vec::new();
        for id in &check.valid {
            let Some(key) = self.root.signing_key(*id) else {
                continue;
            };
            match self.standing(key, name, created) {
                Standing::Counts => {
                    counting.insert(*id);
                }
                Standing::Ignored(why) => ignored.push(Problem::Policy(why)),
                Standing::Revoked(why) => revoked.push(Problem::Policy(why)),
            }
        }
        if !revoked.is_empty() {
            return Err(revoked);
        }
        let required = match self.requirement {
            Requirement::Threshold => self.root.required_signatures(name),
            Requirement::AtLeastOne => 1,
        };
        if counting.len() < required as usize {
            let ids: Vec<String> = counting.iter().map(ToString::to_string).collect();
            ignored.push(Problem::Policy(format!(
                "bundle {name:?} needs {required} signature(s) by distinct trusted keys valid for it, and has {}{}",
                counting.len(),
                if ids.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ids.join(", "))
                }
            )));
            return Err(ignored);
        }
        Ok(counting.into_iter().collect())
    }
}
