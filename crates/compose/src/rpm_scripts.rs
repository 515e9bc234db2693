//! rpm scriptlets of the new packages, run in the sandbox over the
//! checked-out tree, and the owners rpm names: every `%pretrans`, then
//! every `%pre`, then the files' owners mapped through the image's account
//! files (which `%pre` may just have extended), then every `%post` and
//! every `%posttrans`, each phase in install order. All packages are
//! unpacked before the first scriptlet runs, as rpm-ostree does; rpm
//! would interleave `%pre`, unpack and `%post` package by package.
//!
//! Scriptlets run as rpm runs them: the interpreter and its arguments,
//! the body as a file, then `1` (the number of instances installed). Lua
//! scriptlets (`<lua>`, rpm's embedded interpreter) cannot run outside
//! rpm; a package with one in these phases is refused, named. Triggers
//! (`%triggerin`, file triggers) are not run; each skipped one is named.
//!
//! `/etc`, `/var`, `/run` and `/tmp` are handled as for Debian scripts
//! ([`crate::scripts`]).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use pkgdb::rpm::{Interpreter, RpmFile, ScriptKind, Scriptlet};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

use crate::assemble::TMPFILES_CONF as PACKAGES_TMPFILES;
use crate::build::BuildRequest;
use crate::error::{Error, Result};
use crate::package_tree::PackageTree;
use crate::postprocess::FACTORY;
use crate::sandbox::{Change, Sandbox, SandboxConfig, Script, prefixed_stderr};
use crate::scripts::{ScriptReport, check_essentials, note_removed, sandbox_error, var_policy, write_tmpfiles};

/// Where scriptlet bodies are written in the tree while they run.
const SCRIPTLET_DIR: &str = ".layer-scriptlets";

/// The phases before the owners are mapped, and after.
const BEFORE_UNPACK: [ScriptKind; 2] = [ScriptKind::PreTrans, ScriptKind::Pre];
const AFTER_UNPACK: [ScriptKind; 2] = [ScriptKind::Post, ScriptKind::PostTrans];

pub(crate) struct RpmScripts<'a> {
    pub root: &'a Path,
    pub scratch: &'a Path,
    pub packages: &'a [PackageTree],
    pub request: &'a BuildRequest<'a>,
}

fn scriptlet(package: &PackageTree, kind: ScriptKind) -> Option<&Scriptlet> {
    package.rpm()?.package.scripts.iter().find(|s| s.kind == kind)
}

/// Files whose owner is not root, which the build must map by name.
fn owned_files(package: &PackageTree) -> impl Iterator<Item = &RpmFile> {
    let files = package.rpm().map(|r| r.package.files.as_slice()).unwrap_or_default();
    files.iter().filter(|f| !f.flags.ghost() && (f.user != "root" || f.group != "root"))
}

impl RpmScripts<'_> {
    /// True if any package has a scriptlet to run, or files owned by
    /// someone other than root.
    pub fn needed(packages: &[PackageTree]) -> bool {
        packages.iter().any(|p| {
            BEFORE_UNPACK.iter().chain(&AFTER_UNPACK).any(|k| scriptlet(p, *k).is_some())
                || owned_files(p).next().is_some()
        })
    }

    /// Refuses a package with a Lua scriptlet in a phase that would run.
    pub fn check_runnable(packages: &[PackageTree]) -> Result<()> {
        for package in packages {
            for kind in BEFORE_UNPACK.iter().chain(&AFTER_UNPACK) {
                if scriptlet(package, *kind).is_some_and(|s| s.interpreter.is_lua()) {
                    return Err(Error::LuaScriptlet {
                        package: package.display(),
                        script: format!("%{}", kind.as_str()),
                    });
                }
            }
        }
        Ok(())
    }

    /// The triggers that will not run, as `package: %triggerin -- bash`.
    pub fn skipped_triggers(packages: &[PackageTree]) -> Vec<String> {
        let mut out = Vec::new();
        for package in packages.iter().filter_map(|p| p.rpm()) {
            for trigger in &package.package.triggers {
                let class = match trigger.class {
                    pkgdb::rpm::TriggerClass::Package => "trigger",
                    pkgdb::rpm::TriggerClass::File => "filetrigger",
                    pkgdb::rpm::TriggerClass::TransactionFile => "transfiletrigger",
                };
                let on: Vec<String> = trigger.conditions.iter().map(|c| c.to_string()).collect();
                out.push(format!("{}: %{class}{} -- {}", package.package.name, trigger.event, on.join(", ")));
            }
        }
        out
    }

    pub fn run(self, progress: &mut dyn FnMut(&str)) -> Result<ScriptReport> {
        let root = self.root;
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        for line in Self::skipped_triggers(self.packages) {
            progress(&format!("note: rpm trigger not run: {line}"));
        }
        // `/etc` where scriptlets expect it, for the time they run.
        std::fs::rename(root.join("usr/etc"), root.join("etc")).map_err(io("moving /usr/etc to /etc"))?;
        let result = self.run_phases(progress);
        let cleaned = std::fs::remove_dir_all(root.join(SCRIPTLET_DIR));
        std::fs::rename(root.join("etc"), root.join("usr/etc")).map_err(io("moving /etc back to /usr/etc"))?;
        let (mut report, changes) = result?;
        match cleaned {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { what: "removing the scriptlets".into(), source }),
        }
        report.tmpfiles = var_policy(root, &changes)?;
        write_tmpfiles(root, &report.tmpfiles)?;
        Ok(report)
    }

    fn run_phases(&self, progress: &mut dyn FnMut(&str)) -> Result<(ScriptReport, Vec<Change>)> {
        self.write_bodies()?;
        let mut report = ScriptReport::default();
        let mut changes = self.session(&BEFORE_UNPACK, &mut report, progress)?;
        for package in self.packages {
            map_owners(self.root, package, progress)?;
        }
        changes.extend(self.session(&AFTER_UNPACK, &mut report, progress)?);
        report.changed = changes.len();
        note_removed(&changes, progress);
        Ok((report, changes))
    }

    /// Writes each scriptlet body to run into [`SCRIPTLET_DIR`].
    fn write_bodies(&self) -> Result<()> {
        let dir = self.root.join(SCRIPTLET_DIR);
        for (i, package) in self.packages.iter().enumerate() {
            for kind in BEFORE_UNPACK.iter().chain(&AFTER_UNPACK) {
                let Some(body) = scriptlet(package, *kind).and_then(|s| s.body.as_deref()) else { continue };
                std::fs::create_dir_all(&dir)
                    .map_err(|source| Error::Io { what: "creating the scriptlet directory".into(), source })?;
                std::fs::write(dir.join(body_name(i, *kind)), body).map_err(|source| Error::Io {
                    what: format!("writing a scriptlet of `{}`", package.name()),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Runs the scriptlets of `phases` in one sandbox and applies their changes.
    fn session(
        &self,
        phases: &[ScriptKind],
        report: &mut ScriptReport,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<Change>> {
        let any = self.packages.iter().any(|p| phases.iter().any(|k| scriptlet(p, *k).is_some()));
        if !any {
            return Ok(Vec::new());
        }
        (self.request.prepare_var)(self.root)
            .map_err(|source| Error::Package { package: "the tree's /var".into(), source })?;
        let mut config = SandboxConfig::new(self.root, self.scratch);
        if let Some(program) = &self.request.sandbox_program {
            config.init_program = program.clone();
        }
        let mut sandbox = Sandbox::start(&config).map_err(sandbox_error("starting the script sandbox"))?;
        for kind in phases {
            for (i, package) in self.packages.iter().enumerate() {
                let Some(scriptlet) = scriptlet(package, *kind) else { continue };
                let name = format!("{} %{}", package.name(), kind.as_str());
                progress(&format!("Running {name}"));
                let script = self.script(i, package, scriptlet, &name);
                sandbox
                    .run_with_output(&script, &mut prefixed_stderr(format!("{name}: ")))
                    .and_then(|o| o.require_success())
                    .map_err(|source| Error::Script { package: package.display(), source })?;
                check_essentials(self.root, &sandbox, &package.display(), &name)?;
                report.ran.push(name);
            }
        }
        let upper = sandbox.finish().map_err(sandbox_error("stopping the script sandbox"))?;
        upper.apply().map_err(sandbox_error("applying the scripts' changes"))
    }

    fn script(&self, index: usize, package: &PackageTree, scriptlet: &Scriptlet, name: &str) -> Script {
        let mut argv = match &scriptlet.interpreter {
            Interpreter::Program(argv) if !argv.is_empty() => argv.clone(),
            // Lua was refused before anything ran.
            _ => vec!["/bin/sh".to_owned()],
        };
        if scriptlet.body.is_some() {
            argv.push(format!("/{SCRIPTLET_DIR}/{}", body_name(index, scriptlet.kind)));
        }
        argv.push("1".to_owned());
        let program = argv.remove(0);
        Script::new(name.to_owned(), program)
            .args(argv)
            .envs([("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), ("LANG", "C.UTF-8"), ("HOME", "/root")])
            .env("RPM_PACKAGE_NAME", package.name())
            .env("SOURCE_DATE_EPOCH", self.request.source_date_epoch.to_string())
            .timeout(self.request.script_timeout)
    }
}

fn body_name(index: usize, kind: ScriptKind) -> String {
    format!("{index}.{}", kind.as_str())
}

/// Gives the files of `package` the owners its header names, by the
/// account files of the tree at `root` (`/etc` in place), as rpm does when
/// it unpacks; a name the image does not know keeps the unmapped id, never
/// root (rpm would fall back to root), and is reported. Files still
/// hardlinked to the store are copied first, so the store never changes;
/// changing the owner clears setuid bits and capabilities, so both are
/// set again afterwards, as rpm sets them.
fn map_owners(root: &Path, package: &PackageTree, progress: &mut dyn FnMut(&str)) -> Result<()> {
    let mut files = owned_files(package).peekable();
    if files.peek().is_none() {
        return Ok(());
    }
    let users = ids(&root.join("etc/passwd"))?;
    let groups = ids(&root.join("etc/group"))?;
    let rootfd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::Io { what: format!("opening `{}`", root.display()), source: e.into() })?;
    let mut state_dirs = Vec::new();
    for file in files {
        let lookup = |table: &[(String, u32)], name: &str| {
            if name == "root" { Some(0) } else { table.iter().find(|(n, _)| n == name).map(|(_, id)| *id) }
        };
        let (uid, gid) = (lookup(&users, &file.user), lookup(&groups, &file.group));
        let shown = file.path.to_absolute();
        if uid.is_none() {
            progress(&format!(
                "warning: {}: user `{}` of {shown} does not exist; it stays unmapped",
                package.name(),
                file.user
            ));
        }
        if gid.is_none() {
            progress(&format!(
                "warning: {}: group `{}` of {shown} does not exist; it stays unmapped",
                package.name(),
                file.group
            ));
        }
        let uid = uid.unwrap_or(pkgdb::rpm::UNMAPPED_ID);
        let gid = gid.unwrap_or(pkgdb::rpm::UNMAPPED_ID);
        let dest =
            match (crate::assemble::tree_path(file.path.as_str()), crate::assemble::state_path(file.path.as_str())) {
                (Some(dest), _) => dest,
                // State: a directory is a tmpfiles.d line, a file is in the factory.
                (None, Some(var)) if file.kind == pkgdb::rpm::FileKind::Dir => {
                    state_dirs.push((var, uid, gid));
                    continue;
                }
                (None, Some(var)) => format!("{FACTORY}/{}", var.strip_prefix("var/").unwrap_or(&var)),
                (None, None) => continue,
            };
        // While scriptlets run, `/usr/etc` is `/etc`.
        let dest = match dest.strip_prefix("usr/etc") {
            Some(rest) => format!("etc{rest}"),
            None => dest,
        };
        set_owner(&rootfd, &dest, file, uid, gid).map_err(|source| Error::Io {
            what: format!("setting the owner of `{shown}` of `{}`", package.name()),
            source,
        })?;
    }
    if !state_dirs.is_empty() {
        let conf = root.join(PACKAGES_TMPFILES);
        let io = |source| Error::Io { what: format!("updating `/{PACKAGES_TMPFILES}`"), source };
        let text = std::fs::read_to_string(&conf).map_err(io)?;
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let owner = match fields.as_slice() {
                ["d", path, ..] => state_dirs.iter().find(|(var, _, _)| path.strip_prefix('/') == Some(var.as_str())),
                _ => None,
            };
            match (owner, fields.as_slice()) {
                (Some((_, uid, gid)), [kind, path, mode, _, _, rest @ ..]) => {
                    out.push_str(&format!("{kind} {path} {mode} {uid} {gid} {}", rest.join(" ")));
                }
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        // A new file: the old one is a hardlink into the store.
        let staged = conf.with_extension("layer-new");
        std::fs::write(&staged, out).map_err(io)?;
        std::fs::rename(&staged, &conf).map_err(io)?;
    }
    Ok(())
}

/// `name:x:id:...` lines of a passwd or group file.
fn ids(path: &Path) -> Result<Vec<(String, u32)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { what: format!("reading `{}`", path.display()), source }),
    };
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            Some((name.to_owned(), id))
        })
        .collect())
}

fn set_owner(root: &OwnedFd, path: &str, file: &RpmFile, uid: u32, gid: u32) -> std::io::Result<()> {
    let (parent, name) = path.rsplit_once('/').unwrap_or((".", path));
    let parent = rustix::fs::openat2(
        root,
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?;
    let stat = match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        // A scriptlet may have removed it.
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let owner = (Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)));
    let file_type = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    if file_type != rustix::fs::FileType::RegularFile {
        rustix::fs::chownat(&parent, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)?;
        if file_type == rustix::fs::FileType::Directory {
            rustix::fs::chmodat(&parent, name, Mode::from_raw_mode(file.mode & 0o7777), AtFlags::empty())?;
        }
        return Ok(());
    }
    // A fresh copy, so the store's object (hardlinked here) stays as it is.
    let source = rustix::fs::openat(&parent, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let staged = format!(".{name}.layer-owner");
    let _ = rustix::fs::unlinkat(&parent, staged.as_str(), AtFlags::empty());
    let copy = rustix::fs::openat(
        &parent,
        staged.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let mut reader = std::fs::File::from(source);
    let mut writer = std::fs::File::from(copy);
    std::io::copy(&mut reader, &mut writer)?;
    rustix::fs::fchown(writer.as_fd(), owner.0, owner.1)?;
    rustix::fs::fchmod(writer.as_fd(), Mode::from_raw_mode(file.mode & 0o7777))?;
    if let Some(caps) = &file.capability_xattr {
        rustix::fs::fsetxattr(writer.as_fd(), "security.capability", caps, rustix::fs::XattrFlags::empty())?;
    }
    drop(writer);
    rustix::fs::renameat(&parent, staged.as_str(), &parent, name)?;
    Ok(())
}
