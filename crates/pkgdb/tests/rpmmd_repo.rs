//! End-to-end tests of `rpmmd` against a real, local rpm-md repository:
//! rpms built by `rpmbuild` from spec files written here (and a few
//! fixtures), signed by `rpmsign`, metadata by `createrepo_c`, `repomd.xml`
//! signed by `gpg`, served by `python3 -m http.server`'s handler on
//! 127.0.0.1, configured by a `.repo` file in a temporary root. Each test
//! builds its own repository, keys and server, and tears them down in `Drop`.
//! `rpm -qpl` and `rpmkeys --checksig` are the oracles where they can be.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::SystemTime;

use pkgdb::apt::Keyring;
use pkgdb::fetch::{FetchOptions, PackageCache, fetch};
use pkgdb::http::{HttpClient, HttpError};
use pkgdb::rpm::VersionOp;
use pkgdb::rpmmd::signature::SignatureKind;
use pkgdb::rpmmd::{
    CachedRepo, DepKind, Evr, FileKind, Repository, RpmmdError, UpdateSummary, cache_directory, read_repositories,
    require_package_signature, update, verify_package_signature,
};
use sha2::{Digest, Sha256};

/// The repository's directory under the served `www`, as the `.repo` file
/// names it with `$releasever/$basearch`.
const REPO_DIR: &str = "www/repo/40/x86_64";
const RELEASEVER: &str = "40";

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/rpms/formats")
}

fn key_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpmmd").join(name)
}

/// Serves `ROOT` on 127.0.0.1 like `python3 -m http.server`, except that a
/// path listed in the JSON file `REDIRECTS` answers 302 to its value.
const SERVER: &str = r#"
import functools, http.server, json, sys
root, redirects = sys.argv[1], sys.argv[2]
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        try:
            with open(redirects) as f:
                target = json.load(f).get(self.path)
        except FileNotFoundError:
            target = None
        if target:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
print("port", server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A local HTTP server, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(root: &Path, redirects: &Path) -> Server {
        let mut child = Command::new("python3")
            .arg("-u")
            .arg("-c")
            .arg(SERVER)
            .arg(root)
            .arg(redirects)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = Server { child, port: 0 };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("first line");
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

/// The packages built for every repository: (spec name, signed by key `a`).
const BUILT: &[(&str, bool)] =
    &[("hello-layer", true), ("dep-layer", true), ("alt-b", true), ("unsigned-layer", false)];
/// Fixtures copied into every repository.
const FIXTURES: &[&str] =
    &["v4_signed_rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm", "v6_rpm-rich-deps-1.0-1.noarch.rpm"];

fn spec(name: &str) -> String {
    let (header, install, files) = match name {
        "hello-layer" => (
            "Version: 1.0\nRelease: 1\n\
             Requires: dep-layer >= 1.5~rc1\n\
             Requires(pre): /usr/bin/dep-tool\n\
             Requires: (alt-a or alt-b)\n\
             Provides: virtual-hello = 1.0\n\
             Conflicts: old-thing < 2\n\
             Obsoletes: hello-legacy < 1.0\n\
             Recommends: extra-layer\n",
            "mkdir -p %{buildroot}/usr/bin %{buildroot}/etc %{buildroot}/usr/share/doc/hello-layer %{buildroot}/usr/share/hello-layer\n\
             echo hello > %{buildroot}/usr/bin/hello\n\
             echo conf > %{buildroot}/etc/hello.conf\n\
             echo readme > %{buildroot}/usr/share/doc/hello-layer/README\n\
             echo notes > '%{buildroot}/usr/share/hello-layer/R&D <notes>.txt'\n",
            "/usr/bin/hello\n%config(noreplace) /etc/hello.conf\n/usr/share/doc/hello-layer\n\"/usr/share/hello-layer/R&D <notes>.txt\"\n",
        ),
        "dep-layer" => (
            "Epoch: 2\nVersion: 1.5~rc1\nRelease: 3\nProvides: virtual-dep\n",
            "mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/lib/dep-layer %{buildroot}/var/log\n\
             echo tool > %{buildroot}/usr/bin/dep-tool\n\
             echo data > %{buildroot}/usr/lib/dep-layer/data\n",
            "/usr/bin/dep-tool\n%dir /usr/lib/dep-layer\n/usr/lib/dep-layer/data\n%ghost /var/log/dep-layer.log\n",
        ),
        "alt-b" => ("Version: 1.0^git1\nRelease: 1\nProvides: alt-virtual = 2\n", "", ""),
        "unsigned-layer" => ("Version: 1.0\nRelease: 1\n", "", ""),
        other => panic!("no spec {other}"),
    };
    format!(
        "Name: {name}\n{header}Summary: {name} for tests\nLicense: MIT\nBuildArch: noarch\n\
         %description\nA package built by rpmmd_repo.rs.\n%install\n{install}\n%files\n{files}"
    )
}

/// A served rpm-md repository with two signing keys, `a` (trusted, signs
/// `repomd.xml` and the packages) and `b`, and an image root whose
/// `.repo` file points at it.
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
                .arg(self.path(&format!("gnupg-{key}")))
                .args(["--kill", "all"])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Repo {
    /// Builds and signs the packages, runs `createrepo_c` (revision 100),
    /// signs `repomd.xml` with key `a`, serves it, and writes the root with
    /// `repo_gpgcheck=1` and `gpgcheck=1`.
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
                .args(["ed25519", "sign", "never"]));
            std::fs::write(repo.path(&format!("key-{key}.asc")), run(repo.gpg(key).args(["--armor", "--export"])))
                .expect("key");
        }
        std::fs::create_dir_all(repo.path(REPO_DIR)).expect("repo dir");
        repo.build_rpms();
        for name in FIXTURES {
            std::fs::copy(fixtures().join(name), repo.path(REPO_DIR).join(name)).expect("fixture");
        }
        repo.createrepo(100);
        repo.sign_repomd("a");
        repo.serve();
        repo.write_root("repo_gpgcheck=1\ngpgcheck=1\n");
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

    fn build_rpms(&self) {
        let topdir = self.path("rpmbuild");
        std::fs::create_dir_all(topdir.join("SPECS")).expect("SPECS");
        for (name, signed) in BUILT {
            let spec_path = topdir.join(format!("SPECS/{name}.spec"));
            std::fs::write(&spec_path, spec(name)).expect("spec");
            run(Command::new("rpmbuild")
                .args(["-bb", "--quiet", "--define"])
                .arg(format!("_topdir {}", topdir.display()))
                .arg(&spec_path));
            let built: Vec<PathBuf> = std::fs::read_dir(topdir.join("RPMS/noarch"))
                .expect("RPMS")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{name}-"))))
                .collect();
            assert_eq!(built.len(), 1, "{built:?}");
            let target = self.path(REPO_DIR).join(built[0].file_name().expect("name"));
            std::fs::rename(&built[0], &target).expect("move rpm");
            if *signed {
                self.rpmsign("a", &target);
            }
        }
    }

    fn rpmsign(&self, key: &str, rpm: &Path) {
        run(Command::new("rpmsign")
            .arg("--addsign")
            .arg("--define")
            .arg(format!("_gpg_path {}", self.path(&format!("gnupg-{key}")).display()))
            .arg("--define")
            .arg(format!("_gpg_name {key}@example.invalid"))
            .args(["--define", "__gpg /usr/bin/gpg"])
            .arg(rpm));
    }

    fn createrepo(&self, revision: u64) {
        run(Command::new("createrepo_c")
            .args(["--quiet", "--no-database", "--revision", &revision.to_string()])
            .arg(self.path(REPO_DIR)));
    }

    fn repomd(&self) -> PathBuf {
        self.path(&format!("{REPO_DIR}/repodata/repomd.xml"))
    }

    fn sign_repomd(&self, key: &str) {
        let out = self.path(&format!("{REPO_DIR}/repodata/repomd.xml.asc"));
        let _ = std::fs::remove_file(&out);
        run(self.gpg(key).args(["--detach-sign", "--armor", "-o"]).arg(&out).arg(self.repomd()));
    }

    /// The served path of the data file of `kind` in the current repomd.xml.
    fn data_file(&self, kind: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.repomd()).expect("repomd");
        let entry = text.split(&format!("<data type=\"{kind}\">")).nth(1).expect("entry");
        let href = entry.split("href=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("href");
        self.path(REPO_DIR).join(href)
    }

    fn serve(&mut self) {
        let server = Server::start(&self.path("www"), &self.path("redirects.json"));
        self.port = server.port;
        self.server = Some(server);
    }

    fn redirect(&self, from: &Path, to: &str) {
        let served = from.strip_prefix(self.path("www")).expect("served path");
        let table = format!("{{\"/{}\": \"{to}\"}}", served.display());
        std::fs::write(self.path("redirects.json"), table).expect("redirects");
    }

    fn root(&self) -> PathBuf {
        self.path("root")
    }

    /// Writes the image root: `os-release` (a relative symlink, as on
    /// Fedora), key `a` under `/etc/pki/rpm-gpg` and `test.repo` with
    /// `options` added to its section.
    fn write_root(&self, options: &str) {
        let root = self.root();
        for dir in ["etc/yum.repos.d", "etc/pki/rpm-gpg", "usr/lib"] {
            std::fs::create_dir_all(root.join(dir)).expect("root dir");
        }
        std::fs::write(root.join("usr/lib/os-release"), format!("NAME=Test\nVERSION_ID=\"{RELEASEVER}\"\n"))
            .expect("os-release");
        let _ = std::fs::remove_file(root.join("etc/os-release"));
        std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).expect("symlink");
        std::fs::copy(self.path("key-a.asc"), root.join(format!("etc/pki/rpm-gpg/RPM-GPG-KEY-test-{RELEASEVER}")))
            .expect("key");
        let repo_file = format!(
            "[test]\nname=Test $releasever - $basearch\n\
             baseurl=http://127.0.0.1:{}/repo/$releasever/$basearch/\n\
             gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-test-$releasever\n{options}",
            self.port
        );
        std::fs::write(root.join("etc/yum.repos.d/test.repo"), repo_file).expect("repo file");
    }

    fn repository(&self) -> Repository {
        let mut repositories = read_repositories(&self.root()).expect("repositories");
        assert_eq!(repositories.len(), 1);
        repositories.remove(0)
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    fn update(&self) -> Result<UpdateSummary, RpmmdError> {
        update(&self.repository(), &self.cache(), SystemTime::now(), &HttpClient::new())
    }

    fn directory(&self) -> PathBuf {
        cache_directory(&self.repository().config, &self.cache())
    }
}

/// The cache entry's files, to prove a failed update changed nothing.
fn snapshot(directory: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).expect("read_dir") {
        let path = entry.expect("entry").path();
        files.push((path.clone(), std::fs::read(&path).expect("read")));
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

/// `name op evr` with the EVR normalized (epoch 0 dropped), for comparing
/// rpm's header with primary.
fn normalized(name: &str, op: Option<VersionOp>, version: Option<&str>) -> String {
    match (op, version.and_then(Evr::parse)) {
        (Some(op), Some(evr)) => format!("{name} {op} {evr}"),
        _ => name.to_owned(),
    }
}

fn fingerprint(repo: &Repo, key: &str) -> String {
    let listing = String::from_utf8(run(repo.gpg(key).args(["--with-colons", "--fingerprint"]))).expect("utf-8");
    let line = listing.lines().find(|l| l.starts_with("fpr:")).expect("fpr");
    line.split(':').nth(9).expect("fingerprint").to_owned()
}

/// `rpmkeys --checksig` in a throwaway rpmdb that trusts only `keys`.
fn rpmkeys_accepts(scratch: &Path, keys: &[PathBuf], rpm: &Path) -> bool {
    let dbpath = tempfile::tempdir_in(scratch).expect("dbpath");
    for key in keys {
        run(Command::new("rpmkeys").arg("--dbpath").arg(dbpath.path()).arg("--import").arg(key));
    }
    let output = Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(dbpath.path())
        .arg("--checksig")
        .arg(rpm)
        .stdin(Stdio::null())
        .output()
        .expect("rpmkeys");
    output.status.success()
}

fn armored(path: &Path) -> Keyring {
    Keyring::Armored { what: path.display().to_string(), text: std::fs::read_to_string(path).expect("key") }
}

/// Named `rpmmd::…` so that `cargo test -p pkgdb rpmmd` selects them.
mod rpmmd {
    use super::*;

    /// A signed update from a `.repo` file in a root, then everything the
    /// cache holds checked against what `createrepo_c` was given: each rpm's
    /// headers (our reader), its size and sha256, and `rpm -qpl`.
    #[test]
    fn update_matches_createrepo_inputs() {
        let repo = Repo::new();
        let repository = repo.repository();
        assert_eq!(repository.config.name, "Test 40 - x86_64");
        assert_eq!(repository.config.baseurls, [format!("http://127.0.0.1:{}/repo/40/x86_64", repo.port)]);
        assert!(repository.config.repo_gpgcheck && repository.config.gpgcheck);
        assert_eq!(repository.keys.len(), 1);

        let summary = repo.update().expect("update");
        assert_eq!(summary.revision.as_deref(), Some("100"));
        assert_eq!(summary.packages, Some(BUILT.len() + FIXTURES.len()));
        assert_eq!(summary.signed_by, [fingerprint(&repo, "a")]);
        assert!(!summary.unchanged);
        assert_eq!(summary.directory, repo.directory());

        let cached = CachedRepo::open(&repository.config, &repo.cache()).expect("cached");
        assert!(cached.signed);
        let primary = cached.primary().expect("primary");
        let filelists = cached.filelists().expect("filelists").expect("has filelists");
        assert_eq!(primary.len(), BUILT.len() + FIXTURES.len());
        for entry in std::fs::read_dir(repo.path(REPO_DIR)).expect("repo") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "rpm") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("rpm");
            let header = pkgdb::rpm::read_header(&bytes[..]).expect("header");
            let what = header.nevra();
            let package = primary.find(&header.name).next().unwrap_or_else(|| panic!("{what} not in primary"));
            assert_eq!(
                (package.epoch, package.version, package.release, package.arch),
                (header.epoch.unwrap_or(0), header.version.as_str(), header.release.as_str(), header.arch.as_str()),
                "{what}"
            );
            assert_eq!(package.size, bytes.len() as u64, "{what}");
            assert_eq!(package.sha256().expect("sha256"), <[u8; 32]>::from(Sha256::digest(&bytes)), "{what}");
            assert_eq!(package.location, path.file_name().expect("name").to_string_lossy(), "{what}");

            // Provides: all of them. Requires: all but rpmlib() and config()
            // ones, and files the package ships, which createrepo_c drops.
            let ours = |kind| -> BTreeSet<String> {
                package
                    .deps(kind)
                    .map(|d| normalized(d.name, d.op, d.evr().map(|e| e.to_string()).as_deref()))
                    .collect()
            };
            let theirs = |deps: &[pkgdb::rpm::Dependency], skip: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
                deps.iter()
                    .filter(|d| !skip(&d.name))
                    .map(|d| normalized(&d.name, d.op, d.version.as_deref()))
                    .collect()
            };
            let shipped: BTreeSet<String> = header.files.iter().map(|f| f.path.to_string()).collect();
            let dropped =
                |name: &str| name.starts_with("rpmlib(") || name.starts_with("config(") || shipped.contains(name);
            assert_eq!(ours(DepKind::Provides), theirs(&header.provides, &|_| false), "{what} provides");
            assert_eq!(ours(DepKind::Requires), theirs(&header.requires, &dropped), "{what} requires");
            assert_eq!(ours(DepKind::Conflicts), theirs(&header.conflicts, &|_| false), "{what} conflicts");
            assert_eq!(ours(DepKind::Obsoletes), theirs(&header.obsoletes, &|_| false), "{what} obsoletes");
            assert_eq!(ours(DepKind::Recommends), theirs(&header.recommends, &|_| false), "{what} recommends");
            assert_eq!(ours(DepKind::Suggests), theirs(&header.suggests, &|_| false), "{what} suggests");

            // filelists against `rpm -qpl`.
            let listed =
                String::from_utf8(run(Command::new("rpm").args(["-qpl", "--nosignature"]).arg(&path))).expect("utf-8");
            let expected: BTreeSet<&str> = listed.lines().filter(|l| l.starts_with('/')).collect();
            let files = filelists.files_of(package.checksum).expect("filelists").expect("listed");
            let actual: BTreeSet<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
            assert_eq!(actual, expected, "{what} files");
        }

        let hello = primary.find("hello-layer").next().expect("hello-layer");
        let requires: Vec<String> = hello.requires().map(|d| d.to_string()).collect();
        assert!(requires.contains(&"dep-layer >= 1.5~rc1".to_owned()), "{requires:?}");
        let dep_tool = hello.requires().find(|d| d.name == "/usr/bin/dep-tool").expect("file require");
        assert!(dep_tool.pre, "Requires(pre)");
        let rich = hello.requires().find(|d| d.is_rich()).expect("rich");
        assert_eq!(rich.name, "(alt-a or alt-b)");
        assert!(matches!(rich.rich(), Some(Ok(pkgdb::rpm::RichDep::Or { .. }))));
        let versioned = hello.requires().find(|d| d.name == "dep-layer").expect("dep-layer");
        assert_eq!((versioned.op, versioned.evr()), (Some(VersionOp::Ge), Some(Evr::new(0, "1.5~rc1", None))));
        assert!(hello.provides().any(|d| d.to_string() == "virtual-hello = 1.0"));
        assert_eq!(hello.conflicts().map(|d| d.to_string()).collect::<Vec<_>>(), ["old-thing < 2"]);
        assert_eq!(hello.obsoletes().map(|d| d.to_string()).collect::<Vec<_>>(), ["hello-legacy < 1.0"]);
        assert_eq!(hello.recommends().map(|d| d.to_string()).collect::<Vec<_>>(), ["extra-layer"]);
        // primary lists /etc and bin files; filelists everything.
        let primary_files: Vec<&str> = hello.files().map(|f| f.path).collect();
        assert_eq!(primary_files, ["/etc/hello.conf", "/usr/bin/hello"]);
        let notes = "/usr/share/hello-layer/R&D <notes>.txt";
        let owners = filelists.owners(&[notes, "/nowhere"]).expect("owners");
        assert_eq!(owners, [(notes.to_owned(), vec![hello.checksum.to_owned()]), ("/nowhere".to_owned(), vec![])]);

        let dep = primary.find("dep-layer").next().expect("dep-layer");
        assert_eq!(dep.nevra(), "dep-layer-2:1.5~rc1-3.noarch");
        assert!(dep.evr().compare(&Evr::new(2, "1.5", Some("3"))).is_lt(), "~ sorts before the release");
        assert_eq!(primary.what_provides("/usr/bin/dep-tool").map(|p| p.name).collect::<Vec<_>>(), ["dep-layer"]);
        assert_eq!(primary.what_provides("virtual-dep").count(), 1);
        let dep_files = filelists.files_of(dep.checksum).expect("filelists").expect("listed");
        assert!(dep_files.contains(&("/usr/lib/dep-layer".to_owned(), FileKind::Dir)), "{dep_files:?}");
        assert!(dep_files.contains(&("/var/log/dep-layer.log".to_owned(), FileKind::Ghost)), "{dep_files:?}");
        let alt = primary.find("alt-b").next().expect("alt-b");
        assert!(alt.evr().compare(&Evr::new(0, "1.0", Some("1"))).is_gt(), "^ sorts after the base version");

        // Unchanged metadata: nothing fetched, the generation stays.
        let generation = std::fs::read_link(repo.directory()).expect("symlink");
        let again = repo.update().expect("second update");
        assert!(again.unchanged);
        assert_eq!(std::fs::read_link(repo.directory()).expect("symlink"), generation);
        // A newer revision: a new generation replaces the old one.
        repo.createrepo(101);
        repo.sign_repomd("a");
        let newer = repo.update().expect("third update");
        assert_eq!((newer.unchanged, newer.revision.as_deref()), (false, Some("101")));
        assert_ne!(std::fs::read_link(repo.directory()).expect("symlink"), generation);
        assert_eq!(cache_entries(&repo.cache()).len(), 2, "{:?}", cache_entries(&repo.cache()));
    }

    /// SECURITY 19, 20: a primary that fails its repomd checksum, or runs
    /// past its declared size (26), is refused; the update rolls back, the
    /// old metadata stays, and no staging is left.
    #[test]
    fn tampered_primary_keeps_old_metadata() {
        let repo = Repo::new();
        repo.update().expect("first update");
        let directory = repo.directory();
        let before = snapshot(&directory);
        let entries = cache_entries(&repo.cache());

        repo.createrepo(200);
        repo.sign_repomd("a");
        let primary = repo.data_file("primary");
        let good = std::fs::read(&primary).expect("primary");
        let mut bytes = good.clone();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&primary, &bytes).expect("tamper");
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::HashMismatch { .. }), "{error}");
        assert!(error.to_string().contains("primary.xml"), "{error}");
        assert_eq!(snapshot(&directory), before);
        assert_eq!(cache_entries(&repo.cache()), entries);

        let mut longer = good.clone();
        longer.extend(std::iter::repeat_n(0u8, 1 << 16));
        std::fs::write(&primary, &longer).expect("grow");
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::Http(HttpError::TooLong { .. })), "{error}");
        assert_eq!(snapshot(&directory), before);
        assert_eq!(cache_entries(&repo.cache()), entries);

        std::fs::write(&primary, &good).expect("restore");
        assert_eq!(repo.update().expect("update").revision.as_deref(), Some("200"));
    }

    /// SECURITY 22: a missing `repomd.xml.asc` where `repo_gpgcheck=1`; and
    /// with `repo_gpgcheck=0`, a repository that was signed and is now not.
    #[test]
    fn missing_signature_is_refused() {
        let repo = Repo::new();
        let signature = repo.path(&format!("{REPO_DIR}/repodata/repomd.xml.asc"));
        let kept = std::fs::read(&signature).expect("asc");
        std::fs::remove_file(&signature).expect("remove");
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::MissingSignature { .. }), "{error}");
        assert!(!repo.directory().exists());

        repo.write_root("repo_gpgcheck=0\ngpgcheck=1\n");
        std::fs::write(&signature, kept).expect("restore");
        let summary = repo.update().expect("signed, not required");
        assert!(summary.signed_by.is_empty(), "not verified when not required");
        let before = snapshot(&repo.directory());
        std::fs::remove_file(&signature).expect("remove");
        repo.createrepo(101);
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::NoLongerSigned { .. }), "{error}");
        assert_eq!(snapshot(&repo.directory()), before);
    }

    /// SECURITY 21 for rpm-md: a signature by a key the repository does not
    /// list, and a `repomd.xml` changed after signing.
    #[test]
    fn bad_signatures_are_refused() {
        let repo = Repo::new();
        repo.sign_repomd("b");
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::RepomdSignature { .. }), "{error}");
        assert!(anyhow_chain(&error).contains("outside"), "{}", anyhow_chain(&error));

        repo.sign_repomd("a");
        let text = std::fs::read_to_string(repo.repomd()).expect("repomd");
        std::fs::write(repo.repomd(), text.replace("<revision>100</revision>", "<revision>900</revision>"))
            .expect("edit");
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::RepomdSignature { .. }), "{error}");
        assert!(!repo.directory().exists());
    }

    /// SECURITY 24: a correctly signed repomd.xml with an older revision than
    /// the cached one.
    #[test]
    fn replayed_repomd_is_refused() {
        let repo = Repo::new();
        repo.createrepo(300);
        repo.sign_repomd("a");
        repo.update().expect("first update");
        let before = snapshot(&repo.directory());
        repo.createrepo(299);
        repo.sign_repomd("a");
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::Replay { .. }), "{error}");
        assert!(error.to_string().contains("revision 299"), "{error}");
        assert_eq!(snapshot(&repo.directory()), before);
    }

    /// SECURITY 25: a redirect to `file://` (to the very file asked for, so
    /// only the redirect is wrong) is refused.
    #[test]
    fn redirect_to_file_is_refused() {
        let repo = Repo::new();
        let primary = repo.data_file("primary");
        repo.redirect(&primary, &format!("file://{}", primary.display()));
        let error = repo.update().expect_err("must be refused");
        assert!(matches!(error, RpmmdError::Http(HttpError::Redirect { .. })), "{error}");
        assert!(error.to_string().contains("other than http or https"), "{error}");
        assert!(!repo.directory().exists());
    }

    /// Keys resolve inside the root: a symlink to a host path names nothing
    /// there, and keys are never fetched from the network.
    #[test]
    fn keys_are_read_inside_the_root() {
        let repo = Repo::new();
        let key = repo.root().join(format!("etc/pki/rpm-gpg/RPM-GPG-KEY-test-{RELEASEVER}"));
        std::fs::remove_file(&key).expect("remove");
        // An absolute symlink to the host's copy of the key.
        std::os::unix::fs::symlink(repo.path("key-a.asc"), &key).expect("symlink");
        let error = read_repositories(&repo.root()).expect_err("must be refused");
        assert!(matches!(error, RpmmdError::MissingKey { .. }), "{error}");
        // A relative one inside the root is fine.
        std::fs::remove_file(&key).expect("remove");
        std::fs::copy(repo.path("key-a.asc"), repo.root().join("etc/pki/rpm-gpg/real")).expect("key");
        std::os::unix::fs::symlink("real", &key).expect("symlink");
        assert_eq!(repo.repository().keys.len(), 1);

        let text = std::fs::read_to_string(repo.root().join("etc/yum.repos.d/test.repo")).expect("repo file");
        let remote = text.replace("gpgkey=file:///", "gpgkey=https://keys.example.invalid/");
        std::fs::write(repo.root().join("etc/yum.repos.d/test.repo"), remote).expect("repo file");
        let error = read_repositories(&repo.root()).expect_err("must be refused");
        assert!(matches!(error, RpmmdError::UnsupportedKeyUrl { .. }), "{error}");
    }

    /// SECURITY 19 and 27: packages downloaded through primary's locations,
    /// checksums and sizes; their signatures checked against the
    /// repository's key, with `rpmkeys --checksig` as the oracle.
    #[test]
    fn package_signatures() {
        let repo = Repo::new();
        let repository = repo.repository();
        repo.update().expect("update");
        let primary = CachedRepo::open(&repository.config, &repo.cache()).expect("cached").primary().expect("primary");
        let wanted: Vec<_> = ["hello-layer", "unsigned-layer"]
            .iter()
            .map(|name| {
                primary.find(name).next().expect("package").wanted_file(&repository.config.baseurls).expect("wanted")
            })
            .collect();
        let cache = PackageCache::new(repo.path("packages"));
        let options = FetchOptions { progress: false, ..FetchOptions::default() };
        let fetched = fetch(&cache, &wanted, &HttpClient::new(), &options).expect("fetch");
        let (hello, unsigned) = (&fetched.paths[0], &fetched.paths[1]);
        let key_a = repo.path("key-a.asc");
        let key_b = repo.path("key-b.asc");

        let signature = require_package_signature(&repository, hello).expect("verifies").expect("gpgcheck is on");
        assert_eq!(signature.nevra, "hello-layer-1.0-1.noarch");
        assert_eq!(signature.fingerprints, [fingerprint(&repo, "a")]);
        assert_eq!(signature.kind, SignatureKind::Header);
        assert!(rpmkeys_accepts(repo.dir.path(), std::slice::from_ref(&key_a), hello), "the oracle agrees");

        let error = require_package_signature(&repository, unsigned).expect_err("unsigned");
        assert!(error.to_string().contains("cannot be verified"), "{error}");
        assert!(error.to_string().contains("not signed"), "{error}");

        let only_b = [armored(&key_b)];
        let error = verify_package_signature(hello, &only_b).expect_err("another key");
        assert!(error.to_string().contains("cannot be verified"), "{error}");
        assert!(!rpmkeys_accepts(repo.dir.path(), std::slice::from_ref(&key_b), hello), "the oracle agrees");

        // A payload changed after signing: the signed header's digest no
        // longer matches.
        let mut bytes = std::fs::read(hello).expect("rpm");
        let last = bytes.len() - 2;
        bytes[last] ^= 0x01;
        let tampered = repo.path("tampered.rpm");
        std::fs::write(&tampered, bytes).expect("tampered");
        let error = require_package_signature(&repository, &tampered).expect_err("tampered");
        assert!(error.to_string().contains("cannot be verified"), "{error}");
        assert!(!rpmkeys_accepts(repo.dir.path(), std::slice::from_ref(&key_a), &tampered), "the oracle agrees");

        let unchecked = Repository {
            config: pkgdb::rpmmd::RepoConfig { gpgcheck: false, ..repository.config.clone() },
            ..repository
        };
        assert_eq!(require_package_signature(&unchecked, unsigned).expect("not required"), None);
    }

    /// SECURITY 27 on the signed fixtures: each verifies with its own key
    /// (rsa4096 and ed25519 also with `rpmkeys`; rpm 4.18 cannot check
    /// ECDSA, `gpgv` can), and not with another; the v6-key signatures are
    /// beyond `gpgv` 2.2 and cannot be verified.
    #[test]
    fn signed_fixtures_verify_with_their_keys() {
        let scratch = tempfile::tempdir().expect("tempdir");
        const RSA: &str = "rpm-testkey-v4-rsa4096.asc";
        const ED25519: &str = "rpm-testkey-v4-ed25519.asc";
        const ECDSA: &str = "rpm-testkey-v4-ecdsa-nistp256.asc";
        // (fixture, its key, whether rpm 4.18 can check it too, a key that did not sign it)
        let cases = [
            ("v4_signed_rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm", RSA, true, Some(ED25519)),
            ("v4_signed_rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm", ED25519, true, Some(ECDSA)),
            ("v4_signed_rpm-basic-with-ecdsa-2.3.4-5.el9.noarch.rpm", ECDSA, false, Some(RSA)),
            // Signed in DSAHEADER by the ed25519 key and, in rpm 6's
            // OPENPGP tag, by all three: any one of them verifies it.
            ("v4_signed_rpm-basic-with-ima-2.3.4-5.el9.noarch.rpm", ED25519, true, None),
            ("v4_signed_rpm-basic-with-ima-2.3.4-5.el9.noarch.rpm", RSA, false, None),
            ("v4_signed_rpm-basic-with-ima-2.3.4-5.el9.noarch.rpm", ECDSA, false, None),
        ];
        for (rpm, key, rpm_can_check, other) in cases {
            let path = fixtures().join(rpm);
            let signature = verify_package_signature(&path, &[armored(&key_data(key))])
                .unwrap_or_else(|e| panic!("{rpm} with {key}: {e}"));
            assert_eq!(signature.nevra, "rpm-basic-1:2.3.4-5.el9.noarch");
            assert_eq!(signature.fingerprints.len(), 1);
            if rpm_can_check {
                assert!(rpmkeys_accepts(scratch.path(), &[key_data(key)], &path), "{rpm}: the oracle agrees");
            }
            if let Some(other) = other {
                let error = verify_package_signature(&path, &[armored(&key_data(other))]).expect_err("another key");
                assert!(error.to_string().contains("cannot be verified"), "{rpm}: {error}");
            }
        }
        let all_keys: Vec<Keyring> = ["rpm-testkey-v4-rsa4096.asc", "rpm-testkey-v4-ed25519.asc"]
            .iter()
            .map(|k| armored(&key_data(k)))
            .collect();
        for rpm in ["v4_rpm-basic-2.3.4-5.el9.noarch.rpm", "v6_signed_rpm-basic-with-rsa4k-2.3.4-5.el9.noarch.rpm"] {
            let error = verify_package_signature(&fixtures().join(rpm), &all_keys).expect_err("cannot verify");
            assert!(error.to_string().contains("cannot be verified"), "{rpm}: {error}");
        }
    }
}

/// The error and its sources, one per line, as `{:#}` of anyhow would.
fn anyhow_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
