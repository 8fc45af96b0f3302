//! Turning `--trust` arguments into a trust policy.

use std::path::PathBuf;

use super::CliError;
use modelseal::bundle::{TrustPolicy, TrustedKeys};
use modelseal::keys;

/// The trust given on the command line.
pub struct TrustArg {
    policy: Box<dyn TrustPolicy>,
}

impl TrustArg {
    /// Load one or more public key files.
    pub fn load(paths: &[PathBuf]) -> Result<TrustArg, CliError> {
        let mut keys_loaded = Vec::new();
        for p in paths {
            let key = keys::load_public_key(p).map_err(|e| {
                CliError::failure(e.to_string())
                    .hint("--trust takes a public key file (.pub) from `modelseal keygen`")
            })?;
            keys_loaded.push(key);
        }
        Ok(TrustArg {
            policy: Box::new(TrustedKeys(keys_loaded)),
        })
    }

    /// The policy to verify with.
    pub fn policy(&self) -> &dyn TrustPolicy {
        self.policy.as_ref()
    }
}
