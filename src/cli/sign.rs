//! `modelseal sign`.

use super::CliError;

/// Arguments of `modelseal sign`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `modelseal sign`.
pub fn run(_args: Args) -> Result<(), CliError> {
    Err(CliError::failure("not implemented yet"))
}
