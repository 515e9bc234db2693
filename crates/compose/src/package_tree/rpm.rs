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
