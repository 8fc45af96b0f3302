//! Command-line interface: clap definitions and dispatch. Each command lives in its own
//! module and calls one library function; this module only wires them together.

mod deploy;
mod exit;
mod import;
mod inspect;
mod inspect_model;
mod keygen;
mod keys;
mod output;
mod progress;
mod registry;
mod sign;
mod trust;
mod units;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use exit::{CliError, Exit};
pub use output::Output;

/// Sign, verify and safely import ML model artifacts.
///
/// Exit codes: 0 success; 1 verification failed or input refused (dangerous, malformed,
/// unsupported or over a limit); 2 usage error;
/// 3 operational error (I/O, bad key file, …).
#[derive(Debug, Parser)]
#[command(name = "modelseal", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    Keygen(keygen::Args),
    Sign(sign::Args),
    Verify(verify::Args),
    Inspect(inspect::Args),
    Import(import::Args),
    Keys(keys::Args),
    Registry(registry::Args),
    Deploy(deploy::Args),
}

/// Parse the command line, run the command and map the outcome to an exit code.
pub fn main() -> ExitCode {
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Import(args) => import::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Registry(args) => registry::run(args),
        Command::Deploy(args) => deploy::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}

/// `modelseal inspect … | head` closes stdout early; `println!` then panics. Exit the way a
/// SIGPIPE'd Unix tool does (status 141, no message) instead of printing a panic.
fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
