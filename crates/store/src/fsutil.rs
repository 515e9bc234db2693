//! Small file-descriptor-relative helpers shared by commit, checkout and
//! the object store. Every path handed to these is a single validated name
//! or a path we built ourselves; nothing here follows a symlink.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, Mode, OFlags, XattrFlags};

use crate::objects::Xattrs;

pub fn open_dir(dirfd: impl AsFd, name: impl rustix::path::Arg) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dirfd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

pub fn open_file(dirfd: impl AsFd, name: impl rustix::path::Arg) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dirfd, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

/// `mkdir -p` of one level: ok if it already exists as a directory.
pub fn ensure_dir(dirfd: impl AsFd, name: impl rustix::path::Arg, mode: u32) -> io::Result<()> {
    match rustix::fs::mkdirat(dirfd, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads all names in a directory except `.` and `..`.
/// With each name comes the type and inode `getdents` reports (the type
/// may be `Unknown` on filesystems that do not fill it in).
pub fn read_names(dirfd: impl AsFd) -> io::Result<Vec<(Vec<u8>, rustix::fs::FileType, u64)>> {
    // `read_from` opens its own `.`, so the caller's position is untouched.
    let mut dir = rustix::fs::Dir::read_from(dirfd)?;
    let mut out = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        out.push((name.to_vec(), entry.file_type(), entry.ino()));
    }
    Ok(out)
}

fn parse_xattr_list(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == 0).filter(|n| !n.is_empty())
}

/// Whether an xattr is kept in objects. Overlayfs keeps its own state in
/// `trusted.overlay.*`; that belongs to the mount, not the file.
fn keep_xattr(name: &[u8]) -> bool {
    !name.starts_with(b"trusted.overlay.")
}

fn collect_xattrs(
    list: impl Fn(&mut Vec<u8>) -> rustix::io::Result<usize>,
    get: impl Fn(&[u8], &mut Vec<u8>) -> rustix::io::Result<usize>,
) -> io::Result<Xattrs> {
    let mut names = vec![0u8; 1024];
    let len = loop {
        match list(&mut names) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::PERM) => return Ok(Xattrs::default()),
            Err(e) => return Err(e.into()),
        }
    };
    let mut pairs = Vec::new();
    for name in parse_xattr_list(&names[..len]) {
        if !keep_xattr(name) {
            continue;
        }
        let mut value = vec![0u8; 256];
        let n = loop {
            match get(name, &mut value) {
                Ok(n) => break n,
                Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 4, 0),
                Err(e) => return Err(e.into()),
            }
        };
        value.truncate(n);
        pairs.push((name.to_vec(), value));
    }
    Ok(Xattrs::new(pairs))
}

pub fn fd_xattrs(fd: BorrowedFd<'_>) -> io::Result<Xattrs> {
    collect_xattrs(
        |buf| rustix::fs::flistxattr(fd, buf.as_mut_slice()),
        |name, buf| rustix::fs::fgetxattr(fd, OsStr::from_bytes(name), buf.as_mut_slice()),
    )
}

/// Xattrs of an entry that cannot be opened (a symlink), by its name in `dirfd`.
pub fn link_xattrs(dirfd: BorrowedFd<'_>, name: &[u8]) -> io::Result<Xattrs> {
    let path = proc_path(dirfd, name);
    collect_xattrs(
        |buf| rustix::fs::llistxattr(&path, buf.as_mut_slice()),
        |n, buf| rustix::fs::lgetxattr(&path, OsStr::from_bytes(n), buf.as_mut_slice()),
    )
}

fn proc_path(dirfd: BorrowedFd<'_>, name: &[u8]) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dirfd.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    std::path::PathBuf::from(OsStr::from_bytes(&p))
}

pub fn set_fd_xattrs(fd: BorrowedFd<'_>, xattrs: &Xattrs) -> io::Result<()> {
    for (name, value) in xattrs.iter() {
        rustix::fs::fsetxattr(fd, OsStr::from_bytes(name), value, XattrFlags::empty())?;
    }
    Ok(())
}

pub fn set_link_xattrs(dirfd: BorrowedFd<'_>, name: &[u8], xattrs: &Xattrs) -> io::Result<()> {
    if xattrs.is_empty() {
        return Ok(());
    }
    let path = proc_path(dirfd, name);
    for (n, value) in xattrs.iter() {
        rustix::fs::lsetxattr(&path, OsStr::from_bytes(n), value, XattrFlags::empty())?;
    }
    Ok(())
}

/// What to do when `chown` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Refusal is an error.
    Required,
    /// Without root, keep the caller's ownership, as `ostree checkout -U`
    /// does; as root a refusal is still an error.
    UnlessUnprivileged,
}

/// Gives an open file or directory its owner, xattrs and mode, in that
/// order: `chown` clears setuid bits and file capabilities, so those must
/// come after it.
pub fn set_metadata(
    fd: BorrowedFd<'_>,
    uid: u32,
    gid: u32,
    mode: u32,
    xattrs: &Xattrs,
    owner: Owner,
) -> io::Result<()> {
    match rustix::fs::fchown(fd, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid))) {
        Ok(()) => {}
        Err(rustix::io::Errno::PERM) if owner == Owner::UnlessUnprivileged && !rustix::process::geteuid().is_root() => {
        }
        Err(e) => return Err(e.into()),
    }
    set_fd_xattrs(fd, xattrs)?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode & 0o7777))?;
    Ok(())
}

/// Removes a directory entry of any type, recursively, without following symlinks.
pub fn remove_all_at(dirfd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let name = OsStr::from_bytes(name);
    match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::ISDIR | rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = match open_dir(dirfd, name) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    for (child, _, _) in read_names(&sub)? {
        remove_all_at(sub.as_fd(), &child)?;
    }
    drop(sub);
    match rustix::fs::unlinkat(dirfd, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads a file whose size is known from `stat`, without the size probe
/// `read_to_end` makes. A file that changed size meanwhile is an error.
pub fn read_exact_size(fd: &OwnedFd, size: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let mut filled = 0;
    while filled < size {
        match rustix::io::read(fd, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    let mut probe = [0u8; 1];
    if filled != size || rustix::io::read(fd, &mut probe)? != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "file changed size while it was read"));
    }
    Ok(buf)
}

/// Writes all of `data` to `fd`.
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = rustix::io::write(fd, data)?;
        data = &data[n..];
    }
    Ok(())
}

pub fn read_to_end(fd: &OwnedFd) -> io::Result<Vec<u8>> {
    let mut file = std::fs::File::from(fd.try_clone()?);
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Copies all of `src` (from its current offset) to `dst`, in the kernel when it can.
pub fn copy_fd(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match rustix::fs::copy_file_range(src, None, dst, None, 1 << 30) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(rustix::io::Errno::XDEV | rustix::io::Errno::NOSYS | rustix::io::Errno::INVAL) if total == 0 => {
                let mut r = std::fs::File::from(src.try_clone_to_owned()?);
                let mut w = std::fs::File::from(dst.try_clone_to_owned()?);
                return std::io::copy(&mut r, &mut w);
            }
            Err(e) => return Err(e.into()),
        }
    }
}
