//! Exit codes and the single place where errors are printed.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (also when stdout is closed early, e.g. by `head`) |
//! | 1 | a statement or job failed |
//! | 2 | usage or configuration error (clap's own usage errors also exit 2) |
//! | 130 | cancelled with Ctrl-C (`ember submit`; its cluster jobs are cancelled too) |
//! | other | `ember submit` of a program that exited with that code |

use std::process::ExitCode;

use ember::EmberError;

/// Why a command failed; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags, configuration or master: exit 2.
    Usage(String),
    /// The work itself failed: exit 1.
    Job(String),
    /// Stdout was closed by the reader: a normal end, exit 0.
    StdoutClosed,
    /// Ctrl-C stopped the work: exit 130, the shell's code for SIGINT.
    Cancelled,
    /// A submitted program failed: exit with its code.
    Exited {
        /// The program, as given.
        program: String,
        /// Its exit code (128 + the signal when a signal ended it).
        code: u8,
    },
}

impl Failure {
    /// A failure of the work, with `context` (e.g. the statement) before the cause.
    pub fn job(context: impl std::fmt::Display, cause: impl std::fmt::Display) -> Self {
        Failure::Job(format!("{context}: {cause}"))
    }
}

impl From<EmberError> for Failure {
    fn from(error: EmberError) -> Self {
        match error {
            EmberError::Config(_) => Failure::Usage(error.to_string()),
            other => Failure::Job(other.to_string()),
        }
    }
}

/// Prints a failure once, on one line of stderr, and maps it to the exit code.
pub fn report(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) | Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {}", one_line(&message));
            ExitCode::from(2)
        }
        Err(Failure::Job(message)) => {
            eprintln!("error: {}", one_line(&message));
            ExitCode::from(1)
        }
        Err(Failure::Cancelled) => {
            eprintln!("error: cancelled");
            ExitCode::from(130)
        }
        Err(Failure::Exited { program, code }) => {
            eprintln!("error: {program} exited with code {code}");
            ExitCode::from(code)
        }
    }
}

/// Error texts from lower layers may span lines; the CLI prints one.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
