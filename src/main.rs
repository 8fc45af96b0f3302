//! The `modelseal` command-line tool (see `modelseal --help`).

#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
