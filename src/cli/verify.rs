//! `modelseal verify`.

use super::CliError;

/// Arguments of `modelseal verify`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `modelseal verify`.
pub fn run(_args: Args) -> Result<(), CliError> {
    Err(CliError::failure("not implemented yet"))
}
