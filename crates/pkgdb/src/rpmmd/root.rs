//! Reading configuration files of an image root: every path resolves as if
//! chrooted into the root (`openat2` with `RESOLVE_IN_ROOT`), so a symlink
//! in the image (`/etc/os-release -> ../usr/lib/os-release`, or a hostile
//! `/etc/pki/rpm-gpg/KEY -> /root/.ssh/id_rsa`) never leads to the host.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Files larger than this are refused: configuration and keys are small.
pub const MAX_CONFIG_FILE: u64 = 4 << 20;

/// An image root, open as a directory handle.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl RootDir {
    pub fn open(path: &Path) -> io::Result<RootDir> {
        let fd = rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(RootDir { fd, path: path.to_owned() })
    }

    /// The root as given, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_in_root(&self, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let relative = path.trim_start_matches('/');
        let relative = if relative.is_empty() { "." } else { relative };
        Ok(rustix::fs::openat2(
            &self.fd,
            relative,
            flags | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?)
    }

    /// The contents of the regular file at `path` (absolute inside the
    /// root), or `None` when it does not exist. Longer than `limit` is an
    /// error.
    pub fn read_optional(&self, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        // O_NONBLOCK so that opening a FIFO cannot hang; only regular files are read.
        let fd = match self.open_in_root(path, OFlags::RDONLY | OFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {limit} bytes")));
        }
        Ok(Some(bytes))
    }

    /// The names in the directory at `path`, sorted; empty when it does not exist.
    pub fn list_optional(&self, path: &str) -> io::Result<Vec<String>> {
        let fd = match self.open_in_root(path, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let host = tempfile::tempdir().expect("tempdir");
        std::fs::write(host.path().join("secret"), "host").expect("secret");
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("etc")).expect("etc");
        std::fs::write(root.path().join("secret"), "root").expect("secret");
        std::os::unix::fs::symlink(host.path().join("secret"), root.path().join("etc/link")).expect("symlink");
        std::os::unix::fs::symlink("../../../../../../secret", root.path().join("etc/up")).expect("symlink");
        let dir = RootDir::open(root.path()).expect("open");
        // The absolute target names a host path that does not exist inside the root.
        assert_eq!(dir.read_optional("/etc/link", 100).expect("read"), None);
        assert_eq!(dir.read_optional("/etc/up", 100).expect("read").as_deref(), Some(&b"root"[..]));
        assert_eq!(dir.list_optional("/etc").expect("list"), ["link", "up"]);
        assert!(dir.list_optional("/nowhere").expect("list").is_empty());
        assert!(dir.read_optional("/secret", 2).is_err(), "over the limit");
        assert!(dir.read_optional("/etc", 100).is_err(), "a directory");
    }
}
