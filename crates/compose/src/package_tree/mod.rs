//! Each package as its own tree commit, cached under a `layer/pkg/...` ref
//! (DESIGN.md, step 4). The tree is the payload as shipped: where its paths
//! land in an image (`/etc` to `/usr/etc`, `bin` through a merged-/usr
//! link) depends on the base, so that is decided when trees are assembled.
//! The commit's metadata keeps what assembly and the package database
//! need without the package file: its sha256, and for a `.deb` the control
//! archive's files and the payload's paths in archive order ([`deb`]), for
//! an `.rpm` its lead and headers ([`rpm`]).

pub mod deb;
pub mod rpm;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use pkgdb::deb::ControlInfo;
use pkgdb::entry::{Entry, EntryKind};
use pkgdb::rpm::RpmPackage;
use rayon::prelude::*;
use store::commit::{CommitOptions, write_commit};
use store::gvariant::Value;
use store::mtree::{MutableTree, Node, Subdir};
use store::objects::{Checksum, ContentHasher, DirMeta, FileMeta, ObjectType, Xattrs};
use store::repo::Repo;
use store::transaction::{Content, Transaction};

use crate::error::{Error, Result};

pub use deb::import_debs;
pub use rpm::import_rpms;

const KEY_FORMAT: &str = "layer.pkg.format";
const KEY_SHA256: &str = "layer.pkg.sha256";

/// A package imported into the store.
#[derive(Debug, Clone)]
pub struct PackageTree {
    pub reference: String,
    pub commit: Checksum,
    /// The payload's root: (dirtree, dirmeta).
    pub root: (Checksum, Checksum),
    /// The sha256 of the package file.
    pub sha256: String,
    pub format: Format,
}

/// What a package tree knows of its package besides the payload.
#[derive(Debug, Clone)]
pub enum Format {
    Deb(DebMeta),
    Rpm(RpmMeta),
}

/// A `.deb`'s control information.
#[derive(Debug, Clone)]
pub struct DebMeta {
    pub control: ControlInfo,
    /// The control archive's files as shipped.
    pub control_files: BTreeMap<String, Vec<u8>>,
    /// Every payload path in archive order, as dpkg lists them: `/.`, then
    /// `/usr`, `/usr/bin`, ...
    pub paths: Vec<String>,
}

/// An `.rpm`'s headers.
#[derive(Debug, Clone)]
pub struct RpmMeta {
    pub package: RpmPackage,
    /// The lead and both headers as in the package file, from which the
    /// rpmdb records the package ([`pkgdb::rpmdb::PackageHeaders`]).
    pub headers: Vec<u8>,
}

impl PackageTree {
    pub fn name(&self) -> &str {
        match &self.format {
            Format::Deb(deb) => &deb.control.package,
            Format::Rpm(rpm) => &rpm.package.name,
        }
    }

    /// The version as the package's own tools write it: Debian's, or rpm's
    /// `[EPOCH:]VERSION-RELEASE`.
    pub fn version(&self) -> String {
        match &self.format {
            Format::Deb(deb) => deb.control.version.clone(),
            Format::Rpm(rpm) => rpm::evr(&rpm.package),
        }
    }

    pub fn architecture(&self) -> &str {
        match &self.format {
            Format::Deb(deb) => &deb.control.architecture,
            Format::Rpm(rpm) => &rpm.package.arch,
        }
    }

    /// `name version (arch)`, as the user reads it.
    pub fn display(&self) -> String {
        format!("{} {} ({})", self.name(), self.version(), self.architecture())
    }

    pub fn deb(&self) -> Option<&DebMeta> {
        match &self.format {
            Format::Deb(deb) => Some(deb),
            Format::Rpm(_) => None,
        }
    }

    /// The `.deb` metadata, or an error saying the package is not a `.deb`.
    pub fn deb_meta(&self) -> Result<&DebMeta> {
        self.deb().ok_or_else(|| Error::WrongFormat {
            package: self.display(),
            format: "an rpm",
            database: "a dpkg database",
        })
    }

    /// The `.rpm` metadata, or an error saying the package is not an `.rpm`.
    pub fn rpm_meta(&self) -> Result<&RpmMeta> {
        self.rpm().ok_or_else(|| Error::WrongFormat {
            package: self.display(),
            format: "a Debian",
            database: "an rpm database",
        })
    }

    pub fn rpm(&self) -> Option<&RpmMeta> {
        match &self.format {
            Format::Rpm(rpm) => Some(rpm),
            Format::Deb(_) => None,
        }
    }
}

/// The ref a package tree is cached under:
/// `layer/pkg/FORMAT/NAME/VERSION_ARCH`, escaped as rpm-ostree escapes
/// (`_` doubles, other characters a ref can't hold become `_XX`).
pub fn reference(format: &str, name: &str, version: &str, architecture: &str) -> String {
    format!("layer/pkg/{format}/{}/{}_{}", escape(name), escape(version), escape(architecture))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, byte) in text.bytes().enumerate() {
        match byte {
            b'_' => out.push_str("__"),
            b'.' | b'-' if i > 0 => out.push(byte as char),
            b if b.is_ascii_alphanumeric() => out.push(b as char),
            b => out.push_str(&format!("_{b:02X}")),
        }
    }
    out
}

/// A package file to import: where it is and its verified sha256.
#[derive(Debug, Clone)]
pub struct PackageFile<'a> {
    pub path: &'a Path,
    pub sha256: &'a str,
}

/// Reads a cached package tree back from its commit.
pub fn load(repo: &Repo, reference: &str, commit: &Checksum) -> Result<PackageTree> {
    let bad = |reason: &str| Error::BadPackageTree { reference: reference.to_owned(), reason: reason.to_owned() };
    let object = repo.read_commit(commit).map_err(Error::store("reading a package commit"))?;
    let sha256 = object.metadata_value(KEY_SHA256).and_then(Value::as_str).ok_or_else(|| bad("no sha256"))?.to_owned();
    let format = match object.metadata_value(KEY_FORMAT).and_then(Value::as_str) {
        Some("deb") => Format::Deb(deb::load_meta(reference, &object)?),
        Some("rpm") => Format::Rpm(rpm::load_meta(reference, &object)?),
        _ => return Err(bad("it is not a package tree")),
    };
    Ok(PackageTree {
        reference: reference.to_owned(),
        commit: *commit,
        root: (object.root_tree, object.root_meta),
        sha256,
        format,
    })
}

/// What one import reads from a package file before its payload: the ref
/// it is cached under, and a way to stream its entries.
trait Importer: Sized {
    fn open(path: &Path) -> Result<Self>;
    fn reference(&self) -> String;
    /// Streams the payload into `sink`, then returns what the format adds.
    fn import(self, path: &Path, sink: &mut TreeSink<'_, '_>) -> Result<Imported>;
}

/// What a format's import adds to the payload's tree.
struct Imported {
    format: Format,
    /// Commit metadata of the format's own.
    metadata: Vec<(String, Value)>,
    subject: String,
}

/// Imports every package of `files` not cached yet, in parallel and in one
/// transaction, and returns all their trees in the order given.
fn import_all<I: Importer>(repo: &Repo, files: &[PackageFile<'_>]) -> Result<Vec<PackageTree>> {
    let mut out: Vec<Option<PackageTree>> = Vec::with_capacity(files.len());
    let mut missing = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let reference = I::open(file.path)?.reference();
        let cached = match repo.refs().read(&reference).map_err(Error::store("reading a package ref"))? {
            Some(commit) => Some(load(repo, &reference, &commit)?).filter(|t| t.sha256 == file.sha256),
            None => None,
        };
        if cached.is_none() {
            missing.push(i);
        }
        out.push(cached);
    }
    if !missing.is_empty() {
        let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
        let imported: Vec<(usize, PackageTree)> = missing
            .par_iter()
            .map(|&i| import_one::<I>(repo, &tx, &files[i]).map(|tree| (i, tree)))
            .collect::<Result<_>>()?;
        let refs: Vec<(&str, Option<Checksum>)> =
            imported.iter().map(|(_, t)| (t.reference.as_str(), Some(t.commit))).collect();
        tx.commit(&refs).map_err(Error::store("publishing package trees"))?;
        for (i, tree) in imported {
            out[i] = Some(tree);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

fn import_one<I: Importer>(repo: &Repo, tx: &Transaction<'_>, file: &PackageFile<'_>) -> Result<PackageTree> {
    let importer = I::open(file.path)?;
    let reference = importer.reference();
    let default_dir = write_dirmeta(tx, &DirMeta { uid: 0, gid: 0, mode: 0o040755, xattrs: Xattrs::default() })?;
    let mut sink = TreeSink {
        repo,
        tx,
        reference: &reference,
        tree: MutableTree::empty(default_dir),
        default_dir,
        files: BTreeMap::new(),
    };
    let Imported { format, mut metadata, subject } = importer.import(file.path, &mut sink)?;
    metadata.push((KEY_SHA256.to_owned(), Value::String(file.sha256.to_owned())));
    let options = CommitOptions { subject, metadata, timestamp: Some(0), ..Default::default() };
    let tree = sink.tree;
    let root = tree.write(tx).map_err(Error::store("writing a package tree"))?;
    let commit = write_commit(tx, &tree, None, &options).map_err(Error::store("writing a package commit"))?;
    Ok(PackageTree { reference, commit, root, sha256: file.sha256.to_owned(), format })
}

/// Builds a package's tree from its validated entries.
struct TreeSink<'a, 't> {
    repo: &'a Repo,
    tx: &'a Transaction<'t>,
    reference: &'a str,
    tree: MutableTree,
    default_dir: Checksum,
    /// Regular files so far, for hardlinks to them.
    files: BTreeMap<String, Checksum>,
}

impl TreeSink<'_, '_> {
    fn add(&mut self, entry: &Entry, content: &mut dyn Read) -> Result<()> {
        let (repo, tx, default_dir) = (self.repo, self.tx, self.default_dir);
        let path = entry.path.as_str().to_owned();
        let xattrs = Xattrs::new(entry.xattrs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect());
        let tree_error = |e| Error::store("building a package tree")(e);
        match &entry.kind {
            EntryKind::Dir => {
                let meta = DirMeta { uid: entry.uid, gid: entry.gid, mode: 0o040000 | entry.mode, xattrs };
                let meta = write_dirmeta(tx, &meta)?;
                if entry.path.is_root() {
                    self.tree.meta = Some(meta);
                } else if let Some(dir) = self.tree.dir_at_mut(repo, &path).map_err(tree_error)? {
                    dir.meta = Some(meta);
                } else {
                    let node = Node::Dir(Subdir::Built(MutableTree::empty(meta)));
                    self.tree.insert_at(repo, &path, node, default_dir).map_err(tree_error)?;
                }
            }
            EntryKind::File { .. } => {
                let meta = FileMeta {
                    uid: entry.uid,
                    gid: entry.gid,
                    mode: 0o100000 | entry.mode,
                    symlink_target: String::new(),
                    xattrs,
                };
                let checksum =
                    tx.write_content_stream(&meta, content, None).map_err(Error::store("writing a package file"))?;
                self.files.insert(path.clone(), checksum);
                self.tree.insert_at(repo, &path, Node::File(checksum), default_dir).map_err(tree_error)?;
            }
            EntryKind::Symlink { target } => {
                let meta =
                    FileMeta { uid: entry.uid, gid: entry.gid, mode: 0o120777, symlink_target: target.clone(), xattrs };
                let checksum = ContentHasher::new(&meta).finish();
                tx.write_content_trusted(&checksum, &meta, Content::Symlink)
                    .map_err(Error::store("writing a package symlink"))?;
                self.tree.insert_at(repo, &path, Node::File(checksum), default_dir).map_err(tree_error)?;
            }
            EntryKind::Hardlink { target } => {
                // The validator has checked that the target is an earlier
                // regular file of this payload.
                let checksum = self.files.get(target.as_str()).copied().ok_or_else(|| Error::BadPackageTree {
                    reference: self.reference.to_owned(),
                    reason: format!("the hardlink `{path}` names `{}`, which is not a file", target.as_str()),
                })?;
                self.tree.insert_at(repo, &path, Node::File(checksum), default_dir).map_err(tree_error)?;
            }
        }
        Ok(())
    }
}

fn write_dirmeta(tx: &Transaction<'_>, meta: &DirMeta) -> Result<Checksum> {
    tx.write_metadata(ObjectType::DirMeta, &meta.serialize()).map_err(Error::store("writing a package directory"))
}

fn open_file(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    let file = std::fs::File::open(path)
        .map_err(|source| Error::Io { what: format!("opening `{}`", path.display()), source })?;
    Ok(std::io::BufReader::new(file))
}
