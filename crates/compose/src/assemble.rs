//! Base tree plus package trees, merged inside the store (DESIGN.md, step
//! 5): only the directories a package touches are rewritten, so layering
//! htop onto a large base costs what htop costs.
//!
//! Where a package's path lands follows the image policy:
//! - `/etc/...` goes to `/usr/etc/...`;
//! - `/var/...` (and `/usr/local`, `/home`, `/root`, `/srv`, `/mnt`) is never
//!   content: directories and symlinks become `tmpfiles.d` entries, files
//!   go to the factory with a `C` entry;
//! - `/opt/X` goes to `/usr/lib/opt/X`, linked from `/var/opt/X`;
//! - `/run`, `/tmp`, `/dev`, `/proc`, `/sys` and `/boot` content is dropped
//!   and reported;
//! - everything else resolves inside the tree, following its directory
//!   symlinks (`bin/foo` lands in `usr/bin/foo` on a merged-/usr base).
//!
//! A package file that would replace a base file, or another layered
//! package's different file, is an error unless replacing is allowed.

use std::collections::{BTreeSet, HashMap};

use store::mtree::{MutableTree, Node, Subdir};
use store::objects::Checksum;
use store::repo::Repo;
use store::transaction::Transaction;

use crate::error::{Error, Result};
use crate::package_tree::PackageTree;
use crate::postprocess::{FACTORY, insert};
use crate::tree::{Resolved, SymlinkCache, dir_at_path, dir_meta, file_object, resolve_dir};

/// The `tmpfiles.d` file for the layered packages' `/var` content.
pub const TMPFILES_CONF: &str = "usr/lib/tmpfiles.d/layer-packages.conf";

/// Top-level directories whose package content is state under `/var`.
const STATE_DIRS: [(&str, &str); 5] =
    [("var", "var"), ("home", "var/home"), ("root", "var/roothome"), ("srv", "var/srv"), ("mnt", "var/mnt")];

/// Top-level directories whose package content is dropped.
const DROPPED: [&str; 6] = ["run", "tmp", "dev", "proc", "sys", "boot"];

#[derive(Debug, Clone, Default)]
pub struct AssembleOptions {
    /// Let a package replace a base file or another package's file.
    pub force_replace: bool,
}

/// What assembly did besides merging, for the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssemblyReport {
    pub tmpfiles: Vec<String>,
    /// `package: path` of content that was dropped by policy.
    pub dropped: Vec<String>,
    /// `package: path` of base files replaced with `force_replace`.
    pub replaced: Vec<String>,
}

/// A tree being assembled.
pub struct Assembly<'a, 't> {
    repo: &'a Repo,
    tx: &'a Transaction<'t>,
    tree: MutableTree,
    links: SymlinkCache,
    /// Canonical paths of files placed by layered packages, and by whom.
    owners: HashMap<String, String>,
    /// `/var` paths (`var/...`) of the packages' tmpfiles.d entries, and by
    /// whom; and those that are symlinks.
    state_paths: HashMap<String, String>,
    state_links: HashMap<String, String>,
    report: AssemblyReport,
    options: AssembleOptions,
    plain_dir: Checksum,
}

/// Where a package path goes.
enum Place {
    Tree(String),
    /// State: the path under `/var` it stands for.
    State(String),
    Dropped,
}

/// Where a package's path lands in the tree (canonical, before symlinks
/// are followed), or `None` if it is state under `/var` or dropped.
pub(crate) fn tree_path(path: &str) -> Option<String> {
    match place(path) {
        Place::Tree(dest) => Some(dest),
        Place::State(_) | Place::Dropped => None,
    }
}

/// The `/var` path (`var/...`) a package's path stands for, if it is state.
pub(crate) fn state_path(path: &str) -> Option<String> {
    match place(path) {
        Place::State(var) => Some(var),
        Place::Tree(_) | Place::Dropped => None,
    }
}

fn place(path: &str) -> Place {
    let (top, rest) = path.split_once('/').unwrap_or((path, ""));
    let join = |base: &str| if rest.is_empty() { base.to_owned() } else { format!("{base}/{rest}") };
    if let Some((_, var)) = STATE_DIRS.iter().find(|(name, _)| *name == top) {
        return Place::State(join(var));
    }
    if top == "usr" && (rest == "local" || rest.starts_with("local/")) {
        return Place::State(format!("var/usrlocal{}", &rest["local".len()..]));
    }
    if DROPPED.contains(&top) {
        return if rest.is_empty() { Place::Tree(top.to_owned()) } else { Place::Dropped };
    }
    match top {
        "etc" => Place::Tree(join("usr/etc")),
        "opt" if !rest.is_empty() => Place::Tree(format!("usr/lib/opt/{rest}")),
        _ => Place::Tree(path.to_owned()),
    }
}

impl<'a, 't> Assembly<'a, 't> {
    /// Starts from the stored root `(dirtree, dirmeta)` of the base.
    pub fn new(
        repo: &'a Repo,
        tx: &'a Transaction<'t>,
        base: (Checksum, Checksum),
        options: AssembleOptions,
    ) -> Result<Self> {
        let tree = MutableTree::from_stored(repo, &base.0, &base.1).map_err(Error::store("reading the base tree"))?;
        let plain_dir = dir_meta(tx, 0o755)?;
        Ok(Assembly {
            repo,
            tx,
            tree,
            links: SymlinkCache::default(),
            owners: HashMap::new(),
            state_paths: HashMap::new(),
            state_links: HashMap::new(),
            report: AssemblyReport::default(),
            options,
            plain_dir,
        })
    }

    /// The transaction the tree is built in.
    pub fn transaction(&self) -> &'a Transaction<'t> {
        self.tx
    }

    /// The tree so far, for callers that add files of their own (the
    /// package database).
    pub fn tree_mut(&mut self) -> &mut MutableTree {
        &mut self.tree
    }

    /// Merges one package's tree.
    pub fn add(&mut self, package: &PackageTree) -> Result<()> {
        let root = MutableTree::from_stored(self.repo, &package.root.0, &package.root.1)
            .map_err(Error::store("reading a package tree"))?;
        self.add_dir(package, root, "")
    }

    fn add_dir(&mut self, package: &PackageTree, dir: MutableTree, path: &str) -> Result<()> {
        let name = package.name().to_owned();
        let child = |entry: &str| if path.is_empty() { entry.to_owned() } else { format!("{path}/{entry}") };
        for (entry, checksum) in &dir.files {
            let package_path = child(entry);
            match place(&package_path) {
                Place::Tree(dest) => self.put_file(&name, &dest, *checksum)?,
                Place::State(var) => self.state_file(&name, &var, *checksum)?,
                Place::Dropped => self.report.dropped.push(format!("{name}: /{package_path}")),
            }
        }
        for (entry, sub) in dir.dirs {
            let package_path = child(&entry);
            let sub = match sub {
                Subdir::Built(tree) => tree,
                Subdir::Stored(t, m) => {
                    MutableTree::from_stored(self.repo, &t, &m).map_err(Error::store("reading a package tree"))?
                }
            };
            match place(&package_path) {
                Place::Tree(_) if package_path == "opt" => {
                    // `/opt` itself is the base's (a link into `/var`); each
                    // `/opt/X` lives in `/usr/lib/opt/X`, linked from there.
                    let names: Vec<String> = sub.dirs.keys().chain(sub.files.keys()).cloned().collect();
                    for entry in names {
                        let target = format!("/usr/lib/opt/{entry}");
                        self.state_entry(&name, &format!("var/opt/{entry}"), Some(&target), |var| {
                            format!("L /{var} - - - - {target}")
                        })?;
                    }
                }
                Place::Tree(dest) => {
                    let meta = sub.meta.unwrap_or(self.plain_dir);
                    resolve_dir(self.tx, &mut self.tree, &mut self.links, &dest, Some(meta), &package_path).map_err(
                        |e| match e {
                            // A file of the tree on the way: name the package.
                            Error::NotADirectory { .. } => {
                                Error::DirectoryOverFile { path: format!("/{package_path}"), package: name.clone() }
                            }
                            e => e,
                        },
                    )?;
                }
                Place::State(var) => {
                    let meta = sub.meta.map(|m| self.tx.read_dirmeta(&m)).transpose();
                    let meta = meta.map_err(Error::store("reading a package directory"))?;
                    let (mode, uid, gid) = meta.map_or((0o755, 0, 0), |m| (m.mode & 0o7777, m.uid, m.gid));
                    self.state_entry(&name, &var, None, |var| format!("d /{var} {mode:04o} {uid} {gid} -"))?;
                }
                Place::Dropped => {
                    self.report.dropped.push(format!("{name}: /{package_path}"));
                    continue;
                }
            }
            self.add_dir(package, sub, &package_path)?;
        }
        Ok(())
    }

    fn state_file(&mut self, package: &str, var: &str, checksum: Checksum) -> Result<()> {
        let meta = self.tx.read_file_meta(&checksum).map_err(Error::store("reading a package file"))?;
        if meta.is_symlink() {
            let target = &meta.symlink_target;
            return self.state_entry(package, var, Some(target), |var| format!("L /{var} - - - - {target}"));
        }
        let factory = format!("{FACTORY}/{}", var.strip_prefix("var/").unwrap_or(var));
        self.state_entry(package, var, None, |var| format!("C /{var} - - - - /{factory}"))?;
        self.put_file(package, &factory, checksum)
    }

    /// Records the `/var` entry `var` of `package` (a symlink to `target`,
    /// or else a directory or file) as the tmpfiles.d line `line` makes.
    /// The line must read back as the package shipped it, and no entry may
    /// lie beneath another package's `/var` symlink: tmpfiles would follow
    /// it, perhaps out of `/var`.
    fn state_entry(
        &mut self,
        package: &str,
        var: &str,
        target: Option<&str>,
        line: impl FnOnce(&str) -> String,
    ) -> Result<()> {
        let error =
            |reason: String| Error::StatePath { path: format!("/{var}"), package: format!("`{package}`"), reason };
        if let Some(problem) = tmpfiles_word_problem(var) {
            return Err(error(format!("its name {problem}")));
        }
        if let Some(problem) = target.and_then(tmpfiles_word_problem) {
            let target = target.unwrap_or_default().escape_debug().to_string();
            return Err(error(format!("its symlink target `{target}` {problem}")));
        }
        let mut prefix = var;
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if let Some(owner) = self.state_links.get(parent).filter(|owner| *owner != package) {
                return Err(error(format!("it lies beneath `/{parent}`, a symlink of `{owner}`")));
            }
            prefix = parent;
        }
        if target.is_some() {
            let beneath = format!("{var}/");
            if let Some((path, owner)) =
                self.state_paths.iter().find(|(path, owner)| path.starts_with(&beneath) && *owner != package)
            {
                return Err(error(format!("it is a symlink, and `/{path}` of `{owner}` lies beneath it")));
            }
            self.state_links.insert(var.to_owned(), package.to_owned());
        }
        self.state_paths.insert(var.to_owned(), package.to_owned());
        self.report.tmpfiles.push(line(var));
        Ok(())
    }

    fn put_file(&mut self, package: &str, dest: &str, checksum: Checksum) -> Result<()> {
        let (parent, name) = dest.rsplit_once('/').unwrap_or(("", dest));
        let shown = format!("/{dest}");
        let Resolved::Dir(parent) =
            resolve_dir(self.tx, &mut self.tree, &mut self.links, parent, Some(self.plain_dir), &shown)?
        else {
            unreachable!("resolve_dir creates what is missing when asked to");
        };
        let canonical = if parent.is_empty() { name.to_owned() } else { format!("{parent}/{name}") };
        let dir = dir_at_path(self.repo, &mut self.tree, &parent)?;
        if dir.dirs.contains_key(name) {
            return Err(Error::FileOverDirectory { path: shown, package: package.to_owned() });
        }
        if let Some(existing) = dir.files.get(name) {
            if *existing != checksum {
                let owner = match self.owners.get(&canonical) {
                    Some(other) => format!("`{other}`"),
                    None => "the base image".to_owned(),
                };
                if !self.options.force_replace {
                    return Err(Error::Collision { path: shown, package: package.to_owned(), owner });
                }
                self.report.replaced.push(format!("{package}: {shown} (was {owner})"));
            }
        }
        dir.files.insert(name.to_owned(), checksum);
        self.owners.insert(canonical, package.to_owned());
        Ok(())
    }

    /// Removes the files and symlinks a base package's dpkg `.list` names
    /// (`override remove`); directories stay, as other packages may share
    /// them. Returns how many entries went.
    pub fn remove_package(&mut self, name: &str) -> Result<usize> {
        let info = format!("{}/info", crate::packages::DPKG_ADMINDIR);
        let mut list = None;
        for file in [format!("{info}/{name}.list"), format!("{info}/{name}:amd64.list")] {
            if let Some(text) = crate::tree::read_file(self.tx, &mut self.tree, &file)? {
                list = Some(text);
                break;
            }
        }
        let Some(list) = list else {
            return Err(Error::NotInstalled { package: name.to_owned() });
        };
        let list = String::from_utf8_lossy(&list).into_owned();
        // The list does not say which paths were directories: a path that
        // others lie beneath was one, even where the tree now has a link
        // (`/lib` on a merged-/usr base), and directories stay.
        let listed: std::collections::BTreeSet<&str> = list.lines().map(|l| l.trim_start_matches('/')).collect();
        let is_directory = |path: &str| {
            let prefix = format!("{path}/");
            listed
                .range::<str, _>((std::ops::Bound::Excluded(path), std::ops::Bound::Unbounded))
                .next()
                .is_some_and(|next| next.starts_with(&prefix))
        };
        let files: Vec<&str> = list
            .lines()
            .map(|line| line.trim_start_matches('/'))
            .filter(|path| !path.is_empty() && *path != "." && !is_directory(path))
            .collect();
        self.remove_files(&files)
    }

    /// Removes the files and symlinks at the package paths `files`
    /// (relative, as packages list them), wherever the image policy put
    /// them. Returns how many entries went.
    pub fn remove_files(&mut self, files: &[&str]) -> Result<usize> {
        let mut removed = 0;
        for path in files {
            let line = format!("/{path}");
            let line = line.as_str();
            let Place::Tree(dest) = place(path) else { continue };
            let (parent, entry) = dest.rsplit_once('/').unwrap_or(("", dest.as_str()));
            let Resolved::Dir(parent) = resolve_dir(self.tx, &mut self.tree, &mut self.links, parent, None, line)?
            else {
                continue;
            };
            let dir = dir_at_path(self.repo, &mut self.tree, &parent)?;
            if dir.files.remove(entry).is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Puts a file the caller made (the package database) at canonical
    /// `path`, replacing what is there.
    pub fn put_own_file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<()> {
        let checksum = file_object(self.tx, mode, data)?;
        insert(self.repo, &mut self.tree, path, Node::File(checksum), self.plain_dir)
    }

    /// Removes the entry at canonical `path`, if any.
    pub fn remove(&mut self, path: &str) -> Result<()> {
        self.tree.take_at(self.repo, path).map_err(Error::store("editing the tree"))?;
        Ok(())
    }

    /// Writes the layered packages' `tmpfiles.d` file (after the lines of
    /// the base's own, when a composed base has one) and returns the tree.
    /// A directory the image's lines already make is not made twice:
    /// `systemd-tmpfiles` would keep the first line and warn of the other.
    pub fn finish(mut self) -> Result<(MutableTree, AssemblyReport)> {
        if !self.report.tmpfiles.is_empty() {
            let image = crate::tree::read_file(self.tx, &mut self.tree, crate::postprocess::TMPFILES_CONF)?;
            let existing = crate::tree::read_file(self.tx, &mut self.tree, TMPFILES_CONF)?;
            let mut text = match &existing {
                Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                None => String::from("# Written by `layer`: the /var content of the layered packages.\n"),
            };
            let mut made: BTreeSet<String> = [image.as_deref(), existing.as_deref()]
                .into_iter()
                .flatten()
                .flat_map(|bytes| String::from_utf8_lossy(bytes).lines().filter_map(made_directory).collect::<Vec<_>>())
                .collect();
            for line in &self.report.tmpfiles {
                if made_directory(line).is_some_and(|path| !made.insert(path)) {
                    continue;
                }
                text.push_str(line);
                text.push('\n');
            }
            self.put_own_file(TMPFILES_CONF, 0o644, text.as_bytes())?;
        }
        Ok((self.tree, self.report))
    }
}

/// The path of a tmpfiles.d line that makes a directory (`d PATH ...`).
fn made_directory(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    (words.next() == Some("d")).then(|| words.next().map(str::to_owned)).flatten()
}

/// Why `word` cannot be one field of a tmpfiles.d line, if it cannot:
/// tmpfiles.d splits lines on whitespace, unquotes, unescapes `\` and
/// expands `%` specifiers, so such a path or symlink target would be read
/// as something else (or as more lines).
pub(crate) fn tmpfiles_word_problem(word: &str) -> Option<&'static str> {
    if word.is_empty() {
        Some("is empty")
    } else if word.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("has a space, a line break or a control character, which tmpfiles.d cannot hold")
    } else if word.contains(['"', '\'', '\\', '%']) {
        Some("has a quote, `\\` or `%`, which tmpfiles.d would read otherwise")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(p: Place) -> String {
        match p {
            Place::Tree(t) => format!("tree {t}"),
            Place::State(s) => format!("state {s}"),
            Place::Dropped => "dropped".into(),
        }
    }

    #[test]
    fn places_follow_the_image_policy() {
        let cases = [
            ("usr/bin/htop", "tree usr/bin/htop"),
            ("etc/htoprc", "tree usr/etc/htoprc"),
            ("etc", "tree usr/etc"),
            ("var/lib/app/db", "state var/lib/app/db"),
            ("var", "state var"),
            ("usr/local/bin/x", "state var/usrlocal/bin/x"),
            ("usr/localx", "tree usr/localx"),
            ("root/.bashrc", "state var/roothome/.bashrc"),
            ("opt/app/bin/app", "tree usr/lib/opt/app/bin/app"),
            ("opt", "tree opt"),
            ("run/x", "dropped"),
            ("tmp", "tree tmp"),
            ("boot/vmlinuz-6.1", "dropped"),
            ("bin/ls", "tree bin/ls"),
        ];
        for (path, expected) in cases {
            assert_eq!(shown(place(path)), expected, "{path}");
        }
    }
}
