//! Following trust-root versions from a trusted anchor to the newest one
//! (`docs/format.md` §9.4), as TUF clients update their root:
//!
//! * the anchor must be signed by a threshold of its own root keys;
//! * version N+1 must follow version N exactly (no gaps, no going back) and be signed by a
//!   threshold of version N's root keys **and** a threshold of its own, each key counted
//!   once;
//! * at most [`MAX_CHAIN_STEPS`] versions are followed in one verification;
//! * only the newest version's expiry matters, checked against the caller's clock
//!   (intermediate versions may have expired long ago).

use std::time::SystemTime;

use super::{SignedTrustRoot, TrustError};

/// Most versions followed in one verification.
pub const MAX_CHAIN_STEPS: u64 = 64;

/// Whether to refuse an expired newest version (editing an expired trust root to renew
/// it must be possible; verifying anything with it must not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Refuse an expired newest version.
    Enforce,
    /// Ignore expiry (only for making the next version).
    Ignore,
}

/// Verify `newer` (in order) on top of `anchor` at time `now`; return the newest version.
pub fn verify_chain<'a>(
    anchor: &'a SignedTrustRoot,
    newer: &'a [SignedTrustRoot],
    now: SystemTime,
    expiry: Expiry,
) -> Result<&'a SignedTrustRoot, TrustError> {
    if newer.len() as u64 > MAX_CHAIN_STEPS {
        return Err(TrustError::ChainTooLong {
            from: anchor.version(),
            to: newer.last().map_or(anchor.version(), |d| d.version()),
            max: MAX_CHAIN_STEPS,
        });
    }
    anchor.check_threshold(&anchor.root().root, "of its own root keys")?;
    let mut current = anchor;
    for next in newer {
        if current.version().checked_add(1) != Some(next.version()) {
            return Err(TrustError::VersionGap {
                previous: current.version(),
                found: next.version(),
            });
        }
        next.check_threshold(
            &current.root().root,
            &format!("root keys of version {}", current.version()),
        )?;
        next.check_threshold(&next.root().root, "of its own root keys")?;
        current = next;
    }
    if expiry == Expiry::Enforce && current.root().expires.system() <= now {
        return Err(TrustError::Expired {
            version: current.version(),
            expires: current.root().expires,
        });
    }
    Ok(current)
}
