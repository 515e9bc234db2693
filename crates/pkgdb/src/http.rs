//! The crate's one HTTP client (blocking ureq) with the transport policy of
//! SECURITY.md 25 and 26: redirects are followed here, hop by hop, never
//! to `file://`, never from https to http, never in a loop, never through
//! a `Location` with control characters; every body stops at a limit and a
//! longer one is refused. `file:` URLs (apt's `deb file:/srv/repo ...`) are
//! read from the local filesystem under the same limits.

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;

/// Every fetch gets at least this long, end to end.
const MIN_TIMEOUT: Duration = Duration::from_secs(300);
/// A body slower than this on average over its whole limit is given up, so
/// a server dripping bytes cannot hold a fetch open forever.
const MIN_BYTES_PER_SECOND: u64 = 32 << 10;
/// A connection silent this long is given up.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every way a fetch fails.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot fetch `{url}`")]
    Fetch {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("the redirect from `{url}` is refused: {reason}")]
    Redirect { url: String, reason: &'static str },
    #[error("`{url}` answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("cannot read the body of `{url}`")]
    ReadBody {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the body of `{url}`")]
    WriteBody {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the body of `{url}` runs past its limit of {limit} bytes; it was cut off and refused")]
    TooLong { url: String, limit: u64 },
    #[error("`{url}` is not a local file this client reads: {reason}")]
    BadFileUrl { url: String, reason: &'static str },
    #[error("`{url}` does not exist")]
    FileNotFound { url: String },
    #[error("`{}` (from `{url}`) is not a regular file", path.display())]
    NotRegularFile { url: String, path: PathBuf },
    #[error("cannot read `{}` (from `{url}`)", path.display())]
    ReadFile {
        url: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HttpError {
    /// Whether trying the same URL again later may succeed: connection
    /// failures, timeouts, a body cut short by the network, HTTP 5xx, 408
    /// and 429. Never a refusal (redirect, limit), a 4xx or a local file.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Fetch { source, .. } => matches!(
                **source,
                ureq::Error::Io(_)
                    | ureq::Error::Timeout(_)
                    | ureq::Error::HostNotFound
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::Protocol(_)
                    | ureq::Error::BodyStalled
            ),
            HttpError::HttpStatus { status, .. } => matches!(status, 408 | 429 | 500..=599),
            HttpError::ReadBody { .. } => true,
            _ => false,
        }
    }

    /// Whether the server (or the filesystem) says there is no such file,
    /// so another mirror may have it.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::HttpStatus { status: 404 | 410, .. } | HttpError::FileNotFound { .. })
    }
}

/// A blocking HTTP client with policed redirects and bounded bodies. Cheap
/// to clone and share between threads (one connection pool).
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
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .user_agent(concat!("layer/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpClient { agent: config.into() }
    }

    /// The body of `url`, or `None` on 404 or 410 (or a missing local
    /// file). A body longer than `limit` is cut off there and refused. At
    /// most [`MAX_REDIRECTS`] redirects are followed, each checked by
    /// [`resolve_redirect`].
    pub fn get_optional(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, HttpError> {
        let mut body = Vec::new();
        match self.get_to(url, limit, &mut body) {
            Ok(_) => Ok(Some(body)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The body of `url`; 404 is an error.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        self.get_to(url, limit, &mut body)?;
        Ok(body)
    }

    /// Streams the body of `url` into `out` and returns its length. At most
    /// `limit` bytes ever reach `out`: a longer body is cut off there and
    /// refused with [`HttpError::TooLong`], so `out` must be discarded on
    /// any error. 404 and 410 are [`HttpError::HttpStatus`] (see
    /// [`HttpError::is_not_found`]).
    pub fn get_to(&self, url: &str, limit: u64, out: &mut impl Write) -> Result<u64, HttpError> {
        if has_scheme(url, "file") {
            return get_file_to(url, limit, out);
        }
        let timeout = MIN_TIMEOUT.max(Duration::from_secs(limit / MIN_BYTES_PER_SECOND));
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .agent
                .get(&current)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .call()
                .map_err(|source| HttpError::Fetch { url: current.clone(), source: Box::new(source) })?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response.headers().get("location").map(|v| v.to_str());
                let next = match location {
                    Some(Ok(location)) => resolve_redirect(&current, location),
                    Some(Err(_)) => Err("its `Location` holds control or non-ASCII characters"),
                    None => Err("it has no `Location`"),
                };
                current = next.map_err(|reason| HttpError::Redirect { url: current.clone(), reason })?;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(HttpError::HttpStatus { url: current, status });
            }
            let mut reader = response.into_body().into_reader();
            return copy_limited(&mut reader, out, limit, |source| HttpError::ReadBody {
                url: current.clone(),
                source,
            })
            .map_err(|error| error.into_http(&current, limit));
        }
        Err(HttpError::Redirect { url: url.to_owned(), reason: "it redirects more than 5 times (a loop?)" })
    }
}

/// Why [`copy_limited`] stopped.
enum CopyError {
    Read(HttpError),
    Write(std::io::Error),
    TooLong,
}

impl CopyError {
    fn into_http(self, url: &str, limit: u64) -> HttpError {
        match self {
            CopyError::Read(error) => error,
            CopyError::Write(source) => HttpError::WriteBody { url: url.to_owned(), source },
            CopyError::TooLong => HttpError::TooLong { url: url.to_owned(), limit },
        }
    }
}

/// Copies at most `limit` bytes from `reader` to `out`, then refuses the
/// body if one more byte can be read.
fn copy_limited(
    reader: &mut impl Read,
    out: &mut impl Write,
    limit: u64,
    read_error: impl Fn(std::io::Error) -> HttpError,
) -> Result<u64, CopyError> {
    let mut buffer = vec![0u8; 64 << 10];
    let mut copied = 0u64;
    loop {
        // One byte past the limit is read, never written, to tell a body
        // of exactly `limit` bytes from a longer one.
        let room = (limit - copied).saturating_add(1).min(buffer.len() as u64) as usize;
        let read = match reader.read(&mut buffer[..room]) {
            Ok(0) => return Ok(copied),
            Ok(read) => read,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(read_error(e))),
        };
        if read as u64 > limit - copied {
            return Err(CopyError::TooLong);
        }
        out.write_all(&buffer[..read]).map_err(CopyError::Write)?;
        copied += read as u64;
    }
}

/// Reads a `file:` URL: `file:/path`, `file:///path` or
/// `file://localhost/path`, percent-decoded, with no `..` segment. Only a
/// regular file (or a symlink to one) is read.
fn get_file_to(url: &str, limit: u64, out: &mut impl Write) -> Result<u64, HttpError> {
    let path = file_url_path(url).map_err(|reason| HttpError::BadFileUrl { url: url.to_owned(), reason })?;
    let read_error = |source: std::io::Error| HttpError::ReadFile { url: url.to_owned(), path: path.clone(), source };
    // Checked before opening, so that a FIFO cannot block the open.
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => {}
        Ok(_) => return Err(HttpError::NotRegularFile { url: url.to_owned(), path }),
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(HttpError::FileNotFound { url: url.to_owned() }),
        Err(source) => return Err(read_error(source)),
    }
    let mut file = std::fs::File::open(&path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(HttpError::NotRegularFile { url: url.to_owned(), path });
    }
    copy_limited(&mut file, out, limit, read_error).map_err(|error| error.into_http(url, limit))
}

/// The local path a `file:` URL names, or why it is refused.
pub fn file_url_path(url: &str) -> Result<PathBuf, &'static str> {
    let rest = url.get(5..).filter(|_| has_scheme(url, "file")).ok_or("it is not a `file:` URL")?;
    let path = match rest.strip_prefix("//") {
        None => rest,
        Some(after) if after.starts_with('/') => after,
        Some(after) => match after.get(..10) {
            Some(host) if host.eq_ignore_ascii_case("localhost/") => &after[9..],
            _ => return Err("it names a host other than `localhost`"),
        },
    };
    if !path.starts_with('/') {
        return Err("its path is not absolute");
    }
    if path.contains(['?', '#']) {
        return Err("it has a query or fragment");
    }
    let decoded = percent_decode(path).ok_or("it has a malformed `%` escape")?;
    if decoded.contains(&0) {
        return Err("its path holds a NUL byte");
    }
    let path = PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(decoded));
    if path.components().any(|c| c == std::path::Component::ParentDir) {
        return Err("its path has a `..` segment");
    }
    Ok(path)
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = (*bytes.get(i + 1)? as char).to_digit(16)?;
            let low = (*bytes.get(i + 2)? as char).to_digit(16)?;
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes a relative path (such as a `Packages` `Filename`) for
/// use after a base URL: every byte but unreserved characters and `/`.
/// Debian pool names hold `+`, `~` and sometimes `%` or `:`.
pub fn encode_path(path: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(path.len());
    for &byte in path.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Whether `url` starts with `scheme:` (case-insensitive).
fn has_scheme(url: &str, scheme: &str) -> bool {
    url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        && url.as_bytes().get(scheme.len()) == Some(&b':')
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `path` is what `file_url_path` makes of `url`.
    fn names(url: &str, path: &str) -> bool {
        file_url_path(url).as_deref() == Ok(std::path::Path::new(path))
    }

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
        assert!(resolve_redirect("http://a.invalid/x", "FILE:/etc/passwd").is_err());
        assert!(resolve_redirect("http://a.invalid/x", "javascript:alert(1)").is_err());
    }

    #[test]
    fn file_urls() {
        assert!(names("file:/srv/repo/a.deb", "/srv/repo/a.deb"));
        assert!(names("file:///srv/repo/a.deb", "/srv/repo/a.deb"));
        assert!(names("FILE:///srv/repo/a.deb", "/srv/repo/a.deb"));
        assert!(names("file://localhost/srv/repo/a.deb", "/srv/repo/a.deb"));
        assert!(names("file:/srv/repo/a_1%3a2%2Bb.deb", "/srv/repo/a_1:2+b.deb"));
        for bad in [
            "file://host/srv/a",
            "file:srv/a",
            "file:/srv/../etc/shadow",
            "file:/srv/%2e%2e/etc/shadow",
            "file:/srv/a%00b",
            "file:/srv/a%zz",
            "file:/srv/a?x",
            "http:/srv/a",
            "files:/srv/a",
        ] {
            assert!(file_url_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(
            encode_path("pool/main/g/g++-12/g++-12_12.2.0-14_amd64.deb"),
            "pool/main/g/g%2B%2B-12/g%2B%2B-12_12.2.0-14_amd64.deb"
        );
        assert_eq!(encode_path("a b%:~"), "a%20b%25%3A~");
    }

    #[test]
    fn copies_up_to_the_limit() {
        let never = |source| HttpError::ReadBody { url: String::new(), source };
        let mut out = Vec::new();
        assert!(matches!(copy_limited(&mut &b"hello"[..], &mut out, 5, never), Ok(5)));
        assert_eq!(out, b"hello");
        let mut out = Vec::new();
        assert!(matches!(copy_limited(&mut &b"hello!"[..], &mut out, 5, never), Err(CopyError::TooLong)));
        assert!(out.len() <= 5);
        let mut out = Vec::new();
        assert!(matches!(copy_limited(&mut &b""[..], &mut out, 0, never), Ok(0)));
        assert!(matches!(copy_limited(&mut &b"x"[..], &mut out, 0, never), Err(CopyError::TooLong)));
        assert!(out.is_empty());
    }
}
