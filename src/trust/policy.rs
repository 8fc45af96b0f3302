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

    /// The policy of a trust root taken as verified (only `crate::fuzzing` does this).
    pub(crate) fn from_root(root: TrustRoot, now: SystemTime, requirement: Requirement) -> Self {
        TrustRootPolicy {
            root,
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

    /// Registry log entries (`docs/format.md` §10.2) count when signed by a signing key of
    /// the root that covers the model `name` and was valid at the entry's `time`: never a
    /// revoked key; a retired key only for entries made before it was retired (history
    /// stays valid after the grace period; a key that may have leaked must be revoked);
    /// never outside `not_before`/`not_after`.
    fn accept_registry_signer(
        &self,
        signer: KeyId,
        name: &str,
        time: SystemTime,
    ) -> Result<(), String> {
        let Some(key) = self.root.signing_key(signer) else {
            return Err(format!(
                "key {signer} is not a signing key of the trust root"
            ));
        };
        let who = who(key);
        let at = manifest::format_timestamp(time);
        match &key.status {
            KeyStatus::Revoked { since, reason } => {
                return Err(format!("key {who} was revoked on {since}: {reason}"));
            }
            KeyStatus::Retired { since, .. } if time > since.system() => {
                return Err(format!(
                    "key {who} was retired on {since}, before this entry ({at})"
                ));
            }
            _ => {}
        }
        if key.not_before.is_some_and(|nb| time < nb.system()) {
            return Err(format!("key {who} was not yet valid at {at}"));
        }
        if key.not_after.is_some_and(|na| time >= na.system()) {
            return Err(format!("key {who} had expired at {at}"));
        }
        if !key.covers(name) {
            return Err(format!(
                "key {who} may not act on model {name:?} (out of its scopes)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod registry_signer_tests {
    use std::time::Duration;

    use super::*;
    use crate::keys::SecretKey;
    use crate::trust::{ScopePattern, Timestamp, TrustedKey};

    const T0: u64 = 1_790_000_000;

    fn at(day: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + day * 86_400)
    }

    fn signing(seed: u8, scope: &str, status: KeyStatus) -> SigningKey {
        SigningKey {
            key: TrustedKey(SecretKey::from_seed(&[seed; 32], "k").public().clone()),
            scopes: vec![ScopePattern::new(scope).unwrap()],
            not_before: None,
            not_after: Some(Timestamp::from_system(at(100))),
            status,
        }
    }

    #[test]
    fn registry_entries_follow_scope_status_and_validity() {
        let root_key = SecretKey::from_seed(&[1; 32], "root");
        let mut root = crate::trust::initial(
            vec![root_key.public().clone()],
            None,
            Timestamp::from_system(at(0)),
            Timestamp::from_system(at(365)),
        )
        .unwrap();
        let active = signing(10, "iris", KeyStatus::Active);
        let retired = signing(
            11,
            "*",
            KeyStatus::Retired {
                since: Timestamp::from_system(at(10)),
                grace_until: Timestamp::from_system(at(20)),
            },
        );
        let revoked = signing(
            12,
            "*",
            KeyStatus::Revoked {
                since: Timestamp::from_system(at(10)),
                reason: "leaked".into(),
            },
        );
        let ids = [active.id(), retired.id(), revoked.id()];
        root.signing_keys = vec![active, retired, revoked];
        let policy = TrustRootPolicy {
            root,
            now: at(50),
            requirement: Requirement::Threshold,
        };
        let ok = |id: KeyId, name: &str, day: u64| {
            policy.accept_registry_signer(id, name, at(day)).is_ok()
        };
        assert!(ok(ids[0], "iris", 5));
        assert!(!ok(ids[0], "fraud", 5), "out of scope");
        assert!(!ok(ids[0], "iris", 100), "expired (not_after)");
        // A retired key's history stays valid after its grace period; later entries do not.
        assert!(ok(ids[1], "iris", 5));
        assert!(!ok(ids[1], "iris", 11));
        // A revoked key never counts, whatever time it claims.
        assert!(!ok(ids[2], "iris", 5));
        assert!(!ok(KeyId([9; 16]), "iris", 5), "not in the root");
    }
}
