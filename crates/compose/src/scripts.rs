//! Debian maintainer scripts of the new packages, run in the sandbox over
//! the checked-out tree, as dpkg runs them on a fresh install: every
//! `preinst install`, then every `postinst configure ""` in dependency
//! order, then the triggers they activated, with dpkg's `DPKG_*`
//! environment.
//!
//! While they run, `/usr/etc` is `/etc` and `/var` holds what the image's
//! `tmpfiles.d` entries make, as on a booted system. Afterwards their
//! changes under `/etc` and `/usr` are kept; `/var` goes through the same
//! policy as package content (directories and symlinks become `tmpfiles.d`
//! entries, files move to the factory); `/run` and `/tmp` were never
//! written (tmpfs in the sandbox).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pkgdb::dpkg::{Admindir, InstalledPayload};

use crate::build::BuildRequest;
use crate::error::{Error, Result};
use crate::package_tree::PackageTree;
use crate::packages::DPKG_ADMINDIR;
use crate::postprocess::FACTORY;
use crate::sandbox::{Change, ChangeKind, EntryKind, Sandbox, SandboxConfig, Script, prefixed_stderr};
use crate::triggers;

/// The `tmpfiles.d` file for `/var` content the scripts made.
pub const TMPFILES_CONF: &str = "usr/lib/tmpfiles.d/layer-scripts.conf";

/// Files under these `/var` paths that scripts write are dropped, not kept
/// in the factory: logs and caches are the machine's, regenerated on
/// demand, and carry timestamps that would make every rebuild differ
/// (`update-alternatives` logs, ldconfig's aux-cache, apt's and man's
/// caches).
const DROPPED_VAR_FILES: [&str; 4] = ["var/log/", "var/cache/ldconfig/", "var/cache/man/", "var/cache/apt/"];

/// dpkg's version, as scripts see it in `DPKG_RUNNING_VERSION`.
const DPKG_VERSION: &str = "1.21.22";

/// What the scripts did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScriptReport {
    /// `htop.postinst configure`, in the order they ran.
    pub ran: Vec<String>,
    /// `libc-bin: ldconfig`: triggers processed.
    pub triggers: Vec<String>,
    /// `/var` paths the scripts made, kept as `tmpfiles.d` lines.
    pub tmpfiles: Vec<String>,
    /// Paths the scripts changed, as the sandbox reported them.
    pub changed: usize,
    /// Scripts activated triggers with `dpkg-trigger`; they were processed
    /// and `triggers/Unincorp` is emptied.
    pub unincorporated: bool,
}

pub(crate) struct Scripts<'a> {
    pub root: &'a Path,
    pub scratch: &'a Path,
    pub packages: &'a [PackageTree],
    pub payloads: &'a [InstalledPayload],
    pub request: &'a BuildRequest<'a>,
    pub triggers: BTreeMap<String, BTreeSet<String>>,
}

fn has_script(package: &PackageTree, name: &str) -> bool {
    package.deb().is_some_and(|deb| deb.control.scripts.contains_key(name))
}

impl Scripts<'_> {
    /// True if any package has a script to run at install time.
    pub fn needed(packages: &[PackageTree]) -> bool {
        packages.iter().any(|p| has_script(p, "preinst") || has_script(p, "postinst"))
    }

    pub fn run(self, progress: &mut dyn FnMut(&str)) -> Result<ScriptReport> {
        let root = self.root;
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        // `/etc` where scripts expect it, for the time they run.
        std::fs::rename(root.join("usr/etc"), root.join("etc")).map_err(io("moving /usr/etc to /etc"))?;
        let result = self.run_scripts(progress);
        std::fs::rename(root.join("etc"), root.join("usr/etc")).map_err(io("moving /etc back to /usr/etc"))?;
        let (mut report, changes) = result?;
        report.tmpfiles = var_policy(root, &changes)?;
        if report.unincorporated {
            let path = root.join(DPKG_ADMINDIR).join("triggers/Unincorp");
            let fresh = path.with_extension("layer-new");
            std::fs::write(&fresh, b"").map_err(io("emptying dpkg's triggers/Unincorp"))?;
            std::fs::rename(&fresh, &path).map_err(io("emptying dpkg's triggers/Unincorp"))?;
        }
        write_tmpfiles(root, &report.tmpfiles)?;

        // The packages are configured now, as dpkg records it.
        let admindir = Admindir::open(&root.join(DPKG_ADMINDIR))
            .map_err(|source| Error::Package { package: "the dpkg database".into(), source: source.into() })?;
        let mut db = admindir
            .read_status()
            .map_err(|source| Error::Package { package: "the dpkg database".into(), source: source.into() })?;
        for (package, payload) in self.packages.iter().zip(self.payloads) {
            let spec = format!("{}:{}", package.name(), package.architecture());
            db.configure(&spec, payload)
                .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
        }
        admindir
            .write_status(&db)
            .map_err(|source| Error::Package { package: "the dpkg database".into(), source: source.into() })?;
        Ok(report)
    }

    fn run_scripts(&self, progress: &mut dyn FnMut(&str)) -> Result<(ScriptReport, Vec<Change>)> {
        (self.request.prepare_var)(self.root)
            .map_err(|source| Error::Package { package: "the tree's /var".into(), source })?;
        let mut config = SandboxConfig::new(self.root, self.scratch);
        if let Some(program) = &self.request.sandbox_program {
            config.init_program = program.clone();
        }
        let mut sandbox = Sandbox::start(&config).map_err(sandbox_error("starting the script sandbox"))?;
        let mut report = ScriptReport::default();
        let script_error = |package: &PackageTree, source| Error::Script { package: package.display(), source };
        for (phase, args) in [("preinst", ["install", ""]), ("postinst", ["configure", ""])] {
            for package in self.packages.iter().filter(|p| has_script(p, phase)) {
                let name = format!("{}.{phase}", package.name());
                progress(&format!("Running {name} {}", args[0]));
                let script = self.script(package, phase)?.arg(args[0]);
                let script = if phase == "postinst" { script.arg(args[1]) } else { script };
                sandbox
                    .run_with_output(&script, &mut prefixed_stderr(format!("{name}: ")))
                    .and_then(|o| o.require_success())
                    .map_err(|source| script_error(package, source))?;
                self.check_essentials(&sandbox, &package.display(), &name)?;
                report.ran.push(format!("{name} {}", args[0]));
            }
        }
        // Triggers the scripts activated themselves (`dpkg-trigger`), as dpkg
        // leaves them in `triggers/Unincorp`: read through the overlay's upper
        // dir, where the scripts' writes are.
        let unincorp = format!("{DPKG_ADMINDIR}/triggers/Unincorp");
        let written = std::fs::read(sandbox.upper_dir().join(&unincorp)).ok();
        let mut triggers = self.triggers.clone();
        if let Some(text) = written.filter(|t| !t.is_empty()) {
            for (package, names) in triggers::pending(&text, &self.root.join(DPKG_ADMINDIR).join("info"))? {
                triggers.entry(package).or_default().extend(names);
            }
            report.unincorporated = true;
        }
        for (interested, names) in &triggers {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let program = format!("/var/lib/dpkg/info/{interested}.postinst");
            if !self.root.join(DPKG_ADMINDIR).join(format!("info/{interested}.postinst")).is_file() {
                continue;
            }
            progress(&format!("Processing triggers for {interested} ({})", names.join(" ")));
            let script = Script::new(format!("{interested}.postinst"), program)
                .arg("triggered")
                .arg(names.join(" "))
                .envs(environment(interested, "", "postinst"))
                .env("SOURCE_DATE_EPOCH", self.request.source_date_epoch.to_string())
                .timeout(self.request.script_timeout);
            sandbox
                .run_with_output(&script, &mut prefixed_stderr(format!("{interested}.postinst: ")))
                .and_then(|o| o.require_success())
                .map_err(|source| Error::Script { package: interested.clone(), source })?;
            self.check_essentials(&sandbox, interested, &format!("{interested}.postinst triggered"))?;
            report.triggers.push(format!("{interested}: {}", names.join(" ")));
        }
        let upper = sandbox.finish().map_err(sandbox_error("stopping the script sandbox"))?;
        let changes = upper.apply().map_err(sandbox_error("applying the scripts' changes"))?;
        report.changed = changes.len();
        note_removed(&changes, progress);
        Ok((report, changes))
    }

    fn check_essentials(&self, sandbox: &Sandbox, package: &str, script: &str) -> Result<()> {
        check_essentials(self.root, sandbox, package, script)
    }

    fn script(&self, package: &PackageTree, phase: &str) -> Result<Script> {
        let control = &package.deb_meta()?.control;
        let name = &control.package;
        let info = if control.multi_arch.as_deref() == Some("same") {
            format!("{name}:{}", control.architecture)
        } else {
            name.clone()
        };
        Ok(Script::new(format!("{name}.{phase}"), format!("/var/lib/dpkg/info/{info}.{phase}"))
            .envs(environment(name, &control.architecture, phase))
            .env("SOURCE_DATE_EPOCH", self.request.source_date_epoch.to_string())
            .timeout(self.request.script_timeout))
    }
}

/// Paths of the tree (as scripts see it, `/etc` in place) that no script
/// may take away: the configuration, and the package database the build
/// records the packages in afterwards.
const ESSENTIAL: [&str; 3] = ["etc", "usr/lib/sysimage/dpkg/status", "usr/lib/sysimage/rpm/rpmdb.sqlite"];

/// Fails if the script `script` of `package` that just ran removed one of
/// the [`ESSENTIAL`] paths the tree at `root` had (seen in the sandbox's
/// upper dir: a whiteout, or a file or opaque directory in place of a
/// parent). A script may break much of a system, as on a real one;
/// without these the build itself cannot finish or record the result.
pub(crate) fn check_essentials(root: &Path, sandbox: &Sandbox, package: &str, script: &str) -> Result<()> {
    let upper = sandbox.upper_dir();
    for path in ESSENTIAL.iter().filter(|p| root.join(p).symlink_metadata().is_ok()) {
        if removed_in_upper(&upper, path) {
            return Err(Error::ScriptRemovedEssential {
                package: package.to_owned(),
                script: script.to_owned(),
                path: format!("/{path}"),
            });
        }
    }
    Ok(())
}

/// Adds the scripts' `/var` entries to [`TMPFILES_CONF`] of the tree at
/// `root` (a composed base may have one already), as a new file: the old
/// one is a hardlink into the store.
pub(crate) fn write_tmpfiles(root: &Path, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let io = |source| Error::Io { what: "writing the scripts' tmpfiles.d entries".into(), source };
    let path = root.join(TMPFILES_CONF);
    let mut text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            String::from("# Written by `layer`: the /var content maintainer scripts made.\n")
        }
        Err(source) => return Err(io(source)),
    };
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let staged = path.with_extension("layer-new");
    std::fs::write(&staged, text).map_err(io)?;
    std::fs::rename(&staged, &path).map_err(io)
}

/// How many removed files are named one by one.
const MAX_REMOVED_NOTES: usize = 20;

/// Names the files under `/usr` and `/etc` that scripts removed.
pub(crate) fn note_removed(changes: &[Change], progress: &mut dyn FnMut(&str)) {
    let removed: Vec<&Change> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Removed && c.entry != EntryKind::Directory)
        .filter(|c| c.path.starts_with("/usr") || c.path.starts_with("/etc"))
        .collect();
    for change in removed.iter().take(MAX_REMOVED_NOTES) {
        progress(&format!("note: a script removed {}", change.path.display()));
    }
    if removed.len() > MAX_REMOVED_NOTES {
        progress(&format!("note: ... and {} more files", removed.len() - MAX_REMOVED_NOTES));
    }
}

/// True if the overlay's upper dir hides `path` of the lower tree: a
/// whiteout on it or on a parent, a parent replaced by a non-directory, or
/// an opaque parent directory that does not have it.
fn removed_in_upper(upper: &Path, path: &str) -> bool {
    let mut dir = upper.to_path_buf();
    let mut parent_opaque = false;
    for part in path.split('/') {
        dir.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            // Not in the upper dir: the lower tree's shows, unless hidden.
            return parent_opaque;
        };
        let file_type = meta.file_type();
        if std::os::unix::fs::FileTypeExt::is_char_device(&file_type) && meta.rdev() == 0 {
            return true;
        }
        if !file_type.is_dir() {
            // A file where a parent was, or the entry itself (still there).
            return dir.as_path() != upper.join(path);
        }
        let mut value = [0u8; 8];
        parent_opaque =
            rustix::fs::lgetxattr(&dir, "trusted.overlay.opaque", &mut value).is_ok_and(|n| &value[..n] == b"y");
    }
    false
}

pub(crate) fn sandbox_error(what: &'static str) -> impl FnOnce(crate::sandbox::SandboxError) -> Error {
    move |source| Error::Sandbox { what, source }
}

/// The environment dpkg gives maintainer scripts, and nothing of ours.
fn environment(package: &str, architecture: &str, phase: &str) -> Vec<(String, String)> {
    [
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ("LANG", "C.UTF-8"),
        ("HOME", "/root"),
        ("DEBIAN_FRONTEND", "noninteractive"),
        ("DEBCONF_NONINTERACTIVE_SEEN", "true"),
        ("DPKG_MAINTSCRIPT_PACKAGE", package),
        ("DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT", "1"),
        ("DPKG_MAINTSCRIPT_ARCH", architecture),
        ("DPKG_MAINTSCRIPT_NAME", phase),
        ("DPKG_MAINTSCRIPT_DEBUG", "0"),
        ("DPKG_RUNNING_VERSION", DPKG_VERSION),
        ("DPKG_ADMINDIR", "/var/lib/dpkg"),
        ("DPKG_ROOT", ""),
        ("DPKG_COLORS", "never"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Turns what the scripts added or changed under `/var` into `tmpfiles.d`
/// lines (files move to the factory), and empties `/var` again: it is
/// never content.
pub(crate) fn var_policy(root: &Path, changes: &[Change]) -> Result<Vec<String>> {
    let io = |what: String| move |source| Error::Io { what, source };
    let mut lines = Vec::new();
    for change in changes.iter().filter(|c| c.kind != ChangeKind::Removed) {
        let Ok(relative) = change.path.strip_prefix("/") else { continue };
        if !relative.starts_with("var") || relative == Path::new("var") {
            continue;
        }
        let path = root.join(relative);
        let shown = relative.display().to_string();
        let unfit = |reason: String| Error::StatePath {
            path: format!("/{}", shown.escape_debug()),
            package: "a maintainer script".into(),
            reason,
        };
        if relative.to_str().is_none() {
            return Err(unfit("its name is not UTF-8, which tmpfiles.d cannot hold".into()));
        }
        if let Some(problem) = crate::assemble::tmpfiles_word_problem(&shown) {
            return Err(unfit(format!("its name {problem}")));
        }
        match change.entry {
            EntryKind::Symlink => {
                let target = std::fs::read_link(&path).map_err(io(format!("reading `{}`", path.display())))?;
                let Some(target) = target.to_str() else {
                    return Err(unfit("its symlink target is not UTF-8, which tmpfiles.d cannot hold".into()));
                };
                if let Some(problem) = crate::assemble::tmpfiles_word_problem(target) {
                    return Err(unfit(format!("its symlink target `{}` {problem}", target.escape_debug())));
                }
                lines.push(format!("L /{shown} - - - - {target}"));
            }
            EntryKind::Directory => {
                let meta = std::fs::symlink_metadata(&path).map_err(io(format!("reading `{}`", path.display())))?;
                lines.push(format!("d /{shown} {:04o} {} {} -", meta.mode() & 0o7777, meta.uid(), meta.gid()));
            }
            EntryKind::File if DROPPED_VAR_FILES.iter().any(|p| shown.starts_with(p)) => {}
            EntryKind::File => {
                let inside = shown.strip_prefix("var/").unwrap_or(&shown);
                let factory = root.join(FACTORY).join(inside);
                if let Some(parent) = factory.parent() {
                    std::fs::create_dir_all(parent).map_err(io(format!("creating `{}`", parent.display())))?;
                }
                std::fs::rename(&path, &factory).map_err(io(format!("moving `{}` to the factory", path.display())))?;
                lines.push(format!("C /{shown} - - - - /{FACTORY}/{inside}"));
            }
            EntryKind::Other => {}
        }
    }
    // Parents before children.
    lines.sort_by(|a, b| a[2..].cmp(&b[2..]));
    let var = root.join("var");
    for entry in std::fs::read_dir(&var).map_err(io("listing /var".into()))?.filter_map(|e| e.ok()) {
        let path = entry.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io(format!("removing `{}`", path.display())))?;
    }
    Ok(lines)
}
