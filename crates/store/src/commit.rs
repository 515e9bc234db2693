//! Committing a directory tree: walk it, hash and write content objects
//! in parallel, then write dirtrees bottom-up and the commit object.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType};

use crate::error::{Error, Result, io_err};
use crate::fsutil;
use crate::gvariant::Value;
use crate::mtree::{MutableTree, Subdir};
use crate::objects::{
    Checksum, Commit, ContentHasher, DirMeta, FileMeta, ObjectType, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use crate::repo::{Repo, RepoMode};
use crate::transaction::{Content, Transaction};

/// Files up to this size are read once into memory, hashed and written
/// from the buffer; larger ones are streamed twice.
const SMALL_FILE: u64 = 1 << 20;

#[derive(Debug, Default, Clone)]
pub struct CommitOptions {
    pub subject: String,
    pub body: String,
    /// The parent commit; `None` uses the ref's current commit, if any.
    pub parent: Option<Checksum>,
    /// Commit without a parent even if the ref exists.
    pub orphan: bool,
    pub metadata: Vec<(String, Value)>,
    /// Seconds since the epoch; `None` is now.
    pub timestamp: Option<u64>,
    /// Trust files that are hardlinks of this repository's objects, by
    /// device and inode, instead of reading them again.
    pub link_checkout_speedup: bool,
}

/// Counts of what a commit did, for progress and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommitStats {
    pub files: usize,
    pub hashed: usize,
    pub reused_by_inode: usize,
}

/// Maps (device, inode) of a hardlinked checkout back to object checksums.
pub struct DevInoCache {
    dev: u64,
    map: HashMap<u64, Checksum>,
}

impl DevInoCache {
    /// Scans `objects/` by directory listing: the inode comes from
    /// `getdents`, so no object is stat'ed.
    pub fn scan(repo: &Repo) -> Result<DevInoCache> {
        let st = rustix::fs::fstat(&repo.objects).map_err(io_err("reading", repo.path.join("objects").display()))?;
        let mut map = HashMap::new();
        if repo.mode != RepoMode::Archive {
            for (prefix, ty, _) in fsutil::read_names(&repo.objects).map_err(io_err("listing", "objects"))? {
                if ty != FileType::Directory || prefix.len() != 2 {
                    continue;
                }
                let dir = fsutil::open_dir(&repo.objects, OsStr::from_bytes(&prefix))
                    .map_err(io_err("listing", "objects"))?;
                for (name, _, ino) in fsutil::read_names(&dir).map_err(io_err("listing", "objects"))? {
                    let Some(rest) = name.strip_suffix(b".file") else { continue };
                    let mut hex = prefix.clone();
                    hex.extend_from_slice(rest);
                    if let Ok(c) = std::str::from_utf8(&hex).unwrap_or("").parse::<Checksum>() {
                        map.insert(ino, c);
                    }
                }
            }
        }
        Ok(DevInoCache { dev: st.st_dev, map })
    }

    pub fn get(&self, dev: u64, ino: u64) -> Option<Checksum> {
        if dev == self.dev { self.map.get(&ino).copied() } else { None }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A content entry found by the walk, still to be hashed.
struct Job {
    parent: Arc<OwnedFd>,
    name: OsString,
    path: PathBuf,
    stat: rustix::fs::Stat,
}

/// Where a walked file's checksum will come from.
enum Pending {
    Known(Checksum),
    Job(usize),
}

struct WalkDir {
    meta: Checksum,
    files: Vec<(String, Pending)>,
    dirs: Vec<(String, WalkDir)>,
}

struct Walker<'a, 't> {
    tx: &'a Transaction<'t>,
    cache: Option<&'a DevInoCache>,
    /// Directories, relative to the walk's root, committed empty.
    skip_contents: &'a [&'a str],
    root: PathBuf,
    jobs: Vec<Job>,
    stats: CommitStats,
}

fn utf8_name(name: &[u8], parent: &Path) -> Result<String> {
    String::from_utf8(name.to_vec()).map_err(|_| Error::Unsupported {
        path: parent.join(OsStr::from_bytes(name)).display().to_string(),
        reason: "file name is not UTF-8, which OSTree cannot store".into(),
    })
}

impl Walker<'_, '_> {
    fn walk(&mut self, dir: OwnedFd, path: &Path) -> Result<WalkDir> {
        let st = rustix::fs::fstat(&dir).map_err(io_err("reading", path.display()))?;
        let xattrs = fsutil::fd_xattrs(dir.as_fd()).map_err(io_err("reading xattrs of", path.display()))?;
        let meta = DirMeta { uid: st.st_uid, gid: st.st_gid, mode: st.st_mode, xattrs };
        let meta = self.tx.write_metadata(ObjectType::DirMeta, &meta.serialize())?;
        if let Ok(relative) = path.strip_prefix(&self.root)
            && self.skip_contents.iter().any(|skip| relative == Path::new(skip))
        {
            return Ok(WalkDir { meta, files: Vec::new(), dirs: Vec::new() });
        }
        let mut names = fsutil::read_names(&dir).map_err(io_err("listing", path.display()))?;
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let dir = Arc::new(dir);
        let mut out = WalkDir { meta, files: Vec::new(), dirs: Vec::new() };
        for (raw, file_type, ino) in names {
            let name = utf8_name(&raw, path)?;
            let child_path = path.join(&name);
            // A file or symlink of a hardlinked checkout is its object's inode:
            // `getdents` names it, so it needs no stat and no read. (Entries of
            // this directory live on the directory's own filesystem.)
            if matches!(file_type, FileType::RegularFile | FileType::Symlink)
                && let Some(c) = self.cache.and_then(|c| c.get(st.st_dev, ino))
            {
                self.stats.files += 1;
                self.stats.reused_by_inode += 1;
                out.files.push((name, Pending::Known(c)));
                continue;
            }
            if file_type == FileType::Directory {
                // O_NOFOLLOW | O_DIRECTORY: a race that swapped in a symlink fails here.
                let sub = fsutil::open_dir(&*dir, name.as_str()).map_err(io_err("opening", child_path.display()))?;
                let walked = self.walk(sub, &child_path)?;
                out.dirs.push((name, walked));
                continue;
            }
            let st = rustix::fs::statat(&*dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(io_err("reading", child_path.display()))?;
            match st.st_mode & S_IFMT {
                S_IFDIR => {
                    let sub =
                        fsutil::open_dir(&*dir, name.as_str()).map_err(io_err("opening", child_path.display()))?;
                    let walked = self.walk(sub, &child_path)?;
                    out.dirs.push((name, walked));
                }
                S_IFREG | S_IFLNK => {
                    self.stats.files += 1;
                    let cached = if st.st_mode & S_IFMT == S_IFREG {
                        self.cache.and_then(|c| c.get(st.st_dev, st.st_ino))
                    } else {
                        None
                    };
                    let pending = match cached {
                        Some(c) => {
                            self.stats.reused_by_inode += 1;
                            Pending::Known(c)
                        }
                        None => {
                            self.jobs.push(Job {
                                parent: dir.clone(),
                                name: name.clone().into(),
                                path: child_path,
                                stat: st,
                            });
                            Pending::Job(self.jobs.len() - 1)
                        }
                    };
                    out.files.push((name, pending));
                }
                _ => {
                    return Err(Error::Unsupported {
                        path: child_path.display().to_string(),
                        reason: "not a regular file, symlink or directory (device nodes, FIFOs and sockets cannot be committed)".into(),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn hash_and_write(tx: &Transaction<'_>, job: &Job) -> Result<Checksum> {
    let display = job.path.display();
    let st = &job.stat;
    if st.st_mode & S_IFMT == S_IFLNK {
        let target = rustix::fs::readlinkat(&*job.parent, job.name.as_os_str(), Vec::new())
            .map_err(io_err("reading", &display))?;
        let target = String::from_utf8(target.into_bytes()).map_err(|_| Error::Unsupported {
            path: display.to_string(),
            reason: "symlink target is not UTF-8".into(),
        })?;
        let xattrs = fsutil::link_xattrs(job.parent.as_fd(), job.name.as_bytes())
            .map_err(io_err("reading xattrs of", &display))?;
        let meta = FileMeta { uid: st.st_uid, gid: st.st_gid, mode: st.st_mode, symlink_target: target, xattrs };
        let checksum = ContentHasher::new(&meta).finish();
        tx.write_content_trusted(&checksum, &meta, Content::Symlink)?;
        return Ok(checksum);
    }
    let fd = fsutil::open_file(&*job.parent, job.name.as_os_str()).map_err(io_err("opening", &display))?;
    let xattrs = fsutil::fd_xattrs(fd.as_fd()).map_err(io_err("reading xattrs of", &display))?;
    let meta = FileMeta { uid: st.st_uid, gid: st.st_gid, mode: st.st_mode, symlink_target: String::new(), xattrs };
    let mut hasher = ContentHasher::new(&meta);
    if (st.st_size as u64) <= SMALL_FILE {
        let buf = fsutil::read_exact_size(&fd, st.st_size as usize).map_err(io_err("reading", &display))?;
        hasher.update(&buf);
        let checksum = hasher.finish();
        tx.write_content_trusted(&checksum, &meta, Content::Bytes(&buf))?;
        return Ok(checksum);
    }
    let mut file = std::fs::File::from(fd);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err("reading", &display))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let checksum = hasher.finish();
    std::io::Seek::rewind(&mut file).map_err(io_err("reading", &display))?;
    tx.write_content_trusted(&checksum, &meta, Content::Fd(file.as_fd()))?;
    Ok(checksum)
}

fn resolve(dir: WalkDir, sums: &[Checksum]) -> MutableTree {
    let mut tree = MutableTree { meta: Some(dir.meta), ..Default::default() };
    for (name, pending) in dir.files {
        let c = match pending {
            Pending::Known(c) => c,
            Pending::Job(i) => sums[i],
        };
        tree.files.insert(name, c);
    }
    for (name, sub) in dir.dirs {
        tree.dirs.insert(name, Subdir::Built(resolve(sub, sums)));
    }
    tree
}

/// Writes the objects of directory `path` and returns its tree. The
/// directories named in `skip_contents` (relative to `path`, such as `dev`
/// or `proc` of a root filesystem) are committed empty, with their own
/// metadata.
pub fn write_directory(
    tx: &Transaction<'_>,
    path: &Path,
    cache: Option<&DevInoCache>,
    skip_contents: &[&str],
) -> Result<(MutableTree, CommitStats)> {
    let root = fsutil::open_dir(rustix::fs::CWD, path).map_err(io_err("opening", path.display()))?;
    let mut walker =
        Walker { tx, cache, skip_contents, root: path.to_owned(), jobs: Vec::new(), stats: CommitStats::default() };
    let walked = walker.walk(root, path)?;
    let sums: Vec<Checksum> = walker.jobs.par_iter().map(|job| hash_and_write(tx, job)).collect::<Result<_>>()?;
    walker.stats.hashed = sums.len();
    Ok((resolve(walked, &sums), walker.stats))
}

/// Writes a commit object for `root`; returns its checksum.
pub fn write_commit(
    tx: &Transaction<'_>,
    root: &MutableTree,
    parent: Option<Checksum>,
    opts: &CommitOptions,
) -> Result<Checksum> {
    let (root_tree, root_meta) = root.write(tx)?;
    let timestamp = opts.timestamp.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    });
    let commit = Commit {
        metadata: opts.metadata.clone(),
        parent,
        subject: opts.subject.clone(),
        body: opts.body.clone(),
        timestamp,
        root_tree,
        root_meta,
    };
    tx.write_metadata(ObjectType::Commit, &commit.serialize())
}

impl Repo {
    /// Commits directory `path` on `branch`, as `ostree commit -b` does.
    pub fn commit_directory(&self, branch: &str, path: &Path, opts: &CommitOptions) -> Result<(Checksum, CommitStats)> {
        crate::refs::validate_ref(branch)?;
        // The transaction first: its lock keeps a prune from deleting an
        // object the cache names before the commit links it.
        let tx = self.begin()?;
        let cache = if opts.link_checkout_speedup { Some(DevInoCache::scan(self)?) } else { None };
        let (tree, stats) = write_directory(&tx, path, cache.as_ref(), &[])?;
        let parent = if opts.orphan { None } else { opts.parent.or(self.refs().read(branch)?) };
        let checksum = write_commit(&tx, &tree, parent, opts)?;
        tx.commit(&[(branch, Some(checksum))])?;
        Ok((checksum, stats))
    }
}
