//! A directory tree being built for a commit. Subtrees taken unchanged
//! from a stored commit stay as their checksums, so merging a small tree
//! onto a large one costs only the directories the small one touches.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::objects::{Checksum, DirTree, ObjectType};
use crate::repo::Repo;
use crate::transaction::Transaction;

#[derive(Debug, Clone)]
pub enum Subdir {
    /// An unchanged stored directory: (dirtree, dirmeta).
    Stored(Checksum, Checksum),
    Built(MutableTree),
}

/// One entry of a tree: a content object (file or symlink) or a directory.
#[derive(Debug, Clone)]
pub enum Node {
    File(Checksum),
    Dir(Subdir),
}

#[derive(Debug, Clone, Default)]
pub struct MutableTree {
    /// Checksum of this directory's dirmeta object.
    pub meta: Option<Checksum>,
    pub files: BTreeMap<String, Checksum>,
    pub dirs: BTreeMap<String, Subdir>,
}

impl MutableTree {
    /// A tree that starts as the stored directory `(tree, meta)`.
    pub fn from_stored(repo: &Repo, tree: &Checksum, meta: &Checksum) -> Result<MutableTree> {
        let stored = repo.read_dirtree(tree)?;
        Ok(MutableTree {
            meta: Some(*meta),
            files: stored.files.into_iter().collect(),
            dirs: stored.dirs.into_iter().map(|(n, t, m)| (n, Subdir::Stored(t, m))).collect(),
        })
    }

    /// An empty directory with the dirmeta object `meta`.
    pub fn empty(meta: Checksum) -> MutableTree {
        MutableTree { meta: Some(meta), ..Default::default() }
    }

    /// Takes the entry `name` out of this directory.
    pub fn remove(&mut self, name: &str) -> Option<Node> {
        if let Some(c) = self.files.remove(name) {
            return Some(Node::File(c));
        }
        self.dirs.remove(name).map(Node::Dir)
    }

    /// Puts `node` at `name`, replacing whatever was there.
    pub fn insert(&mut self, name: &str, node: Node) {
        self.remove(name);
        match node {
            Node::File(c) => {
                self.files.insert(name.to_owned(), c);
            }
            Node::Dir(d) => {
                self.dirs.insert(name.to_owned(), d);
            }
        }
    }

    /// The directory at `path` (`a/b/c`, no symlinks followed), loaded for
    /// editing; `None` if a part is missing or not a directory.
    pub fn dir_at_mut(&mut self, repo: &Repo, path: &str) -> Result<Option<&mut MutableTree>> {
        let mut dir = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            match dir.dir_mut(repo, part)? {
                Some(sub) => dir = sub,
                None => return Ok(None),
            }
        }
        Ok(Some(dir))
    }

    /// Takes the entry at `path` out of the tree.
    pub fn take_at(&mut self, repo: &Repo, path: &str) -> Result<Option<Node>> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        Ok(self.dir_at_mut(repo, parent)?.and_then(|dir| dir.remove(name)))
    }

    /// Puts `node` at `path`, creating missing parent directories with the
    /// dirmeta `parent_meta`. Fails if a parent exists and is not a
    /// directory.
    pub fn insert_at(&mut self, repo: &Repo, path: &str, node: Node, parent_meta: Checksum) -> Result<()> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mut dir = self;
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            if dir.files.contains_key(part) {
                return Err(crate::error::Error::Unsupported {
                    path: path.into(),
                    reason: format!("`{part}` on the way is not a directory"),
                });
            }
            if !dir.dirs.contains_key(part) {
                dir.dirs.insert(part.to_owned(), Subdir::Built(MutableTree::empty(parent_meta)));
            }
            dir = dir.dir_mut(repo, part)?.ok_or_else(|| crate::error::Error::Unsupported {
                path: path.into(),
                reason: "a parent directory vanished".into(),
            })?;
        }
        dir.insert(name, node);
        Ok(())
    }

    /// The subdirectory `name`, loaded for editing.
    pub fn dir_mut(&mut self, repo: &Repo, name: &str) -> Result<Option<&mut MutableTree>> {
        let Some(sub) = self.dirs.get_mut(name) else { return Ok(None) };
        if let Subdir::Stored(t, m) = sub {
            *sub = Subdir::Built(MutableTree::from_stored(repo, t, m)?);
        }
        match sub {
            Subdir::Built(tree) => Ok(Some(tree)),
            Subdir::Stored(..) => unreachable!("converted above"),
        }
    }

    /// Writes every built directory's dirtree; returns this directory's
    /// (dirtree, dirmeta) checksums.
    pub fn write(&self, tx: &Transaction<'_>) -> Result<(Checksum, Checksum)> {
        let mut tree = DirTree {
            files: self.files.iter().map(|(n, c)| (n.clone(), *c)).collect(),
            dirs: Vec::with_capacity(self.dirs.len()),
        };
        for (name, sub) in &self.dirs {
            let (t, m) = match sub {
                Subdir::Stored(t, m) => (*t, *m),
                Subdir::Built(b) => b.write(tx)?,
            };
            tree.dirs.push((name.clone(), t, m));
        }
        let meta = self.meta.ok_or_else(|| crate::error::Error::Unsupported {
            path: "tree".into(),
            reason: "a directory has no metadata".into(),
        })?;
        let checksum = tx.write_metadata(ObjectType::DirTree, &tree.serialize())?;
        Ok((checksum, meta))
    }
}
