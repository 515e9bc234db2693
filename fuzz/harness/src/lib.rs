//! The bodies of `layer`'s fuzz targets, in one place: the libFuzzer
//! binaries in `fuzz/fuzz_targets/` (nightly, `cargo fuzz`) and the stable
//! `fuzz-smoke` (CI) both call these and nothing else.
//!
//! A body feeds its input to the crates' public parsers and ignores their
//! errors: any panic (index out of range, overflow with debug assertions,
//! a failed round trip below) is a bug. Limits are set lower than the
//! defaults so a single input stays fast; the code paths are the same.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Every target, by the name of its libFuzzer binary and corpus directory.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("deb_reader", deb_reader),
    ("rpm_reader", rpm_reader),
    ("apt_indexes", apt_indexes),
    ("rpmmd_xml", rpmmd_xml),
    ("origin_treefile", origin_treefile),
    ("ostree_objects", ostree_objects),
];

/// A fixed "now" for freshness checks: 2026-01-01.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn drain(content: &mut dyn Read) -> io::Result<()> {
    io::copy(content, &mut io::sink()).map(|_| ())
}

/// A whole `.deb`: `debian-binary`, the control archive and its files,
/// then every `data.tar` entry through the validator, content included
/// (md5sums and the decompressors' checks run at the end).
pub fn deb_reader(data: &[u8]) {
    use pkgdb::deb::{DebOptions, DebReader, FileInfo, RelationField, Version};
    let options = DebOptions {
        max_entries: 10_000,
        min_data_size: 16 << 20,
        installed_size_factor: 4,
        max_data_size: 64 << 20,
        max_control_file_size: 1 << 20,
        max_control_size: 4 << 20,
    };
    let Ok(deb) = DebReader::new(data, options) else { return };
    let control = deb.control();
    for field in RelationField::ALL {
        let _ = control.relations(field);
    }
    if let Some(version) = control.field("Version") {
        let _ = Version::parse(version);
    }
    let _ = deb.for_each_entry(|entry, content| {
        let _ = FileInfo::from(entry);
        drain(content)
    });
}

/// An `.rpm`: lead, signature and main headers, then the cpio payload
/// against the header's file list; and `inspect`, which the CLI shows.
pub fn rpm_reader(data: &[u8]) {
    use pkgdb::rpm::{ReadOptions, RpmReader, inspect};
    let _ = inspect(data);
    let Ok(reader) = RpmReader::new(data) else { return };
    let _ = reader.package().nevra();
    let options = ReadOptions { max_entries: 10_000, max_unpacked_bytes: 64 << 20 };
    let _ = reader.for_each_entry(&options, |_, content| drain(content));
}

/// apt's metadata: the clearsigned `InRelease` check, a `Release`'s signed
/// text (and its freshness), a `Packages` index, and armored keys.
pub fn apt_indexes(data: &[u8]) {
    use pkgdb::apt::{Release, read_packages, verify};
    let _ = verify::require_single_clearsigned(data, "fuzz");
    if let Ok(release) = Release::parse(data, "fuzz") {
        let _ = release.file("main/binary-amd64/Packages.xz");
        let _ = release.require_fresh("fuzz", now(), None);
        let _ = release.require_fresh("fuzz", now(), Some(&release));
    }
    if let Ok(index) = read_packages(data, "fuzz") {
        for package in index.iter() {
            let _ = index.find(package.name).count();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pkgdb::apt::release::parse_date(text);
        let _ = verify::dearmor(text, "fuzz");
    }
}

/// rpm-md's `repomd.xml`, `primary.xml` and `filelists.xml`.
pub fn rpmmd_xml(data: &[u8]) {
    use pkgdb::rpmmd::{DepKind, Primary, Repomd, read_filelists};
    if let Ok(repomd) = Repomd::parse(data, "fuzz") {
        let _ = repomd.data("primary");
        let _ = repomd.timestamp();
        let _ = repomd.require_fresh("fuzz", now(), Some(&repomd));
    }
    if let Ok(primary) = Primary::parse(data, "fuzz") {
        for package in primary.iter() {
            let _ = package.nevra();
            let _ = package.sha256();
            let _ = package.wanted_file(&["https://example.org/repo/".to_owned()]);
            for kind in DepKind::ALL {
                for dep in package.deps(kind) {
                    let _ = dep.evr();
                    let _ = dep.rich();
                    let _ = primary.what_provides(dep.name).count();
                }
            }
            let _ = package.files().count();
        }
    }
    let _ = read_filelists(data, "fuzz", |entry| {
        let _ = entry.evr();
        let _ = entry.files().count();
        ControlFlow::Continue(())
    });
}

/// OSTree `.origin` files (GLib key files) and compose treefiles. A key
/// file that parses must be written back to text that parses to the same
/// groups, entries and comments (except that a last line ending in a lone
/// `\r` loses it, or comes back empty: harmless).
pub fn origin_treefile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(origin) = deploy::KeyFile::parse(text) {
        let _ = origin.get("origin", "refspec");
        let _ = origin.get_list("origin", "packages");
        let again = deploy::KeyFile::parse(&origin.to_text()).expect("a rewritten key file parses");
        let lines = |k: &deploy::KeyFile| -> Vec<String> {
            k.to_text().lines().filter(|l| !l.trim().is_empty()).map(|l| l.trim_end_matches('\r').to_owned()).collect()
        };
        assert_eq!(lines(&again), lines(&origin), "a key file does not survive a rewrite");
    }
    let env = |name: &str| (name == "basearch").then(|| "x86_64".to_owned());
    let _ = compose::treefile::Treefile::parse(text, Path::new("/fuzz/treefile.toml"), &env);
}

/// OSTree objects: commit, dirtree, dirmeta, and file headers, plus the
/// generic GVariant reader with a type string taken from the input (up to
/// its first NUL byte). An object that parses must serialize to bytes
/// that parse and serialize to the same bytes.
pub fn ostree_objects(data: &[u8]) {
    use store::gvariant::{Type, Value};
    use store::objects::{Commit, DirMeta, DirTree, FileMeta};
    if let Ok(commit) = Commit::parse(data) {
        let bytes = commit.serialize();
        let again = Commit::parse(&bytes).expect("a serialized commit parses");
        assert_eq!(again.serialize(), bytes, "a commit does not survive a round trip");
    }
    if let Ok(tree) = DirTree::parse(data) {
        let again = DirTree::parse(&tree.serialize()).expect("a serialized dirtree parses");
        assert_eq!(again, tree, "a dirtree does not survive a round trip");
    }
    if let Ok(meta) = DirMeta::parse(data) {
        let again = DirMeta::parse(&meta.serialize()).expect("a serialized dirmeta parses");
        assert_eq!(again, meta, "a dirmeta does not survive a round trip");
    }
    let _ = FileMeta::parse_archive_header(data);
    let _ = FileMeta::parse_bare_user_meta(data, "target".to_owned());
    if let Some(split) = data.iter().position(|&b| b == 0)
        && let Ok(signature) = std::str::from_utf8(&data[..split])
        && let Ok(ty) = Type::parse(signature)
        && let Ok(value) = Value::from_bytes(&ty, &data[split + 1..])
    {
        let bytes = value.to_bytes();
        let again = Value::from_bytes(&ty, &bytes).expect("a serialized value parses");
        assert_eq!(again.to_bytes(), bytes, "a value does not survive a round trip");
    }
}
