//! Reading a commit's tree by path: lookup and recursive listing, for
//! `ls` and `cat`, and the traversal that diff, fsck and prune share.

use crate::error::{Error, Result};
use crate::objects::{Checksum, DirMeta, FileMeta};
use crate::repo::Repo;

/// One node of a committed tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Dir { tree: Checksum, meta: Checksum },
    File(Checksum),
}

/// A listed entry with its metadata.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir { tree: Checksum, meta_checksum: Checksum, meta: DirMeta },
    File { checksum: Checksum, meta: FileMeta, size: u64 },
}

impl Repo {
    /// Finds `path` (absolute or relative, `/` separated) in a commit.
    pub fn lookup(&self, commit: &Checksum, path: &str) -> Result<Node> {
        let commit = self.read_commit(commit)?;
        let mut node = Node::Dir { tree: commit.root_tree, meta: commit.root_meta };
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            let Node::Dir { tree, .. } = node else {
                return Err(Error::NoSuchPath { path: path.into() });
            };
            let tree = self.read_dirtree(&tree)?;
            node = if let Some((_, c)) = tree.files.iter().find(|(n, _)| n == part) {
                Node::File(*c)
            } else if let Some((_, t, m)) = tree.dirs.iter().find(|(n, _, _)| n == part) {
                Node::Dir { tree: *t, meta: *m }
            } else {
                return Err(Error::NoSuchPath { path: path.into() });
            };
        }
        Ok(node)
    }

    pub fn entry(&self, node: &Node) -> Result<Entry> {
        Ok(match node {
            Node::Dir { tree, meta } => {
                Entry::Dir { tree: *tree, meta_checksum: *meta, meta: self.read_dirmeta(meta)? }
            }
            Node::File(c) => {
                let content = self.open_content(c)?;
                Entry::File { checksum: *c, meta: content.meta, size: content.size }
            }
        })
    }

    /// Visits `node` at `path` and, when `recursive`, everything below it,
    /// in sorted order (files of a directory before its subdirectories, as
    /// ostree lists them).
    pub fn list(&self, node: &Node, path: &str, recursive: bool, f: &mut dyn FnMut(&str, &Entry)) -> Result<()> {
        let entry = self.entry(node)?;
        f(path, &entry);
        let Node::Dir { tree, .. } = node else { return Ok(()) };
        let tree = self.read_dirtree(tree)?;
        let join = |name: &str| if path.ends_with('/') { format!("{path}{name}") } else { format!("{path}/{name}") };
        for (name, c) in &tree.files {
            f(&join(name), &self.entry(&Node::File(*c))?);
        }
        for (name, t, m) in &tree.dirs {
            let child = Node::Dir { tree: *t, meta: *m };
            if recursive {
                self.list(&child, &join(name), true, f)?;
            } else {
                f(&join(name), &self.entry(&child)?);
            }
        }
        Ok(())
    }
}
