//! End-to-end tests of `resolve::rpm` against real packages: rpms built by
//! `rpmbuild` from spec files written here, metadata by `createrepo_c`,
//! served on 127.0.0.1 and read through `rpmmd::update` (primary and
//! filelists), and a base whose packages the real `rpm` installed into an
//! rpmdb (`--justdb`), read back with `pkgdb::rpmdb`. The real `rpm` is
//! also an oracle: `rpm -i --test` must accept every plan on top of that
//! base, and refuse it when a planned package is left out. `dnf` (with
//! `install_weak_deps=False`, on the same base and repository) is the
//! other: it must pick the same packages.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::SystemTime;

use pkgdb::http::HttpClient;
use pkgdb::resolve::rpm::{RpmLocal, RpmRepoData, RpmRequest, RpmUniverse};
use pkgdb::resolve::{PackageSource, Plan, ResolveError, ResolveOptions};
use pkgdb::rpm::RpmPackage;
use pkgdb::rpmdb::RpmDbDir;
use pkgdb::rpmmd::{CachedRepo, read_repositories, update};
use sha2::{Digest, Sha256};

fn run(command: &mut Command) -> Output {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    Output {
        success: output.status.success(),
        text: format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    }
}

struct Output {
    success: bool,
    text: String,
}

fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map(|o| o.status.success());
    assert!(
        found.unwrap_or(false),
        "`{tool}` is not installed; these tests need it\nhint: apt-get install -y {package}"
    );
}

/// One package to build: name, version, release, arch, extra spec
/// header lines, and files (each created with some content).
struct Spec {
    name: &'static str,
    version: &'static str,
    arch: &'static str,
    header: &'static str,
    files: &'static [&'static str],
}

const fn spec(
    name: &'static str,
    version: &'static str,
    arch: &'static str,
    header: &'static str,
    files: &'static [&'static str],
) -> Spec {
    Spec { name, version, arch, header, files }
}

/// The base image's packages.
const BASE: &[Spec] = &[
    spec("basefs", "1.0", "noarch", "Provides: base-virtual\n", &["/usr/bin/basetool", "/usr/lib/base/data"]),
    spec("oldlib", "1.0", "x86_64", "", &["/usr/lib64/oldlib.so"]),
];

/// The repository's packages.
const REPO: &[Spec] = &[
    spec(
        "app",
        "1.0",
        "x86_64",
        "Requires: libfoo(x86-64) >= 2\n\
         Requires: webserver-api\n\
         Requires: /usr/lib/base/data\n\
         Requires: /usr/share/helper/marker\n\
         Requires: (plugin-a or plugin-b)\n\
         Requires: (extra if basefs)\n\
         Requires: (never if missing-thing)\n\
         Requires(pre): prereq\n\
         Recommends: never\n",
        &["/usr/bin/app"],
    ),
    spec("libfoo", "1.0", "x86_64", "", &["/usr/lib64/libfoo-1.so"]),
    spec("libfoo", "2.0", "x86_64", "", &["/usr/lib64/libfoo-2.0.so"]),
    spec("libfoo", "2.1", "x86_64", "", &["/usr/lib64/libfoo-2.1.so"]),
    spec("libfoo", "3.0", "i686", "", &["/usr/lib/libfoo-3.so"]),
    spec("httpd-lite", "1.0", "noarch", "Provides: webserver-api = 1\n", &[]),
    spec("plugin-b", "1.0", "noarch", "", &[]),
    spec("extra", "1.0", "noarch", "", &[]),
    spec("never", "1.0", "noarch", "", &[]),
    spec("helper", "1.0", "noarch", "", &["/usr/share/helper/marker"]),
    spec("prereq", "1.0", "noarch", "Requires: app\n", &[]),
    spec("conflicting", "1.0", "noarch", "Conflicts: oldlib < 2\n", &[]),
    spec("obsoleter", "1.0", "noarch", "Obsoletes: plugin-b\n", &[]),
    spec("newlib", "2.0", "x86_64", "Obsoletes: oldlib < 2\nProvides: oldlib = 2.0\n", &[]),
];

/// A local file, newer than the repository's `app`.
const LOCAL: &[Spec] = &[spec(
    "app",
    "1.1",
    "x86_64",
    "Requires: libfoo(x86-64) >= 2\nRequires: /usr/share/helper/marker\n",
    &["/usr/bin/app"],
)];

fn spec_text(spec: &Spec) -> String {
    let mut install = String::new();
    let mut files = String::new();
    for file in spec.files {
        let dir = Path::new(file).parent().expect("parent").display().to_string();
        install.push_str(&format!("mkdir -p %{{buildroot}}{dir}\necho {} > %{{buildroot}}{file}\n", spec.name));
        files.push_str(&format!("{file}\n"));
    }
    format!(
        "Name: {}\nVersion: {}\nRelease: 1\nSummary: test\nLicense: MIT\n{}{}\
         %description\nBuilt by rpm_resolve.rs.\n%install\n{install}\n%files\n{files}",
        spec.name,
        spec.version,
        if spec.arch == "noarch" { "BuildArch: noarch\n" } else { "" },
        spec.header
    )
}

/// Builds `specs` into `out` with the real rpmbuild; returns the rpms.
fn build(work: &Path, specs: &[Spec], out: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(out).expect("out dir");
    let mut built = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let top = work.join(format!("top-{}-{i}", spec.name));
        let spec_path = work.join(format!("{}-{i}.spec", spec.name));
        std::fs::write(&spec_path, spec_text(spec)).expect("spec");
        let target = if spec.arch == "noarch" { "x86_64" } else { spec.arch };
        let output = run(Command::new("rpmbuild")
            .args(["-bb", "--quiet", "--target", target, "--define"])
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "debug_package %{nil}", "--define", "_build_id_links none"])
            .arg(&spec_path));
        assert!(output.success, "rpmbuild {} failed: {}", spec.name, output.text);
        for arch in std::fs::read_dir(top.join("RPMS")).expect("RPMS") {
            for rpm in std::fs::read_dir(arch.expect("entry").path()).expect("arch dir") {
                let rpm = rpm.expect("entry").path();
                let target = out.join(rpm.file_name().expect("name"));
                std::fs::rename(&rpm, &target).expect("move rpm");
                built.push(target);
            }
        }
    }
    built
}

/// `python3 -m http.server` on 127.0.0.1, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(root: &Path) -> Server {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(root)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port line");
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything one test run needs: the repository (built, indexed, served,
/// fetched into a cache), the base (in a real rpmdb) and a local file.
struct World {
    dir: tempfile::TempDir,
    _server: Server,
    cached: CachedRepo,
    base_root: PathBuf,
    local: Vec<PathBuf>,
}

/// rpm's database directory inside a root, as this host's rpm (and so
/// dnf) places it.
fn dbpath() -> String {
    let output = run(Command::new("rpm").args(["--eval", "%_dbpath"]));
    assert!(output.success, "rpm --eval: {}", output.text);
    output.text.trim().trim_start_matches('/').to_owned()
}

impl World {
    fn new() -> World {
        require_tool("rpmbuild", "rpm");
        require_tool("createrepo_c", "createrepo-c");
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("work");
        let repo_dir = dir.path().join("www");
        build(&work, REPO, &repo_dir.join("Packages"));
        let output = run(Command::new("createrepo_c").args(["--quiet", "--no-database"]).arg(&repo_dir));
        assert!(output.success, "createrepo_c: {}", output.text);
        let server = Server::start(&repo_dir);

        let root = dir.path().join("root");
        for sub in ["etc/yum.repos.d", "usr/lib"] {
            std::fs::create_dir_all(root.join(sub)).expect("root dir");
        }
        std::fs::write(root.join("usr/lib/os-release"), "NAME=Test\nVERSION_ID=\"40\"\n").expect("os-release");
        std::fs::write(
            root.join("etc/yum.repos.d/test.repo"),
            format!("[test]\nname=test\nbaseurl=http://127.0.0.1:{}/\ngpgcheck=0\nrepo_gpgcheck=0\n", server.port),
        )
        .expect("repo file");
        let repository = read_repositories(&root).expect("repositories").remove(0);
        let cache = dir.path().join("cache");
        update(&repository, &cache, SystemTime::now(), &HttpClient::new()).expect("update");
        let cached = CachedRepo::open(&repository.config, &cache).expect("cached");

        let base_rpms = build(&work, BASE, &dir.path().join("base"));
        let base_root = dir.path().join("base-root");
        std::fs::create_dir_all(&base_root).expect("base root");
        let output = run(Command::new("rpm")
            .arg("--root")
            .arg(&base_root)
            .args(["-i", "--justdb", "--nodeps", "--noscripts", "--nosignature", "--nodigest"])
            .args(&base_rpms));
        assert!(output.success, "rpm --justdb: {}", output.text);
        let local = build(&work, LOCAL, &dir.path().join("local"));
        World { dir, _server: server, cached, base_root, local }
    }

    /// The base's packages, as its rpmdb has them.
    fn installed(&self) -> Vec<RpmPackage> {
        let db = RpmDbDir::open(&self.base_root.join(dbpath())).expect("rpmdb dir").load().expect("rpmdb");
        db.packages().expect("packages").iter().map(|p| p.package().expect("header")).collect()
    }

    fn repo_path(&self, filename: &str) -> PathBuf {
        self.dir.path().join("www").join(filename)
    }

    /// The planned packages' files.
    fn files(&self, plan: &Plan) -> Vec<PathBuf> {
        plan.install
            .iter()
            .map(|p| match &p.source {
                PackageSource::Repository { filename, .. } => self.repo_path(filename),
                PackageSource::Local { path, .. } => path.clone(),
            })
            .collect()
    }

    /// `rpm -i --test` of `files` on top of the base: what the real rpm
    /// says about the transaction.
    fn rpm_test(&self, files: &[PathBuf]) -> Output {
        run(Command::new("rpm")
            .arg("--root")
            .arg(&self.base_root)
            .args(["-i", "--test", "--nosignature", "--nodigest"])
            .args(files))
    }
}

fn names(plan: &Plan) -> BTreeSet<String> {
    plan.install.iter().map(|p| format!("{}-{}.{}", p.name, p.version, p.architecture)).collect()
}

#[test]
fn plans_real_repositories_and_rpm_accepts_them() {
    let world = World::new();
    let primary = world.cached.primary().expect("primary");
    let filelists = world.cached.filelists().expect("filelists").expect("has filelists");
    let installed = world.installed();
    assert_eq!(
        installed.iter().map(|p| p.name.as_str()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["basefs", "oldlib"])
    );
    let local: Vec<RpmLocal> = world
        .local
        .iter()
        .map(|path| RpmLocal {
            package: pkgdb::rpm::read_header(std::fs::File::open(path).expect("local rpm")).expect("header"),
            path: path.clone(),
        })
        .collect();
    let repos = [RpmRepoData { primary: &primary, filelists: Some(&filelists) }];
    let universe = RpmUniverse::new("x86_64", &installed, &repos, &[]);
    let options = ResolveOptions::default();
    let request =
        |texts: &[&str]| -> Vec<RpmRequest> { texts.iter().map(|t| RpmRequest::parse(t).expect("request")).collect() };

    // The full story: versioned ISA provide, virtual provide, a file from
    // the base, a file only filelists knows, `or`, `if` with the condition
    // in the base and one without, Requires(pre) in a cycle.
    let plan = universe.resolve(&request(&["app"]), &options).expect("app resolves");
    assert_eq!(
        names(&plan),
        BTreeSet::from(
            [
                "app-1.0-1.x86_64",
                "extra-1.0-1.noarch",
                "helper-1.0-1.noarch",
                "httpd-lite-1.0-1.noarch",
                "libfoo-2.1-1.x86_64",
                "plugin-b-1.0-1.noarch",
                "prereq-1.0-1.noarch",
            ]
            .map(String::from)
        )
    );
    let position = |name: &str| plan.configure_order.iter().position(|n| n == name).expect(name);
    assert!(position("prereq") < position("app"), "{:?}", plan.configure_order);
    assert!(position("libfoo") < position("app"), "{:?}", plan.configure_order);
    assert_eq!(plan.broken_cycles.len(), 1, "{:?}", plan.broken_cycles);
    assert_eq!((plan.broken_cycles[0].from.as_str(), plan.broken_cycles[0].to.as_str()), ("prereq", "app"));
    for package in &plan.install {
        let PackageSource::Repository { filename, sha256, .. } = &package.source else { panic!("from the repo") };
        let bytes = std::fs::read(world.repo_path(filename)).expect("planned rpm exists");
        assert_eq!(package.size, bytes.len() as u64);
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha256, &digest);
    }
    assert_eq!(plan.download_size, plan.install.iter().map(|p| p.size).sum::<u64>());

    // rpm agrees the plan is complete, and that each of these is needed.
    let files = world.files(&plan);
    let accepted = world.rpm_test(&files);
    assert!(accepted.success, "rpm refuses the plan: {}", accepted.text);
    for needed in ["helper", "libfoo", "extra", "plugin-b", "httpd-lite"] {
        let fewer: Vec<PathBuf> =
            plan.install.iter().zip(&files).filter(|(p, _)| p.name != needed).map(|(_, f)| f.clone()).collect();
        let refused = world.rpm_test(&fewer);
        assert!(!refused.success, "rpm accepts the plan without `{needed}`");
        assert!(refused.text.contains("is needed by app"), "{}", refused.text);
    }

    // An exact version.
    let plan = universe.resolve(&request(&["libfoo=2.0"]), &options).expect("libfoo=2.0");
    assert_eq!(names(&plan), BTreeSet::from(["libfoo-2.0-1.x86_64".to_owned()]));
    match universe.resolve(&request(&["libfoo=2.5"]), &options) {
        Err(ResolveError::VersionNotFound { available, .. }) => assert_eq!(available, ["2.1-1", "2.0-1", "1.0-1"]),
        other => panic!("{other:?}"),
    }

    // A request by a file only filelists lists.
    let plan = universe.resolve(&request(&["/usr/share/helper/marker"]), &options).expect("by path");
    assert_eq!(names(&plan), BTreeSet::from(["helper-1.0-1.noarch".to_owned()]));

    // Already in the base, by name and by provide.
    let plan = universe.resolve(&request(&["basefs", "base-virtual"]), &options).expect("base");
    assert!(plan.install.is_empty());
    assert_eq!(plan.satisfied_by_base, ["basefs", "base-virtual"]);

    // A conflict with the base, refused as rpm would; allowed, rpm still refuses.
    let error = universe.resolve(&request(&["conflicting"]), &options).expect_err("conflicts with the base");
    let ResolveError::Unsatisfiable { base_conflict: true, .. } = &error else { panic!("{error:?}") };
    assert!(
        error.to_string().contains("conflicts with `oldlib < 2`, but the base has `oldlib-1.0-1.x86_64`"),
        "{error}"
    );
    let allow = ResolveOptions { allow_base_conflicts: true, ..ResolveOptions::default() };
    let plan = universe.resolve(&request(&["conflicting"]), &allow).expect("allowed");
    assert_eq!(plan.forced_conflicts.len(), 1);
    let refused = world.rpm_test(&world.files(&plan));
    assert!(!refused.success && refused.text.contains("conflicts with"), "{}", refused.text);

    // Obsoleting a base package is refused; obsoleting a candidate rules it out.
    let error = universe.resolve(&request(&["newlib"]), &options).expect_err("obsoletes the base");
    assert!(error.to_string().contains("`newlib-2.0-1.x86_64` obsoletes `oldlib < 2`"), "{error}");
    let error = universe.resolve(&request(&["app", "obsoleter"]), &options).expect_err("obsoletes plugin-b");
    assert!(error.to_string().contains("obsoletes `plugin-b`, which `plugin-b-1.0-1.noarch` is"), "{error}");

    // Removing a base package that a request needs.
    let removed = ResolveOptions { removed: BTreeSet::from(["basefs".to_owned()]), ..ResolveOptions::default() };
    let error = universe.resolve(&request(&["app"]), &removed).expect_err("needs basefs");
    assert!(error.to_string().contains("requires `/usr/lib/base/data`, but `basefs` was removed"), "{error}");

    // A local file hides the repository's `app`, and rpm accepts that plan too.
    let universe = RpmUniverse::new("x86_64", &installed, &repos, &local);
    let plan = universe.resolve(&request(&["app"]), &options).expect("app from the local file");
    assert_eq!(plan.get("app").expect("app").source, PackageSource::Local { index: 0, path: world.local[0].clone() });
    let plan = universe.resolve(&[RpmRequest::Local(0)], &options).expect("local");
    assert_eq!(
        names(&plan),
        BTreeSet::from(["app-1.1-1.x86_64", "helper-1.0-1.noarch", "libfoo-2.1-1.x86_64"].map(String::from))
    );
    assert!(plan.get("app").expect("app").requested);
    let accepted = world.rpm_test(&world.files(&plan));
    assert!(accepted.success, "rpm refuses the local plan: {}", accepted.text);

    // A missing capability names the package and the dependency.
    let error = universe.resolve(&request(&["nosuch"]), &options).expect_err("not found");
    assert!(matches!(error, ResolveError::NotFound { .. }), "{error}");
}

impl World {
    /// What `dnf install --assumeno` would install on top of the base with
    /// weak dependencies off: the NEVRAs of its transaction, or `None`
    /// when it finds no solution.
    fn dnf(&self, requests: &[&str]) -> Option<BTreeSet<String>> {
        let reposdir = self.dir.path().join("dnf-repos");
        std::fs::create_dir_all(&reposdir).expect("reposdir");
        let repo = format!("[test]\nname=test\nbaseurl=file://{}\ngpgcheck=0\n", self.dir.path().join("www").display());
        std::fs::write(reposdir.join("test.repo"), repo).expect("repo file");
        let output = run(Command::new("dnf")
            .arg(format!("--installroot={}", self.base_root.display()))
            .arg(format!("--setopt=reposdir={}", reposdir.display()))
            .arg(format!("--setopt=cachedir={}", self.dir.path().join("dnf-cache").display()))
            .args(["--setopt=install_weak_deps=False", "--releasever=40", "--noplugins", "--assumeno", "install"])
            .args(requests));
        if output.text.contains("Error:") {
            return None;
        }
        let mut section = false;
        let mut nevras = BTreeSet::new();
        for line in output.text.lines() {
            if line.starts_with("Installing") {
                section = true;
                continue;
            }
            if line.starts_with("Transaction Summary") || line.starts_with('=') && section {
                section = false;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if section && line.starts_with(' ') && words.len() >= 5 {
                nevras.insert(format!("{}-{}.{}", words[0], words[2], words[1]));
            }
        }
        assert!(
            !nevras.is_empty() || output.text.contains("Nothing to do"),
            "cannot read dnf's transaction:\n{}",
            output.text
        );
        Some(nevras)
    }
}

/// The same requests through dnf (`install_weak_deps=False`) and through
/// the resolver: the same packages, or both without a solution. Only
/// requests that need no change to the base are compared, since dnf would
/// upgrade or replace base packages where layering refuses. Nor is a
/// package another one obsoletes requested by name: dnf then installs the
/// obsoleting package instead, a rewrite of the request this resolver
/// does not make.
#[test]
fn matches_dnf() {
    require_tool("dnf", "dnf");
    let world = World::new();
    let primary = world.cached.primary().expect("primary");
    let filelists = world.cached.filelists().expect("filelists").expect("has filelists");
    let installed = world.installed();
    let repos = [RpmRepoData { primary: &primary, filelists: Some(&filelists) }];
    let universe = RpmUniverse::new("x86_64", &installed, &repos, &[]);
    let cases: &[&[&str]] = &[
        &["app"],
        &["libfoo"],
        &["prereq"],
        &["/usr/share/helper/marker"],
        &["webserver-api"],
        &["httpd-lite", "extra"],
        &["app", "obsoleter"],
        &["basefs"],
    ];
    for requests in cases {
        let parsed: Vec<RpmRequest> = requests.iter().map(|t| RpmRequest::parse(t).expect("request")).collect();
        let ours = match universe.resolve(&parsed, &ResolveOptions::default()) {
            Ok(plan) => Some(names(&plan)),
            Err(ResolveError::Unsatisfiable { .. }) => None,
            Err(other) => panic!("{requests:?}: {other}"),
        };
        assert_eq!(ours, world.dnf(requests), "{requests:?}");
    }
}
