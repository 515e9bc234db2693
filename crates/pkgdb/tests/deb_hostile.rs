//! Hostile `.deb` packages, each built in the test with real tools (GNU
//! `tar`, Python's `tarfile`, `ar`, `dpkg-deb`) or, where no tool writes
//! the bytes we need, with the `tar` crate or a few lines of code. The
//! numbers are the cases of SECURITY.md.
//!
//! Every refusal must name the package (or, before the control archive is
//! read, the member) and the path or field, and the refused entry must
//! never reach the caller's callback.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use pkgdb::deb::{DebError, DebOptions, DebReader, DebSummary};
use pkgdb::entry::{Entry, EntryKind};

const CONTROL: &str = "Package: hostile\nVersion: 1.0\nArchitecture: all\nMaintainer: x <x@example.org>\n\
                       Installed-Size: 1\nDescription: hostile\n";

/// A scratch directory and the tools that build package parts in it.
struct Build {
    dir: tempfile::TempDir,
}

impl Build {
    fn new() -> Build {
        Build { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sh(&self, script: &str) {
        let out = Command::new("sh").args(["-ec", script]).current_dir(self.dir.path()).output().expect("run sh");
        assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
    }

    /// `control.tar.gz` holding `./` and `./control`, built by GNU tar.
    fn control_tar_gz(&self, control: &str) -> Vec<u8> {
        std::fs::create_dir_all(self.path("ctl")).expect("mkdir");
        std::fs::write(self.path("ctl/control"), control).expect("write control");
        self.sh("tar --owner=0 --group=0 -czf control.tar.gz -C ctl .");
        std::fs::read(self.path("control.tar.gz")).expect("read")
    }

    /// A tar written by Python's `tarfile`. `body` calls
    /// `add(name, type, mode, data=, link=, pax=)` and may set `FORMAT`.
    fn python_tar(&self, body: &str) -> Vec<u8> {
        let script = format!(
            r#"import io, sys, tarfile
FORMAT = tarfile.GNU_FORMAT
D, L, H = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
C, B, F = tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE
entries = []
def add(name, type=tarfile.REGTYPE, mode=0o644, data=b"", link="", pax=None):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname, ti.mtime = type, mode, link, 1700000000
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    if type in (C, B):
        ti.devmajor, ti.devminor = 1, 3
    if pax:
        ti.pax_headers = pax
    ti.size = len(data) if type == tarfile.REGTYPE else 0
    entries.append((ti, io.BytesIO(data) if type == tarfile.REGTYPE else None))
{body}
with tarfile.open(sys.argv[1], "w", format=FORMAT) as t:
    for ti, f in entries:
        t.addfile(ti, f)
"#
        );
        std::fs::write(self.path("make_tar.py"), script).expect("write script");
        self.sh("python3 make_tar.py data.tar");
        std::fs::read(self.path("data.tar")).expect("read")
    }

    /// An ar archive made by `ar rc`, members in the order given.
    fn ar(&self, members: &[(&str, &[u8])]) -> Vec<u8> {
        let dir = self.path("members");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut names = String::new();
        for (name, data) in members {
            std::fs::write(dir.join(name), data).expect("write member");
            names.push_str(&format!(" '{name}'"));
        }
        self.sh(&format!("cd members && ar rc ../out.deb{names} && cd .. && mv out.deb members/"));
        std::fs::read(dir.join("out.deb")).expect("read")
    }

    /// debian-binary, control.tar.gz with [`CONTROL`], then `data.tar`.
    fn deb(&self, data_tar: &[u8]) -> Vec<u8> {
        let control = self.control_tar_gz(CONTROL);
        self.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar", data_tar)])
    }

    /// Whether `dpkg-deb --contents` accepts the package: the reference
    /// reader, for the container cases.
    fn dpkg_accepts(&self, deb: &[u8]) -> bool {
        std::fs::write(self.path("check.deb"), deb).expect("write");
        Command::new("dpkg-deb")
            .args(["--contents", "check.deb"])
            .current_dir(self.dir.path())
            .output()
            .expect("run dpkg-deb")
            .status
            .success()
    }
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

/// Reads the package; returns the outcome and every entry the callback saw.
fn read_with(deb: &[u8], options: DebOptions) -> (Result<DebSummary, DebError>, Vec<Entry>) {
    let mut seen = Vec::new();
    let result = DebReader::new(deb, options).and_then(|reader| {
        reader.for_each_entry(|entry, content| {
            let mut data = Vec::new();
            std::io::copy(content, &mut data)?;
            seen.push(entry.clone());
            Ok::<(), std::io::Error>(())
        })
    });
    (result, seen)
}

/// Asserts a refusal whose message has every one of `expected`, and
/// returns the message and the entries that were handed out before it.
#[track_caller]
fn refused_with(deb: &[u8], options: DebOptions, expected: &[&str]) -> (String, Vec<Entry>) {
    let (result, seen) = read_with(deb, options);
    let message = match result {
        Ok(summary) => panic!("accepted: {summary:?}"),
        Err(e) => chain(&e),
    };
    for part in expected {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    (message, seen)
}

#[track_caller]
fn refused(deb: &[u8], expected: &[&str]) -> (String, Vec<Entry>) {
    refused_with(deb, DebOptions::default(), expected)
}

fn seen_paths(seen: &[Entry]) -> Vec<&str> {
    seen.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn case01_paths_outside_the_root_are_refused() {
    let b = Build::new();
    std::fs::write(b.path("x"), "pwned").expect("write");
    for name in ["../../etc/passwd", "./a/../../x", "/etc/cron.d/x"] {
        b.sh(&format!("tar -cPf data.tar --transform 's,^x$,{name},' x"));
        let data = std::fs::read(b.path("data.tar")).expect("read");
        let (_, seen) = refused(&b.deb(&data), &["`hostile`", name]);
        assert!(seen.is_empty(), "{name}: {:?}", seen_paths(&seen));
    }
}

#[test]
fn case02_a_file_through_a_symlink_to_etc_is_refused() {
    let b = Build::new();
    let data = b.python_tar(
        r#"add("./", D, 0o755); add("./usr/", D, 0o755); add("./usr/lib/", D, 0o755)
add("./usr/lib/x", L, 0o777, link="/etc")
add("./usr/lib/x/shadow", data=b"root::0:0:::::\n")"#,
    );
    let (_, seen) = refused(&b.deb(&data), &["`hostile`", "/usr/lib/x/shadow", "/usr/lib/x"]);
    assert!(!seen_paths(&seen).contains(&"usr/lib/x/shadow"));
}

#[test]
fn case03_a_path_through_a_dotdot_symlink_is_refused() {
    let b = Build::new();
    let data = b.python_tar(
        r#"add("./", D, 0o755); add("./s", L, 0o777, link="..")
add("./s/exploit/", D, 0o755); add("./s/exploit/foo/", D, 0o755); add("./s/exploit/foo/bar", data=b"x")"#,
    );
    let (_, seen) = refused(&b.deb(&data), &["`hostile`", "/s/exploit"]);
    assert_eq!(seen_paths(&seen), ["", "s"]);
}

#[test]
fn case04_a_directory_replacing_a_symlink_is_refused_as_a_duplicate() {
    let b = Build::new();
    let data = b.python_tar(r#"add("./", D, 0o755); add("./d", L, 0o777, link="/tmp/victim"); add("./d", D, 0o777)"#);
    let (message, seen) = refused(&b.deb(&data), &["`hostile`", "`/d` appears twice"]);
    assert!(!seen.iter().any(|e| e.kind == EntryKind::Dir && e.path.as_str() == "d"), "{message}");
}

#[test]
fn case05_a_symlink_replacing_a_directory_is_refused() {
    let b = Build::new();
    let data = b.python_tar(
        r#"add("./", D, 0o755); add("./d/", D, 0o755); add("./d", L, 0o777, link="/etc"); add("./d/f", data=b"x")"#,
    );
    let (_, seen) = refused(&b.deb(&data), &["`hostile`", "`/d` appears twice"]);
    assert_eq!(seen_paths(&seen), ["", "d"]);
}

#[test]
fn case06_a_link_then_a_file_of_the_same_name_is_refused() {
    let b = Build::new();
    let symlink =
        b.python_tar(r#"add("./", D, 0o755); add("./f", L, 0o777, link="/etc/shadow"); add("./f", data=b"x")"#);
    let (_, seen) = refused(&b.deb(&symlink), &["`hostile`", "`/f` appears twice"]);
    assert_eq!(seen_paths(&seen), ["", "f"]);
    let hardlink =
        b.python_tar(r#"add("./", D, 0o755); add("./f", H, 0o644, link="/etc/shadow"); add("./f", data=b"x")"#);
    let (_, seen) = refused(&b.deb(&hardlink), &["`hostile`", "hardlink `/f`", "/etc/shadow"]);
    assert_eq!(seen_paths(&seen), [""]);
}

#[test]
fn case07_bad_hardlink_targets_are_refused() {
    let b = Build::new();
    let cases = [
        ("/etc/shadow", "absolute path"),
        ("../etc/shadow", "contains `..`"),
        ("./usr/../../etc/shadow", "contains `..`"),
        ("./missing", "not earlier in the package"),
        ("./dir", "a directory"),
        ("./later", "not earlier in the package"),
    ];
    for (target, why) in cases {
        let data = b.python_tar(&format!(
            r#"add("./", D, 0o755); add("./dir/", D, 0o755); add("./h", H, 0o644, link="{target}"); add("./later", data=b"x")"#
        ));
        let (_, seen) = refused(&b.deb(&data), &["`hostile`", "hardlink `/h`", why]);
        assert_eq!(seen_paths(&seen), ["", "dir"], "{target}");
    }
    // A hardlink to an earlier regular file is fine, and keeps its mode.
    let data =
        b.python_tar(r#"add("./", D, 0o755); add("./f", mode=0o4755, data=b"x"); add("./h", H, 0o4755, link="./f")"#);
    let (result, seen) = read_with(&b.deb(&data), DebOptions::default());
    result.expect("a good hardlink reads");
    assert_eq!(seen[2].kind, EntryKind::Hardlink { target: seen[1].path.clone() });
    assert_eq!(seen[2].mode, 0o4755);
}

#[test]
fn case09_devices_fifos_are_refused() {
    let b = Build::new();
    for (kind, name) in [("C", "character device"), ("B", "block device"), ("F", "FIFO")] {
        let data = b.python_tar(&format!(r#"add("./", D, 0o755); add("./dev-node", {kind}, 0o666)"#));
        let (_, seen) = refused(&b.deb(&data), &["`hostile`", "./dev-node", name]);
        assert_eq!(seen_paths(&seen), [""]);
    }
    // GNU tar itself, on a real FIFO.
    b.sh("rm -rf root && mkdir root && mkfifo root/fifo && tar --owner=0 --group=0 -cf data.tar -C root .");
    let data = std::fs::read(b.path("data.tar")).expect("read");
    refused(&b.deb(&data), &["`hostile`", "./fifo", "FIFO"]);
}

#[test]
fn case11_xattrs_pass_an_allowlist_and_others_are_refused() {
    let b = Build::new();
    for name in ["security.selinux", "trusted.x", "system.posix_acl_access"] {
        let data = b.python_tar(&format!(
            r#"FORMAT = tarfile.PAX_FORMAT
add("./", D, 0o755); add("./f", data=b"x", pax={{"SCHILY.xattr.{name}": "v"}})"#
        ));
        let (_, seen) = refused(&b.deb(&data), &["`hostile`", "`/f`", name]);
        assert_eq!(seen_paths(&seen), [""], "{name}");
    }
    // libarchive's encoding of xattrs is not read, so it is refused rather than dropped.
    let data = b.python_tar(
        r#"FORMAT = tarfile.PAX_FORMAT
add("./", D, 0o755); add("./f", data=b"x", pax={"LIBARCHIVE.xattr.security.selinux": "dg=="})"#,
    );
    refused(&b.deb(&data), &["`hostile`", "LIBARCHIVE.xattr.security.selinux", "not supported"]);

    let data = b.python_tar(
        r#"FORMAT = tarfile.PAX_FORMAT
add("./", D, 0o755)
add("./f", mode=0o755, data=b"x", pax={"SCHILY.xattr.user.x": "v", "SCHILY.xattr.security.capability": "cap"})"#,
    );
    let (result, seen) = read_with(&b.deb(&data), DebOptions::default());
    result.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(
        seen[1].xattrs,
        [("security.capability".to_owned(), b"cap".to_vec()), ("user.x".to_owned(), b"v".to_vec())]
    );
}

/// Raw tar streams the tools refuse to write, from the `tar` crate's
/// header API.
fn raw_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut root = tar::Header::new_gnu();
    root.set_path("./").expect("path");
    set_owner(&mut root);
    root.set_entry_type(tar::EntryType::Directory);
    root.set_mode(0o755);
    root.set_size(0);
    root.set_cksum();
    builder.append(&root, std::io::empty()).expect("append");
    build(&mut builder);
    builder.into_inner().expect("finish")
}

/// A GNU long name or PAX header of `size` bytes.
fn extension_header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path("././@LongLink").expect("path");
    set_owner(&mut h);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_cksum();
    h
}

/// The `tar` crate leaves numeric fields NUL-filled, which GNU tar and the
/// reader refuse; real writers fill them.
fn set_owner(h: &mut tar::Header) {
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
}

fn file_header(path: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("path");
    set_owner(&mut h);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_cksum();
    h
}

#[test]
fn case12_pax_headers_that_parsers_could_read_differently_are_refused() {
    let b = Build::new();
    // A PAX size that disagrees with the ustar size.
    let data = raw_tar(|t| {
        t.append_pax_extensions([("size", &b"5"[..])]).expect("pax");
        t.append(&file_header("./f", 10), &b"0123456789"[..]).expect("append");
    });
    let (_, seen) = refused(&b.deb(&data), &["`hostile`", "`f`", "PAX size 5 disagrees with the header size 10"]);
    assert_eq!(seen_paths(&seen), [""]);
    // GNU tar reads the same stream differently from the header: that is the point.
    std::fs::write(b.path("mismatch.tar"), &data).expect("write");
    let listing = Command::new("tar").args(["-tvf", "mismatch.tar"]).current_dir(b.dir.path()).output().expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains(" 5 "), "GNU tar honours the PAX size: {listing}");

    // The same record twice (GNU tar takes the last, the tar crate the first).
    let data = raw_tar(|t| {
        t.append_pax_extensions([("path", &b"./safe"[..]), ("path", &b"./etc/evil"[..])]).expect("pax");
        t.append(&file_header("./f", 1), &b"x"[..]).expect("append");
    });
    refused(&b.deb(&data), &["`hostile`", "`path` appears twice"]);

    // A record whose length prefix is wrong.
    let data = raw_tar(|t| {
        t.append(&extension_header(tar::EntryType::XHeader, 13), &b"14 path=./ab\n"[..]).expect("append");
        t.append(&file_header("./f", 1), &b"x"[..]).expect("append");
    });
    refused(&b.deb(&data), &["`hostile`", "malformed PAX record"]);

    // A GNU long name and a PAX path for the same entry.
    let data = raw_tar(|t| {
        t.append(&extension_header(tar::EntryType::GNULongName, 10), &b"./usr/bin\0"[..]).expect("append");
        t.append_pax_extensions([("path", &b"./etc/evil"[..])]).expect("pax");
        t.append(&file_header("./f", 1), &b"x"[..]).expect("append");
    });
    refused(&b.deb(&data), &["`hostile`", "both a GNU long name and a PAX path"]);

    // A global header that would set every later entry's owner.
    let data = raw_tar(|t| {
        t.append(&extension_header(tar::EntryType::XGlobalHeader, 10), &b"10 uid=42\n"[..]).expect("append");
        t.append(&file_header("./f", 1), &b"x"[..]).expect("append");
    });
    refused(&b.deb(&data), &["`hostile`", "`global uid` is not supported"]);

    // A GNU sparse map in PAX records (GNU tar would expand it).
    let data = b.python_tar(
        r#"FORMAT = tarfile.PAX_FORMAT
add("./", D, 0o755); add("./f", data=b"x", pax={"GNU.sparse.map": "0,1", "GNU.sparse.realsize": "1"})"#,
    );
    refused(&b.deb(&data), &["`hostile`", "GNU.sparse", "not supported"]);

    // PAX overrides the tar crate ignores but GNU tar applies are applied.
    let data = b.python_tar(
        r#"FORMAT = tarfile.PAX_FORMAT
add("./", D, 0o755)
add("./f", data=b"x", pax={"uid": "1234", "gid": "5678", "uname": "alice", "gname": "staff", "mtime": "1600000000.5"})"#,
    );
    let (result, seen) = read_with(&b.deb(&data), DebOptions::default());
    result.unwrap_or_else(|e| panic!("{}", chain(&e)));
    let f = &seen[1];
    assert_eq!(
        (f.uid, f.gid, f.user.as_deref(), f.group.as_deref(), f.mtime),
        (1234, 5678, Some("alice"), Some("staff"), 1_600_000_000)
    );
}

#[test]
fn case13_expansion_beyond_installed_size_is_refused() {
    let b = Build::new();
    // With a small configured budget: Installed-Size 1 KiB, 1 MiB allowed, a 2 MiB file.
    let data = b.python_tar(r#"add("./", D, 0o755); add("./small", data=b"x"); add("./big", data=bytes(2 << 20))"#);
    let options = DebOptions { min_data_size: 1 << 20, ..DebOptions::default() };
    let (_, seen) =
        refused_with(&b.deb(&data), options, &["`hostile`", "limit of 1048576 bytes", "/big", "Installed-Size: 1 KiB"]);
    assert_eq!(seen_paths(&seen), ["", "small"]);

    // With the default budget of 64 MiB: a 65 MiB file of zeros, gzipped to 64 KiB.
    b.sh("rm -rf root && mkdir root && truncate -s 65M root/big && tar --owner=0 --group=0 -cf - -C root . | gzip -1 > data.tar.gz");
    let compressed = std::fs::read(b.path("data.tar.gz")).expect("read");
    assert!(compressed.len() < 1 << 20);
    let control = b.control_tar_gz(CONTROL);
    let deb = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar.gz", &compressed)]);
    let (_, seen) = refused(&deb, &["`hostile`", "limit of 67108864 bytes", "/big"]);
    assert_eq!(seen_paths(&seen), [""]);
}

#[test]
fn case13_too_many_entries_are_refused() {
    let b = Build::new();
    let data = b.python_tar(
        r#"add("./", D, 0o755)
for i in range(150):
    add(f"./f{i}")"#,
    );
    let options = DebOptions { max_entries: 100, ..DebOptions::default() };
    let (message, seen) = refused_with(&b.deb(&data), options, &["`hostile`", "more than 100 entries"]);
    assert_eq!(seen.len(), 100, "{message}");
}

/// The default limit, with a million and one empty files.
#[test]
fn case13_a_million_entries_are_refused_at_the_default_limit() {
    let started = std::time::Instant::now();
    // zstd, the fastest of the allowed compressions both ways: the tar
    // stream is 512 MB of headers.
    let mut zst = zstd::stream::write::Encoder::new(Vec::new(), 1).expect("zstd");
    {
        let mut builder = tar::Builder::new(&mut zst);
        let mut header = tar::Header::new_gnu();
        for i in 0..1_000_001u32 {
            header.set_path(format!("./d{}/{}", i / 1000, i % 1000)).expect("path");
            set_owner(&mut header);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(0);
            header.set_cksum();
            builder.append(&header, std::io::empty()).expect("append");
        }
        builder.finish().expect("finish");
    }
    let data = zst.finish().expect("zstd");
    let b = Build::new();
    // Installed-Size large enough that the byte budget is not what stops it.
    let control = b.control_tar_gz(&CONTROL.replace("Installed-Size: 1", "Installed-Size: 1000000"));
    let deb = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar.zst", &data)]);
    eprintln!("built {} bytes in {:?}", deb.len(), started.elapsed());
    let mut seen = 0usize;
    let result = DebReader::new(deb.as_slice(), DebOptions::default()).and_then(|reader| {
        reader.for_each_entry(|_, _| {
            seen += 1;
            Ok::<(), std::io::Error>(())
        })
    });
    let message = chain(&result.expect_err("refused"));
    assert_eq!(seen, 1_000_000);
    assert!(message.contains("`hostile`") && message.contains("more than 1000000 entries"), "{message}");
    eprintln!("refused in {:?}: {message}", started.elapsed());
}

#[test]
fn case13_long_paths_are_refused_before_they_are_read() {
    let b = Build::new();
    // A 64 KiB GNU long name: refused from its size, never read into memory.
    let long = "a/".repeat(32 << 10);
    let data = b.python_tar(&format!(r#"add("./", D, 0o755); add("./{long}x")"#));
    refused(&b.deb(&data), &["`hostile`", "GNU long name of 65540 bytes is larger than 4097"]);
    // A 64 KiB PAX path: read (PAX headers are bounded at 1 MiB), then refused.
    let data = b.python_tar(&format!(
        r#"FORMAT = tarfile.PAX_FORMAT
add("./", D, 0o755); add("./{long}x")"#
    ));
    refused(&b.deb(&data), &["`hostile`", "path of 65539 bytes is longer than 4096"]);
}

fn parts(b: &Build) -> (Vec<u8>, Vec<u8>) {
    let control = b.control_tar_gz(CONTROL);
    let data = b.python_tar(r#"add("./", D, 0o755); add("./f", data=b"hello")"#);
    (control, data)
}

#[test]
fn case15_ar_headers_with_bad_sizes_or_long_names_are_errors() {
    let b = Build::new();
    let (control, data) = parts(&b);
    let good = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar", &data)]);
    read_with(&good, DebOptions::default()).0.expect("the unpatched package reads");
    // The control member's header starts after the magic, one header and `2.0\n`.
    let header = 8 + 60 + 4;
    let patch = |at: usize, bytes: &[u8]| {
        let mut deb = good.clone();
        deb[at..at + bytes.len()].copy_from_slice(bytes);
        deb
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (patch(header + 48, b"-1        "), "the size field `-1        ` is invalid"),
        (patch(header + 48, b"99999999999"), "terminator field"),
        (patch(header + 48, b"9999999999"), "control.tar.gz"),
        (patch(header + 48, b"12ab      "), "the size field `12ab      ` is invalid"),
        (patch(header + 48, b"0x10      "), "size field"),
        (patch(header, b"#1/999          "), "BSD long name runs past the member"),
        (patch(header, b"#1/-5           "), "not a number"),
        (patch(header, b"/42             "), "GNU long name without a name table"),
        (patch(header + 16, b"-1          "), "mtime field"),
        (patch(8 + 48, b"4294967296"), "debian-binary"),
    ];
    for (deb, expected) in cases {
        let (message, seen) = refused(&deb, &[expected]);
        assert!(seen.is_empty(), "{message}");
        assert!(!b.dpkg_accepts(&deb) || expected == "mtime field", "dpkg-deb accepts what we refuse: {message}");
    }
    // A GNU name table with an index past its end.
    let mut deb = good[..8].to_vec();
    deb.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", "//", "0", "0", "0", "0", 6).as_bytes());
    deb.extend(b"name/\n");
    deb.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", "/6", "0", "0", "0", "100644", 4).as_bytes());
    deb.extend(b"2.0\n");
    refused(&deb, &["GNU long-name index is past the name table"]);
}

#[test]
fn case16_container_order_and_version_are_enforced() {
    let b = Build::new();
    let (control, data) = parts(&b);
    let version: &[u8] = b"2.0\n";
    // dpkg-deb stops reading at the data member, so it does not see what
    // follows; the reader checks the whole container.
    let dpkg_also_refuses =
        |expected: &str| !matches!(expected, "a second data member" | "only `_` members may follow data");
    type Members<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(Members, &str)> = vec![
        (
            vec![("debian-binary", version), ("data.tar", &data), ("control.tar.gz", &control)],
            "data comes before control",
        ),
        (
            vec![("debian-binary", version), ("control.tar.gz", &control), ("data.tar", &data), ("data.tar.gz", b"x")],
            "a second data member",
        ),
        (vec![("debian-binary", b"3.0\n"), ("control.tar.gz", &control), ("data.tar", &data)], "`3.0\\n`"),
        (vec![("debian-binary", b"1.0\n"), ("control.tar.gz", &control), ("data.tar", &data)], "only format 2.x"),
        (vec![("control.tar.gz", &control), ("debian-binary", version), ("data.tar", &data)], "not `debian-binary`"),
        (vec![("debian-binary", version), ("control.tar.gz", &control)], "no `data.tar` member"),
        (vec![("debian-binary", version)], "no `control.tar` member"),
        (
            vec![
                ("debian-binary", version),
                ("control.tar.gz", &control),
                ("control.tar", &control),
                ("data.tar", &data),
            ],
            "a second control member",
        ),
        (
            vec![("debian-binary", version), ("control.tar.gz", &control), ("extra", b"x"), ("data.tar", &data)],
            "only `_` members may precede data",
        ),
        (
            vec![("debian-binary", version), ("control.tar.gz", &control), ("data.tar", &data), ("extra", b"x")],
            "only `_` members may follow data",
        ),
        (
            vec![("debian-binary", version), ("control.tar.gz", &control), ("data.tar.lz4", &data)],
            "unknown compression",
        ),
        (vec![("debian-binary", version), ("control.tar.bz2", &control), ("data.tar", &data)], "unknown compression"),
    ];
    for (members, expected) in cases {
        let deb = b.ar(&members);
        let (message, seen) = refused(&deb, &[expected]);
        if dpkg_also_refuses(expected) {
            assert!(!b.dpkg_accepts(&deb), "dpkg-deb accepts what we refuse: {message}");
            assert!(seen.is_empty(), "{message}");
        }
    }

    // `_` members are skipped wherever dpkg-deb skips them.
    let deb = b.ar(&[
        ("debian-binary", version),
        ("_before", b"a"),
        ("control.tar.gz", &control),
        ("_between", b"b"),
        ("data.tar", &data),
        ("_after", b"c"),
    ]);
    assert!(b.dpkg_accepts(&deb));
    let (result, seen) = read_with(&deb, DebOptions::default());
    let summary = result.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(summary.ignored_members, ["_before", "_between", "_after"]);
    assert_eq!(seen_paths(&seen), ["", "f"]);
}

/// Every data compression deb(5) allows reads the same entries.
#[test]
fn every_data_compression_reads() {
    let b = Build::new();
    let (control, data) = parts(&b);
    std::fs::write(b.path("data.tar"), &data).expect("write");
    b.sh("gzip -k data.tar && xz -k data.tar && zstd -q data.tar && bzip2 -k data.tar && xz --format=lzma -k data.tar");
    for suffix in ["", ".gz", ".xz", ".zst", ".bz2", ".lzma"] {
        let member = format!("data.tar{suffix}");
        let bytes = std::fs::read(b.path(&member)).expect("compressed");
        let deb = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), (&member, &bytes)]);
        let (result, seen) = read_with(&deb, DebOptions::default());
        let summary = result.unwrap_or_else(|e| panic!("{member}: {}", chain(&e)));
        assert_eq!(summary.data_member, member);
        assert_eq!(seen_paths(&seen), ["", "f"], "{member}");
    }
    // Garbage after a compressed stream is refused.
    let mut gz = std::fs::read(b.path("data.tar.gz")).expect("gz");
    gz.write_all(b"trailing").expect("append");
    let deb = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar.gz", &gz)]);
    refused(&deb, &["`hostile`", "data.tar.gz"]);
}

#[test]
fn control_archive_entries_are_checked() {
    let b = Build::new();
    let (_, data) = parts(&b);
    let cases = [
        ("mkdir sub && echo x > sub/file", "only regular files"),
        ("ln -s control link", "only regular files"),
        ("mkfifo fifo", "`./fifo` is a FIFO"),
    ];
    for (setup, expected) in cases {
        b.sh(&format!(
            "rm -rf ctl && mkdir ctl && cd ctl && printf '{}' > control && {setup} && cd .. && tar --owner=0 --group=0 -czf control.tar.gz -C ctl .",
            CONTROL.replace('\n', "\\n")
        ));
        let control = std::fs::read(b.path("control.tar.gz")).expect("read");
        let deb = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar", &data)]);
        refused(&deb, &["control.tar.gz", expected]);
    }
    // A control file past its size limit.
    b.sh(&format!(
        "rm -rf ctl && mkdir ctl && printf '{}' > ctl/control && truncate -s 2M ctl/postinst && tar --owner=0 --group=0 -czf control.tar.gz -C ctl .",
        CONTROL.replace('\n', "\\n")
    ));
    let control = std::fs::read(b.path("control.tar.gz")).expect("read");
    let deb = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar", &data)]);
    let options = DebOptions { max_control_file_size: 1 << 20, ..DebOptions::default() };
    refused_with(&deb, options, &["control.tar.gz", "./postinst", "larger than 1048576"]);
    // A comment in DEBIAN/control, and a field that is not deb822.
    for control_text in [format!("# comment\n{CONTROL}"), format!("{CONTROL}not a field\n")] {
        let control = b.control_tar_gz(&control_text);
        let deb = b.ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control), ("data.tar", &data)]);
        refused(&deb, &["`control` file", "line"]);
    }
}
