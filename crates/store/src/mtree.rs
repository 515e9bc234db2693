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
