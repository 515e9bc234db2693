//! The admindir on disk, reached only through a directory handle: every
//! name opened inside it is a single component opened with `O_NOFOLLOW`,
//! so no symlink planted in a root can lead a write out of it.
//!
//! Writes are durable the way dpkg makes them: `status` goes to
//! `status-new`, is fsynced, the old one is hardlinked to `status-old`,
//! then `status-new` is renamed over it and the directory is fsynced; the
//! `updates/` journal is folded in on read and emptied once `status` is
//! written. Info files go to `NAME-new`, are fsynced and renamed. On
//! recording, info files come first and `status` last; on removal,
//! `status` first: a crash leaves at worst stray info files, never a
//! package without its file list.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::info::{InfoFile, info_file_kind, info_file_name};
use super::record::PackageRecord;
use super::status::{StatusDb, StatusEntry, StatusError, host_architecture, parse_entries};
use super::triggers::{FileInterests, Interested, explicit_interest_file, interests};

/// Where a root keeps its admindir.
pub const ADMINDIR_IN_ROOT: &str = "var/lib/dpkg";

/// dpkg's info database format: `Multi-Arch: same` files are `PKG:ARCH.*`.
const INFO_FORMAT: &[u8] = b"1\n";

#[derive(Debug, thiserror::Error)]
pub enum AdmindirError {
    #[error("cannot open the dpkg database `{path}`")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot create `{path}` in the dpkg database")]
    Create {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the dpkg database is locked by another process\nhint: wait until dpkg or apt in that root has finished")]
    Locked,
    #[error("cannot lock the dpkg database")]
    Lock(#[source] io::Error),
    #[error("cannot read `{path}` in the dpkg database")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot parse `{path}` in the dpkg database")]
    Parse {
        path: String,
        #[source]
        source: StatusError,
    },
    #[error("cannot write `{path}` in the dpkg database")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove `{path}` from the dpkg database")]
    Remove {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot change the dpkg database")]
    Status(#[source] StatusError),
}

/// Holds dpkg's locks (`lock-frontend`, then `lock`) until dropped.
#[derive(Debug)]
pub struct AdmindirLock {
    _frontend: OwnedFd,
    _database: OwnedFd,
}

/// A dpkg admindir (`ROOT/var/lib/dpkg`), open as a directory handle.
#[derive(Debug)]
pub struct Admindir {
    dir: OwnedFd,
}

fn cloexec(flags: OFlags) -> OFlags {
    flags | OFlags::CLOEXEC
}

fn open_subdir(dir: impl AsFd, name: &str) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, cloexec(OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW), Mode::empty())?)
}

fn open_in_root(root: BorrowedFd<'_>, path: &str) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        root,
        path,
        cloexec(OFlags::RDONLY | OFlags::DIRECTORY),
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// A whole file, or `None` when it does not exist.
fn read_optional(dir: impl AsFd, name: &str) -> io::Result<Option<Vec<u8>>> {
    let fd = match rustix::fs::openat(dir, name, cloexec(OFlags::RDONLY | OFlags::NOFOLLOW), Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut contents = Vec::new();
    File::from(fd).read_to_end(&mut contents)?;
    Ok(Some(contents))
}

fn unlink_optional(dir: impl AsFd, name: &str) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// dpkg's `atomic_file`: `NAME-new`, fsync, optionally `NAME` hardlinked
/// to `NAME-old`, then the rename. The caller fsyncs the directory.
fn write_atomic(dir: BorrowedFd<'_>, name: &str, contents: &[u8], mode: u32, backup: bool) -> io::Result<()> {
    let temp = format!("{name}-new");
    unlink_optional(dir, &temp)?;
    let fd = rustix::fs::openat(
        dir,
        temp.as_str(),
        cloexec(OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW),
        Mode::from_raw_mode(mode),
    )?;
    // The umask must not narrow what dpkg would write.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    let mut file = File::from(fd);
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    if backup {
        let old = format!("{name}-old");
        unlink_optional(dir, &old)?;
        match rustix::fs::linkat(dir, name, dir, old.as_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    rustix::fs::renameat(dir, temp.as_str(), dir, name)?;
    Ok(())
}

/// Creates a file with `contents` unless something already has that name.
fn create_if_missing(dir: impl AsFd, name: &str, mode: u32, contents: &[u8]) -> io::Result<()> {
    match rustix::fs::openat(
        dir,
        name,
        cloexec(OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW),
        Mode::from_raw_mode(mode),
    ) {
        Ok(fd) => {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
            let mut file = File::from(fd);
            file.write_all(contents)?;
            file.sync_all()
        }
        Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn ensure_dir(dir: impl AsFd, name: &str) -> io::Result<()> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn names_in(dir: impl AsFd) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        // dpkg's own names are ASCII; anything else is not ours to touch.
        if let Ok(name) = std::str::from_utf8(name) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

impl Admindir {
    /// Opens an existing admindir at `path` (the path itself may pass
    /// through symlinks; nothing inside it will).
    pub fn open(path: &Path) -> Result<Admindir, AdmindirError> {
        let dir = rustix::fs::open(path, cloexec(OFlags::RDONLY | OFlags::DIRECTORY), Mode::empty())
            .map_err(|e| AdmindirError::Open { path: path.display().to_string(), source: e.into() })?;
        Ok(Admindir { dir })
    }

    /// Opens `ROOT/var/lib/dpkg`, resolving symlinks as if `root` were `/`
    /// (so `var/lib/dpkg -> /usr/lib/sysimage/dpkg` stays in the root).
    pub fn open_in_root(root: impl AsFd) -> Result<Admindir, AdmindirError> {
        let dir = open_in_root(root.as_fd(), ADMINDIR_IN_ROOT)
            .map_err(|source| AdmindirError::Open { path: ADMINDIR_IN_ROOT.to_owned(), source })?;
        Ok(Admindir { dir })
    }

    /// Creates `ROOT/var/lib/dpkg` as needed (inside the root) and the
    /// layout dpkg expects in it.
    pub fn create_in_root(root: impl AsFd) -> Result<Admindir, AdmindirError> {
        let root = root.as_fd();
        let mut prefix = String::new();
        for component in ADMINDIR_IN_ROOT.split('/') {
            let parent = if prefix.is_empty() { "." } else { prefix.as_str() };
            let path = if prefix.is_empty() { component.to_owned() } else { format!("{prefix}/{component}") };
            let create = |source| AdmindirError::Create { path: path.clone(), source };
            let parent = open_in_root(root, parent).map_err(create)?;
            ensure_dir(&parent, component).map_err(create)?;
            rustix::fs::fsync(&parent).map_err(|e| create(e.into()))?;
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(component);
        }
        let admindir = Admindir::open_in_root(root)?;
        admindir.ensure_layout()?;
        Ok(admindir)
    }

    pub fn from_fd(dir: OwnedFd) -> Admindir {
        Admindir { dir }
    }

    /// Creates what dpkg and its tools expect, keeping whatever exists:
    /// `info/` (with `info/format`), `updates/`, `triggers/`,
    /// `alternatives/`, and empty `status`, `available`, `diversions`,
    /// `statoverride` and `lock`.
    pub fn ensure_layout(&self) -> Result<(), AdmindirError> {
        let create = |path: &str| {
            let path = path.to_owned();
            move |source| AdmindirError::Create { path, source }
        };
        for dir in ["info", "updates", "triggers", "alternatives"] {
            ensure_dir(&self.dir, dir).map_err(create(dir))?;
        }
        let info = self.info_dir()?;
        create_if_missing(&info, "format", 0o644, INFO_FORMAT).map_err(create("info/format"))?;
        for file in ["status", "available", "diversions", "statoverride"] {
            create_if_missing(&self.dir, file, 0o644, b"").map_err(create(file))?;
        }
        create_if_missing(&self.dir, "lock", 0o640, b"").map_err(create("lock"))?;
        rustix::fs::fsync(&info).map_err(|e| AdmindirError::Write { path: "info".into(), source: e.into() })?;
        self.sync()
    }

    /// Takes dpkg's locks, as dpkg does: `lock-frontend`, then `lock`,
    /// both POSIX record locks, without waiting.
    pub fn lock(&self) -> Result<AdmindirLock, AdmindirError> {
        let take = |name: &str| -> Result<OwnedFd, AdmindirError> {
            let fd = rustix::fs::openat(
                &self.dir,
                name,
                cloexec(OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW),
                Mode::from_raw_mode(0o640),
            )
            .map_err(|e| AdmindirError::Lock(e.into()))?;
            match rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Ok(fd),
                Err(Errno::AGAIN | Errno::ACCESS) => Err(AdmindirError::Locked),
                Err(e) => Err(AdmindirError::Lock(e.into())),
            }
        };
        let frontend = take("lock-frontend")?;
        let database = take("lock")?;
        Ok(AdmindirLock { _frontend: frontend, _database: database })
    }

    fn info_dir(&self) -> Result<OwnedFd, AdmindirError> {
        open_subdir(&self.dir, "info").map_err(|source| AdmindirError::Open { path: "info".into(), source })
    }

    fn sync(&self) -> Result<(), AdmindirError> {
        rustix::fs::fsync(&self.dir).map_err(|e| AdmindirError::Write { path: ".".into(), source: e.into() })
    }

    /// Reads `status` with any pending `updates/` journal entries folded
    /// in, as dpkg does on open. A missing `status` is an empty database.
    pub fn read_status(&self) -> Result<StatusDb, AdmindirError> {
        let read = |path: &str| {
            let path = path.to_owned();
            move |source| AdmindirError::Read { path, source }
        };
        let text = read_optional(&self.dir, "status").map_err(read("status"))?;
        let mut db = match text {
            Some(text) => {
                StatusDb::parse(&text).map_err(|source| AdmindirError::Parse { path: "status".into(), source })?
            }
            None => StatusDb::new(host_architecture()),
        };
        let updates = match open_subdir(&self.dir, "updates") {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(db),
            Err(e) => return Err(AdmindirError::Read { path: "updates".into(), source: e }),
        };
        for name in journal_names(&updates).map_err(read("updates"))? {
            let path = format!("updates/{name}");
            let Some(text) = read_optional(&updates, &name).map_err(read(&path))? else { continue };
            let entries = parse_entries(&text).map_err(|source| AdmindirError::Parse { path, source })?;
            for entry in entries {
                db.insert(entry);
            }
        }
        Ok(db)
    }

    /// Writes `status` atomically as dpkg does (`status-new`, fsync,
    /// `status-old`, rename, directory fsync), then empties the
    /// `updates/` journal it supersedes.
    pub fn write_status(&self, db: &StatusDb) -> Result<(), AdmindirError> {
        write_atomic(self.dir.as_fd(), "status", &db.to_bytes(), 0o644, true)
            .map_err(|source| AdmindirError::Write { path: "status".into(), source })?;
        self.sync()?;
        let updates = match open_subdir(&self.dir, "updates") {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(AdmindirError::Read { path: "updates".into(), source: e }),
        };
        let names = journal_names(&updates).map_err(|source| AdmindirError::Read { path: "updates".into(), source })?;
        for name in names.iter().map(String::as_str).chain(["tmp.i"]) {
            unlink_optional(&updates, name)
                .map_err(|source| AdmindirError::Remove { path: format!("updates/{name}"), source })?;
        }
        if !names.is_empty() {
            rustix::fs::fsync(&updates)
                .map_err(|e| AdmindirError::Write { path: "updates".into(), source: e.into() })?;
        }
        Ok(())
    }

    /// The names under `info/` that belong to `info_name` (see
    /// [`StatusEntry::info_name`]), sorted.
    pub fn info_file_names(&self, info_name: &str) -> Result<Vec<String>, AdmindirError> {
        let info = self.info_dir()?;
        let names = names_in(&info).map_err(|source| AdmindirError::Read { path: "info".into(), source })?;
        Ok(names.into_iter().filter(|name| info_file_kind(name, info_name).is_some()).collect())
    }

    /// `info/INFO_NAME.KIND`, or `None` when the package has no such file.
    pub fn read_info_file(&self, info_name: &str, kind: &str) -> Result<Option<Vec<u8>>, AdmindirError> {
        let info = self.info_dir()?;
        let name = info_file_name(info_name, kind);
        read_optional(&info, &name).map_err(|source| AdmindirError::Read { path: format!("info/{name}"), source })
    }

    /// Writes a package's info files and removes the ones it no longer
    /// has, including those of `previous` under another name (dpkg's
    /// layout switch when `Multi-Arch: same` changes).
    pub fn write_info_files(
        &self,
        entry: &StatusEntry,
        files: &[InfoFile],
        previous: Option<&StatusEntry>,
    ) -> Result<(), AdmindirError> {
        let info = self.info_dir()?;
        let info_name = entry.info_name();
        let mut written = BTreeSet::new();
        for file in files {
            let name = info_file_name(&info_name, &file.kind);
            write_atomic(info.as_fd(), &name, &file.contents, file.mode, false)
                .map_err(|source| AdmindirError::Write { path: format!("info/{name}"), source })?;
            written.insert(name);
        }
        let mut stale: Vec<String> = self.info_file_names(&info_name)?;
        if let Some(previous) = previous.map(StatusEntry::info_name).filter(|p| *p != info_name) {
            stale.extend(self.info_file_names(&previous)?);
        }
        for name in stale.iter().filter(|name| !written.contains(*name)) {
            unlink_optional(&info, name)
                .map_err(|source| AdmindirError::Remove { path: format!("info/{name}"), source })?;
        }
        rustix::fs::fsync(&info).map_err(|e| AdmindirError::Write { path: "info".into(), source: e.into() })
    }

    /// Removes every info file of a package instance.
    pub fn remove_info_files(&self, entry: &StatusEntry) -> Result<(), AdmindirError> {
        let info = self.info_dir()?;
        for name in self.info_file_names(&entry.info_name())? {
            unlink_optional(&info, &name)
                .map_err(|source| AdmindirError::Remove { path: format!("info/{name}"), source })?;
        }
        rustix::fs::fsync(&info).map_err(|e| AdmindirError::Write { path: "info".into(), source: e.into() })
    }

    /// Records a package: its trigger interests and info files first, then
    /// its paragraph in `db`, then `status`.
    pub fn record(&self, db: &mut StatusDb, record: PackageRecord) -> Result<(), AdmindirError> {
        let old_triggers = match &record.replaces {
            Some(replaced) => self.read_info_file(&replaced.info_name(), "triggers")?,
            None => None,
        };
        let new_triggers = record.info_files.iter().find(|f| f.kind == "triggers").map(|f| f.contents.as_slice());
        self.update_trigger_interests(
            record.replaces.as_ref().zip(old_triggers.as_deref()),
            Some(&record.entry).zip(new_triggers),
        )?;
        self.write_info_files(&record.entry, &record.info_files, record.replaces.as_ref())?;
        if let Some(replaced) = &record.replaces {
            // Gone already if `db` changed since the record was built.
            let _ = db.remove(&replaced.name_arch());
        }
        db.insert(record.entry);
        self.write_status(db)
    }

    /// Forgets a package instance (`name` or `name:arch`): `status` first,
    /// then its trigger interests and info files. Returns the paragraph it had.
    pub fn remove(&self, db: &mut StatusDb, spec: &str) -> Result<StatusEntry, AdmindirError> {
        let entry = db.remove(spec).map_err(AdmindirError::Status)?;
        self.write_status(db)?;
        let triggers = self.read_info_file(&entry.info_name(), "triggers")?;
        self.update_trigger_interests(triggers.as_deref().map(|t| (&entry, t)), None)?;
        self.remove_info_files(&entry)?;
        Ok(entry)
    }

    /// What dpkg does to `triggers/` when it unpacks or removes a package:
    /// the interests of `old` (an instance and its `triggers` control file)
    /// are dropped, then those of `new` are added at the end.
    pub fn update_trigger_interests(
        &self,
        old: Option<(&StatusEntry, &[u8])>,
        new: Option<(&StatusEntry, &[u8])>,
    ) -> Result<(), AdmindirError> {
        let old = old.map(|(entry, text)| (entry, interests(text))).filter(|(_, list)| !list.is_empty());
        let new = new.map(|(entry, text)| (entry, interests(text))).filter(|(_, list)| !list.is_empty());
        if old.is_none() && new.is_none() {
            return Ok(());
        }
        ensure_dir(&self.dir, "triggers")
            .map_err(|source| AdmindirError::Create { path: "triggers".into(), source })?;
        let dir = open_subdir(&self.dir, "triggers")
            .map_err(|source| AdmindirError::Open { path: "triggers".into(), source })?;
        let read = |name: &str| -> Result<Option<String>, AdmindirError> {
            let bytes = read_optional(&dir, name)
                .map_err(|source| AdmindirError::Read { path: format!("triggers/{name}"), source })?;
            Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        let write = |name: &str, text: Option<String>| -> Result<(), AdmindirError> {
            let path = format!("triggers/{name}");
            match text {
                Some(text) => write_atomic(dir.as_fd(), name, text.as_bytes(), 0o644, false)
                    .map_err(|source| AdmindirError::Write { path, source }),
                None => unlink_optional(&dir, name).map_err(|source| AdmindirError::Remove { path, source }),
            }
        };
        let mut file_interests = FileInterests::parse(&read("File")?.unwrap_or_default());
        let passes = [(old, false), (new, true)];
        for (entry, list, adding) in
            passes.iter().filter_map(|(side, adding)| side.as_ref().map(|(e, l)| (e, l, *adding)))
        {
            let written_name = entry.info_name();
            let who = Interested {
                package: entry.package(),
                architecture: entry.architecture(),
                written_name: &written_name,
            };
            for interest in list {
                match (interest.is_file_trigger(), adding) {
                    (true, false) => file_interests.remove(&interest.trigger, who),
                    (true, true) => file_interests.add(&interest.trigger, who, interest.noawait),
                    (false, _) => {
                        let current = read(&interest.trigger)?;
                        let add = adding.then_some(interest.noawait);
                        write(&interest.trigger, explicit_interest_file(current.as_deref(), who, add))?;
                    }
                }
            }
        }
        if file_interests.edited() {
            write("File", file_interests.to_text())?;
        }
        rustix::fs::fsync(&dir).map_err(|e| AdmindirError::Write { path: "triggers".into(), source: e.into() })
    }
}

impl AsFd for Admindir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

/// dpkg's journal files: names of digits only, applied in name order.
fn journal_names(updates: impl AsFd) -> io::Result<Vec<String>> {
    let mut names = names_in(updates)?;
    names.retain(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;
    use crate::dpkg::State;

    fn root_handle(path: &Path) -> File {
        File::open(path).expect("open root")
    }

    #[test]
    fn layout_is_created_and_existing_files_are_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let admindir = Admindir::create_in_root(root_handle(root.path())).expect("created");
        let dpkg = root.path().join(ADMINDIR_IN_ROOT);
        for dir in ["info", "updates", "triggers", "alternatives"] {
            assert!(dpkg.join(dir).is_dir(), "{dir}");
        }
        assert_eq!(std::fs::read(dpkg.join("info/format")).expect("format"), b"1\n");
        for file in ["status", "available", "diversions", "statoverride", "lock"] {
            assert_eq!(std::fs::read(dpkg.join(file)).expect("file"), b"", "{file}");
        }
        let mode = |name: &str| std::fs::metadata(dpkg.join(name)).expect("mode").permissions().mode() & 0o7777;
        assert_eq!((mode("status"), mode("lock"), mode("info")), (0o644, 0o640, 0o755));

        std::fs::write(dpkg.join("status"), "Package: a\nStatus: install ok installed\n\n").expect("write");
        admindir.ensure_layout().expect("again");
        Admindir::create_in_root(root_handle(root.path())).expect("again");
        let db = admindir.read_status().expect("reads");
        assert_eq!(db.entries().len(), 1);
    }

    #[test]
    fn an_admindir_symlink_resolves_inside_the_root() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("usr/lib/sysimage/dpkg")).expect("sysimage");
        std::fs::create_dir_all(root.path().join("var/lib")).expect("var/lib");
        // Absolute, as an image would have it: it must mean ROOT/usr/lib/sysimage/dpkg.
        symlink("/usr/lib/sysimage/dpkg", root.path().join("var/lib/dpkg")).expect("symlink");
        let admindir = Admindir::create_in_root(root_handle(root.path())).expect("created");
        admindir.write_status(&StatusDb::new("amd64")).expect("written");
        assert!(root.path().join("usr/lib/sysimage/dpkg/info/format").is_file());
        assert!(root.path().join("usr/lib/sysimage/dpkg/status-old").is_file());

        // A link that climbs out is clamped to the root, too.
        let other = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(other.path().join("var/lib")).expect("var/lib");
        symlink("../../../../../../../../../../usr/lib/sysimage/dpkg", other.path().join("var/lib/dpkg"))
            .expect("symlink");
        assert!(Admindir::open_in_root(root_handle(other.path())).is_err(), "nothing there inside this root");
    }

    #[test]
    fn symlinks_inside_the_admindir_are_never_followed() {
        let admindir_path = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "untouched").expect("victim");
        let dir = admindir_path.path();
        symlink(&victim, dir.join("status")).expect("symlink");
        symlink(&victim, dir.join("status-new")).expect("symlink");
        symlink(outside.path(), dir.join("info")).expect("symlink");
        let admindir = Admindir::open(dir).expect("opens");

        assert!(matches!(admindir.read_status(), Err(AdmindirError::Read { .. })));
        assert!(admindir.ensure_layout().is_err(), "`info` is a symlink");
        admindir.write_status(&StatusDb::new("amd64")).expect("replaces the links");
        assert!(std::fs::symlink_metadata(dir.join("status")).expect("status").is_file());
        let entry = crate::dpkg::status::parse_entries(b"Package: x\nStatus: install ok installed\n")
            .expect("parses")
            .remove(0);
        let file = InfoFile { kind: "list".into(), contents: b"/.\n".to_vec(), mode: 0o644 };
        assert!(admindir.write_info_files(&entry, &[file], None).is_err());
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "untouched");
        assert_eq!(std::fs::read_dir(outside.path()).expect("outside").count(), 1, "nothing written outside");
    }

    #[test]
    fn the_updates_journal_is_folded_in_then_cleared() {
        let root = tempfile::tempdir().expect("tempdir");
        let admindir = Admindir::create_in_root(root_handle(root.path())).expect("created");
        let dpkg = root.path().join(ADMINDIR_IN_ROOT);
        std::fs::write(dpkg.join("status"), "Package: a\nStatus: install ok installed\nVersion: 1\n\n")
            .expect("status");
        std::fs::write(dpkg.join("updates/0000"), "Package: a\nStatus: install ok unpacked\nVersion: 2\n\n")
            .expect("journal");
        std::fs::write(dpkg.join("updates/0001"), "Package: b\nStatus: install ok half-installed\nVersion: 1\n\n")
            .expect("journal");
        std::fs::write(dpkg.join("updates/tmp.i"), "partial").expect("journal");
        let db = admindir.read_status().expect("reads");
        let a = db.get("a").expect("a");
        assert_eq!((a.version(), a.status().state), (Some("2"), State::Unpacked));
        assert_eq!(db.get("b").map(|b| b.status().state), Some(State::HalfInstalled));
        admindir.write_status(&db).expect("written");
        assert_eq!(std::fs::read_dir(dpkg.join("updates")).expect("updates").count(), 0);
        let written = std::fs::read_to_string(dpkg.join("status")).expect("status");
        assert_eq!(
            written,
            "Package: a\nStatus: install ok unpacked\nVersion: 2\n\nPackage: b\nStatus: install ok half-installed\nVersion: 1\n\n"
        );
    }
}
