//! `keys encrypt`: protect an existing plain secret key file with a passphrase.

use std::path::PathBuf;

use crate::cli::{CliError, Output};
use modelseal::keys::passphrase::{EnvOrTerminal, PASSPHRASE_ENV, PassphraseSource};
use modelseal::keys::{self, KdfParams};

/// Encrypt a plain secret key file in place with a passphrase (scrypt +
/// XChaCha20-Poly1305). The passphrase comes from MODELSEAL_PASSPHRASE or is asked twice
/// on the terminal. Every command that reads the key then asks for it the same way.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The secret key file.
    #[arg(value_name = "K.key")]
    pub key: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    let path = &args.key;
    if keys::is_encrypted_key_file(path).map_err(|e| CliError::failure(e.to_string()))? {
        return Err(CliError::usage(format!(
            "{} is already encrypted",
            path.display()
        )));
    }
    let key = keys::load_secret_key(path).map_err(|e| CliError::failure(e.to_string()))?;
    let passphrase = EnvOrTerminal.new_passphrase(path).map_err(|e| {
        CliError::failure(format!("{}: {e}", path.display()))
            .hint(format!("set {PASSPHRASE_ENV} or run from a terminal"))
    })?;
    let text = key
        .to_encrypted_file_string(&passphrase, KdfParams::DEFAULT)
        .map_err(|e| CliError::failure(e.to_string()))?;
    keys::replace_secret_key_file(path, text.as_bytes())
        .map_err(|e| CliError::failure(e.to_string()))?;
    let out = Output { json: args.json };
    if out.json {
        return out.print_json(&serde_json::json!({
            "key": path,
            "key_id": key.id().to_string(),
            "encrypted": true,
        }));
    }
    println!("encrypted {} (key {})", path.display(), key.id());
    Ok(())
}
