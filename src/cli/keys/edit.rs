//! Subcommands that make a new trust-root version: init, add, rotate, retire, revoke,
//! threshold, root, renew, and sign (adding a root signature to a pending version).
//!
//! Each verifies the current chain (against the pin), applies one change, signs the new
//! version with the given root keys, and publishes it when both root thresholds (previous
//! and new version) are met — otherwise it is saved as the pending version for other root
//! key holders to sign with `keys sign`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::show::changes;
use super::{SignaturesReport, describe_saved, duration, key_ref, load_secret_keys, now, when};
use crate::cli::trust::{PinArgs, trust_error};
use crate::cli::{CliError, Output};
use modelseal::keys;
use modelseal::trust::{
    self, Change, Expiry, Saved, ScopePattern, SignedTrustRoot, TrustFiles, VerifiedTrustRoot,
};

/// What every change needs.
#[derive(Debug, clap::Args)]
pub struct EditCommon {
    /// Root secret key signing the new version (repeatable; encrypted keys take their
    /// passphrase from MODELSEAL_PASSPHRASE or a prompt).
    #[arg(long = "root-key", value_name = "ROOT.key", required = true)]
    pub root_keys: Vec<PathBuf>,
    /// New expiry of the trust root: a duration from now (365d) or a UTC time
    /// (2027-11-23T00:00:00Z). Default: unchanged.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// Pinning.
    #[command(flatten)]
    pub pin: PinArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Create a trust root (version 1) signed by its root keys.
///
/// Root keys only sign trust-root versions, never bundles; keep them offline. The
/// threshold is how many distinct root keys must sign every later version (default: a
/// majority). Root keys whose holders are elsewhere can be listed with --root-pub; the
/// version is then saved as pending until enough of them run `keys sign`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Root secret key signing version 1 (repeatable).
    #[arg(long = "root-key", value_name = "ROOT.key", required = true)]
    pub root_keys: Vec<PathBuf>,
    /// Another root key, by its public key only (repeatable).
    #[arg(long = "root-pub", value_name = "ROOT.pub")]
    pub root_pubs: Vec<PathBuf>,
    /// Distinct root signatures needed to change the trust root (default: a majority).
    #[arg(long)]
    pub threshold: Option<u32>,
    /// Expiry: a duration from now or a UTC time.
    #[arg(long, value_name = "WHEN", default_value = "365d")]
    pub expires: String,
    /// Where to write the trust root.
    #[arg(long, value_name = "TRUST.json", default_value = "keys/trust.json")]
    pub out: PathBuf,
    /// Pinning.
    #[command(flatten)]
    pub pin: PinArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Add an active signing key.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// The new key's public key file.
    #[arg(long = "pub", value_name = "NEW.pub")]
    pub public: PathBuf,
    /// Bundle names the key may sign: a name, a prefix ending in * (fraud-*), or *
    /// (repeatable; default *).
    #[arg(long, value_name = "NAME")]
    pub scope: Vec<String>,
    /// The key is not valid before this time (duration from now or UTC time).
    #[arg(long, value_name = "WHEN")]
    pub not_before: Option<String>,
    /// The key is not valid from this time on (duration from now or UTC time).
    #[arg(long, value_name = "WHEN")]
    pub not_after: Option<String>,
    /// Root keys, expiry, pinning, output.
    #[command(flatten)]
    pub common: EditCommon,
}

/// Replace a signing key: the new key becomes active (with the old key's scopes unless
/// --scope is given), the old key is retired. Bundles signed by the old key keep verifying
/// during the grace period, unless they claim to be created after the rotation.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// The key to retire: key id or .pub file.
    #[arg(long, value_name = "OLD")]
    pub from: String,
    /// The new key's public key file.
    #[arg(long, value_name = "NEW.pub")]
    pub to: PathBuf,
    /// How long bundles signed by the old key keep verifying.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub grace: String,
    /// Scopes of the new key (repeatable; default: the old key's).
    #[arg(long, value_name = "NAME")]
    pub scope: Vec<String>,
    /// Root keys, expiry, pinning, output.
    #[command(flatten)]
    pub common: EditCommon,
}

/// Retire a signing key without a successor (its bundles verify during the grace period).
#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// The key: key id or .pub file.
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// How long bundles signed by the key keep verifying.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub grace: String,
    /// Root keys, expiry, pinning, output.
    #[command(flatten)]
    pub common: EditCommon,
}

/// Revoke a signing key: every bundle it signed fails verification from now on, whatever
/// else signed it. For leaked or compromised keys.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// The key: key id or .pub file.
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// Why (shown to everyone whose verification fails).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Root keys, expiry, pinning, output.
    #[command(flatten)]
    pub common: EditCommon,
}

/// Require N distinct valid signatures for bundles whose name matches a scope (e.g. a
/// build key and a release manager). 1 removes the rule. The largest matching rule applies.
#[derive(Debug, clap::Args)]
pub struct ThresholdArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// Bundle names: a name, a prefix ending in *, or *.
    #[arg(long, value_name = "NAME")]
    pub scope: String,
    /// Distinct signatures required.
    #[arg(long, value_name = "N")]
    pub signatures: u32,
    /// Root keys, expiry, pinning, output.
    #[command(flatten)]
    pub common: EditCommon,
}

/// Change the root keys or their threshold (root rotation). The new version must be signed
/// by a threshold of the current root keys and a threshold of the new ones: pass enough
/// --root-key of both, or collect them with `keys sign`.
#[derive(Debug, clap::Args)]
pub struct RootArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// Add a root key (repeatable).
    #[arg(long = "add-root", value_name = "ROOT.pub")]
    pub add: Vec<PathBuf>,
    /// Remove a root key: key id or .pub file (repeatable).
    #[arg(long = "remove-root", value_name = "KEY")]
    pub remove: Vec<String>,
    /// New root threshold (default: unchanged, lowered to the number of root keys).
    #[arg(long)]
    pub threshold: Option<u32>,
    /// Root keys, expiry, pinning, output.
    #[command(flatten)]
    pub common: EditCommon,
}

/// Renew the trust root: a new version with a new expiry (default 365d from now).
#[derive(Debug, clap::Args)]
pub struct RenewArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// Root keys, expiry, pinning, output.
    #[command(flatten)]
    pub common: EditCommon,
}

/// Add root signatures to the pending version (TRUST.pending.json); publish it once both
/// thresholds are met. Shows what the version changes before signing.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// Root secret key (repeatable).
    #[arg(long = "root-key", value_name = "ROOT.key", required = true)]
    pub root_keys: Vec<PathBuf>,
    /// Pinning.
    #[command(flatten)]
    pub pin: PinArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct EditReport<'a> {
    trust_root: &'a Path,
    version: u64,
    published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_file: Option<PathBuf>,
    root_signatures: SignaturesReport,
    changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned_in: Option<PathBuf>,
}

fn scopes(args: &[String]) -> Result<Vec<ScopePattern>, CliError> {
    args.iter()
        .map(|s| ScopePattern::new(s).map_err(CliError::usage))
        .collect()
}

/// Load and verify the current version for editing (expiry ignored so it can be renewed).
fn current(file: &Path, pin: &PinArgs) -> Result<VerifiedTrustRoot, CliError> {
    let options = pin.load_options(file, Expiry::Ignore, true);
    trust::load(file, &options).map_err(|e| trust_error(e, file))
}

fn refuse_if_pending(files: &TrustFiles) -> Result<(), CliError> {
    let pending = files.pending_file();
    if pending.exists() {
        return Err(CliError::usage(format!(
            "{} holds a version still waiting for root signatures",
            pending.display()
        ))
        .hint(format!(
            "finish it with `modelseal keys sign {} --root-key ROOT.key`, or delete {} to abandon it",
            files.file().display(),
            pending.display()
        )));
    }
    Ok(())
}

/// Sign, save, pin and report.
fn finish(
    files: &TrustFiles,
    pin: &PinArgs,
    previous: Option<&SignedTrustRoot>,
    mut doc: SignedTrustRoot,
    root_keys: &[PathBuf],
    json: bool,
) -> Result<(), CliError> {
    let file = files.file();
    let keys = load_secret_keys(root_keys)?;
    trust::sign_version(&mut doc, &keys, previous).map_err(|e| trust_error(e, file))?;
    let saved = trust::save(files, previous, &doc).map_err(|e| trust_error(e, file))?;
    let mut pinned_in = None;
    if let Saved::Published(_) = saved
        && pin.state_file(file).is_some()
    {
        let options = pin.load_options(file, Expiry::Ignore, true);
        let verified = trust::load(file, &options).map_err(|e| trust_error(e, file))?;
        pinned_in = verified.pin_written().map(Path::to_path_buf);
    }
    let status = match &saved {
        Saved::Published(s) | Saved::Pending(s) => s,
    };
    let report = EditReport {
        trust_root: file,
        version: doc.version(),
        published: matches!(saved, Saved::Published(_)),
        pending_file: matches!(saved, Saved::Pending(_)).then(|| files.pending_file()),
        root_signatures: status.into(),
        changes: changes(previous.map(|p| p.root()), doc.root()),
        pinned_in,
    };
    let out = Output { json };
    if json {
        return out.print_json(&report);
    }
    for c in &report.changes {
        println!("  {c}");
    }
    println!("{}", describe_saved(files, &saved));
    Ok(())
}

/// Apply `change` to the trust root at `file`.
fn edit(file: &Path, common: &EditCommon, change: Change) -> Result<(), CliError> {
    let files = TrustFiles::new(file);
    refuse_if_pending(&files)?;
    let verified = current(file, &common.pin)?;
    let expires = match &common.expires {
        Some(text) => Some(when("--expires", text)?),
        None => None,
    };
    let next = trust::next_version(verified.root(), &change, now(), expires)
        .map_err(|e| trust_error(e, file))?;
    let doc = SignedTrustRoot::new(next).map_err(|e| trust_error(e, file))?;
    finish(
        &files,
        &common.pin,
        Some(verified.document()),
        doc,
        &common.root_keys,
        common.json,
    )
}

/// `keys init`.
pub fn init(args: InitArgs) -> Result<(), CliError> {
    let files = TrustFiles::new(&args.out);
    if args.out.exists() {
        return Err(CliError::usage(format!("{} already exists", args.out.display()))
            .hint("change an existing trust root with the other `modelseal keys` commands; to start over, move it and its .d directory away first"));
    }
    refuse_if_pending(&files)?;
    let keys = load_secret_keys(&args.root_keys)?;
    let mut publics: Vec<_> = keys.iter().map(|k| k.public().clone()).collect();
    for p in &args.root_pubs {
        publics.push(keys::load_public_key(p).map_err(|e| CliError::usage(e.to_string()))?);
    }
    let expires = when("--expires", &args.expires)?;
    let root = trust::initial(publics, args.threshold, now(), expires)
        .map_err(|e| trust_error(e, &args.out))?;
    let doc = SignedTrustRoot::new(root).map_err(|e| trust_error(e, &args.out))?;
    finish(&files, &args.pin, None, doc, &args.root_keys, args.json)
}

/// `keys add`.
pub fn add(args: AddArgs) -> Result<(), CliError> {
    let key = keys::load_public_key(&args.public).map_err(|e| CliError::usage(e.to_string()))?;
    let not_before = match &args.not_before {
        Some(t) => Some(when("--not-before", t)?),
        None => None,
    };
    let not_after = match &args.not_after {
        Some(t) => Some(when("--not-after", t)?),
        None => None,
    };
    let change = Change::AddKey {
        key,
        scopes: scopes(&args.scope)?,
        not_before,
        not_after,
    };
    edit(&args.file, &args.common, change)
}

/// `keys rotate`.
pub fn rotate(args: RotateArgs) -> Result<(), CliError> {
    let change = Change::Rotate {
        from: key_ref(&args.from)?,
        to: keys::load_public_key(&args.to).map_err(|e| CliError::usage(e.to_string()))?,
        grace: duration("--grace", &args.grace)?,
        scopes: scopes(&args.scope)?,
    };
    edit(&args.file, &args.common, change)
}

/// `keys retire`.
pub fn retire(args: RetireArgs) -> Result<(), CliError> {
    let change = Change::Retire {
        key: key_ref(&args.key)?,
        grace: duration("--grace", &args.grace)?,
    };
    edit(&args.file, &args.common, change)
}

/// `keys revoke`.
pub fn revoke(args: RevokeArgs) -> Result<(), CliError> {
    let change = Change::Revoke {
        key: key_ref(&args.key)?,
        reason: args.reason.clone(),
    };
    edit(&args.file, &args.common, change)
}

/// `keys threshold`.
pub fn threshold(args: ThresholdArgs) -> Result<(), CliError> {
    let change = Change::SetThreshold {
        scope: ScopePattern::new(&args.scope).map_err(CliError::usage)?,
        signatures: args.signatures,
    };
    edit(&args.file, &args.common, change)
}

/// `keys root`.
pub fn root(args: RootArgs) -> Result<(), CliError> {
    let add = args
        .add
        .iter()
        .map(|p| keys::load_public_key(p).map_err(|e| CliError::usage(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let remove = args
        .remove
        .iter()
        .map(|r| key_ref(r))
        .collect::<Result<Vec<_>, _>>()?;
    if add.is_empty() && remove.is_empty() && args.threshold.is_none() {
        return Err(CliError::usage(
            "nothing to change: give --add-root, --remove-root or --threshold",
        ));
    }
    let change = Change::Root {
        add,
        remove,
        threshold: args.threshold,
    };
    edit(&args.file, &args.common, change)
}

/// `keys renew`.
pub fn renew(mut args: RenewArgs) -> Result<(), CliError> {
    if args.common.expires.is_none() {
        args.common.expires = Some("365d".into());
    }
    edit(&args.file, &args.common, Change::Renew)
}

/// `keys sign`.
pub fn sign(args: SignArgs) -> Result<(), CliError> {
    let file = &args.file;
    let files = TrustFiles::new(file);
    let pending = trust::store::read_pending(&files)
        .map_err(|e| trust_error(e, file))?
        .ok_or_else(|| {
            CliError::usage(format!(
                "no pending version ({} does not exist)",
                files.pending_file().display()
            ))
            .hint("pending versions are made by a change signed by too few root keys")
        })?;
    let verified = if file.exists() {
        Some(current(file, &args.pin)?)
    } else {
        None
    };
    let previous = verified.as_ref().map(VerifiedTrustRoot::document);
    let expected = previous.map_or(1, |p| p.version().saturating_add(1));
    if pending.version() != expected {
        return Err(CliError::usage(format!(
            "the pending version is {}, but the next version of {} is {expected}",
            pending.version(),
            file.display()
        ))
        .hint(format!(
            "it is stale: delete {} and make the change again",
            files.pending_file().display()
        )));
    }
    if !args.json {
        println!("signing pending trust root version {}:", pending.version());
    }
    finish(
        &files,
        &args.pin,
        previous,
        pending,
        &args.root_keys,
        args.json,
    )
}
