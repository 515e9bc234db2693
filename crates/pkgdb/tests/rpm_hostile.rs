//! Hostile rpms (SECURITY.md 1, 2, 9, 13, 14, 17, 18): a small package
//! built with the real `rpmbuild`, then taken apart and changed.

mod rpm_support;

use std::io::Read;
use std::sync::OnceLock;

use pkgdb::entry::{EntryKind, PathError};
use pkgdb::rpm::{self, Interpreter, ReadOptions, RpmError, RpmErrorKind, RpmSummary, ScriptKind};
use rpm_support::{CpioRecord, Item, Rpm, rpmbuild};

const SPEC_HEAD: &str = "\
Name: tiny
Version: 1.0
Release: 1
Summary: tiny test package
License: MIT
BuildArch: noarch
Requires: (foo >= 1.2 or bar)
%description
tiny
";

/// Files: a directory, a hardlink pair, two symlinks, a file in a
/// subdirectory, a binary with capabilities, a ghost; and a %post.
const SPEC_BODY: &str = r#"
%install
mkdir -p %{buildroot}/usr/share/tiny/x %{buildroot}/usr/bin
echo hello > %{buildroot}/usr/share/tiny/a
ln %{buildroot}/usr/share/tiny/a %{buildroot}/usr/share/tiny/b
ln -s a %{buildroot}/usr/share/tiny/link
ln -s /etc %{buildroot}/usr/share/tiny/lnk
echo secret > %{buildroot}/usr/share/tiny/x/shadow
printf '#!/bin/sh\necho hi\n' > %{buildroot}/usr/bin/tiny
chmod 755 %{buildroot}/usr/bin/tiny
%post
echo post
%files
%dir /usr/share/tiny
/usr/share/tiny/a
/usr/share/tiny/b
/usr/share/tiny/link
/usr/share/tiny/lnk
/usr/share/tiny/x/shadow
%caps(cap_net_raw=ep) /usr/bin/tiny
%ghost /usr/share/tiny/ghost
"#;

fn build(spec: &str, payload: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::read(rpmbuild(dir.path(), spec, payload)).expect("read rpm")
}

/// The base package, gzip-compressed so tests can rewrite its payload.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| build(&format!("{SPEC_HEAD}{SPEC_BODY}"), "w9.gzdio"))
}

fn stream(bytes: &[u8]) -> (Result<RpmSummary, RpmError>, Vec<(String, EntryKind)>) {
    stream_with(bytes, &ReadOptions::default())
}

fn stream_with(bytes: &[u8], opts: &ReadOptions) -> (Result<RpmSummary, RpmError>, Vec<(String, EntryKind)>) {
    let mut seen = Vec::new();
    let result = rpm::for_each_entry(bytes, opts, |e, content| {
        let mut sink = Vec::new();
        content.read_to_end(&mut sink)?;
        seen.push((e.path.to_absolute(), e.kind.clone()));
        Ok::<(), std::io::Error>(())
    });
    (result, seen)
}

fn error(bytes: &[u8]) -> RpmError {
    match stream(bytes).0 {
        Ok(_) => panic!("a hostile package was accepted"),
        Err(e) => e,
    }
}

/// The full message chain, as `{:#}` would print it.
fn message(e: &RpmError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn record<'a>(records: &'a mut [CpioRecord], name: &str) -> &'a mut CpioRecord {
    records.iter_mut().find(|r| r.name == name).unwrap_or_else(|| panic!("no record {name}"))
}

#[test]
fn the_built_package_reads_cleanly() {
    let bytes = base();
    // The test writer reproduces rpmbuild's bytes exactly.
    assert_eq!(Rpm::parse(bytes).to_bytes(), bytes);

    let (result, seen) = stream(bytes);
    let summary = result.expect("clean package");
    let package = &summary.package;
    assert_eq!(package.nevra(), "tiny-1.0-1.noarch");
    assert!(package.requires.iter().any(|d| d.rich.is_some() && d.name == "(foo >= 1.2 or bar)"));
    let post = package.scripts.iter().find(|s| s.kind == ScriptKind::Post).expect("post");
    assert_eq!(post.interpreter, Interpreter::Program(vec!["/bin/sh".into()]));
    assert_eq!(post.body.as_deref(), Some("echo post"));
    assert_eq!(summary.ghosts.iter().map(|p| p.to_absolute()).collect::<Vec<_>>(), ["/usr/share/tiny/ghost"]);

    // Content on `b` (the last link in header order), `a` linked to it after.
    let at = |p: &str| seen.iter().position(|(path, _)| path == p).expect(p);
    assert!(matches!(seen[at("/usr/share/tiny/b")].1, EntryKind::File { size: 6 }));
    let EntryKind::Hardlink { target } = &seen[at("/usr/share/tiny/a")].1 else { panic!("{seen:?}") };
    assert_eq!(target.as_str(), "usr/share/tiny/b");
    assert!(at("/usr/share/tiny/a") > at("/usr/share/tiny/b"));
    let tiny = package.files.iter().find(|f| f.path.as_str() == "usr/bin/tiny").expect("tiny");
    assert_eq!(
        rpm_support::hex(tiny.capability_xattr.as_deref().expect("caps")),
        "0100000200200000000000000000000000000000"
    );
}

#[test]
fn every_payload_compressor_streams() {
    let reference = stream(base()).1;
    for payload in ["w6.xzdio", "w19.zstdio", "w9.bzdio", "w9.lzdio", "w0.ufdio"] {
        let bytes = build(&format!("{SPEC_HEAD}{SPEC_BODY}"), payload);
        let (result, seen) = stream(&bytes);
        result.unwrap_or_else(|e| panic!("{payload}: {}", message(&e)));
        assert_eq!(seen, reference, "{payload}");
    }
}

#[test]
fn scriptlet_interpreters() {
    let spec = format!(
        "{SPEC_HEAD}\n%install\nmkdir -p %{{buildroot}}/usr/share/tiny\n%post -p <lua>\nprint(\"hi\")\n%postun -p /sbin/ldconfig\n%files\n%dir /usr/share/tiny\n"
    );
    let package = rpm::read_header(&build(&spec, "w9.gzdio")[..]).expect("read");
    let post = package.scripts.iter().find(|s| s.kind == ScriptKind::Post).expect("post");
    assert_eq!(post.interpreter, Interpreter::Lua);
    assert!(package.has_lua_scripts());
    let postun = package.scripts.iter().find(|s| s.kind == ScriptKind::PostUn).expect("postun");
    assert_eq!(postun.interpreter, Interpreter::Program(vec!["/sbin/ldconfig".into()]));
    assert_eq!(postun.body, None);
}

/// SECURITY.md 17.
#[test]
fn tampered_signature_headers_are_refused() {
    let original = Rpm::parse(base());
    let sha256 = original.sig.iter().find(|i| i.tag == 273).expect("SHA256").clone();
    type Tamper = Box<dyn Fn(&mut Rpm)>;
    let cases: Vec<(&str, Tamper)> = vec![
        ("main-header tag", Box::new(|r| r.set_sig(Item::strings(1047, &["evil".into()])))),
        ("main-header tag above 5000", Box::new(|r| r.set_sig(Item::strings(5092, &["0".repeat(64)])))),
        ("unknown low tag", Box::new(|r| r.set_sig(Item::string(200, "x")))),
        (
            "duplicate tag",
            Box::new(move |r| {
                let at = r.sig.iter().position(|i| i.tag == 273).expect("SHA256");
                r.sig.insert(at, sha256.clone());
            }),
        ),
        (
            "SIZE as INT64",
            Box::new(|r| r.set_sig(Item { tag: 1000, ty: 5, count: 1, data: 7u64.to_be_bytes().to_vec() })),
        ),
        ("SHA256 as BIN", Box::new(|r| r.set_sig(Item::bin(273, &[0; 65])))),
        ("two PAYLOADSIZEs", Box::new(|r| r.set_sig(Item::int32(1007, &[1, 2])))),
        ("short MD5", Box::new(|r| r.set_sig(Item::bin(1004, &[0; 15])))),
        ("SHA256 not hex", Box::new(|r| r.set_sig(Item::string(273, &"z".repeat(64))))),
        ("SHA256 of another header", Box::new(|r| r.set_sig(Item::string(273, &"0".repeat(64))))),
    ];
    for (what, change) in cases {
        let mut rpm = original.clone();
        change(&mut rpm);
        let e = error(&rpm.to_bytes());
        let ok = match what {
            "main-header tag" => matches!(e.kind, RpmErrorKind::ForeignSignatureTag { tag: 1047 }),
            "main-header tag above 5000" => matches!(e.kind, RpmErrorKind::ForeignSignatureTag { tag: 5092 }),
            "unknown low tag" => matches!(e.kind, RpmErrorKind::ForeignSignatureTag { tag: 200 }),
            "duplicate tag" => matches!(e.kind, RpmErrorKind::DuplicateTag { .. }),
            "SIZE as INT64" | "SHA256 as BIN" => matches!(e.kind, RpmErrorKind::TagType { .. }),
            "two PAYLOADSIZEs" | "short MD5" => matches!(e.kind, RpmErrorKind::TagCount { .. }),
            "SHA256 not hex" => matches!(e.kind, RpmErrorKind::TagValue { .. }),
            _ => matches!(e.kind, RpmErrorKind::Digest { .. }),
        };
        assert!(ok, "{what}: {}", message(&e));
        // Before the header is read, errors are labelled with the lead's name.
        assert!(message(&e).starts_with("rpm package `tiny-1.0-1`"), "{}", message(&e));
    }
}

/// SECURITY.md 18, and which check catches what.
#[test]
fn payloads_that_disagree_with_the_header_are_refused() {
    let original = Rpm::parse(base());
    let records = original.cpio();
    let extra = CpioRecord::file("./usr/share/tiny/extra", 0o100644, b"sneaky\n");

    #[derive(Clone, Copy, Debug)]
    enum Fix {
        /// Leave the signature header as it was: sizes and digests stale.
        Nothing,
        /// Correct sizes, stale digests: only a digest check can notice.
        Sizes,
        /// Everything recomputed: only reconciliation can notice.
        All,
    }
    let with_records = |records: &[CpioRecord], fix: Fix| {
        let mut rpm = original.clone();
        rpm.set_cpio(records);
        match fix {
            Fix::Nothing => {}
            Fix::Sizes => rpm.fix_sizes(),
            Fix::All => rpm.fix_digests(),
        }
        rpm.to_bytes()
    };
    let payload_digest = |e: &RpmError| matches!(e.kind, RpmErrorKind::Digest { what: "payload (PAYLOADDIGEST)", .. });

    // An extra file: reconciliation refuses it as its record streams by,
    // before the sizes and digests at the end could.
    let mut more = records.clone();
    more.insert(2, extra.clone());
    for fix in [Fix::Nothing, Fix::Sizes, Fix::All] {
        let (result, seen) = stream(&with_records(&more, fix));
        let e = result.expect_err("extra file accepted");
        assert!(
            matches!(&e.kind, RpmErrorKind::UnlistedFile { path } if path == "./usr/share/tiny/extra"),
            "{fix:?}: {}",
            message(&e)
        );
        assert!(!seen.iter().any(|(p, _)| p.contains("extra")));
        assert!(message(&e).contains("rpm package `tiny-1.0-1.noarch`"), "{}", message(&e));
    }

    // A missing file is noticed at the end: by the stale size first, else
    // by the stale payload digest, and with both recomputed by reconciliation.
    let fewer: Vec<CpioRecord> = records.iter().filter(|r| r.name != "./usr/share/tiny/x/shadow").cloned().collect();
    let e = error(&with_records(&fewer, Fix::Nothing));
    assert!(matches!(e.kind, RpmErrorKind::SizeMismatch { what: "stored payload", .. }), "{}", message(&e));
    let e = error(&with_records(&fewer, Fix::Sizes));
    assert!(payload_digest(&e), "{}", message(&e));
    let e = error(&with_records(&fewer, Fix::All));
    assert!(
        matches!(&e.kind, RpmErrorKind::MissingFile { path } if path == "/usr/share/tiny/x/shadow"),
        "{}",
        message(&e)
    );

    // A change nothing else sees (a cpio mtime, which rpm ignores too):
    // only the payload digest catches it; recomputed, the package is fine.
    let mut touched = records.clone();
    record(&mut touched, "./usr/share/tiny/link").fields[5] ^= 1;
    let e = error(&with_records(&touched, Fix::Sizes));
    assert!(payload_digest(&e), "{}", message(&e));
    stream(&with_records(&touched, Fix::All)).0.expect("cpio metadata is not used");

    // The rest, each with digests recomputed so the specific check fires.
    type Change = Box<dyn Fn(&mut Vec<CpioRecord>)>;
    let cases: Vec<(&str, Change)> = vec![
        ("content", Box::new(|r| record(r, "./usr/share/tiny/x/shadow").data = b"SECRET\n".to_vec())),
        ("size", Box::new(|r| record(r, "./usr/share/tiny/x/shadow").data.extend_from_slice(b"more"))),
        ("type", Box::new(|r| record(r, "./usr/bin/tiny").fields[1] = 0o040755)),
        ("duplicate", Box::new(|r| r.push(r[0].clone()))),
        ("hardlink content", Box::new(|r| r.retain(|x| x.name != "./usr/share/tiny/b"))),
        ("symlink target", Box::new(|r| record(r, "./usr/share/tiny/link").data = b"z".to_vec())),
        ("ghost with content", Box::new(|r| r.push(CpioRecord::file("./usr/share/tiny/ghost", 0o100644, b"boo")))),
        ("long name", Box::new(|r| r.push(CpioRecord::file(&format!("./{}", "a/".repeat(3000)), 0o100644, b"")))),
        ("absolute escape", Box::new(|r| r.push(CpioRecord::file("./../../etc/passwd", 0o100644, b"x")))),
    ];
    for (what, change) in cases {
        let mut changed = records.clone();
        change(&mut changed);
        let e = error(&with_records(&changed, Fix::All));
        let ok = match what {
            "content" => matches!(e.kind, RpmErrorKind::FileDigest { .. }),
            "size" => matches!(e.kind, RpmErrorKind::PayloadFileSize { header: 7, payload: 11, .. }),
            "type" => matches!(e.kind, RpmErrorKind::PayloadFileType { .. }),
            "duplicate" => matches!(e.kind, RpmErrorKind::DuplicatePayloadFile { .. }),
            "hardlink content" => matches!(&e.kind, RpmErrorKind::MissingFile { path } if path == "/usr/share/tiny/b"),
            "symlink target" => matches!(e.kind, RpmErrorKind::SymlinkMismatch { .. }),
            // rpm < 4.11 put %ghost files in the payload and rpm skips such
            // records, so do we, but never with more content than the header's size.
            "ghost with content" => matches!(e.kind, RpmErrorKind::PayloadFileSize { header: 0, payload: 3, .. }),
            "long name" => matches!(e.kind, RpmErrorKind::Cpio { .. }),
            _ => matches!(e.kind, RpmErrorKind::UnlistedFile { .. }),
        };
        assert!(ok, "{what}: {}", message(&e));
    }
    // An empty %ghost record, as old rpm wrote them, is skipped and not delivered.
    let mut legacy = records.clone();
    legacy.push(CpioRecord::file("./usr/share/tiny/ghost", 0o100644, b""));
    let (result, seen) = stream(&with_records(&legacy, Fix::All));
    result.expect("legacy ghost record");
    assert!(!seen.iter().any(|(p, _)| p.ends_with("ghost")));
}

/// Rewrites the main header's directory list and the matching cpio names,
/// with all digests recomputed, so only the path checks can object.
fn with_directory(original: &Rpm, from: &str, to: &str) -> Vec<u8> {
    let mut rpm = original.clone();
    let dirs = rpm.main_item(1118).expect("DIRNAMES").as_strings();
    assert!(dirs.iter().any(|d| d == from), "{dirs:?}");
    let dirs: Vec<String> = dirs.into_iter().map(|d| if d == from { to.to_owned() } else { d }).collect();
    rpm.set_main(Item::strings(1118, &dirs));
    let mut records = rpm.cpio();
    for r in &mut records {
        if let Some(rest) = r.name.strip_prefix(&format!(".{from}")) {
            r.name = format!(".{to}{rest}");
        }
    }
    rpm.set_cpio(&records);
    rpm.fix_digests();
    rpm.to_bytes()
}

/// SECURITY.md 1 and 2: nothing is delivered from a package whose paths
/// leave its root or pass through its own symlink.
#[test]
fn escaping_paths_are_refused_before_anything_is_delivered() {
    let original = Rpm::parse(base());
    for (to, expect) in [
        ("/usr/share/tiny/../../../etc/", "dotdot"),
        ("/usr/share/tiny/lnk/", "through symlink"),
        ("/usr/share/tiny/link/", "through symlink"),
        ("/usr/share/tiny/a/", "through file"),
        ("etc/", "relative"),
        (&format!("/{}/", "d".repeat(300)), "long name"),
        (&format!("{}/", "/d".repeat(2100)), "long path"),
    ] {
        let bytes = with_directory(&original, "/usr/share/tiny/x/", to);
        let (result, seen) = stream(&bytes);
        let e = result.expect_err(expect);
        assert!(seen.is_empty(), "{expect}: delivered {seen:?}");
        let ok = match expect {
            "dotdot" => matches!(e.kind, RpmErrorKind::BadPath { source: PathError::DotDot(_), .. }),
            "long name" => matches!(e.kind, RpmErrorKind::BadPath { source: PathError::NameTooLong(_), .. }),
            "long path" => matches!(e.kind, RpmErrorKind::BadPath { source: PathError::TooLong(_), .. }),
            _ => matches!(e.kind, RpmErrorKind::FileList { .. }),
        };
        assert!(ok, "{expect}: {}", message(&e));
        // The header alone is refused too, so `inspect` never shows such a package as valid.
        assert!(rpm::read_header(&bytes[..]).is_err());
    }
    let e = error(&with_directory(&original, "/usr/share/tiny/x/", "/usr/share/tiny/lnk/"));
    assert!(
        message(&e).contains("`/usr/share/tiny/lnk/shadow` lies under `/usr/share/tiny/lnk`, which is a symlink"),
        "{}",
        message(&e)
    );
}

/// SECURITY.md 9: device nodes and FIFOs are refused; a %ghost FIFO is
/// only reported, since ghosts are never unpacked.
#[test]
fn special_files_are_refused() {
    for (install, files, kind) in [
        ("mkdir -p %{buildroot}/dev", "%dev(c, 1, 3) /dev/tinynull", "character device"),
        ("mkdir -p %{buildroot}/dev", "%dev(b, 7, 0) /dev/tinyloop", "block device"),
        ("mkdir -p %{buildroot}/run && mkfifo %{buildroot}/run/tiny.fifo", "/run/tiny.fifo", "FIFO"),
    ] {
        let spec = format!("{SPEC_HEAD}\n%install\n{install}\n%files\n{files}\n");
        let bytes = build(&spec, "w9.gzdio");
        let e = rpm::read_header(&bytes[..]).expect_err(kind);
        assert!(matches!(e.kind, RpmErrorKind::SpecialFile { kind: k, .. } if k == kind), "{}", message(&e));
        assert!(stream(&bytes).1.is_empty());
    }
    let spec = format!(
        "{SPEC_HEAD}\n%install\nmkdir -p %{{buildroot}}/run && mkfifo %{{buildroot}}/run/tiny.fifo\n%files\n%ghost /run/tiny.fifo\n"
    );
    let (result, seen) = stream(&build(&spec, "w9.gzdio"));
    let summary = result.expect("a ghost FIFO is only listed");
    assert!(seen.is_empty());
    assert_eq!(summary.ghosts.iter().map(|p| p.to_absolute()).collect::<Vec<_>>(), ["/run/tiny.fifo"]);
}

/// SECURITY.md 13.
#[test]
fn bombs_are_bounded() {
    let bytes = base();
    let few = ReadOptions { max_entries: 3, ..ReadOptions::default() };
    let e = stream_with(bytes, &few).0.expect_err("too many entries");
    assert!(matches!(e.kind, RpmErrorKind::TooManyEntries { count: 8, limit: 3 }), "{}", message(&e));
    let small = ReadOptions { max_unpacked_bytes: 10, ..ReadOptions::default() };
    let e = stream_with(bytes, &small).0.expect_err("too large");
    assert!(matches!(e.kind, RpmErrorKind::TooLarge { .. }), "{}", message(&e));

    // A header claiming 1 GiB of data is refused before it is allocated.
    let mut rpm = bytes.to_vec();
    let main_at = main_offset(bytes);
    rpm[main_at + 12..main_at + 16].copy_from_slice(&(1u32 << 30).to_be_bytes());
    let e = error(&rpm);
    assert!(matches!(e.kind, RpmErrorKind::HeaderStructure { .. }), "{}", message(&e));

    // A payload of 256 MiB of zeros (250 KiB compressed) stops at its first record.
    let mut bomb = Rpm::parse(bytes);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::copy(&mut std::io::repeat(0).take(256 << 20), &mut gz).expect("compress");
    bomb.payload = gz.finish().expect("gzip");
    bomb.fix_digests();
    let e = error(&bomb.to_bytes());
    assert!(matches!(e.kind, RpmErrorKind::Cpio { offset: 6, .. }), "{}", message(&e));
}

fn main_offset(bytes: &[u8]) -> usize {
    let rpm = Rpm::parse(bytes);
    bytes.len() - rpm.payload.len() - rpm.main_header().len()
}

/// Every truncation is an error; flipped bytes are an error unless they
/// fall in the lead or the signature header's unchecked parts. No panics.
fn never_panics(name: &str, bytes: &[u8]) {
    let main_at = main_offset(bytes);
    for len in 0..bytes.len() {
        let (result, _) = stream(&bytes[..len]);
        assert!(result.is_err(), "{name}: truncated to {len} bytes was accepted");
    }
    let mut accepted = Vec::new();
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut changed = bytes.to_vec();
            changed[at] ^= flip;
            if stream(&changed).0.is_ok() {
                accepted.push(at);
            }
        }
    }
    assert!(
        accepted.iter().all(|&at| at < main_at),
        "{name}: flips accepted at {accepted:?} (main header at {main_at})"
    );
}

/// SECURITY.md 14.
#[test]
fn truncations_and_flipped_bytes_never_panic() {
    never_panics("tiny (gzip)", base());
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/rpms");
    for name in [
        "formats/v6_zstd_rpm-basic-2.3.4-5.el9.noarch.rpm",
        "formats/v6_xz_rpm-basic-2.3.4-5.el9.noarch.rpm",
        "formats/v6_rpm-hardlinks-1.0-1.noarch.rpm",
        "real/freesrp-udev-0.3.0-1.25.x86_64.rpm",
    ] {
        never_panics(name, &std::fs::read(fixtures.join(name)).expect("fixture"));
    }
}

/// Header file lists that contradict themselves are refused before the
/// payload is read: hardlinks that disagree, a path listed twice, arrays
/// of the wrong length, directory indexes out of range.
#[test]
fn inconsistent_file_lists_are_refused() {
    let original = Rpm::parse(base());
    let basenames = original.main_item(1117).expect("BASENAMES").as_strings();
    let a = basenames.iter().position(|b| b == "a").expect("a");
    let modes: Vec<u16> = original
        .main_item(1030)
        .expect("FILEMODES")
        .data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let int16 = |values: &[u16]| Item {
        tag: 1030,
        ty: 3,
        count: values.len() as u32,
        data: values.iter().flat_map(|v| v.to_be_bytes()).collect(),
    };

    type Change = Box<dyn Fn(&mut Rpm)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "setuid on one hardlink",
            Box::new(move |r| {
                let mut m = modes.clone();
                m[a] |= 0o4000;
                r.set_main(int16(&m));
            }),
        ),
        (
            "listed twice",
            Box::new(|r| {
                let names: Vec<String> = r
                    .main_item(1117)
                    .expect("BASENAMES")
                    .as_strings()
                    .into_iter()
                    .map(|b| if b == "b" { "a".into() } else { b })
                    .collect();
                r.set_main(Item::strings(1117, &names));
            }),
        ),
        (
            "short array",
            Box::new(|r| {
                let mut flags = r.main_item(1037).expect("FILEFLAGS").as_u32s();
                flags.pop();
                r.set_main(Item::int32(1037, &flags));
            }),
        ),
        (
            "directory index",
            Box::new(|r| {
                let mut dirs = r.main_item(1116).expect("DIRINDEXES").as_u32s();
                dirs[0] = 99;
                r.set_main(Item::int32(1116, &dirs));
            }),
        ),
    ];
    for (what, change) in cases {
        let mut rpm = original.clone();
        change(&mut rpm);
        rpm.fix_digests();
        let e = rpm::read_header(&rpm.to_bytes()[..]).expect_err(what);
        let ok = match what {
            "setuid on one hardlink" => matches!(e.kind, RpmErrorKind::Hardlink { field: "mode", .. }),
            "listed twice" => matches!(e.kind, RpmErrorKind::FileList { .. }),
            "short array" => matches!(e.kind, RpmErrorKind::TagCount { .. }),
            _ => matches!(e.kind, RpmErrorKind::TagValue { .. }),
        };
        assert!(ok, "{what}: {}", message(&e));
    }
}

/// The `filesystem` package owns `/`: a root directory entry is fine, a
/// root that is anything else is not.
#[test]
fn a_package_may_own_the_root_directory() {
    let spec = format!("{SPEC_HEAD}\n%install\nmkdir -p %{{buildroot}}/usr\n%files\n%dir /\n%dir /usr\n");
    let bytes = build(&spec, "w9.gzdio");
    let (result, seen) = stream(&bytes);
    result.expect("root directory");
    assert_eq!(seen, [("/".to_owned(), EntryKind::Dir), ("/usr".to_owned(), EntryKind::Dir)]);

    let mut rpm = Rpm::parse(&bytes);
    let modes: Vec<u8> = [0o120777u16, 0o040755].iter().flat_map(|m| m.to_be_bytes()).collect();
    rpm.set_main(Item { tag: 1030, ty: 3, count: 2, data: modes });
    rpm.fix_digests();
    let e = rpm::read_header(&rpm.to_bytes()[..]).expect_err("root symlink");
    assert!(matches!(e.kind, RpmErrorKind::FileList { .. }), "{}", message(&e));
}
