//! Deleting objects no ref reaches. History is kept up to a depth.

use std::collections::HashSet;

use rustix::fs::AtFlags;

use crate::error::{Result, io_err};
use crate::objects::{Checksum, ObjectType};
use crate::repo::Repo;

#[derive(Debug, Default, Clone, Copy)]
pub struct PruneOptions {
    /// How many parents of each ref's commit to keep; `None` keeps all.
    pub depth: Option<usize>,
    /// Count what would be deleted, but delete nothing.
    pub dry_run: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PruneStats {
    pub reachable: usize,
    pub deleted: usize,
    pub freed_bytes: u64,
}

impl Repo {
    /// Every object reachable from `commits`, following parents to `depth`.
    pub fn reachable(&self, commits: &[Checksum], depth: Option<usize>) -> Result<HashSet<(ObjectType, Checksum)>> {
        let mut out = HashSet::new();
        let mut trees = Vec::new();
        for start in commits {
            let mut next = Some(*start);
            let mut level = 0usize;
            while let Some(c) = next {
                if !out.insert((ObjectType::Commit, c)) || !self.has_object(ObjectType::Commit, &c)? {
                    break;
                }
                let commit = self.read_commit(&c)?;
                trees.push((commit.root_tree, commit.root_meta));
                next = commit.parent.filter(|_| depth.is_none_or(|d| level < d));
                level += 1;
            }
        }
        while let Some((tree, meta)) = trees.pop() {
            out.insert((ObjectType::DirMeta, meta));
            if !out.insert((ObjectType::DirTree, tree)) {
                continue;
            }
            let t = self.read_dirtree(&tree)?;
            out.extend(t.files.iter().map(|(_, c)| (ObjectType::File, *c)));
            trees.extend(t.dirs.iter().map(|(_, t, m)| (*t, *m)));
        }
        Ok(out)
    }

    pub fn prune(&self, opts: &PruneOptions) -> Result<PruneStats> {
        // Exclusive: no transaction may be between "object exists, skip it"
        // and publishing a commit that uses it while we delete.
        let _lock = self.lock(true)?;
        let roots: Vec<Checksum> = self.refs().list()?.into_iter().map(|(_, c)| c).collect();
        let keep = self.reachable(&roots, opts.depth)?;
        let mut stats = PruneStats { reachable: keep.len(), ..Default::default() };
        for (kind, checksum) in self.list_objects(None)? {
            if keep.contains(&(kind, checksum)) {
                continue;
            }
            let rel = self.object_relpath(kind, &checksum);
            if let Ok(st) = rustix::fs::statat(&self.objects, rel.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                stats.freed_bytes += st.st_size as u64;
            }
            stats.deleted += 1;
            if !opts.dry_run {
                rustix::fs::unlinkat(&self.objects, rel.as_str(), AtFlags::empty())
                    .map_err(io_err("deleting object", &rel))?;
            }
        }
        Ok(stats)
    }
}
