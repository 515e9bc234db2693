//! `update`: fetch a suite's signed `InRelease`, verify it, and fetch the
//! `Packages` indexes it lists, all into a staging directory. Only when
//! every file matched the signed sizes and hashes does the cache entry move
//! to the new generation, with one rename of a symlink; on any failure the
//! old metadata stays as it was and the staging directory is deleted.
//!
//! Cache layout: `CACHE/KEY` is a symlink to `CACHE/KEY.GENERATION/`, which
//! holds `InRelease` (as fetched), `Release` (the verified signed text) and
//! the indexes under their Release paths (`main/binary-amd64/Packages.xz`).

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::index::{read_packages_compressed, sha256};
use super::release::{Release, ReleaseFile};
use super::sources::Source;
use super::verify::{Keyring, Verified, verify_detached, verify_inrelease};
use super::{AptError, hex};

/// `InRelease` and `Release` bodies longer than this are refused.
pub const MAX_RELEASE_SIZE: u64 = 10 << 20;
/// `Release.gpg` bodies longer than this are refused.
pub const MAX_SIGNATURE_SIZE: u64 = 1 << 20;
/// Redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;
/// The architecture indexes are fetched for when the source names none.
pub const DEFAULT_ARCHITECTURE: &str = "amd64";

/// An HTTP client with bounded bodies.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        // Redirects are followed here, not by ureq, so that each hop is checked.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(300)))
            .user_agent(concat!("layer/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpClient { agent: config.into() }
    }

    /// The body of `url`, or `None` on 404 or 410. A body longer than
    /// `limit` is cut off there and refused. At most [`MAX_REDIRECTS`]
    /// redirects are followed, each checked by [`resolve_redirect`].
    pub fn get_optional(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, AptError> {
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .agent
                .get(&current)
                .call()
                .map_err(|source| AptError::Fetch { url: current.clone(), source: Box::new(source) })?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response.headers().get("location").map(|v| v.to_str());
                let next = match location {
                    Some(Ok(location)) => resolve_redirect(&current, location),
                    Some(Err(_)) => Err("its `Location` holds control or non-ASCII characters"),
                    None => Err("it has no `Location`"),
                };
                current = next.map_err(|reason| AptError::Redirect { url: current.clone(), reason })?;
                continue;
            }
            if status == 404 || status == 410 {
                return Ok(None);
            }
            if !(200..300).contains(&status) {
                return Err(AptError::HttpStatus { url: current, status });
            }
            let mut body = Vec::new();
            response
                .into_body()
                .into_reader()
                .take(limit.saturating_add(1))
                .read_to_end(&mut body)
                .map_err(|source| AptError::ReadBody { url: current.clone(), source })?;
            if body.len() as u64 > limit {
                return Err(AptError::TooLong { url: current, limit });
            }
            return Ok(Some(body));
        }
        Err(AptError::Redirect { url: url.to_owned(), reason: "it redirects more than 5 times (a loop?)" })
    }

    /// The body of `url`; 404 is an error.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, AptError> {
        self.get_optional(url, limit)?.ok_or_else(|| AptError::HttpStatus { url: url.to_owned(), status: 404 })
    }
}

/// The target of a redirect from `from` to `location`, or why it is
/// refused: only `http` and `https`, never from `https` to `http`, no
/// control characters or spaces.
pub fn resolve_redirect(from: &str, location: &str) -> Result<String, &'static str> {
    if location.is_empty() || location.chars().any(|c| c.is_control() || c == ' ' || !c.is_ascii()) {
        return Err("its `Location` is empty or holds control, space or non-ASCII characters");
    }
    let (scheme, rest) = from.split_once("://").ok_or("the URL has no scheme")?;
    let next = if let Some(next_scheme) = scheme_of(location) {
        if !next_scheme.eq_ignore_ascii_case("http") && !next_scheme.eq_ignore_ascii_case("https") {
            return Err("it leads to a scheme other than http or https");
        }
        location.to_owned()
    } else if let Some(path) = location.strip_prefix("//") {
        format!("{scheme}://{path}")
    } else if location.starts_with('/') {
        let authority = rest.split('/').next().unwrap_or(rest);
        format!("{scheme}://{authority}{location}")
    } else {
        let directory = from.rsplit_once('/').map_or(from, |(directory, _)| directory);
        format!("{directory}/{location}")
    };
    if scheme.eq_ignore_ascii_case("https") && !next.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) {
        return Err("it leads from https to http");
    }
    Ok(next)
}

/// RFC 3986: a URI reference starts with a scheme if a `:` comes before
/// any `/`, `?` or `#`, after a letter and letters, digits, `+`, `-`, `.`.
fn scheme_of(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
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
    pub packages: usize,
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
/// changes unless every step succeeds.
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

    std::fs::create_dir_all(cache_dir).map_err(|source| AptError::WriteCache { path: cache_dir.to_owned(), source })?;
    let key = cache_key(source);
    let staging = tempfile::Builder::new()
        .prefix(&format!("{key}."))
        .tempdir_in(cache_dir)
        .map_err(|source| AptError::WriteCache { path: cache_dir.to_owned(), source })?;
    let staged = |name: &str, bytes: &[u8]| -> Result<(), AptError> {
        let path = staging.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| AptError::WriteCache { path: parent.into(), source })?;
        }
        std::fs::write(&path, bytes).map_err(|source| AptError::WriteCache { path, source })
    };
    for (name, bytes) in &fetched {
        staged(name, bytes)?;
    }
    staged("Release", &verified.signed_text)?;

    let architecture = source.architectures.first().map_or(DEFAULT_ARCHITECTURE, String::as_str);
    let mut indexes = Vec::new();
    for component in &source.components {
        require_plain_path(component, source, "Components")?;
        require_plain_path(architecture, source, "Architectures")?;
        let stem = format!("{component}/binary-{architecture}/Packages");
        let entry = ["xz", "gz"]
            .iter()
            .find_map(|extension| release.file(&format!("{stem}.{extension}")))
            .ok_or_else(|| AptError::NotInRelease { suite: source.suite.clone(), path: stem.clone() })?;
        let body = fetch_verified(client, &base, &release, entry)?;
        let packages = read_packages_compressed(&body, &entry.path)?.len();
        staged(&entry.path, &body)?;
        indexes.push(IndexSummary { path: entry.path.clone(), size: entry.size, sha256: hex(&entry.sha256), packages });
    }

    commit(staging, &directory, cache_dir)?;
    Ok(UpdateSummary {
        directory,
        suite: release.suite,
        codename: release.codename,
        date: release.date,
        signed_by: verified.fingerprints,
        indexes,
    })
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
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| AptError::WriteCache { path, source }
    };
    let previous = std::fs::read_link(directory).ok();
    let generation = staging.keep();
    let Some(name) = generation.file_name().map(ToOwned::to_owned) else {
        return Err(AptError::WriteCache { path: generation, source: ErrorKind::InvalidInput.into() });
    };
    let link = cache_dir.join(format!(".{}.link", name.to_string_lossy()));
    let result = (|| {
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => return Err(write_error(&link)(source)),
        }
        std::os::unix::fs::symlink(&name, &link).map_err(write_error(&link))?;
        std::fs::rename(&link, directory).map_err(write_error(directory))
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_dir_all(&generation);
        return Err(error);
    }
    if let Some(previous) = previous.filter(|p| p.as_os_str() != name) {
        // Only a generation we made: a plain name inside the cache.
        if previous.components().count() == 1 {
            let _ = std::fs::remove_dir_all(cache_dir.join(previous));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects() {
        let from = "https://a.invalid/debian/dists/x/InRelease";
        assert_eq!(resolve_redirect(from, "https://b.invalid/y").as_deref(), Ok("https://b.invalid/y"));
        assert_eq!(resolve_redirect(from, "/other/InRelease").as_deref(), Ok("https://a.invalid/other/InRelease"));
        assert_eq!(resolve_redirect(from, "//c.invalid/z").as_deref(), Ok("https://c.invalid/z"));
        assert_eq!(resolve_redirect(from, "Release").as_deref(), Ok("https://a.invalid/debian/dists/x/Release"));
        assert_eq!(resolve_redirect("http://a.invalid/x", "https://b.invalid/").as_deref(), Ok("https://b.invalid/"));
        for bad in [
            "http://b.invalid/y",
            "HTTP://b.invalid/y",
            "file:///etc/passwd",
            "ftp://b.invalid/",
            "data:text/plain,x",
            "/a\r\nX: y",
            "/a b",
            "",
        ] {
            assert!(resolve_redirect(from, bad).is_err(), "{bad:?}");
        }
        assert!(resolve_redirect("http://a.invalid/x", "file:///etc/passwd").is_err());
        assert!(resolve_redirect("http://a.invalid/x", "javascript:alert(1)").is_err());
    }

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
