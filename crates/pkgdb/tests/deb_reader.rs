//! The `.deb` reader against real Debian packages, checked with tools
//! nobody here wrote: `dpkg-deb` and GNU `tar`. Also truncation and byte
//! flips of a real package (SECURITY.md 14).
//!
//! Packages are downloaded once with `apt-get download` into
//! `.test-cache/debs/` (git-ignored) and reused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use md5::{Digest, Md5};
use pkgdb::control::{Syntax, parse_paragraph};
use pkgdb::deb::{DebError, DebOptions, DebReader, RelationField, inspect};
use pkgdb::entry::{Entry, EntryKind};

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

fn output(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program).args(args).env("TZ", "UTC").output().expect("run tool");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn sh(script: &str) -> Vec<u8> {
    output("sh", &["-ec", script])
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

/// An entry as `tar -tv` shows it.
#[derive(Debug, PartialEq, Eq)]
struct Listed {
    kind: char,
    mode: u32,
    owner: String,
    size: u64,
    mtime: String,
    path: String,
    link: Option<String>,
}

/// `-rwsr-xr-x` to 0o4755.
fn mode_bits(perm: &str) -> u32 {
    let c: Vec<char> = perm.chars().collect();
    let mut mode = 0;
    for (i, bit) in [0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 0o4, 0o2, 0o1].iter().enumerate() {
        if !matches!(c[i + 1], '-' | 'S' | 'T') {
            mode |= bit;
        }
    }
    mode | if matches!(c[3], 's' | 'S') { 0o4000 } else { 0 }
        | if matches!(c[6], 's' | 'S') { 0o2000 } else { 0 }
        | if matches!(c[9], 't' | 'T') { 0o1000 } else { 0 }
}

/// `tar -tv --full-time` output, with `./` stripped from paths as the
/// reader normalizes them.
fn parse_listing(text: &str) -> Vec<Listed> {
    let strip = |p: &str| p.trim_start_matches("./").trim_end_matches('/').to_owned();
    text.lines()
        .map(|line| {
            let mut rest = line;
            let mut field = || {
                let (f, r) = rest.trim_start().split_once(' ').expect("a `tar -tv` field");
                rest = r;
                f
            };
            let (perm, owner, size, date, time) = (field(), field(), field(), field(), field());
            let (path, link) = if let Some((p, t)) = rest.split_once(" -> ") {
                (strip(p), Some(t.to_owned()))
            } else if let Some((p, t)) = rest.split_once(" link to ") {
                (strip(p), Some(format!("/{}", strip(t))))
            } else {
                (strip(rest), None)
            };
            Listed {
                kind: perm.chars().next().expect("type"),
                mode: mode_bits(perm),
                owner: owner.to_owned(),
                size: size.parse().expect("size"),
                mtime: format!("{date} {time}"),
                path,
                link,
            }
        })
        .collect()
}

fn utc(mtime: i64) -> String {
    let text = output("date", &["-u", "-d", &format!("@{mtime}"), "+%Y-%m-%d %H:%M:%S"]);
    String::from_utf8(text).expect("utf8").trim().to_owned()
}

/// Reads every entry, checking each file's data against its md5sums digest.
fn read_all(path: &Path) -> (DebReaderInfo, Vec<Entry>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open deb"));
    let deb = DebReader::new(file, DebOptions::default()).expect("control reads");
    let info = DebReaderInfo { control: deb.control().clone() };
    let mut entries = Vec::new();
    let summary = deb
        .for_each_entry(|entry, content| {
            if let EntryKind::File { size } = entry.kind {
                let mut hasher = Md5::new();
                let mut buf = vec![0u8; 64 << 10];
                let mut total = 0u64;
                loop {
                    let n = content.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    total += n as u64;
                }
                assert_eq!(total, size, "{}", entry.path);
                let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
                if let Some(digest) = &entry.digest {
                    assert_eq!(digest, &format!("md5:{hex}"), "{}", entry.path);
                }
            }
            entries.push(entry.clone());
            Ok::<(), std::io::Error>(())
        })
        .expect("payload reads");
    assert_eq!(summary.entries, entries.len());
    (info, entries)
}

struct DebReaderInfo {
    control: pkgdb::deb::ControlInfo,
}

/// Our reading of a package against `dpkg-deb` and GNU tar, entry by entry.
fn compare_with_dpkg(name: &str) {
    let deb = cached_deb(name);
    let deb_str = deb.to_str().expect("utf8 path");
    let (info, entries) = read_all(&deb);

    // Control fields: ours against dpkg-deb's.
    let dpkg_fields = parse_paragraph(&output("dpkg-deb", &["-f", deb_str]), Syntax::Strict).expect("dpkg's fields");
    assert_eq!(info.control.fields, dpkg_fields, "{name}: control fields");
    let typed = output("dpkg-deb", &["-f", deb_str, "Package", "Version", "Architecture"]);
    let typed = parse_paragraph(&typed, Syntax::Strict).expect("typed fields");
    assert_eq!(Some(info.control.package.as_str()), typed.get("Package"));
    assert_eq!(Some(info.control.version.as_str()), typed.get("Version"));
    assert_eq!(Some(info.control.architecture.as_str()), typed.get("Architecture"));
    for field in RelationField::ALL {
        info.control.relations(field).unwrap_or_else(|e| panic!("{name}: {}", chain(&e)));
    }

    // Control files: names and bytes against the control tarball.
    let names = String::from_utf8(sh(&format!("dpkg-deb --ctrl-tarfile '{deb_str}' | tar -t"))).expect("utf8");
    for file in names.lines().map(|l| l.trim_start_matches("./")).filter(|l| !l.is_empty()) {
        let bytes = sh(&format!("dpkg-deb --ctrl-tarfile '{deb_str}' | tar -xO ./{file}"));
        let ours = match file {
            "control" => continue,
            "md5sums" => {
                assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), info.control.md5sums.len());
                continue;
            }
            "conffiles" => {
                assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), info.control.conffiles.len());
                continue;
            }
            "triggers" => info.control.triggers.clone(),
            "shlibs" => info.control.shlibs.clone(),
            "symbols" => info.control.symbols.clone(),
            "templates" => info.control.templates.clone(),
            script => info.control.scripts.get(script).cloned(),
        };
        assert_eq!(ours.as_deref(), Some(bytes.as_slice()), "{name}: control file {file}");
    }

    // Payload: every entry against `tar -tv`, numeric and by name.
    let numeric =
        String::from_utf8(sh(&format!("dpkg-deb --fsys-tarfile '{deb_str}' | tar -tv --numeric-owner --full-time")))
            .expect("utf8");
    let named =
        String::from_utf8(sh(&format!("dpkg-deb --fsys-tarfile '{deb_str}' | tar -tv --full-time"))).expect("utf8");
    let numeric = parse_listing(&numeric);
    let named = parse_listing(&named);
    assert_eq!(numeric.len(), entries.len(), "{name}: entry count");
    let mut files = 0;
    for ((e, n), l) in entries.iter().zip(&numeric).zip(&named) {
        let kind = match &e.kind {
            EntryKind::File { .. } => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink { .. } => 'l',
            EntryKind::Hardlink { .. } => 'h',
        };
        let (size, link) = match &e.kind {
            EntryKind::File { size } => (*size, None),
            EntryKind::Symlink { target } => (0, Some(target.clone())),
            EntryKind::Hardlink { target } => (0, Some(target.to_absolute())),
            EntryKind::Dir => (0, None),
        };
        let expected = Listed {
            kind,
            mode: e.mode,
            owner: format!("{}/{}", e.uid, e.gid),
            size,
            mtime: utc_cached(e.mtime),
            path: e.path.as_str().to_owned(),
            link,
        };
        assert_eq!(&expected, n, "{name}: {}", e.path);
        let names = format!("{}/{}", e.user.as_deref().unwrap_or("?"), e.group.as_deref().unwrap_or("?"));
        assert_eq!(names, l.owner, "{name}: owner names of {}", e.path);
        if let EntryKind::File { .. } = e.kind {
            // dpkg keeps conffiles' digests in its database, not in md5sums.
            let conffile = info.control.conffiles.iter().any(|c| c.path == e.path);
            assert_eq!(e.digest.is_some(), !conffile, "{name}: the md5sums digest of {}", e.path);
            files += usize::from(!conffile);
        }
    }
    assert_eq!(files, info.control.md5sums.len(), "{name}: md5sums lists every file but conffiles");
}

/// `date` is slow to spawn per entry; packages share a handful of mtimes.
fn utc_cached(mtime: i64) -> String {
    use std::sync::Mutex;
    static CACHE: Mutex<BTreeMap<i64, String>> = Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(mtime).or_insert_with(|| utc(mtime)).clone()
}

#[test]
fn htop_matches_dpkg() {
    compare_with_dpkg("htop");
}

#[test]
fn libc6_matches_dpkg() {
    compare_with_dpkg("libc6");
}

#[test]
fn coreutils_matches_dpkg() {
    compare_with_dpkg("coreutils");
}

/// setuid and setgid bits, and a group other than root (`shadow`).
#[test]
fn passwd_matches_dpkg_with_setuid() {
    compare_with_dpkg("passwd");
    let (_, entries) = read_all(&cached_deb("passwd"));
    let passwd = entries.iter().find(|e| e.path.as_str() == "usr/bin/passwd").expect("usr/bin/passwd");
    assert_eq!(passwd.mode, 0o4755);
    let chage = entries.iter().find(|e| e.path.as_str() == "usr/bin/chage").expect("usr/bin/chage");
    assert_eq!((chage.mode, chage.group.as_deref()), (0o2755, Some("shadow")));
}

#[test]
fn inspect_serializes_htop() {
    let deb = cached_deb("htop");
    let info = inspect(std::fs::File::open(&deb).expect("open")).expect("inspects");
    let json: serde_json::Value = serde_json::to_value(&info).expect("serializes");
    assert_eq!(json["format"], 1);
    assert_eq!(json["package"], "htop");
    assert_eq!(json["architecture"], "amd64");
    assert!(json["installed_size"].as_u64().is_some_and(|s| s > 0));
    assert!(json["depends"].as_str().is_some_and(|d| d.contains("libc6")));
    assert_eq!(json["data_member"], "data.tar.xz");
    assert_eq!(json["fields"]["Package"], "htop");
    assert_eq!(json["control_files"], serde_json::json!(["md5sums"]));
    let htop = json["files"].as_array().expect("files").iter().find(|f| f["path"] == "/usr/bin/htop").expect("htop");
    assert_eq!(htop["type"], "file");
    assert_eq!(htop["mode"], "0755");
    assert_eq!(htop["user"], "root");
    assert!(htop["digest"].as_str().is_some_and(|d| d.starts_with("md5:") && d.len() == 36));
    assert_eq!(json["files"][0]["path"], "/");
}

#[test]
fn libc6_scripts_and_conffiles() {
    let info = inspect(std::fs::File::open(cached_deb("libc6")).expect("open")).expect("inspects");
    let scripts: Vec<(&str, Option<&str>)> =
        info.scripts.iter().map(|s| (s.name.as_str(), s.interpreter.as_deref())).collect();
    assert_eq!(scripts, [("postinst", Some("/bin/sh")), ("postrm", Some("/bin/sh")), ("preinst", Some("/bin/sh"))]);
    assert!(info.conffiles.iter().all(|c| c.starts_with("/etc/")), "{:?}", info.conffiles);
    assert!(info.control_files.contains(&"triggers".to_owned()));
    assert_eq!(info.multi_arch.as_deref(), Some("same"));
}

/// A deb cut at any offset, or with any byte flipped, is an error and
/// never a panic (SECURITY.md 14). Every offset of the headers, the whole
/// control member and the start of the data member; then a stride.
#[test]
fn truncated_or_flipped_htop_is_an_error() {
    let bytes = std::fs::read(cached_deb("htop")).expect("read");
    let offsets: Vec<usize> = (0..bytes.len()).filter(|&i| i < 2048 || i % 97 == 0).collect();
    for &cut in &offsets {
        let result = inspect(&bytes[..cut]);
        assert!(result.is_err(), "accepted when cut at {cut}");
    }
    for &at in &offsets {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0xff;
        let result = inspect(flipped.as_slice());
        assert!(result.is_err(), "accepted with byte {at} flipped");
    }
    inspect(bytes.as_slice()).expect("the intact package reads");
}

/// `tiny-{xz,gzip,zstd,none}.deb` in `dir`, built by dpkg-deb: a setuid
/// file, a hardlink to it, a symlink and a postinst.
fn build_tiny_debs(dir: &Path) {
    let root = dir.join("pkg");
    let script = format!(
        "mkdir -p {root}/DEBIAN {root}/usr/bin
         printf 'Package: tiny\\nVersion: 1.0-1\\nArchitecture: all\\nMaintainer: t <t@example.org>\\nDescription: t\\n' > {root}/DEBIAN/control
         printf '#!/bin/sh\\nexit 0\\n' > {root}/DEBIAN/postinst && chmod 755 {root}/DEBIAN/postinst
         printf 'hello\\n' > {root}/usr/bin/tiny && chmod 4755 {root}/usr/bin/tiny
         ln {root}/usr/bin/tiny {root}/usr/bin/tiny2 && ln -s tiny {root}/usr/bin/tiny3
         for z in xz gzip zstd none; do dpkg-deb --root-owner-group -Z$z --build {root} {dir}/tiny-$z.deb >/dev/null; done",
        root = root.display(),
        dir = dir.display()
    );
    sh(&script);
}

/// Random damage (flipped bytes, cuts, inserted and deleted runs) to the
/// tiny packages never panics, and damage to a compressed one never hands
/// out an entry the intact package does not have. A deterministic
/// stand-in for `cargo fuzz`.
#[test]
fn random_damage_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    build_tiny_debs(dir.path());
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        // xorshift64*: reproducible without a dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound.max(1)
    };
    for z in ["xz", "gzip", "zstd", "none"] {
        let bytes = std::fs::read(dir.path().join(format!("tiny-{z}.deb"))).expect("built");
        let intact = inspect(bytes.as_slice()).expect("intact");
        for _ in 0..3000 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + next(4) {
                let at = next(damaged.len());
                match next(4) {
                    0 => damaged[at] ^= 1 << next(8),
                    1 => damaged[at] = next(256) as u8,
                    2 => {
                        let end = (at + 1 + next(64)).min(damaged.len());
                        damaged.drain(at..end);
                    }
                    _ => {
                        let run: Vec<u8> = (0..1 + next(64)).map(|_| next(256) as u8).collect();
                        damaged.splice(at..at, run);
                    }
                }
                if damaged.is_empty() {
                    break;
                }
            }
            // Compressed data is checksummed, so damage there cannot pass
            // as other entries; plain tar has only its header checksums.
            if let (Ok(info), true) = (inspect(damaged.as_slice()), z != "none") {
                for f in &info.files {
                    assert!(intact.files.iter().any(|g| g.path == f.path), "{z}: invented {}", f.path);
                }
            }
        }
    }
}

/// The same for a tiny package built by dpkg-deb, at every single offset
/// and with every byte flipped.
#[test]
fn truncated_or_flipped_small_deb_is_an_error_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    build_tiny_debs(dir.path());
    for z in ["xz", "gzip", "zstd", "none"] {
        let bytes = std::fs::read(dir.path().join(format!("tiny-{z}.deb"))).expect("built");
        let info = inspect(bytes.as_slice()).unwrap_or_else(|e| panic!("{z}: {}", chain(&e)));
        let kinds: Vec<(&str, &str, &str)> =
            info.files.iter().map(|f| (f.path.as_str(), f.kind, f.mode.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("/", "dir", "0755"),
                ("/usr", "dir", "0755"),
                ("/usr/bin", "dir", "0755"),
                ("/usr/bin/tiny", "file", "4755"),
                ("/usr/bin/tiny2", "hardlink", "4755"),
                ("/usr/bin/tiny3", "symlink", "0777"),
            ],
            "{z}"
        );
        assert_eq!(info.files[4].link_target.as_deref(), Some("/usr/bin/tiny"));
        for cut in 0..bytes.len() {
            assert!(inspect(&bytes[..cut]).is_err(), "{z}: accepted when cut at {cut}");
        }
        // xz and zstd (as dpkg writes it) checksum everything. gzip leaves
        // its header's mtime, flags and OS bytes unchecked, and plain tar
        // has no checksum at all: a flip there may read without error, but
        // never with a panic. A deflate decoder may also take a flipped
        // Huffman table that decodes to the very same bytes (the pure-Rust
        // backend, which `cargo test -p pkgdb` builds, sometimes does; the
        // CRC then holds): accepted only if every member decompresses as
        // before.
        let mut accepted = Vec::new();
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0xff;
            if inspect(flipped.as_slice()).is_ok() {
                accepted.push(at);
            }
        }
        match z {
            "xz" | "zstd" => assert_eq!(accepted, Vec::<usize>::new(), "{z}: flips accepted"),
            "gzip" => {
                let intact = gunzipped_members(&bytes);
                for at in accepted {
                    let header = (4..10).any(|back| at >= back && bytes[at - back..].starts_with(&[0x1f, 0x8b, 8]));
                    let mut flipped = bytes.clone();
                    flipped[at] ^= 0xff;
                    let same = gunzipped_members(&flipped) == intact;
                    assert!(
                        header || same,
                        "gzip: accepted a flip at {at}, which changed what a member decompresses to"
                    );
                }
            }
            _ => {}
        }
    }
}

/// What each `.gz` member of a `.deb` decompresses to (`None` for one
/// that does not), read with the test's own ar walk.
fn gunzipped_members(deb: &[u8]) -> Vec<Option<Vec<u8>>> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut at = 8;
    while at + 60 <= deb.len() {
        let header = &deb[at..at + 60];
        let name = String::from_utf8_lossy(&header[..16]).trim_end().to_owned();
        let size: usize = String::from_utf8_lossy(&header[48..58]).trim().parse().unwrap_or(usize::MAX);
        let Some(member) = deb.get(at + 60..(at + 60).saturating_add(size)) else { break };
        if name.ends_with(".gz") {
            let mut data = Vec::new();
            out.push(flate2::read::MultiGzDecoder::new(member).read_to_end(&mut data).ok().map(|_| data));
        }
        at += 60 + size + size % 2;
    }
    out
}

/// Errors name the package, the member and the cause.
#[test]
fn error_messages_name_package_and_member() {
    let bytes = std::fs::read(cached_deb("htop")).expect("read");
    let cut = bytes.len() - 1000;
    let e: DebError = inspect(&bytes[..cut]).expect_err("truncated");
    let message = chain(&e);
    assert!(message.contains("`htop`") && message.contains("data.tar.xz"), "{message}");
}
