//! The rpmdb writer against the real `rpm` 4.18 (sqlite backend) as the
//! oracle: packages recorded by us must satisfy `rpm -qa`, `rpm -V`,
//! `-qf`, `--whatprovides`...; the headers and index rows we write must be
//! those `rpm -i` writes for the same packages; and what rpm wrote must
//! read back through our code.

mod rpm_support;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use pkgdb::rpmdb::{
    ByteOrder, Index, IndexRow, InstallInfo, InstalledHeader, PackageHeaders, RPMDB_IN_ROOT, RpmDb, RpmDbDir,
    RpmDbError, TagValue,
};
use rpm_support::{require_tool, rpmbuild};

const DBPATH: &str = "/usr/lib/sysimage/rpm";
/// The install time and transaction id in the comparisons: rpm takes both
/// from `SOURCE_DATE_EPOCH` when it is set.
const INSTALL_TIME: u32 = 1_700_000_000;
const FIXTURES: &str = "../../../shared/fixtures/rpms";

const ALPHA_SPEC: &str = r#"Name: layer-alpha
Version: 1.0
Release: 1
Summary: alpha test package
License: MIT
Group: Applications/Test
BuildArch: noarch
Provides: alpha-virtual = 2.0
%description
Alpha: a config file, a program, and a ghost.
%install
mkdir -p %{buildroot}/etc/alpha %{buildroot}/usr/bin
echo "key=value" > %{buildroot}/etc/alpha/alpha.conf
printf '#!/bin/sh\necho alpha\n' > %{buildroot}/usr/bin/alpha
chmod 755 %{buildroot}/usr/bin/alpha
%files
%dir /etc/alpha
%config(noreplace) /etc/alpha/alpha.conf
/usr/bin/alpha
%ghost /var/log/alpha.log
"#;

const BETA_SPEC: &str = r#"Name: layer-beta
Epoch: 2
Version: 0.5
Release: 3
Summary: beta test package
License: MIT
Requires: layer-alpha >= 1.0
Requires: alpha-virtual
Requires: (layer-alpha if layer-gamma else layer-delta)
Requires(post): /bin/sh
Recommends: layer-gamma
Suggests: (layer-gamma and layer-alpha)
Supplements: layer-alpha
Enhances: layer-alpha
Conflicts: layer-old
Obsoletes: layer-older < 1
%description
Beta depends on alpha, and has scriptlets and triggers.
%install
mkdir -p %{buildroot}/usr/share/beta
echo beta > %{buildroot}/usr/share/beta/data.txt
%post
true
%triggerin -- layer-alpha
true
%triggerun -- layer-alpha
true
%filetriggerin -- /usr/lib/gamma
true
%transfiletriggerin -- /usr/share
true
%files
/usr/share/beta
"#;

const GAMMA_SPEC: &str = r#"Name: layer-gamma
Version: 3.1
Release: 1
Summary: gamma test package
License: MIT
Prefix: /usr
%description
Gamma is relocatable and has a symlink and an empty directory.
%install
mkdir -p %{buildroot}/usr/lib/gamma/empty %{buildroot}/usr/bin
printf 'gamma\n' > %{buildroot}/usr/lib/gamma/real
ln -s ../lib/gamma/real %{buildroot}/usr/bin/gamma
%files
%dir /usr/lib/gamma
%dir /usr/lib/gamma/empty
/usr/lib/gamma/real
/usr/bin/gamma
"#;

/// The packages of these tests, in install order.
struct Packages {
    _dir: tempfile::TempDir,
    /// Built here: alpha (a %config file in /etc), beta (depends on alpha), gamma (a symlink, a directory).
    built: Vec<PathBuf>,
    /// Distribution builds: noarch, x86_64 (zstd), IMA file signatures.
    real: Vec<PathBuf>,
    /// Only recorded, never unpacked (rpm2cpio cannot read them, or they carry owners this machine lacks).
    headers_only: Vec<PathBuf>,
}

impl Packages {
    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.built.iter().chain(&self.real).chain(&self.headers_only)
    }

    fn unpackable(&self) -> impl Iterator<Item = &PathBuf> {
        self.built.iter().chain(&self.real)
    }
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES).join(path)
}

fn packages() -> &'static Packages {
    static PACKAGES: OnceLock<Packages> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        for (tool, package) in [("rpm", "rpm"), ("rpm2cpio", "rpm2cpio"), ("rpm2archive", "rpm2cpio")] {
            require_tool(tool, package);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let built = [("alpha", ALPHA_SPEC), ("beta", BETA_SPEC), ("gamma", GAMMA_SPEC)]
            .iter()
            .map(|(name, spec)| {
                let sub = dir.path().join(name);
                std::fs::create_dir(&sub).expect("mkdir");
                rpmbuild(&sub, spec, "w9.gzdio")
            })
            .collect();
        let real = [
            "real/monkeysphere-0.37-1.el7.noarch.rpm",
            "real/rpm-sign-4.15.1-1.fc31.x86_64.rpm",
            "real/ima_signed.rpm",
        ]
        .iter()
        .map(|p| fixture(p))
        .collect();
        let headers_only = [
            "real/rpm-feature-coverage-2.3.4-5.el8.x86_64.rpm",
            "real/389-ds-base-devel-1.3.8.4-15.el7.x86_64.rpm",
            "formats/v6_rpm-rich-deps-1.0-1.noarch.rpm",
            "formats/v6_rpm-file-attrs-1.0-1.noarch.rpm",
        ]
        .iter()
        .map(|p| fixture(p))
        .collect();
        Packages { _dir: dir, built, real, headers_only }
    })
}

fn run(command: &mut Command) -> Output {
    command.env("LC_ALL", "C").stdin(Stdio::null()).output().expect("run command")
}

fn rpm(root: &Path, args: &[&str]) -> Output {
    run(Command::new("rpm").arg("--root").arg(root).arg("--dbpath").arg(DBPATH).args(args))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `rpm -q ARGS` that must succeed, its stdout lines.
fn rpm_query(root: &Path, args: &[&str]) -> Vec<String> {
    let output = rpm(root, args);
    assert!(output.status.success(), "rpm {args:?} failed:\n{}{}", stdout(&output), stderr(&output));
    assert!(!stderr(&output).contains("error"), "rpm {args:?} complained:\n{}", stderr(&output));
    stdout(&output).lines().map(str::to_owned).collect()
}

fn nevra_of_file(path: &Path) -> String {
    let output = run(Command::new("rpm").args(["-qp", "--nosignature", "--qf", "%{NEVRA}"]).arg(path));
    assert!(output.status.success(), "rpm -qp {}: {}", path.display(), stderr(&output));
    stdout(&output)
}

fn name_of_file(path: &Path) -> String {
    let output = run(Command::new("rpm").args(["-qp", "--nosignature", "--qf", "%{NAME}"]).arg(path));
    stdout(&output)
}

fn read_headers(path: &Path) -> PackageHeaders {
    PackageHeaders::read(File::open(path).expect("open rpm")).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

fn have_tool(tool: &str) -> bool {
    run(Command::new("sh").arg("-c").arg(format!("command -v {tool}"))).status.success()
}

/// Unpacks a package's payload into `root` as rpm would (modes, owners,
/// mtimes): `rpm2cpio | cpio -idm`, or where cpio is missing (it is not
/// in Debian's minimal images) `rpm2archive | tar`, from the same rpm2cpio package.
fn unpack(path: &Path, root: &Path) {
    let script = if have_tool("cpio") {
        format!("rpm2cpio '{}' | cpio -idm --quiet", path.display())
    } else {
        format!("rpm2archive - < '{}' | tar -xzpf - --numeric-owner", path.display())
    };
    let output = run(Command::new("bash").arg("-c").arg(format!("set -o pipefail; {script}")).current_dir(root));
    assert!(output.status.success(), "unpacking {}: {}", path.display(), stderr(&output));
}

fn open_root(root: &Path) -> File {
    File::open(root).expect("open root")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Records every package with our code into a fresh database in `root`.
fn record(root: &Path, paths: &[&PathBuf]) -> RpmDb {
    let dir = RpmDbDir::create_in_root(open_root(root)).expect("create rpmdb dir");
    let mut db = dir.load_or_new().expect("load");
    for path in paths {
        let headers = read_headers(path);
        db.add(&headers, &InstallInfo::new("x86_64", INSTALL_TIME)).expect("add");
    }
    dir.store(&db).expect("store");
    db
}

#[test]
fn an_empty_database_has_the_schema_of_rpm_initdb() {
    let _ = packages();
    let ours = tempfile::tempdir().expect("tempdir");
    let dir = RpmDbDir::create_in_root(open_root(ours.path())).expect("create");
    dir.store(&RpmDb::new().expect("new")).expect("store");
    let theirs = tempfile::tempdir().expect("tempdir");
    rpm_query(theirs.path(), &["--initdb"]);

    let schema = |root: &Path| -> Vec<(String, String, String, Option<String>)> {
        let path = root.join(RPMDB_IN_ROOT).join("rpmdb.sqlite");
        let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open with sqlite");
        let mut stmt =
            conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").expect("prepare");
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).expect("query");
        // rpm's `PRAGMA optimize` may leave statistics behind; they are not schema.
        rows.map(|r| r.expect("row"))
            .filter(|r: &(String, String, String, Option<String>)| r.1 != "sqlite_stat1")
            .collect()
    };
    assert_eq!(schema(ours.path()), schema(theirs.path()));
    assert!(rpm_query(ours.path(), &["-qa"]).is_empty());
}

#[test]
fn recorded_packages_satisfy_rpm_queries_and_verify() {
    let packages = packages();
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let paths: Vec<&PathBuf> = packages.unpackable().collect();
    for path in &paths {
        unpack(path, root);
    }
    record(root, &paths);

    let expected = sorted(paths.iter().map(|p| nevra_of_file(p)).collect());
    // rpm checks each installed header against its SHA1HEADER/SHA256HEADER
    // as it reads it, and skips (with an error) any that fail.
    assert_eq!(sorted(rpm_query(root, &["-qa", "--qf", "%{NEVRA}\n"])), expected);
    for path in &paths {
        let name = name_of_file(path);
        let verify = rpm(root, &["-V", "--nodeps", &name]);
        assert!(
            verify.status.success() && verify.stdout.is_empty(),
            "rpm -V {name}:\n{}{}",
            stdout(&verify),
            stderr(&verify)
        );
    }

    // rpm prints a package once per matching index row (a rich dependency
    // adds rows), and `name-version-release.arch` without the epoch.
    let one = |args: &[&str]| {
        let mut lines = rpm_query(root, args);
        lines.dedup();
        lines
    };
    assert_eq!(one(&["-q", "--whatprovides", "alpha-virtual"]), ["layer-alpha-1.0-1.noarch"]);
    assert_eq!(one(&["-q", "--whatprovides", "/usr/bin/alpha"]), ["layer-alpha-1.0-1.noarch"]);
    assert_eq!(one(&["-q", "--whatrequires", "layer-alpha"]), ["layer-beta-0.5-3.x86_64"]);
    assert_eq!(one(&["-q", "--whatrecommends", "layer-gamma"]), ["layer-beta-0.5-3.x86_64"]);
    assert_eq!(one(&["-q", "--whatconflicts", "layer-old"]), ["layer-beta-0.5-3.x86_64"]);
    assert_eq!(one(&["-q", "--whatobsoletes", "layer-older"]), ["layer-beta-0.5-3.x86_64"]);
    assert_eq!(one(&["-q", "--triggeredby", "layer-alpha"]), ["layer-beta-0.5-3.x86_64"]);
    assert_eq!(one(&["-qf", "/usr/bin/gamma"]), ["layer-gamma-3.1-1.x86_64"]);
    assert_eq!(one(&["-qf", "/etc/alpha/alpha.conf"]), ["layer-alpha-1.0-1.noarch"]);
    assert_eq!(one(&["-qf", "/usr/bin/rpmsign"]), ["rpm-sign-4.15.1-1.fc31.x86_64"]);
    assert_eq!(one(&["-qc", "layer-alpha"]), ["/etc/alpha/alpha.conf"]);
    assert_eq!(one(&["-q", "--qf", "%{INSTPREFIXES}", "layer-gamma"]), ["/usr"]);
    let info = one(&["-qi", "layer-beta"]).join("\n");
    for line in ["Name        : layer-beta", "Epoch       : 2", "Version     : 0.5", "Install Date:"] {
        assert!(info.contains(line), "`{line}` missing from rpm -qi:\n{info}");
    }
    // The signature of a signed package survives in its installed header.
    let signature = one(&["-q", "--qf", "%{RSAHEADER:pgpsig}", "monkeysphere"]).join("");
    assert!(signature.starts_with("RSA/SHA256"), "{signature}");

    // Remove one; the others still verify.
    let dir = RpmDbDir::open_in_root(open_root(root)).expect("open");
    let mut db = dir.load().expect("load");
    let gamma = db.find("layer-gamma").expect("find");
    assert_eq!(gamma.len(), 1);
    assert!(db.remove(gamma[0].hnum).expect("remove"));
    assert!(!db.remove(gamma[0].hnum).expect("remove again"));
    dir.store(&db).expect("store");
    let expected: Vec<String> = expected.into_iter().filter(|n| !n.starts_with("layer-gamma-")).collect();
    assert_eq!(sorted(rpm_query(root, &["-qa", "--qf", "%{NEVRA}\n"])), expected);
    let owner = rpm(root, &["-qf", "/usr/bin/gamma"]);
    // (rpm then looks for the path outside the root and says it is missing.)
    let message = stdout(&owner) + &stderr(&owner);
    assert!(!owner.status.success() && !message.contains("layer-gamma"), "{message}");
    for path in &paths {
        let name = name_of_file(path);
        if name == "layer-gamma" {
            continue;
        }
        let verify = rpm(root, &["-V", "--nodeps", &name]);
        assert!(verify.status.success() && verify.stdout.is_empty(), "rpm -V {name}:\n{}", stdout(&verify));
    }
    // rpm -V does look at the files: a changed config file shows.
    std::fs::write(root.join("etc/alpha/alpha.conf"), "changed\n").expect("write");
    let verify = rpm(root, &["-V", "--nodeps", "layer-alpha"]);
    assert!(stdout(&verify).contains("c /etc/alpha/alpha.conf"), "{}", stdout(&verify));
    // rpm's own consistency check (sqlite integrity and foreign keys).
    let check = run(Command::new("rpmdb").arg("--root").arg(root).args(["--dbpath", DBPATH, "--verifydb"]));
    assert!(check.status.success(), "rpmdb --verifydb: {}", stderr(&check));
}

/// Tags that differ between two headers, for the failure message.
fn header_differences(ours: &InstalledHeader, theirs: &InstalledHeader) -> Vec<String> {
    let collect = |h: &InstalledHeader| -> BTreeMap<u32, (String, bool)> {
        h.tags().map(|e| (e.tag, (format!("{:?}", e.value()), e.immutable))).collect()
    };
    let (a, b) = (collect(ours), collect(theirs));
    let mut out = Vec::new();
    for tag in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        if a.get(tag) != b.get(tag) {
            out.push(format!("tag {tag}: ours {:?}, rpm's {:?}", a.get(tag), b.get(tag)));
        }
    }
    if out.is_empty() && ours.as_bytes() != theirs.as_bytes() {
        out.push("same tags, different layout".into());
    }
    out
}

fn index_dump(db: &RpmDb) -> BTreeMap<&'static str, Vec<IndexRow>> {
    Index::ALL.iter().map(|&i| (i.table(), db.index_rows(i).expect("rows"))).collect()
}

#[test]
fn headers_and_indexes_are_those_rpm_writes() {
    let packages = packages();
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let paths: Vec<&PathBuf> = packages.all().collect();
    // One transaction per package, all at the same time.
    for path in &paths {
        let output = run(Command::new("rpm")
            .arg("--root")
            .arg(root)
            .args(["--dbpath", DBPATH, "-i", "--nodeps", "--noscripts", "--notriggers", "--nosignature"])
            .arg(path)
            .env("SOURCE_DATE_EPOCH", INSTALL_TIME.to_string()));
        assert!(output.status.success(), "rpm -i {}: {}", path.display(), stderr(&output));
    }
    let theirs = RpmDbDir::open_in_root(open_root(root)).expect("open").load().expect("read rpm's database");

    let mut ours = RpmDb::new().expect("new");
    ours.set_key_order(ByteOrder::of_arch("x86_64"));
    for path in &paths {
        ours.add(&read_headers(path), &InstallInfo::new("x86_64", INSTALL_TIME)).expect("add");
    }
    let our_packages = ours.packages().expect("ours");
    let their_packages = theirs.packages().expect("theirs");
    assert_eq!(
        our_packages.iter().map(|p| (p.hnum, p.nevra())).collect::<Vec<_>>(),
        their_packages.iter().map(|p| (p.hnum, p.nevra())).collect::<Vec<_>>()
    );
    for (a, b) in our_packages.iter().zip(&their_packages) {
        assert!(
            a.header.as_bytes() == b.header.as_bytes(),
            "{}: {:#?}",
            a.nevra(),
            header_differences(&a.header, &b.header)
        );
    }
    assert_eq!(index_dump(&ours), index_dump(&theirs));

    // Removal, in both.
    let beta = ours.find("layer-beta").expect("find")[0].hnum;
    ours.remove(beta).expect("remove");
    let output = rpm(root, &["-e", "--nodeps", "--noscripts", "--notriggers", "layer-beta"]);
    assert!(output.status.success(), "rpm -e: {}", stderr(&output));
    let theirs = RpmDbDir::open_in_root(open_root(root)).expect("open").load().expect("reload");
    assert_eq!(index_dump(&ours), index_dump(&theirs));
    let (a, b) = (ours.packages().expect("ours"), theirs.packages().expect("theirs"));
    assert_eq!(a.iter().map(|p| p.hnum).collect::<Vec<_>>(), b.iter().map(|p| p.hnum).collect::<Vec<_>>());

    // The next package gets the next number, in both.
    let beta_file = packages.built[1].as_path();
    let output = run(Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DBPATH, "-i", "--nodeps", "--noscripts", "--notriggers"])
        .arg(beta_file)
        .env("SOURCE_DATE_EPOCH", INSTALL_TIME.to_string()));
    assert!(output.status.success(), "rpm -i: {}", stderr(&output));
    let added = ours.add(&read_headers(beta_file), &InstallInfo::new("x86_64", INSTALL_TIME)).expect("re-add");
    assert_eq!(added.hnum as usize, paths.len() + 1);
    let theirs = RpmDbDir::open_in_root(open_root(root)).expect("open").load().expect("reload");
    assert_eq!(index_dump(&ours), index_dump(&theirs));
    let their_beta = theirs.find("layer-beta").expect("find");
    assert_eq!(their_beta.len(), 1);
    assert_eq!(their_beta[0].hnum, added.hnum);
    assert!(their_beta[0].header.as_bytes() == added.header.as_bytes());
}

#[test]
fn the_database_rpm_wrote_reads_back() {
    let packages = packages();
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let paths: Vec<&PathBuf> = packages.all().collect();
    let mut install = Command::new("rpm");
    install.arg("--root").arg(root).args(["--dbpath", DBPATH, "-i", "--nodeps", "--noscripts", "--nosignature"]);
    for path in &paths {
        install.arg(path);
    }
    let output = run(&mut install);
    assert!(output.status.success(), "rpm -i: {}", stderr(&output));
    // rpm leaves its database in WAL mode, with an empty WAL.
    let db = RpmDbDir::open_in_root(open_root(root)).expect("open").load().expect("load");
    let listed = db.packages().expect("packages");
    let nevras: Vec<String> = listed.iter().map(|p| p.nevra()).collect();
    assert_eq!(nevras, rpm_query(root, &["-qa", "--qf", "%{NEVRA}\n"]));
    for installed in &listed {
        // The installed header's immutable part is the package's main header.
        let package = installed.package().unwrap_or_else(|e| panic!("{}: {e:?}", installed.nevra()));
        assert_eq!(package.name, installed.name);
        let files = rpm_query(root, &["-q", "--qf", "%{FILENAMES:arraysize}", &installed.nevra()]);
        let files: usize = files.join("").parse().unwrap_or(0);
        assert_eq!(package.files.len(), files, "{}", installed.nevra());
        assert!(matches!(installed.header.get(1008).map(|e| e.value()), Some(TagValue::Int32(_))));
        let by_name = db.find(&installed.name).expect("find");
        assert!(by_name.iter().any(|p| p.hnum == installed.hnum));
    }
}

#[test]
fn a_pending_journal_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = RpmDbDir::create_in_root(open_root(root.path())).expect("create");
    dir.store(&RpmDb::new().expect("new")).expect("store");
    let db_dir = root.path().join(RPMDB_IN_ROOT);
    std::fs::write(db_dir.join("rpmdb.sqlite-wal"), b"").expect("write");
    dir.load().expect("an empty WAL is fine");
    std::fs::write(db_dir.join("rpmdb.sqlite-wal"), b"frames").expect("write");
    assert!(matches!(dir.load(), Err(RpmDbError::PendingJournal { .. })));
    // Storing replaces the file and drops the old file's journals.
    dir.store(&RpmDb::new().expect("new")).expect("store");
    assert!(!db_dir.join("rpmdb.sqlite-wal").exists());
    dir.load().expect("load");
}

#[test]
fn storing_never_writes_through_a_hardlink() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = RpmDbDir::create_in_root(open_root(root.path())).expect("create");
    dir.store(&RpmDb::new().expect("new")).expect("store");
    let file = root.path().join(RPMDB_IN_ROOT).join("rpmdb.sqlite");
    let store_object = root.path().join("object");
    std::fs::hard_link(&file, &store_object).expect("link");
    let before = std::fs::read(&store_object).expect("read");
    let mut db = dir.load().expect("load");
    let alpha = &packages().built[0];
    db.add(&read_headers(alpha), &InstallInfo::new("x86_64", INSTALL_TIME)).expect("add");
    dir.store(&db).expect("store");
    assert_eq!(std::fs::read(&store_object).expect("read"), before);
    assert_ne!(std::fs::metadata(&file).expect("stat").ino(), std::fs::metadata(&store_object).expect("stat").ino());
    assert_eq!(std::fs::metadata(&file).expect("stat").mode() & 0o7777, 0o644);
    assert_eq!(dir.load().expect("load").packages().expect("list").len(), 1);
}

#[test]
fn a_symlink_in_the_root_cannot_lead_outside() {
    let root = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("usr/lib")).expect("mkdir");
    std::os::unix::fs::symlink(outside.path(), root.path().join("usr/lib/sysimage")).expect("symlink");
    // An absolute symlink resolves inside the root, where it leads nowhere.
    if let Ok(dir) = RpmDbDir::create_in_root(open_root(root.path())) {
        dir.store(&RpmDb::new().expect("new")).expect("store");
    }
    assert!(std::fs::read_dir(outside.path()).expect("read").next().is_none(), "wrote outside the root");
}

/// Why we write rollback-journal mode rather than rpm's WAL: an image's
/// `/usr` is read-only, and any user must still be able to query it.
#[test]
fn a_user_can_query_a_read_only_database() {
    use std::os::unix::fs::PermissionsExt;
    let alpha = &packages().built[0];
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    record(root, &[alpha]);
    let db_dir = root.join(RPMDB_IN_ROOT);
    std::fs::set_permissions(&db_dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let output = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "rpm", "--root"])
        .arg(root)
        .args(["--dbpath", DBPATH, "-qa"])
        .env("HOME", root));
    if stderr(&output).contains("setpriv") {
        eprintln!("skipped: cannot switch users here: {}", stderr(&output));
        return;
    }
    assert!(output.status.success(), "rpm -qa as nobody: {}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "layer-alpha-1.0-1.noarch");
    // Nothing was created beside the database.
    let names: Vec<String> = std::fs::read_dir(&db_dir)
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names, ["rpmdb.sqlite"]);
}
