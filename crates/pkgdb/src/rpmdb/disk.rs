//! The rpmdb directory on disk (`ROOT/usr/lib/sysimage/rpm`), reached only
//! through a directory handle: every name in it is opened with
//! `O_NOFOLLOW`, and sqlite itself never sees a path (the database is
//! loaded into memory and written back as bytes).
//!
//! Writing is copy and rename, never in place: the new database goes to
//! `rpmdb.sqlite.new`, is fsynced and renamed over `rpmdb.sqlite`, then
//! the directory is fsynced. That is required, not just convenient: in a
//! tree checked out from the store, `rpmdb.sqlite` is a hardlink to a
//! store object, and writing it in place would change the store. After
//! the rename the old file's `-wal` and `-shm` are removed; a crash just
//! before that leaves them stale but harmless, since the new file is in
//! rollback-journal mode and sqlite ignores a WAL beside it.
//!
//! The `var/lib/rpm -> ../../usr/lib/sysimage/rpm` link that tools expect
//! is not made here: links under `/var` are the composer's (tmpfiles.d).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{RpmDb, RpmDbError};

/// Where a root keeps its rpmdb (rpm's `%_dbpath` on Fedora 36 and later).
pub const RPMDB_IN_ROOT: &str = "usr/lib/sysimage/rpm";
pub const RPMDB_FILE: &str = "rpmdb.sqlite";
const TEMP_FILE: &str = "rpmdb.sqlite.new";
/// Files sqlite keeps beside the database; a non-empty one holds changes
/// not yet in the database file.
const JOURNALS: [&str; 2] = ["rpmdb.sqlite-wal", "rpmdb.sqlite-journal"];
const STALE_AFTER_REPLACE: [&str; 3] = ["rpmdb.sqlite-wal", "rpmdb.sqlite-shm", "rpmdb.sqlite-journal"];
/// rpm creates its database files 0644.
const FILE_MODE: u32 = 0o644;

fn io_error(action: &'static str, path: &str) -> impl FnOnce(io::Error) -> RpmDbError {
    let path = path.to_owned();
    move |source| RpmDbError::Io { action, path, source }
}

fn cloexec(flags: OFlags) -> OFlags {
    flags | OFlags::CLOEXEC
}

fn open_dir_in_root(root: BorrowedFd<'_>, path: &str) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        root,
        path,
        cloexec(OFlags::RDONLY | OFlags::DIRECTORY),
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?)
}

fn unlink_optional(dir: impl AsFd, name: &str) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The rpmdb directory of a root, open as a directory handle.
#[derive(Debug)]
pub struct RpmDbDir {
    dir: OwnedFd,
}

impl RpmDbDir {
    /// Opens an existing rpmdb directory at `path` (the path itself may
    /// pass through symlinks; nothing inside it will).
    pub fn open(path: &Path) -> Result<RpmDbDir, RpmDbError> {
        let dir = rustix::fs::open(path, cloexec(OFlags::RDONLY | OFlags::DIRECTORY), Mode::empty())
            .map_err(|e| io_error("open", &path.display().to_string())(e.into()))?;
        Ok(RpmDbDir { dir })
    }

    /// Opens `ROOT/usr/lib/sysimage/rpm`, resolving symlinks as if `root` were `/`.
    pub fn open_in_root(root: impl AsFd) -> Result<RpmDbDir, RpmDbError> {
        let dir = open_dir_in_root(root.as_fd(), RPMDB_IN_ROOT).map_err(io_error("open", RPMDB_IN_ROOT))?;
        Ok(RpmDbDir { dir })
    }

    /// Creates `ROOT/usr/lib/sysimage/rpm` as needed (inside the root) and opens it.
    pub fn create_in_root(root: impl AsFd) -> Result<RpmDbDir, RpmDbError> {
        let root = root.as_fd();
        let mut prefix = String::new();
        for component in RPMDB_IN_ROOT.split('/') {
            let path = if prefix.is_empty() { component.to_owned() } else { format!("{prefix}/{component}") };
            let parent = open_dir_in_root(root, if prefix.is_empty() { "." } else { &prefix })
                .map_err(io_error("create", &path))?;
            match rustix::fs::mkdirat(&parent, component, Mode::from_raw_mode(0o755)) {
                Ok(()) => rustix::fs::fsync(&parent).map_err(|e| io_error("create", &path)(e.into()))?,
                Err(Errno::EXIST) => {}
                Err(e) => return Err(io_error("create", &path)(e.into())),
            }
            prefix = path;
        }
        RpmDbDir::open_in_root(root)
    }

    /// Whether the directory holds a database.
    pub fn exists(&self) -> Result<bool, RpmDbError> {
        match rustix::fs::statat(&self.dir, RPMDB_FILE, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_error("inspect", RPMDB_FILE)(e.into())),
        }
    }

    /// Loads the database into memory.
    pub fn load(&self) -> Result<RpmDb, RpmDbError> {
        let fd = rustix::fs::openat(&self.dir, RPMDB_FILE, cloexec(OFlags::RDONLY | OFlags::NOFOLLOW), Mode::empty())
            .map_err(|e| io_error("open", RPMDB_FILE)(e.into()))?;
        let mut file = File::from(fd);
        let metadata = file.metadata().map_err(io_error("read", RPMDB_FILE))?;
        if !metadata.is_file() {
            return Err(io_error("read", RPMDB_FILE)(io::Error::other("not a regular file")));
        }
        self.require_no_pending_journal()?;
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        file.read_to_end(&mut bytes).map_err(io_error("read", RPMDB_FILE))?;
        RpmDb::from_bytes(&bytes)
    }

    /// Loads the database, or starts an empty one when there is none.
    pub fn load_or_new(&self) -> Result<RpmDb, RpmDbError> {
        if self.exists()? { self.load() } else { RpmDb::new() }
    }

    /// A non-empty WAL or rollback journal beside the database means a
    /// writer did not finish; its changes are not in the file we read.
    fn require_no_pending_journal(&self) -> Result<(), RpmDbError> {
        for name in JOURNALS {
            match rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_size == 0 => {}
                Ok(_) => return Err(RpmDbError::PendingJournal { file: name }),
                Err(Errno::NOENT) => {}
                Err(e) => return Err(io_error("inspect", name)(e.into())),
            }
        }
        Ok(())
    }

    /// Replaces the database with `db`: a new file, fsynced, renamed over
    /// the old one; then the old file's journals go and the directory is fsynced.
    pub fn store(&self, db: &RpmDb) -> Result<(), RpmDbError> {
        let bytes = db.to_bytes()?;
        unlink_optional(&self.dir, TEMP_FILE).map_err(io_error("remove", TEMP_FILE))?;
        let fd = rustix::fs::openat(
            &self.dir,
            TEMP_FILE,
            cloexec(OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW),
            Mode::from_raw_mode(FILE_MODE),
        )
        .map_err(|e| io_error("create", TEMP_FILE)(e.into()))?;
        // The umask must not narrow what rpm would write.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE)).map_err(|e| io_error("write", TEMP_FILE)(e.into()))?;
        let mut file = File::from(fd);
        let written = file.write_all(&bytes).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written {
            let _ = unlink_optional(&self.dir, TEMP_FILE);
            return Err(io_error("write", TEMP_FILE)(e));
        }
        rustix::fs::renameat(&self.dir, TEMP_FILE, &self.dir, RPMDB_FILE)
            .map_err(|e| io_error("replace", RPMDB_FILE)(e.into()))?;
        for name in STALE_AFTER_REPLACE {
            unlink_optional(&self.dir, name).map_err(io_error("remove", name))?;
        }
        rustix::fs::fsync(&self.dir).map_err(|e| io_error("sync", ".")(e.into()))
    }
}
