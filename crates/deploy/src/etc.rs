//! `/etc`: each deployment gets a writable copy of its image's `/usr/etc`,
//! and the changes the user made in the previous deployment (its `/etc`
//! against its `/usr/etc`) are carried over with OSTree's rules: files the
//! user modified, added or deleted win; there is no content merge; a file
//! that the new image turns into a directory is an error; FIFOs, sockets
//! and devices are skipped; modes, owners and xattrs are copied as they are
//! (so `/etc/shadow` keeps mode 0). Xattrs are not compared, as in OSTree:
//! labels differ between `/usr/etc` and `/etc` without any user change.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use store::fsutil;

use crate::error::{Error, Result, io_err};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergeStats {
    pub modified: usize,
    pub removed: usize,
    pub added: usize,
}

fn kind(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn lstat(dir: BorrowedFd<'_>, name: &[u8]) -> std::io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_special(st: &Stat) -> bool {
    !matches!(kind(st), FileType::RegularFile | FileType::Directory | FileType::Symlink)
}

/// Makes the deployment's `/etc`: a compatibility move of a tree's `/etc`
/// to `/usr/etc` when the tree has only `/etc`, then a copy of `/usr/etc`.
pub fn prepare(deployment: BorrowedFd<'_>) -> Result<()> {
    let etc = lstat(deployment, b"etc").map_err(io_err("reading", "etc"))?;
    let usr_etc = lstat(deployment, b"usr/etc").map_err(io_err("reading", "usr/etc"))?;
    match (etc, usr_etc) {
        (Some(_), Some(_)) => return Err(Error::BothEtc),
        (Some(_), None) => {
            rustix::fs::renameat(deployment, "etc", deployment, "usr/etc")
                .map_err(io_err("moving", "etc to usr/etc"))?;
        }
        (None, None) => return Ok(()),
        (None, Some(_)) => {}
    }
    copy_path(deployment, b"usr/etc", deployment, b"etc")
}

/// Copies a file, symlink or directory (recursively) with its mode,
/// owner and xattrs. Special files are skipped.
pub fn copy_path(src: BorrowedFd<'_>, src_name: &[u8], dst: BorrowedFd<'_>, dst_name: &[u8]) -> Result<()> {
    let shown = String::from_utf8_lossy(src_name).into_owned();
    let Some(st) = lstat(src, src_name).map_err(io_err("reading", &shown))? else { return Ok(()) };
    let (sname, dname) = (OsStr::from_bytes(src_name), OsStr::from_bytes(dst_name));
    match kind(&st) {
        FileType::Directory => {
            match rustix::fs::mkdirat(dst, dname, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(io_err("creating", &shown)(e)),
            }
            let s = fsutil::open_dir(src, sname).map_err(io_err("opening", &shown))?;
            let d = fsutil::open_dir(dst, dname).map_err(io_err("opening", &shown))?;
            for (child, _, _) in fsutil::read_names(&s).map_err(io_err("listing", &shown))? {
                copy_path(s.as_fd(), &child, d.as_fd(), &child)?;
            }
            copy_meta(&s, &d, &st).map_err(io_err("setting metadata of", &shown))
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(src, sname, Vec::new()).map_err(io_err("reading", &shown))?;
            rustix::fs::symlinkat(target.as_c_str(), dst, dname).map_err(io_err("creating symlink", &shown))?;
            rustix::fs::chownat(
                dst,
                dname,
                Some(rustix::fs::Uid::from_raw(st.st_uid)),
                Some(rustix::fs::Gid::from_raw(st.st_gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err("setting owner of", &shown))
        }
        FileType::RegularFile => {
            let s = fsutil::open_file(src, sname).map_err(io_err("opening", &shown))?;
            let d = rustix::fs::openat(
                dst,
                dname,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(io_err("creating", &shown))?;
            fsutil::copy_fd(s.as_fd(), d.as_fd()).map_err(io_err("copying", &shown))?;
            copy_meta(&s, &d, &st).map_err(io_err("setting metadata of", &shown))
        }
        _ => Ok(()),
    }
}

fn copy_meta(src: &OwnedFd, dst: &OwnedFd, st: &Stat) -> std::io::Result<()> {
    let xattrs = fsutil::fd_xattrs(src.as_fd())?;
    fsutil::set_metadata(dst.as_fd(), st.st_uid, st.st_gid, st.st_mode, &xattrs, fsutil::Owner::Required)
}

#[derive(Debug, Default)]
struct Diff {
    modified: Vec<Vec<u8>>,
    removed: Vec<Vec<u8>>,
    added: Vec<Vec<u8>>,
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if prefix.is_empty() { name.to_vec() } else { [prefix, b"/", name].concat() }
}

fn same_content(a: BorrowedFd<'_>, b: BorrowedFd<'_>, name: &[u8], sa: &Stat, sb: &Stat) -> std::io::Result<bool> {
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino) {
        return Ok(true);
    }
    if sa.st_size != sb.st_size {
        return Ok(false);
    }
    let n = OsStr::from_bytes(name);
    if kind(sa) == FileType::Symlink {
        return Ok(rustix::fs::readlinkat(a, n, Vec::new())? == rustix::fs::readlinkat(b, n, Vec::new())?);
    }
    let fa = fsutil::open_file(a, n)?;
    let fb = fsutil::open_file(b, n)?;
    Ok(fsutil::read_to_end(&fa)? == fsutil::read_to_end(&fb)?)
}

/// `orig` is the old image's `/usr/etc`, `modified` the old `/etc`.
fn diff(orig: BorrowedFd<'_>, modified: BorrowedFd<'_>, prefix: &[u8], out: &mut Diff) -> Result<()> {
    let shown = || String::from_utf8_lossy(prefix).into_owned();
    let orig_names = fsutil::read_names(orig).map_err(io_err("listing /usr/etc", shown()))?;
    let mod_names = fsutil::read_names(modified).map_err(io_err("listing /etc", shown()))?;
    for (name, _, _) in &orig_names {
        let path = join(prefix, name);
        let Some(so) = lstat(orig, name).map_err(io_err("reading", shown()))? else { continue };
        let Some(sm) = lstat(modified, name).map_err(io_err("reading", shown()))? else {
            out.removed.push(path);
            continue;
        };
        if is_special(&sm) {
            continue;
        }
        let meta_differs = (so.st_mode, so.st_uid, so.st_gid) != (sm.st_mode, sm.st_uid, sm.st_gid);
        if kind(&so) == FileType::Directory && kind(&sm) == FileType::Directory {
            if meta_differs {
                out.modified.push(path.clone());
            }
            let o = fsutil::open_dir(orig, OsStr::from_bytes(name)).map_err(io_err("opening", shown()))?;
            let m = fsutil::open_dir(modified, OsStr::from_bytes(name)).map_err(io_err("opening", shown()))?;
            diff(o.as_fd(), m.as_fd(), &path, out)?;
        } else if meta_differs || !same_content(orig, modified, name, &so, &sm).map_err(io_err("comparing", shown()))? {
            out.modified.push(path);
        }
    }
    for (name, _, _) in &mod_names {
        if orig_names.iter().any(|(o, _, _)| o == name) {
            continue;
        }
        if let Some(sm) = lstat(modified, name).map_err(io_err("reading", shown()))?
            && !is_special(&sm)
        {
            out.added.push(join(prefix, name));
        }
    }
    Ok(())
}

/// Opens (creating as needed) `path`'s directories in `new`, giving each the
/// attributes of the same directory in `modified`.
fn ensure_parents(modified: BorrowedFd<'_>, new: BorrowedFd<'_>, path: &[u8]) -> Result<OwnedFd> {
    let mut m = fsutil::open_dir(modified, ".").map_err(io_err("opening", "/etc"))?;
    let mut n = fsutil::open_dir(new, ".").map_err(io_err("opening", "/etc"))?;
    let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    for part in &parts[..parts.len() - 1] {
        let name = OsStr::from_bytes(part);
        let shown = String::from_utf8_lossy(path).into_owned();
        let created = match rustix::fs::mkdirat(&n, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => true,
            Err(rustix::io::Errno::EXIST) => false,
            Err(e) => return Err(io_err("creating", &shown)(e)),
        };
        let next_m = fsutil::open_dir(&m, name).map_err(io_err("opening", &shown))?;
        let next_n = fsutil::open_dir(&n, name).map_err(|_| Error::EtcTypeChange { path: shown.clone() })?;
        if created {
            let st = rustix::fs::fstat(&next_m).map_err(io_err("reading", &shown))?;
            copy_meta(&next_m, &next_n, &st).map_err(io_err("setting metadata of", &shown))?;
        }
        m = next_m;
        n = next_n;
    }
    Ok(n)
}

fn apply_modified(modified: BorrowedFd<'_>, new: BorrowedFd<'_>, path: &[u8]) -> Result<()> {
    let shown = String::from_utf8_lossy(path).into_owned();
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let src_parent = match path.len() - name.len() {
        0 => fsutil::open_dir(modified, ".").map_err(io_err("opening", "/etc"))?,
        n => fsutil::open_dir(modified, OsStr::from_bytes(&path[..n - 1])).map_err(io_err("opening", &shown))?,
    };
    let dst_parent = ensure_parents(modified, new, path)?;
    let Some(sm) = lstat(src_parent.as_fd(), name).map_err(io_err("reading", &shown))? else { return Ok(()) };
    if let Some(sn) = lstat(dst_parent.as_fd(), name).map_err(io_err("reading", &shown))? {
        match (kind(&sn) == FileType::Directory, kind(&sm) == FileType::Directory) {
            (true, false) => return Err(Error::EtcTypeChange { path: shown }),
            (true, true) => {
                // The directory stays; its children are merged one by one,
                // and the user's mode and owner win.
                let s = fsutil::open_dir(&src_parent, OsStr::from_bytes(name)).map_err(io_err("opening", &shown))?;
                let d = fsutil::open_dir(&dst_parent, OsStr::from_bytes(name)).map_err(io_err("opening", &shown))?;
                copy_meta(&s, &d, &sm).map_err(io_err("setting metadata of", &shown))?;
                for (child, _, _) in fsutil::read_names(&s).map_err(io_err("listing", &shown))? {
                    let mut child_path = path.to_vec();
                    child_path.push(b'/');
                    child_path.extend_from_slice(&child);
                    if lstat(d.as_fd(), &child).map_err(io_err("reading", &shown))?.is_none() {
                        apply_modified(modified, new, &child_path)?;
                    }
                }
                return Ok(());
            }
            _ => fsutil::remove_all_at(dst_parent.as_fd(), name).map_err(io_err("replacing", &shown))?,
        }
    }
    copy_path(src_parent.as_fd(), name, dst_parent.as_fd(), name)
}

/// Carries the user's changes from the old deployment into the new `/etc`.
/// User and group databases: when the user changed one, the entries the
/// new image adds (system users and groups that packages create) are
/// appended to the user's version, so they are not lost the way other
/// files' image changes are. rpm-ostree solves the same problem with
/// `nss-altfiles`; a line-level union keeps Debian's plain files working.
const ACCOUNT_FILES: [&str; 4] = ["passwd", "group", "shadow", "gshadow"];

/// Appends to `etc/NAME` the entries of `usr/etc/NAME` whose name (the
/// first `:` field) it lacks, keeping the file's owner and mode.
fn merge_accounts(usr_etc: BorrowedFd<'_>, etc: BorrowedFd<'_>, name: &str) -> Result<()> {
    let (Ok(image), Ok(local)) = (fsutil::open_file(usr_etc, name), fsutil::open_file(etc, name)) else {
        return Ok(());
    };
    let image = fsutil::read_to_end(&image).map_err(io_err("reading", format!("usr/etc/{name}")))?;
    let st = rustix::fs::fstat(&local).map_err(io_err("reading", format!("etc/{name}")))?;
    let mut text = fsutil::read_to_end(&local).map_err(io_err("reading", format!("etc/{name}")))?;
    let entry_name = |line: &[u8]| line.split(|&b| b == b':').next().unwrap_or(b"").to_vec();
    let known: std::collections::HashSet<Vec<u8>> = text.split(|&b| b == b'\n').map(entry_name).collect();
    let extra: Vec<&[u8]> = image
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty() && !line.starts_with(b"#") && !known.contains(&entry_name(line)))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    for line in extra {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let tmp = format!("{name}.layer-merge");
    let _ = rustix::fs::unlinkat(etc, tmp.as_str(), AtFlags::empty());
    let fd = rustix::fs::openat(
        etc,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("creating", format!("etc/{tmp}")))?;
    fsutil::write_all(fd.as_fd(), &text).map_err(io_err("writing", format!("etc/{tmp}")))?;
    let xattrs = fsutil::fd_xattrs(local.as_fd()).map_err(io_err("reading xattrs of", format!("etc/{name}")))?;
    fsutil::set_metadata(fd.as_fd(), st.st_uid, st.st_gid, st.st_mode & 0o7777, &xattrs, fsutil::Owner::Required)
        .map_err(io_err("setting metadata of", format!("etc/{tmp}")))?;
    rustix::fs::renameat(etc, tmp.as_str(), etc, name).map_err(io_err("replacing", format!("etc/{name}")))?;
    Ok(())
}

pub fn merge(old_deployment: BorrowedFd<'_>, new_deployment: BorrowedFd<'_>) -> Result<MergeStats> {
    let (Ok(orig), Ok(modified)) =
        (fsutil::open_dir(old_deployment, "usr/etc"), fsutil::open_dir(old_deployment, "etc"))
    else {
        return Ok(MergeStats::default());
    };
    let new = fsutil::open_dir(new_deployment, "etc").map_err(io_err("opening", "the new /etc"))?;
    let mut d = Diff::default();
    diff(orig.as_fd(), modified.as_fd(), b"", &mut d)?;
    for path in &d.removed {
        fsutil::remove_all_at(new.as_fd(), path).map_err(io_err("removing", String::from_utf8_lossy(path)))?;
    }
    for path in d.modified.iter().chain(&d.added) {
        apply_modified(modified.as_fd(), new.as_fd(), path)?;
    }
    if let Ok(new_usr_etc) = fsutil::open_dir(new_deployment, "usr/etc") {
        for name in ACCOUNT_FILES {
            if d.modified.iter().any(|p| p.as_slice() == name.as_bytes()) {
                merge_accounts(new_usr_etc.as_fd(), new.as_fd(), name)?;
            }
        }
    }
    Ok(MergeStats { modified: d.modified.len(), removed: d.removed.len(), added: d.added.len() })
}
