//! apt repositories: where they are (`sources.list`, `*.sources`), how their
//! `InRelease` is verified (the system `gpgv`, as apt does), what the signed
//! `Release` promises, the `Packages` indexes it lists, and a transactional
//! `update` that keeps nothing that failed a check.

pub mod index;
pub mod release;
pub mod sources;
pub mod update;
pub mod verify;

use std::path::PathBuf;

use crate::control::ControlError;
use crate::http::HttpError;

pub use index::{PackageIndex, PackageRef, read_packages, read_packages_compressed};
pub use release::{Release, ReleaseFile};
pub use sources::{SignedBy, Source, read_sources};
pub use update::{HttpClient, IndexSummary, UpdateSummary, update};
pub use verify::{Keyring, verify_detached, verify_inrelease};

/// Every failed step of reading, verifying and updating apt metadata.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    #[error("cannot read `{path}`")]
    ReadSources {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid deb822 sources file")]
    ParseSources {
        path: PathBuf,
        #[source]
        source: ControlError,
    },
    #[error("`{path}` line {line}: {reason}")]
    BadSourceLine { path: PathBuf, line: usize, reason: String },
    #[error("`{path}`: field `{field}` {reason}")]
    BadSourceField { path: PathBuf, field: &'static str, reason: String },
    #[error(
        "the source `{uri}` has no `Signed-By` keyring\nhint: add `Signed-By: /usr/share/keyrings/NAME.gpg` to its entry"
    )]
    NoSignedBy { uri: String },
    #[error("cannot read the keyring `{path}`")]
    ReadKeyring {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the armored key in {what} is malformed: {reason}")]
    Dearmor { what: String, reason: &'static str },
    #[error("cannot prepare the temporary files for `gpgv`")]
    GpgvScratch {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run `gpgv`\nhint: install the `gpgv` package")]
    RunGpgv {
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not a single clearsigned message: {reason}")]
    NotClearsigned { what: String, reason: &'static str },
    #[error("the signature on {what} is refused: {reason}")]
    SignatureRefused { what: String, reason: String },
    #[error("the signature on {what} uses the weak hash algorithm {algorithm} (SHA-1 or MD5)")]
    WeakDigest { what: String, algorithm: u32 },
    #[error("{what} is not a valid Release file")]
    ParseRelease {
        what: String,
        #[source]
        source: ControlError,
    },
    #[error("{what}: field `{field}` {reason}")]
    BadReleaseField { what: String, field: &'static str, reason: String },
    #[error(
        "{what} expired at its `Valid-Until` ({valid_until})\nhint: the mirror is stale, or someone replays old metadata"
    )]
    Expired { what: String, valid_until: String },
    #[error("{what} has a `Date` in the future ({date})\nhint: check this machine's clock")]
    DateInFuture { what: String, date: String },
    #[error(
        "{what} is older (`Date` {date}) than the cached one ({cached})\nhint: the mirror went back in time, or someone replays old metadata"
    )]
    Replay { what: String, date: String, cached: String },
    #[error("`{url}` is signed for the suite `{found}`, not `{suite}`")]
    WrongSuite { url: String, suite: String, found: String },
    #[error("`{url}` has {actual} bytes where the Release declares {expected}")]
    SizeMismatch { url: String, expected: u64, actual: u64 },
    #[error("`{url}` has sha256 {actual} where the Release declares {expected}")]
    HashMismatch { url: String, expected: String, actual: String },
    #[error("the Release of `{suite}` lists no `{path}` (.xz or .gz) with a SHA256 entry")]
    NotInRelease { suite: String, path: String },
    #[error("cannot decompress `{path}`")]
    Decompress {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid Packages index")]
    ParsePackages {
        path: String,
        #[source]
        source: ControlError,
    },
    #[error("`{path}`: a package ({package}) has a bad or missing `{field}`")]
    BadPackageField { path: String, package: String, field: &'static str },
    #[error("`{path}` is larger than the 4 GiB a Packages index may hold")]
    IndexTooLarge { path: String },
    #[error("cannot write the metadata cache at `{path}`")]
    WriteCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the cached `{path}`")]
    ReadCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A failed fetch: the shared client's error, with its message.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Parses 64 hex digits into a sha256 digest.
pub(crate) fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        out[i] = (high * 16 + low) as u8;
    }
    Some(out)
}
