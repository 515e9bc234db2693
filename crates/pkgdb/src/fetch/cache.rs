//! The package cache on disk: verified files named by their sha256,
//! `CACHE/sha256/ab/cdef…` (the first two hex digits, then the other 62),
//! staged under unique names in `CACHE/tmp/` on the same filesystem.
//!
//! A file is trusted because its name is its hash: it got that name only
//! after its size and sha256 matched. A lookup re-checks only the size.
//! Entering the cache is a no-clobber rename, so two processes filling one
//! cache at once are safe and the first complete file wins. Caches skip
//! the fsyncs (STYLE.md): after a crash a file is at worst truncated,
//! which the size check catches, and is downloaded again.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::FetchError;
use crate::apt::hex;

/// Staging files untouched this long belong to no live download (a
/// download writes as it goes, and gives up long before) and are deleted.
const STALE_STAGING: Duration = Duration::from_secs(24 * 3600);

/// A directory of verified package files keyed by sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageCache {
    root: PathBuf,
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    Hit(PathBuf),
    Miss,
    /// Something with the right name and the wrong size or type: a file
    /// truncated by a crash, or tampered with.
    Damaged(PathBuf),
}

impl PackageCache {
    /// The cache at `root`; nothing is created until a file is stored.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PackageCache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file with this sha256 lives, present or not.
    pub fn path_of(&self, sha256: &[u8; 32]) -> PathBuf {
        let name = hex(sha256);
        self.root.join("sha256").join(&name[..2]).join(&name[2..])
    }

    /// The cached file with this sha256, if it is there with `size` bytes.
    pub fn get_optional(&self, sha256: &[u8; 32], size: u64) -> Result<Option<PathBuf>, FetchError> {
        match self.lookup(sha256, size)? {
            Lookup::Hit(path) => Ok(Some(path)),
            Lookup::Miss | Lookup::Damaged(_) => Ok(None),
        }
    }

    pub(crate) fn lookup(&self, sha256: &[u8; 32], size: u64) -> Result<Lookup, FetchError> {
        let path = self.path_of(sha256);
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_file() && metadata.len() == size => Ok(Lookup::Hit(path)),
            Ok(_) => Ok(Lookup::Damaged(path)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Lookup::Miss),
            Err(source) => Err(FetchError::ReadCache { path, source }),
        }
    }

    fn staging_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Creates the staging directory, and deletes staging files that a
    /// killed process left behind.
    pub(crate) fn ensure_staging(&self, package: &str) -> Result<(), FetchError> {
        let staging = self.staging_dir();
        std::fs::create_dir_all(&staging).map_err(|source| FetchError::WriteCache {
            package: package.to_owned(),
            path: staging.clone(),
            source,
        })?;
        let Ok(entries) = std::fs::read_dir(&staging) else { return Ok(()) };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| now.duration_since(modified).is_ok_and(|age| age > STALE_STAGING));
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// A new staging file under a unique name, deleted when dropped.
    pub(crate) fn stage(&self, package: &str, sha256: &[u8; 32]) -> Result<tempfile::NamedTempFile, FetchError> {
        let staging = self.staging_dir();
        tempfile::Builder::new()
            .prefix(&format!("{}.", hex(sha256)))
            .tempfile_in(&staging)
            .map_err(|source| FetchError::WriteCache { package: package.to_owned(), path: staging, source })
    }

    /// Removes a damaged entry so that a verified one can take its name.
    pub(crate) fn remove_damaged(&self, package: &str, path: &Path) -> Result<(), FetchError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FetchError::WriteCache { package: package.to_owned(), path: path.to_owned(), source }),
        }
    }

    /// Moves a verified staging file to its name, read-only. If another
    /// process got there first, its file wins and the staging file goes.
    pub(crate) fn commit(
        &self,
        package: &str,
        staged: tempfile::NamedTempFile,
        sha256: &[u8; 32],
    ) -> Result<PathBuf, FetchError> {
        let path = self.path_of(sha256);
        let write_error =
            |path: &Path, source| FetchError::WriteCache { package: package.to_owned(), path: path.to_owned(), source };
        staged
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o444))
            .map_err(|e| write_error(staged.path(), e))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        }
        match staged.persist_noclobber(&path) {
            Ok(_) => Ok(path),
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => Ok(path),
            Err(e) => Err(write_error(&path, e.error)),
        }
    }
}
