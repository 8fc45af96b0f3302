//! `modelseal keygen`.

use super::CliError;

/// Arguments of `modelseal keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `modelseal keygen`.
pub fn run(_args: Args) -> Result<(), CliError> {
    Err(CliError::failure("not implemented yet"))
}
