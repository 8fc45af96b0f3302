//! `modelseal keys`: the trust root — who may sign which bundles, rotation, revocation,
//! expiry, signature thresholds — and key encryption. One module per group of
//! subcommands: `edit` (every change, signed by root keys), `show` (list, verify, pin),
//! `encrypt`.

mod edit;
mod encrypt;
mod show;

use std::path::Path;
use std::time::{Duration, SystemTime};

use clap::Subcommand;
use serde::Serialize;

use super::CliError;
use modelseal::keys::{self, KeyId, SecretKey};
use modelseal::trust::{Saved, SignatureStatus, Timestamp, TrustFiles};

/// Manage the trust root (keys/trust.json): signing keys with scopes, validity and status,
/// per-scope signature thresholds, root keys; every change is a new version signed by root
/// keys. See README.md (runbook) and docs/format.md §9.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The subcommand.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    Init(edit::InitArgs),
    Add(edit::AddArgs),
    Rotate(edit::RotateArgs),
    Retire(edit::RetireArgs),
    Revoke(edit::RevokeArgs),
    Threshold(edit::ThresholdArgs),
    Root(edit::RootArgs),
    Renew(edit::RenewArgs),
    Sign(edit::SignArgs),
    List(show::ListArgs),
    Verify(show::VerifyArgs),
    Pin(show::PinCmdArgs),
    Encrypt(encrypt::Args),
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    match args.command {
        KeysCommand::Init(a) => edit::init(a),
        KeysCommand::Add(a) => edit::add(a),
        KeysCommand::Rotate(a) => edit::rotate(a),
        KeysCommand::Retire(a) => edit::retire(a),
        KeysCommand::Revoke(a) => edit::revoke(a),
        KeysCommand::Threshold(a) => edit::threshold(a),
        KeysCommand::Root(a) => edit::root(a),
        KeysCommand::Renew(a) => edit::renew(a),
        KeysCommand::Sign(a) => edit::sign(a),
        KeysCommand::List(a) => show::list(a),
        KeysCommand::Verify(a) => show::verify(a),
        KeysCommand::Pin(a) => show::pin(a),
        KeysCommand::Encrypt(a) => encrypt::run(a),
    }
}

/// A key given as a key id (32 hex digits) or a `.pub` file.
fn key_ref(arg: &str) -> Result<KeyId, CliError> {
    if let Ok(id) = arg.parse::<KeyId>() {
        return Ok(id);
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(CliError::usage(format!(
            "{arg:?} is neither a key id (32 hex digits) nor an existing .pub file"
        ))
        .hint("`modelseal keys list TRUST.json` shows the key ids"));
    }
    keys::load_public_key(path)
        .map(|k| k.id())
        .map_err(|e| CliError::usage(e.to_string()))
}

/// Load secret keys (decrypting encrypted ones with MODELSEAL_PASSPHRASE or a prompt).
fn load_secret_keys(paths: &[std::path::PathBuf]) -> Result<Vec<SecretKey>, CliError> {
    paths
        .iter()
        .map(|p| {
            keys::load_secret_key(p).map_err(|e| {
                let hint = match e {
                    keys::KeyError::Passphrase { .. } => Some(format!(
                        "set {} or run from a terminal",
                        keys::passphrase::PASSPHRASE_ENV
                    )),
                    _ => None,
                };
                let err = CliError::failure(e.to_string());
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            })
        })
        .collect()
}

/// Now, to the second.
fn now() -> Timestamp {
    Timestamp::from_system(SystemTime::now())
}

/// A duration like `30d`, `12h`, `90s`.
fn duration(flag: &str, text: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(text).map_err(|e| {
        CliError::usage(format!("{flag} {text:?}: {e}")).hint("durations look like 30d, 12h, 90m")
    })
}

/// A point in time: a duration from now (`365d`) or an RFC 3339 time.
fn when(flag: &str, text: &str) -> Result<Timestamp, CliError> {
    if let Some(t) = Timestamp::parse(text) {
        return Ok(t);
    }
    let d = duration(flag, text).map_err(|e| {
        e.hint("give a duration from now (365d) or a UTC time (2027-11-23T00:00:00Z)")
    })?;
    now()
        .checked_add(d)
        .ok_or_else(|| CliError::usage(format!("{flag} {text:?} is too far in the future")))
}

#[derive(Serialize)]
struct SignaturesReport {
    own: [u64; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<[u64; 3]>,
}

impl From<&SignatureStatus> for SignaturesReport {
    fn from(s: &SignatureStatus) -> Self {
        SignaturesReport {
            own: [s.own.0 as u64, u64::from(s.own.1)],
            previous: s
                .previous
                .map(|(v, have, need)| [v, have as u64, u64::from(need)]),
        }
    }
}

/// Describe a saved version for people.
fn describe_saved(files: &TrustFiles, saved: &Saved) -> String {
    match saved {
        Saved::Published(s) => format!(
            "trust root version {} published to {}",
            s.version,
            files.file().display()
        ),
        Saved::Pending(s) => {
            let mut missing = Vec::new();
            if let Some((v, have, need)) = s.previous
                && have < need as usize
            {
                missing.push(format!("{have} of {need} root keys of version {v}"));
            }
            if s.own.0 < s.own.1 as usize {
                missing.push(format!("{} of {} of its own root keys", s.own.0, s.own.1));
            }
            format!(
                "trust root version {} is signed by only {}; saved as {}. Another root key holder must run: modelseal keys sign {} --root-key THEIR.key",
                s.version,
                missing.join(" and "),
                files.pending_file().display(),
                files.file().display()
            )
        }
    }
}
