//! Writing objects. A transaction stages new objects in a private
//! directory under `tmp/`, makes them durable with one `syncfs`, and only
//! then renames them into `objects/`. So `objects/` never holds a file
//! whose bytes might not be on disk, and a crash leaves only a staging
//! directory, which the next transaction reclaims.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags, Timestamps};

use crate::error::{Error, Result, io_err};
use crate::fsutil;
use crate::objects::{Checksum, ContentHasher, FileMeta, ObjectType};
use crate::repo::{Repo, RepoLock, RepoMode, USER_META_XATTR};

const STAGING_PREFIX: &str = "staging-";

pub struct Transaction<'r> {
    repo: &'r Repo,
    /// The process umask, which `openat` applies to new files.
    umask: u32,
    /// Who new files belong to without a `chown`.
    owner: (u32, u32),
    staging: OwnedFd,
    staging_name: String,
    staged: Mutex<HashSet<(ObjectType, Checksum)>>,
    /// Which `XX/` subdirectories of the staging directory exist.
    prefixes: [std::sync::atomic::AtomicBool; 256],
    _lock: RepoLock,
}

/// Where a content object's bytes come from.
pub enum Content<'a> {
    /// A regular file, read from its current offset to the end.
    Fd(BorrowedFd<'a>),
    Bytes(&'a [u8]),
    /// A symlink: no bytes, the target is in the metadata.
    Symlink,
}

impl Repo {
    pub fn begin(&self) -> Result<Transaction<'_>> {
        let lock = self.lock(false)?;
        self.reclaim_staging()?;
        let tmp = fsutil::open_dir(&self.dir, "tmp").map_err(io_err("opening", self.path.join("tmp").display()))?;
        let staging_name = format!("{STAGING_PREFIX}{}-{:x}", std::process::id(), crate::refs::unique());
        // 0700: a staged setuid file must not be reachable by anyone else
        // before it is published (or reclaimed after a crash).
        rustix::fs::mkdirat(&tmp, staging_name.as_str(), Mode::from_raw_mode(0o700))
            .map_err(io_err("creating staging directory in", self.path.join("tmp").display()))?;
        let staging = fsutil::open_dir(&tmp, staging_name.as_str())
            .map_err(io_err("opening staging directory", &staging_name))?;
        // Held for the transaction's life; reclaim skips locked directories.
        rustix::fs::flock(&staging, FlockOperation::LockExclusive).map_err(io_err("locking", &staging_name))?;
        let owner = (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw());
        Ok(Transaction {
            repo: self,
            umask: current_umask(),
            owner,
            staging,
            staging_name,
            staged: Mutex::new(HashSet::new()),
            prefixes: std::array::from_fn(|_| Default::default()),
            _lock: lock,
        })
    }

    /// Removes staging directories of transactions that died; those of
    /// running transactions are locked and stay.
    pub fn reclaim_staging(&self) -> Result<()> {
        let tmp = fsutil::open_dir(&self.dir, "tmp").map_err(io_err("opening", self.path.join("tmp").display()))?;
        for (name, _, _) in fsutil::read_names(&tmp).map_err(io_err("listing", "tmp"))? {
            if !name.starts_with(STAGING_PREFIX.as_bytes()) {
                continue;
            }
            let Ok(fd) = fsutil::open_dir(&tmp, OsStr::from_bytes(&name)) else { continue };
            if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
                drop(fd);
                fsutil::remove_all_at(tmp.as_fd(), &name)
                    .map_err(io_err("removing stale staging", String::from_utf8_lossy(&name)))?;
            }
        }
        Ok(())
    }
}

/// `XX/REST.ext`: the same path under the staging directory as under
/// `objects/`. One subdirectory per prefix keeps parallel writers off each
/// other's directory lock, and lets a new prefix be published whole.
fn staged_name(kind: ObjectType, checksum: &Checksum, archive: bool) -> String {
    let hex = checksum.to_hex();
    format!("{}/{}.{}", &hex[..2], &hex[2..], kind.extension(archive))
}

impl<'r> Transaction<'r> {
    pub fn repo(&self) -> &'r Repo {
        self.repo
    }

    /// True if the object is in the repository or already staged.
    pub fn has_object(&self, kind: ObjectType, checksum: &Checksum) -> Result<bool> {
        if self.staged.lock().map(|s| s.contains(&(kind, *checksum))).unwrap_or(false) {
            return Ok(true);
        }
        self.repo.has_object(kind, checksum)
    }

    fn is_staged(&self, kind: ObjectType, checksum: &Checksum) -> bool {
        self.staged.lock().map(|s| s.contains(&(kind, *checksum))).unwrap_or(false)
    }

    /// Opens a content object staged by this transaction or stored in the
    /// repository.
    pub fn open_content(&self, checksum: &Checksum) -> Result<crate::repo::ContentObject> {
        if self.is_staged(ObjectType::File, checksum) {
            return self.repo.open_content_in(self.staging.as_fd(), checksum);
        }
        self.repo.open_content(checksum)
    }

    pub fn read_file_meta(&self, checksum: &Checksum) -> Result<FileMeta> {
        Ok(self.open_content(checksum)?.meta)
    }

    /// Reads a dirmeta object staged by this transaction or stored.
    pub fn read_dirmeta(&self, checksum: &Checksum) -> Result<crate::objects::DirMeta> {
        let data = if self.is_staged(ObjectType::DirMeta, checksum) {
            self.repo.read_metadata_bytes_in(self.staging.as_fd(), ObjectType::DirMeta, checksum)?
        } else {
            self.repo.read_metadata_bytes(ObjectType::DirMeta, checksum)?
        };
        crate::objects::DirMeta::parse(&data).map_err(|source| Error::CorruptObject {
            kind: "dirmeta",
            checksum: *checksum,
            source,
        })
    }

    /// Claims an object for this transaction; false if present or claimed.
    fn claim(&self, kind: ObjectType, checksum: &Checksum) -> Result<bool> {
        if self.repo.has_object(kind, checksum)? {
            return Ok(false);
        }
        let claimed = self
            .staged
            .lock()
            .map_err(|_| Error::Unsupported {
                path: self.staging_name.clone(),
                reason: "a writer thread panicked".into(),
            })?
            .insert((kind, *checksum));
        if claimed {
            let created = &self.prefixes[usize::from(checksum.0[0])];
            if !created.load(std::sync::atomic::Ordering::Acquire) {
                let prefix = format!("{:02x}", checksum.0[0]);
                fsutil::ensure_dir(&self.staging, prefix.as_str(), 0o755)
                    .map_err(io_err("creating staging", &prefix))?;
                created.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        Ok(claimed)
    }

    fn unclaim(&self, kind: ObjectType, checksum: &Checksum) {
        if let Ok(mut s) = self.staged.lock() {
            s.remove(&(kind, *checksum));
        }
    }

    /// Writes a dirtree, dirmeta or commit; returns its checksum.
    pub fn write_metadata(&self, kind: ObjectType, data: &[u8]) -> Result<Checksum> {
        let checksum = Checksum::of(data);
        if !self.claim(kind, &checksum)? {
            return Ok(checksum);
        }
        let name = staged_name(kind, &checksum, self.repo.mode.is_archive());
        let result = self
            .create_file(&name, 0o644)
            .and_then(|fd| fsutil::write_all(fd.as_fd(), data).map_err(io_err("writing object", &name)));
        if result.is_err() {
            self.unclaim(kind, &checksum);
        }
        result.map(|()| checksum)
    }

    fn create_file(&self, name: &str, mode: u32) -> Result<OwnedFd> {
        rustix::fs::openat(
            &self.staging,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(io_err("creating object", name))
    }

    /// Writes a content object whose checksum the caller computed from the
    /// same metadata and bytes. Skips it if the repository has it.
    pub fn write_content_trusted(&self, checksum: &Checksum, meta: &FileMeta, content: Content<'_>) -> Result<()> {
        if !self.claim(ObjectType::File, checksum)? {
            return Ok(());
        }
        let name = staged_name(ObjectType::File, checksum, self.repo.mode.is_archive());
        let result = self.write_content_at(&name, meta, content);
        if result.is_err() {
            self.unclaim(ObjectType::File, checksum);
            let _ = rustix::fs::unlinkat(&self.staging, name.as_str(), AtFlags::empty());
        }
        result
    }

    /// Writes a content object from an untrusted stream, computing its
    /// checksum as it goes; when `expected` is given, a different checksum
    /// is an error and nothing is kept.
    pub fn write_content_stream(
        &self,
        meta: &FileMeta,
        content: &mut dyn Read,
        expected: Option<&Checksum>,
    ) -> Result<Checksum> {
        meta.validate()
            .map_err(|source| Error::Unsupported { path: "content object".into(), reason: source.to_string() })?;
        // Spool to an unnamed staging file first: the checksum is known only
        // at the end.
        let spool = rustix::fs::openat(
            &self.staging,
            ".",
            OFlags::RDWR | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(io_err("creating spool file in", &self.staging_name))?;
        let mut hasher = ContentHasher::new(meta);
        {
            let mut out = std::fs::File::from(spool.try_clone().map_err(io_err("spooling", &self.staging_name))?);
            let mut buf = vec![0u8; 128 * 1024];
            loop {
                let n = content.read(&mut buf).map_err(io_err("reading content for", &self.staging_name))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(io_err("spooling", &self.staging_name))?;
            }
        }
        let checksum = hasher.finish();
        if let Some(expected) = expected
            && *expected != checksum
        {
            return Err(Error::ChecksumMismatch { kind: ObjectType::File, expected: *expected, actual: checksum });
        }
        rustix::fs::seek(&spool, rustix::fs::SeekFrom::Start(0))
            .map_err(io_err("rewinding spool", &self.staging_name))?;
        let content = if meta.is_symlink() { Content::Symlink } else { Content::Fd(spool.as_fd()) };
        self.write_content_trusted(&checksum, meta, content)?;
        Ok(checksum)
    }

    fn write_content_at(&self, name: &str, meta: &FileMeta, content: Content<'_>) -> Result<()> {
        let staging = self.staging.as_fd();
        match self.repo.mode {
            RepoMode::Bare if meta.is_symlink() => {
                rustix::fs::symlinkat(meta.symlink_target.as_str(), staging, name)
                    .map_err(io_err("creating symlink object", name))?;
                rustix::fs::chownat(
                    staging,
                    name,
                    Some(rustix::fs::Uid::from_raw(meta.uid)),
                    Some(rustix::fs::Gid::from_raw(meta.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(io_err("setting owner of", name))?;
                fsutil::set_link_xattrs(staging, name.as_bytes(), &meta.xattrs)
                    .map_err(io_err("setting xattrs of", name))?;
                Ok(())
            }
            RepoMode::Bare => {
                // Created with its final permission bits when the umask lets
                // it and no setuid/setgid/sticky bit is involved; those are
                // only ever set last, after the owner and the content.
                let plain = meta.mode & 0o777;
                let created_exact = meta.mode & 0o7000 == 0 && plain & self.umask == 0;
                let fd = self.create_file(name, if created_exact { plain } else { 0o600 })?;
                write_content(&fd, content, name)?;
                if (meta.uid, meta.gid) != self.owner {
                    rustix::fs::fchown(
                        &fd,
                        Some(rustix::fs::Uid::from_raw(meta.uid)),
                        Some(rustix::fs::Gid::from_raw(meta.gid)),
                    )
                    .map_err(io_err("setting owner of", name))?;
                }
                fsutil::set_fd_xattrs(fd.as_fd(), &meta.xattrs).map_err(io_err("setting xattrs of", name))?;
                // Last, because chown clears setuid bits.
                if !created_exact {
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(meta.mode & 0o7777))
                        .map_err(io_err("setting mode of", name))?;
                }
                zero_mtime(&fd, name)
            }
            RepoMode::BareUser => {
                let fd = self.create_file(name, 0o644)?;
                if meta.is_symlink() {
                    // NUL-terminated, as OSTree writes it.
                    let mut target = meta.symlink_target.clone().into_bytes();
                    target.push(0);
                    write_content(&fd, Content::Bytes(&target), name)?;
                } else {
                    write_content(&fd, content, name)?;
                }
                rustix::fs::fsetxattr(&fd, USER_META_XATTR, &meta.bare_user_meta(), rustix::fs::XattrFlags::empty())
                    .map_err(io_err("setting metadata xattr of", name))?;
                if meta.is_regular() {
                    let content_mode = (meta.mode & 0o775) | 0o400;
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(content_mode))
                        .map_err(io_err("setting mode of", name))?;
                }
                zero_mtime(&fd, name)
            }
            RepoMode::Archive => {
                let fd = self.create_file(name, 0o644)?;
                let mut file = std::fs::File::from(fd);
                let (size, mut reader): (u64, Box<dyn Read>) = match content {
                    Content::Symlink => (0, Box::new(std::io::empty())),
                    Content::Bytes(b) => (b.len() as u64, Box::new(b)),
                    Content::Fd(fd) => {
                        let st = rustix::fs::fstat(fd).map_err(io_err("reading", name))?;
                        let pos =
                            rustix::fs::seek(fd, rustix::fs::SeekFrom::Current(0)).map_err(io_err("reading", name))?;
                        let f = std::fs::File::from(fd.try_clone_to_owned().map_err(io_err("reading", name))?);
                        ((st.st_size as u64).saturating_sub(pos), Box::new(f))
                    }
                };
                file.write_all(&meta.archive_header(size)).map_err(io_err("writing object", name))?;
                if meta.is_regular() {
                    let mut z = flate2::write::DeflateEncoder::new(&mut file, flate2::Compression::new(6));
                    let copied = std::io::copy(&mut reader, &mut z).map_err(io_err("compressing object", name))?;
                    z.finish().map_err(io_err("compressing object", name))?;
                    if copied != size {
                        return Err(Error::Unsupported {
                            path: name.into(),
                            reason: "file changed while it was read".into(),
                        });
                    }
                }
                Ok(())
            }
        }
    }

    /// Makes every staged object durable, moves it into `objects/`, and
    /// then points each ref at its commit. After this returns, the objects
    /// and refs survive a crash.
    pub fn commit(self, refs: &[(&str, Option<Checksum>)]) -> Result<()> {
        let repo = self.repo;
        // One syncfs makes every staged byte durable before any object
        // becomes visible under `objects/`.
        rustix::fs::syncfs(&self.staging).map_err(io_err("syncing", &self.staging_name))?;
        let staged = std::mem::take(&mut *self.staged.lock().map_err(|_| Error::Unsupported {
            path: self.staging_name.clone(),
            reason: "a writer thread panicked".into(),
        })?);
        let archive = repo.mode.is_archive();
        // Commits are published last, once every object their trees reach
        // is published and durable: a crash in between leaves unreferenced
        // objects, never a commit whose tree is missing. Until then they
        // wait at the top of the staging directory.
        let mut commits = Vec::new();
        let mut by_prefix: std::collections::BTreeMap<u8, Vec<(ObjectType, Checksum)>> = Default::default();
        for (kind, checksum) in staged {
            if kind == ObjectType::Commit {
                let name = staged_name(kind, &checksum, archive);
                let held = format!("commit-{checksum}");
                rustix::fs::renameat(&self.staging, name.as_str(), &self.staging, held.as_str())
                    .map_err(io_err("holding back", &name))?;
                commits.push((held, name));
            }
            // The prefix directory is published even if it only held the
            // commit, so that the commit's own rename below has a parent.
            by_prefix
                .entry(checksum.0[0])
                .or_default()
                .extend((kind != ObjectType::Commit).then_some((kind, checksum)));
        }
        let mut whole_dirs = false;
        let mut synced_prefixes = Vec::new();
        for (byte, objects) in by_prefix {
            let prefix = format!("{byte:02x}");
            // A prefix the repository lacks moves in with one rename.
            match rustix::fs::renameat_with(
                &self.staging,
                prefix.as_str(),
                &repo.objects,
                prefix.as_str(),
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {
                    whole_dirs = true;
                    continue;
                }
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(io_err("publishing objects", &prefix)(e)),
            }
            for (kind, checksum) in objects {
                let name = staged_name(kind, &checksum, archive);
                match rustix::fs::renameat_with(
                    &self.staging,
                    name.as_str(),
                    &repo.objects,
                    name.as_str(),
                    RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => {}
                    // Someone else published the same object meanwhile; content
                    // is addressed, so theirs is ours.
                    Err(rustix::io::Errno::EXIST) => {
                        let _ = rustix::fs::unlinkat(&self.staging, name.as_str(), AtFlags::empty());
                    }
                    Err(e) => return Err(io_err("publishing object", &name)(e)),
                }
            }
            synced_prefixes.push(prefix);
        }
        for prefix in &synced_prefixes {
            let fd = fsutil::open_dir(&repo.objects, prefix.as_str()).map_err(io_err("opening", prefix))?;
            rustix::fs::fsync(&fd).map_err(io_err("syncing", prefix))?;
        }
        if whole_dirs {
            rustix::fs::fsync(&repo.objects).map_err(io_err("syncing", repo.path.join("objects").display()))?;
        }
        let mut commit_prefixes = std::collections::BTreeSet::new();
        for (held, name) in commits {
            match rustix::fs::renameat_with(
                &self.staging,
                held.as_str(),
                &repo.objects,
                name.as_str(),
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => {
                    let _ = rustix::fs::unlinkat(&self.staging, held.as_str(), AtFlags::empty());
                }
                Err(e) => return Err(io_err("publishing object", &name)(e)),
            }
            commit_prefixes.insert(name[..2].to_owned());
        }
        for prefix in &commit_prefixes {
            let fd = fsutil::open_dir(&repo.objects, prefix.as_str()).map_err(io_err("opening", prefix))?;
            rustix::fs::fsync(&fd).map_err(io_err("syncing", prefix))?;
        }
        for (name, checksum) in refs {
            repo.refs().set(name, checksum.as_ref())?;
        }
        Ok(())
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // Published or abandoned, the staging directory goes.
        if let Ok(tmp) = fsutil::open_dir(&self.repo.dir, "tmp") {
            let _ = fsutil::remove_all_at(tmp.as_fd(), self.staging_name.as_bytes());
        }
    }
}

fn write_content(fd: &OwnedFd, content: Content<'_>, name: &str) -> Result<()> {
    match content {
        Content::Bytes(b) => fsutil::write_all(fd.as_fd(), b).map_err(io_err("writing object", name)),
        Content::Fd(src) => fsutil::copy_fd(src, fd.as_fd()).map(|_| ()).map_err(io_err("writing object", name)),
        Content::Symlink => Ok(()),
    }
}

fn zero_mtime(fd: &OwnedFd, name: &str) -> Result<()> {
    // OSTree gives every content object the epoch as mtime, so checkouts
    // are reproducible.
    let zero = rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 };
    rustix::fs::futimens(fd, &Timestamps { last_access: zero, last_modification: zero })
        .map_err(io_err("setting mtime of", name))
}

/// The process umask, which `openat` applies to the mode it is given.
/// `umask(2)` can only read it by setting it, so read `/proc` instead.
fn current_umask() -> u32 {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Umask:"))
        && let Ok(mask) = u32::from_str_radix(line["Umask:".len()..].trim(), 8)
    {
        return mask;
    }
    // Unknown: assume the strictest, so every file gets an explicit fchmod.
    0o777
}
