//! The signed content of a trust root (`docs/format.md` §9.2) and its validation.
//!
//! Every field has a strict type: timestamps are RFC 3339 UTC with whole seconds, keys
//! carry an id that must match their material, scopes are validated patterns. Rules that
//! involve several fields are checked by [`TrustRoot::validate`], which every reader and
//! every writer calls.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyId, PublicKey};
use crate::manifest;

/// `schema` of the signed part of a trust root.
pub const SCHEMA: &str = "modelseal-trust-root-v1";
/// Most root keys.
pub const MAX_ROOT_KEYS: usize = 32;
/// Most signing keys (all states; revoked keys stay listed).
pub const MAX_SIGNING_KEYS: usize = 1024;
/// Most scope patterns per key.
pub const MAX_SCOPES: usize = 64;
/// Most per-scope threshold rules.
pub const MAX_THRESHOLD_RULES: usize = 256;
/// Largest per-scope signature threshold.
pub const MAX_SIGNATURE_THRESHOLD: u32 = 16;
/// Longest comment or revocation reason, in bytes.
pub const MAX_TEXT_LEN: usize = 1024;

/// A point in time written as RFC 3339 UTC with whole seconds (`2026-11-23T12:00:00Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

/// The last second of year 9999, the largest time RFC 3339 (and modelseal) can write.
const MAX_TIMESTAMP_SECS: u64 = 253_402_300_799;

impl Timestamp {
    /// `t` truncated to whole seconds and clamped to 1970-01-01T00:00:00Z ..=
    /// 9999-12-31T23:59:59Z.
    pub fn from_system(t: SystemTime) -> Timestamp {
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .min(MAX_TIMESTAMP_SECS);
        Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// The time.
    pub fn system(self) -> SystemTime {
        self.0
    }

    /// `self + d`, or `None` past year 9999.
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        let secs = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs()
            .checked_add(d.as_secs())?;
        (secs <= MAX_TIMESTAMP_SECS)
            .then(|| Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
    }

    /// Parse the strict form.
    pub fn parse(text: &str) -> Option<Timestamp> {
        manifest::parse_timestamp(text).map(Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&manifest::format_timestamp(self.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "{text:?} is not an RFC 3339 UTC time with whole seconds"
            ))
        })
    }
}

/// A bundle-name pattern: `*` (every name), an exact bundle name, or a name prefix
/// followed by `*` (`fraud-*`). Names use `A-Z a-z 0-9 . _ - +`, so no escaping exists.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopePattern(String);

impl ScopePattern {
    /// Every bundle name.
    pub fn any() -> ScopePattern {
        ScopePattern("*".into())
    }

    /// Validate a pattern.
    pub fn new(text: &str) -> Result<ScopePattern, String> {
        let prefix = text.strip_suffix('*').unwrap_or(text);
        let ok = text == "*"
            || (!prefix.is_empty() && manifest::validate_label("scope", prefix).is_ok());
        if ok {
            Ok(ScopePattern(text.to_owned()))
        } else {
            Err(format!(
                "invalid scope {:?}: use a bundle name, a name prefix ending in *, or *",
                text.chars().take(200).collect::<String>()
            ))
        }
    }

    /// Whether bundle `name` is in this scope.
    pub fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.0,
        }
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopePattern({})", self.0)
    }
}

impl Serialize for ScopePattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ScopePattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ScopePattern::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A public key as listed in a trust root:
/// `{"key_id", "algorithm": "ed25519", "public_key": <base64>, "comment"}`; the id must
/// match the key material.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KeyWire", into = "KeyWire")]
pub struct TrustedKey(pub PublicKey);

impl std::ops::Deref for TrustedKey {
    type Target = PublicKey;
    fn deref(&self) -> &PublicKey {
        &self.0
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyWire {
    key_id: KeyId,
    algorithm: String,
    public_key: String,
    comment: String,
}

impl From<TrustedKey> for KeyWire {
    fn from(k: TrustedKey) -> KeyWire {
        KeyWire {
            key_id: k.id(),
            algorithm: "ed25519".into(),
            public_key: B64.encode(k.as_bytes()),
            comment: k.comment().to_owned(),
        }
    }
}

impl TryFrom<KeyWire> for TrustedKey {
    type Error = String;
    fn try_from(w: KeyWire) -> Result<TrustedKey, String> {
        if w.algorithm != "ed25519" {
            return Err(format!("unsupported key algorithm {:?}", w.algorithm));
        }
        let raw: [u8; 32] = B64
            .decode(&w.public_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("public_key is not 32 bytes of base64")?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| "public_key is not a valid Ed25519 point")?;
        let public = PublicKey::new(key, w.comment);
        if public.id() != w.key_id {
            return Err(format!(
                "key_id {} does not match its public key ({})",
                w.key_id,
                public.id()
            ));
        }
        Ok(TrustedKey(public))
    }
}

/// The keys that may change the trust root, and how many of them must sign a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootRole {
    /// Distinct root keys whose signatures a version needs.
    pub threshold: u32,
    /// The root keys.
    pub keys: Vec<TrustedKey>,
}

impl RootRole {
    /// The public keys.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.iter().map(|k| k.0.clone()).collect()
    }

    /// Whether `id` is a root key.
    pub fn contains(&self, id: KeyId) -> bool {
        self.keys.iter().any(|k| k.id() == id)
    }
}

/// Where a signing key stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeyStatus {
    /// Signs bundles.
    Active,
    /// Replaced: bundles it signed verify until `grace_until`; bundles claiming to be
    /// created after `since` are refused.
    Retired {
        /// When it was retired.
        since: Timestamp,
        /// End of the grace period.
        grace_until: Timestamp,
    },
    /// Compromised or withdrawn: every bundle it signed is refused.
    Revoked {
        /// When it was revoked.
        since: Timestamp,
        /// Why (shown to whoever verifies).
        reason: String,
    },
}

impl KeyStatus {
    /// `active`, `retired` or `revoked`.
    pub fn name(&self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired { .. } => "retired",
            KeyStatus::Revoked { .. } => "revoked",
        }
    }
}

/// A key that may sign bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    /// The key.
    pub key: TrustedKey,
    /// Bundle names it may sign (`["*"]` for all).
    pub scopes: Vec<ScopePattern>,
    /// Not valid before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// Not valid from this time on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    /// Active, retired or revoked.
    pub status: KeyStatus,
}

impl SigningKey {
    /// The key id.
    pub fn id(&self) -> KeyId {
        self.key.id()
    }

    /// Whether bundle `name` is in one of the key's scopes.
    pub fn covers(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.matches(name))
    }
}

/// Bundles whose name matches `scope` need `signatures` distinct valid signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    /// Which bundle names.
    pub scope: ScopePattern,
    /// How many distinct signing keys must sign.
    pub signatures: u32,
}

/// The signed content of one trust-root version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRoot {
    /// [`SCHEMA`].
    pub schema: String,
    /// 1 for the first version, then +1 for every change.
    pub version: u64,
    /// When this version was made.
    pub issued: Timestamp,
    /// After this time the version is refused unless a newer one replaces it.
    pub expires: Timestamp,
    /// Who may change the trust root.
    pub root: RootRole,
    /// Who may sign bundles.
    pub signing_keys: Vec<SigningKey>,
    /// Per-scope signature thresholds (1 where no rule matches).
    pub thresholds: Vec<ThresholdRule>,
}

impl TrustRoot {
    /// Check every rule of `docs/format.md` §9.2 that spans several fields.
    pub fn validate(&self) -> Result<(), String> {
        if self.schema != SCHEMA {
            return Err(format!(
                "unsupported schema {:?} (this modelseal reads {SCHEMA:?})",
                self.schema
            ));
        }
        if self.version == 0 {
            return Err("version must be at least 1".into());
        }
        if self.expires <= self.issued {
            return Err(format!(
                "expires ({}) is not after issued ({})",
                self.expires, self.issued
            ));
        }
        let n_root = self.root.keys.len();
        if n_root == 0 || n_root > MAX_ROOT_KEYS {
            return Err(format!("root.keys must list 1 to {MAX_ROOT_KEYS} keys"));
        }
        if self.root.threshold == 0 || self.root.threshold as usize > n_root {
            return Err(format!(
                "root.threshold {} must be between 1 and the number of root keys ({n_root})",
                self.root.threshold
            ));
        }
        let mut root_ids = BTreeSet::new();
        for k in &self.root.keys {
            check_text("root key comment", k.comment())?;
            if !root_ids.insert(k.id()) {
                return Err(format!("root key {} is listed twice", k.id()));
            }
        }
        if self.signing_keys.len() > MAX_SIGNING_KEYS {
            return Err(format!("more than {MAX_SIGNING_KEYS} signing keys"));
        }
        let mut ids = BTreeSet::new();
        for k in &self.signing_keys {
            let id = k.id();
            check_text("signing key comment", k.key.comment())?;
            if !ids.insert(id) {
                return Err(format!("signing key {id} is listed twice"));
            }
            if root_ids.contains(&id) {
                return Err(format!(
                    "key {id} is both a root key and a signing key; use separate keys"
                ));
            }
            if k.scopes.is_empty() || k.scopes.len() > MAX_SCOPES {
                return Err(format!("key {id} must have 1 to {MAX_SCOPES} scopes"));
            }
            if k.scopes.iter().collect::<BTreeSet<_>>().len() != k.scopes.len() {
                return Err(format!("key {id} repeats a scope"));
            }
            if let (Some(a), Some(b)) = (k.not_before, k.not_after)
                && b <= a
            {
                return Err(format!(
                    "key {id}: not_after ({b}) is not after not_before ({a})"
                ));
            }
            match &k.status {
                KeyStatus::Active => {}
                KeyStatus::Retired { since, grace_until } => {
                    if grace_until < since {
                        return Err(format!("key {id}: grace_until is before since"));
                    }
                }
                KeyStatus::Revoked { reason, .. } => {
                    if reason.is_empty() {
                        return Err(format!("key {id}: a revocation needs a reason"));
                    }
                    check_text("revocation reason", reason)?;
                }
            }
        }
        if self.thresholds.len() > MAX_THRESHOLD_RULES {
            return Err(format!("more than {MAX_THRESHOLD_RULES} threshold rules"));
        }
        let mut scopes = BTreeSet::new();
        for t in &self.thresholds {
            if t.signatures == 0 || t.signatures > MAX_SIGNATURE_THRESHOLD {
                return Err(format!(
                    "threshold for scope {} must be 1 to {MAX_SIGNATURE_THRESHOLD}",
                    t.scope
                ));
            }
            if !scopes.insert(&t.scope) {
                return Err(format!("scope {} has two threshold rules", t.scope));
            }
        }
        Ok(())
    }

    /// The signing key with id `id`.
    pub fn signing_key(&self, id: KeyId) -> Option<&SigningKey> {
        self.signing_keys.iter().find(|k| k.id() == id)
    }

    /// Distinct valid signatures a bundle called `name` needs: the largest threshold of the
    /// rules whose scope matches, 1 when none does.
    pub fn required_signatures(&self, name: &str) -> u32 {
        self.thresholds
            .iter()
            .filter(|t| t.scope.matches(name))
            .map(|t| t.signatures)
            .max()
            .unwrap_or(1)
    }
}

fn check_text(what: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_LEN || text.chars().any(char::is_control) {
        return Err(format!(
            "{what} must be at most {MAX_TEXT_LEN} bytes without control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_patterns() {
        let exact = ScopePattern::new("fraud-detector").unwrap();
        assert!(exact.matches("fraud-detector"));
        assert!(!exact.matches("fraud-detector2"));
        let prefix = ScopePattern::new("fraud-*").unwrap();
        assert!(prefix.matches("fraud-detector"));
        assert!(prefix.matches("fraud-"));
        assert!(!prefix.matches("fraud"));
        assert!(ScopePattern::any().matches("anything"));
        for bad in ["", "**", "a*b", "*a", "-x", "a/b", "a b", "*-*"] {
            assert!(ScopePattern::new(bad).is_err(), "{bad}");
        }
    }

    fn sample() -> TrustRoot {
        let key = |n: u8| {
            TrustedKey(
                crate::keys::SecretKey::from_seed(&[n; 32], "k")
                    .public()
                    .clone(),
            )
        };
        TrustRoot {
            schema: SCHEMA.into(),
            version: 1,
            issued: Timestamp::from_system(SystemTime::UNIX_EPOCH),
            expires: Timestamp::from_system(SystemTime::UNIX_EPOCH + Duration::from_secs(10)),
            root: RootRole {
                threshold: 1,
                keys: vec![key(1)],
            },
            signing_keys: vec![SigningKey {
                key: key(2),
                scopes: vec![ScopePattern::any()],
                not_before: None,
                not_after: None,
                status: KeyStatus::Active,
            }],
            thresholds: Vec::new(),
        }
    }

    #[test]
    fn cross_field_rules() {
        assert_eq!(sample().validate(), Ok(()));
        type Breaker = Box<dyn Fn(&mut TrustRoot)>;
        let broken: Vec<(&str, Breaker)> = vec![
            ("version 0", Box::new(|r| r.version = 0)),
            ("expires before issued", Box::new(|r| r.expires = r.issued)),
            ("threshold 0", Box::new(|r| r.root.threshold = 0)),
            ("threshold above keys", Box::new(|r| r.root.threshold = 2)),
            ("no root keys", Box::new(|r| r.root.keys.clear())),
            (
                "duplicate root key",
                Box::new(|r| r.root.keys.push(r.root.keys[0].clone())),
            ),
            (
                "duplicate signing key",
                Box::new(|r| r.signing_keys.push(r.signing_keys[0].clone())),
            ),
            (
                "root key signs bundles",
                Box::new(|r| r.signing_keys[0].key = r.root.keys[0].clone()),
            ),
            ("no scopes", Box::new(|r| r.signing_keys[0].scopes.clear())),
            (
                "repeated scope",
                Box::new(|r| r.signing_keys[0].scopes.push(ScopePattern::any())),
            ),
            (
                "window inverted",
                Box::new(|r| {
                    r.signing_keys[0].not_before = Some(r.expires);
                    r.signing_keys[0].not_after = Some(r.issued);
                }),
            ),
            (
                "empty reason",
                Box::new(|r| {
                    r.signing_keys[0].status = KeyStatus::Revoked {
                        since: r.issued,
                        reason: String::new(),
                    }
                }),
            ),
            (
                "control character",
                Box::new(|r| {
                    r.signing_keys[0].status = KeyStatus::Revoked {
                        since: r.issued,
                        reason: "a\nb".into(),
                    }
                }),
            ),
            (
                "grace before since",
                Box::new(|r| {
                    r.signing_keys[0].status = KeyStatus::Retired {
                        since: r.expires,
                        grace_until: r.issued,
                    }
                }),
            ),
            (
                "threshold rule 0",
                Box::new(|r| {
                    r.thresholds.push(ThresholdRule {
                        scope: ScopePattern::any(),
                        signatures: 0,
                    })
                }),
            ),
            (
                "threshold rule too high",
                Box::new(|r| {
                    r.thresholds.push(ThresholdRule {
                        scope: ScopePattern::any(),
                        signatures: MAX_SIGNATURE_THRESHOLD + 1,
                    })
                }),
            ),
            ("schema", Box::new(|r| r.schema = "x".into())),
        ];
        for (what, f) in broken {
            let mut r = sample();
            f(&mut r);
            assert!(r.validate().is_err(), "{what}");
        }
    }

    #[test]
    fn required_signatures_takes_the_largest_matching_rule() {
        let mut r = sample();
        assert_eq!(r.required_signatures("x"), 1);
        for (scope, n) in [("*", 2), ("fraud-*", 3), ("fraud-detector", 2)] {
            r.thresholds.push(ThresholdRule {
                scope: ScopePattern::new(scope).unwrap(),
                signatures: n,
            });
        }
        assert_eq!(r.required_signatures("iris"), 2);
        assert_eq!(r.required_signatures("fraud-detector"), 3);
    }

    #[test]
    fn timestamps_are_strict() {
        assert!(Timestamp::parse("2026-11-23T12:00:00Z").is_some());
        for bad in [
            "2026-11-23T12:00:00.5Z",
            "2026-11-23 12:00:00Z",
            "2026-11-23T12:00:00+01:00",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
        let t = Timestamp::from_system(SystemTime::UNIX_EPOCH + Duration::from_millis(1500));
        assert_eq!(t.to_string(), "1970-01-01T00:00:01Z");
        assert!(t.checked_add(Duration::from_secs(u64::MAX / 2)).is_none());
        assert!(
            t.checked_add(Duration::from_secs(300_000_000_000))
                .is_none()
        );
        let far = Timestamp::from_system(SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40));
        assert_eq!(far.to_string(), "9999-12-31T23:59:59Z");
    }
}
