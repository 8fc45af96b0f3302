//! Printing results for people or (with `--json`) for machines.

use serde::Serialize;

use super::CliError;

/// Where results go: human text or one JSON document on stdout.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of text.
    pub json: bool,
}

impl Output {
    /// Print `value` as pretty JSON on stdout.
    pub fn print_json<T: Serialize>(&self, value: &T) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| CliError::failure(format!("cannot encode JSON output: {e}")))?;
        println!("{text}");
        Ok(())
    }
}
