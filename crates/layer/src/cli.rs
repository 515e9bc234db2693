//! Argument parsing and dispatch, and how errors map to exit codes.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::deploy_cmd;
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
    /// The OS install to act on (default: the booted one, or the only one).
    #[arg(long, global = true, value_name = "NAME")]
    pub stateroot: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a sysroot (if needed) and a stateroot in it.
    Init(deploy_cmd::InitOpts),
    /// Deploy a new base image (a ref or commit), keeping /etc changes.
    Rebase(deploy_cmd::RebaseOpts),
    /// Layer packages onto the base image: `NAME`, `NAME=VERSION` or `./file.deb`.
    Install(crate::packages_cmd::InstallOpts),
    /// Drop layered packages from the request and rebuild.
    Uninstall(crate::packages_cmd::UninstallOpts),
    /// Remove or replace packages of the base image.
    #[command(subcommand)]
    Override(crate::packages_cmd::OverrideCommand),
    /// Deploy a given commit of the base, keeping the requests.
    Deploy(crate::packages_cmd::DeployOpts),
    /// Pick up a new base commit and newer layered packages.
    Upgrade(crate::packages_cmd::UpgradeOpts),
    /// Make the previous deployment the default again.
    Rollback(deploy_cmd::WriteOpts),
    /// Remove one deployment.
    Undeploy(deploy_cmd::IndexOpts),
    /// Keep a deployment through cleanups (or stop keeping it with --unpin).
    Pin(deploy_cmd::PinOpts),
    /// Remove unlisted deployments, unused kernels and unreachable objects.
    Cleanup(deploy_cmd::WriteOpts),
    /// Show the deployments.
    Status(deploy_cmd::StatusOpts),
    /// List and compare the packages of deployments and commits.
    #[command(subcommand)]
    Db(crate::db_cmd::DbCommand),
    /// Make base images.
    #[command(subcommand)]
    Compose(crate::compose_cmd::ComposeCommand),
    /// Look inside package files.
    #[command(subcommand)]
    Pkg(crate::pkg_cmd::PkgCommand),
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
    match &cli.command {
        Command::Init(o) => deploy_cmd::init(&cli, o),
        Command::Rebase(o) => deploy_cmd::rebase(&cli, o),
        Command::Install(o) => crate::packages_cmd::install(&cli, o),
        Command::Uninstall(o) => crate::packages_cmd::uninstall(&cli, o),
        Command::Override(o) => crate::packages_cmd::override_(&cli, o),
        Command::Upgrade(o) => crate::packages_cmd::upgrade(&cli, o),
        Command::Deploy(o) => crate::packages_cmd::deploy(&cli, o),
        Command::Rollback(o) => deploy_cmd::rollback(&cli, o),
        Command::Undeploy(o) => deploy_cmd::undeploy(&cli, o),
        Command::Pin(o) => deploy_cmd::pin(&cli, o),
        Command::Cleanup(o) => deploy_cmd::cleanup(&cli, o),
        Command::Status(o) => deploy_cmd::status(&cli, o),
        Command::Db(cmd) => crate::db_cmd::run(&cli, cmd),
        Command::Compose(cmd) => crate::compose_cmd::run(cmd),
        Command::Pkg(cmd) => crate::pkg_cmd::run(cmd),
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
        if let Some(e) = cause.downcast_ref::<deploy::Error>() {
            return if deploy_cmd::is_user_error(e) { EXIT_USER } else { EXIT_INTERNAL };
        }
        if let Some(e) = cause.downcast_ref::<pkgdb::resolve::ResolveError>() {
            use pkgdb::resolve::ResolveError as E;
            return if matches!(e, E::Cancelled | E::BadStatusEntry { .. }) { EXIT_INTERNAL } else { EXIT_USER };
        }
        if let Some(e) = cause.downcast_ref::<pkgdb::fetch::FetchError>() {
            // Only `--cache-only` without the packages is the user's to fix;
            // a download or a bad file is the network's or the mirror's.
            return if matches!(e, pkgdb::fetch::FetchError::NotCached { .. }) { EXIT_USER } else { EXIT_INTERNAL };
        }
        if let Some(e) = cause.downcast_ref::<compose::Error>() {
            return if is_user_compose_error(e) { EXIT_USER } else { EXIT_INTERNAL };
        }
        if let Some(e) = cause.downcast_ref::<store::Error>() {
            return if is_user_store_error(e) { EXIT_USER } else { EXIT_INTERNAL };
        }
    }
    EXIT_INTERNAL
}

/// Compose errors caused by what the user asked for (a bad package or
/// root, a collision), not by the machine.
pub fn is_user_compose_error(e: &compose::Error) -> bool {
    use compose::Error as E;
    match e {
        E::Store { source, .. } => is_user_store_error(source),
        E::Io { .. } | E::Sandbox { .. } => false,
        // A maintainer script that fails or times out: the package cannot
        // be installed; the sandbox itself failing is the machine's problem.
        E::Script { source, .. } => matches!(
            source,
            compose::sandbox::SandboxError::ScriptFailed { .. } | compose::sandbox::SandboxError::TimedOut { .. }
        ),
        _ => true,
    }
}

/// Store errors caused by what the user asked for.
pub fn is_user_store_error(e: &store::Error) -> bool {
    use store::Error as E;
    matches!(
        e,
        E::NotARepo(_)
            | E::UnsupportedMode(_)
            | E::InvalidRef(_)
            | E::RefNotFound(_)
            | E::NoSuchPath { .. }
            | E::Unsupported { .. }
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
