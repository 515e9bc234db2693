//! Checking a commit out into a directory: by hardlink (the default for
//! bare repositories), by copy, or as a union over an existing tree, with
//! OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) applied on request.
//!
//! Names come from dirtree objects, which validate them (no `/`, `.`,
//! `..`), and every step is relative to a directory handle opened without
//! following symlinks, so a checkout cannot write outside its destination.

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result, io_err};
use crate::fsutil;
use crate::objects::{Checksum, ObjectType};
use crate::repo::{Repo, RepoMode};
use crate::verified::VerifiedObjects;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    /// Hardlink each file to its object (bare repositories only).
    Hardlink,
    Copy,
}

#[derive(Debug, Clone, Default)]
pub struct CheckoutOptions {
    /// `None` picks hardlinks for bare repositories and copies otherwise.
    pub mode: Option<CheckoutMode>,
    /// Check out over an existing tree, replacing files that exist.
    pub union: bool,
    /// Apply `.wh.` whiteouts instead of checking them out as files.
    pub whiteouts: bool,
    /// Re-hash every object the checkout uses (the commit, each dirtree
    /// and dirmeta, each content object before it is linked or copied)
    /// and fail with [`Error::ChecksumMismatch`] naming the first bad one.
    /// A deployment is checked out this way, so a corrupt commit is never
    /// deployed. Content objects whose inode is unchanged since an earlier
    /// verified checkout hashed them are not read again (see
    /// `verified.rs`).
    pub verify: bool,
}

#[derive(Debug, Default)]
pub struct CheckoutStats {
    pub linked: AtomicUsize,
    pub copied: AtomicUsize,
    /// Files copied because a hardlink was impossible (`EMLINK`, `EXDEV`).
    pub link_fallbacks: AtomicUsize,
}

struct Ctx<'a> {
    repo: &'a Repo,
    mode: CheckoutMode,
    opts: &'a CheckoutOptions,
    stats: &'a CheckoutStats,
    /// Set once a hardlink fails with EXDEV: the rest of the checkout copies.
    cross_device: std::sync::atomic::AtomicBool,
    /// With `opts.verify`: the content objects verified before, and in
    /// this checkout (a tree often holds the same object many times).
    verified: Option<VerifiedObjects>,
}

impl Repo {
    /// Checks out `rev` (a commit) into `dest`, which must not exist unless
    /// `opts.union` is set.
    pub fn checkout(&self, commit: &Checksum, dest: &Path, opts: &CheckoutOptions) -> Result<CheckoutStats> {
        let commit = if opts.verify { self.read_verified_commit(commit)? } else { self.read_commit(commit)? };
        self.checkout_tree(&commit.root_tree, &commit.root_meta, dest, opts)
    }

    pub fn checkout_tree(
        &self,
        tree: &Checksum,
        meta: &Checksum,
        dest: &Path,
        opts: &CheckoutOptions,
    ) -> Result<CheckoutStats> {
        let mode = match opts.mode {
            Some(CheckoutMode::Hardlink) if self.mode != RepoMode::Bare => {
                return Err(Error::Unsupported {
                    path: self.path.display().to_string(),
                    reason: format!("a {} repository cannot be checked out with hardlinks; use a copy", self.mode),
                });
            }
            Some(m) => m,
            None if self.mode == RepoMode::Bare => CheckoutMode::Hardlink,
            None => CheckoutMode::Copy,
        };
        let stats = CheckoutStats::default();
        let ctx = Ctx {
            repo: self,
            mode,
            opts,
            stats: &stats,
            cross_device: Default::default(),
            verified: opts.verify.then(|| VerifiedObjects::load(self)),
        };
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = dest.file_name().ok_or_else(|| Error::Unsupported {
            path: dest.display().to_string(),
            reason: "destination has no final component".into(),
        })?;
        let parent_fd = fsutil::open_dir(rustix::fs::CWD, parent).map_err(io_err("opening", parent.display()))?;
        ctx.checkout_dir(parent_fd.as_fd(), name.as_bytes(), tree, meta, dest.to_owned())?;
        if let Some(verified) = ctx.verified {
            verified.save(self);
        }
        Ok(stats)
    }
}

impl Ctx<'_> {
    fn checkout_dir(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        tree: &Checksum,
        meta: &Checksum,
        path: PathBuf,
    ) -> Result<()> {
        let display = path.display();
        let (dirmeta, dirtree) = if self.opts.verify {
            (self.repo.read_verified_dirmeta(meta)?, self.repo.read_verified_dirtree(tree)?)
        } else {
            (self.repo.read_dirmeta(meta)?, self.repo.read_dirtree(tree)?)
        };
        let name_os = OsStr::from_bytes(name);
        let created = match rustix::fs::mkdirat(parent, name_os, Mode::from_raw_mode(0o700)) {
            Ok(()) => true,
            Err(Errno::EXIST) if self.opts.union => {
                let st = rustix::fs::statat(parent, name_os, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_err("reading", &display))?;
                if st.st_mode & crate::objects::S_IFMT != crate::objects::S_IFDIR {
                    // A directory replaces a file or symlink of the tree below.
                    fsutil::remove_all_at(parent, name).map_err(io_err("replacing", &display))?;
                    rustix::fs::mkdirat(parent, name_os, Mode::from_raw_mode(0o700))
                        .map_err(io_err("creating", &display))?;
                    true
                } else {
                    false
                }
            }
            Err(e) => return Err(io_err("creating directory", &display)(e)),
        };
        let dir = fsutil::open_dir(parent, name_os).map_err(io_err("opening", &display))?;
        if self.opts.whiteouts {
            self.apply_whiteouts(&dir, &dirtree.files, &path)?;
        }
        for (file, checksum) in &dirtree.files {
            if self.opts.whiteouts && file.starts_with(WHITEOUT_PREFIX) {
                continue;
            }
            self.checkout_file(dir.as_fd(), file, checksum, &path)?;
        }
        dirtree.dirs.par_iter().try_for_each(|(sub, t, m)| {
            if self.opts.whiteouts && sub.starts_with(WHITEOUT_PREFIX) {
                return Ok(());
            }
            self.checkout_dir(dir.as_fd(), sub.as_bytes(), t, m, path.join(sub))
        })?;
        if created {
            let m = &dirmeta;
            fsutil::set_metadata(dir.as_fd(), m.uid, m.gid, m.mode, &m.xattrs, fsutil::Owner::UnlessUnprivileged)
                .map_err(io_err("setting metadata of", &display))?;
        }
        Ok(())
    }

    fn apply_whiteouts(&self, dir: &OwnedFd, files: &[(String, Checksum)], path: &Path) -> Result<()> {
        for (file, _) in files {
            if file == OPAQUE_WHITEOUT {
                // Hide everything the trees below put here.
                for (existing, _, _) in fsutil::read_names(dir).map_err(io_err("listing", path.display()))? {
                    fsutil::remove_all_at(dir.as_fd(), &existing).map_err(io_err("removing", path.display()))?;
                }
            } else if let Some(target) = file.strip_prefix(WHITEOUT_PREFIX) {
                crate::objects::validate_filename(target).map_err(|e| Error::Unsupported {
                    path: path.join(file).display().to_string(),
                    reason: e.to_string(),
                })?;
                fsutil::remove_all_at(dir.as_fd(), target.as_bytes())
                    .map_err(io_err("removing", path.join(target).display()))?;
            }
        }
        Ok(())
    }

    fn checkout_file(&self, dir: BorrowedFd<'_>, name: &str, checksum: &Checksum, path: &Path) -> Result<()> {
        if let Some(verified) = &self.verified {
            verified.verify(self.repo, checksum)?;
        }
        let use_link = self.mode == CheckoutMode::Hardlink && !self.cross_device.load(Ordering::Relaxed);
        if use_link {
            let rel = self.repo.object_relpath(ObjectType::File, checksum);
            let mut replaced = false;
            loop {
                match rustix::fs::linkat(&self.repo.objects, rel.as_str(), dir, name, AtFlags::empty()) {
                    Ok(()) => {
                        self.stats.linked.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    Err(Errno::EXIST) if self.opts.union && !replaced => {
                        fsutil::remove_all_at(dir, name.as_bytes())
                            .map_err(io_err("replacing", path.join(name).display()))?;
                        replaced = true;
                    }
                    Err(Errno::NOENT) if !self.repo.has_object(ObjectType::File, checksum)? => {
                        return Err(Error::MissingObject { kind: "file", checksum: *checksum });
                    }
                    Err(Errno::MLINK) => break,
                    Err(Errno::XDEV) => {
                        self.cross_device.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(io_err("linking", path.join(name).display())(e)),
                }
            }
            self.stats.link_fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.copy_file(dir, name, checksum, path)?;
        self.stats.copied.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn copy_file(&self, dir: BorrowedFd<'_>, name: &str, checksum: &Checksum, path: &Path) -> Result<()> {
        let display = path.join(name);
        let display = display.display();
        let crate::repo::ContentObject { meta, reader: mut content, .. } = self.repo.open_content(checksum)?;
        if self.opts.union {
            fsutil::remove_all_at(dir, name.as_bytes()).map_err(io_err("replacing", &display))?;
        }
        if meta.is_symlink() {
            rustix::fs::symlinkat(meta.symlink_target.as_str(), dir, name)
                .map_err(io_err("creating symlink", &display))?;
            let owner = (rustix::fs::Uid::from_raw(meta.uid), rustix::fs::Gid::from_raw(meta.gid));
            if let Err(e) = rustix::fs::chownat(dir, name, Some(owner.0), Some(owner.1), AtFlags::SYMLINK_NOFOLLOW)
                && (e != Errno::PERM || is_root())
            {
                return Err(io_err("setting owner of", &display)(e));
            }
            fsutil::set_link_xattrs(dir, name.as_bytes(), &meta.xattrs)
                .map_err(io_err("setting xattrs of", &display))?;
            return Ok(());
        }
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(io_err("creating", &display))?;
        let mut file = std::fs::File::from(fd);
        std::io::copy(&mut content, &mut file).map_err(io_err("writing", &display))?;
        file.flush().map_err(io_err("writing", &display))?;
        fsutil::set_metadata(
            file.as_fd(),
            meta.uid,
            meta.gid,
            meta.mode,
            &meta.xattrs,
            fsutil::Owner::UnlessUnprivileged,
        )
        .map_err(io_err("setting metadata of", &display))
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
