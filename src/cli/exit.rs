//! Exit codes and friendly error reporting: a cause, and what to do about it.

use std::process::ExitCode;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Verification failed, or the input was refused by policy.
    Rejected = 1,
    /// The command line was wrong (clap also uses 2).
    Usage = 2,
    /// Something else went wrong: I/O, a bad key file, an internal limit.
    Failure = 3,
}

/// An error on its way to the user.
#[derive(Debug)]
pub struct CliError {
    /// Which exit code to use.
    pub exit: Exit,
    /// One line per problem.
    pub lines: Vec<String>,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// Already printed (e.g. as JSON on stdout): only set the exit code.
    pub quiet: bool,
}

impl CliError {
    /// An error with one line.
    pub fn new(exit: Exit, line: impl Into<String>) -> Self {
        CliError {
            exit,
            lines: vec![line.into()],
            hint: None,
            quiet: false,
        }
    }

    /// An operational failure.
    pub fn failure(line: impl Into<String>) -> Self {
        Self::new(Exit::Failure, line)
    }

    /// A usage error.
    pub fn usage(line: impl Into<String>) -> Self {
        Self::new(Exit::Usage, line)
    }

    /// Add a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Print to stderr and return the exit code.
    pub fn report(&self) -> ExitCode {
        if !self.quiet {
            for line in &self.lines {
                eprintln!("error: {line}");
            }
            if let Some(hint) = &self.hint {
                eprintln!("hint: {hint}");
            }
        }
        ExitCode::from(self.exit as u8)
    }
}
