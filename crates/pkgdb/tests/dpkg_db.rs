//! The dpkg database against real dpkg as the oracle: the same packages
//! are installed by `dpkg --root` into one root and recorded by us into
//! another, and `status` and every file under `info/` and `triggers/`
//! must match byte for byte (names, contents, modes) after `--unpack`,
//! after `--configure`, after unpacking again over installed versions,
//! and after an upgrade that is also a cross-grade to `Multi-Arch: same`.
//! Then dpkg's own tools (`dpkg-query`, `dpkg --audit`, `dpkg -V`) read
//! what we wrote, the minbase root's real database round-trips unchanged,
//! and removing what we recorded restores it byte for byte.
//!
//! Real packages come from the Debian archive through `apt-get download`,
//! cached in `.test-cache/debs/`; synthetic ones, built with `dpkg-deb`,
//! cover what those do not (no `md5sums`, hardlinks, odd field spelling,
//! trigger interests). The root with a shell that maintainer scripts need
//! is a copy of the cached `mmdebstrap --variant=minbase`.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pkgdb::deb::{ControlInfo, DebOptions};
use pkgdb::dpkg::{Admindir, Flag, InstalledPayload, PackageRecord, State, StatusDb, StatusEntry, Want, read_payload};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A package from the Debian archive, downloaded on first use.
fn cached_deb(name: &str) -> PathBuf {
    let dir = workspace().join(".test-cache/debs");
    std::fs::create_dir_all(&dir).expect("cache dir");
    let find = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("read cache dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let file = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                file.starts_with(&format!("{name}_")) && file.ends_with(".deb")
            })
            .collect();
        found.sort();
        found.pop()
    };
    if let Some(path) = find() {
        return path;
    }
    // Several test binaries may ask at once; flock serializes the downloads.
    let script = format!("ls {name}_*.deb >/dev/null 2>&1 || apt-get download -q {name}");
    let status = Command::new("flock")
        .args([".download.lock", "sh", "-c", &script])
        .current_dir(&dir)
        .status()
        .expect("run flock and apt-get");
    assert!(status.success(), "apt-get download {name} failed (needs the Debian archive)");
    find().expect("downloaded")
}

/// The cached `mmdebstrap --variant=minbase bookworm` root (built under
/// the same lock as the workspace tests build it). Never modified here.
fn minbase() -> PathBuf {
    let cache = workspace().join(".test-cache");
    std::fs::create_dir_all(&cache).expect("test cache dir");
    let root = cache.join("minbase-bookworm");
    let lock = File::create(cache.join("minbase.lock")).expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("locking the minbase cache");
    if !root.join("usr/bin/dpkg").exists() {
        let tmp = cache.join(format!("minbase-bookworm.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        run("mmdebstrap", &["--variant=minbase", "--mode=root", "--quiet", "bookworm", path_str(&tmp)]);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&tmp, &root).expect("moving the minbase root into place");
    }
    root
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn run(program: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(program).args(args).env("LC_ALL", "C").output().expect("run tool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{program} {args:?} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// A package that exercises what dpkg rewrites: fields out of dpkg's
/// order and in odd case, a zero epoch, a folded and oddly spaced
/// `Depends`, `Essential: no`, `Multi-Arch: no`, `Protected: yes`, a
/// priority in capitals, unknown fields; no `md5sums` (dpkg computes one)
/// and a hardlink (which takes its target's digest); a conffile and a
/// `remove-on-upgrade` one; a `postinst`, an extra control file, and
/// trigger interests (a file trigger and an explicit one).
fn synthetic_deb(dir: &Path) -> PathBuf {
    let control = "X-Before: comes first in control\nPackage: layer-test\nVersion: 0:1.0-1\nArchitecture: all\n\
        maintainer: Layer Tests <tests@example.org>\nEssential: no\nProtected: yes\nMulti-Arch: no\n\
        Priority: OPTIONAL\nDepends: libc6 (>=2.34) |  libc6.1(>= 2.34),\n  base-files,dpkg(>>1.20)\n\
        Recommends: foo:any\nInstalled-Size: 9\nHomepage: https://example.org/\n\
        Description: a package for the dpkg database tests\n It has a long description\n .\n over several lines.\n\
        Built-Using: foo (= 1:2)\n";
    build_deb(
        dir,
        "layer-test_1.0-1_all.deb",
        &[
            ("DEBIAN/control", control),
            ("DEBIAN/conffiles", "/etc/layer-test/main.conf\nremove-on-upgrade /etc/layer-test/old.conf\n"),
            ("DEBIAN/postinst", "#!/bin/sh\nset -e\nexit 0\n"),
            ("DEBIAN/isinstallable", "extra control file\n"),
            ("DEBIAN/triggers", "interest-noawait /usr/share/layer-test-files\ninterest layer-test-explicit\n"),
            ("etc/layer-test/main.conf", "key=value\n"),
            ("usr/share/layer-test/data", "data\n"),
            ("usr/share/layer-test/empty", ""),
        ],
        "chmod 0755 DEBIAN/postinst\n\
         mkdir usr/share/layer-test/sub usr/bin\n\
         ln usr/share/layer-test/data usr/share/layer-test/sub/link\n\
         ln -s ../share/layer-test/data usr/bin/layer-test",
    )
}

/// The next version of [`synthetic_deb`], a cross-grade from `all` to
/// `amd64` with `Multi-Arch: same` (so its info files move to
/// `layer-test:amd64.*`), with other trigger interests: it drops `main.conf` (kept as an obsolete
/// conffile), adds `new.conf`, ships an `md5sums`, and has neither a
/// `postinst` nor the extra control file (their info files go).
fn synthetic_deb_upgrade(dir: &Path) -> PathBuf {
    let control = "Package: layer-test\nVersion: 1.1-1\nArchitecture: amd64\nMulti-Arch: same\n\
        Maintainer: Layer Tests <tests@example.org>\nDescription: a package for the dpkg database tests, upgraded\n";
    build_deb(
        dir,
        "layer-test_1.1-1_amd64.deb",
        &[
            ("DEBIAN/control", control),
            ("DEBIAN/conffiles", "/etc/layer-test/new.conf\nremove-on-upgrade /etc/layer-test/old.conf\n"),
            ("DEBIAN/triggers", "interest /usr/share/layer-test-files\ninterest-noawait layer-test-other\n"),
            ("etc/layer-test/new.conf", "new=1\n"),
            ("usr/share/layer-test/data", "data, changed\n"),
        ],
        "md5sum usr/share/layer-test/data > DEBIAN/md5sums",
    )
}

/// Builds a package from `files` (relative paths and contents) and a
/// shell snippet run in the build directory.
fn build_deb(dir: &Path, file_name: &str, files: &[(&str, &str)], then: &str) -> PathBuf {
    let build = dir.join(file_name.trim_end_matches(".deb"));
    for (path, contents) in files {
        let path = build.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("build dir");
        std::fs::write(&path, contents).expect("build file");
    }
    let deb = dir.join(file_name);
    let script = format!("set -e\n{then}\ndpkg-deb --root-owner-group -Zxz --build . '{}' >/dev/null", path_str(&deb));
    let out = Command::new("sh").args(["-c", &script]).current_dir(&build).output().expect("run sh");
    assert!(out.status.success(), "building {file_name}: {}", String::from_utf8_lossy(&out.stderr));
    deb
}

/// The packages under test, in the order they are installed.
fn test_debs(scratch: &Path) -> Vec<PathBuf> {
    let mut debs: Vec<PathBuf> = ["htop", "passwd", "logrotate", "libc6"].into_iter().map(cached_deb).collect();
    debs.push(synthetic_deb(scratch));
    debs
}

/// A root dpkg can run maintainer scripts in (a shell, coreutils), with
/// an empty dpkg database: a copy of minbase without its `var/lib/dpkg`.
fn scratch_root(parent: &Path) -> PathBuf {
    let root = parent.join("dpkg-root");
    run("cp", &["-a", "--reflink=auto", path_str(&minbase()), path_str(&root)]);
    std::fs::remove_dir_all(root.join("var/lib/dpkg")).expect("empty the database");
    std::fs::create_dir(root.join("var/lib/dpkg")).expect("admindir");
    root
}

fn dpkg(root: &Path, action: &[&str]) {
    let root_arg = format!("--root={}", path_str(root));
    let mut args = vec![
        root_arg.as_str(),
        "--force-depends",
        "--force-confdef",
        "--force-confold",
        "--force-unsafe-io",
        "--no-triggers",
    ];
    args.extend_from_slice(action);
    run("dpkg", &args);
}

/// `info/`: name to (mode, contents).
fn info_snapshot(admindir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    dir_snapshot(&admindir.join("info"))
}

/// A directory's files: name to (mode, contents).
fn dir_snapshot(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let mode = entry.metadata().expect("metadata").permissions().mode() & 0o7777;
        let contents = std::fs::read(entry.path()).expect("read info file");
        files.insert(entry.file_name().to_string_lossy().into_owned(), (mode, contents));
    }
    files
}

/// `status` and every file under `info/` and `triggers/` of two
/// admindirs, byte for byte.
fn assert_same_database(dpkg_admindir: &Path, our_admindir: &Path, when: &str) {
    let theirs = std::fs::read_to_string(dpkg_admindir.join("status")).expect("dpkg's status");
    let ours = std::fs::read_to_string(our_admindir.join("status")).expect("our status");
    let split = |text: &str| -> Vec<String> { text.split("\n\n").map(str::to_owned).collect() };
    for (theirs, ours) in split(&theirs).iter().zip(split(&ours).iter()) {
        assert_eq!(ours, theirs, "{when}: a status paragraph differs (left: ours, right: dpkg's)");
    }
    assert_eq!(ours, theirs, "{when}: status differs");
    let mode = |path: &Path| std::fs::metadata(path).expect("status").permissions().mode() & 0o7777;
    assert_eq!(mode(&our_admindir.join("status")), mode(&dpkg_admindir.join("status")), "{when}: status mode");

    // `triggers/Lock` and `triggers/Unincorp` are dpkg's own working files.
    for dir in ["info", "triggers"] {
        let mut theirs = dir_snapshot(&dpkg_admindir.join(dir));
        theirs.retain(|name, _| name != "Lock" && name != "Unincorp");
        let ours = dir_snapshot(&our_admindir.join(dir));
        assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{when}: {dir}/ file names");
        for (name, (mode, contents)) in &theirs {
            let (our_mode, our_contents) = &ours[name];
            assert_eq!(
                String::from_utf8_lossy(our_contents),
                String::from_utf8_lossy(contents),
                "{when}: {dir}/{name} contents"
            );
            assert_eq!(format!("{our_mode:o}"), format!("{mode:o}"), "{when}: {dir}/{name} mode");
        }
    }
}

struct Ours {
    admindir: Admindir,
    path: PathBuf,
    db: StatusDb,
    payloads: BTreeMap<String, InstalledPayload>,
}

impl Ours {
    fn create(root: &Path) -> Ours {
        std::fs::create_dir_all(root).expect("root");
        let handle = File::open(root).expect("open root");
        let admindir = Admindir::create_in_root(&handle).unwrap_or_else(|e| panic!("{}", chain(&e)));
        let db = admindir.read_status().unwrap_or_else(|e| panic!("{}", chain(&e)));
        Ours { admindir, path: root.join("var/lib/dpkg"), db, payloads: BTreeMap::new() }
    }

    fn record(&mut self, deb: &Path, state: State) -> ControlInfo {
        let file = std::io::BufReader::new(File::open(deb).expect("open deb"));
        let (control, payload) = read_payload(file, DebOptions::default()).unwrap_or_else(|e| panic!("{}", chain(&e)));
        let previous = self.db.previous_instance(&control);
        let record =
            PackageRecord::new(&control, &payload, state, previous).unwrap_or_else(|e| panic!("{}", chain(&e)));
        self.admindir.record(&mut self.db, record).unwrap_or_else(|e| panic!("{}", chain(&e)));
        let spec = format!("{}:{}", control.package, control.architecture);
        self.payloads.insert(spec, payload);
        control
    }

    fn configure_all(&mut self) {
        let pending: Vec<String> = self
            .db
            .entries()
            .iter()
            .filter(|e| e.status().state != State::Installed)
            .map(StatusEntry::name_arch)
            .collect();
        for spec in pending {
            self.db.configure(&spec, &self.payloads[&spec]).unwrap_or_else(|e| panic!("{}", chain(&e)));
        }
        self.admindir.write_status(&self.db).unwrap_or_else(|e| panic!("{}", chain(&e)));
    }
}

#[test]
fn records_match_real_dpkg_after_unpack_configure_and_reinstall() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let debs = test_debs(scratch.path());
    let deb_args: Vec<&str> = debs.iter().map(|d| path_str(d)).collect();
    let dpkg_root = scratch_root(scratch.path());
    let dpkg_admindir = dpkg_root.join("var/lib/dpkg");
    let mut ours = Ours::create(&scratch.path().join("our-root"));

    // A fresh `--unpack`: `install ok unpacked`, conffiles `newconffile`.
    let mut action = vec!["--unpack"];
    action.extend(&deb_args);
    dpkg(&dpkg_root, &action);
    for deb in &debs {
        ours.record(deb, State::Unpacked);
    }
    assert_same_database(&dpkg_admindir, &ours.path, "after --unpack");
    let file_triggers = std::fs::read_to_string(ours.path.join("triggers/File")).expect("File");
    assert_eq!(file_triggers, "/usr/share/layer-test-files layer-test/noawait\n");

    // `--configure`: maintainer scripts ran in the root; conffiles get
    // their md5, the state becomes `installed`.
    dpkg(&dpkg_root, &["--configure", "--pending"]);
    ours.configure_all();
    assert_same_database(&dpkg_admindir, &ours.path, "after --configure");

    // Unpacking again over installed versions: `Config-Version`, carried
    // conffile hashes, info files replaced.
    let again = [&debs[2], &debs[0], &debs[4]];
    let mut action = vec!["--unpack"];
    action.extend(again.iter().map(|d| path_str(d)));
    dpkg(&dpkg_root, &action);
    for deb in again {
        ours.record(deb, State::Unpacked);
    }
    assert_same_database(&dpkg_admindir, &ours.path, "after unpacking over installed packages");
    let status = std::fs::read_to_string(ours.path.join("status")).expect("status");
    assert!(status.contains("Version: 3.2.2-2\nConfig-Version: 3.2.2-2\n"), "{status}");

    dpkg(&dpkg_root, &["--configure", "--pending"]);
    ours.configure_all();
    assert_same_database(&dpkg_admindir, &ours.path, "after configuring again");

    // An upgrade that drops a conffile, adds one, loses scripts and
    // control files, and switches to `Multi-Arch: same` (cross-grade).
    let upgrade = synthetic_deb_upgrade(scratch.path());
    dpkg(&dpkg_root, &["--unpack", path_str(&upgrade)]);
    ours.record(&upgrade, State::Unpacked);
    assert_same_database(&dpkg_admindir, &ours.path, "after an upgrade");
    assert!(!ours.path.join("triggers/layer-test-explicit").exists());
    let other = std::fs::read_to_string(ours.path.join("triggers/layer-test-other")).expect("explicit");
    assert_eq!(other, "layer-test:amd64/noawait\n");
    let status = std::fs::read_to_string(ours.path.join("status")).expect("status");
    assert!(status.contains(" /etc/layer-test/main.conf 1507fd22b0eda3acc1a9c6bb9213ca67 obsolete\n"), "{status}");
    dpkg(&dpkg_root, &["--configure", "--pending"]);
    ours.configure_all();
    assert_same_database(&dpkg_admindir, &ours.path, "after configuring the upgrade");
}

#[test]
fn dpkg_tools_read_what_we_record() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let debs = test_debs(scratch.path());
    let root = scratch.path().join("root");
    let mut ours = Ours::create(&root);
    for deb in &debs {
        ours.record(deb, State::Installed);
        run("dpkg-deb", &["-x", path_str(deb), path_str(&root)]);
    }
    let mut expected: Vec<String> = ours
        .db
        .entries()
        .iter()
        .map(|e| format!("{} {} {}", e.package(), e.version().unwrap_or_default(), e.status()))
        .collect();
    expected.sort();
    assert!(expected.contains(&"layer-test 1.0-1 install ok installed".to_owned()), "{expected:?}");
    let admindir_arg = format!("--admindir={}", path_str(&ours.path));

    let (listed, _) = run("dpkg-query", &[&admindir_arg, "-W", "-f", "${Package} ${Version} ${Status}\n"]);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    assert_eq!(listed, expected);

    let (files, _) = run("dpkg-query", &[&admindir_arg, "-L", "htop"]);
    let expected_files: Vec<String> = ours.payloads["htop:amd64"]
        .paths()
        .map(|p| if p.is_root() { "/.".to_owned() } else { p.to_absolute() })
        .collect();
    assert_eq!(files.lines().collect::<Vec<_>>(), expected_files);

    let (libc, _) = run("dpkg-query", &[&admindir_arg, "-W", "-f", "${binary:Package} ${Conffiles}\n", "libc6:amd64"]);
    let conffile = pkgdb::entry::normalize_path(b"etc/ld.so.conf.d/x86_64-linux-gnu.conf", false).expect("path");
    let md5 = ours.payloads["libc6:amd64"].md5(&conffile).expect("shipped");
    assert_eq!(libc, format!("libc6:amd64  /etc/ld.so.conf.d/x86_64-linux-gnu.conf {md5}\n"));

    let (audit, audit_err) = run("dpkg", &[&admindir_arg, "--audit"]);
    assert_eq!((audit.as_str(), audit_err.as_str()), ("", ""), "dpkg --audit");

    let root_arg = format!("--root={}", path_str(&root));
    for package in ["htop", "passwd", "libc6", "layer-test"] {
        let (verify, verify_err) = run("dpkg", &[&root_arg, "-V", package]);
        assert_eq!((verify.as_str(), verify_err.as_str()), ("", ""), "dpkg -V {package}");
    }
}

#[test]
fn minbase_status_round_trips_unchanged() {
    let root = minbase();
    let handle = File::open(&root).expect("open minbase");
    let admindir = Admindir::open_in_root(&handle).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let db = admindir.read_status().unwrap_or_else(|e| panic!("{}", chain(&e)));
    let text = std::fs::read(root.join("var/lib/dpkg/status")).expect("status");
    assert!(db.entries().len() > 50, "{} packages", db.entries().len());
    for entry in db.entries() {
        let status = entry.status();
        assert_eq!(
            (status.want, status.flag, status.state),
            (Want::Install, Flag::Ok, State::Installed),
            "{}",
            entry.name_arch()
        );
        assert!(entry.version().is_some(), "{}", entry.package());
        let list = admindir.read_info_file(&entry.info_name(), "list").expect("read list");
        assert!(list.is_some(), "{} has no file list", entry.info_name());
    }
    assert_eq!(db.native_architecture(), "amd64");
    let libc = db.get("libc6").expect("libc6 by name");
    assert_eq!(Some(libc), db.get("libc6:amd64"));
    assert_eq!(libc.info_name(), "libc6:amd64");
    assert!(!libc.conffiles().is_empty());
    assert_eq!(db.get("dpkg").map(StatusEntry::info_name).as_deref(), Some("dpkg"));
    assert_eq!(String::from_utf8_lossy(&db.to_bytes()), String::from_utf8_lossy(&text));
}

#[test]
fn recording_then_removing_restores_the_database_byte_for_byte() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let copy = scratch.path().join("dpkg");
    run("cp", &["-a", path_str(&minbase().join("var/lib/dpkg")), path_str(&copy)]);
    let original_status = std::fs::read(copy.join("status")).expect("status");
    let original_info = info_snapshot(&copy);
    let original_triggers = dir_snapshot(&copy.join("triggers"));

    let admindir = Admindir::open(&copy).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let lock = admindir.lock().unwrap_or_else(|e| panic!("{}", chain(&e)));
    // dpkg itself must wait for us.
    let admindir_arg = format!("--admindir={}", path_str(&copy));
    let out = Command::new("dpkg").args([&admindir_arg, "--clear-avail"]).output().expect("run dpkg");
    assert!(!out.status.success(), "dpkg ignored our lock");
    assert!(String::from_utf8_lossy(&out.stderr).contains("lock"), "{}", String::from_utf8_lossy(&out.stderr));
    let mut db = admindir.read_status().unwrap_or_else(|e| panic!("{}", chain(&e)));
    for deb in [cached_deb("htop"), synthetic_deb(scratch.path())] {
        let file = std::io::BufReader::new(File::open(deb).expect("open deb"));
        let (control, payload) = read_payload(file, DebOptions::default()).expect("reads");
        let previous = db.previous_instance(&control);
        let record = PackageRecord::new(&control, &payload, State::Installed, previous).expect("record");
        admindir.record(&mut db, record).unwrap_or_else(|e| panic!("{}", chain(&e)));
    }
    let with_htop = std::fs::read_to_string(copy.join("status")).expect("status");
    assert!(with_htop.contains("\nPackage: htop\nStatus: install ok installed\n"));
    assert_eq!(
        admindir.info_file_names("htop").expect("names"),
        ["htop.list", "htop.md5sums"],
        "htop ships no scripts or conffiles"
    );
    let file_triggers = std::fs::read_to_string(copy.join("triggers/File")).expect("File");
    assert!(file_triggers.ends_with("\n/usr/share/layer-test-files layer-test/noawait\n"), "{file_triggers}");

    let removed = admindir.remove(&mut db, "htop").unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(removed.package(), "htop");
    admindir.remove(&mut db, "layer-test").unwrap_or_else(|e| panic!("{}", chain(&e)));
    let status = std::fs::read(copy.join("status")).expect("status");
    assert_eq!(String::from_utf8_lossy(&status), String::from_utf8_lossy(&original_status));
    assert!(std::fs::read(copy.join("status-old")).expect("status-old") != original_status);
    assert_eq!(info_snapshot(&copy), original_info, "the info files are gone, nothing else changed");
    assert_eq!(dir_snapshot(&copy.join("triggers")), original_triggers, "the trigger interests are gone");
    assert!(admindir.remove(&mut db, "htop").is_err(), "removing twice fails");
    drop(lock);
    run("dpkg", &[&admindir_arg, "--audit"]);
}
