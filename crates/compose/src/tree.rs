//! Paths inside a tree being assembled, resolved as if chrooted into it:
//! a directory symlink already in the tree (`bin -> usr/bin` on a merged-/usr
//! base) is followed inside the tree, `..` stops at the root, and an
//! absolute target starts again at the tree's root, like
//! `tar --keep-directory-symlink` in a chroot (SECURITY.md 8).

use std::collections::HashMap;

use store::mtree::{MutableTree, Node};
use store::objects::{Checksum, DirMeta, FileMeta, ObjectType};
use store::repo::Repo;
use store::transaction::{Content, Transaction};

use crate::error::{Error, Result};

/// Symlinks followed while resolving one path before giving up, as the
/// kernel's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// Looks up which content objects are symlinks, reading each at most once.
#[derive(Default)]
pub struct SymlinkCache {
    targets: HashMap<Checksum, Option<String>>,
}

impl SymlinkCache {
    /// The target, if the object `checksum` is a symlink.
    pub fn target(&mut self, tx: &Transaction<'_>, checksum: &Checksum) -> Result<Option<String>> {
        if let Some(known) = self.targets.get(checksum) {
            return Ok(known.clone());
        }
        let meta = tx.read_file_meta(checksum).map_err(Error::store("reading an object of the tree"))?;
        let target = meta.is_symlink().then(|| meta.symlink_target.clone());
        self.targets.insert(*checksum, target.clone());
        Ok(target)
    }
}

/// Where a path's parent lives in the tree.
pub enum Resolved {
    /// The canonical path of the directory (parts joined by `/`, empty for
    /// the root).
    Dir(String),
    /// A part is missing and `create` was not given.
    Missing,
}

/// Resolves the directory `path` (relative, `/`-separated) in `tree`,
/// following symlinks inside the tree. Missing directories are created
/// with the dirmeta `create`, when given. A regular file on the way, or a
/// symlink loop, is an error naming `shown`.
pub fn resolve_dir(
    tx: &Transaction<'_>,
    tree: &mut MutableTree,
    links: &mut SymlinkCache,
    path: &str,
    create: Option<Checksum>,
    shown: &str,
) -> Result<Resolved> {
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut current: Vec<String> = Vec::new();
    let mut hops = 0;
    let repo = tx.repo();
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                current.pop();
                continue;
            }
            _ => {}
        }
        let dir = dir_at(repo, tree, &current)?;
        if dir.dirs.contains_key(&part) {
            current.push(part);
            continue;
        }
        if let Some(checksum) = dir.files.get(&part).copied() {
            let Some(target) = links.target(tx, &checksum)? else {
                return Err(Error::NotADirectory { path: shown.to_owned(), part: join(&current, &part) });
            };
            hops += 1;
            if hops > MAX_SYMLINKS {
                return Err(Error::SymlinkLoop { path: shown.to_owned() });
            }
            if target.starts_with('/') {
                current.clear();
            }
            pending.extend(target.split('/').rev().map(str::to_owned));
            continue;
        }
        let Some(meta) = create else { return Ok(Resolved::Missing) };
        dir.insert(&part, Node::Dir(store::mtree::Subdir::Built(MutableTree::empty(meta))));
        current.push(part);
    }
    Ok(Resolved::Dir(current.join("/")))
}

fn join(parent: &[String], name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{}/{name}", parent.join("/")) }
}

/// The directory at canonical `parts`, loaded for editing.
fn dir_at<'t>(repo: &Repo, tree: &'t mut MutableTree, parts: &[String]) -> Result<&'t mut MutableTree> {
    tree.dir_at_mut(repo, &parts.join("/"))
        .map_err(Error::store("reading a directory of the tree"))?
        .ok_or_else(|| Error::NotADirectory { path: parts.join("/"), part: parts.join("/") })
}

/// The directory at canonical `path` (as [`resolve_dir`] returns it).
pub fn dir_at_path<'t>(repo: &Repo, tree: &'t mut MutableTree, path: &str) -> Result<&'t mut MutableTree> {
    let parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    dir_at(repo, tree, &parts)
}

/// Writes a dirmeta object for a root-owned directory of `mode`.
pub fn dir_meta(tx: &Transaction<'_>, mode: u32) -> Result<Checksum> {
    let meta = DirMeta { uid: 0, gid: 0, mode: 0o040000 | mode, xattrs: Default::default() };
    tx.write_metadata(ObjectType::DirMeta, &meta.serialize()).map_err(Error::store("writing a directory"))
}

/// Writes a root-owned regular file of `mode` holding `data`.
pub fn file_object(tx: &Transaction<'_>, mode: u32, data: &[u8]) -> Result<Checksum> {
    let meta =
        FileMeta { uid: 0, gid: 0, mode: 0o100000 | mode, symlink_target: String::new(), xattrs: Default::default() };
    let mut hasher = store::objects::ContentHasher::new(&meta);
    hasher.update(data);
    let checksum = hasher.finish();
    tx.write_content_trusted(&checksum, &meta, Content::Bytes(data)).map_err(Error::store("writing a file"))?;
    Ok(checksum)
}

/// Writes a root-owned symlink to `target`.
pub fn symlink_object(tx: &Transaction<'_>, target: &str) -> Result<Checksum> {
    let meta =
        FileMeta { uid: 0, gid: 0, mode: 0o120777, symlink_target: target.to_owned(), xattrs: Default::default() };
    let checksum = store::objects::ContentHasher::new(&meta).finish();
    tx.write_content_trusted(&checksum, &meta, Content::Symlink).map_err(Error::store("writing a symlink"))?;
    Ok(checksum)
}

/// Reads the regular file at canonical `path` of `tree`, if there is one.
pub fn read_file(tx: &Transaction<'_>, tree: &mut MutableTree, path: &str) -> Result<Option<Vec<u8>>> {
    let repo = tx.repo();
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let Some(dir) = tree.dir_at_mut(repo, parent).map_err(Error::store("reading a directory of the tree"))? else {
        return Ok(None);
    };
    let Some(checksum) = dir.files.get(name).copied() else { return Ok(None) };
    let mut object = tx.open_content(&checksum).map_err(Error::store("reading a file of the tree"))?;
    if !object.meta.is_regular() {
        return Ok(None);
    }
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut object.reader, &mut data)
        .map_err(|source| Error::Io { what: format!("reading `{path}` of the tree"), source })?;
    Ok(Some(data))
}
