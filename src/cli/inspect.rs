//! `modelseal inspect`.

use super::CliError;

/// Arguments of `modelseal inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `modelseal inspect`.
pub fn run(_args: Args) -> Result<(), CliError> {
    Err(CliError::failure("not implemented yet"))
}
