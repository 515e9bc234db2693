//! Pulling commits from an `archive` repository served over HTTP(S): ref
//! resolution, the walk of a commit's dirtrees, and fetching only the
//! objects this repository lacks, each verified against its checksum before
//! it is stored. Everything is published in one transaction, so a failed
//! pull leaves neither objects nor refs behind.

use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::objects::{Checksum, Commit, DirMeta, DirTree, FileMeta, FormatError, ObjectType};
use crate::refs::validate_ref;
use crate::repo::{Repo, config_value};
use crate::transaction::Transaction;

/// Commits, dirtrees and dirmetas are small; a larger body is an attack.
const MAX_METADATA_SIZE: u64 = 16 << 20;
/// The most a `.filez` object may take on the wire.
const MAX_CONTENT_SIZE: u64 = 4 << 30;
/// `config` and ref files are a few lines.
const MAX_SMALL_FILE: u64 = 64 << 10;
/// A `.filez` header holds the metadata and xattrs; anything near this is
/// not a real header.
const MAX_HEADER_SIZE: u32 = 1 << 20;
const MAX_REDIRECTS: usize = 5;

/// How to pull.
pub struct PullOptions<'a> {
    /// Write each ref as `REMOTE:ref` (under `refs/remotes/REMOTE/`)
    /// instead of as a local ref.
    pub remote: Option<String>,
    /// Concurrent downloads.
    pub jobs: usize,
    /// Called from the download threads as objects arrive.
    pub progress: Option<&'a (dyn Fn(PullProgress) + Sync)>,
}

impl Default for PullOptions<'_> {
    fn default() -> Self {
        PullOptions { remote: None, jobs: 8, progress: None }
    }
}

/// A snapshot of a pull's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullProgress {
    /// Objects found missing so far; grows while dirtrees are walked.
    pub requested_objects: usize,
    pub fetched_objects: usize,
    /// Bytes of object bodies received, as sent (compressed).
    pub fetched_bytes: u64,
    /// Objects the repository already had.
    pub skipped_objects: usize,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullStats {
    pub fetched_objects: usize,
    pub fetched_bytes: u64,
    pub skipped_objects: usize,
    /// One entry per requested ref, in the order given.
    pub refs: Vec<PulledRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledRef {
    /// The ref or checksum as requested.
    pub requested: String,
    /// The ref written here: `name` or `remote:name`; `None` when a commit
    /// was requested by checksum.
    pub local: Option<String>,
    pub commit: Checksum,
}

/// Pulls `refs` (branch names under the source's `refs/heads/`, or commit
/// checksums) from the `archive` repository at `url` into `repo`.
///
/// Only the commits themselves are fetched, not their parents. Detached
/// commit metadata (signatures) is not fetched.
pub fn pull(repo: &Repo, url: &str, refs: &[String], opts: &PullOptions<'_>) -> Result<PullStats> {
    let base = url.trim_end_matches('/');
    if scheme_of(base).is_none() {
        return Err(Error::Unsupported {
            path: url.into(),
            reason: "only http:// and https:// repositories can be pulled".into(),
        });
    }
    if let Some(remote) = &opts.remote {
        validate_ref(remote)?;
        if remote.contains('/') {
            return Err(Error::InvalidRef(remote.clone()));
        }
    }
    let mut wanted = Vec::with_capacity(refs.len());
    for name in refs {
        match name.parse::<Checksum>() {
            Ok(checksum) => wanted.push((name.clone(), None, Some(checksum))),
            Err(_) => {
                validate_ref(name)?;
                let local = match &opts.remote {
                    Some(remote) => format!("{remote}:{name}"),
                    None => name.clone(),
                };
                wanted.push((name.clone(), Some(local), None));
            }
        }
    }

    let jobs = opts.jobs.max(1);
    let client = Client::new(base, jobs);
    client.require_archive()?;

    let mut pulled = Vec::with_capacity(wanted.len());
    for (requested, local, checksum) in wanted {
        let commit = match checksum {
            Some(c) => c,
            None => client.resolve_ref(&requested)?,
        };
        pulled.push(PulledRef { requested, local, commit });
    }

    let tx = repo.begin()?;
    let puller = Puller { tx: &tx, client: &client, jobs, counters: Counters::default(), progress: opts.progress };
    let commits: Vec<Checksum> = pulled.iter().map(|p| p.commit).collect();
    puller.pull_commits(&commits)?;
    let counters = &puller.counters;
    let stats = PullStats {
        fetched_objects: counters.fetched_objects.load(Ordering::Relaxed),
        fetched_bytes: counters.fetched_bytes.load(Ordering::Relaxed),
        skipped_objects: counters.skipped_objects.load(Ordering::Relaxed),
        refs: pulled,
    };
    let ref_updates: Vec<(&str, Option<Checksum>)> =
        stats.refs.iter().filter_map(|p| p.local.as_deref().map(|name| (name, Some(p.commit)))).collect();
    tx.commit(&ref_updates)?;
    Ok(stats)
}

#[derive(Default)]
struct Counters {
    requested_objects: AtomicUsize,
    fetched_objects: AtomicUsize,
    fetched_bytes: AtomicU64,
    skipped_objects: AtomicUsize,
}

struct Puller<'a, 'r> {
    tx: &'a Transaction<'r>,
    client: &'a Client,
    jobs: usize,
    counters: Counters,
    progress: Option<&'a (dyn Fn(PullProgress) + Sync)>,
}

/// A dirtree or dirmeta found by the walk.
#[derive(Clone, Copy)]
struct MetaRef {
    kind: ObjectType,
    checksum: Checksum,
}

impl Puller<'_, '_> {
    fn report(&self) {
        if let Some(progress) = self.progress {
            let c = &self.counters;
            progress(PullProgress {
                requested_objects: c.requested_objects.load(Ordering::Relaxed),
                fetched_objects: c.fetched_objects.load(Ordering::Relaxed),
                fetched_bytes: c.fetched_bytes.load(Ordering::Relaxed),
                skipped_objects: c.skipped_objects.load(Ordering::Relaxed),
            });
        }
    }

    fn skipped(&self) {
        self.counters.skipped_objects.fetch_add(1, Ordering::Relaxed);
    }

    fn fetched(&self, bytes: u64) {
        self.counters.fetched_objects.fetch_add(1, Ordering::Relaxed);
        self.counters.fetched_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.report();
    }

    /// Fetches each commit and everything it reaches that is missing here.
    /// Objects already present are trusted; dirtrees already present are
    /// still walked, so a tree that is only partly here is completed.
    fn pull_commits(&self, commits: &[Checksum]) -> Result<()> {
        let mut seen_meta: HashSet<(ObjectType, Checksum)> = HashSet::new();
        let mut seen_files: HashSet<Checksum> = HashSet::new();
        let mut level = Vec::new();
        for checksum in commits {
            if !seen_meta.insert((ObjectType::Commit, *checksum)) {
                continue;
            }
            let commit = if self.tx.has_object(ObjectType::Commit, checksum)? {
                self.skipped();
                self.tx.repo().read_commit(checksum)?
            } else {
                self.counters.requested_objects.fetch_add(1, Ordering::Relaxed);
                let (bytes, wire) = self.client.fetch_metadata(ObjectType::Commit, checksum)?;
                let commit = Commit::parse(&bytes).map_err(corrupt("commit", checksum))?;
                self.tx.write_metadata(ObjectType::Commit, &bytes)?;
                self.fetched(wire);
                commit
            };
            level.push(MetaRef { kind: ObjectType::DirTree, checksum: commit.root_tree });
            level.push(MetaRef { kind: ObjectType::DirMeta, checksum: commit.root_meta });
        }

        // Dirtrees level by level: each level's missing objects download in
        // parallel, and their entries make the next level.
        let mut files = Vec::new();
        while !level.is_empty() {
            let mut local_trees = Vec::new();
            let mut missing = Vec::new();
            for item in level.drain(..) {
                if !seen_meta.insert((item.kind, item.checksum)) {
                    continue;
                }
                if self.tx.has_object(item.kind, &item.checksum)? {
                    self.skipped();
                    if item.kind == ObjectType::DirTree {
                        local_trees.push(self.tx.repo().read_dirtree(&item.checksum)?);
                    }
                } else {
                    missing.push(item);
                }
            }
            self.counters.requested_objects.fetch_add(missing.len(), Ordering::Relaxed);
            self.report();
            let fetched = for_each_parallel(self.jobs, &missing, |item| self.fetch_meta(item))?;
            for tree in local_trees.iter().chain(fetched.iter().flatten()) {
                for (_, checksum) in &tree.files {
                    if seen_files.insert(*checksum) {
                        files.push(*checksum);
                    }
                }
                for (_, tree, meta) in &tree.dirs {
                    level.push(MetaRef { kind: ObjectType::DirTree, checksum: *tree });
                    level.push(MetaRef { kind: ObjectType::DirMeta, checksum: *meta });
                }
            }
        }

        let mut missing = Vec::with_capacity(files.len());
        for checksum in files {
            if self.tx.has_object(ObjectType::File, &checksum)? {
                self.skipped();
            } else {
                missing.push(checksum);
            }
        }
        self.counters.requested_objects.fetch_add(missing.len(), Ordering::Relaxed);
        self.report();
        for_each_parallel(self.jobs, &missing, |checksum| {
            let wire = self.client.fetch_content(self.tx, checksum)?;
            self.fetched(wire);
            Ok(())
        })?;
        Ok(())
    }

    /// Fetches, checks and stores one dirtree or dirmeta; returns the tree.
    fn fetch_meta(&self, item: &MetaRef) -> Result<Option<DirTree>> {
        let (bytes, wire) = self.client.fetch_metadata(item.kind, &item.checksum)?;
        let tree = match item.kind {
            ObjectType::DirTree => Some(DirTree::parse(&bytes).map_err(corrupt("dirtree", &item.checksum))?),
            _ => {
                DirMeta::parse(&bytes).map_err(corrupt("dirmeta", &item.checksum))?;
                None
            }
        };
        self.tx.write_metadata(item.kind, &bytes)?;
        self.fetched(wire);
        Ok(tree)
    }
}

fn corrupt(kind: &'static str, checksum: &Checksum) -> impl FnOnce(FormatError) -> Error {
    let checksum = *checksum;
    move |source| Error::CorruptObject { kind, checksum, source }
}

/// Runs `f` on every item on up to `jobs` threads and returns the results
/// in order. After the first error no new item starts.
fn for_each_parallel<T: Sync, R: Send>(jobs: usize, items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    let threads = jobs.clamp(1, items.len().max(1));
    if items.len() <= 1 || threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let outcomes = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        match f(item) {
                            Ok(r) => done.push((index, r)),
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for outcome in outcomes {
        let done = outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        for (index, r) in done {
            slots[index] = Some(r);
        }
    }
    // Every index below `items.len()` was taken by exactly one thread, and
    // none failed, so every slot is full.
    Ok(slots.into_iter().flatten().collect())
}

/// Why an HTTP exchange failed, beyond what ureq reports.
#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("the response is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("redirect without a usable `Location` header")]
    BadLocation,
    #[error("refusing to follow a redirect to `{0}`: only http and https are allowed, and never https to http")]
    UnsafeRedirect(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

fn fetch_error(url: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Fetch { url: url.into(), source: source.into() }
}

/// One agent, shared by every download thread.
struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(base: &str, jobs: usize) -> Client {
        // Redirects are followed by hand (`get_optional`): ureq would follow
        // an https to http downgrade, and `https_only` alone cannot allow
        // http to https while forbidding the reverse.
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .max_idle_connections_per_host(jobs.max(3))
            .user_agent(concat!("layer/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { agent: ureq::Agent::new_with_config(config), base: base.to_owned() }
    }

    /// GETs `path` under the repository, following up to five redirects.
    /// `None` for a 404.
    fn get_optional(&self, path: &str) -> Result<Option<(String, ureq::Body)>> {
        let mut url = format!("{}/{path}", self.base);
        for _ in 0..=MAX_REDIRECTS {
            let response = self.agent.get(&url).call().map_err(|e| fetch_error(&url, e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(Some((url, response.into_body())));
            }
            if status.as_u16() == 404 {
                return Ok(None);
            }
            if !status.is_redirection() {
                return Err(fetch_error(&url, HttpError::Status(status.as_u16())));
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| fetch_error(&url, HttpError::BadLocation))?;
            let next = resolve_location(&url, location).ok_or_else(|| fetch_error(&url, HttpError::BadLocation))?;
            if !redirect_allowed(&url, &next) {
                return Err(fetch_error(&url, HttpError::UnsafeRedirect(next)));
            }
            url = next;
        }
        Err(fetch_error(&url, HttpError::TooManyRedirects))
    }

    fn get(&self, path: &str) -> Result<(String, ureq::Body)> {
        self.get_optional(path)?.ok_or_else(|| fetch_error(&format!("{}/{path}", self.base), HttpError::Status(404)))
    }

    /// Reads a whole body of at most `limit` bytes.
    fn read_limited(url: &str, body: ureq::Body, limit: u64) -> Result<Vec<u8>> {
        if body.content_length().is_some_and(|len| len > limit) {
            return Err(fetch_error(url, HttpError::TooLarge { limit }));
        }
        let mut data = Vec::new();
        body.into_reader().take(limit + 1).read_to_end(&mut data).map_err(|e| fetch_error(url, e))?;
        if data.len() as u64 > limit {
            return Err(fetch_error(url, HttpError::TooLarge { limit }));
        }
        Ok(data)
    }

    fn require_archive(&self) -> Result<()> {
        let not_a_repo = || Error::NotARepo(self.base.clone());
        let (url, body) = self.get_optional("config")?.ok_or_else(not_a_repo)?;
        let config = Self::read_limited(&url, body, MAX_SMALL_FILE)?;
        let config = String::from_utf8_lossy(&config);
        match config_value(&config, "core", "mode") {
            Some("archive" | "archive-z2") => Ok(()),
            Some(mode) => Err(Error::Unsupported {
                path: url,
                reason: format!(
                    "the repository's mode is `{mode}`; only `archive` repositories can be pulled over HTTP\n\
                     hint: serve a repository made with `ostree init --mode=archive`"
                ),
            }),
            None => Err(not_a_repo()),
        }
    }

    fn resolve_ref(&self, name: &str) -> Result<Checksum> {
        let (url, body) =
            self.get_optional(&format!("refs/heads/{name}"))?.ok_or_else(|| Error::RefNotFound(name.into()))?;
        let data = Self::read_limited(&url, body, MAX_SMALL_FILE)?;
        let text = String::from_utf8_lossy(&data);
        text.trim().parse().map_err(|e| fetch_error(&url, e))
    }

    /// Downloads a commit, dirtree or dirmeta and checks its checksum.
    /// Returns the bytes and how many came over the wire.
    fn fetch_metadata(&self, kind: ObjectType, checksum: &Checksum) -> Result<(Vec<u8>, u64)> {
        let (url, body) = self.get(&checksum.object_path(kind, true))?;
        let data = Self::read_limited(&url, body, MAX_METADATA_SIZE)?;
        let actual = Checksum::of(&data);
        if actual != *checksum {
            return Err(Error::ChecksumMismatch { kind, expected: *checksum, actual });
        }
        let wire = data.len() as u64;
        Ok((data, wire))
    }

    /// Streams a `.filez` object into the transaction: header, then the
    /// inflated bytes, hashed as they are written. Returns the bytes that
    /// came over the wire.
    fn fetch_content(&self, tx: &Transaction<'_>, checksum: &Checksum) -> Result<u64> {
        let (url, body) = self.get(&checksum.object_path(ObjectType::File, true))?;
        if body.content_length().is_some_and(|len| len > MAX_CONTENT_SIZE) {
            return Err(fetch_error(&url, HttpError::TooLarge { limit: MAX_CONTENT_SIZE }));
        }
        let mut wire = WireReader { inner: body.into_reader(), read: 0, limit: MAX_CONTENT_SIZE, failure: None };
        let corrupt_filez = |reason: String| Error::CorruptObject {
            kind: "file",
            checksum: *checksum,
            source: FormatError::Invalid { kind: "filez", reason },
        };

        let mut header = vec![0u8; 8];
        if let Err(e) = wire.read_exact(&mut header) {
            return Err(wire.error(&url, e, |_| corrupt_filez("truncated header".into())));
        }
        let header_len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        if header_len > MAX_HEADER_SIZE {
            return Err(corrupt_filez(format!("header of {header_len} bytes")));
        }
        header.resize(8 + header_len as usize, 0);
        if let Err(e) = wire.read_exact(&mut header[8..]) {
            return Err(wire.error(&url, e, |_| corrupt_filez("truncated header".into())));
        }
        let (meta, size, _) = FileMeta::parse_archive_header(&header).map_err(corrupt("file", checksum))?;

        if meta.is_symlink() {
            let mut probe = [0u8; 1];
            match wire.read(&mut probe) {
                Ok(0) => {}
                Ok(_) => return Err(corrupt_filez("a symlink has content after its header".into())),
                Err(e) => return Err(wire.error(&url, e, |e| corrupt_filez(e.to_string()))),
            }
            tx.write_content_stream(&meta, &mut io::empty(), Some(checksum))?;
            return Ok(wire.read);
        }

        let mut content = ExactSize { inner: flate2::read::DeflateDecoder::new(wire), remaining: size, failure: None };
        match tx.write_content_stream(&meta, &mut content, Some(checksum)) {
            Ok(_) => Ok(content.inner.get_ref().read),
            Err(e) => {
                // The transaction reports a failed read as I/O on its spool
                // file; say instead whether the network or the object failed.
                let wire = content.inner.get_ref();
                if let Some(network) = &wire.failure {
                    return Err(fetch_error(&url, io::Error::new(network.kind(), network.to_string())));
                }
                if wire.read > wire.limit {
                    return Err(fetch_error(&url, HttpError::TooLarge { limit: wire.limit }));
                }
                match content.failure {
                    Some(reason) => Err(corrupt_filez(reason)),
                    None => Err(e),
                }
            }
        }
    }
}

/// The body of a response: counts bytes, stops at a limit, and remembers a
/// network failure so it is not mistaken for a corrupt object.
struct WireReader<R> {
    inner: R,
    read: u64,
    limit: u64,
    failure: Option<io::Error>,
}

impl<R: Read> WireReader<R> {
    /// Turns a read error into a fetch error if the network failed, and
    /// otherwise into what `corrupt` makes of it.
    fn error(&mut self, url: &str, e: io::Error, corrupt: impl FnOnce(io::Error) -> Error) -> Error {
        if self.read > self.limit {
            return fetch_error(url, HttpError::TooLarge { limit: self.limit });
        }
        match self.failure.take() {
            Some(network) => fetch_error(url, network),
            None => corrupt(e),
        }
    }
}

impl<R: Read> Read for WireReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                if self.read > self.limit {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "response too large"));
                }
                Ok(n)
            }
            Err(e) => {
                let message = io::Error::new(e.kind(), e.to_string());
                self.failure = Some(e);
                Err(message)
            }
        }
    }
}

/// Stops an inflated stream at the size its header declares, and fails
/// if the stream ends early or runs past it.
struct ExactSize<R> {
    inner: R,
    remaining: u64,
    /// Why the object is malformed, once known.
    failure: Option<String>,
}

impl<R: Read> ExactSize<R> {
    fn fail(&mut self, kind: io::ErrorKind, reason: String) -> io::Error {
        self.failure = Some(reason.clone());
        io::Error::new(kind, reason)
    }
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe) {
                Ok(0) => Ok(0),
                Ok(_) => Err(self.fail(io::ErrorKind::InvalidData, "content is longer than its header says".into())),
                Err(e) => Err(self.fail(e.kind(), format!("inflating content: {e}"))),
            };
        }
        let max = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        match self.inner.read(&mut buf[..max]) {
            Ok(0) => Err(self.fail(io::ErrorKind::UnexpectedEof, "content is shorter than its header says".into())),
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(e) => Err(self.fail(e.kind(), format!("inflating content: {e}"))),
        }
    }
}

/// `http` or `https` if `url` starts with one of them (any case).
fn scheme_of(url: &str) -> Option<&'static str> {
    let (scheme, _) = url.split_once("://")?;
    if scheme.eq_ignore_ascii_case("https") {
        Some("https")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// A redirect may go to http or https, but never from https to http.
fn redirect_allowed(from: &str, to: &str) -> bool {
    match (scheme_of(from), scheme_of(to)) {
        (_, None) | (Some("https"), Some("http")) => false,
        (_, Some(_)) => true,
    }
}

/// Resolves a redirect's `Location` against the URL that answered, as
/// RFC 3986 does for the forms servers send: absolute, scheme-relative,
/// absolute-path and relative-path. Dot segments are left to the server.
fn resolve_location(base: &str, location: &str) -> Option<String> {
    let location = location.split('#').next().unwrap_or("").trim();
    if location.is_empty() {
        return None;
    }
    let has_scheme = location.split_once(':').is_some_and(|(s, _)| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if has_scheme {
        return Some(location.to_owned());
    }
    let (scheme, rest) = base.split_once("://")?;
    if let Some(authority_and_path) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{authority_and_path}"));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let path = path.split('?').next().unwrap_or("");
    let directory = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Some(format!("{scheme}://{authority}{directory}{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::CommitOptions;
    use crate::repo::RepoMode;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Arc;

    /// A static file server for `root`, with optional redirects by path.
    /// Returns its base URL; its threads live until the test process ends.
    fn serve(root: &Path, redirects: Vec<(String, String)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let root = Arc::new(root.to_owned());
        let redirects = Arc::new(redirects);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let root = Arc::clone(&root);
                let redirects = Arc::clone(&redirects);
                std::thread::spawn(move || {
                    let _ = handle(stream, &root, &redirects);
                });
            }
        });
        format!("http://{addr}")
    }

    fn handle(stream: TcpStream, root: &Path, redirects: &[(String, String)]) -> io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line)? == 0 {
                return Ok(());
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                    break;
                }
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            if let Some((_, to)) = redirects.iter().find(|(from, _)| *from == path) {
                write!(out, "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")?;
                continue;
            }
            let relative = path.trim_start_matches('/');
            let file = if relative.split('/').any(|c| c == "..") { None } else { Some(root.join(relative)) };
            match file.filter(|f| f.is_file()).map(std::fs::File::open) {
                Some(Ok(mut f)) => {
                    let len = f.metadata()?.len();
                    write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n")?;
                    io::copy(&mut f, &mut out)?;
                }
                _ => write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?,
            }
            out.flush()?;
        }
    }

    /// A tree with nested dirs, a symlink, an empty file, an executable and
    /// a 2 MiB file.
    fn make_tree(dir: &Path) {
        std::fs::create_dir_all(dir.join("usr/lib/deep/er")).expect("mkdir");
        std::fs::create_dir_all(dir.join("etc/empty-dir")).expect("mkdir");
        std::fs::write(dir.join("usr/lib/deep/er/hello"), b"hello\n").expect("write");
        std::fs::write(dir.join("etc/empty"), b"").expect("write");
        std::fs::write(dir.join("usr/bin-tool"), b"#!/bin/sh\necho hi\n").expect("write");
        std::fs::set_permissions(dir.join("usr/bin-tool"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        std::os::unix::fs::symlink("lib/deep/er/hello", dir.join("usr/link")).expect("symlink");
        // Not too compressible, so the object is big on the wire too.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let big: Vec<u8> = (0..2 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 16) as u8 + b'a'
            })
            .collect();
        std::fs::write(dir.join("usr/lib/big"), &big).expect("write");
        // The same content twice, deduplicated in the store.
        std::fs::write(dir.join("etc/hello-again"), b"hello\n").expect("write");
    }

    fn source_repo(tmp: &Path) -> (Repo, Checksum) {
        let src = Repo::init(&tmp.join("src"), RepoMode::Archive).expect("init source");
        make_tree(&tmp.join("tree"));
        let (commit, _) = src.commit_directory("main", &tmp.join("tree"), &CommitOptions::default()).expect("commit");
        (src, commit)
    }

    /// Every object a commit reaches.
    fn reachable(repo: &Repo, commit: &Checksum) -> Vec<(ObjectType, Checksum)> {
        let commit_obj = repo.read_commit(commit).expect("commit");
        let mut out = vec![(ObjectType::Commit, *commit)];
        let mut stack = vec![(commit_obj.root_tree, commit_obj.root_meta)];
        while let Some((tree, meta)) = stack.pop() {
            out.push((ObjectType::DirTree, tree));
            out.push((ObjectType::DirMeta, meta));
            let tree = repo.read_dirtree(&tree).expect("dirtree");
            out.extend(tree.files.iter().map(|(_, c)| (ObjectType::File, *c)));
            stack.extend(tree.dirs.iter().map(|(_, t, m)| (*t, *m)));
        }
        out.sort();
        out.dedup();
        out
    }

    fn assert_same_objects(src: &Repo, dest: &Repo, commit: &Checksum) {
        for (kind, checksum) in reachable(src, commit) {
            assert!(dest.has_object(kind, &checksum).expect("stat"), "{} {checksum} missing", kind.name());
            if kind == ObjectType::File {
                let mut a = src.open_content(&checksum).expect("open source");
                let mut b = dest.open_content(&checksum).expect("open dest");
                assert_eq!(a.meta, b.meta);
                let (mut x, mut y) = (Vec::new(), Vec::new());
                a.reader.read_to_end(&mut x).expect("read source");
                b.reader.read_to_end(&mut y).expect("read dest");
                assert_eq!(x, y, "content of {checksum}");
            }
        }
    }

    fn pull_into(mode: RepoMode, remote: Option<&str>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (src, commit) = source_repo(tmp.path());
        let url = serve(src.path(), vec![]);
        let dest = Repo::init(&tmp.path().join("dest"), mode).expect("init dest");
        let calls = AtomicUsize::new(0);
        let progress = |_: PullProgress| {
            calls.fetch_add(1, Ordering::Relaxed);
        };
        let opts = PullOptions { remote: remote.map(String::from), jobs: 4, progress: Some(&progress) };
        let stats = pull(&dest, &url, &["main".into()], &opts).expect("pull");
        let local = match remote {
            Some(r) => format!("{r}:main"),
            None => "main".into(),
        };
        assert_eq!(dest.refs().resolve(&local).expect("resolve"), commit);
        assert_eq!(stats.refs, vec![PulledRef { requested: "main".into(), local: Some(local), commit }]);
        let objects = reachable(&src, &commit);
        assert_eq!(stats.fetched_objects, objects.len());
        assert_eq!(stats.skipped_objects, 0);
        assert!(stats.fetched_bytes > 1 << 20, "{stats:?}");
        assert!(calls.load(Ordering::Relaxed) >= objects.len());
        assert_same_objects(&src, &dest, &commit);
        if has_ostree() {
            let out = ostree(&["fsck", &format!("--repo={}", dest.path().display())]);
            assert!(out.status.success(), "{out:?}");
        }

        // A second pull finds everything present.
        let again = pull(&dest, &url, &["main".into()], &opts).expect("pull again");
        assert_eq!(again.fetched_objects, 0);
        assert_eq!(again.skipped_objects, objects.len());
    }

    #[test]
    fn pull_into_bare_user() {
        pull_into(RepoMode::BareUser, None);
    }

    #[test]
    fn pull_into_bare_as_remote_ref() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: a bare repository needs root");
            return;
        }
        pull_into(RepoMode::Bare, Some("origin"));
    }

    #[test]
    fn pull_into_archive() {
        pull_into(RepoMode::Archive, None);
    }

    #[test]
    fn pull_by_checksum_writes_no_ref() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (src, commit) = source_repo(tmp.path());
        let url = serve(src.path(), vec![]);
        let dest = Repo::init(&tmp.path().join("dest"), RepoMode::BareUser).expect("init dest");
        let stats = pull(&dest, &url, &[commit.to_hex()], &PullOptions::default()).expect("pull");
        assert_eq!(stats.refs[0].local, None);
        assert!(dest.refs().list().expect("refs").is_empty());
        assert_same_objects(&src, &dest, &commit);
    }

    /// Pulls `main` after `damage` changed the served copy of the object
    /// `pick` chooses; returns the error, having checked nothing was kept.
    fn pull_damaged(pick: impl Fn(&Repo, &Checksum) -> (ObjectType, Checksum), damage: impl Fn(&mut Vec<u8>)) -> Error {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (src, commit) = source_repo(tmp.path());
        let served = tmp.path().join("served");
        let status = Command::new("cp").arg("-a").arg(src.path()).arg(&served).status().expect("cp");
        assert!(status.success());
        let (kind, checksum) = pick(&src, &commit);
        let object = served.join(checksum.object_path(kind, true));
        let mut data = std::fs::read(&object).expect("read object");
        damage(&mut data);
        std::fs::write(&object, &data).expect("write object");
        let url = serve(&served, vec![]);
        let dest = Repo::init(&tmp.path().join("dest"), RepoMode::BareUser).expect("init dest");
        let err = pull(&dest, &url, &["main".into()], &PullOptions::default()).expect_err("pull must fail");
        assert_eq!(dest.refs().read("main").expect("read ref"), None);
        assert!(!dest.has_object(ObjectType::Commit, &commit).expect("stat"));
        err
    }

    /// The content object of `usr/lib/big`.
    fn big_file(repo: &Repo, commit: &Checksum) -> (ObjectType, Checksum) {
        let root = repo.read_dirtree(&repo.read_commit(commit).expect("commit").root_tree).expect("root");
        let usr = root.dirs.iter().find(|d| d.0 == "usr").expect("usr");
        let lib = repo.read_dirtree(&usr.1).expect("usr");
        let lib = lib.dirs.iter().find(|d| d.0 == "lib").expect("lib");
        let lib = repo.read_dirtree(&lib.1).expect("lib");
        let big = lib.files.iter().find(|f| f.0 == "big").expect("big");
        (ObjectType::File, big.1)
    }

    fn header_len(data: &[u8]) -> usize {
        FileMeta::parse_archive_header(data).expect("header").2
    }

    #[test]
    fn corrupt_content_fails_and_keeps_nothing() {
        let err = pull_damaged(big_file, |data| {
            let at = header_len(data) + (data.len() - header_len(data)) / 2;
            data[at] ^= 0x20;
        });
        assert!(matches!(err, Error::ChecksumMismatch { .. } | Error::CorruptObject { kind: "file", .. }), "{err:?}");
    }

    #[test]
    fn content_that_contradicts_its_header_is_corrupt() {
        for delta in [1i64, -1] {
            let err = pull_damaged(big_file, |data| {
                let (meta, size, used) = FileMeta::parse_archive_header(data).expect("header");
                let mut out = meta.archive_header(size.saturating_add_signed(delta));
                out.extend_from_slice(&data[used..]);
                *data = out;
            });
            assert!(matches!(err, Error::CorruptObject { kind: "file", .. }), "{delta}: {err:?}");
        }
    }

    #[test]
    fn corrupt_dirtree_fails_and_keeps_nothing() {
        let err = pull_damaged(
            |repo, commit| (ObjectType::DirTree, repo.read_commit(commit).expect("commit").root_tree),
            |data| data[0] ^= 1,
        );
        assert!(matches!(err, Error::ChecksumMismatch { kind: ObjectType::DirTree, .. }), "{err:?}");
    }

    #[test]
    fn oversized_metadata_is_refused() {
        let err = pull_damaged(
            |repo, commit| (ObjectType::DirTree, repo.read_commit(commit).expect("commit").root_tree),
            |data| data.resize(MAX_METADATA_SIZE as usize + 1, 0),
        );
        let Error::Fetch { source, .. } = &err else { panic!("{err:?}") };
        assert!(source.to_string().contains("larger than"), "{err:?}");
    }

    #[test]
    fn missing_ref_and_wrong_mode_are_clear_errors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (src, _) = source_repo(tmp.path());
        let url = serve(src.path(), vec![]);
        let dest = Repo::init(&tmp.path().join("dest"), RepoMode::BareUser).expect("init dest");
        let err = pull(&dest, &url, &["nope".into()], &PullOptions::default()).expect_err("no such ref");
        assert!(matches!(err, Error::RefNotFound(ref r) if r == "nope"), "{err:?}");
        let err = pull(&dest, &url, &["../config".into()], &PullOptions::default()).expect_err("bad ref");
        assert!(matches!(err, Error::InvalidRef(_)), "{err:?}");

        let bare = Repo::init(&tmp.path().join("bare"), RepoMode::BareUser).expect("init bare");
        let url = serve(bare.path(), vec![]);
        let err = pull(&dest, &url, &["main".into()], &PullOptions::default()).expect_err("not archive");
        assert!(matches!(err, Error::Unsupported { ref reason, .. } if reason.contains("bare-user")), "{err:?}");

        let url = serve(&tmp.path().join("tree"), vec![]);
        let err = pull(&dest, &url, &["main".into()], &PullOptions::default()).expect_err("not a repo");
        assert!(matches!(err, Error::NotARepo(_)), "{err:?}");

        let err = pull(&dest, "file:///etc", &["main".into()], &PullOptions::default()).expect_err("scheme");
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    }

    #[test]
    fn redirects_are_followed_within_http() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (src, commit) = source_repo(tmp.path());
        let direct = serve(src.path(), vec![]);
        // `config` takes two hops, the first relative; `refs` one, absolute.
        let url = serve(
            &tmp.path().join("empty"),
            vec![
                ("/repo/config".into(), "moved/config".into()),
                ("/repo/moved/config".into(), format!("{direct}/config")),
                ("/repo/refs/heads/main".into(), format!("{direct}/refs/heads/main")),
                ("/repo/objects/evil".into(), "file:///etc/passwd".into()),
            ],
        );
        let client = Client::new(&format!("{url}/repo"), 1);
        client.require_archive().expect("config through two redirects");
        assert_eq!(client.resolve_ref("main").expect("ref through a redirect"), commit);
        let err = client.get("objects/evil").expect_err("file redirect");
        let Error::Fetch { source, .. } = &err else { panic!("{err:?}") };
        assert!(source.to_string().contains("refusing"), "{err:?}");
    }

    #[test]
    fn locations_resolve() {
        let base = "http://h:1/a/b/c?q";
        assert_eq!(resolve_location(base, "d").as_deref(), Some("http://h:1/a/b/d"));
        assert_eq!(resolve_location(base, "/x/y").as_deref(), Some("http://h:1/x/y"));
        assert_eq!(resolve_location(base, "//o/p").as_deref(), Some("http://o/p"));
        assert_eq!(resolve_location(base, "https://o/p#f").as_deref(), Some("https://o/p"));
        assert_eq!(resolve_location("http://h", "d").as_deref(), Some("http://h/d"));
        assert_eq!(resolve_location(base, "").as_deref(), None);
        assert_eq!(scheme_of("HTTPS://x"), Some("https"));
        assert_eq!(scheme_of("ftp://x"), None);
        assert!(redirect_allowed("http://a/x", "https://b/x"));
        assert!(redirect_allowed("https://a/x", "HTTPS://b/x"));
        assert!(!redirect_allowed("https://a/x", "http://a/x"));
        assert!(!redirect_allowed("http://a/x", "file:///etc/passwd"));
        assert!(!redirect_allowed("http://a/x", "socks5://a/x"));
    }

    fn ostree(args: &[&str]) -> std::process::Output {
        Command::new("ostree").args(args).output().expect("run ostree")
    }

    fn has_ostree() -> bool {
        Command::new("ostree").arg("--version").output().is_ok_and(|o| o.status.success())
    }

    #[test]
    fn pull_from_ostree_made_repo_passes_ostree_fsck() {
        if !has_ostree() {
            eprintln!("skipping: `ostree` is not on PATH");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let src: PathBuf = tmp.path().join("src");
        let tree = tmp.path().join("tree");
        make_tree(&tree);
        let src_arg = format!("--repo={}", src.display());
        let out = ostree(&["init", &src_arg, "--mode=archive"]);
        assert!(out.status.success(), "{out:?}");
        let tree_arg = tree.display().to_string();
        let out = ostree(&["commit", &src_arg, "-b", "main", "-s", "test", &tree_arg]);
        assert!(out.status.success(), "{out:?}");
        let commit: Checksum = String::from_utf8_lossy(&out.stdout).trim().parse().expect("commit checksum");

        let url = serve(&src, vec![]);
        let dest_path = tmp.path().join("dest");
        let dest = Repo::init(&dest_path, RepoMode::BareUser).expect("init dest");
        let stats = pull(&dest, &url, &["main".into()], &PullOptions::default()).expect("pull");
        assert_eq!(stats.refs[0].commit, commit);
        assert_eq!(dest.refs().resolve("main").expect("resolve"), commit);

        let dest_arg = format!("--repo={}", dest_path.display());
        let out = ostree(&["fsck", &dest_arg]);
        assert!(out.status.success(), "{out:?}");
        let listing = |repo: &str| {
            let out = ostree(&["ls", repo, "-R", "-C", "main"]);
            assert!(out.status.success(), "{out:?}");
            out.stdout
        };
        let (a, b) = (listing(&src_arg), listing(&dest_arg));
        assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        assert!(String::from_utf8_lossy(&a).contains("/usr/lib/big"));
    }
}
