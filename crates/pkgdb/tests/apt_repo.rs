//! End-to-end tests of `apt::update` against a real, local apt repository:
//! debs built by `dpkg-deb`, indexes and Release by `apt-ftparchive`,
//! signatures by `gpg`, served by `python3 -m http.server`. Each test builds
//! its own repository, keys and server, and tears them down in `Drop`.
//!
//! The `live_debian_archive_inrelease` test uses the network and is ignored
//! by default: `cargo test -p pkgdb --test apt_repo -- --ignored`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use pkgdb::apt::update::cache_directory;
use pkgdb::apt::{AptError, HttpClient, SignedBy, Source, read_packages_compressed, read_sources, update};
use pkgdb::http::HttpError;
use sha2::{Digest, Sha256};

const DISTS: &str = "www/debian/dists/test";
const INDEX_DIR: &str = "www/debian/dists/test/main/binary-amd64";

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A local HTTP server, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Runs `python3 -u ARGS` and reads the port from the word after `port`
    /// in its first line of output.
    fn start(args: &[&std::ffi::OsStr]) -> Server {
        let mut child = Command::new("python3")
            .arg("-u")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = Server { child, port: 0 };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("first line");
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = line.split_whitespace().skip_while(|w| *w != "port").nth(1);
        server.port = port.and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {line:?}"));
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A served apt repository with two signing keys, `a` (trusted) and `b`.
struct Repo {
    dir: tempfile::TempDir,
    server: Option<Server>,
    port: u16,
}

impl Drop for Repo {
    fn drop(&mut self) {
        self.server.take();
        for key in ["a", "b"] {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(self.dir.path().join(format!("gnupg-{key}")))
                .args(["--kill", "all"])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Repo {
    /// Builds the repository (with `Acquire-By-Hash: yes`, indexes served
    /// only by hash), signs `InRelease` and `Release.gpg` with key `a`, and
    /// serves it.
    fn new() -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut repo = Repo { dir, server: None, port: 0 };
        for key in ["a", "b"] {
            let home = repo.path(&format!("gnupg-{key}"));
            std::fs::create_dir(&home).expect("gnupg home");
            std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
            run(repo
                .gpg(key)
                .args(["--quick-gen-key", &format!("Test {key} <{key}@example.invalid>")])
                .args(["rsa2048", "sign", "never"]));
            std::fs::write(repo.path(&format!("key-{key}.gpg")), run(repo.gpg(key).arg("--export"))).expect("key");
            std::fs::write(repo.path(&format!("key-{key}.asc")), run(repo.gpg(key).args(["--armor", "--export"])))
                .expect("key");
        }
        repo.build_debs();
        std::fs::create_dir_all(repo.path(INDEX_DIR)).expect("dists");
        let packages =
            run(Command::new("apt-ftparchive").current_dir(repo.path("www/debian")).args(["packages", "pool"]));
        std::fs::write(repo.path(&format!("{INDEX_DIR}/Packages")), &packages).expect("Packages");
        run(Command::new("xz").arg("-k").arg(repo.path(&format!("{INDEX_DIR}/Packages"))));
        repo.write_release();
        // Serve indexes only by hash, so the test proves by-hash is used.
        for name in ["Packages", "Packages.xz"] {
            let path = repo.path(&format!("{INDEX_DIR}/{name}"));
            let bytes = std::fs::read(&path).expect("index");
            let by_hash = repo.path(&format!("{INDEX_DIR}/by-hash/SHA256"));
            std::fs::create_dir_all(&by_hash).expect("by-hash");
            std::fs::write(by_hash.join(hex(&Sha256::digest(&bytes))), &bytes).expect("by-hash");
            std::fs::remove_file(path).expect("remove");
        }
        repo.sign_inrelease("a", &[]);
        repo.sign_detached("a");
        repo.serve();
        repo
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn gpg(&self, key: &str) -> Command {
        let mut command = Command::new("gpg");
        command.arg("--homedir").arg(self.path(&format!("gnupg-{key}"))).args([
            "--batch",
            "--quiet",
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
        ]);
        command
    }

    fn build_debs(&self) {
        let pool = self.path("www/debian/pool/main");
        std::fs::create_dir_all(&pool).expect("pool");
        for (name, extra) in [("dep-layer", ""), ("hello-layer", "Depends: dep-layer (>= 1.0)\n")] {
            let tree = self.path(&format!("build/{name}"));
            std::fs::create_dir_all(tree.join("DEBIAN")).expect("DEBIAN");
            std::fs::create_dir_all(tree.join("usr/share/doc").join(name)).expect("doc");
            std::fs::write(tree.join("usr/share/doc").join(name).join("README"), name).expect("readme");
            let control = format!(
                "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <t@example.invalid>\n{extra}Description: test package\n"
            );
            std::fs::write(tree.join("DEBIAN/control"), control).expect("control");
            run(Command::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(&tree)
                .arg(pool.join(format!("{name}_1.0_all.deb"))));
        }
    }

    fn write_release(&self) {
        let release = run(Command::new("apt-ftparchive").current_dir(self.path("www/debian")).args([
            "-o",
            "APT::FTPArchive::Release::Codename=test",
            "-o",
            "APT::FTPArchive::Release::Suite=test",
            "-o",
            "APT::FTPArchive::Release::Components=main",
            "-o",
            "APT::FTPArchive::Release::Architectures=amd64",
            "-o",
            "APT::FTPArchive::Release::Acquire-By-Hash=yes",
            "-o",
            "APT::FTPArchive::Release::ValidTime=604800",
            "release",
            "dists/test",
        ]));
        std::fs::write(self.path(&format!("{DISTS}/Release")), release).expect("Release");
    }

    /// Clearsigns `Release` as `InRelease` with `key`.
    fn sign_inrelease(&self, key: &str, extra: &[&str]) {
        let out = self.path(&format!("{DISTS}/InRelease"));
        let _ = std::fs::remove_file(&out);
        run(self
            .gpg(key)
            .args(extra)
            .arg("--clearsign")
            .arg("-o")
            .arg(&out)
            .arg(self.path(&format!("{DISTS}/Release"))));
    }

    fn sign_detached(&self, key: &str) {
        let out = self.path(&format!("{DISTS}/Release.gpg"));
        let _ = std::fs::remove_file(&out);
        run(self.gpg(key).args(["--detach-sign", "-o"]).arg(&out).arg(self.path(&format!("{DISTS}/Release"))));
    }

    /// Rewrites `Release` and signs it again with key `a`.
    fn edit_release(&self, edit: impl FnOnce(String) -> String) {
        let path = self.path(&format!("{DISTS}/Release"));
        let text = std::fs::read_to_string(&path).expect("Release");
        std::fs::write(&path, edit(text)).expect("Release");
        self.sign_inrelease("a", &[]);
    }

    fn serve(&mut self) {
        let www = self.path("www");
        let args = ["-m", "http.server", "--bind", "127.0.0.1", "0", "--directory"].map(std::ffi::OsStr::new);
        let server = Server::start(&[&args[..], &[www.as_os_str()]].concat());
        self.port = server.port;
        self.server = Some(server);
    }

    fn source(&self, signed_by: SignedBy) -> Source {
        Source {
            uri: format!("http://127.0.0.1:{}/debian", self.port),
            suite: "test".into(),
            components: vec!["main".into()],
            architectures: vec![],
            signed_by: Some(signed_by),
            file: self.path("test.sources"),
        }
    }

    fn trusting_a(&self) -> Source {
        self.source(SignedBy::Keyrings(vec![self.path("key-a.gpg")]))
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    fn by_hash_xz(&self) -> PathBuf {
        let dir = self.path(&format!("{INDEX_DIR}/by-hash/SHA256"));
        let release = std::fs::read_to_string(self.path(&format!("{DISTS}/Release"))).expect("Release");
        let sha256 = release.split("SHA256:").nth(1).expect("SHA256");
        let line = sha256.lines().find(|l| l.ends_with("main/binary-amd64/Packages.xz")).expect("xz line");
        dir.join(line.split_whitespace().next().expect("hash"))
    }
}

fn update_now(repo: &Repo, source: &Source) -> Result<pkgdb::apt::UpdateSummary, AptError> {
    update(source, &repo.cache(), SystemTime::now(), &HttpClient::new())
}

/// The cache entry's files, to prove a failed update changed nothing.
fn snapshot(directory: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![directory.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

fn cache_entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .expect("cache")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Named `apt::…` so that `cargo test -p pkgdb apt` selects them.
mod apt {
    use super::*;

    /// SECURITY 19–21 (the accepting side): a deb822 source read from a root,
    /// an armored `.asc` Signed-By, by-hash fetching, and a second update that
    /// replaces the first generation.
    #[test]
    fn good_update_from_sources_file() {
        let repo = Repo::new();
        let root = repo.path("root");
        std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).expect("root");
        let sources = format!(
            "Types: deb\nURIs: http://127.0.0.1:{}/debian/\nSuites: test\nComponents: main\nSigned-By: {}\n",
            repo.port,
            repo.path("key-a.asc").display()
        );
        std::fs::write(root.join("etc/apt/sources.list.d/test.sources"), sources).expect("sources");
        let source = read_sources(&root).expect("sources").pop().expect("one source");

        let summary = update_now(&repo, &source).expect("update");
        assert_eq!(summary.codename.as_deref(), Some("test"));
        assert_eq!(summary.indexes.len(), 1);
        assert_eq!(summary.indexes[0].path, "main/binary-amd64/Packages.xz");
        assert_eq!(summary.indexes[0].packages, Some(2));
        assert_eq!(summary.signed_by.len(), 1);

        let directory = cache_directory(&source, &repo.cache());
        assert_eq!(summary.directory, directory);
        let xz = std::fs::read(directory.join("main/binary-amd64/Packages.xz")).expect("cached index");
        let index = read_packages_compressed(&xz, "Packages.xz").expect("parses");
        let hello = index.find("hello-layer").next().expect("hello-layer");
        assert_eq!(hello.depends, Some("dep-layer (>= 1.0)"));
        assert_eq!(hello.filename, "pool/main/hello-layer_1.0_all.deb");
        let deb = std::fs::read(repo.path("www/debian").join(hello.filename)).expect("deb");
        assert_eq!(hello.size, deb.len() as u64);
        assert_eq!(hello.sha256.as_slice(), Sha256::digest(&deb).as_slice());
        let cached_release = std::fs::read_to_string(directory.join("Release")).expect("Release");
        assert!(cached_release.starts_with("Acquire-By-Hash: yes"), "the cached Release is gpgv's signed text");
        assert!(directory.join("InRelease").is_file());

        let first = std::fs::read_link(&directory).expect("symlink");
        let index_path = directory.join("main/binary-amd64/Packages.xz");
        let derived = pkgdb::apt::update::derived_cache_path(&index_path, &hex(&Sha256::digest(&xz)), "index");
        std::fs::write(&derived, b"derived").expect("a derived cache");
        let served = repo.path("www/debian/dists/test/main/binary-amd64");
        let moved = repo.path("moved-binary-amd64");
        std::fs::rename(&served, &moved).expect("hide the served index");

        // The same InRelease again: verified and checked for freshness,
        // then the cache is current and nothing is written.
        let before = snapshot(&directory);
        let summary = update_now(&repo, &source).expect("second update");
        assert_eq!(summary.indexes[0].packages, None, "kept, not fetched");
        assert_eq!(std::fs::read_link(&directory).expect("symlink"), first, "the same generation");
        assert_eq!(snapshot(&directory), before, "nothing written");

        // A new Release (signed again, a new Date) that still names the
        // index: a new generation keeps it, linked rather than fetched or
        // copied, with what was derived from it.
        repo.edit_release(|text| {
            text.lines()
                .map(|l| if l.starts_with("Date:") { format!("{l} ") } else { l.to_owned() })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        });
        let inode = |path: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("index"));
        let old_inode = inode(&index_path);
        let summary = update_now(&repo, &source).expect("third update");
        std::fs::rename(&moved, &served).expect("serve it again");
        assert_eq!(summary.indexes[0].packages, None, "kept, not fetched");
        let second = std::fs::read_link(&directory).expect("symlink");
        assert_ne!(first, second, "a new generation for the new Release");
        assert_eq!(std::fs::read(&index_path).expect("kept index"), xz);
        assert_eq!(inode(&index_path), old_inode, "linked from the old generation");
        assert_eq!(std::fs::read(&derived).expect("carried"), b"derived");
        assert_eq!(
            cache_entries(&repo.cache()).len(),
            2,
            "the old generation is gone: {:?}",
            cache_entries(&repo.cache())
        );
    }

    /// An inline armored key in a `.sources` file, and `Release` + detached
    /// `Release.gpg` when there is no `InRelease`.
    #[test]
    fn inline_key_and_detached_signature() {
        let repo = Repo::new();
        std::fs::remove_file(repo.path(&format!("{DISTS}/InRelease"))).expect("remove InRelease");
        let armored = std::fs::read_to_string(repo.path("key-a.asc")).expect("asc");
        let folded: String =
            armored.lines().map(|l| if l.is_empty() { " .\n".to_owned() } else { format!(" {l}\n") }).collect();
        let text = format!(
            "Types: deb\nURIs: http://127.0.0.1:{}/debian\nSuites: test\nComponents: main\nSigned-By:\n{folded}",
            repo.port
        );
        let source =
            pkgdb::apt::sources::parse_deb822(&text, Path::new("inline.sources")).expect("parses").pop().expect("one");
        assert!(matches!(source.signed_by, Some(SignedBy::Inline(_))));
        let summary = update_now(&repo, &source).expect("update");
        assert_eq!(summary.indexes[0].packages, Some(2));
        assert!(summary.directory.join("Release.gpg").is_file());

        repo.sign_detached("b");
        let error = update_now(&repo, &source).expect_err("must be refused");
        assert!(matches!(error, AptError::SignatureRefused { .. }), "{error}");
    }

    /// SECURITY 19, 20: an index that fails its Release hash is refused, the
    /// update rolls back, the old metadata stays, and no staging is left.
    #[test]
    fn tampered_index_keeps_old_metadata() {
        let repo = Repo::new();
        let source = repo.trusting_a();
        update_now(&repo, &source).expect("first update");
        let directory = cache_directory(&source, &repo.cache());
        // The cached copy no longer matches the Release either, so the
        // update cannot keep it and must fetch the (tampered) index.
        let cached = directory.join("main/binary-amd64/Packages.xz");
        let mut bytes = std::fs::read(&cached).expect("cached xz");
        bytes.push(0);
        std::fs::write(&cached, bytes).expect("damage the cache");
        let before = snapshot(&directory);
        let entries = cache_entries(&repo.cache());

        let path = repo.by_hash_xz();
        let mut bytes = std::fs::read(&path).expect("xz");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, bytes).expect("tamper");
        let error = update_now(&repo, &source).expect_err("must be refused");
        assert!(matches!(error, AptError::HashMismatch { .. }), "{error}");
        assert!(error.to_string().contains("by-hash/SHA256/"), "{error}");
        assert_eq!(snapshot(&directory), before);
        assert_eq!(cache_entries(&repo.cache()), entries);
    }

    /// SECURITY 21: one flipped byte in the signed text.
    #[test]
    fn bad_signature_is_refused() {
        let repo = Repo::new();
        let path = repo.path(&format!("{DISTS}/InRelease"));
        let text = std::fs::read_to_string(&path).expect("InRelease");
        std::fs::write(&path, text.replacen("Codename: test", "Codename: tesu", 1)).expect("flip");
        let error = update_now(&repo, &repo.trusting_a()).expect_err("must be refused");
        assert!(matches!(error, AptError::SignatureRefused { .. }), "{error}");
        assert!(!repo.cache().exists() || cache_entries(&repo.cache()).is_empty());
    }

    /// SECURITY 21: a key that exists but is not in `Signed-By`, alone or
    /// next to a trusted one.
    #[test]
    fn key_outside_signed_by_is_refused() {
        let repo = Repo::new();
        repo.sign_inrelease("b", &[]);
        let error = update_now(&repo, &repo.trusting_a()).expect_err("must be refused");
        assert!(matches!(error, AptError::SignatureRefused { .. }), "{error}");
        assert!(error.to_string().contains("outside `Signed-By`"), "{error}");
        // Trusting b (from its armored export) accepts the same file.
        let trusting_b = repo.source(SignedBy::Keyrings(vec![repo.path("key-b.asc")]));
        update_now(&repo, &trusting_b).expect("b is trusted here");
        let missing = Source { signed_by: None, ..repo.trusting_a() };
        assert!(matches!(update_now(&repo, &missing), Err(AptError::NoSignedBy { .. })));
    }

    /// SECURITY 21: a SHA-1 signature (gpg 2.2 still makes them; gpgv accepts
    /// them, and we refuse from the VALIDSIG hash algorithm).
    #[test]
    fn sha1_signature_is_refused() {
        let repo = Repo::new();
        repo.sign_inrelease("a", &["--digest-algo", "SHA1"]);
        let error = update_now(&repo, &repo.trusting_a()).expect_err("must be refused");
        assert!(matches!(error, AptError::WeakDigest { algorithm: 2, .. }), "{error}");
    }

    /// SECURITY 21: unsigned content after or before the signed part, or a
    /// second message.
    #[test]
    fn unsigned_content_around_the_signature_is_refused() {
        let repo = Repo::new();
        let path = repo.path(&format!("{DISTS}/InRelease"));
        let good = std::fs::read_to_string(&path).expect("InRelease");
        for bad in [
            format!("{good}Origin: evil\n"),
            format!("Origin: evil\n\n{good}"),
            format!("{good}{good}"),
            good.replacen("-----BEGIN PGP SIGNED MESSAGE-----", "\n-----BEGIN PGP SIGNED MESSAGE-----", 1),
        ] {
            std::fs::write(&path, &bad).expect("write");
            let error = update_now(&repo, &repo.trusting_a()).expect_err("must be refused");
            assert!(matches!(error, AptError::NotClearsigned { .. }), "{error}");
        }
        std::fs::write(&path, format!("{good}\n\n")).expect("write");
        update_now(&repo, &repo.trusting_a()).expect("trailing whitespace is fine");
    }

    /// SECURITY 23: an expired `Valid-Until` and a `Date` in the future, with
    /// the clock injected.
    #[test]
    fn expired_or_future_release_is_refused() {
        let repo = Repo::new();
        let source = repo.trusting_a();
        let client = HttpClient::new();
        let later = SystemTime::now() + Duration::from_secs(8 * 24 * 3600);
        let error = update(&source, &repo.cache(), later, &client).expect_err("must be refused");
        assert!(matches!(error, AptError::Expired { .. }), "{error}");
        let earlier = SystemTime::now() - Duration::from_secs(2 * 3600);
        let error = update(&source, &repo.cache(), earlier, &client).expect_err("must be refused");
        assert!(matches!(error, AptError::DateInFuture { .. }), "{error}");
        update(&source, &repo.cache(), SystemTime::now() + Duration::from_secs(6 * 24 * 3600), &client).expect("valid");
    }

    /// SECURITY 24: a correctly signed Release older than the cached one.
    #[test]
    fn replayed_release_is_refused() {
        let repo = Repo::new();
        let source = repo.trusting_a();
        update_now(&repo, &source).expect("first update");
        let directory = cache_directory(&source, &repo.cache());
        let before = snapshot(&directory);
        repo.edit_release(|text| {
            text.lines()
                .map(|l| {
                    if l.starts_with("Date:") { "Date: Mon, 01 Jan 2024 00:00:00 UTC".to_owned() } else { l.to_owned() }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        });
        let error = update_now(&repo, &source).expect_err("must be refused");
        assert!(matches!(error, AptError::Replay { .. }), "{error}");
        assert_eq!(snapshot(&directory), before);
    }

    /// SECURITY 26: an index body longer than the Release declares is cut off
    /// at the declared size and refused.
    #[test]
    fn body_longer_than_declared_is_refused() {
        let repo = Repo::new();
        let path = repo.by_hash_xz();
        let mut bytes = std::fs::read(&path).expect("xz");
        bytes.extend(std::iter::repeat_n(0u8, 1 << 20));
        std::fs::write(&path, bytes).expect("grow");
        let error = update_now(&repo, &repo.trusting_a()).expect_err("must be refused");
        assert!(matches!(error, AptError::Http(HttpError::TooLong { .. })), "{error}");
    }

    /// SECURITY 22: a repository with no signature at all is refused.
    #[test]
    fn unsigned_repository_is_refused() {
        let repo = Repo::new();
        std::fs::remove_file(repo.path(&format!("{DISTS}/InRelease"))).expect("remove");
        std::fs::remove_file(repo.path(&format!("{DISTS}/Release.gpg"))).expect("remove");
        let error = update_now(&repo, &repo.trusting_a()).expect_err("must be refused");
        assert!(matches!(error, AptError::Http(HttpError::HttpStatus { status: 404, .. })), "{error}");
        assert!(error.to_string().contains("Release.gpg"), "{error}");
    }

    /// A validly signed Release served for another suite.
    #[test]
    fn release_for_another_suite_is_refused() {
        let repo = Repo::new();
        let source = Source { suite: "test".into(), ..repo.trusting_a() };
        repo.edit_release(|text| {
            text.replace("Codename: test", "Codename: other").replace("Suite: test", "Suite: other")
        });
        let error = update_now(&repo, &source).expect_err("must be refused");
        assert!(matches!(error, AptError::WrongSuite { .. }), "{error}");
    }

    /// SECURITY 25: a redirect loop and a redirect to `file://` are refused.
    #[test]
    fn bad_redirects_are_refused() {
        const SCRIPT: &str = r#"
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.path if self.path.startswith("/loop") else "file:///etc/passwd")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("port", server.server_address[1])
server.serve_forever()
"#;
        let server = Server::start(&["-c", SCRIPT].map(std::ffi::OsStr::new));
        let client = HttpClient::new();
        for (path, reason) in [("loop", "more than 5 times"), ("file", "other than http or https")] {
            let url = format!("http://127.0.0.1:{}/{path}/InRelease", server.port);
            let error = client.get(&url, 1024).expect_err("must be refused");
            assert!(matches!(error, AptError::Http(HttpError::Redirect { .. })), "{error}");
            assert!(error.to_string().contains(reason), "{error}");
        }
    }

    /// Live: the Debian archive this machine's apt is configured for (its URI
    /// is read from the system's sources at run time), bookworm's InRelease
    /// verified with the Debian archive keyring, and main's Packages parsed.
    #[test]
    #[ignore = "live: uses the network (the Debian archive in this machine's apt sources)"]
    fn live_debian_archive_inrelease() {
        let keyring = PathBuf::from("/usr/share/keyrings/debian-archive-keyring.gpg");
        let configured = read_sources(Path::new("/")).expect("system sources");
        let mut source = configured
            .into_iter()
            .find(|s| s.suite == "bookworm" && s.components.iter().any(|c| c == "main"))
            .expect("a bookworm main source in this machine's apt sources");
        source.components = vec!["main".into()];
        source.architectures = vec!["amd64".into()];
        source.signed_by = Some(SignedBy::Keyrings(vec![keyring]));
        let cache = tempfile::tempdir().expect("cache");
        let summary = update(&source, cache.path(), SystemTime::now(), &HttpClient::new()).expect("live update");
        assert_eq!(summary.codename.as_deref(), Some("bookworm"));
        let xz = std::fs::read(summary.directory.join(&summary.indexes[0].path)).expect("cached index");
        let started = Instant::now();
        let text = pkgdb::apt::index::decompress(&xz, &summary.indexes[0].path).expect("decompresses");
        let decompressed = started.elapsed();
        let index = pkgdb::apt::read_packages(&text, &summary.indexes[0].path).expect("parses");
        let parsed = started.elapsed() - decompressed;
        eprintln!(
            "bookworm main amd64: {} packages; {} bytes of xz, {} bytes of text; xz {decompressed:?}, parse {parsed:?}; \
             index heap {} bytes",
            index.len(),
            xz.len(),
            text.len(),
            index.heap_bytes()
        );
        assert!(index.len() > 50_000, "{} packages", index.len());
        assert!(index.find("htop").next().is_some());
    }
}
