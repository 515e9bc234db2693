//! The scripts' changes: the overlay's upper dir, read as a list of changed
//! paths and applied onto the tree.
//!
//! Files of the tree are hardlinks to store objects, so nothing here writes
//! into a file of the tree: a new or changed entry is renamed over the old
//! name (swapped with `RENAME_EXCHANGE`, then the old one is deleted), which
//! replaces the hardlink instead of writing through it. Only directories,
//! which are never shared with the store, have their metadata changed in
//! place.
//!
//! The upper dir is plain because the overlay runs without `redirect_dir`,
//! `metacopy` and `index`: it holds whole files, whiteouts (character
//! devices 0:0, a deletion) and opaque directories (`trusted.overlay.opaque`
//! is `y`: the directory replaces the tree's one, contents and all).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self, AtFlags, FileType, Mode, OFlags, RenameFlags, Stat, XattrFlags};
use rustix::io::Errno;

use super::SandboxError;

const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The changes of a finished session, not yet applied.
#[derive(Debug)]
pub struct UpperDir {
    scratch: tempfile::TempDir,
    root: PathBuf,
}

/// One changed path of the tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The path inside the tree, absolute: `/etc/passwd`.
    pub path: PathBuf,
    pub kind: ChangeKind,
    /// What is there now; for a removal, what was there.
    pub entry: EntryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    /// Content, type or metadata changed. A file rewritten with the same
    /// content counts too: the overlay does not tell.
    Modified,
    Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    /// A FIFO or a socket.
    Other,
}

impl UpperDir {
    pub(crate) fn new(scratch: tempfile::TempDir, root: PathBuf) -> Self {
        Self { scratch, root }
    }

    /// The upper dir itself, for inspection.
    pub fn path(&self) -> PathBuf {
        self.scratch.path().join("upper")
    }

    /// The tree the changes apply to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What [`UpperDir::apply`] would change, sorted by path; changes nothing.
    pub fn plan(&self) -> Result<Vec<Change>, SandboxError> {
        self.walk(false)
    }

    /// Applies the changes onto the tree and returns them, sorted by path.
    /// Callers filter by path afterwards: `/etc` and `/usr` are kept, `/var`
    /// goes through the tmpfiles policy, and so on. `/run`, `/tmp` and
    /// `/dev` never appear: they were tmpfs in the sandbox.
    pub fn apply(self) -> Result<Vec<Change>, SandboxError> {
        self.walk(true)
        // The scratch directory, with what the swaps left in it, goes here.
    }

    fn walk(&self, apply: bool) -> Result<Vec<Change>, SandboxError> {
        let upper_root = self.path();
        let mut walker = Walker { upper_root: &upper_root, apply, changes: Vec::new() };
        let open = |path: &Path| {
            fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|errno| SandboxError::Apply { path: path.to_owned(), source: errno.into() })
        };
        let upper = open(&upper_root)?;
        let tree = open(&self.root)?;
        walker.walk_dir(&upper, &tree, Path::new(""))?;
        walker.merge_dir_metadata(&upper, &tree, Path::new(""))?;
        let mut changes = walker.changes;
        changes.sort();
        Ok(changes)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whiteout,
    Device,
    Directory,
    File,
    Symlink,
    Other,
}

fn kind(stat: &Stat) -> Kind {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::CharacterDevice if stat.st_rdev == 0 => Kind::Whiteout,
        FileType::CharacterDevice | FileType::BlockDevice => Kind::Device,
        FileType::Directory => Kind::Directory,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

fn entry_kind(kind: Kind) -> EntryKind {
    match kind {
        Kind::Directory => EntryKind::Directory,
        Kind::File => EntryKind::File,
        Kind::Symlink => EntryKind::Symlink,
        Kind::Whiteout | Kind::Device | Kind::Other => EntryKind::Other,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Upper,
    Tree,
}

struct Walker<'a> {
    upper_root: &'a Path,
    apply: bool,
    changes: Vec<Change>,
}

fn in_tree(rel: &Path) -> PathBuf {
    Path::new("/").join(rel)
}

impl Walker<'_> {
    fn fail(rel: &Path) -> impl Fn(Errno) -> SandboxError + '_ {
        move |errno| SandboxError::Apply { path: in_tree(rel), source: errno.into() }
    }

    fn fail_io(rel: &Path) -> impl Fn(io::Error) -> SandboxError + '_ {
        move |source| SandboxError::Apply { path: in_tree(rel), source }
    }

    fn record(&mut self, rel: &Path, kind: ChangeKind, entry: EntryKind) {
        self.changes.push(Change { path: in_tree(rel), kind, entry });
    }

    /// Merges an upper directory into the tree's directory of the same name.
    fn walk_dir(&mut self, upper: &OwnedFd, tree: &OwnedFd, rel: &Path) -> Result<(), SandboxError> {
        for name in read_names(upper).map_err(Self::fail(rel))? {
            let child = rel.join(&name);
            let upper_stat = fs::statat(upper, &name, AtFlags::SYMLINK_NOFOLLOW).map_err(Self::fail(&child))?;
            let tree_stat = stat_optional(tree, &name).map_err(Self::fail(&child))?;
            match kind(&upper_stat) {
                Kind::Whiteout => {
                    if let Some(tree_stat) = tree_stat {
                        let mut old = BTreeMap::new();
                        list_subtree(tree, &name, &child, &tree_stat, Side::Tree, &mut old)?;
                        for (path, entry) in old {
                            self.record(&path, ChangeKind::Removed, entry);
                        }
                        if self.apply {
                            remove_entry(tree, &name, &tree_stat).map_err(Self::fail(&child))?;
                        }
                    }
                }
                Kind::Device => return Err(SandboxError::UnexpectedDevice { path: in_tree(&child) }),
                Kind::Directory
                    if tree_stat.as_ref().is_some_and(|stat| kind(stat) == Kind::Directory)
                        && !self.is_opaque(&child)? =>
                {
                    let upper_dir = open_dir(upper, &name).map_err(Self::fail(&child))?;
                    let tree_dir = open_dir(tree, &name).map_err(Self::fail(&child))?;
                    self.walk_dir(&upper_dir, &tree_dir, &child)?;
                    self.merge_dir_metadata(&upper_dir, &tree_dir, &child)?;
                }
                _ => self.replace(upper, tree, &name, &child, &upper_stat, tree_stat.as_ref())?,
            }
        }
        Ok(())
    }

    fn is_opaque(&self, rel: &Path) -> Result<bool, SandboxError> {
        let mut value = [0u8; 8];
        match fs::lgetxattr(self.upper_root.join(rel), OPAQUE_XATTR, &mut value) {
            Ok(length) => Ok(&value[..length] == b"y"),
            Err(Errno::NODATA) => Ok(false),
            Err(errno) => Err(Self::fail(rel)(errno)),
        }
    }

    /// Puts the upper entry in place of the tree's, whole: a new or
    /// changed file or symlink, a new directory, an opaque directory, or a
    /// change of type.
    fn replace(
        &mut self,
        upper: &OwnedFd,
        tree: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        upper_stat: &Stat,
        tree_stat: Option<&Stat>,
    ) -> Result<(), SandboxError> {
        let mut old = BTreeMap::new();
        if let Some(tree_stat) = tree_stat {
            list_subtree(tree, name, rel, tree_stat, Side::Tree, &mut old)?;
        }
        let mut new = BTreeMap::new();
        list_subtree(upper, name, rel, upper_stat, Side::Upper, &mut new)?;
        for (path, entry) in &new {
            let kind = if old.contains_key(path) { ChangeKind::Modified } else { ChangeKind::Added };
            self.record(path, kind, *entry);
        }
        for (path, entry) in &old {
            if !new.contains_key(path) {
                self.record(path, ChangeKind::Removed, *entry);
            }
        }
        if !self.apply {
            return Ok(());
        }
        self.clean_upper_entry(upper, name, rel, upper_stat)?;
        match tree_stat {
            None => fs::renameat_with(upper, name, tree, name, RenameFlags::NOREPLACE).map_err(Self::fail(rel)),
            Some(tree_stat) => {
                match fs::renameat_with(upper, name, tree, name, RenameFlags::EXCHANGE) {
                    // The old entry now sits in the upper dir; it goes with it.
                    Ok(()) => remove_entry(upper, name, tree_stat).map_err(Self::fail(rel)),
                    // A filesystem without exchange: not atomic, still safe.
                    Err(Errno::INVAL) => {
                        remove_entry(tree, name, tree_stat).map_err(Self::fail(rel))?;
                        fs::renameat_with(upper, name, tree, name, RenameFlags::NOREPLACE).map_err(Self::fail(rel))
                    }
                    Err(errno) => Err(Self::fail(rel)(errno)),
                }
            }
        }
    }

    /// Before an upper entry moves into the tree: drop the overlay's own
    /// xattrs (origin, opaque, impure...) and whiteouts inside new
    /// directories, which mean nothing there.
    fn clean_upper_entry(&self, parent: &OwnedFd, name: &OsStr, rel: &Path, stat: &Stat) -> Result<(), SandboxError> {
        strip_overlay_xattrs(&self.upper_root.join(rel)).map_err(Self::fail(rel))?;
        if kind(stat) != Kind::Directory {
            return Ok(());
        }
        let dir = open_dir(parent, name).map_err(Self::fail(rel))?;
        for child_name in read_names(&dir).map_err(Self::fail(rel))? {
            let child = rel.join(&child_name);
            let child_stat = fs::statat(&dir, &child_name, AtFlags::SYMLINK_NOFOLLOW).map_err(Self::fail(&child))?;
            match kind(&child_stat) {
                Kind::Whiteout => fs::unlinkat(&dir, &child_name, AtFlags::empty()).map_err(Self::fail(&child))?,
                Kind::Device => return Err(SandboxError::UnexpectedDevice { path: in_tree(&child) }),
                _ => self.clean_upper_entry(&dir, &child_name, &child, &child_stat)?,
            }
        }
        Ok(())
    }

    /// A directory in both: its owner, mode and xattrs become the upper's.
    fn merge_dir_metadata(&mut self, upper: &OwnedFd, tree: &OwnedFd, rel: &Path) -> Result<(), SandboxError> {
        let upper_stat = fs::fstat(upper).map_err(Self::fail(rel))?;
        let tree_stat = fs::fstat(tree).map_err(Self::fail(rel))?;
        let upper_xattrs = read_xattrs(upper).map_err(Self::fail_io(rel))?;
        let tree_xattrs = read_xattrs(tree).map_err(Self::fail_io(rel))?;
        let owner_changed = (upper_stat.st_uid, upper_stat.st_gid) != (tree_stat.st_uid, tree_stat.st_gid);
        let mode_changed = upper_stat.st_mode & 0o7777 != tree_stat.st_mode & 0o7777;
        if !owner_changed && !mode_changed && upper_xattrs == tree_xattrs {
            return Ok(());
        }
        self.record(rel, ChangeKind::Modified, EntryKind::Directory);
        if !self.apply {
            return Ok(());
        }
        if owner_changed {
            fs::fchown(tree, Some(fs::Uid::from_raw(upper_stat.st_uid)), Some(fs::Gid::from_raw(upper_stat.st_gid)))
                .map_err(Self::fail(rel))?;
        }
        // After chown, which may clear setgid.
        fs::fchmod(tree, Mode::from_raw_mode(upper_stat.st_mode & 0o7777)).map_err(Self::fail(rel))?;
        for (name, value) in &upper_xattrs {
            if tree_xattrs.get(name) != Some(value) {
                fs::fsetxattr(tree, name.as_os_str(), value, XattrFlags::empty()).map_err(Self::fail(rel))?;
            }
        }
        for name in tree_xattrs.keys() {
            if !upper_xattrs.contains_key(name) {
                fs::fremovexattr(tree, name.as_os_str()).map_err(Self::fail(rel))?;
            }
        }
        Ok(())
    }
}

/// Lists an entry and everything below it. On the upper side whiteouts are
/// skipped (nothing is below a new or opaque directory to delete) and other
/// devices are refused.
fn list_subtree(
    parent: &OwnedFd,
    name: &OsStr,
    rel: &Path,
    stat: &Stat,
    side: Side,
    out: &mut BTreeMap<PathBuf, EntryKind>,
) -> Result<(), SandboxError> {
    let entry = kind(stat);
    if side == Side::Upper {
        match entry {
            Kind::Whiteout => return Ok(()),
            Kind::Device => return Err(SandboxError::UnexpectedDevice { path: in_tree(rel) }),
            _ => {}
        }
    }
    out.insert(rel.to_owned(), entry_kind(entry));
    if entry != Kind::Directory {
        return Ok(());
    }
    let dir = open_dir(parent, name).map_err(Walker::fail(rel))?;
    for child_name in read_names(&dir).map_err(Walker::fail(rel))? {
        let child = rel.join(&child_name);
        let child_stat = fs::statat(&dir, &child_name, AtFlags::SYMLINK_NOFOLLOW).map_err(Walker::fail(&child))?;
        list_subtree(&dir, &child_name, &child, &child_stat, side, out)?;
    }
    Ok(())
}

fn open_dir(parent: impl AsFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    fs::openat(parent, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
}

fn stat_optional(dir: impl AsFd, name: &OsStr) -> Result<Option<Stat>, Errno> {
    match fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// The names in a directory, sorted, without `.` and `..`.
fn read_names(dir: &OwnedFd) -> Result<Vec<OsString>, Errno> {
    let mut names = Vec::new();
    for entry in fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Deletes an entry and, for a directory, everything below it. Files are
/// unlinked, never written: a hardlinked store object keeps its content.
fn remove_entry(parent: &OwnedFd, name: &OsStr, stat: &Stat) -> Result<(), Errno> {
    if kind(stat) != Kind::Directory {
        return fs::unlinkat(parent, name, AtFlags::empty());
    }
    let dir = open_dir(parent, name)?;
    for child_name in read_names(&dir)? {
        let child_stat = fs::statat(&dir, &child_name, AtFlags::SYMLINK_NOFOLLOW)?;
        remove_entry(&dir, &child_name, &child_stat)?;
    }
    drop(dir);
    fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

/// Removes `trusted.overlay.*` from an upper entry (without following a
/// symlink). Path-based: the upper dir is ours alone once the session ended.
fn strip_overlay_xattrs(path: &Path) -> Result<(), Errno> {
    for name in xattr_names(fs::llistxattr_query(path), |buffer| fs::llistxattr(path, buffer))? {
        if name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
            fs::lremovexattr(path, name.as_os_str())?;
        }
    }
    Ok(())
}

fn xattr_names(
    size: Result<usize, Errno>,
    list: impl Fn(&mut [u8]) -> Result<usize, Errno>,
) -> Result<Vec<OsString>, Errno> {
    let size = match size {
        Ok(size) => size,
        Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Err(errno) => return Err(errno),
    };
    let mut buffer = vec![0u8; size];
    let length = list(&mut buffer)?;
    Ok(buffer[..length.min(size)]
        .split(|byte| *byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| OsStr::from_bytes(name).to_owned())
        .collect())
}

/// A directory's xattrs, without the overlay's own.
fn read_xattrs(dir: &OwnedFd) -> io::Result<BTreeMap<OsString, Vec<u8>>> {
    let mut xattrs = BTreeMap::new();
    for name in xattr_names(fs::flistxattr_query(dir), |buffer| fs::flistxattr(dir, buffer))? {
        if name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        let size = fs::fgetxattr_query(dir, name.as_os_str())?;
        let mut value = vec![0u8; size];
        let length = fs::fgetxattr(dir, name.as_os_str(), &mut value)?;
        value.truncate(length);
        xattrs.insert(name, value);
    }
    Ok(xattrs)
}
