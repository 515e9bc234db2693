//! `.rpm` package trees: cached under `layer/pkg/rpm/...`, with the lead
//! and both headers in the commit's metadata, from which the rpmdb records
//! the package later without the package file.
//!
//! rpm names owners, it does not number them: a file owned by anyone but
//! root is stored with the reader's unmapped id (never root), and the
//! build maps the names through the image's own account files.

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use pkgdb::entry::Entry;
use pkgdb::rpm::{ReadOptions, RpmPackage, RpmReader};
use store::gvariant::Value;
use store::objects::Commit;
use store::repo::Repo;

use super::{
    Format, Imported, Importer, KEY_FORMAT, PackageFile, PackageTree, RpmMeta, TreeSink, import_all, open_file,
};
use crate::error::{Error, Result};

const KEY_HEADERS: &str = "layer.pkg.rpm-headers";

/// Imports every `.rpm` of `files` not cached yet, in parallel and in one
/// transaction, and returns all their trees in the order given.
pub fn import_rpms(repo: &Repo, files: &[PackageFile<'_>]) -> Result<Vec<PackageTree>> {
    import_all::<Rpm>(repo, files)
}

/// `[EPOCH:]VERSION-RELEASE`, the epoch shown when it is not 0, as dnf
/// shows versions.
pub fn evr(package: &RpmPackage) -> String {
    match package.epoch {
        Some(epoch) if epoch != 0 => format!("{epoch}:{}-{}", package.version, package.release),
        _ => format!("{}-{}", package.version, package.release),
    }
}

/// The ref of an `.rpm`'s tree.
pub fn reference(package: &RpmPackage) -> String {
    super::reference("rpm", &package.name, &evr(package), &package.arch)
}

/// Keeps a copy of what is read until it is taken: the lead and headers.
struct Recorder<R> {
    inner: R,
    copy: Rc<RefCell<Option<Vec<u8>>>>,
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(copy) = self.copy.borrow_mut().as_mut() {
            copy.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

struct Rpm {
    reader: RpmReader<Recorder<std::io::BufReader<std::fs::File>>>,
    headers: Vec<u8>,
}

impl Importer for Rpm {
    fn open(path: &Path) -> Result<Rpm> {
        let copy = Rc::new(RefCell::new(Some(Vec::with_capacity(64 << 10))));
        let recorder = Recorder { inner: open_file(path)?, copy: copy.clone() };
        let reader = RpmReader::new(recorder)
            .map_err(|source| Error::Package { package: path.display().to_string(), source: source.into() })?;
        let headers = copy.borrow_mut().take().unwrap_or_default();
        Ok(Rpm { reader, headers })
    }

    fn reference(&self) -> String {
        reference(self.reader.package())
    }

    fn import(self, path: &Path, sink: &mut TreeSink<'_, '_>) -> Result<Imported> {
        let package = self.reader.package().clone();
        if package.source_package {
            return Err(Error::Package {
                package: path.display().to_string(),
                source: format!("`{}` is a source package, which is never installed", package.nevra()).into(),
            });
        }
        self.reader
            .for_each_entry(&ReadOptions::default(), |entry: &Entry, content: &mut dyn Read| sink.add(entry, content))
            .map_err(|source| Error::Package { package: path.display().to_string(), source: source.into() })?;
        let metadata = vec![
            (KEY_FORMAT.to_owned(), Value::String("rpm".into())),
            (KEY_HEADERS.to_owned(), Value::Bytes(self.headers.clone())),
        ];
        let subject = package.nevra();
        Ok(Imported { format: Format::Rpm(RpmMeta { package, headers: self.headers }), metadata, subject })
    }
}

/// The headers of a cached `.rpm` tree, read and checked again.
pub(super) fn load_meta(reference: &str, object: &Commit) -> Result<RpmMeta> {
    let headers = object.metadata_value(KEY_HEADERS).and_then(Value::as_bytes).ok_or_else(|| {
        Error::BadPackageTree { reference: reference.to_owned(), reason: "no rpm headers".to_owned() }
    })?;
    let package = pkgdb::rpm::read_header(headers)
        .map_err(|source| Error::Package { package: reference.to_owned(), source: source.into() })?;
    Ok(RpmMeta { package, headers: headers.to_vec() })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use sha2::Digest;
    use store::repo::{Repo, RepoMode};

    use super::*;
    use crate::package_tree::PackageFile;

    /// Every rpm of `../shared/fixtures/rpms` (real distribution packages
    /// and rpm's own format samples) imports, and its checked-out tree
    /// holds what the real `rpm -qp` lists: each non-ghost file with its
    /// type, mode, owner (root, or the unmapped id), symlink target and
    /// sha256 digest.
    #[test]
    fn every_fixture_imports_as_rpm_lists_it() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/rpms");
        let mut rpms: Vec<std::path::PathBuf> = ["formats", "real"]
            .iter()
            .flat_map(|d| std::fs::read_dir(fixtures.join(d)).expect("fixtures").map(|e| e.expect("entry").path()))
            .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
            .collect();
        rpms.sort();
        assert!(rpms.len() >= 28, "the fixtures are there: {}", rpms.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::init(&dir.path().join("repo"), RepoMode::Bare).expect("repo");
        for (i, rpm) in rpms.iter().enumerate() {
            let sha256: String =
                sha2::Sha256::digest(std::fs::read(rpm).expect("read")).iter().map(|b| format!("{b:02x}")).collect();
            let trees = import_rpms(&repo, &[PackageFile { path: rpm, sha256: &sha256 }])
                .unwrap_or_else(|e| panic!("{} imports: {e:?}", rpm.display()));
            let root = dir.path().join(format!("checkout-{i}"));
            repo.checkout(&trees[0].commit, &root, &Default::default()).expect("checkout");
            let listed = std::process::Command::new("rpm")
                .args(["-qp", "--nosignature", "--qf"])
                .arg("[%{FILENAMES}\\t%{FILEMODES:octal}\\t%{FILEDIGESTS}\\t%{FILELINKTOS}\\t%{FILEFLAGS:fflags}\\t%{FILEUSERNAME}\\n]")
                .arg(rpm)
                .output()
                .expect("rpm");
            assert!(listed.status.success(), "rpm -qp {}", rpm.display());
            let mut checked = 0;
            for line in String::from_utf8_lossy(&listed.stdout).lines() {
                let fields: Vec<&str> = line.split('\t').collect();
                let [path, mode, digest, target, flags, user] = fields[..] else { panic!("{line}") };
                if flags.contains('g') {
                    continue;
                }
                let here = root.join(path.trim_start_matches('/'));
                let meta =
                    std::fs::symlink_metadata(&here).unwrap_or_else(|e| panic!("{}: {path}: {e}", rpm.display()));
                let mode = u32::from_str_radix(mode, 8).expect("mode");
                assert_eq!(meta.mode(), mode, "{}: {path}: mode", rpm.display());
                let uid = if user == "root" { 0 } else { pkgdb::rpm::UNMAPPED_ID };
                assert_eq!(meta.uid(), uid, "{}: {path}: owner {user}", rpm.display());
                if meta.file_type().is_symlink() {
                    assert_eq!(std::fs::read_link(&here).expect("link").to_str(), Some(target), "{path}");
                } else if meta.is_file() && digest.len() == 64 {
                    let actual: String = sha2::Sha256::digest(std::fs::read(&here).expect("read"))
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    assert_eq!(actual, digest, "{}: {path}: content", rpm.display());
                }
                checked += 1;
            }
            assert!(checked > 0 || trees[0].rpm().expect("rpm").package.files.is_empty(), "{}", rpm.display());
        }
    }
}
