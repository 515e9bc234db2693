//! Each package as its own tree commit, cached under a `layer/pkg/...` ref
//! (DESIGN.md, step 4). The tree is the payload as shipped: where its paths
//! land in an image (`/etc` to `/usr/etc`, `bin` through a merged-/usr
//! link) depends on the base, so that is decided when trees are assembled.
//! The commit's metadata keeps what assembly and the package database
//! need without the package file: its sha256, the control archive's files,
//! and the payload's paths in archive order.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use pkgdb::deb::{ControlInfo, DebOptions, DebReader};
use pkgdb::entry::{Entry, EntryKind};
use rayon::prelude::*;
use store::commit::{CommitOptions, write_commit};
use store::gvariant::{Type, Value};
use store::mtree::{MutableTree, Node, Subdir};
use store::objects::{Checksum, ContentHasher, DirMeta, FileMeta, ObjectType, Xattrs};
use store::repo::Repo;
use store::transaction::{Content, Transaction};

use crate::error::{Error, Result};

const KEY_FORMAT: &str = "layer.pkg.format";
const KEY_SHA256: &str = "layer.pkg.sha256";
const KEY_CONTROL: &str = "layer.pkg.control";
const KEY_PATHS: &str = "layer.pkg.paths";

/// A package imported into the store.
#[derive(Debug, Clone)]
pub struct PackageTree {
    pub reference: String,
    pub commit: Checksum,
    /// The payload's root: (dirtree, dirmeta).
    pub root: (Checksum, Checksum),
    /// The sha256 of the package file.
    pub sha256: String,
    pub control: ControlInfo,
    /// The control archive's files as shipped.
    pub control_files: BTreeMap<String, Vec<u8>>,
    /// Every payload path in archive order, as dpkg lists them: `/.`, then
    /// `/usr`, `/usr/bin`, ...
    pub paths: Vec<String>,
}

impl PackageTree {
    pub fn name(&self) -> &str {
        &self.control.package
    }

    pub fn version(&self) -> &str {
        &self.control.version
    }

    /// `name version arch`, as the user reads it.
    pub fn display(&self) -> String {
        format!("{} {} ({})", self.control.package, self.control.version, self.control.architecture)
    }
}

/// The ref a package tree is cached under:
/// `layer/pkg/deb/NAME/VERSION_ARCH`, escaped as rpm-ostree escapes
/// (`_` doubles, other characters a ref can't hold become `_XX`).
pub fn reference(name: &str, version: &str, architecture: &str) -> String {
    format!("layer/pkg/deb/{}/{}_{}", escape(name), escape(version), escape(architecture))
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

/// Imports every package of `files` not cached yet, in parallel and in one
/// transaction, and returns all their trees in the order given.
pub fn import_debs(repo: &Repo, files: &[PackageFile<'_>]) -> Result<Vec<PackageTree>> {
    let mut out: Vec<Option<PackageTree>> = Vec::with_capacity(files.len());
    let mut missing = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let reader = open(file.path)?;
        let control = reader.control();
        let reference = reference(&control.package, &control.version, &control.architecture);
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
            .map(|&i| import_one(repo, &tx, &files[i]).map(|tree| (i, tree)))
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

fn open(path: &Path) -> Result<DebReader<std::io::BufReader<std::fs::File>>> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| Error::Io { what: format!("opening `{shown}`"), source })?;
    DebReader::new(std::io::BufReader::new(file), DebOptions::default())
        .map_err(|source| Error::Package { package: shown, source: source.into() })
}

fn import_one(repo: &Repo, tx: &Transaction<'_>, file: &PackageFile<'_>) -> Result<PackageTree> {
    let reader = open(file.path)?;
    let control = reader.control().clone();
    let control_files = reader.control_files().clone();
    let reference = reference(&control.package, &control.version, &control.architecture);
    let default_dir = write_dirmeta(tx, &DirMeta { uid: 0, gid: 0, mode: 0o040755, xattrs: Xattrs::default() })?;
    let mut tree = MutableTree::empty(default_dir);
    let mut paths = Vec::new();
    let mut files: BTreeMap<String, Checksum> = BTreeMap::new();
    reader
        .for_each_entry(|entry: &Entry, content: &mut dyn Read| -> Result<()> {
            let path = entry.path.as_str().to_owned();
            paths.push(if entry.path.is_root() { "/.".to_owned() } else { format!("/{path}") });
            let xattrs = Xattrs::new(entry.xattrs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect());
            match &entry.kind {
                EntryKind::Dir => {
                    let meta = DirMeta { uid: entry.uid, gid: entry.gid, mode: 0o040000 | entry.mode, xattrs };
                    let meta = write_dirmeta(tx, &meta)?;
                    if entry.path.is_root() {
                        tree.meta = Some(meta);
                    } else if let Some(dir) =
                        tree.dir_at_mut(repo, &path).map_err(Error::store("building a package tree"))?
                    {
                        dir.meta = Some(meta);
                    } else {
                        let node = Node::Dir(Subdir::Built(MutableTree::empty(meta)));
                        tree.insert_at(repo, &path, node, default_dir)
                            .map_err(Error::store("building a package tree"))?;
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
                    let checksum = tx
                        .write_content_stream(&meta, content, None)
                        .map_err(Error::store("writing a package file"))?;
                    files.insert(path.clone(), checksum);
                    tree.insert_at(repo, &path, Node::File(checksum), default_dir)
                        .map_err(Error::store("building a package tree"))?;
                }
                EntryKind::Symlink { target } => {
                    let meta = FileMeta {
                        uid: entry.uid,
                        gid: entry.gid,
                        mode: 0o120777,
                        symlink_target: target.clone(),
                        xattrs,
                    };
                    let checksum = ContentHasher::new(&meta).finish();
                    tx.write_content_trusted(&checksum, &meta, Content::Symlink)
                        .map_err(Error::store("writing a package symlink"))?;
                    tree.insert_at(repo, &path, Node::File(checksum), default_dir)
                        .map_err(Error::store("building a package tree"))?;
                }
                EntryKind::Hardlink { target } => {
                    // The validator has checked that the target is an earlier
                    // regular file of this payload.
                    let checksum = files.get(target.as_str()).copied().ok_or_else(|| Error::BadPackageTree {
                        reference: reference.clone(),
                        reason: format!("the hardlink `{path}` names `{}`, which is not a file", target.as_str()),
                    })?;
                    tree.insert_at(repo, &path, Node::File(checksum), default_dir)
                        .map_err(Error::store("building a package tree"))?;
                }
            }
            Ok(())
        })
        .map_err(|source| Error::Package { package: file.path.display().to_string(), source: source.into() })?;

    let metadata = vec![
        (KEY_FORMAT.to_owned(), Value::String("deb".into())),
        (KEY_SHA256.to_owned(), Value::String(file.sha256.to_owned())),
        (KEY_CONTROL.to_owned(), control_value(&control_files)),
        (KEY_PATHS.to_owned(), Value::Array(Type::String, paths.iter().cloned().map(Value::String).collect())),
    ];
    let options = CommitOptions {
        subject: format!("{} {} ({})", control.package, control.version, control.architecture),
        metadata,
        timestamp: Some(0),
        ..Default::default()
    };
    let root = tree.write(tx).map_err(Error::store("writing a package tree"))?;
    let commit = write_commit(tx, &tree, None, &options).map_err(Error::store("writing a package commit"))?;
    Ok(PackageTree { reference, commit, root, sha256: file.sha256.to_owned(), control, control_files, paths })
}

fn write_dirmeta(tx: &Transaction<'_>, meta: &DirMeta) -> Result<Checksum> {
    tx.write_metadata(ObjectType::DirMeta, &meta.serialize()).map_err(Error::store("writing a package directory"))
}

fn control_value(files: &BTreeMap<String, Vec<u8>>) -> Value {
    let entry_type = Type::DictEntry(Box::new(Type::String), Box::new(Type::Array(Box::new(Type::Byte))));
    let items = files
        .iter()
        .map(|(name, data)| {
            Value::DictEntry(Box::new(Value::String(name.clone())), Box::new(Value::Bytes(data.clone())))
        })
        .collect();
    Value::Array(entry_type, items)
}

/// Reads a cached package tree back from its commit.
pub fn load(repo: &Repo, reference: &str, commit: &Checksum) -> Result<PackageTree> {
    let bad = |reason: &str| Error::BadPackageTree { reference: reference.to_owned(), reason: reason.to_owned() };
    let object = repo.read_commit(commit).map_err(Error::store("reading a package commit"))?;
    if object.metadata_value(KEY_FORMAT).and_then(Value::as_str) != Some("deb") {
        return Err(bad("it is not a deb package tree"));
    }
    let sha256 = object.metadata_value(KEY_SHA256).and_then(Value::as_str).ok_or_else(|| bad("no sha256"))?.to_owned();
    let Some(Value::Array(_, items)) = object.metadata_value(KEY_CONTROL) else { return Err(bad("no control files")) };
    let mut control_files = BTreeMap::new();
    for item in items {
        let Value::DictEntry(name, data) = item else { return Err(bad("malformed control files")) };
        let (Some(name), Some(data)) = (name.as_str(), data.as_bytes()) else {
            return Err(bad("malformed control files"));
        };
        control_files.insert(name.to_owned(), data.to_vec());
    }
    let Some(Value::Array(_, items)) = object.metadata_value(KEY_PATHS) else { return Err(bad("no path list")) };
    let paths = items.iter().map(|p| p.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>();
    let paths = paths.ok_or_else(|| bad("malformed path list"))?;
    let control = ControlInfo::from_files("control.tar".to_owned(), control_files.clone())
        .map_err(|source| Error::Package { package: reference.to_owned(), source: source.into() })?;
    Ok(PackageTree {
        reference: reference.to_owned(),
        commit: *commit,
        root: (object.root_tree, object.root_meta),
        sha256,
        control,
        control_files,
        paths,
    })
}
