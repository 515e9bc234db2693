//! `/var` content an image expects, recreated from its `tmpfiles.d`
//! entries (`/usr/lib/tmpfiles.d/*.conf`) in the stateroot's `/var` at
//! deploy time, as systemd-tmpfiles would at boot. Only what is missing is
//! created: `/var` is the machine's state, and nothing there is changed.
//!
//! Supported: `d`/`D` (directory), `L` (symlink) and `C` (copy from the
//! image, such as `/usr/share/factory/var/...`) under `/var`. Other types are
//! left to systemd-tmpfiles at boot. Owners may be names or numbers.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use store::fsutil;

use crate::error::{Result, io_err};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Dir {
        path: String,
        mode: u32,
        user: String,
        group: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// Copy `source`, an absolute path in the deployment, recursively.
    Copy {
        path: String,
        source: String,
    },
}

/// Parses the lines of one tmpfiles.d file, keeping the supported entries
/// whose path lies under `/var`.
pub fn parse(text: &str) -> Vec<Action> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [kind, path, rest @ ..] = fields.as_slice() else { continue };
        let Some(rel) = path.strip_prefix("/var/") else { continue };
        if rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            continue;
        }
        let field = |i: usize| rest.get(i).copied().filter(|v| *v != "-");
        match kind.trim_end_matches(['!', '+', '-', '=', '~', '^']) {
            "d" | "D" => out.push(Action::Dir {
                path: rel.to_owned(),
                mode: field(0).and_then(|m| u32::from_str_radix(m, 8).ok()).unwrap_or(0o755),
                user: field(1).unwrap_or("root").to_owned(),
                group: field(2).unwrap_or("root").to_owned(),
            }),
            "L" => {
                if let Some(target) = rest.get(4).copied() {
                    out.push(Action::Symlink { path: rel.to_owned(), target: target.to_owned() });
                }
            }
            "C" => {
                let source = rest.get(4).copied().and_then(|s| s.strip_prefix('/'));
                if let Some(source) = source.filter(|s| s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")) {
                    out.push(Action::Copy { path: rel.to_owned(), source: source.to_owned() });
                }
            }
            _ => {}
        }
    }
    out
}

/// Name-to-id map from an image's `passwd` or `group` file.
fn ids(root: BorrowedFd<'_>, file: &str) -> HashMap<String, u32> {
    for dir in ["usr/etc", "etc"] {
        let Ok(fd) = fsutil::open_file(root, format!("{dir}/{file}").as_str()) else { continue };
        let Ok(text) = fsutil::read_to_end(&fd) else { continue };
        return String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?.parse().ok()?;
                Some((name.to_owned(), id))
            })
            .collect();
    }
    HashMap::new()
}

/// The directory `parents` (`a/b`) beneath `var`, created as plain
/// root-owned directories where missing, opened one component at a time
/// without following symlinks; `None` if a component is a symlink or not
/// a directory.
fn parent_beneath(var: BorrowedFd<'_>, parents: &str) -> Result<Option<OwnedFd>> {
    let mut dir = fsutil::open_dir(var, ".").map_err(io_err("opening", "/var"))?;
    for part in parents.split('/').filter(|p| !p.is_empty()) {
        fsutil::ensure_dir(&dir, part, 0o755).map_err(io_err("creating", format!("/var/{parents}")))?;
        match fsutil::open_dir(&dir, part) {
            Ok(next) => dir = next,
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// Applies the deployment's tmpfiles.d entries to `var`, creating only
/// what is missing. Returns how many paths were created.
pub fn apply(deployment: BorrowedFd<'_>, var: BorrowedFd<'_>) -> Result<usize> {
    let Ok(dir) = fsutil::open_dir(deployment, "usr/lib/tmpfiles.d") else { return Ok(0) };
    let mut names: Vec<Vec<u8>> = fsutil::read_names(&dir)
        .map_err(io_err("listing", "usr/lib/tmpfiles.d"))?
        .into_iter()
        .map(|(n, _, _)| n)
        .filter(|n| n.ends_with(b".conf"))
        .collect();
    names.sort();
    let users = ids(deployment, "passwd");
    let groups = ids(deployment, "group");
    let mut created = 0;
    for name in names {
        let shown = String::from_utf8_lossy(&name).into_owned();
        let Ok(fd) = fsutil::open_file(&dir, std::ffi::OsStr::new(&shown)) else { continue };
        let text = fsutil::read_to_end(&fd).map_err(io_err("reading", &shown))?;
        for action in parse(&String::from_utf8_lossy(&text)) {
            let path = match &action {
                Action::Dir { path, .. } | Action::Symlink { path, .. } | Action::Copy { path, .. } => path.clone(),
            };
            // Walk to the parent one component at a time, never following a
            // symlink: an entry beneath a symlink (a package's own, or one
            // pointing out of /var) is skipped, so nothing is written outside.
            let (parents, name) = match path.rsplit_once('/') {
                Some((parents, name)) => (parents, name),
                None => ("", path.as_str()),
            };
            let Some(parent) = parent_beneath(var, parents)? else { continue };
            if rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                continue;
            }
            match action {
                Action::Dir { mode, user, group, .. } => {
                    rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700))
                        .map_err(io_err("creating", format!("/var/{path}")))?;
                    let fd = fsutil::open_dir(&parent, name).map_err(io_err("opening", format!("/var/{path}")))?;
                    let uid = users.get(&user).copied().or_else(|| user.parse().ok()).unwrap_or(0);
                    let gid = groups.get(&group).copied().or_else(|| group.parse().ok()).unwrap_or(0);
                    rustix::fs::fchown(&fd, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))
                        .map_err(io_err("setting owner of", format!("/var/{path}")))?;
                    rustix::fs::fchmod(fd.as_fd(), Mode::from_raw_mode(mode & 0o7777))
                        .map_err(io_err("setting mode of", format!("/var/{path}")))?;
                }
                Action::Symlink { target, .. } => {
                    rustix::fs::symlinkat(target.as_str(), &parent, name)
                        .map_err(io_err("creating", format!("/var/{path}")))?;
                }
                Action::Copy { source, .. } => {
                    // The source is read inside the deployment, as if it were `/`.
                    let (source_dir, source_name) = source.rsplit_once('/').unwrap_or((".", source.as_str()));
                    let Ok(source_parent) = rustix::fs::openat2(
                        deployment,
                        source_dir,
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                    ) else {
                        continue;
                    };
                    let Ok(source_parent) = fsutil::open_dir(&source_parent, ".") else { continue };
                    if rustix::fs::statat(&source_parent, source_name, AtFlags::SYMLINK_NOFOLLOW).is_err() {
                        continue;
                    }
                    crate::etc::copy_path(
                        source_parent.as_fd(),
                        source_name.as_bytes(),
                        parent.as_fd(),
                        name.as_bytes(),
                    )?;
                }
            }
            created += 1;
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_var_entries_only() {
        let text = "# comment\nd /var/lib/app 0750 app app -\nD /var/cache/x - - -\nL /var/usrlocal - - - - ../usr/local\n\
                    d /run/foo 0755 root root -\nd /var/../etc 0755 root root -\nf /var/lib/file 0644 root root -\n\
                    C /var/lib/db - - - - /usr/share/factory/var/lib/db\nC /var/lib/x - - - - relative\n";
        assert_eq!(
            parse(text),
            [
                Action::Dir { path: "lib/app".into(), mode: 0o750, user: "app".into(), group: "app".into() },
                Action::Dir { path: "cache/x".into(), mode: 0o755, user: "root".into(), group: "root".into() },
                Action::Symlink { path: "usrlocal".into(), target: "../usr/local".into() },
                Action::Copy { path: "lib/db".into(), source: "usr/share/factory/var/lib/db".into() },
            ]
        );
    }
}
