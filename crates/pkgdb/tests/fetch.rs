//! `fetch` against servers on 127.0.0.1: a tiny HTTP server written here
//! for fault injection (statuses, redirects, short, long, slow and cut
//! bodies), local `file:` sources, and two fetches (threads and processes)
//! filling one cache at once.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pkgdb::fetch::{FetchError, FetchOptions, PackageCache, WantedFile, fetch};
use pkgdb::http::{HttpClient, HttpError};
use sha2::{Digest, Sha256};

/// What the server answers to one request.
#[derive(Clone, Debug)]
enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 200 with this body, sent in chunks with a pause before each.
    Slow(Vec<u8>),
    /// 200 declaring this many bytes, then the body and a closed connection.
    Cut {
        body: Vec<u8>,
        declared: usize,
    },
    Status(u16),
    Redirect(String),
}

#[derive(Default)]
struct State {
    /// Per path, the replies in order; the last one repeats.
    routes: Mutex<HashMap<String, Vec<Reply>>>,
    hits: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// An HTTP/1.1 server on 127.0.0.1 that closes every connection after one
/// response; stopped on drop.
struct Server {
    port: u16,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        Server { port, state, stop, thread: Some(thread) }
    }

    fn route(&self, path: &str, replies: Vec<Reply>) -> String {
        self.state.routes.lock().expect("routes").insert(path.to_owned(), replies);
        self.url(path)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.state.hits.lock().expect("hits").get(path).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, state: &State) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 64 << 10 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let seen = {
        let mut hits = state.hits.lock().expect("hits");
        let count = hits.entry(path.clone()).or_default();
        *count += 1;
        *count
    };
    let reply = state
        .routes
        .lock()
        .expect("routes")
        .get(&path)
        .map(|replies| replies[(seen - 1).min(replies.len() - 1)].clone());
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _ = respond(&mut stream, reply.unwrap_or(Reply::Status(404)));
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let _ = stream.shutdown(Shutdown::Both);
}

fn respond(stream: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    let head = |status: &str, length: usize, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n{extra}\r\n")
    };
    match reply {
        Reply::Body(body) => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            stream.write_all(&body)
        }
        Reply::Slow(body) => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            for chunk in body.chunks(body.len().div_ceil(4).max(1)) {
                std::thread::sleep(Duration::from_millis(50));
                stream.write_all(chunk)?;
            }
            Ok(())
        }
        Reply::Cut { body, declared } => {
            stream.write_all(head("200 OK", declared, "").as_bytes())?;
            stream.write_all(&body)
        }
        Reply::Status(status) => stream.write_all(head(&format!("{status} Status"), 0, "").as_bytes()),
        Reply::Redirect(location) => {
            stream.write_all(head("302 Found", 0, &format!("Location: {location}\r\n")).as_bytes())
        }
    }
}

/// `size` bytes that differ per `seed`.
fn content(seed: u8, size: usize) -> Vec<u8> {
    (0..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
}

fn wanted(name: &str, urls: &[&str], body: &[u8]) -> WantedFile {
    WantedFile {
        name: name.to_owned(),
        urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        size: body.len() as u64,
        sha256: Sha256::digest(body).into(),
    }
}

fn options() -> FetchOptions {
    FetchOptions { backoff: Duration::from_millis(10), progress: false, ..FetchOptions::default() }
}

fn new_cache() -> (tempfile::TempDir, PackageCache) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = PackageCache::new(dir.path().join("cache"));
    (dir, cache)
}

/// Files left in the staging directory.
fn staging(cache: &PackageCache) -> Vec<PathBuf> {
    match std::fs::read_dir(cache.root().join("tmp")) {
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every file under `CACHE/sha256`, which must each hash to its name.
fn cached_files(cache: &PackageCache) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(prefixes) = std::fs::read_dir(cache.root().join("sha256")) else { return found };
    for prefix in prefixes {
        let prefix = prefix.expect("entry").path();
        for file in std::fs::read_dir(&prefix).expect("prefix dir") {
            let path = file.expect("entry").path();
            let name = format!(
                "{}{}",
                prefix.file_name().expect("name").to_string_lossy(),
                path.file_name().expect("name").to_string_lossy()
            );
            let actual: String =
                Sha256::digest(std::fs::read(&path).expect("read")).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(actual, name, "{} holds content that does not match its name", path.display());
            found.push(path);
        }
    }
    found
}

fn require_not_cached(cache: &PackageCache, file: &WantedFile) {
    assert!(!cache.path_of(&file.sha256).exists(), "`{}` must not be cached", file.name);
    assert_eq!(staging(cache), Vec::<PathBuf>::new(), "staging files were left behind");
}

#[test]
fn several_files_in_parallel() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let mut files = Vec::new();
    let mut bodies = Vec::new();
    for (i, size) in [0usize, 1, 4096, 65536, 65537, 300_000, 1 << 20, 12345].into_iter().enumerate() {
        let body = content(i as u8, size);
        let url = server.route(&format!("/pool/p{i}.deb"), vec![Reply::Slow(body.clone())]);
        files.push(wanted(&format!("p{i}"), &[&url], &body));
        bodies.push(body);
    }
    let fetched = fetch(&cache, &files, &HttpClient::new(), &options()).expect("fetch");
    assert_eq!(fetched.paths.len(), files.len());
    for ((path, file), body) in fetched.paths.iter().zip(&files).zip(&bodies) {
        assert_eq!(path, &cache.path_of(&file.sha256));
        assert_eq!(&std::fs::read(path).expect("cached"), body);
        assert!(std::fs::metadata(path).expect("metadata").permissions().readonly());
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    assert_eq!((fetched.summary.downloaded, fetched.summary.bytes, fetched.summary.cache_hits), (8, total, 0));
    for i in 0..files.len() {
        assert_eq!(server.hits(&format!("/pool/p{i}.deb")), 1);
    }
    let most = server.state.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=4).contains(&most), "{most} downloads at once, expected 2 to 4");
    assert_eq!(cached_files(&cache).len(), files.len());
    assert_eq!(staging(&cache), Vec::<PathBuf>::new());
}

#[test]
fn cache_hits_need_no_server() {
    let (_dir, cache) = new_cache();
    let body = content(1, 5000);
    let other = content(2, 7000);
    let files = {
        let server = Server::start();
        let files = vec![
            wanted("a", &[&server.route("/a.deb", vec![Reply::Body(body.clone())])], &body),
            wanted("b", &[&server.route("/b.deb", vec![Reply::Body(other.clone())])], &other),
        ];
        let first = fetch(&cache, &files, &HttpClient::new(), &options()).expect("first fetch");
        assert_eq!(first.summary.downloaded, 2);
        files
    };
    // The server is gone; its port refuses connections.
    let again = fetch(&cache, &files, &HttpClient::new(), &options()).expect("from the cache");
    assert_eq!((again.summary.downloaded, again.summary.bytes, again.summary.cache_hits), (0, 0, 2));
    assert_eq!(again.paths, files.iter().map(|f| cache.path_of(&f.sha256)).collect::<Vec<_>>());
    let cache_only = FetchOptions { cache_only: true, ..options() };
    fetch(&cache, &files, &HttpClient::new(), &cache_only).expect("cache-only with everything cached");
}

/// SECURITY 19.
#[test]
fn wrong_hash_is_refused_and_not_cached() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(3, 10_000);
    let mut served = body.clone();
    served[5000] ^= 1;
    let url = server.route("/evil.deb", vec![Reply::Body(served)]);
    let file = wanted("evil", &[&url], &body);
    let error = fetch(&cache, std::slice::from_ref(&file), &HttpClient::new(), &options()).expect_err("refused");
    assert!(matches!(error, FetchError::HashMismatch { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("`evil`") && message.contains(&url), "{message}");
    assert_eq!(server.hits("/evil.deb"), 1, "a mismatch is never retried");
    require_not_cached(&cache, &file);
}

/// SECURITY 26: the body is cut off at the declared size and refused.
#[test]
fn body_longer_than_declared_is_cut_off_and_refused() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(4, 1000);
    let mut served = body.clone();
    served.extend(content(5, 4 << 20));
    let url = server.route("/long.deb", vec![Reply::Body(served)]);
    let file = wanted("long", &[&url], &body);
    let error = fetch(&cache, std::slice::from_ref(&file), &HttpClient::new(), &options()).expect_err("refused");
    assert!(matches!(error, FetchError::TooLong { expected: 1000, .. }), "{error}");
    assert!(error.to_string().contains("`long`") && error.to_string().contains(&url), "{error}");
    assert_eq!(server.hits("/long.deb"), 1);
    require_not_cached(&cache, &file);
}

#[test]
fn body_shorter_than_declared_is_refused() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(6, 1000);
    let url = server.route("/short.deb", vec![Reply::Body(body[..990].to_vec())]);
    let file = wanted("short", &[&url], &body);
    let error = fetch(&cache, std::slice::from_ref(&file), &HttpClient::new(), &options()).expect_err("refused");
    assert!(matches!(error, FetchError::SizeMismatch { expected: 1000, actual: 990, .. }), "{error}");
    assert_eq!(server.hits("/short.deb"), 1);
    require_not_cached(&cache, &file);
}

#[test]
fn transient_failures_are_retried() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(7, 200_000);
    let files = [
        wanted(
            "a",
            &[&server.route("/a.deb", vec![Reply::Status(503), Reply::Status(503), Reply::Body(body.clone())])],
            &body,
        ),
        // A connection closed mid-body: the staging file and hash start over.
        {
            let other = content(8, 100_000);
            let cut = Reply::Cut { body: other[..30_000].to_vec(), declared: other.len() };
            wanted("b", &[&server.route("/b.deb", vec![Reply::Status(429), cut, Reply::Body(other.clone())])], &other)
        },
    ];
    let fetched = fetch(&cache, &files, &HttpClient::new(), &options()).expect("succeeds after retries");
    assert_eq!(server.hits("/a.deb"), 3);
    assert_eq!(server.hits("/b.deb"), 3);
    assert_eq!((fetched.summary.downloaded, fetched.summary.retries), (2, 4));
    assert_eq!(cached_files(&cache).len(), 2);
    assert_eq!(staging(&cache), Vec::<PathBuf>::new());
}

#[test]
fn retries_give_up() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(9, 100);
    let file = wanted("down", &[&server.route("/down.deb", vec![Reply::Status(500)])], &body);
    let options = FetchOptions { attempts: 3, ..options() };
    let error = fetch(&cache, std::slice::from_ref(&file), &HttpClient::new(), &options).expect_err("fails");
    assert!(
        matches!(&error, FetchError::Download { attempts: 3, source: HttpError::HttpStatus { status: 500, .. }, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
    assert_eq!(server.hits("/down.deb"), 3);
    require_not_cached(&cache, &file);
}

#[test]
fn not_found_is_not_retried() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(10, 100);
    let url = server.route("/gone.deb", vec![Reply::Status(404), Reply::Body(body.clone())]);
    let file = wanted("gone", &[&url], &body);
    let error = fetch(&cache, std::slice::from_ref(&file), &HttpClient::new(), &options()).expect_err("fails");
    assert!(
        matches!(&error, FetchError::Download { attempts: 1, source: HttpError::HttpStatus { status: 404, .. }, .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("`gone`") && message.contains(&url), "{message}");
    assert_eq!(server.hits("/gone.deb"), 1);
    require_not_cached(&cache, &file);
}

#[test]
fn next_mirror_after_a_failure() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(11, 3000);
    let missing = server.route("/one/x.deb", vec![Reply::Status(404)]);
    let good = server.route("/two/x.deb", vec![Reply::Body(body.clone())]);
    let file = wanted("x", &[&missing, &good], &body);
    fetch(&cache, &[file], &HttpClient::new(), &options()).expect("second mirror");
    assert_eq!((server.hits("/one/x.deb"), server.hits("/two/x.deb")), (1, 1));
}

/// SECURITY 25.
#[test]
fn redirect_to_file_is_refused() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let target = tempfile::NamedTempFile::new().expect("target");
    let body = content(12, 64);
    std::fs::write(target.path(), &body).expect("target");
    let location = format!("file://{}", target.path().display());
    let url = server.route("/r.deb", vec![Reply::Redirect(location)]);
    let file = wanted("r", &[&url], &body);
    let error = fetch(&cache, std::slice::from_ref(&file), &HttpClient::new(), &options()).expect_err("refused");
    assert!(matches!(&error, FetchError::Download { source: HttpError::Redirect { .. }, .. }), "{error}");
    assert_eq!(server.hits("/r.deb"), 1);
    require_not_cached(&cache, &file);

    // A redirect within http is followed.
    server.route("/real.deb", vec![Reply::Body(body.clone())]);
    let url = server.route("/moved.deb", vec![Reply::Redirect("/real.deb".into())]);
    fetch(&cache, &[wanted("moved", &[&url], &body)], &HttpClient::new(), &options()).expect("followed");
}

#[test]
fn file_sources() {
    let (dir, cache) = new_cache();
    let repo = dir.path().join("repo with space");
    std::fs::create_dir_all(repo.join("pool")).expect("repo");
    let a = content(13, 10_000);
    let b = content(14, 20_000);
    std::fs::write(repo.join("pool/a_1:2+b.deb"), &a).expect("a");
    std::fs::write(repo.join("pool/b.deb"), &b).expect("b");
    let encoded = pkgdb::http::encode_path(&repo.display().to_string());
    let files = [
        wanted("a", &[&format!("file://{encoded}/{}", pkgdb::http::encode_path("pool/a_1:2+b.deb"))], &a),
        wanted("b", &[&format!("file:{encoded}/pool/b.deb")], &b),
    ];
    let fetched = fetch(&cache, &files, &HttpClient::new(), &options()).expect("local repository");
    assert_eq!(std::fs::read(&fetched.paths[0]).expect("a"), a);
    assert_eq!(std::fs::read(&fetched.paths[1]).expect("b"), b);

    let missing = wanted("c", &[&format!("file:{encoded}/pool/c.deb")], &a[..10]);
    let error = fetch(&cache, &[missing], &HttpClient::new(), &options()).expect_err("missing");
    assert!(matches!(&error, FetchError::Download { source: HttpError::FileNotFound { .. }, .. }), "{error}");
    let directory = wanted("d", &[&format!("file:{encoded}/pool")], &a[..10]);
    let error = fetch(&cache, &[directory], &HttpClient::new(), &options()).expect_err("a directory");
    assert!(matches!(&error, FetchError::Download { source: HttpError::NotRegularFile { .. }, .. }), "{error}");
    // The limit holds for local files too.
    let long = wanted("long", &[&format!("file:{encoded}/pool/b.deb")], &b[..100]);
    let error = fetch(&cache, &[long], &HttpClient::new(), &options()).expect_err("too long");
    assert!(matches!(error, FetchError::TooLong { expected: 100, .. }), "{error}");
    assert_eq!(cached_files(&cache).len(), 2);
}

#[test]
fn two_threads_fetch_the_same_file() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(15, 500_000);
    let url = server.route("/same.deb", vec![Reply::Slow(body.clone())]);
    let file = wanted("same", &[&url], &body);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| fetch(&cache, std::slice::from_ref(&file), &HttpClient::new(), &options())))
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for result in results {
        let fetched = result.expect("both succeed");
        assert_eq!(std::fs::read(&fetched.paths[0]).expect("cached"), body);
    }
    assert_eq!(server.hits("/same.deb"), 2, "both downloaded, and one found the other's file in place");
    assert_eq!(cached_files(&cache).len(), 1);
    assert_eq!(staging(&cache), Vec::<PathBuf>::new());
}

/// Run by `two_processes_fetch_the_same_file` in a child process.
#[test]
#[ignore = "a helper: runs in the child processes of two_processes_fetch_the_same_file"]
fn child_fetch() {
    let Ok(cache) = std::env::var("FETCH_TEST_CACHE") else { return };
    let url = std::env::var("FETCH_TEST_URL").expect("url");
    let body = content(16, 500_000);
    let fetched = fetch(&PackageCache::new(cache), &[wanted("same", &[&url], &body)], &HttpClient::new(), &options())
        .expect("child fetch");
    assert_eq!(std::fs::read(&fetched.paths[0]).expect("cached"), body);
}

#[test]
fn two_processes_fetch_the_same_file() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(16, 500_000);
    let url = server.route("/same.deb", vec![Reply::Slow(body.clone())]);
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_fetch", "--ignored", "--nocapture", "--test-threads=1"])
                .env("FETCH_TEST_CACHE", cache.root())
                .env("FETCH_TEST_URL", &url)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("child")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("child").success());
    }
    assert_eq!(server.hits("/same.deb"), 2, "both downloaded, and one found the other's file in place");
    assert_eq!(cached_files(&cache), vec![cache.path_of(&Sha256::digest(&body).into())]);
    assert_eq!(staging(&cache), Vec::<PathBuf>::new());
}

#[test]
fn cache_only_names_what_is_missing() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let bodies: Vec<_> = (0..3).map(|i| content(20 + i, 1000 + i as usize)).collect();
    let files: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            wanted(&format!("pkg{i}"), &[&server.route(&format!("/{i}.deb"), vec![Reply::Body(body.clone())])], body)
        })
        .collect();
    fetch(&cache, &files[..1], &HttpClient::new(), &options()).expect("one cached");
    let cache_only = FetchOptions { cache_only: true, ..options() };
    let error = fetch(&cache, &files, &HttpClient::new(), &cache_only).expect_err("two missing");
    match &error {
        FetchError::NotCached { packages } => assert_eq!(packages, &["pkg1", "pkg2"]),
        other => panic!("{other}"),
    }
    let message = error.to_string();
    assert!(message.contains("`pkg1`, `pkg2`") && !message.contains("pkg0") && message.contains("hint:"), "{message}");
    assert_eq!((server.hits("/1.deb"), server.hits("/2.deb")), (0, 0));
}

/// The first hard error stops the rest, and nothing partial stays.
#[test]
fn first_error_cancels_the_rest() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let bad = content(30, 1000);
    let mut files = vec![wanted("bad", &[&server.route("/bad.deb", vec![Reply::Body(content(31, 1000))])], &bad)];
    for i in 0..12 {
        let body = content(40 + i, 400_000);
        files.push(wanted(
            &format!("slow{i}"),
            &[&server.route(&format!("/slow{i}.deb"), vec![Reply::Slow(body.clone())])],
            &body,
        ));
    }
    let error = fetch(&cache, &files, &HttpClient::new(), &options()).expect_err("refused");
    assert!(matches!(&error, FetchError::HashMismatch { package, .. } if package == "bad"), "{error}");
    let started = (0..12).filter(|i| server.hits(&format!("/slow{i}.deb")) > 0).count();
    assert!(started < 12, "all downloads ran despite the error");
    cached_files(&cache);
    assert_eq!(staging(&cache), Vec::<PathBuf>::new());
    assert!(!cache.path_of(&files[0].sha256).exists());
}

#[test]
fn damaged_entry_is_replaced_and_duplicates_fetched_once() {
    let server = Server::start();
    let (_dir, cache) = new_cache();
    let body = content(50, 8000);
    let url = server.route("/d.deb", vec![Reply::Body(body.clone())]);
    let file = wanted("d", &[&url], &body);
    let path = cache.path_of(&file.sha256);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, &body[..4000]).expect("truncated entry");
    assert_eq!(cache.get_optional(&file.sha256, file.size).expect("lookup"), None);
    let alias = WantedFile { name: "d-alias".into(), ..file.clone() };
    let fetched = fetch(&cache, &[file.clone(), alias], &HttpClient::new(), &options()).expect("fetch");
    assert_eq!(fetched.paths, vec![path.clone(), path.clone()]);
    assert_eq!(fetched.summary.downloaded, 1);
    assert_eq!(server.hits("/d.deb"), 1);
    assert_eq!(std::fs::read(&path).expect("cached"), body);
    assert_eq!(cache.get_optional(&file.sha256, file.size).expect("lookup"), Some(path));

    let other = WantedFile { size: 1, ..file };
    let error = fetch(&cache, &[wanted("d", &[&url], &body), other], &HttpClient::new(), &options()).expect_err("");
    assert!(matches!(error, FetchError::ConflictingSizes { .. }), "{error}");
}

/// `get_to` streams, and stops at the limit.
#[test]
fn streaming_get_stops_at_the_limit() {
    let server = Server::start();
    let body = content(60, 300_000);
    let url = server.route("/s", vec![Reply::Body(body.clone())]);
    let client = HttpClient::new();
    let mut out = Vec::new();
    assert_eq!(client.get_to(&url, body.len() as u64, &mut out).expect("exact limit"), body.len() as u64);
    assert_eq!(out, body);
    let mut out = Vec::new();
    let error = client.get_to(&url, 1000, &mut out).expect_err("too long");
    assert!(matches!(error, HttpError::TooLong { limit: 1000, .. }), "{error}");
    assert!(out.len() <= 1000, "{} bytes passed the limit", out.len());
    assert_eq!(client.get_optional(&server.url("/nothing"), 10).expect("404"), None);
}
