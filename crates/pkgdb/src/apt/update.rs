//! `update`: fetch a suite's signed `InRelease`, verify it, and fetch the
//! `Packages` indexes it lists, all into a staging directory. Only when
//! every file matched the signed sizes and hashes does the cache entry move
//! to the new generation, with one rename of a symlink; on any failure the
//! old metadata stays as it was and the staging directory is deleted.
//!
//! Cache layout: `CACHE/KEY` is a symlink to `CACHE/KEY.GENERATION/`, which
//! holds `InRelease` (as fetched), `Release` (the verified signed text) and
//! the indexes under their Release paths (`main/binary-amd64/Packages.xz`).
//! An update whose verified, fresh InRelease is the one the cache holds
//! writes nothing; one with a new Release links each index the cached
//! Release listed the same way into the new generation instead of fetching
//! it again.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::index::{read_packages_compressed, sha256};
use super::release::{Release, ReleaseFile};
use super::sources::Source;
use super::verify::{Keyring, Verified, verify_detached, verify_inrelease};
use super::{AptError, hex};
// The client moved to `crate::http`; these paths keep working.
pub use crate::http::{MAX_REDIRECTS, resolve_redirect};

/// `InRelease` and `Release` bodies longer than this are refused.
pub const MAX_RELEASE_SIZE: u64 = 10 << 20;
/// `Release.gpg` bodies longer than this are refused.
pub const MAX_SIGNATURE_SIZE: u64 = 1 << 20;
/// The architecture indexes are fetched for when the source names none.
pub const DEFAULT_ARCHITECTURE: &str = "amd64";

/// The crate's one HTTP client ([`crate::http::HttpClient`]) with its
/// errors as [`AptError`]s, as they were when the client lived here. It
/// derefs to the shared client, so it can be passed wherever that one is
/// wanted (such as [`crate::fetch::fetch`]) and both use one connection
/// pool.
#[derive(Debug, Clone, Default)]
pub struct HttpClient(crate::http::HttpClient);

impl HttpClient {
    pub fn new() -> Self {
        HttpClient(crate::http::HttpClient::new())
    }

    /// See [`crate::http::HttpClient::get_optional`].
    pub fn get_optional(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, AptError> {
        Ok(self.0.get_optional(url, limit)?)
    }

    /// See [`crate::http::HttpClient::get`].
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, AptError> {
        Ok(self.0.get(url, limit)?)
    }
}

impl From<crate::http::HttpClient> for HttpClient {
    fn from(client: crate::http::HttpClient) -> Self {
        HttpClient(client)
    }
}

impl std::ops::Deref for HttpClient {
    type Target = crate::http::HttpClient;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// What an update kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSummary {
    /// `CACHE/KEY`, the directory now holding this suite's metadata.
    pub directory: PathBuf,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub date: SystemTime,
    /// Fingerprints of the keys whose signatures were valid.
    pub signed_by: Vec<String>,
    pub indexes: Vec<IndexSummary>,
}

/// One verified index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSummary {
    /// The path in the Release, such as `main/binary-amd64/Packages.xz`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Packages in the index, when it was fetched and parsed; `None` when
    /// the cached copy had the Release's size and sha256 and was kept.
    pub packages: Option<usize>,
}

/// Where a cache derived from the index at `index` (whose sha256 is
/// `sha256_hex`) is kept: beside it, named after both, so that it travels
/// with exactly that index from one update to the next.
pub fn derived_cache_path(index: &Path, sha256_hex: &str, what: &str) -> PathBuf {
    let name = index.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    index.with_file_name(format!(".{name}.{sha256_hex}.{what}"))
}

/// The cache entry of `source` in `cache_dir`: `CACHE/KEY`.
pub fn cache_directory(source: &Source, cache_dir: &Path) -> PathBuf {
    cache_dir.join(cache_key(source))
}

fn cache_key(source: &Source) -> String {
    let uri = source.uri.split_once("://").map_or(source.uri.as_str(), |(_, rest)| rest);
    format!("{uri}/dists/{}", source.suite)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect()
}

/// Updates the metadata of one suite: fetch and verify `InRelease` (or
/// `Release` + `Release.gpg`) against only the source's `Signed-By` keys,
/// check its dates against `now` and the cached Release, then fetch each
/// component's `Packages.xz` (or `.gz`) for the source's first architecture
/// (or [`DEFAULT_ARCHITECTURE`]), by hash when the Release allows it, and
/// keep it only if its size and sha256 match. Nothing in `cache_dir`
/// changes unless every step succeeds, and nothing at all when the
/// verified file is the one the cache already holds.
pub fn update(
    source: &Source,
    cache_dir: &Path,
    now: SystemTime,
    client: &HttpClient,
) -> Result<UpdateSummary, AptError> {
    let signed_by = source.signed_by.as_ref().ok_or_else(|| AptError::NoSignedBy { uri: source.uri.clone() })?;
    let base = format!("{}/dists/{}", source.uri, source.suite);
    let keyrings = Keyring::from_signed_by(signed_by, &format!("`{}`", source.file.display()));

    let (fetched, verified, release_url) = fetch_release(client, &base, &keyrings)?;
    let release = Release::parse(&verified.signed_text, &format!("`{release_url}`"))?;
    let directory = cache_directory(source, cache_dir);
    let cached = read_cached_release(&directory)?;
    release.require_fresh(&format!("`{release_url}`"), now, cached.as_ref())?;
    require_suite(&release, source, &release_url)?;

    let entries = index_entries(&release, source)?;
    let summary = |indexes: Vec<IndexSummary>| UpdateSummary {
        directory: directory.clone(),
        suite: release.suite.clone(),
        codename: release.codename.clone(),
        date: release.date,
        signed_by: verified.fingerprints.clone(),
        indexes,
    };
    let kept = |entry: &ReleaseFile| IndexSummary {
        path: entry.path.clone(),
        size: entry.size,
        sha256: hex(&entry.sha256),
        packages: None,
    };
    // The very signed file the cache holds, with every index it names:
    // the cache is current, and nothing is written.
    if is_current(&directory, &fetched, &verified.signed_text, &entries) {
        return Ok(summary(entries.iter().map(|e| kept(e)).collect()));
    }

    std::fs::create_dir_all(cache_dir).map_err(|source| AptError::WriteCache { path: cache_dir.to_owned(), source })?;
    let key = cache_key(source);
    let staging = tempfile::Builder::new()
        .prefix(&format!("{key}."))
        .tempdir_in(cache_dir)
        .map_err(|source| AptError::WriteCache { path: cache_dir.to_owned(), source })?;
    let staged_path = |name: &str| -> Result<PathBuf, AptError> {
        let path = staging.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| AptError::WriteCache { path: parent.into(), source })?;
        }
        Ok(path)
    };
    let staged = |name: &str, bytes: &[u8]| -> Result<(), AptError> {
        let path = staged_path(name)?;
        std::fs::write(&path, bytes).map_err(|source| AptError::WriteCache { path, source })
    };
    for (name, bytes) in &fetched {
        staged(name, bytes)?;
    }
    staged("Release", &verified.signed_text)?;

    let mut indexes = Vec::new();
    for entry in entries {
        // The cached index, if the Release still names it, as apt keeps it:
        // linked when the cached (verified) Release lists the same file,
        // else kept only if it has the new entry's size and sha256.
        let previous = directory.join(&entry.path);
        let target = staged_path(&entry.path)?;
        let listed_before = cached.as_ref().and_then(|c| c.file(&entry.path)).is_some_and(|before| before == entry);
        let linked = listed_before
            && std::fs::metadata(&previous).is_ok_and(|m| m.len() == entry.size)
            && std::fs::hard_link(&previous, &target).is_ok();
        let packages = if linked {
            None
        } else {
            match kept_index(&previous, entry) {
                Some(body) => {
                    staged(&entry.path, &body)?;
                    None
                }
                None => {
                    let body = fetch_verified(client, &base, &release, entry)?;
                    let packages = read_packages_compressed(&body, &entry.path)?.len();
                    staged(&entry.path, &body)?;
                    Some(packages)
                }
            }
        };
        if packages.is_none() {
            carry_derived_caches(&previous, &target, &hex(&entry.sha256));
        }
        indexes.push(IndexSummary { packages, ..kept(entry) });
    }

    commit(staging, &directory, cache_dir)?;
    Ok(summary(indexes))
}

/// The Release entry of each of `source`'s components' `Packages` index
/// (`.xz`, else `.gz`) for its first architecture.
fn index_entries<'r>(release: &'r Release, source: &Source) -> Result<Vec<&'r ReleaseFile>, AptError> {
    let architecture = source.architectures.first().map_or(DEFAULT_ARCHITECTURE, String::as_str);
    let mut entries = Vec::new();
    for component in &source.components {
        require_plain_path(component, source, "Components")?;
        require_plain_path(architecture, source, "Architectures")?;
        let stem = format!("{component}/binary-{architecture}/Packages");
        let entry = ["xz", "gz"]
            .iter()
            .find_map(|extension| release.file(&format!("{stem}.{extension}")))
            .ok_or_else(|| AptError::NotInRelease { suite: source.suite.clone(), path: stem.clone() })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Whether the cache entry `directory` already holds exactly `fetched`
/// (the signature files as served), the same verified text, and each
/// index `entries` names at its size: all of them were checked when that
/// generation was made.
fn is_current(directory: &Path, fetched: &Fetched, signed_text: &[u8], entries: &[&ReleaseFile]) -> bool {
    let same = |name: &str, bytes: &[u8]| std::fs::read(directory.join(name)).is_ok_and(|cached| cached == bytes);
    fetched.iter().all(|(name, bytes)| same(name, bytes))
        && same("Release", signed_text)
        && entries
            .iter()
            .all(|entry| std::fs::metadata(directory.join(&entry.path)).is_ok_and(|m| m.len() == entry.size))
}

/// Components and architectures become paths in the cache: no `..`, no
/// empty or absolute parts.
fn require_plain_path(value: &str, source: &Source, field: &'static str) -> Result<(), AptError> {
    if value.split('/').all(|part| !part.is_empty() && part != "." && part != "..") {
        return Ok(());
    }
    Err(AptError::BadSourceField {
        path: source.file.clone(),
        field,
        reason: format!("`{value}` is not a plain relative name"),
    })
}

/// The signature files fetched, kept as they came.
type Fetched = Vec<(&'static str, Vec<u8>)>;

/// Refuses a Release signed for another suite (a validly signed file
/// served in the wrong place) when it names its suite at all.
fn require_suite(release: &Release, source: &Source, url: &str) -> Result<(), AptError> {
    let names = [&release.suite, &release.codename];
    if names.iter().all(|n| n.is_none()) || names.iter().any(|n| n.as_deref() == Some(source.suite.as_str())) {
        return Ok(());
    }
    let found = names.iter().filter_map(|n| n.as_deref()).collect::<Vec<_>>().join("/");
    Err(AptError::WrongSuite { url: url.to_owned(), suite: source.suite.clone(), found })
}

/// `InRelease`, or `Release` with its detached `Release.gpg` when the
/// repository has no `InRelease`. Returns the files as fetched, the
/// verified text and the URL it came from.
fn fetch_release(
    client: &HttpClient,
    base: &str,
    keyrings: &[Keyring],
) -> Result<(Fetched, Verified, String), AptError> {
    let url = format!("{base}/InRelease");
    if let Some(body) = client.get_optional(&url, MAX_RELEASE_SIZE)? {
        let verified = verify_inrelease(&body, &format!("`{url}`"), keyrings)?;
        return Ok((vec![("InRelease", body)], verified, url));
    }
    let url = format!("{base}/Release");
    let release = client.get(&url, MAX_RELEASE_SIZE)?;
    let signature = client.get(&format!("{url}.gpg"), MAX_SIGNATURE_SIZE)?;
    let verified = verify_detached(&release, &signature, &format!("`{url}`"), keyrings)?;
    Ok((vec![("Release.gpg", signature)], verified, url))
}

/// Fetches one index, through `by-hash` when the Release allows it, and
/// returns it only if its size and sha256 match the Release.
fn fetch_verified(
    client: &HttpClient,
    base: &str,
    release: &Release,
    entry: &ReleaseFile,
) -> Result<Vec<u8>, AptError> {
    let url = match (release.acquire_by_hash, entry.path.rsplit_once('/')) {
        (true, Some((directory, _))) => format!("{base}/{directory}/by-hash/SHA256/{}", hex(&entry.sha256)),
        _ => format!("{base}/{}", entry.path),
    };
    let body = client.get(&url, entry.size)?;
    if body.len() as u64 != entry.size {
        return Err(AptError::SizeMismatch { url, expected: entry.size, actual: body.len() as u64 });
    }
    let actual = sha256(&body);
    if actual != entry.sha256 {
        return Err(AptError::HashMismatch { url, expected: hex(&entry.sha256), actual: hex(&actual) });
    }
    Ok(body)
}

/// The cached index at `path`, if it has `entry`'s size and sha256.
fn kept_index(path: &Path, entry: &ReleaseFile) -> Option<Vec<u8>> {
    let body = std::fs::read(path).ok()?;
    (body.len() as u64 == entry.size && sha256(&body) == entry.sha256).then_some(body)
}

/// Links the caches derived from the kept index `from` (see
/// [`derived_cache_path`]) beside its copy `to`; a cache that cannot be
/// linked is only made again.
fn carry_derived_caches(from: &Path, to: &Path, sha256_hex: &str) {
    let prefix = derived_cache_path(from, sha256_hex, "");
    let (Some(directory), Some(prefix)) = (from.parent(), prefix.file_name()) else { return };
    let prefix = prefix.to_string_lossy();
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(&*prefix) {
            let _ = std::fs::hard_link(entry.path(), to.with_file_name(&name));
        }
    }
}

/// The Release kept by the last good update, if any. It was verified before
/// it was kept.
fn read_cached_release(directory: &Path) -> Result<Option<Release>, AptError> {
    let path = directory.join("Release");
    match std::fs::read(&path) {
        Ok(text) => Ok(Some(Release::parse(&text, &format!("the cached `{}`", path.display()))?)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AptError::ReadCache { path, source }),
    }
}

/// Points `directory` (a symlink) at the staged generation with one rename,
/// then deletes the previous generation.
fn commit(staging: tempfile::TempDir, directory: &Path, cache_dir: &Path) -> Result<(), AptError> {
    crate::cache_generation::publish(staging, directory, cache_dir)
        .map_err(|(path, source)| AptError::WriteCache { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_are_plain_names() {
        let source = Source {
            uri: "http://deb.example.invalid:8080/debian".into(),
            suite: "../bookworm/updates".into(),
            components: vec![],
            architectures: vec![],
            signed_by: None,
            file: PathBuf::new(),
        };
        let key = cache_key(&source);
        assert!(!key.contains('/'), "{key}");
        assert_eq!(key, "deb.example.invalid_8080_debian_dists_.._bookworm_updates");
    }

    #[test]
    fn components_must_be_plain_paths() {
        let source = Source {
            uri: "http://x.invalid".into(),
            suite: "s".into(),
            components: vec![],
            architectures: vec![],
            signed_by: None,
            file: PathBuf::from("/etc/apt/sources.list"),
        };
        require_plain_path("main", &source, "Components").expect("plain");
        require_plain_path("updates/main", &source, "Components").expect("nested");
        for bad in ["../main", "/main", "main/", "a//b", "."] {
            assert!(require_plain_path(bad, &source, "Components").is_err(), "{bad}");
        }
    }
}
