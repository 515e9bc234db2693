//! Turning a root filesystem into an image that deploys (DESIGN.md, "Policy
//! for files that packages ship"):
//!
//! - `/etc` moves to `/usr/etc`, the defaults each deployment's `/etc` is
//!   merged from;
//! - the package databases move into `/usr/lib/sysimage` and are linked
//!   from `/var/lib`, where the tools look; an rpmdb is rewritten without
//!   its sqlite journal files ([`crate::rpmdb::normalize`]);
//! - `/var` is never content: directories and symlinks become `tmpfiles.d`
//!   entries, and files move to `/usr/share/factory/var` with a `C` entry
//!   that copies them on first deploy, as systemd's factory does;
//! - `/usr/local`, `/home`, `/root`, `/srv`, `/mnt` and `/opt` become links
//!   into `/var`, the machine's state;
//! - a kernel in `/boot` moves to `/usr/lib/modules/KVER/vmlinuz`.
//!
//! Everything happens on the tree inside the store: no file is copied.

use store::mtree::{MutableTree, Node, Subdir};
use store::objects::Checksum;
use store::repo::Repo;
use store::transaction::Transaction;

use crate::error::{Error, Result};
use crate::tree::{dir_meta, file_object, symlink_object};

/// The `tmpfiles.d` file the postprocessing writes.
pub const TMPFILES_CONF: &str = "usr/lib/tmpfiles.d/layer-image.conf";

/// Where files found under `/var` are kept.
pub const FACTORY: &str = "usr/share/factory/var";

/// Package databases moved into `/usr`: (old place, new place, link target
/// relative to the old place's parent).
const DATABASES: [(&str, &str, &str); 2] = [
    ("var/lib/dpkg", "usr/lib/sysimage/dpkg", "../../usr/lib/sysimage/dpkg"),
    ("var/lib/rpm", "usr/lib/sysimage/rpm", "../../usr/lib/sysimage/rpm"),
];

/// Top-level directories that become links into `/var`: (name, place under
/// `/var`, mode of that directory).
const STATE_LINKS: [(&str, &str, u32); 5] = [
    ("home", "home", 0o755),
    ("root", "roothome", 0o700),
    ("srv", "srv", 0o755),
    ("mnt", "mnt", 0o755),
    ("opt", "opt", 0o755),
];

/// What the postprocessing did, for the user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// `tmpfiles.d` lines written.
    pub tmpfiles: Vec<String>,
    /// Files under `/var` (or a directory linked into it) kept in the factory.
    pub factory_files: Vec<String>,
    pub kernels: Vec<String>,
}

/// Puts the root `tree` into image form.
pub fn image_form(repo: &Repo, tx: &Transaction<'_>, tree: &mut MutableTree) -> Result<Report> {
    let mut report = Report::default();
    let dir_0755 = dir_meta(tx, 0o755)?;
    move_etc(repo, tree, dir_0755)?;

    for (old, new, link) in DATABASES {
        if let Some(Node::Dir(db)) = take(repo, tree, old)? {
            if exists(repo, tree, new)? {
                return Err(Error::NotARoot { dir: old.into(), reason: format!("both `/{old}` and `/{new}` exist") });
            }
            insert(repo, tree, new, Node::Dir(db), dir_0755)?;
            report.tmpfiles.push(format!("L /{old} - - - - {link}"));
        } else if exists(repo, tree, new)? && !exists(repo, tree, old)? {
            // Already in `/usr` (rpm's default since 4.17), with no link
            // where older tools look: make one.
            report.tmpfiles.push(format!("L /{old} - - - - {link}"));
        }
    }

    crate::rpmdb::normalize(tx, tree)?;

    // `/var` itself stays, empty, with its own metadata.
    if let Some(Node::Dir(var)) = take(repo, tree, "var")? {
        let meta = subdir_meta(&var);
        move_to_var(repo, tx, tree, var, "var", &mut report, dir_0755)?;
        insert(repo, tree, "var", Node::Dir(Subdir::Built(MutableTree { meta, ..Default::default() })), dir_0755)?;
    }
    if let Some(Node::Dir(local)) = take(repo, tree, "usr/local")? {
        report.tmpfiles.push("d /var/usrlocal 0755 0 0 -".into());
        move_to_var(repo, tx, tree, local, "var/usrlocal", &mut report, dir_0755)?;
        insert(repo, tree, "usr/local", Node::File(symlink_object(tx, "../var/usrlocal")?), dir_0755)?;
    }
    for (name, place, mode) in STATE_LINKS {
        if let Some(Node::Dir(dir)) = take(repo, tree, name)? {
            report.tmpfiles.push(format!("d /var/{place} {mode:04o} 0 0 -"));
            move_to_var(repo, tx, tree, dir, &format!("var/{place}"), &mut report, dir_0755)?;
            insert(repo, tree, name, Node::File(symlink_object(tx, &format!("var/{place}"))?), dir_0755)?;
        }
    }
    move_kernels(tx, tree, &mut report, dir_0755)?;

    if !report.tmpfiles.is_empty() {
        let mut text = String::from("# Written by `layer`: the /var content this image expects.\n");
        for line in &report.tmpfiles {
            text.push_str(line);
            text.push('\n');
        }
        insert(repo, tree, TMPFILES_CONF, Node::File(file_object(tx, 0o644, text.as_bytes())?), dir_0755)?;
    }
    Ok(report)
}

fn move_etc(repo: &Repo, tree: &mut MutableTree, parent_meta: Checksum) -> Result<()> {
    let Some(etc) = take(repo, tree, "etc")? else { return Ok(()) };
    let Node::Dir(etc) = etc else {
        return Err(Error::NotARoot { dir: "etc".into(), reason: "`/etc` is not a directory".into() });
    };
    if exists(repo, tree, "usr/etc")? {
        return Err(Error::NotARoot { dir: "etc".into(), reason: "both `/etc` and `/usr/etc` exist".into() });
    }
    insert(repo, tree, "usr/etc", Node::Dir(etc), parent_meta)
}

/// Records the content of `dir` (found at `place`, such as `var` or
/// `var/roothome`) as tmpfiles entries, keeping its files in the factory.
fn move_to_var(
    repo: &Repo,
    tx: &Transaction<'_>,
    tree: &mut MutableTree,
    dir: Subdir,
    place: &str,
    report: &mut Report,
    parent_meta: Checksum,
) -> Result<()> {
    let dir = load(repo, dir)?;
    for (name, checksum) in &dir.files {
        let path = format!("{place}/{name}");
        let meta = tx.read_file_meta(checksum).map_err(Error::store("reading a file under /var"))?;
        if meta.is_symlink() {
            report.tmpfiles.push(format!("L /{path} - - - - {}", meta.symlink_target));
        } else {
            let factory = format!("{FACTORY}/{}", path.strip_prefix("var/").unwrap_or(&path));
            insert(repo, tree, &factory, Node::File(*checksum), parent_meta)?;
            report.tmpfiles.push(format!("C /{path} - - - - /{factory}"));
            report.factory_files.push(format!("/{path}"));
        }
    }
    for (name, sub) in dir.dirs {
        let path = format!("{place}/{name}");
        let meta =
            subdir_meta(&sub).ok_or_else(|| Error::NotARoot { dir: path.clone(), reason: "no metadata".into() })?;
        let meta = tx.read_dirmeta(&meta).map_err(Error::store("reading a directory under /var"))?;
        report.tmpfiles.push(format!("d /{path} {:04o} {} {} -", meta.mode & 0o7777, meta.uid, meta.gid));
        move_to_var(repo, tx, tree, sub, &path, report, parent_meta)?;
    }
    Ok(())
}

fn move_kernels(
    tx: &Transaction<'_>,
    tree: &mut MutableTree,
    report: &mut Report,
    parent_meta: Checksum,
) -> Result<()> {
    let repo = tx.repo();
    let Some(boot) = tree.dir_at_mut(repo, "boot").map_err(Error::store("reading /boot"))? else { return Ok(()) };
    let kernels: Vec<(String, Checksum)> = boot
        .files
        .iter()
        .filter_map(|(name, c)| name.strip_prefix("vmlinuz-").map(|version| (version.to_owned(), *c)))
        .collect();
    for (version, checksum) in kernels {
        if version.is_empty() || version.contains('/') {
            continue;
        }
        let Some(Node::File(c)) = take(repo, tree, &format!("boot/vmlinuz-{version}"))? else { continue };
        if tx.read_file_meta(&c).map_err(Error::store("reading a kernel"))?.is_symlink() {
            continue;
        }
        insert(repo, tree, &format!("usr/lib/modules/{version}/vmlinuz"), Node::File(checksum), parent_meta)?;
        if let Some(Node::File(initrd)) = take(repo, tree, &format!("boot/initrd.img-{version}"))? {
            insert(repo, tree, &format!("usr/lib/modules/{version}/initramfs.img"), Node::File(initrd), parent_meta)?;
        }
        report.kernels.push(version);
    }
    Ok(())
}

fn load(repo: &Repo, dir: Subdir) -> Result<MutableTree> {
    match dir {
        Subdir::Built(tree) => Ok(tree),
        Subdir::Stored(t, m) => MutableTree::from_stored(repo, &t, &m).map_err(Error::store("reading a directory")),
    }
}

fn subdir_meta(dir: &Subdir) -> Option<Checksum> {
    match dir {
        Subdir::Built(tree) => tree.meta,
        Subdir::Stored(_, m) => Some(*m),
    }
}

pub(crate) fn take(repo: &Repo, tree: &mut MutableTree, path: &str) -> Result<Option<Node>> {
    tree.take_at(repo, path).map_err(Error::store("editing the tree"))
}

pub(crate) fn insert(repo: &Repo, tree: &mut MutableTree, path: &str, node: Node, parent_meta: Checksum) -> Result<()> {
    tree.insert_at(repo, path, node, parent_meta).map_err(Error::store("editing the tree"))
}

fn exists(repo: &Repo, tree: &mut MutableTree, path: &str) -> Result<bool> {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let dir = tree.dir_at_mut(repo, parent).map_err(Error::store("reading the tree"))?;
    Ok(dir.is_some_and(|d| d.files.contains_key(name) || d.dirs.contains_key(name)))
}
