//! Finding a tree's kernel (`/usr/lib/modules/KVER/vmlinuz`, as OSTree
//! does) and installing it into `/boot/ostree/STATEROOT-BOOTCSUM/`.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use sha2::{Digest, Sha256};
use store::fsutil;

use crate::error::{Result, io_err};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    pub version: String,
    /// `initramfs.img` or `initramfs` next to `vmlinuz`, if present.
    pub initramfs: Option<String>,
}

/// The boot checksum of a tree without a kernel: that of empty input.
/// Deployments of such trees (containers, tests) are still listed in boot
/// entries, which is how their order is kept; the entries just have no
/// `linux` line.
pub fn kernelless_bootcsum() -> String {
    hex::encode(Sha256::digest(b""))
}

/// The first `/usr/lib/modules/KVER/` holding a regular `vmlinuz`.
pub fn find(deployment: BorrowedFd<'_>) -> Result<Option<Kernel>> {
    let Ok(modules) = fsutil::open_dir(deployment, "usr/lib/modules") else { return Ok(None) };
    let mut names = fsutil::read_names(&modules).map_err(io_err("listing", "usr/lib/modules"))?;
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, ty, _) in names {
        if ty != FileType::Directory {
            continue;
        }
        let dir = fsutil::open_dir(&modules, OsStr::from_bytes(&name)).map_err(io_err("opening", "usr/lib/modules"))?;
        let Ok(st) = rustix::fs::statat(&dir, "vmlinuz", AtFlags::empty()) else { continue };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            continue;
        }
        let initramfs = ["initramfs.img", "initramfs"]
            .into_iter()
            .find(|c| rustix::fs::statat(&dir, *c, AtFlags::empty()).is_ok())
            .map(str::to_owned);
        return Ok(Some(Kernel { version: String::from_utf8_lossy(&name).into_owned(), initramfs }));
    }
    Ok(None)
}

/// The boot checksum: sha256 of the kernel followed by the initramfs, as
/// OSTree computes it. Read once, when a deployment is staged; the
/// deployment carries it from then on.
pub fn bootcsum(deployment: BorrowedFd<'_>, kernel: &Kernel) -> Result<String> {
    let dir = fsutil::open_dir(deployment, format!("usr/lib/modules/{}", kernel.version).as_str())
        .map_err(io_err("opening", "usr/lib/modules"))?;
    let mut hasher = Sha256::new();
    for name in std::iter::once("vmlinuz").chain(kernel.initramfs.as_deref()) {
        let fd = fsutil::open_file(&dir, name).map_err(io_err("opening", name))?;
        hasher.update(fsutil::read_to_end(&fd).map_err(io_err("reading", name))?);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Copies the kernel (and initramfs) into `boot/ostree/STATEROOT-BOOTCSUM/`
/// unless it is there already; returns the `linux` and `initrd` paths for
/// the boot entry.
pub fn install(
    sysroot: BorrowedFd<'_>,
    deployment: BorrowedFd<'_>,
    stateroot: &str,
    bootcsum: &str,
    kernel: &Kernel,
) -> Result<(String, Option<String>)> {
    let dirname = format!("{stateroot}-{bootcsum}");
    let rel = format!("boot/ostree/{dirname}");
    fsutil::ensure_dir(sysroot, "boot/ostree", 0o775).map_err(io_err("creating", "boot/ostree"))?;
    fsutil::ensure_dir(sysroot, rel.as_str(), 0o775).map_err(io_err("creating", &rel))?;
    let dest = fsutil::open_dir(sysroot, rel.as_str()).map_err(io_err("opening", &rel))?;
    let src = fsutil::open_dir(deployment, format!("usr/lib/modules/{}", kernel.version).as_str())
        .map_err(io_err("opening", "usr/lib/modules"))?;
    let linux = format!("vmlinuz-{}", kernel.version);
    copy_if_missing(src.as_fd(), "vmlinuz", dest.as_fd(), &linux)?;
    let initrd = match &kernel.initramfs {
        Some(name) => {
            let target = format!("initramfs-{}.img", kernel.version);
            copy_if_missing(src.as_fd(), name, dest.as_fd(), &target)?;
            Some(format!("/ostree/{dirname}/{target}"))
        }
        None => None,
    };
    Ok((format!("/ostree/{dirname}/{linux}"), initrd))
}

fn copy_if_missing(src: BorrowedFd<'_>, name: &str, dest: BorrowedFd<'_>, target: &str) -> Result<()> {
    if rustix::fs::statat(dest, target, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        return Ok(());
    }
    // /boot is often its own filesystem, so this is a copy, not a link.
    let tmp = format!(".{target}.tmp");
    let s = fsutil::open_file(src, name).map_err(io_err("opening", name))?;
    let d = rustix::fs::openat(
        dest,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .map_err(io_err("creating", target))?;
    fsutil::copy_fd(s.as_fd(), d.as_fd()).map_err(io_err("copying", target))?;
    rustix::fs::fsync(&d).map_err(io_err("syncing", target))?;
    rustix::fs::renameat(dest, tmp.as_str(), dest, target).map_err(io_err("installing", target))?;
    Ok(())
}
