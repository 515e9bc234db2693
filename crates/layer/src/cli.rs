//! Argument parsing and dispatch, and how errors map to exit codes.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::repo_cmd::RepoCommand;

/// Exit code: the user's request cannot be done (bad input, not found).
pub const EXIT_USER: i32 = 1;
/// Exit code: an internal or environment failure.
pub const EXIT_INTERNAL: i32 = 2;

/// Image-based Linux with package layering, for .deb and .rpm.
#[derive(Debug, Parser)]
#[command(name = "layer", version, about, max_term_width = 100)]
pub struct Cli {
    /// Root of the managed system.
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub sysroot: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with an OSTree-format object store directly, as `ostree` does.
    #[command(subcommand)]
    Repo(RepoCommand),
}

/// A failure caused by what the user asked for, not by the machine.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

pub fn run(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<i32> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USER } else { 0 };
            // Printing usage or help can only fail if the terminal is gone.
            let _ = e.print();
            return Ok(code);
        }
    };
    match cli.command {
        Command::Repo(cmd) => crate::repo_cmd::run(cmd),
    }
}

/// Maps an error to an exit code: 1 when the request itself cannot be
/// done, 2 when the machine or the store failed.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    for cause in error.chain() {
        if cause.is::<UserError>() {
            return EXIT_USER;
        }
        if let Some(e) = cause.downcast_ref::<store::Error>() {
            use store::Error as E;
            return match e {
                E::NotARepo(_)
                | E::UnsupportedMode(_)
                | E::InvalidRef(_)
                | E::RefNotFound(_)
                | E::NoSuchPath { .. }
                | E::Unsupported { .. } => EXIT_USER,
                _ => EXIT_INTERNAL,
            };
        }
    }
    EXIT_INTERNAL
}
