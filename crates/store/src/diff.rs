//! The paths added, removed and modified between two commits. Subtrees
//! with equal checksums are skipped without being read.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::objects::Checksum;
use crate::repo::Repo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

impl ChangeKind {
    /// The letter `ostree diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Removed => 'D',
            ChangeKind::Modified => 'M',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    File(Checksum),
    Dir(Checksum, Checksum),
}

impl Repo {
    pub fn diff(&self, from: &Checksum, to: &Checksum) -> Result<Vec<Change>> {
        let a = self.read_commit(from)?;
        let b = self.read_commit(to)?;
        let mut out = Vec::new();
        if a.root_meta != b.root_meta {
            out.push(Change { path: "/".into(), kind: ChangeKind::Modified });
        }
        self.diff_trees(&a.root_tree, &b.root_tree, "", &mut out)?;
        Ok(out)
    }

    fn entries(&self, tree: &Checksum) -> Result<BTreeMap<String, Side>> {
        let t = self.read_dirtree(tree)?;
        let mut map: BTreeMap<String, Side> = t.files.into_iter().map(|(n, c)| (n, Side::File(c))).collect();
        map.extend(t.dirs.into_iter().map(|(n, t, m)| (n, Side::Dir(t, m))));
        Ok(map)
    }

    fn diff_trees(&self, a: &Checksum, b: &Checksum, prefix: &str, out: &mut Vec<Change>) -> Result<()> {
        if a == b {
            return Ok(());
        }
        let left = self.entries(a)?;
        let right = self.entries(b)?;
        for (name, l) in &left {
            let path = format!("{prefix}/{name}");
            match (l, right.get(name)) {
                (_, None) => out.push(Change { path, kind: ChangeKind::Removed }),
                (Side::File(x), Some(Side::File(y))) => {
                    if x != y {
                        out.push(Change { path, kind: ChangeKind::Modified });
                    }
                }
                (Side::Dir(ta, ma), Some(Side::Dir(tb, mb))) => {
                    if ma != mb {
                        out.push(Change { path: path.clone(), kind: ChangeKind::Modified });
                    }
                    self.diff_trees(ta, tb, &path, out)?;
                }
                // A change of type is a modification of the path.
                (_, Some(_)) => out.push(Change { path, kind: ChangeKind::Modified }),
            }
        }
        for (name, side) in right.iter().filter(|(n, _)| !left.contains_key(*n)) {
            let path = format!("{prefix}/{name}");
            out.push(Change { path: path.clone(), kind: ChangeKind::Added });
            if let Side::Dir(tree, _) = side {
                self.add_all(tree, &path, out)?;
            }
        }
        Ok(())
    }

    /// An added directory lists everything below it; a removed one only
    /// itself. That is what `ostree diff` prints.
    fn add_all(&self, tree: &Checksum, prefix: &str, out: &mut Vec<Change>) -> Result<()> {
        for (name, side) in self.entries(tree)? {
            let path = format!("{prefix}/{name}");
            out.push(Change { path: path.clone(), kind: ChangeKind::Added });
            if let Side::Dir(t, _) = side {
                self.add_all(&t, &path, out)?;
            }
        }
        Ok(())
    }
}
