//! The rpm reader on every fixture package, checked against the real
//! `rpm` (`rpm -qp --dump`, `--qf`, `--requires` and friends).

mod rpm_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pkgdb::entry::EntryKind;
use pkgdb::rpm::{self, FileKind, Interpreter, ReadOptions, RichDep, RpmPackage, ScriptKind, TriggerClass};
use rpm_support::require_tool;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/rpms")
}

fn fixture(name: &str) -> PathBuf {
    let formats = fixtures().join("formats").join(name);
    if formats.exists() { formats } else { fixtures().join("real").join(name) }
}

fn all_fixtures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("fixture dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rpm") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures(), &mut out);
    out.sort();
    assert!(out.len() >= 28, "expected the 28 fixture rpms under {}", fixtures().display());
    out
}

/// `rpm -qp ARGS FILE`, or `None` when rpm cannot read the package.
fn rpm_query(file: &Path, args: &[&str]) -> Option<String> {
    require_tool("rpm", "rpm");
    let out = Command::new("rpm").arg("-qp").args(args).arg(file).output().expect("run rpm");
    out.status.success().then(|| String::from_utf8(out.stdout).expect("utf-8 output"))
}

fn read(file: &Path) -> RpmPackage {
    rpm::read_header(std::fs::File::open(file).expect("open")).unwrap_or_else(|e| panic!("{}: {e:#?}", file.display()))
}

/// What `for_each_entry` delivered: kind and content digest by path.
fn stream(file: &Path) -> (rpm::RpmSummary, Vec<(String, EntryKind, Option<String>)>) {
    let mut got = Vec::new();
    let summary =
        rpm::for_each_entry(std::fs::File::open(file).expect("open"), &ReadOptions::default(), |e, content| {
            let digest = if let EntryKind::File { .. } = e.kind {
                let mut data = Vec::new();
                content.read_to_end(&mut data)?;
                Some(format!("sha256:{}", rpm_support::hex(&Sha256::digest(&data))))
            } else {
                None
            };
            got.push((e.path.to_absolute(), e.kind.clone(), digest));
            Ok::<(), std::io::Error>(())
        })
        .unwrap_or_else(|e| panic!("{}: {e:#?}", file.display()));
    (summary, got)
}

fn type_bits(kind: FileKind) -> u32 {
    match kind {
        FileKind::File => 0o100000,
        FileKind::Dir => 0o040000,
        FileKind::Symlink => 0o120000,
        FileKind::CharDevice => 0o020000,
        FileKind::BlockDevice => 0o060000,
        FileKind::Fifo => 0o010000,
        FileKind::Socket => 0o140000,
    }
}

/// Compares the file list with `rpm -qp --dump`, line by line (both are in header order).
fn compare_dump(file: &Path, package: &RpmPackage, dump: &str) {
    let lines: Vec<&str> = dump.lines().filter(|l| !l.is_empty() && *l != "(contains no files)").collect();
    assert_eq!(lines.len(), package.files.len(), "{}: file count", file.display());
    for (line, f) in lines.iter().zip(&package.files) {
        let path = f.path.to_absolute();
        let rest = line
            .strip_prefix(&format!("{path} "))
            .unwrap_or_else(|| panic!("{}: `{line}` vs `{path}`", file.display()));
        let fields: Vec<&str> = rest.splitn(10, ' ').collect();
        assert_eq!(fields.len(), 10, "{line}");
        let what = |field: &str| format!("{}: {path}: {field}", file.display());
        assert_eq!(fields[0], f.size.to_string(), "{}", what("size"));
        assert_eq!(fields[1], f.mtime.to_string(), "{}", what("mtime"));
        match &f.digest {
            Some(d) => assert_eq!(fields[2], d.split_once(':').expect("algo:hex").1, "{}", what("digest")),
            None => assert!(fields[2].bytes().all(|b| b == b'0'), "{}", what("digest")),
        }
        assert_eq!(u32::from_str_radix(fields[3], 8).expect("octal"), type_bits(f.kind) | f.mode, "{}", what("mode"));
        assert_eq!(fields[4], f.user, "{}", what("owner"));
        assert_eq!(fields[5], f.group, "{}", what("group"));
        assert_eq!(fields[6], if f.flags.config() { "1" } else { "0" }, "{}", what("config"));
        assert_eq!(fields[7], if f.flags.doc() { "1" } else { "0" }, "{}", what("doc"));
        assert_eq!(fields[9], f.link_target.as_deref().unwrap_or("X"), "{}", what("link target"));
    }
}

fn compare_dependencies(file: &Path, package: &RpmPackage) {
    let lists = [
        ("--requires", &package.requires),
        ("--provides", &package.provides),
        ("--conflicts", &package.conflicts),
        ("--obsoletes", &package.obsoletes),
        ("--recommends", &package.recommends),
        ("--suggests", &package.suggests),
        ("--supplements", &package.supplements),
        ("--enhances", &package.enhances),
    ];
    for (flag, ours) in lists {
        let theirs = rpm_query(file, &[flag]).expect("rpm reads the package");
        let theirs: Vec<&str> = theirs.lines().collect();
        let ours_text: Vec<String> = ours.iter().map(|d| d.to_string()).collect();
        assert_eq!(ours_text, theirs, "{}: {flag}", file.display());
        for dep in ours.iter() {
            if let Some(rich) = &dep.rich {
                // rpm prints rich dependencies as stored; ours must print the same.
                assert_eq!(rich.to_string(), dep.name, "{}: rich dependency round trip", file.display());
                assert_eq!(&RichDep::parse(&rich.to_string()).expect("reparse"), rich);
            }
        }
    }
}

#[test]
fn every_fixture_matches_rpm() {
    let mut unreadable_by_rpm = Vec::new();
    for file in all_fixtures() {
        let package = read(&file);
        let (summary, delivered) = stream(&file);

        // What was streamed is exactly the non-ghost file list, content
        // members before their hardlinks, with the header's digests.
        let by_path: BTreeMap<String, &rpm::RpmFile> =
            package.files.iter().map(|f| (f.path.to_absolute(), f)).collect();
        let expected = package.files.iter().filter(|f| !f.flags.ghost()).count();
        assert_eq!(delivered.len(), expected, "{}: delivered entries", file.display());
        assert_eq!(summary.entries, expected);
        assert_eq!(summary.ghosts.len(), package.files.len() - expected);
        let mut seen = std::collections::HashSet::new();
        for (path, kind, digest) in &delivered {
            let f = by_path[path];
            match kind {
                EntryKind::File { size } => {
                    assert_eq!((f.kind, *size), (FileKind::File, f.size), "{path}");
                    if let Some(d) = f.digest.as_deref().filter(|d| d.starts_with("sha256:")) {
                        assert_eq!(digest.as_deref(), Some(d), "{}: {path}: content", file.display());
                    }
                }
                EntryKind::Hardlink { target } => {
                    assert_eq!(f.hardlink_to.as_ref(), Some(target), "{path}");
                    assert!(seen.contains(&target.to_absolute()), "{path}: hardlink before its target");
                }
                EntryKind::Dir => assert_eq!(f.kind, FileKind::Dir),
                EntryKind::Symlink { target } => assert_eq!(f.link_target.as_ref(), Some(target)),
            }
            seen.insert(path.clone());
        }

        // The real rpm: identity, file list, dependencies.
        let Some(nevra) = rpm_query(&file, &["--qf", "%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\\n"]) else {
            unreadable_by_rpm.push(file.file_name().expect("name").to_string_lossy().into_owned());
            continue;
        };
        let ours = format!(
            "{} {} {} {} {}\n",
            package.name,
            package.epoch.unwrap_or(0),
            package.version,
            package.release,
            package.arch
        );
        assert_eq!(ours, nevra, "{}", file.display());
        compare_dump(&file, &package, &rpm_query(&file, &["--dump"]).expect("rpm --dump"));
        compare_dependencies(&file, &package);
    }
    // rpm 4.18 cannot parse the ECDSA signature packet in this one; our
    // reader does not verify OpenPGP signatures and reads it.
    assert_eq!(unreadable_by_rpm, ["v4_signed_rpm-basic-with-ecdsa-2.3.4-5.el9.noarch.rpm"]);
}

#[test]
fn every_compression_reads_the_same_files() {
    let reference = stream(&fixture("v6_rpm-basic-2.3.4-5.el9.noarch.rpm")).1;
    for name in [
        "v6_gzip_rpm-basic-2.3.4-5.el9.noarch.rpm",
        "v6_xz_rpm-basic-2.3.4-5.el9.noarch.rpm",
        "v6_zstd_rpm-basic-2.3.4-5.el9.noarch.rpm",
        "v4_rpm-basic-2.3.4-5.el9.noarch.rpm",
    ] {
        assert_eq!(stream(&fixture(name)).1, reference, "{name}");
    }
    for (name, compressor) in [
        ("389-ds-base-devel-1.3.8.4-15.el7.x86_64.rpm", rpm::Compressor::Xz),
        ("rpm-sign-4.15.1-1.fc31.x86_64.rpm", rpm::Compressor::Zstd),
        ("v6_gzip_rpm-basic-2.3.4-5.el9.noarch.rpm", rpm::Compressor::Gzip),
        ("v4_rpm-basic-2.3.4-5.el9.noarch.rpm", rpm::Compressor::Unspecified),
    ] {
        assert_eq!(read(&fixture(name)).payload.compressor, compressor, "{name}");
    }
}

#[test]
fn rich_dependencies_parse_into_trees() {
    let package = read(&fixture("v6_rpm-rich-deps-1.0-1.noarch.rpm"));
    let rich: Vec<&RichDep> = package
        .requires
        .iter()
        .chain(&package.conflicts)
        .chain(&package.recommends)
        .chain(&package.supplements)
        .filter_map(|d| d.rich.as_ref())
        .collect();
    assert!(rich.len() >= 15, "{rich:?}");
    let dep = package.requires.iter().find(|d| d.name == "(pkgG if pkgH else pkgI)").expect("if/else");
    assert!(matches!(dep.rich, Some(RichDep::If { otherwise: Some(_), .. })));
    let dep = package.requires.iter().find(|d| d.name == "(pkgBB >= 2.0 or pkgCC >= 3.0)").expect("versioned");
    let Some(RichDep::Or { args }) = &dep.rich else { panic!("{dep:?}") };
    assert!(matches!(&args[0], RichDep::Atom(a) if a.name == "pkgBB" && a.version.as_deref() == Some("2.0")));
}

#[test]
fn scriptlets_and_triggers_are_read() {
    let package = read(&fixture("v6_rpm-scriptlets-1.0-1.noarch.rpm"));
    let kinds: Vec<ScriptKind> = package.scripts.iter().map(|s| s.kind).collect();
    use ScriptKind::*;
    assert_eq!(kinds, [PreTrans, Pre, Post, PreUn, PostUn, PostTrans, Verify]);
    for s in &package.scripts {
        assert_eq!(s.interpreter, Interpreter::Program(vec!["/bin/sh".into()]), "{:?}", s.kind);
    }
    let post = package.scripts.iter().find(|s| s.kind == Post).expect("post");
    assert!(post.body.as_deref().expect("body").contains("echo \"post-install\""));
    assert!(!package.has_lua_scripts());

    let count = |class| package.triggers.iter().filter(|t| t.class == class).count();
    assert_eq!(count(TriggerClass::Package), 4);
    assert_eq!(count(TriggerClass::File), 3);
    assert_eq!(count(TriggerClass::TransactionFile), 3);
    let trigger =
        package.triggers.iter().find(|t| t.event == "in" && t.class == TriggerClass::Package).expect("triggerin");
    assert_eq!(trigger.conditions[0].to_string(), "bash > 5.0");
    assert!(trigger.body.as_deref().expect("body").contains("trigger-install on bash > 5.0"));

    // Scriptlet requirements carry their phase.
    let pre = package.requires.iter().find(|d| d.flags & (1 << 9) != 0).expect("Requires(pre)");
    assert_eq!(pre.when, ["interp", "pre"]);
}

#[test]
fn hardlinks_are_delivered_after_their_content() {
    let (_, delivered) = stream(&fixture("v6_rpm-hardlinks-1.0-1.noarch.rpm"));
    let position = |p: &str| delivered.iter().position(|(path, _, _)| path == p).expect(p);
    let kind = |p: &str| &delivered[position(p)].1;
    assert!(matches!(kind("/opt/rpm-hardlinks/alpha-3"), EntryKind::File { size: 21 }));
    for link in ["/opt/rpm-hardlinks/alpha-1", "/opt/rpm-hardlinks/alpha-2"] {
        let EntryKind::Hardlink { target } = kind(link) else { panic!("{link}: {:?}", kind(link)) };
        assert_eq!(target.as_str(), "opt/rpm-hardlinks/alpha-3");
        assert!(position(link) > position("/opt/rpm-hardlinks/alpha-3"));
    }
    assert!(matches!(kind("/opt/rpm-hardlinks/beta-1"), EntryKind::Hardlink { .. }));
    assert!(matches!(kind("/opt/rpm-hardlinks/standalone"), EntryKind::File { size: 11 }));
}

#[test]
fn file_attributes_capabilities_and_ghosts() {
    let file = fixture("v6_rpm-file-attrs-1.0-1.noarch.rpm");
    let package = read(&file);
    let get = |p: &str| package.files.iter().find(|f| f.path.to_absolute() == p).expect(p);
    let caps = get("/opt/rpm-file-attrs/with_caps");
    assert_eq!(caps.caps.as_deref(), Some("cap_sys_ptrace,cap_sys_admin=ep"));
    assert_eq!(
        rpm_support::hex(caps.capability_xattr.as_deref().expect("xattr")),
        "0100000200002800000000000000000000000000"
    );
    let owned = get("/opt/rpm-file-attrs/different-owner-and-group");
    assert_eq!((owned.user.as_str(), owned.group.as_str(), owned.mode), ("jane", "bob", 0o655));
    assert!(get("/opt/rpm-file-attrs/config_noreplace").flags.noreplace());
    assert!(get("/opt/rpm-file-attrs/doc").flags.doc());
    assert!(get("/opt/rpm-file-attrs/ghost").flags.ghost());

    let mut xattrs = BTreeMap::new();
    let mut owners = BTreeMap::new();
    let summary = rpm::for_each_entry(std::fs::File::open(&file).expect("open"), &ReadOptions::default(), |e, _| {
        xattrs.insert(e.path.to_absolute(), e.xattrs.clone());
        owners.insert(e.path.to_absolute(), (e.uid, e.gid));
        Ok::<(), std::io::Error>(())
    })
    .expect("stream");
    assert_eq!(
        xattrs["/opt/rpm-file-attrs/with_caps"],
        [("security.capability".to_owned(), caps.capability_xattr.clone().expect("caps"))]
    );
    assert_eq!(owners["/opt/rpm-file-attrs/different-owner-and-group"], (rpm::UNMAPPED_ID, rpm::UNMAPPED_ID));
    assert_eq!(owners["/opt/rpm-file-attrs/normal"], (0, 0));
    assert!(!xattrs.contains_key("/opt/rpm-file-attrs/ghost"), "ghosts are not delivered");
    assert_eq!(summary.ghosts.iter().map(|p| p.to_absolute()).collect::<Vec<_>>(), ["/opt/rpm-file-attrs/ghost"]);
    assert!(summary.payload_digest_checked);
    assert!(summary.file_digests_checked > 10);
}

#[test]
fn inspect_serializes_the_header() {
    let info = rpm::inspect(std::fs::File::open(fixture("v6_rpm-scriptlets-1.0-1.noarch.rpm")).expect("open"))
        .expect("inspect");
    let json = serde_json::to_value(&info).expect("json");
    assert_eq!(json["kind"], "rpm");
    assert_eq!(json["nevra"], "rpm-scriptlets-1.0-1.noarch");
    assert_eq!(json["name"], "rpm-scriptlets");
    assert_eq!(json["scripts"][1]["kind"], "pre");
    assert_eq!(json["scripts"][1]["interpreter"]["program"][0], "/bin/sh");
    assert_eq!(json["files"][0]["kind"], "file");

    let info = rpm::inspect(std::fs::File::open(fixture("v6_rpm-rich-deps-1.0-1.noarch.rpm")).expect("open"))
        .expect("inspect");
    let json = serde_json::to_value(&info).expect("json");
    let rich =
        json["requires"].as_array().expect("requires").iter().find(|d| d["name"] == "(pkgA or pkgB)").expect("dep");
    assert_eq!(rich["rich"]["type"], "or");
    assert_eq!(rich["rich"]["args"][1]["name"], "pkgB");
}

#[test]
fn capabilities_match_setcap() {
    require_tool("setcap", "libcap2-bin");
    require_tool("getfattr", "attr");
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("f");
    std::fs::write(&target, b"x").expect("write");
    for text in [
        "cap_net_raw=ep",
        "cap_net_bind_service,cap_net_raw+ep",
        "cap_sys_ptrace,cap_sys_admin=ep",
        "cap_chown=p",
        "cap_chown,cap_fowner=eip",
        "=",
        "all=ep",
        "=ep cap_setuid-ep",
        "cap_bpf,cap_perfmon=ep",
        "cap_setfcap=i",
    ] {
        let set = Command::new("setcap").arg(text).arg(&target).status().expect("setcap");
        assert!(set.success(), "setcap {text}");
        let out = Command::new("getfattr")
            .args(["-n", "security.capability", "-e", "hex"])
            .arg(&target)
            .output()
            .expect("getfattr");
        let out = String::from_utf8(out.stdout).expect("utf-8");
        let theirs = out.lines().find_map(|l| l.strip_prefix("security.capability=0x")).expect("xattr printed");
        let ours = rpm_support::hex(&rpm::capability_xattr(text).expect(text));
        assert_eq!(ours, theirs, "{text}");
    }
}
