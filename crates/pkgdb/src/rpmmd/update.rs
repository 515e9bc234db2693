//! `update`: fetch a repository's `repodata/repomd.xml` and its signature,
//! verify them, and fetch the `primary` and `filelists` files it lists,
//! all into a staging directory. Only when every file matched the sizes
//! and checksums `repomd.xml` declares (and primary parsed) does the cache
//! entry move to the new generation, with one rename of a symlink; on any
//! failure the old metadata stays as it was and the staging directory is
//! deleted (SECURITY.md 19, 20, 22, 24).
//!
//! Cache layout: `CACHE/KEY` (the repository id made a plain name) is a
//! symlink to `CACHE/.KEY.GENERATION/`, which holds `repomd.xml`,
//! `repomd.xml.asc` when the repository signs it, and the data files under
//! their own names (`HASH-primary.xml.zst`). [`CachedRepo`] reads it back.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::compression::{MAX_OPEN_SIZE, decompress};
use super::filelists::{FileListEntry, read_filelists};
use super::primary::{FileKind, Primary};
use super::repofile::RepoConfig;
use super::repomd::{DataFile, Hasher, Repomd};
use super::{Repository, RpmmdError};
use crate::apt::verify_detached;
use crate::http::{HttpClient, encode_path};

/// `repomd.xml` bodies longer than this are refused.
pub const MAX_REPOMD_SIZE: u64 = 10 << 20;
/// `repomd.xml.asc` bodies longer than this are refused.
pub const MAX_SIGNATURE_SIZE: u64 = 1 << 20;
/// Staging directories older than this, left by a killed update, are
/// removed by the next update of the same repository.
const STALE_STAGING: Duration = Duration::from_secs(60 * 60);

const REPOMD: &str = "repomd.xml";
const REPOMD_SIGNATURE: &str = "repomd.xml.asc";
/// The data files fetched, each required or not.
const FETCHED: [(&str, bool); 2] = [("primary", true), ("filelists", false)];

/// What an update kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSummary {
    /// `CACHE/KEY`, the directory now holding this repository's metadata.
    pub directory: PathBuf,
    /// The mirror (one of the repository's `baseurl`s) it came from.
    pub baseurl: String,
    pub revision: Option<String>,
    /// The newest timestamp in `repomd.xml`.
    pub timestamp: Option<u64>,
    /// Fingerprints of the keys whose signatures on `repomd.xml` were
    /// valid; empty when the repository does not require one.
    pub signed_by: Vec<String>,
    /// `repomd.xml` was the cached one: nothing was fetched beyond it.
    pub unchanged: bool,
    /// Packages in primary, when it was fetched.
    pub packages: Option<usize>,
}

/// The cache entry of `repo` in `cache_dir`: `CACHE/KEY`.
pub fn cache_directory(repo: &RepoConfig, cache_dir: &Path) -> PathBuf {
    cache_dir.join(cache_key(&repo.id))
}

/// The repository id as a plain file name: never `.`-led (staging and
/// generations are), never `..`, no `/`.
fn cache_key(id: &str) -> String {
    let key: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if key.is_empty() || key.starts_with('.') { format!("_{key}") } else { key }
}

/// Updates the metadata of one repository, from the first of its
/// `baseurl`s that gives a complete, verified set: `repomd.xml` (with
/// `repomd.xml.asc` verified against only the repository's keys when
/// `repo_gpgcheck` is on), no older than the cached one, then its primary
/// and filelists, each kept only if its size and checksum match. Nothing in
/// `cache_dir` changes unless every step succeeds. When every mirror fails,
/// the first one's error is returned.
pub fn update(
    repo: &Repository,
    cache_dir: &Path,
    now: SystemTime,
    client: &HttpClient,
) -> Result<UpdateSummary, RpmmdError> {
    let config = &repo.config;
    if config.repo_gpgcheck && repo.keys.is_empty() {
        return Err(RpmmdError::NoKeys { repo: config.id.clone(), option: "repo_gpgcheck" });
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|source| RpmmdError::WriteCache { path: cache_dir.to_owned(), source })?;
    let directory = cache_directory(config, cache_dir);
    let cached = Cached::read(&directory)?;
    let mut first_error = None;
    for baseurl in &config.baseurls {
        let attempt = Attempt { repo, baseurl, cache_dir, directory: &directory, cached: cached.as_ref(), now, client };
        match attempt.run() {
            Ok(summary) => return Ok(summary),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| RpmmdError::NoBaseurl {
        repo: config.id.clone(),
        has_mirror_list: config.metalink.is_some() || config.mirrorlist.is_some(),
    }))
}

/// The metadata kept by the last good update.
struct Cached {
    bytes: Vec<u8>,
    repomd: Repomd,
    signed: bool,
}

impl Cached {
    fn read(directory: &Path) -> Result<Option<Cached>, RpmmdError> {
        let path = directory.join(REPOMD);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RpmmdError::ReadCache { path, source }),
        };
        let repomd = Repomd::parse(&bytes[..], &path.display().to_string())?;
        let signed = directory.join(REPOMD_SIGNATURE).exists();
        Ok(Some(Cached { bytes, repomd, signed }))
    }

    /// Whether every data file we fetch is in the cache with its size.
    fn complete(&self, directory: &Path) -> bool {
        FETCHED.iter().filter_map(|(kind, _)| self.repomd.data(kind)).all(|entry| {
            let Ok(name) = cache_name(entry) else { return false };
            let size = std::fs::metadata(directory.join(name)).map(|m| m.len()).ok();
            size.is_some() && size == entry.size
        })
    }
}

/// The name a data file is kept under: its location's last segment, which
/// must not be one of ours.
fn cache_name(entry: &DataFile) -> Result<&str, &'static str> {
    let name = entry.location.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." || name == REPOMD || name == REPOMD_SIGNATURE {
        return Err("its file name is empty or reserved");
    }
    Ok(name)
}

/// One try of one mirror.
struct Attempt<'a> {
    repo: &'a Repository,
    baseurl: &'a str,
    cache_dir: &'a Path,
    directory: &'a Path,
    cached: Option<&'a Cached>,
    now: SystemTime,
    client: &'a HttpClient,
}

impl Attempt<'_> {
    fn run(&self) -> Result<UpdateSummary, RpmmdError> {
        let config = &self.repo.config;
        let url = format!("{}/repodata/{REPOMD}", self.baseurl.trim_end_matches('/'));
        let body = self.client.get(&url, MAX_REPOMD_SIZE)?;
        let signature = self.client.get_optional(&format!("{url}.asc"), MAX_SIGNATURE_SIZE)?;
        let signed_by = match (&signature, config.repo_gpgcheck) {
            (None, true) => return Err(RpmmdError::MissingSignature { url }),
            (None, false) if self.cached.is_some_and(|c| c.signed) => {
                return Err(RpmmdError::NoLongerSigned { url, cache: self.directory.to_owned() });
            }
            (Some(signature), true) => {
                verify_detached(&body, signature, &format!("`{url}`"), &self.repo.keys)
                    .map_err(|source| RpmmdError::RepomdSignature { url: url.clone(), source: Box::new(source) })?
                    .fingerprints
            }
            _ => Vec::new(),
        };
        let repomd = Repomd::parse(&body[..], &url)?;
        repomd.require_fresh(&url, self.now, self.cached.map(|c| &c.repomd))?;
        let summary = |unchanged, packages| UpdateSummary {
            directory: self.directory.to_owned(),
            baseurl: self.baseurl.to_owned(),
            revision: repomd.revision.clone(),
            timestamp: repomd.timestamp(),
            signed_by: signed_by.clone(),
            unchanged,
            packages,
        };
        if let Some(cached) = self.cached
            && cached.bytes == body
            && cached.signed == signature.is_some()
            && cached.complete(self.directory)
        {
            return Ok(summary(true, None));
        }

        let key = cache_key(&config.id);
        reclaim_stale_staging(self.cache_dir, &key, self.directory);
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{key}."))
            .tempdir_in(self.cache_dir)
            .map_err(|source| RpmmdError::WriteCache { path: self.cache_dir.to_owned(), source })?;
        let mut packages = None;
        let mut names: Vec<&str> = Vec::new();
        for (kind, required) in FETCHED {
            let Some(entry) = repomd.data(kind) else {
                if required {
                    return Err(RpmmdError::MissingData { url, kind });
                }
                continue;
            };
            let name = cache_name(entry).map_err(|reason| RpmmdError::BadMetadata {
                what: url.clone(),
                position: 0,
                reason: format!("the `{kind}` entry's location `{}` is refused: {reason}", entry.location),
            })?;
            if names.contains(&name) {
                return Err(RpmmdError::BadMetadata {
                    what: url.clone(),
                    position: 0,
                    reason: format!("two entries share the file name `{name}`"),
                });
            }
            names.push(name);
            let file_url = format!("{}/{}", self.baseurl.trim_end_matches('/'), encode_path(&entry.location));
            let path = staging.path().join(name);
            fetch_verified(self.client, &file_url, entry, &path)?;
            if kind == "primary" {
                packages = Some(read_primary(&path, entry, &file_url)?.len());
            }
        }
        let write = |name: &str, bytes: &[u8]| {
            let path = staging.path().join(name);
            std::fs::write(&path, bytes).map_err(|source| RpmmdError::WriteCache { path, source })
        };
        write(REPOMD, &body)?;
        if let Some(signature) = &signature {
            write(REPOMD_SIGNATURE, signature)?;
        }
        commit(staging, self.directory, self.cache_dir)?;
        Ok(summary(false, packages))
    }
}

/// Streams `url` into `path`, cut off at the declared size, and keeps it
/// only if its size and checksum match `entry`.
fn fetch_verified(client: &HttpClient, url: &str, entry: &DataFile, path: &Path) -> Result<(), RpmmdError> {
    let expected = entry.size.ok_or_else(|| RpmmdError::BadMetadata {
        what: url.to_owned(),
        position: 0,
        reason: format!("`repomd.xml` declares no size for the `{}` entry", entry.kind),
    })?;
    let write_error = |source| RpmmdError::WriteCache { path: path.to_owned(), source };
    let file = File::create(path).map_err(write_error)?;
    let mut out = HashingWriter { file: std::io::BufWriter::new(file), hasher: entry.checksum.kind.hasher() };
    let actual = client.get_to(url, expected, &mut out)?;
    out.file.flush().map_err(write_error)?;
    if actual != expected {
        return Err(RpmmdError::SizeMismatch { url: url.to_owned(), expected, actual });
    }
    let digest = out.hasher.finish_hex();
    if digest != entry.checksum.hex {
        return Err(RpmmdError::HashMismatch {
            url: url.to_owned(),
            expected: entry.checksum.to_string(),
            actual: format!("{}:{digest}", entry.checksum.kind.as_str()),
        });
    }
    Ok(())
}

struct HashingWriter {
    file: std::io::BufWriter<File>,
    hasher: Hasher,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The decompressed stream of a data file, stopped at its declared open size.
fn open_data(path: &Path, entry: &DataFile, what: &str) -> Result<BufReader<Box<dyn std::io::Read>>, RpmmdError> {
    let file = File::open(path).map_err(|source| RpmmdError::ReadCache { path: path.to_owned(), source })?;
    let limit = entry.open_size.unwrap_or(MAX_OPEN_SIZE).min(MAX_OPEN_SIZE);
    let reader = decompress(BufReader::new(file), limit)
        .map_err(|source| RpmmdError::Decompress { what: what.to_owned(), source })?;
    Ok(BufReader::with_capacity(256 << 10, reader))
}

fn read_primary(path: &Path, entry: &DataFile, what: &str) -> Result<Primary, RpmmdError> {
    Primary::parse(open_data(path, entry, what)?, what)
}

/// Removes `.KEY.*` directories other than the current generation that a
/// killed update left behind, once they are old enough not to be another
/// update's staging.
fn reclaim_stale_staging(cache_dir: &Path, key: &str, directory: &Path) {
    let current = std::fs::read_link(directory).ok();
    let prefix = format!(".{key}.");
    let Ok(entries) = std::fs::read_dir(cache_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        // Another key's generations share the prefix only if the rest has a dot.
        let Some(rest) = text.strip_prefix(&prefix) else { continue };
        if rest.contains('.') || current.as_deref().is_some_and(|c| c.as_os_str() == name.as_os_str()) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > STALE_STAGING);
        if stale && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Points `directory` (a symlink) at the staged generation with one rename,
/// then deletes the previous generation.
fn commit(staging: tempfile::TempDir, directory: &Path, cache_dir: &Path) -> Result<(), RpmmdError> {
    crate::cache_generation::publish(staging, directory, cache_dir)
        .map_err(|(path, source)| RpmmdError::WriteCache { path, source })
}

/// A repository's metadata as the last good [`update()`] kept it.
#[derive(Debug, Clone)]
pub struct CachedRepo {
    pub id: String,
    /// `CACHE/KEY`.
    pub directory: PathBuf,
    pub repomd: Repomd,
    /// Whether `repomd.xml.asc` was kept with it.
    pub signed: bool,
}

impl CachedRepo {
    /// The cached metadata of `repo`; [`RpmmdError::NotCached`] when there is none.
    pub fn open(repo: &RepoConfig, cache_dir: &Path) -> Result<CachedRepo, RpmmdError> {
        let directory = cache_directory(repo, cache_dir);
        let cached = Cached::read(&directory)?.ok_or_else(|| RpmmdError::NotCached { repo: repo.id.clone() })?;
        Ok(CachedRepo { id: repo.id.clone(), directory, repomd: cached.repomd, signed: cached.signed })
    }

    /// The path and entry of a data file, checked again against its size
    /// and checksum (the cache may have rotted since the update).
    fn verified_data(&self, kind: &'static str) -> Result<Option<(PathBuf, DataFile)>, RpmmdError> {
        let Some(entry) = self.repomd.data(kind) else { return Ok(None) };
        let name = cache_name(entry).map_err(|_| RpmmdError::NotCached { repo: self.id.clone() })?;
        let path = self.directory.join(name);
        let what = path.display().to_string();
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(RpmmdError::NotCached { repo: self.id.clone() }),
            Err(source) => return Err(RpmmdError::ReadCache { path, source }),
        };
        let mut hasher = entry.checksum.kind.hasher();
        let size = std::io::copy(&mut file, &mut hasher)
            .map_err(|source| RpmmdError::ReadCache { path: path.clone(), source })?;
        if Some(size) != entry.size {
            return Err(RpmmdError::SizeMismatch { url: what, expected: entry.size.unwrap_or(0), actual: size });
        }
        let digest = hasher.finish_hex();
        if digest != entry.checksum.hex {
            return Err(RpmmdError::HashMismatch {
                url: what,
                expected: entry.checksum.to_string(),
                actual: format!("{}:{digest}", entry.checksum.kind.as_str()),
            });
        }
        Ok(Some((path, entry.clone())))
    }

    /// Reads the cached primary.
    pub fn primary(&self) -> Result<Primary, RpmmdError> {
        let (path, entry) =
            self.verified_data("primary")?.ok_or_else(|| RpmmdError::NotCached { repo: self.id.clone() })?;
        read_primary(&path, &entry, &path.display().to_string())
    }

    /// The cached filelists, read on demand; `None` when the repository has none.
    pub fn filelists(&self) -> Result<Option<CachedFileLists>, RpmmdError> {
        Ok(self.verified_data("filelists")?.map(|(path, entry)| CachedFileLists { path, entry }))
    }
}

/// A verified, cached `filelists.xml`; each query streams it once.
#[derive(Debug, Clone)]
pub struct CachedFileLists {
    path: PathBuf,
    entry: DataFile,
}

impl CachedFileLists {
    /// Calls `f` for each package until it breaks; see [`read_filelists`].
    pub fn for_each(&self, f: impl FnMut(&FileListEntry) -> ControlFlow<()>) -> Result<(), RpmmdError> {
        let what = self.path.display().to_string();
        read_filelists(open_data(&self.path, &self.entry, &what)?, &what, f)
    }

    /// The files of the package whose checksum (pkgid) is `pkgid`, or
    /// `None` when filelists does not list it.
    pub fn files_of(&self, pkgid: &str) -> Result<Option<Vec<(String, FileKind)>>, RpmmdError> {
        let pkgid = pkgid.to_ascii_lowercase();
        let mut found = None;
        self.for_each(|entry| {
            if entry.pkgid != pkgid {
                return ControlFlow::Continue(());
            }
            found = Some(entry.files().map(|f| (f.path.to_owned(), f.kind)).collect());
            ControlFlow::Break(())
        })?;
        Ok(found)
    }

    /// For each of `paths`, the pkgids of the packages that list it (file
    /// provides), in filelists order.
    pub fn owners(&self, paths: &[&str]) -> Result<Vec<(String, Vec<String>)>, RpmmdError> {
        let mut owners: Vec<(String, Vec<String>)> = paths.iter().map(|p| ((*p).to_owned(), Vec::new())).collect();
        let index: std::collections::HashMap<&str, usize> = paths.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        self.for_each(|entry| {
            for file in entry.files() {
                if let Some(&at) = index.get(file.path) {
                    owners[at].1.push(entry.pkgid.clone());
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok(owners)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_are_plain_names() {
        assert_eq!(cache_key("fedora"), "fedora");
        assert_eq!(cache_key("copr:copr.fedorainfracloud.org:user:proj"), "copr_copr.fedorainfracloud.org_user_proj");
        assert_eq!(cache_key(".."), "_..");
        assert_eq!(cache_key("a/b"), "a_b");
        assert_eq!(cache_key(""), "_");
    }
}
