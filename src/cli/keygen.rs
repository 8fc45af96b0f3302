//! `modelseal keygen`: create an Ed25519 key pair.

use std::path::PathBuf;

use serde::Serialize;

use super::{CliError, Output};
use modelseal::keys::passphrase::{EnvOrTerminal, PASSPHRASE_ENV};
use modelseal::keys::{self, SecretKey};

/// Generate a signing key pair: `OUT.key` (secret, mode 0600) and `OUT.pub` (public).
///
/// The secret key never leaves OUT.key; share OUT.pub with whoever verifies bundles.
/// Existing files are never overwritten unless --force is given. See keys/README.md for
/// both file formats and how to keep keys safe.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base path of the key files, e.g. keys/release (creates keys/release.key and keys/release.pub).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Free-form comment stored in both files (who holds the key, what it signs).
    #[arg(long, default_value = "")]
    pub comment: String,
    /// Overwrite existing key files (the old key is lost).
    #[arg(long)]
    pub force: bool,
    /// Encrypt the secret key with a passphrase (from MODELSEAL_PASSPHRASE, or asked twice
    /// on the terminal); every command reading the key asks for it the same way.
    #[arg(long)]
    pub encrypt: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    key_id: String,
    encrypted: bool,
    secret_key: PathBuf,
    public_key: PathBuf,
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
    }
    let key = SecretKey::generate(args.comment).map_err(|e| CliError::failure(e.to_string()))?;
    let encrypt = args.encrypt.then_some((
        &EnvOrTerminal as &dyn keys::passphrase::PassphraseSource,
        keys::KdfParams::DEFAULT,
    ));
    let (secret, public) = keys::write_key_pair_with(&args.out, &key, args.force, encrypt)
        .map_err(|e| {
            let err = CliError::failure(e.to_string());
            match e {
                keys::KeyError::Exists(_) => err.hint("pick another --out, or pass --force to replace the key (bundles it signed will no longer verify against the new .pub)"),
                keys::KeyError::Passphrase { .. } => err.hint(format!("set {PASSPHRASE_ENV} or run from a terminal")),
                _ => err,
            }
        })?;
    let report = Report {
        key_id: key.id().to_string(),
        encrypted: args.encrypt,
        secret_key: secret,
        public_key: public,
    };
    let out = Output { json: args.json };
    if out.json {
        return out.print_json(&report);
    }
    println!("{}", report.key_id);
    eprintln!(
        "wrote {} (secret, keep it private) and {} (public)",
        report.secret_key.display(),
        report.public_key.display()
    );
    Ok(())
}
