//! Turning `--trust` arguments into a trust policy: public key files (`.pub`, any number)
//! or one trust root (`keys/trust.json`), told apart by their content.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{CliError, Exit};
use modelseal::bundle::{TrustPolicy, TrustedKeys};
use modelseal::keys;
use modelseal::trust::{
    self, Expiry, LoadOptions, Requirement, TrustError, TrustFiles, TrustRootPolicy,
    VerifiedTrustRoot,
};

/// Where the trust-root pin lives (shared by every command that reads a trust root).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PinArgs {
    /// State file pinning the newest trust-root version verified on this machine; an older
    /// trust root is then refused (default: next to the trust file, e.g. keys/trust.state).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Neither read nor write the state file: the trust root found is trusted as it is
    /// (no rollback protection).
    #[arg(long, conflicts_with = "state")]
    pub no_pin: bool,
}

impl PinArgs {
    /// The state file for the trust root at `file` (None with --no-pin).
    pub fn state_file(&self, file: &Path) -> Option<PathBuf> {
        if self.no_pin {
            return None;
        }
        Some(
            self.state
                .clone()
                .unwrap_or_else(|| TrustFiles::new(file).default_state_file()),
        )
    }

    /// Options to load the trust root at `file` now.
    pub fn load_options(&self, file: &Path, expiry: Expiry, update: bool) -> LoadOptions {
        LoadOptions {
            state: self.state_file(file),
            update_state: update,
            now: SystemTime::now(),
            expiry,
        }
    }
}

/// The trust given on the command line.
pub struct TrustArg {
    policy: Box<dyn TrustPolicy>,
    /// The verified trust root, when `--trust` named one.
    pub root: Option<VerifiedTrustRoot>,
}

impl TrustArg {
    /// Load `--trust` arguments with the default pin and the full policy (for commands
    /// without pin flags).
    #[allow(dead_code)]
    pub fn load(paths: &[PathBuf]) -> Result<TrustArg, CliError> {
        Self::load_with(paths, &PinArgs::default(), Requirement::Threshold)
    }

    /// Load one trust root or one or more public key files.
    pub fn load_with(
        paths: &[PathBuf],
        pin: &PinArgs,
        requirement: Requirement,
    ) -> Result<TrustArg, CliError> {
        let mut roots = Vec::new();
        for p in paths {
            let bytes = trust::store::read_bounded(p).map_err(|e| trust_error(e, p))?;
            if trust::looks_like_trust_root(&bytes) {
                roots.push(p);
            }
        }
        if let Some(file) = roots.first() {
            if paths.len() > 1 {
                return Err(CliError::usage(format!(
                    "{} is a trust root: pass it as the only --trust",
                    file.display()
                ))
                .hint("a trust root lists every trusted key; add keys with `modelseal keys add`"));
            }
            let options = pin.load_options(file, Expiry::Enforce, true);
            let verified = trust::load(file, &options).map_err(|e| trust_error(e, file))?;
            if let (trust::Anchor::FirstUse(v), Some(state)) =
                (verified.anchor(), verified.pin_written())
            {
                eprintln!(
                    "note: no pin for {} on this machine yet: trusting version {v} as found (trust on first use) and pinning version {} in {}",
                    file.display(),
                    verified.root().version,
                    state.display()
                );
            }
            let policy = TrustRootPolicy::new(&verified, options.now, requirement);
            return Ok(TrustArg {
                policy: Box::new(policy),
                root: Some(verified),
            });
        }
        let mut keys_loaded = Vec::new();
        for p in paths {
            let key = keys::load_public_key(p).map_err(|e| {
                CliError::failure(e.to_string()).hint(
                    "--trust takes a public key file (.pub) from `modelseal keygen`, or a trust root (keys/trust.json) from `modelseal keys init`",
                )
            })?;
            keys_loaded.push(key);
        }
        Ok(TrustArg {
            policy: Box::new(TrustedKeys(keys_loaded)),
            root: None,
        })
    }

    /// The policy to verify with.
    pub fn policy(&self) -> &dyn TrustPolicy {
        self.policy.as_ref()
    }
}

/// A trust-root error for the user, with what to do about it.
pub fn trust_error(e: TrustError, file: &Path) -> CliError {
    let f = file.display();
    let rejected = |e: &TrustError| CliError::new(Exit::Rejected, format!("{f}: {e}"));
    match &e {
        TrustError::Io { path, .. } if path.extension().is_some_and(|x| x == "state") => {
            CliError::failure(e.to_string()).hint(
                "the pin (state file) must be writable: pass --state PATH to a writable file, or --no-pin to go without rollback protection",
            )
        }
        TrustError::Io { .. } => CliError::failure(e.to_string()),
        TrustError::Rollback { .. } | TrustError::Equivocation { .. } => rejected(&e).hint(format!(
            "someone may be serving an old or forged trust file: fetch the current one from its source. \
             If the root keys were deliberately reset, re-pin with `modelseal keys pin {f} --reset`"
        )),
        TrustError::Expired { .. } => rejected(&e).hint(format!(
            "the root key holders must renew it: `modelseal keys renew {f} --expires 365d --root-key ROOT.key`, \
             then distribute the new file (see SECURITY.md, \"the trust file expired\")"
        )),
        TrustError::MissingVersion { .. } => rejected(&e).hint(format!(
            "distribute the {} directory together with {f}",
            TrustFiles::new(file).history_dir().display()
        )),
        TrustError::ChainTooLong { .. } => rejected(&e).hint(format!(
            "verify the new chain out of band, then re-pin with `modelseal keys pin {f} --reset`"
        )),
        TrustError::Edit(_) => CliError::usage(e.to_string()),
        _ => rejected(&e),
    }
}
