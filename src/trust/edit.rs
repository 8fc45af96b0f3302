//! Making the next trust-root version: every change bumps the version, sets `issued` to
//! now, keeps or replaces `expires`, and leaves a record (retired and revoked keys stay
//! listed with their dates).

use std::time::Duration;

use super::{
    KeyStatus, RootRole, SCHEMA, ScopePattern, SigningKey, ThresholdRule, Timestamp, TrustError,
    TrustRoot, TrustedKey,
};
use crate::keys::{KeyId, PublicKey};

/// One change to a trust root.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Change {
    /// Add an active signing key.
    AddKey {
        /// The key.
        key: PublicKey,
        /// Bundle names it may sign (empty: all).
        scopes: Vec<ScopePattern>,
        /// Not valid before.
        not_before: Option<Timestamp>,
        /// Not valid from.
        not_after: Option<Timestamp>,
    },
    /// Replace an active key: the new key becomes active (with the old key's scopes unless
    /// given), the old one retired with a grace period.
    Rotate {
        /// The key being replaced.
        from: KeyId,
        /// Its successor.
        to: PublicKey,
        /// How long bundles signed by the old key keep verifying.
        grace: Duration,
        /// Scopes for the new key (empty: the old key's).
        scopes: Vec<ScopePattern>,
    },
    /// Retire a key without a successor.
    Retire {
        /// The key.
        key: KeyId,
        /// Grace period.
        grace: Duration,
    },
    /// Revoke a key: every bundle it signed fails from now on.
    Revoke {
        /// The key.
        key: KeyId,
        /// Why (shown on every refusal).
        reason: String,
    },
    /// Require `signatures` distinct signatures for bundles in `scope` (1 removes the rule).
    SetThreshold {
        /// The scope.
        scope: ScopePattern,
        /// The number of signatures.
        signatures: u32,
    },
    /// Change the root keys and/or their threshold.
    Root {
        /// Root keys to add.
        add: Vec<PublicKey>,
        /// Root keys to remove.
        remove: Vec<KeyId>,
        /// New threshold (default: unchanged, capped to the number of keys).
        threshold: Option<u32>,
    },
    /// Only bump the version and the expiry.
    Renew,
}

/// The default root threshold for `n` root keys: a majority.
pub fn majority(n: usize) -> u32 {
    u32::try_from(n / 2 + 1).unwrap_or(u32::MAX)
}

/// The first version.
pub fn initial(
    root_keys: Vec<PublicKey>,
    threshold: Option<u32>,
    now: Timestamp,
    expires: Timestamp,
) -> Result<TrustRoot, TrustError> {
    let threshold = threshold.unwrap_or_else(|| majority(root_keys.len()));
    let root = TrustRoot {
        schema: SCHEMA.into(),
        version: 1,
        issued: now,
        expires,
        root: RootRole {
            threshold,
            keys: dedup(root_keys).into_iter().map(TrustedKey).collect(),
        },
        signing_keys: Vec::new(),
        thresholds: Vec::new(),
    };
    root.validate().map_err(TrustError::Edit)?;
    Ok(root)
}

fn dedup(keys: Vec<PublicKey>) -> Vec<PublicKey> {
    let mut out: Vec<PublicKey> = Vec::new();
    for k in keys {
        if !out.iter().any(|o| o.id() == k.id()) {
            out.push(k);
        }
    }
    out
}

/// The version after `current` with `change` applied at time `now`. `expires`: the new
/// expiry (default: unchanged, which must still be in the future).
pub fn next_version(
    current: &TrustRoot,
    change: &Change,
    now: Timestamp,
    expires: Option<Timestamp>,
) -> Result<TrustRoot, TrustError> {
    let mut next = current.clone();
    next.version = current
        .version
        .checked_add(1)
        .ok_or_else(|| TrustError::Edit("version number overflow".into()))?;
    next.issued = now;
    next.expires = match expires {
        Some(e) => e,
        None if current.expires > now => current.expires,
        None => {
            return Err(TrustError::Edit(format!(
                "the trust root expired on {}; give a new expiry (--expires)",
                current.expires
            )));
        }
    };
    let later = |d: Duration| {
        now.checked_add(d)
            .ok_or_else(|| TrustError::Edit("duration out of range".into()))
    };
    match change {
        Change::AddKey {
            key,
            scopes,
            not_before,
            not_after,
        } => {
            if next.signing_key(key.id()).is_some() {
                return Err(TrustError::Edit(format!(
                    "key {} is already in the trust root",
                    key.id()
                )));
            }
            next.signing_keys.push(SigningKey {
                key: TrustedKey(key.clone()),
                scopes: scopes_or_any(scopes),
                not_before: *not_before,
                not_after: *not_after,
                status: KeyStatus::Active,
            });
        }
        Change::Rotate {
            from,
            to,
            grace,
            scopes,
        } => {
            if next.signing_key(to.id()).is_some() {
                return Err(TrustError::Edit(format!(
                    "the new key {} is already in the trust root; generate a fresh key",
                    to.id()
                )));
            }
            let grace_until = later(*grace)?;
            let old = active_key(&mut next, *from)?;
            old.status = KeyStatus::Retired {
                since: now,
                grace_until,
            };
            let inherited = old.scopes.clone();
            next.signing_keys.push(SigningKey {
                key: TrustedKey(to.clone()),
                scopes: if scopes.is_empty() {
                    inherited
                } else {
                    scopes.clone()
                },
                not_before: None,
                not_after: None,
                status: KeyStatus::Active,
            });
        }
        Change::Retire { key, grace } => {
            let grace_until = later(*grace)?;
            active_key(&mut next, *key)?.status = KeyStatus::Retired {
                since: now,
                grace_until,
            };
        }
        Change::Revoke { key, reason } => {
            let k = next
                .signing_keys
                .iter_mut()
                .find(|k| k.id() == *key)
                .ok_or_else(|| unknown(*key))?;
            if let KeyStatus::Revoked { since, .. } = &k.status {
                return Err(TrustError::Edit(format!(
                    "key {key} was already revoked on {since}"
                )));
            }
            k.status = KeyStatus::Revoked {
                since: now,
                reason: reason.clone(),
            };
        }
        Change::SetThreshold { scope, signatures } => {
            next.thresholds.retain(|t| t.scope != *scope);
            if *signatures > 1 {
                next.thresholds.push(ThresholdRule {
                    scope: scope.clone(),
                    signatures: *signatures,
                });
            }
            let usable = next
                .signing_keys
                .iter()
                .filter(|k| !matches!(k.status, KeyStatus::Revoked { .. }))
                .count();
            if *signatures as usize > usable {
                return Err(TrustError::Edit(format!(
                    "scope {scope} would need {signatures} signatures but the trust root has only {usable} usable signing keys; add keys first"
                )));
            }
        }
        Change::Root {
            add,
            remove,
            threshold,
        } => {
            for id in remove {
                if !next.root.contains(*id) {
                    return Err(TrustError::Edit(format!("{id} is not a root key")));
                }
            }
            next.root.keys.retain(|k| !remove.contains(&k.id()));
            for key in add {
                if next.root.contains(key.id()) {
                    return Err(TrustError::Edit(format!(
                        "{} is already a root key",
                        key.id()
                    )));
                }
                next.root.keys.push(TrustedKey(key.clone()));
            }
            let n = u32::try_from(next.root.keys.len()).unwrap_or(u32::MAX);
            next.root.threshold = threshold.unwrap_or(next.root.threshold.min(n));
        }
        Change::Renew => {}
    }
    next.validate().map_err(TrustError::Edit)?;
    Ok(next)
}

fn scopes_or_any(scopes: &[ScopePattern]) -> Vec<ScopePattern> {
    if scopes.is_empty() {
        vec![ScopePattern::any()]
    } else {
        scopes.to_vec()
    }
}

fn unknown(id: KeyId) -> TrustError {
    TrustError::Edit(format!("no signing key {id} in the trust root"))
}

fn active_key(root: &mut TrustRoot, id: KeyId) -> Result<&mut SigningKey, TrustError> {
    let k = root
        .signing_keys
        .iter_mut()
        .find(|k| k.id() == id)
        .ok_or_else(|| unknown(id))?;
    if k.status != KeyStatus::Active {
        return Err(TrustError::Edit(format!(
            "key {id} is {}, not active",
            k.status.name()
        )));
    }
    Ok(k)
}
