//! Refs: names for commits, under `refs/heads/` (local) and
//! `refs/remotes/REMOTE/` (pulled), each a file holding a hex checksum.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result, io_err};
use crate::fsutil;
use crate::objects::Checksum;
use crate::repo::Repo;

pub struct Refs<'r> {
    pub(crate) repo: &'r Repo,
}

/// Checks a ref name as OSTree does: `/`-separated components of
/// letters, digits, `_`, `-` and `.`, none empty or starting with `.`.
pub fn validate_ref(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.split('/').all(|c| {
            let mut chars = c.chars();
            matches!(chars.next(), Some(first) if first.is_ascii_alphanumeric() || first == '_')
                && chars.all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch))
        });
    if ok { Ok(()) } else { Err(Error::InvalidRef(name.into())) }
}

/// Writes a file durably: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(dir: impl AsFd, name: &str, data: &[u8]) -> std::io::Result<()> {
    let dir = dir.as_fd();
    let (parent, base) = match name.rsplit_once('/') {
        Some((p, b)) => (Some(fsutil::open_dir(dir, p)?), b),
        None => (None, name),
    };
    let parent_fd = parent.as_ref().map(|p| p.as_fd()).unwrap_or(dir);
    let tmp = format!(".{base}.tmp-{}-{}", std::process::id(), unique());
    let fd: OwnedFd = rustix::fs::openat(
        parent_fd,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let result = (|| {
        let mut off = 0;
        while off < data.len() {
            off += rustix::io::write(&fd, &data[off..])?;
        }
        rustix::fs::fsync(&fd)?;
        rustix::fs::renameat(parent_fd, tmp.as_str(), parent_fd, base)?;
        rustix::fs::fsync(parent_fd)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(parent_fd, tmp.as_str(), rustix::fs::AtFlags::empty());
    }
    result
}

pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (u64::from(nanos) << 20) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

impl Refs<'_> {
    fn ref_path(name: &str) -> Result<String> {
        // `remote:ref` names a pulled ref, as in ostree.
        if let Some((remote, name)) = name.split_once(':') {
            validate_ref(remote)?;
            validate_ref(name)?;
            return Ok(format!("refs/remotes/{remote}/{name}"));
        }
        validate_ref(name)?;
        Ok(format!("refs/heads/{name}"))
    }

    pub fn read(&self, name: &str) -> Result<Option<Checksum>> {
        let path = Self::ref_path(name)?;
        let fd = match fsutil::open_file(&self.repo.dir, path.as_str()) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if crate::repo::errno_is(&e, libc::ENOTDIR) => return Ok(None),
            Err(e) => return Err(io_err("reading ref", &path)(e)),
        };
        let data = fsutil::read_to_end(&fd).map_err(io_err("reading ref", &path))?;
        let text = String::from_utf8_lossy(&data);
        let checksum = text.trim().parse().map_err(|_| Error::Unsupported {
            path: self.repo.path.join(&path).display().to_string(),
            reason: "ref does not hold a checksum".into(),
        })?;
        Ok(Some(checksum))
    }

    /// Resolves a checksum, a ref, `remote:ref`, or any of those followed
    /// by `^` (the parent), as `ostree rev-parse` does.
    pub fn resolve(&self, rev: &str) -> Result<Checksum> {
        if let Some(child) = rev.strip_suffix('^') {
            let commit = self.repo.read_commit(&self.resolve(child)?)?;
            return commit.parent.ok_or_else(|| Error::RefNotFound(rev.into()));
        }
        if let Ok(c) = rev.parse::<Checksum>() {
            return Ok(c);
        }
        self.read(rev)?.ok_or_else(|| Error::RefNotFound(rev.into()))
    }

    /// Points `name` at `checksum`, durably. `None` deletes the ref.
    pub fn set(&self, name: &str, checksum: Option<&Checksum>) -> Result<()> {
        let path = Self::ref_path(name)?;
        let display = self.repo.path.join(&path).display().to_string();
        match checksum {
            Some(c) => {
                if let Some((parent, _)) = path.rsplit_once('/') {
                    let mut built = String::new();
                    for part in parent.split('/') {
                        if !built.is_empty() {
                            built.push('/');
                        }
                        built.push_str(part);
                        fsutil::ensure_dir(&self.repo.dir, built.as_str(), 0o755)
                            .map_err(io_err("creating", &display))?;
                    }
                }
                write_atomic(&self.repo.dir, &path, format!("{c}\n").as_bytes())
                    .map_err(io_err("writing ref", &display))
            }
            None => match rustix::fs::unlinkat(&self.repo.dir, path.as_str(), rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
                Err(e) => Err(io_err("deleting ref", &display)(e)),
            },
        }
    }

    /// All refs, local ones by name and pulled ones as `remote:name`, sorted.
    pub fn list(&self) -> Result<Vec<(String, Checksum)>> {
        let mut out = Vec::new();
        self.walk("refs/heads", "", &mut out)?;
        let remotes = match fsutil::open_dir(&self.repo.dir, "refs/remotes") {
            Ok(fd) => fsutil::read_names(&fd).map_err(io_err("listing", "refs/remotes"))?,
            Err(_) => Vec::new(),
        };
        for (remote, _, _) in remotes {
            let remote = String::from_utf8_lossy(&remote).into_owned();
            self.walk(&format!("refs/remotes/{remote}"), &format!("{remote}:"), &mut out)?;
        }
        out.sort();
        Ok(out)
    }

    fn walk(&self, dir: &str, prefix: &str, out: &mut Vec<(String, Checksum)>) -> Result<()> {
        let fd = match fsutil::open_dir(&self.repo.dir, dir) {
            Ok(fd) => fd,
            Err(_) => return Ok(()),
        };
        for (name, ty, _) in fsutil::read_names(&fd).map_err(io_err("listing", dir))? {
            let name = String::from_utf8_lossy(&name).into_owned();
            if name.starts_with('.') {
                continue; // a temp file of an interrupted write
            }
            let full = format!("{prefix}{name}");
            if ty == rustix::fs::FileType::Directory {
                self.walk(&format!("{dir}/{name}"), &format!("{full}/"), out)?;
            } else if let Some(c) = self.read(&full)? {
                out.push((full, c));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names() {
        for ok in ["main", "debian/12/x86_64/base", "layer/pkg/htop_3.2.2-2", "a.b-c_d"] {
            assert!(validate_ref(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/x", "x/", "a//b", "../x", "a/../b", ".hidden", "sp ace", "a\nb"] {
            assert!(validate_ref(bad).is_err(), "{bad}");
        }
    }
}
