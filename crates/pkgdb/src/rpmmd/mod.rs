//! rpm-md repositories (dnf's and yum's): where they are (`.repo` files in
//! an image root), what their `repodata/repomd.xml` promises and how its
//! `repomd.xml.asc` is verified (the system `gpgv`, as for apt), the
//! packages of `primary.xml` in a compact in-memory form, the file lists
//! of `filelists.xml` read on demand, a transactional [`update()`] that
//! keeps nothing that failed a check, and the signature policy for the
//! packages themselves.
//!
//! Like [`crate::apt`], parsers take `impl BufRead` and know nothing of
//! the filesystem or the network; [`update()`] and [`CachedRepo`] are the
//! adapters on top.

pub mod compression;
pub mod evr;
pub mod filelists;
pub mod keys;
pub mod primary;
pub mod repofile;
pub mod repomd;
pub mod root;
pub mod signature;
pub mod update;
mod xml;

use std::path::PathBuf;

use crate::apt::AptError;
use crate::http::HttpError;
use crate::rpm::RpmError;

pub use evr::{Evr, rpmvercmp};
pub use filelists::{FileListEntry, read_filelists};
pub use keys::read_keys;
pub use primary::{Dep, DepKind, FileKind, PackageFile, PackageRef, Primary};
pub use repofile::{RepoConfig, Vars, parse_repo_file, read_repo_files};
pub use repomd::{Checksum, ChecksumType, DataFile, Repomd};
pub use signature::{PackageSignature, require_package_signature, verify_package_signature};
pub use update::{CachedFileLists, CachedRepo, UpdateSummary, cache_directory, update};

/// A configured repository with the keys its `gpgkey`s name, read inside
/// the image root.
#[derive(Debug, Clone)]
pub struct Repository {
    pub config: RepoConfig,
    pub keys: Vec<crate::apt::Keyring>,
}

/// The enabled repositories of the image at `root`, with their keys (see
/// [`read_repo_files`] and [`read_keys`]).
pub fn read_repositories(root: &std::path::Path) -> Result<Vec<Repository>, RpmmdError> {
    let root_dir =
        root::RootDir::open(root).map_err(|source| RpmmdError::ReadConfig { path: root.to_owned(), source })?;
    let mut repositories = Vec::new();
    for config in read_repo_files(root)?.into_iter().filter(|r| r.enabled) {
        let keys = read_keys(&root_dir, &config)?;
        repositories.push(Repository { config, keys });
    }
    Ok(repositories)
}

/// Every failed step of reading, verifying and updating rpm-md metadata and
/// of checking a package's signature.
#[derive(Debug, thiserror::Error)]
pub enum RpmmdError {
    #[error("cannot read `{}`", path.display())]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` line {line}: {reason}", path.display())]
    BadRepoFile { path: PathBuf, line: usize, reason: String },
    #[error("`{}`, repository `{repo}`: `{option}`: {reason}", path.display())]
    BadRepoOption { path: PathBuf, repo: String, option: String, reason: String },
    #[error("the repository id `{id}` is defined twice, in `{}` and `{}`", first.display(), second.display())]
    DuplicateRepo { id: String, first: PathBuf, second: PathBuf },
    #[error(
        "the key `{key}` of the repository `{repo}` is refused: {reason}\nhint: install the key in the image and name it with a `file:///` URL"
    )]
    UnsupportedKeyUrl { repo: String, key: String, reason: &'static str },
    #[error("the key `{key}` of the repository `{repo}` does not exist in `{}`", root.display())]
    MissingKey { repo: String, key: String, root: PathBuf },
    #[error("cannot read the key `{key}` of the repository `{repo}`")]
    ReadKey {
        repo: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the repository `{repo}` sets `{option}=1` but names no `gpgkey`\nhint: add `gpgkey=file:///etc/pki/rpm-gpg/KEY` to its section"
    )]
    NoKeys { repo: String, option: &'static str },
    #[error(
        "the repository `{repo}` has no `baseurl`{}",
        if *has_mirror_list { " (`metalink` and `mirrorlist` are not supported)\nhint: set `baseurl` to a mirror" } else { "" }
    )]
    NoBaseurl { repo: String, has_mirror_list: bool },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(
        "`{url}` has no signature (`repomd.xml.asc`), and the repository requires one (`repo_gpgcheck=1`)\nhint: the mirror may be incomplete, or someone serves forged metadata"
    )]
    MissingSignature { url: String },
    #[error(
        "`{url}` is no longer signed, but the cached metadata of this repository was\nhint: someone may serve forged metadata; if the repository really dropped its signature, remove `{}`",
        cache.display()
    )]
    NoLongerSigned { url: String, cache: PathBuf },
    #[error("the signature of `{url}` is refused")]
    RepomdSignature {
        url: String,
        #[source]
        source: Box<AptError>,
    },
    #[error("`{what}` is not valid XML (at byte {position})")]
    ParseXml {
        what: String,
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
    #[error("cannot read `{what}`")]
    ReadMetadata {
        what: String,
        #[source]
        source: quick_xml::Error,
    },
    #[error("`{what}` (at byte {position}): {reason}")]
    BadMetadata { what: String, position: u64, reason: String },
    #[error("`{what}` decompresses to more than {limit} bytes; it was refused")]
    TooLarge { what: String, limit: u64 },
    #[error("cannot decompress `{what}`")]
    Decompress {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{url}` lists no `{kind}` metadata")]
    MissingData { url: String, kind: &'static str },
    #[error("`{what}` has the checksum type `{checksum_type}`; only sha256 and sha512 are accepted")]
    UnsupportedChecksum { what: String, checksum_type: String },
    #[error("`{url}` has {actual} bytes where `repomd.xml` declares {expected}\n{MISMATCH_HINT}")]
    SizeMismatch { url: String, expected: u64, actual: u64 },
    #[error("`{url}` has the checksum {actual} where `repomd.xml` declares {expected}\n{MISMATCH_HINT}")]
    HashMismatch { url: String, expected: String, actual: String },
    #[error(
        "`{url}` is older ({found}) than the cached metadata ({cached})\nhint: the mirror went back in time, or someone replays old metadata"
    )]
    Replay { url: String, found: String, cached: String },
    #[error("`{url}` has a timestamp in the future ({timestamp})\nhint: check this machine's clock")]
    InFuture { url: String, timestamp: u64 },
    #[error("cannot write the metadata cache at `{}`", path.display())]
    WriteCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the cached `{}`", path.display())]
    ReadCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "there is no cached metadata for the repository `{repo}`\nhint: update the repository metadata (run without `--cache-only`)"
    )]
    NotCached { repo: String },
    #[error("the package `{package}` cannot be downloaded from `repomd.xml`'s location `{location}`: {reason}")]
    PackageLocation { package: String, location: String, reason: &'static str },
    #[error("the package `{package}` has a `{checksum_type}` checksum; downloads are verified by sha256")]
    PackageChecksum { package: String, checksum_type: String },
    #[error("cannot read the package `{}`", path.display())]
    OpenPackage {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the package `{}`", path.display())]
    ReadPackage {
        path: PathBuf,
        #[source]
        source: Box<RpmError>,
    },
    #[error(
        "the package `{package}` cannot be verified: {reason}\nhint: it must be signed by a key in the repository's `gpgkey` (`gpgcheck=1`)"
    )]
    PackageNotVerified {
        package: String,
        reason: String,
        #[source]
        source: Option<Box<AptError>>,
    },
}

const MISMATCH_HINT: &str =
    "hint: the mirror may be in the middle of a sync, or the file was tampered with; try again later";
