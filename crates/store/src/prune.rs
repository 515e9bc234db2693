//! Deleting objects no ref reaches. History is kept up to a depth.

use std::collections::HashSet;

use rustix::fs::{AtFlags, Mode};

use crate::error::{Result, io_err};
use crate::objects::{Checksum, ObjectType, S_IFMT, S_IFREG};
use crate::repo::{Repo, RepoMode};

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

/// Clears setuid and setgid bits and file capabilities on an object
/// before it is unlinked (SECURITY.md 39): another hardlink to the same
/// inode (a deployment directory someone kept, a link made while the file
/// was reachable) must not keep a privileged binary alive after the store
/// let go of it.
fn disarm(repo: &Repo, rel: &str) -> Result<()> {
    let Ok(st) = rustix::fs::statat(&repo.objects, rel, AtFlags::SYMLINK_NOFOLLOW) else { return Ok(()) };
    if st.st_mode & S_IFMT != S_IFREG {
        return Ok(());
    }
    let fd = crate::fsutil::open_file(&repo.objects, rel).map_err(io_err("opening object", rel))?;
    if st.st_mode & 0o6000 != 0 {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(st.st_mode & 0o1777)).map_err(io_err("disarming object", rel))?;
    }
    match rustix::fs::fremovexattr(&fd, "security.capability") {
        Ok(()) | Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::NOTSUP) => Ok(()),
        Err(e) => Err(io_err("disarming object", rel)(e)),
    }
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
                if kind == ObjectType::File && self.mode == RepoMode::Bare {
                    disarm(self, &rel)?;
                }
                rustix::fs::unlinkat(&self.objects, rel.as_str(), AtFlags::empty())
                    .map_err(io_err("deleting object", &rel))?;
            }
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::commit::CommitOptions;

    /// SECURITY.md 39: a hardlink kept to a pruned setuid object loses the
    /// bit and its capability.
    #[test]
    fn pruned_setuid_objects_are_disarmed() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::init(&dir.path().join("repo"), RepoMode::Bare).expect("repo");
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).expect("tree");
        let tool = tree.join("tool");
        std::fs::write(&tool, b"#!/bin/sh\n").expect("tool");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).expect("setuid");
        let _ = std::process::Command::new("setcap").arg("cap_net_raw+ep").arg(&tool).status();
        let (commit, _) = repo.commit_directory("x", &tree, &CommitOptions::default()).expect("commit");
        let object = repo.list_objects(Some(ObjectType::File)).expect("objects")[0].1;
        let kept = dir.path().join("kept");
        std::fs::hard_link(repo.path().join("objects").join(repo.object_relpath(ObjectType::File, &object)), &kept)
            .expect("a link someone kept");
        assert_eq!(std::fs::metadata(&kept).expect("kept").permissions().mode() & 0o7777, 0o4755);
        repo.refs().set("x", None).expect("delete the ref");
        let _ = commit;
        repo.prune(&PruneOptions::default()).expect("prune");
        assert_eq!(std::fs::metadata(&kept).expect("kept").permissions().mode() & 0o7777, 0o755);
        let fd = crate::fsutil::open_file(rustix::fs::CWD, kept.as_path()).expect("open");
        let mut buf = [0u8; 64];
        assert!(rustix::fs::fgetxattr(&fd, "security.capability", &mut buf).is_err(), "capability stripped");
    }
}
