//! An OSTree repository on disk: its config, its modes, and reading objects.
//!
//! Writing goes through a [`Transaction`](crate::transaction::Transaction),
//! which stages objects privately and publishes them only after they are
//! durable.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};

use crate::error::{Error, Result, io_err};
use crate::fsutil;
use crate::objects::{Checksum, Commit, DirMeta, DirTree, FileMeta, ObjectType, S_IFLNK, S_IFMT};

/// How a repository stores content objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoMode {
    /// Objects are files with their real owner, mode and xattrs. Needs root.
    Bare,
    /// Owner, mode and xattrs live in the `user.ostreemeta` xattr.
    BareUser,
    /// zlib-compressed `.filez` objects, for serving over HTTP.
    Archive,
}

impl RepoMode {
    pub fn as_config(self) -> &'static str {
        match self {
            RepoMode::Bare => "bare",
            RepoMode::BareUser => "bare-user",
            RepoMode::Archive => "archive-z2",
        }
    }

    pub fn parse(s: &str) -> Result<RepoMode> {
        match s {
            "bare" => Ok(RepoMode::Bare),
            "bare-user" => Ok(RepoMode::BareUser),
            "archive" | "archive-z2" => Ok(RepoMode::Archive),
            other => Err(Error::UnsupportedMode(other.into())),
        }
    }

    pub fn is_archive(self) -> bool {
        self == RepoMode::Archive
    }
}

impl std::fmt::Display for RepoMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RepoMode::Bare => "bare",
            RepoMode::BareUser => "bare-user",
            RepoMode::Archive => "archive",
        })
    }
}

pub const USER_META_XATTR: &str = "user.ostreemeta";

pub struct Repo {
    pub(crate) path: PathBuf,
    pub(crate) dir: OwnedFd,
    pub(crate) objects: OwnedFd,
    pub(crate) mode: RepoMode,
}

/// A held repository lock: shared while writing, exclusive while pruning.
/// It is OSTree's own `.lock`, so `ostree` and `layer` exclude each other.
pub struct RepoLock(#[allow(dead_code)] OwnedFd);

impl Repo {
    /// Creates the repository layout, as `ostree init` does.
    pub fn init(path: &Path, mode: RepoMode) -> Result<Repo> {
        let display = path.display();
        std::fs::create_dir_all(path).map_err(io_err("creating repository", &display))?;
        let dir = fsutil::open_dir(rustix::fs::CWD, path).map_err(io_err("opening repository", &display))?;
        if rustix::fs::statat(&dir, "config", AtFlags::empty()).is_ok() {
            return Repo::open(path);
        }
        for sub in
            ["objects", "tmp", "tmp/cache", "refs", "refs/heads", "refs/remotes", "refs/mirrors", "state", "extensions"]
        {
            fsutil::ensure_dir(&dir, sub, 0o755).map_err(io_err("creating", path.join(sub).display()))?;
        }
        let config = format!("[core]\nrepo_version=1\nmode={}\n", mode.as_config());
        crate::refs::write_atomic(&dir, "config", config.as_bytes())
            .map_err(io_err("writing", path.join("config").display()))?;
        Repo::open(path)
    }

    pub fn open(path: &Path) -> Result<Repo> {
        let display = path.display();
        let dir = match fsutil::open_dir(rustix::fs::CWD, path) {
            Ok(dir) => dir,
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                return Err(Error::NotARepo(display.to_string()));
            }
            Err(e) => return Err(io_err("opening repository", &display)(e)),
        };
        let config = rustix::fs::openat(&dir, "config", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|_| Error::NotARepo(display.to_string()))?;
        let config = fsutil::read_to_end(&config).map_err(io_err("reading", path.join("config").display()))?;
        let config = String::from_utf8_lossy(&config);
        let mode = config_value(&config, "core", "mode").ok_or_else(|| Error::NotARepo(display.to_string()))?;
        let mode = RepoMode::parse(mode)?;
        let objects = fsutil::open_dir(&dir, "objects").map_err(io_err("opening", path.join("objects").display()))?;
        Ok(Repo { path: path.to_owned(), dir, objects, mode })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mode(&self) -> RepoMode {
        self.mode
    }

    pub(crate) fn lock(&self, exclusive: bool) -> Result<RepoLock> {
        let fd = rustix::fs::openat(
            &self.dir,
            ".lock",
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(io_err("opening lock", self.path.join(".lock").display()))?;
        let op = if exclusive { FlockOperation::LockExclusive } else { FlockOperation::LockShared };
        rustix::fs::flock(&fd, op).map_err(io_err("locking", self.path.join(".lock").display()))?;
        Ok(RepoLock(fd))
    }

    pub fn object_relpath(&self, kind: ObjectType, checksum: &Checksum) -> String {
        // Relative to `objects/`.
        let full = checksum.object_path(kind, self.mode.is_archive());
        full["objects/".len()..].to_owned()
    }

    pub fn has_object(&self, kind: ObjectType, checksum: &Checksum) -> Result<bool> {
        let rel = self.object_relpath(kind, checksum);
        match rustix::fs::statat(&self.objects, rel.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(io_err("checking object", self.path.join("objects").join(&rel).display())(e)),
        }
    }

    /// The raw bytes of a dirtree, dirmeta or commit object.
    pub fn read_metadata_bytes(&self, kind: ObjectType, checksum: &Checksum) -> Result<Vec<u8>> {
        self.read_metadata_bytes_in(self.objects.as_fd(), kind, checksum)
    }

    /// As [`Repo::read_metadata_bytes`], from `objects/` or a staging
    /// directory laid out the same way.
    pub(crate) fn read_metadata_bytes_in(
        &self,
        objects: BorrowedFd<'_>,
        kind: ObjectType,
        checksum: &Checksum,
    ) -> Result<Vec<u8>> {
        let rel = self.object_relpath(kind, checksum);
        let fd = match fsutil::open_file(objects, rel.as_str()) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::MissingObject { kind: kind.name(), checksum: *checksum });
            }
            Err(e) => return Err(io_err("opening object", &rel)(e)),
        };
        fsutil::read_to_end(&fd).map_err(io_err("reading object", &rel))
    }

    pub fn read_commit(&self, checksum: &Checksum) -> Result<Commit> {
        let data = self.read_metadata_bytes(ObjectType::Commit, checksum)?;
        Commit::parse(&data).map_err(|source| Error::CorruptObject { kind: "commit", checksum: *checksum, source })
    }

    pub fn read_dirtree(&self, checksum: &Checksum) -> Result<DirTree> {
        let data = self.read_metadata_bytes(ObjectType::DirTree, checksum)?;
        DirTree::parse(&data).map_err(|source| Error::CorruptObject { kind: "dirtree", checksum: *checksum, source })
    }

    pub fn read_dirmeta(&self, checksum: &Checksum) -> Result<DirMeta> {
        let data = self.read_metadata_bytes(ObjectType::DirMeta, checksum)?;
        DirMeta::parse(&data).map_err(|source| Error::CorruptObject { kind: "dirmeta", checksum: *checksum, source })
    }

    /// The bytes of a metadata object, checked against its checksum.
    fn read_verified_metadata(&self, kind: ObjectType, checksum: &Checksum) -> Result<Vec<u8>> {
        let data = self.read_metadata_bytes(kind, checksum)?;
        let actual = Checksum::of(&data);
        if actual != *checksum {
            return Err(Error::ChecksumMismatch { kind, expected: *checksum, actual });
        }
        Ok(data)
    }

    /// As [`Repo::read_commit`], re-hashing the object first.
    pub fn read_verified_commit(&self, checksum: &Checksum) -> Result<Commit> {
        let data = self.read_verified_metadata(ObjectType::Commit, checksum)?;
        Commit::parse(&data).map_err(|source| Error::CorruptObject { kind: "commit", checksum: *checksum, source })
    }

    /// As [`Repo::read_dirtree`], re-hashing the object first.
    pub fn read_verified_dirtree(&self, checksum: &Checksum) -> Result<DirTree> {
        let data = self.read_verified_metadata(ObjectType::DirTree, checksum)?;
        DirTree::parse(&data).map_err(|source| Error::CorruptObject { kind: "dirtree", checksum: *checksum, source })
    }

    /// As [`Repo::read_dirmeta`], re-hashing the object first.
    pub fn read_verified_dirmeta(&self, checksum: &Checksum) -> Result<DirMeta> {
        let data = self.read_verified_metadata(ObjectType::DirMeta, checksum)?;
        DirMeta::parse(&data).map_err(|source| Error::CorruptObject { kind: "dirmeta", checksum: *checksum, source })
    }

    /// Re-hashes a content object (its metadata and bytes, as ostree
    /// checksums them): a flipped byte, a truncation or a changed mode,
    /// owner or xattr of the object (or of a hardlinked checkout of it)
    /// is an [`Error::ChecksumMismatch`].
    pub fn verify_content_object(&self, checksum: &Checksum) -> Result<()> {
        let rel = self.object_relpath(ObjectType::File, checksum);
        let mut content = self.open_content(checksum)?;
        let mut hasher = crate::objects::ContentHasher::new(&content.meta);
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = content.reader.read(&mut buf).map_err(io_err("reading object", &rel))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let actual = hasher.finish();
        if actual != *checksum {
            return Err(Error::ChecksumMismatch { kind: ObjectType::File, expected: *checksum, actual });
        }
        Ok(())
    }

    /// Opens a content object: its metadata, its size and a reader over its
    /// bytes (empty for a symlink).
    pub fn open_content(&self, checksum: &Checksum) -> Result<ContentObject> {
        self.open_content_in(self.objects.as_fd(), checksum)
    }

    /// As [`Repo::open_content`], from `objects/` or a staging directory
    /// laid out the same way.
    pub(crate) fn open_content_in(&self, objects: BorrowedFd<'_>, checksum: &Checksum) -> Result<ContentObject> {
        let rel = self.object_relpath(ObjectType::File, checksum);
        let missing = || Error::MissingObject { kind: "file", checksum: *checksum };
        let corrupt = |source| Error::CorruptObject { kind: "file", checksum: *checksum, source };
        let io_read = |e: io::Error| -> Error {
            if e.kind() == io::ErrorKind::NotFound { missing() } else { io_err("reading object", &rel)(e) }
        };
        match self.mode {
            RepoMode::Bare => {
                let st = rustix::fs::statat(objects, rel.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_read(e.into()))?;
                let mode = st.st_mode;
                if mode & S_IFMT == S_IFLNK {
                    let target =
                        rustix::fs::readlinkat(objects, rel.as_str(), Vec::new()).map_err(|e| io_read(e.into()))?;
                    let (dir, name) = rel.split_once('/').unwrap_or(("", &rel));
                    let dirfd = fsutil::open_dir(objects, dir).map_err(io_read)?;
                    let xattrs = fsutil::link_xattrs(dirfd.as_fd(), name.as_bytes()).map_err(io_read)?;
                    let meta = FileMeta {
                        uid: st.st_uid,
                        gid: st.st_gid,
                        mode,
                        symlink_target: target.to_string_lossy().into_owned(),
                        xattrs,
                    };
                    return Ok(ContentObject::symlink(meta));
                }
                let fd = fsutil::open_file(objects, rel.as_str()).map_err(io_read)?;
                let xattrs = fsutil::fd_xattrs(fd.as_fd()).map_err(io_read)?;
                let meta = FileMeta { uid: st.st_uid, gid: st.st_gid, mode, symlink_target: String::new(), xattrs };
                meta.validate().map_err(corrupt)?;
                Ok(ContentObject { meta, size: st.st_size as u64, reader: Box::new(std::fs::File::from(fd)) })
            }
            RepoMode::BareUser => {
                let fd = fsutil::open_file(objects, rel.as_str()).map_err(io_read)?;
                let mut buf = vec![0u8; 4096];
                let n = rustix::fs::fgetxattr(&fd, USER_META_XATTR, buf.as_mut_slice()).map_err(|e| {
                    corrupt(crate::objects::FormatError::Invalid {
                        kind: "bare-user object",
                        reason: format!("no readable `{USER_META_XATTR}` xattr: {e}"),
                    })
                })?;
                let mut meta = FileMeta::parse_bare_user_meta(&buf[..n], String::new()).map_err(corrupt)?;
                let mut file = std::fs::File::from(fd);
                if meta.is_symlink() {
                    // OSTree writes the target NUL-terminated.
                    let mut target = Vec::new();
                    file.read_to_end(&mut target).map_err(io_read)?;
                    if target.last() == Some(&0) {
                        target.pop();
                    }
                    meta.symlink_target = String::from_utf8(target).map_err(|_| {
                        corrupt(crate::objects::FormatError::Invalid {
                            kind: "bare-user object",
                            reason: "symlink target is not UTF-8".into(),
                        })
                    })?;
                    meta.validate().map_err(corrupt)?;
                    return Ok(ContentObject::symlink(meta));
                }
                meta.validate().map_err(corrupt)?;
                let size = file.metadata().map_err(io_read)?.len();
                Ok(ContentObject { meta, size, reader: Box::new(file) })
            }
            RepoMode::Archive => {
                let fd = fsutil::open_file(objects, rel.as_str()).map_err(io_read)?;
                let mut file = std::fs::File::from(fd);
                let mut head = Vec::new();
                // Headers are small; read a generous prefix, then continue the stream.
                (&mut file).take(64 * 1024).read_to_end(&mut head).map_err(io_read)?;
                let (meta, size, used) = FileMeta::parse_archive_header(&head).map_err(corrupt)?;
                if meta.is_symlink() {
                    return Ok(ContentObject::symlink(meta));
                }
                let rest = io::Cursor::new(head[used..].to_vec()).chain(file);
                let inflated = flate2::read::DeflateDecoder::new(rest);
                let reader = Box::new(ExactSize { inner: inflated, remaining: size, checksum: *checksum });
                Ok(ContentObject { meta, size, reader })
            }
        }
    }

    /// Metadata of a content object, without its bytes.
    pub fn read_file_meta(&self, checksum: &Checksum) -> Result<FileMeta> {
        Ok(self.open_content(checksum)?.meta)
    }

    pub fn refs(&self) -> crate::refs::Refs<'_> {
        crate::refs::Refs { repo: self }
    }
}

/// A content object opened for reading.
pub struct ContentObject {
    pub meta: FileMeta,
    /// Bytes of content; 0 for a symlink.
    pub size: u64,
    pub reader: Box<dyn Read + Send>,
}

impl ContentObject {
    fn symlink(meta: FileMeta) -> ContentObject {
        ContentObject { meta, size: 0, reader: Box::new(io::empty()) }
    }
}

/// Stops a decompressed stream at the size its header declares, and fails
/// if the stream ends early or runs past it.
struct ExactSize<R> {
    inner: R,
    remaining: u64,
    checksum: Checksum,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("object {} is longer than its header says", self.checksum),
                )),
            };
        }
        let max = buf.len().min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("object {} is shorter than its header says", self.checksum),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The value of `key` in `[section]` of a GLib key file.
pub fn config_value<'a>(text: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_section = &line[1..line.len() - 1] == section;
        } else if in_section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim());
        }
    }
    None
}

pub(crate) fn errno_is(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}
