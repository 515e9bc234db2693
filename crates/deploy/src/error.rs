//! The deploy crate's errors: one variant per kind of failed step.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} `{path}`")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(
        "`{0}` is not a sysroot (no `ostree/repo`)\nhint: create one with `layer init --sysroot {0} --stateroot NAME`"
    )]
    NotASysroot(String),
    #[error("stateroot `{0}` does not exist\nhint: create it with `layer init --stateroot {0}`")]
    NoSuchStateroot(String),
    #[error("this sysroot has several stateroots ({0}); choose one with --stateroot")]
    AmbiguousStateroot(String),
    #[error("this sysroot has no stateroot\nhint: create one with `layer init --stateroot NAME`")]
    NoStateroot,
    #[error("invalid stateroot name `{0}`")]
    InvalidStateroot(String),
    #[error("the sysroot is locked by another process\nhint: wait for it, or run without --no-wait to wait")]
    Locked,
    #[error("there is no deployment yet\nhint: deploy one with `layer rebase REF`")]
    NoDeployments,
    #[error("there is no deployment {0}\nhint: `layer status` lists them")]
    NoSuchDeployment(usize),
    #[error("there is no previous deployment to roll back to")]
    NoRollback,
    #[error("refusing to remove the booted deployment")]
    Booted,
    #[error(
        "/etc merge: `{path}` was modified locally, but the new image makes it a directory; cannot merge\nhint: move your `/etc/{path}` aside and deploy again"
    )]
    EtcTypeChange { path: String },
    #[error("the tree has both `/etc` and `/usr/etc`")]
    BothEtc,
    #[error("malformed sysroot state: {0}")]
    Malformed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err<E: Into<io::Error>>(
    action: &'static str,
    path: impl std::fmt::Display,
) -> impl FnOnce(E) -> Error {
    let path = path.to_string();
    move |e| Error::Io { action, path, source: e.into() }
}
