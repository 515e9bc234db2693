//! The two ends of composing a base image from packages (`layer compose
//! tree`): the empty tree the packages are built onto, and the final
//! commit on the treefile's ref.
//!
//! The empty tree is what `mmdebstrap` makes before it unpacks anything on
//! a merged-/usr suite (bookworm amd64: `bin`, `sbin`, `lib`, `lib64` linked
//! into `/usr`), in the image form [`crate::postprocess::image_form`] gives an
//! imported root: `/home`, `/root`, `/srv`, `/mnt`, `/opt` and `/usr/local`
//! linked into `/var`, the package database's place
//! `/usr/lib/sysimage/dpkg` (or `rpm`) linked from `/var/lib/dpkg` (`rpm`), and the mount points `/dev`, `/proc`,
//! `/sys`, `/run`, `/tmp` and `/boot`. The build then puts each package's
//! content where that policy says, as it does when layering.

use store::commit::{CommitOptions, write_commit};
use store::gvariant::Value;
use store::mtree::{MutableTree, Node, Subdir};
use store::objects::Checksum;
use store::repo::Repo;
use store::transaction::Transaction;

use crate::build::Database;
use crate::error::{Error, Result};
use crate::postprocess::insert;
use crate::tree::{dir_meta, file_object, symlink_object};

/// The merged-/usr links `mmdebstrap` creates for bookworm on amd64.
pub const MERGED_USR_LINKS: [(&str, &str); 4] =
    [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")];

/// Directories of the empty tree, with their modes, before image form;
/// the package database's directory comes with them.
const DIRECTORIES: [(&str, u32); 17] = [
    ("boot", 0o755),
    ("dev", 0o755),
    ("home", 0o755),
    ("mnt", 0o755),
    ("opt", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("run", 0o755),
    ("srv", 0o755),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("usr/lib", 0o755),
    ("usr/lib64", 0o755),
    ("usr/local", 0o755),
    ("var/lib", 0o755),
];

/// Writes the empty tree for `database`'s packages as a commit (timestamp
/// 0, no ref) and returns it. Its database directory (`/var/lib/dpkg` or
/// `/var/lib/rpm`) moves into `/usr/lib/sysimage` with the image form.
pub fn skeleton_commit(repo: &Repo, database: Database) -> Result<Checksum> {
    let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
    let dir_0755 = dir_meta(&tx, 0o755)?;
    let mut tree = MutableTree::empty(dir_0755);
    for (name, target) in MERGED_USR_LINKS {
        insert(repo, &mut tree, name, Node::File(symlink_object(&tx, target)?), dir_0755)?;
    }
    let database_dir = match database {
        Database::Dpkg => ("var/lib/dpkg", 0o755),
        Database::Rpm => ("var/lib/rpm", 0o755),
    };
    for (path, mode) in DIRECTORIES.into_iter().chain([database_dir]) {
        let meta = dir_meta(&tx, mode)?;
        if tree.dir_at_mut(repo, path).map_err(Error::store("reading the tree"))?.is_none() {
            insert(repo, &mut tree, path, Node::Dir(Subdir::Built(MutableTree::empty(meta))), dir_0755)?;
        }
    }
    crate::postprocess::image_form(repo, &tx, &mut tree)?;
    let options =
        CommitOptions { subject: "layer: empty merged-/usr tree".into(), timestamp: Some(0), ..Default::default() };
    let commit = write_commit(&tx, &tree, None, &options).map_err(Error::store("writing the empty tree"))?;
    tx.commit(&[]).map_err(Error::store("publishing the empty tree"))?;
    Ok(commit)
}

/// What the final commit holds besides the built tree.
pub struct Finish<'a> {
    pub reference: &'a str,
    pub subject: String,
    /// Metadata added to (or replacing keys of) the built commit's.
    pub metadata: Vec<(String, Value)>,
    /// Files put into the tree: (path, mode, content).
    pub files: Vec<(String, u32, Vec<u8>)>,
    /// Seconds since the epoch: a property of the inputs, so that the same
    /// inputs give the same commit.
    pub timestamp: u64,
}

/// The final commit and whether it is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub commit: Checksum,
    /// False when the ref already held a commit of the same tree and metadata.
    pub changed: bool,
}

/// Commits the tree of `built` with `finish`'s files and metadata on the
/// ref. Its parent is the ref's commit; if that one already has the same
/// tree and metadata, the ref stays and nothing is written.
pub fn finish(repo: &Repo, built: &Checksum, finish: &Finish<'_>) -> Result<Finished> {
    let commit = repo.read_commit(built).map_err(Error::store("reading the built commit"))?;
    let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
    let mut tree = MutableTree::from_stored(repo, &commit.root_tree, &commit.root_meta)
        .map_err(Error::store("reading the built tree"))?;
    let dir_0755 = dir_meta(&tx, 0o755)?;
    for (path, mode, data) in &finish.files {
        let _ = crate::postprocess::take(repo, &mut tree, path)?;
        insert(repo, &mut tree, path, Node::File(file_object(&tx, *mode, data)?), dir_0755)?;
    }
    let mut metadata: Vec<(String, Value)> =
        commit.metadata.into_iter().filter(|(key, _)| !finish.metadata.iter().any(|(k, _)| k == key)).collect();
    metadata.extend(finish.metadata.iter().cloned());
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    let (root_tree, root_meta) = tree.write(&tx).map_err(Error::store("writing the tree"))?;
    let parent = repo.refs().read(finish.reference).map_err(Error::store("reading the ref"))?;
    if let Some(parent) = parent {
        let previous = repo.read_commit(&parent).map_err(Error::store("reading the ref's commit"))?;
        if (previous.root_tree, previous.root_meta) == (root_tree, root_meta) && previous.metadata == metadata {
            drop(tx);
            return Ok(Finished { commit: parent, changed: false });
        }
    }
    let options = CommitOptions {
        subject: finish.subject.clone(),
        metadata,
        timestamp: Some(finish.timestamp),
        ..Default::default()
    };
    let commit = write_commit(&tx, &tree, parent, &options).map_err(Error::store("writing the commit"))?;
    tx.commit(&[(finish.reference, Some(commit))]).map_err(Error::store("publishing the commit"))?;
    Ok(Finished { commit, changed: true })
}

/// Replaces the root tree of `commit` with the directory at `root` (a
/// checkout the postprocess script changed) and returns the new commit
/// (no ref, timestamp 0, the same metadata).
pub fn recommit_directory(repo: &Repo, commit: &Checksum, root: &std::path::Path) -> Result<Checksum> {
    let previous = repo.read_commit(commit).map_err(Error::store("reading the built commit"))?;
    let tx: Transaction<'_> = repo.begin().map_err(Error::store("starting a transaction"))?;
    let (tree, _) = store::commit::write_directory(&tx, root, None, &[])
        .map_err(Error::store("committing the postprocessed tree"))?;
    let options = CommitOptions {
        subject: previous.subject.clone(),
        metadata: previous.metadata.clone(),
        timestamp: Some(0),
        ..Default::default()
    };
    let new = write_commit(&tx, &tree, None, &options).map_err(Error::store("writing the commit"))?;
    tx.commit(&[]).map_err(Error::store("publishing the commit"))?;
    Ok(new)
}
