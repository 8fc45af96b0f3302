//! Where passphrases for encrypted secret keys come from: the `MODELSEAL_PASSPHRASE`
//! environment variable (for CI), or a prompt on the controlling terminal.
//!
//! The library never reads standard input for a passphrase; the prompt goes to and comes
//! from `/dev/tty`, so a key can be decrypted while a pipeline is reading stdin.

use std::path::Path;

use zeroize::Zeroizing;

/// Environment variable holding the passphrase (CI). Set it from the secret store for the
/// one command that needs it; it is never printed.
pub const PASSPHRASE_ENV: &str = "MODELSEAL_PASSPHRASE";

/// Longest passphrase accepted, in bytes.
pub const MAX_PASSPHRASE_BYTES: usize = 1024;

/// Supplies passphrases for encrypted key files.
pub trait PassphraseSource {
    /// The passphrase to decrypt the key file at `path`. `Err` explains why there is none.
    fn passphrase(&self, path: &Path) -> Result<Zeroizing<String>, String>;
    /// A new passphrase to encrypt the key file at `path` (asked twice when interactive).
    fn new_passphrase(&self, path: &Path) -> Result<Zeroizing<String>, String>;
}

/// The default source: [`PASSPHRASE_ENV`] when set, otherwise a prompt on the terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvOrTerminal;

impl PassphraseSource for EnvOrTerminal {
    fn passphrase(&self, path: &Path) -> Result<Zeroizing<String>, String> {
        if let Some(p) = from_env()? {
            return Ok(p);
        }
        prompt(&format!("passphrase for {}: ", path.display()))
    }

    fn new_passphrase(&self, path: &Path) -> Result<Zeroizing<String>, String> {
        if let Some(p) = from_env()? {
            return Ok(p);
        }
        let first = prompt(&format!("new passphrase for {}: ", path.display()))?;
        let again = prompt("repeat the passphrase: ")?;
        if *first != *again {
            return Err("the two passphrases differ".into());
        }
        Ok(first)
    }
}

/// A fixed passphrase (tests, or callers with their own secret store).
#[derive(Clone)]
pub struct FixedPassphrase(pub Zeroizing<String>);

impl FixedPassphrase {
    /// Wrap `text`.
    pub fn new(text: &str) -> Self {
        FixedPassphrase(Zeroizing::new(text.to_owned()))
    }
}

impl std::fmt::Debug for FixedPassphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FixedPassphrase(..)")
    }
}

impl PassphraseSource for FixedPassphrase {
    fn passphrase(&self, _: &Path) -> Result<Zeroizing<String>, String> {
        check(self.0.clone())
    }
    fn new_passphrase(&self, _: &Path) -> Result<Zeroizing<String>, String> {
        check(self.0.clone())
    }
}

fn from_env() -> Result<Option<Zeroizing<String>>, String> {
    match std::env::var(PASSPHRASE_ENV) {
        Ok(v) => check(Zeroizing::new(v)).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{PASSPHRASE_ENV} is not UTF-8")),
    }
}

fn prompt(text: &str) -> Result<Zeroizing<String>, String> {
    let answer = rpassword::prompt_password(text).map_err(|e| {
        format!("no passphrase: {PASSPHRASE_ENV} is not set and the terminal cannot be used ({e})")
    })?;
    check(Zeroizing::new(answer))
}

fn check(p: Zeroizing<String>) -> Result<Zeroizing<String>, String> {
    if p.is_empty() {
        return Err("the passphrase is empty".into());
    }
    if p.len() > MAX_PASSPHRASE_BYTES {
        return Err(format!(
            "the passphrase is longer than {MAX_PASSPHRASE_BYTES} bytes"
        ));
    }
    Ok(p)
}
