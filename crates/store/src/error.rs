//! The store's error type: one variant per kind of failed step.

use std::io;

use crate::objects::{Checksum, FormatError, ObjectType};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} `{path}`")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("`{0}` is not an OSTree repository (no `config` with a `[core]` mode)")]
    NotARepo(String),
    #[error("unsupported repository mode `{0}`; expected bare, bare-user or archive")]
    UnsupportedMode(String),
    #[error("{kind} object {checksum} is missing")]
    MissingObject { kind: &'static str, checksum: Checksum },
    #[error("{kind} object {checksum} is corrupt")]
    CorruptObject {
        kind: &'static str,
        checksum: Checksum,
        #[source]
        source: FormatError,
    },
    #[error("{} object {expected} is corrupt: its content hashes to {actual}", kind.name())]
    ChecksumMismatch { kind: ObjectType, expected: Checksum, actual: Checksum },
    #[error("invalid ref name `{0}`")]
    InvalidRef(String),
    #[error("ref `{0}` not found")]
    RefNotFound(String),
    #[error("`{path}`: {reason}")]
    Unsupported { path: String, reason: String },
    #[error("fetching `{url}`")]
    Fetch {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{path}` is not a file or directory in the commit")]
    NoSuchPath { path: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an `Error::Io` mapper naming the action and the path.
pub(crate) fn io_err<E: Into<io::Error>>(
    action: &'static str,
    path: impl std::fmt::Display,
) -> impl FnOnce(E) -> Error {
    let path = path.to_string();
    move |e| Error::Io { action, path, source: e.into() }
}
