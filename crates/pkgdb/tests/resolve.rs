//! The Debian resolver: data-driven cases from `data/resolve/cases.txt`
//! (repositories + installed + request → expected packages, order or
//! error), a few tests of the plan's details, and a live check against
//! apt on the real bookworm archive.
//!
//! The live test uses the network and is ignored by default:
//! `cargo test -p pkgdb --test resolve -- --ignored --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use pkgdb::apt::{HttpClient, PackageIndex, SignedBy, read_packages, read_sources, update};
use pkgdb::control::{Syntax, parse_paragraphs};
use pkgdb::resolve::{
    InstalledPackage, LocalPackage, PackageSource, Plan, Request, ResolveError, ResolveOptions, Universe,
};

/// One package line of a case: `NAME VERSION; Field: value; ...`.
struct PackageLine {
    name: String,
    version: String,
    fields: Vec<(String, String)>,
    postinst: bool,
}

fn parse_package_line(line: &str) -> PackageLine {
    let mut parts = line.split(';').map(str::trim);
    let head = parts.next().unwrap_or_default();
    let (name, version) = head.split_once(' ').unwrap_or_else(|| panic!("`{line}`: expected NAME VERSION"));
    let mut package =
        PackageLine { name: name.to_owned(), version: version.trim().to_owned(), fields: Vec::new(), postinst: false };
    for part in parts {
        if part == "postinst" {
            package.postinst = true;
            continue;
        }
        let (field, value) = part.split_once(':').unwrap_or_else(|| panic!("`{part}` is not `Field: value`"));
        package.fields.push((field.trim().to_owned(), value.trim().to_owned()));
    }
    if !package.fields.iter().any(|(f, _)| f == "Architecture") {
        package.fields.push(("Architecture".into(), "amd64".into()));
    }
    package
}

impl PackageLine {
    fn field(&self, name: &str) -> Option<String> {
        self.fields.iter().find(|(f, _)| f == name).map(|(_, v)| v.clone())
    }

    fn paragraph(&self, extra: &str) -> String {
        let mut text = format!("Package: {}\nVersion: {}\n", self.name, self.version);
        for (field, value) in &self.fields {
            text.push_str(&format!("{field}: {value}\n"));
        }
        text.push_str(extra);
        text.push('\n');
        text
    }
}

/// A Packages index from package lines; sizes are 1000 + the line number.
fn index(lines: &[String]) -> PackageIndex {
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        let package = parse_package_line(line);
        let arch = package.field("Architecture").unwrap_or_default();
        text.push_str(&package.paragraph(&format!(
            "Filename: pool/main/{0}_{1}_{arch}.deb\nSize: {2}\nSHA256: {3:064x}\n",
            package.name,
            package.version,
            1000 + i,
            i + 1
        )));
    }
    read_packages(text.as_bytes(), "Packages").expect("test index parses")
}

/// Installed packages, through a real dpkg status text.
fn installed(lines: &[String]) -> Vec<InstalledPackage> {
    let text: String =
        lines.iter().map(|l| parse_package_line(l).paragraph("Status: install ok installed\n")).collect();
    let paragraphs = parse_paragraphs(text.as_bytes(), Syntax::Strict).expect("status parses");
    InstalledPackage::from_status_file(&paragraphs).expect("status entries are valid")
}

fn local(lines: &[String]) -> Vec<LocalPackage> {
    lines
        .iter()
        .map(|line| {
            let p = parse_package_line(line);
            LocalPackage {
                path: PathBuf::from(format!("./{}_{}.deb", p.name, p.version)),
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.field("Architecture").unwrap_or_default(),
                multi_arch: p.field("Multi-Arch"),
                essential: p.field("Essential").as_deref() == Some("yes"),
                priority: p.field("Priority"),
                depends: p.field("Depends"),
                pre_depends: p.field("Pre-Depends"),
                conflicts: p.field("Conflicts"),
                breaks: p.field("Breaks"),
                provides: p.field("Provides"),
                has_postinst: p.postinst,
            }
        })
        .collect()
}

#[derive(Default)]
struct Case {
    name: String,
    repos: Vec<Vec<String>>,
    installed: Vec<String>,
    local: Vec<String>,
    keys: Vec<(String, String)>,
}

impl Case {
    fn values(&self, key: &str) -> Vec<&str> {
        self.keys.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    fn words(&self, key: &str) -> Vec<&str> {
        self.values(key).into_iter().flat_map(str::split_whitespace).collect()
    }
}

fn read_cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/resolve/cases.txt");
    let text = std::fs::read_to_string(&path).expect("cases.txt");
    let mut cases: Vec<Case> = Vec::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("=== ") {
            cases.push(Case { name: name.to_owned(), ..Case::default() });
            section = None;
            continue;
        }
        let case = cases.last_mut().expect("a case starts with ===");
        if let Some(item) = line.strip_prefix("  ") {
            match section.as_deref() {
                Some("repo") => case.repos.last_mut().expect("repo").push(item.to_owned()),
                Some("installed") => case.installed.push(item.to_owned()),
                Some("local") => case.local.push(item.to_owned()),
                other => panic!("{}: an indented line outside a section ({other:?})", case.name),
            }
            continue;
        }
        let (key, value) = line.split_once(':').unwrap_or_else(|| panic!("{}: `{line}`", case.name));
        match key {
            "repo" => {
                case.repos.push(Vec::new());
                section = Some(key.to_owned());
            }
            "installed" | "local" => section = Some(key.to_owned()),
            _ => {
                section = None;
                case.keys.push((key.to_owned(), value.trim().to_owned()));
            }
        }
    }
    cases
}

fn run_case(case: &Case) -> Result<(), String> {
    let indexes: Vec<PackageIndex> = case.repos.iter().map(|r| index(r)).collect();
    let index_refs: Vec<&PackageIndex> = indexes.iter().collect();
    let installed = installed(&case.installed);
    let local = local(&case.local);
    let universe = Universe::new("amd64", &installed, &index_refs, &local);
    let requests: Vec<Request> = case
        .words("request")
        .into_iter()
        .map(|r| match r.strip_prefix("local:") {
            Some(i) => Request::Local(i.parse().expect("local index")),
            None => Request::parse(r).expect("request parses"),
        })
        .collect();
    let mut options = ResolveOptions {
        removed: case.words("remove").into_iter().map(str::to_owned).collect(),
        ..ResolveOptions::default()
    };
    for option in case.words("options") {
        match option {
            "allow-base-conflicts" => options.allow_base_conflicts = true,
            "allow-remove-essential" => options.allow_remove_essential = true,
            other => panic!("unknown option {other}"),
        }
    }
    let result = universe.resolve(&requests, &options);
    let errors = case.values("error");
    let plan = match (result, errors.is_empty()) {
        (Ok(plan), true) => plan,
        (Ok(plan), false) => return Err(format!("expected an error, got {}", shown(&plan))),
        (Err(error), true) => return Err(format!("unexpected error: {error}")),
        (Err(error), false) => {
            let message = error.to_string();
            // Shown with `--nocapture`, to read the messages as a user would.
            eprintln!("--- {}\nerror: {message}\n", case.name);
            for expected in errors {
                if !message.contains(expected) {
                    return Err(format!("the error lacks `{expected}`:\n{message}"));
                }
            }
            return Ok(());
        }
    };
    let added: BTreeMap<&str, &str> = plan.install.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
    let has = |spec: &str| match spec.split_once('=') {
        Some((name, version)) => added.get(name) == Some(&version),
        None => added.contains_key(spec),
    };
    if !case.values("install").is_empty() {
        let expected: BTreeSet<String> = case.words("install").into_iter().map(str::to_owned).collect();
        let actual: BTreeSet<String> = added.iter().map(|(n, v)| format!("{n}={v}")).collect();
        if expected != actual {
            return Err(format!("install: expected {expected:?}, got {actual:?}"));
        }
    }
    for spec in case.words("present") {
        if !has(spec) {
            return Err(format!("`{spec}` is not added: {}", shown(&plan)));
        }
    }
    for spec in case.words("absent") {
        if has(spec) {
            return Err(format!("`{spec}` is added: {}", shown(&plan)));
        }
    }
    if !case.values("order").is_empty() && case.words("order") != plan.configure_order {
        return Err(format!("order: expected {:?}, got {:?}", case.words("order"), plan.configure_order));
    }
    let position = |name: &str| plan.configure_order.iter().position(|n| n == name);
    for rule in case.values("before") {
        let (a, b) = rule.split_once('<').expect("a < b");
        if position(a.trim()) >= position(b.trim()) {
            return Err(format!("`{rule}` does not hold in {:?}", plan.configure_order));
        }
    }
    if !case.values("cycles").is_empty() {
        let actual: Vec<String> = plan.broken_cycles.iter().map(|c| format!("{}->{}", c.from, c.to)).collect();
        if case.words("cycles") != actual {
            return Err(format!("cycles: expected {:?}, got {actual:?}", case.words("cycles")));
        }
    } else if !plan.broken_cycles.is_empty() {
        return Err(format!("unexpected broken cycles {:?}", plan.broken_cycles));
    }
    if !case.values("base").is_empty() && case.words("base") != plan.satisfied_by_base {
        return Err(format!("base: expected {:?}, got {:?}", case.words("base"), plan.satisfied_by_base));
    }
    for forced in case.values("forced") {
        let found = plan.forced_conflicts.iter().any(|f| {
            let name = |s: &str| s.split_whitespace().next().unwrap_or_default().to_owned();
            format!("{} {} {}", name(&f.package), f.field, name(&f.hits)) == forced
        });
        if !found {
            return Err(format!("forced conflict `{forced}` missing from {:?}", plan.forced_conflicts));
        }
    }
    for source in case.words("source") {
        let (name, expected) = source.split_once('=').expect("NAME=SOURCE");
        let actual = match plan.get(name).map(|p| &p.source) {
            Some(PackageSource::Repository { index, .. }) => format!("repo:{index}"),
            Some(PackageSource::Local { index, .. }) => format!("local:{index}"),
            None => "absent".to_owned(),
        };
        if actual != expected {
            return Err(format!("source of `{name}`: expected {expected}, got {actual}"));
        }
    }
    Ok(())
}

fn shown(plan: &Plan) -> String {
    plan.install.iter().map(|p| format!("{}={}", p.name, p.version)).collect::<Vec<_>>().join(" ")
}

#[test]
fn data_driven_cases() {
    let cases = read_cases();
    assert!(cases.len() > 40, "{} cases", cases.len());
    let failures: Vec<String> =
        cases.iter().filter_map(|case| run_case(case).err().map(|e| format!("--- {}\n{e}", case.name))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn plan_details() {
    let repo = index(&lines(
        "htop 3.2.2-2; Depends: libc6 (>= 2.34), libncursesw6; Recommends: lsof
         libc6 2.36-9
         libncursesw6 6.4-4; Depends: libc6
         lsof 4.95",
    ));
    let base = installed(&lines("libc6 2.36-9"));
    let universe = Universe::new("amd64", &base, &[&repo], &[]);
    let plan = universe.resolve(&[Request::parse("htop").expect("parses")], &ResolveOptions::default()).expect("plan");
    assert_eq!(shown(&plan), "htop=3.2.2-2 libncursesw6=6.4-4");
    assert_eq!(plan.configure_order, ["libncursesw6", "htop"]);
    assert_eq!(plan.download_size, 1000 + 1002);
    let htop = plan.get("htop").expect("htop");
    assert!(htop.requested);
    assert!(!plan.get("libncursesw6").expect("dep").requested);
    assert_eq!(htop.architecture, "amd64");
    assert_eq!(
        htop.source,
        PackageSource::Repository {
            index: 0,
            record: 0,
            filename: "pool/main/htop_3.2.2-2_amd64.deb".into(),
            sha256: format!("{:064x}", 1),
        }
    );
    let json = serde_json::to_value(&plan).expect("serializes");
    assert_eq!(json["install"][0]["source"]["kind"], "repository");
    assert_eq!(json["configure_order"][1], "htop");

    // The same inputs give the same plan.
    let again = universe.resolve(&[Request::parse("htop").expect("parses")], &ResolveOptions::default()).expect("plan");
    assert_eq!(plan, again);
}

#[test]
fn installed_entries_from_dpkg_status() {
    let status = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\nEssential: yes\nProvides: x\n\n\
                  Package: b\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n\n\
                  Package: c\nStatus: install ok half-installed\nVersion: 1\nArchitecture: amd64\n\n\
                  Package: d\nStatus: hold ok installed\nVersion: 2\nArchitecture: all\nMulti-Arch: foreign\n\n\
                  Package: e\nStatus: install reinstreq installed\nVersion: 1\nArchitecture: amd64\n";
    let paragraphs = parse_paragraphs(status.as_bytes(), Syntax::Strict).expect("parses");
    let installed = InstalledPackage::from_status_file(&paragraphs).expect("valid");
    let names: Vec<&str> = installed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "d"]);
    assert!(installed[0].essential);
    assert_eq!(installed[0].provides.as_deref(), Some("x"));
    assert_eq!(installed[1].multi_arch.as_deref(), Some("foreign"));

    for bad in [
        "Package: a\nVersion: 1\n",
        "Package: a\nStatus: install ok\n",
        "Package: a\nStatus: want ok installed\nVersion: 1\nArchitecture: all\n",
        "Package: a\nStatus: install ok installed\nArchitecture: all\n",
        "Status: install ok installed\nVersion: 1\n",
    ] {
        let paragraphs = parse_paragraphs(bad.as_bytes(), Syntax::Strict).expect("parses");
        let error = InstalledPackage::from_status_file(&paragraphs).expect_err("refused");
        assert!(matches!(error, ResolveError::BadStatusEntry { .. }), "{error}");
    }
}

#[test]
fn requests_parse() {
    assert_eq!(Request::parse("htop").expect("name"), Request::Name("htop".into()));
    let Request::Version { name, version } = Request::parse("htop=1:3.2.2-2").expect("pinned") else {
        panic!("not a version request");
    };
    assert_eq!((name.as_str(), version.as_str()), ("htop", "1:3.2.2-2"));
    for bad in ["", "h", "Htop", "htop=", "htop=1 2", "-htop", "ht op"] {
        assert!(Request::parse(bad).is_err(), "{bad:?} accepted");
    }
    let error = Request::parse("Htop").expect_err("refused");
    assert!(error.to_string().contains("hint: write `NAME` or `NAME=VERSION`"), "{error}");
}

/// A real `.deb` built by `dpkg-deb`, read back by `DebReader`, becomes a
/// local candidate through `LocalPackage::from_control`.
#[test]
fn local_package_from_a_real_deb() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!("dpkg-deb is not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("DEBIAN")).expect("DEBIAN");
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: hello-local\nVersion: 2.0-1\nArchitecture: all\nMaintainer: t <t@example.invalid>\n\
         Depends: libfoo (>= 1)\nProvides: hello\nDescription: test\n",
    )
    .expect("control");
    std::fs::write(tree.join("DEBIAN/postinst"), "#!/bin/sh\nexit 0\n").expect("postinst");
    std::fs::set_permissions(tree.join("DEBIAN/postinst"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let deb = dir.path().join("hello-local.deb");
    let output =
        Command::new("dpkg-deb").args(["--root-owner-group", "-b"]).arg(&tree).arg(&deb).output().expect("dpkg-deb");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let file = std::fs::File::open(&deb).expect("open");
    let reader = pkgdb::deb::DebReader::new(file, pkgdb::deb::DebOptions::default()).expect("reads");
    let local = vec![LocalPackage::from_control(reader.control(), &deb)];
    assert!(local[0].has_postinst);
    assert_eq!(local[0].provides.as_deref(), Some("hello"));

    let repo = index(&lines("hello-local 3.0; Architecture: all\nlibfoo 1.5"));
    let universe = Universe::new("amd64", &[], &[&repo], &local);
    let plan = universe.resolve(&[Request::Local(0)], &ResolveOptions::default()).expect("plan");
    assert_eq!(shown(&plan), "hello-local=2.0-1 libfoo=1.5");
    assert_eq!(plan.get("hello-local").expect("local").source, PackageSource::Local { index: 0, path: deb.clone() });
    assert_eq!(plan.download_size, 1001);
    // By name, the local file still wins over the repository's 3.0.
    let plan =
        universe.resolve(&[Request::parse("hello-local").expect("parses")], &ResolveOptions::default()).expect("plan");
    assert_eq!(plan.get("hello-local").expect("local").version, "2.0-1");
    let error = universe.resolve(&[Request::Local(1)], &ResolveOptions::default()).expect_err("refused");
    assert!(matches!(error, ResolveError::NoSuchLocal { index: 1, count: 1 }), "{error}");
}

/// The names and versions `apt-get -s install --no-install-recommends`
/// would install into an empty system, with a private apt state in `dir`
/// that is updated first. The host's apt state is untouched.
struct PrivateApt {
    dir: PathBuf,
    /// The dpkg status apt reads: empty, or the host's (read only).
    status: PathBuf,
}

impl PrivateApt {
    fn new(dir: &Path, uri: &str, keyring: &Path) -> PrivateApt {
        for sub in ["lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d", "log"] {
            std::fs::create_dir_all(dir.join(sub)).expect("apt dirs");
        }
        std::fs::write(dir.join("status"), "").expect("empty status");
        std::fs::write(
            dir.join("etc/sources.list"),
            format!("deb [arch=amd64 signed-by={}] {uri} bookworm main\n", keyring.display()),
        )
        .expect("sources.list");
        PrivateApt { dir: dir.to_owned(), status: dir.join("status") }
    }

    fn with_status(&self, status: &Path) -> PrivateApt {
        PrivateApt { dir: self.dir.clone(), status: status.to_owned() }
    }

    fn apt_get(&self) -> Command {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        let mut command = Command::new("apt-get");
        for (key, value) in [
            ("Dir::State", d("")),
            ("Dir::State::status", self.status.display().to_string()),
            ("Dir::State::Lists", d("lists")),
            ("Dir::Cache", d("cache")),
            ("Dir::Etc::SourceList", d("etc/sources.list")),
            ("Dir::Etc::SourceParts", d("etc/sources.list.d")),
            ("Dir::Etc::Preferences", d("etc/preferences")),
            ("Dir::Etc::PreferencesParts", d("etc/preferences.d")),
            ("Dir::Log", d("log")),
            ("APT::Architecture", "amd64".to_owned()),
            ("APT::Architectures", "amd64".to_owned()),
            ("APT::Sandbox::User", "root".to_owned()),
            ("Acquire::Languages", "none".to_owned()),
            ("Debug::NoLocking", "1".to_owned()),
        ] {
            command.arg("-o").arg(format!("{key}={value}"));
        }
        command
    }

    fn update(&self) {
        let output = self.apt_get().arg("update").output().expect("apt-get runs");
        assert!(output.status.success(), "apt-get update: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn closure(&self, package: &str) -> BTreeSet<String> {
        // Since apt 2.6, installing a package also upgrades installed
        // packages built from the same source (`login` and `passwd` with a
        // newer `libsubid4`), a policy rather than a dependency; a locked
        // base makes no such upgrade, so the comparison leaves it out.
        let output = self
            .apt_get()
            .args(["-s", "-o", "APT::Get::Upgrade-By-Source-Package=false"])
            .args(["install", "--no-install-recommends", package])
            .output()
            .expect("apt-get runs");
        assert!(output.status.success(), "apt-get -s install {package}: {}", String::from_utf8_lossy(&output.stderr));
        // "Inst libc6 (2.36-9+deb12u4 Debian:12.5/stable [amd64])"; an
        // upgrade has "[OLD]" before the parenthesis and is kept as such.
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("Inst "))
            .filter_map(|l| {
                if l.split_whitespace().nth(1).is_some_and(|w| w.starts_with('[')) {
                    return Some(format!("upgrade {l}"));
                }
                let (name, rest) = l.split_once(" (")?;
                let version = rest.split_whitespace().next()?;
                Some(format!("{name}={version}"))
            })
            .collect()
    }
}

/// Every Depends or Pre-Depends on a single planned package puts it
/// earlier in the configure order, unless that link broke a cycle.
fn require_dependencies_first(index: &PackageIndex, plan: &Plan) {
    let position = |name: &str| plan.configure_order.iter().position(|n| n == name);
    for package in &plan.install {
        let PackageSource::Repository { record, .. } = package.source else { continue };
        let entry = index.get(record).expect("record");
        for text in [entry.pre_depends, entry.depends].into_iter().flatten() {
            for group in pkgdb::deb::relation::parse_relations(text).expect("parses") {
                let [relation] = group.as_slice() else { continue };
                let (Some(dependency), Some(dependent)) = (position(&relation.name), position(&package.name)) else {
                    continue;
                };
                let broken = plan.broken_cycles.iter().any(|c| c.from == package.name && c.to == relation.name);
                assert!(
                    dependency < dependent || broken,
                    "`{}` is configured before its dependency `{}`",
                    package.name,
                    relation.name
                );
            }
        }
    }
}

/// Live: resolves `htop`, `git` and `apache2` against bookworm main from
/// the Debian archive this machine's apt is configured for (read at run
/// time), on an empty installed set, and compares each closure with what
/// apt would install into an empty system.
#[test]
#[ignore = "live: uses the network (the Debian archive in this machine's apt sources)"]
fn live_debian_archive_resolve() {
    let keyring = PathBuf::from("/usr/share/keyrings/debian-archive-keyring.gpg");
    let configured = read_sources(Path::new("/")).expect("system sources");
    let mut source = configured
        .into_iter()
        .find(|s| s.suite == "bookworm" && s.components.iter().any(|c| c == "main"))
        .expect("a bookworm main source in this machine's apt sources");
    source.components = vec!["main".into()];
    source.architectures = vec!["amd64".into()];
    source.signed_by = Some(SignedBy::Keyrings(vec![keyring.clone()]));

    let scratch = tempfile::tempdir().expect("scratch");
    let cache = scratch.path().join("cache");
    let summary = update(&source, &cache, SystemTime::now(), &HttpClient::new()).expect("live update");
    let path = &summary.indexes[0].path;
    let xz = std::fs::read(summary.directory.join(path)).expect("cached index");
    let text = pkgdb::apt::index::decompress(&xz, path).expect("decompresses");
    let started = Instant::now();
    let index = read_packages(&text, path).expect("parses");
    let parsed = started.elapsed();

    let started = Instant::now();
    let universe = Universe::new("amd64", &[], &[&index], &[]);
    let built = started.elapsed();
    eprintln!("bookworm main amd64: {} packages; index parsed in {parsed:?}, universe built in {built:?}", index.len());

    let apt = PrivateApt::new(&scratch.path().join("apt"), &source.uri, &keyring);
    apt.update();

    let mut differences = Vec::new();
    for package in ["htop", "git", "apache2"] {
        let started = Instant::now();
        let plan = universe
            .resolve(&[Request::parse(package).expect("parses")], &ResolveOptions::default())
            .unwrap_or_else(|e| panic!("{package}: {e}"));
        let solved = started.elapsed();
        let ours: BTreeSet<String> = plan.install.iter().map(|p| format!("{}={}", p.name, p.version)).collect();
        let theirs = apt.closure(package);
        eprintln!(
            "{package}: {} packages, {} bytes to download, solved in {solved:?}; apt: {} packages; {} cycles broken",
            ours.len(),
            plan.download_size,
            theirs.len(),
            plan.broken_cycles.len()
        );
        eprintln!("  configure order: {}", plan.configure_order.join(" "));
        for cycle in &plan.broken_cycles {
            eprintln!("  cycle {} broken at {} -> {}", cycle.cycle.join(" -> "), cycle.from, cycle.to);
        }
        require_dependencies_first(&index, &plan);
        let only_ours: Vec<&String> = ours.difference(&theirs).collect();
        let only_apt: Vec<&String> = theirs.difference(&ours).collect();
        if !only_ours.is_empty() || !only_apt.is_empty() {
            differences.push(format!("{package}: only ours {only_ours:?}; only apt {only_apt:?}"));
        }
    }

    // The same against this machine's own dpkg status as the (locked)
    // base: where apt would only add packages, we must add the same ones;
    // where apt would upgrade a base package, we must refuse and say so.
    let status = std::fs::read("/var/lib/dpkg/status").expect("host dpkg status");
    let paragraphs = parse_paragraphs(&status, Syntax::Strict).expect("host status parses");
    let base = InstalledPackage::from_status_file(&paragraphs).expect("host status entries");
    let started = Instant::now();
    let universe = Universe::new("amd64", &base, &[&index], &[]);
    eprintln!("with the host's {} installed packages: universe built in {:?}", base.len(), started.elapsed());
    let host_apt = apt.with_status(Path::new("/var/lib/dpkg/status"));
    for package in ["htop", "apache2", "podman", "git"] {
        let started = Instant::now();
        let result = universe.resolve(&[Request::parse(package).expect("parses")], &ResolveOptions::default());
        let solved = started.elapsed();
        let theirs = host_apt.closure(package);
        let upgrades = theirs.iter().any(|p| p.starts_with("upgrade "));
        match result {
            Ok(plan) => {
                let ours: BTreeSet<String> = plan.install.iter().map(|p| format!("{}={}", p.name, p.version)).collect();
                eprintln!(
                    "on the host base, {package}: {} packages added (satisfied by base: {:?}), solved in {solved:?}; \
                     apt: {} packages",
                    ours.len(),
                    plan.satisfied_by_base,
                    theirs.len()
                );
                require_dependencies_first(&index, &plan);
                if ours != theirs {
                    differences.push(format!("{package} on the host base: ours {ours:?}; apt {theirs:?}"));
                }
            }
            Err(error) => {
                eprintln!("on the host base, {package}: refused in {solved:?}: {error}");
                if !upgrades || !error.to_string().contains("the base has") {
                    differences
                        .push(format!("{package} on the host base: refused ({error}) where apt plans {theirs:?}"));
                }
            }
        }
    }
    assert!(differences.is_empty(), "closures differ from apt:\n{}", differences.join("\n"));
}
