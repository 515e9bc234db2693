//! Which content objects were re-hashed already, so that a verified
//! checkout (every deployment's) reads only the objects that may have
//! changed since, instead of every byte of the tree.
//!
//! An object counts as verified while its size, modification time, mode
//! and owner are the ones it had when it was hashed, as git trusts its
//! index: writing its bytes or truncating it (through the object or any
//! hardlinked checkout of it) moves the modification time (objects are
//! written with time 0), and `chmod` or `chown` change the rest. An object
//! whose modification time was within the last seconds when it was hashed
//! is not recorded: a change in the same clock tick would keep that time.
//! The stamp survives a copy with `cp -a` or a backup, as the record is
//! meant to; it does not see changes made to look unchanged (a time set
//! back after a write), under the filesystem (a raw write to the block
//! device), or of xattrs alone: `fsck` re-hashes everything, always.
//!
//! The record is `tmp/layer-verified-objects` in the repository: a cache,
//! rewritten by rename, which losing costs only the hashing again.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, StatxFlags};

use crate::error::{Result, io_err};
use crate::objects::{Checksum, ObjectType};
use crate::repo::Repo;

/// The record's file, in the repository's `tmp/`.
const FILE: &str = "layer-verified-objects";
const MAGIC: &[u8; 16] = b"layer-verified2\n";
const RECORD: usize = 32 + 8 + 8 + 4 * 4;
/// Objects changed more recently than this before being hashed are hashed
/// again next time.
const RACY: Duration = Duration::from_secs(2);
/// Records not seen by a checkout are kept while the file holds fewer.
const KEEP_UNSEEN: usize = 200_000;

/// What identifies one state of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_sec: i64,
    mtime_nsec: u32,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The record, loaded for one checkout.
pub(crate) struct VerifiedObjects {
    old: HashMap<Checksum, Stamp>,
    /// Verified (or found recorded) during this checkout.
    seen: Mutex<HashMap<Checksum, Stamp>>,
    /// Hashed during this checkout: the record must be written.
    hashed: std::sync::atomic::AtomicBool,
}

impl VerifiedObjects {
    /// Loads the record of `repo`; a missing or unreadable one is empty.
    pub(crate) fn load(repo: &Repo) -> VerifiedObjects {
        let mut old = HashMap::new();
        if let Ok(bytes) = std::fs::read(repo.path().join("tmp").join(FILE))
            && let Some(body) = bytes.strip_prefix(MAGIC.as_slice())
            && body.len() % RECORD == 0
        {
            for record in body.chunks_exact(RECORD) {
                let long = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().expect("8 bytes"));
                let word = |i: usize| u32::from_le_bytes(record[48 + 4 * i..52 + 4 * i].try_into().expect("4 bytes"));
                let checksum = Checksum(record[..32].try_into().expect("32 bytes"));
                let stamp = Stamp {
                    size: long(32),
                    mtime_sec: long(40) as i64,
                    mtime_nsec: word(0),
                    mode: word(1),
                    uid: word(2),
                    gid: word(3),
                };
                old.insert(checksum, stamp);
            }
        }
        VerifiedObjects { old, seen: Mutex::default(), hashed: Default::default() }
    }

    /// Re-hashes the content object `checksum` unless the record shows
    /// this very state of it verified; fails as
    /// [`Repo::verify_content_object`] does.
    pub(crate) fn verify(&self, repo: &Repo, checksum: &Checksum) -> Result<()> {
        if self.seen.lock().expect("verified set").contains_key(checksum) {
            return Ok(());
        }
        let before = stamp(repo, checksum)?;
        if let Some(stamp) = before
            && self.old.get(checksum) == Some(&stamp)
        {
            self.seen.lock().expect("verified set").insert(*checksum, stamp);
            return Ok(());
        }
        repo.verify_content_object(checksum)?;
        let after = stamp(repo, checksum)?;
        let settled = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().saturating_sub(RACY);
        if let Some(after) = after.filter(|a| Some(*a) == before && (a.mtime_sec.max(0) as u64) < settled.as_secs()) {
            self.seen.lock().expect("verified set").insert(*checksum, after);
            self.hashed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes the record back if anything was hashed: what this checkout
    /// saw, and what it did not see while the record stays small.
    pub(crate) fn save(self, repo: &Repo) {
        if !self.hashed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut all = self.seen.into_inner().expect("verified set");
        if self.old.len() < KEEP_UNSEEN {
            for (checksum, stamp) in self.old {
                all.entry(checksum).or_insert(stamp);
            }
        }
        let mut bytes = Vec::with_capacity(MAGIC.len() + all.len() * RECORD);
        bytes.extend_from_slice(MAGIC);
        for (checksum, s) in &all {
            bytes.extend_from_slice(&checksum.0);
            bytes.extend_from_slice(&s.size.to_le_bytes());
            bytes.extend_from_slice(&(s.mtime_sec as u64).to_le_bytes());
            for word in [s.mtime_nsec, s.mode, s.uid, s.gid] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
        }
        // Only a cache: a failed write costs the next checkout the hashing.
        let path = repo.path().join("tmp").join(FILE);
        let staged = path.with_extension(format!("{}.new", std::process::id()));
        if std::fs::write(&staged, &bytes).is_ok() && std::fs::rename(&staged, &path).is_err() {
            let _ = std::fs::remove_file(&staged);
        }
    }
}

/// The stamp of the object `checksum`, if it exists.
fn stamp(repo: &Repo, checksum: &Checksum) -> Result<Option<Stamp>> {
    let rel = repo.object_relpath(ObjectType::File, checksum);
    let st = match rustix::fs::statx(
        repo.objects.as_fd(),
        rel.as_str(),
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::SIZE | StatxFlags::MTIME | StatxFlags::MODE | StatxFlags::UID | StatxFlags::GID,
    ) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io_err("reading object", &rel)(e)),
    };
    Ok(Some(Stamp {
        size: st.stx_size,
        mtime_sec: st.stx_mtime.tv_sec,
        mtime_nsec: st.stx_mtime.tv_nsec,
        mode: u32::from(st.stx_mode),
        uid: st.stx_uid,
        gid: st.stx_gid,
    }))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::checkout::CheckoutOptions;
    use crate::commit::CommitOptions;
    use crate::error::Error;
    use crate::objects::ObjectType;
    use crate::repo::{Repo, RepoMode};

    /// SECURITY.md 38 with the record: a write or a chmod of a recorded
    /// object is still caught; only a change made to look unchanged gets
    /// past it (and `fsck` names that one).
    #[test]
    fn recorded_objects_are_hashed_again_once_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::init(&dir.path().join("repo"), RepoMode::Bare).expect("repo");
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).expect("tree");
        std::fs::write(tree.join("a"), b"content of a\n").expect("a");
        std::fs::write(tree.join("b"), b"content of b\n").expect("b");
        let (commit, _) = repo.commit_directory("x", &tree, &CommitOptions::default()).expect("commit");
        let verify = CheckoutOptions { verify: true, ..Default::default() };
        let checkout = |n: u32| repo.checkout(&commit, &dir.path().join(format!("co{n}")), &verify);
        checkout(0).expect("a clean commit checks out");
        assert!(repo.path().join("tmp/layer-verified-objects").is_file(), "the record is written");
        let path_of = |content: &[u8]| {
            let objects = repo.list_objects(Some(ObjectType::File)).expect("objects");
            let (_, checksum) = objects
                .into_iter()
                .find(|(_, c)| {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut repo.open_content(c).expect("open").reader, &mut bytes)
                        .expect("read");
                    bytes == content
                })
                .expect("the object");
            repo.path().join("objects").join(repo.object_relpath(ObjectType::File, &checksum))
        };
        let a = path_of(b"content of a\n");
        let b = path_of(b"content of b\n");

        // A flipped byte moves the modification time: hashed again, refused.
        let original = std::fs::read(&a).expect("a");
        std::fs::write(&a, b"content of A\n").expect("flip");
        assert!(matches!(checkout(1), Err(Error::ChecksumMismatch { .. })));
        std::fs::write(&a, &original).expect("restore");
        set_mtime_zero(&a);
        checkout(2).expect("restored");

        // A changed mode: refused.
        std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
        assert!(matches!(checkout(3), Err(Error::ChecksumMismatch { .. })));
        std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o644)).expect("chmod back");

        // A flip whose time is set back looks unchanged to the record (it
        // is not hashed again, which is the point of it); fsck still sees it.
        checkout(4).expect("clean again");
        std::fs::write(&a, b"content of A\n").expect("flip");
        set_mtime_zero(&a);
        checkout(5).expect("the record trusts an unchanged stamp");
        assert!(!repo.fsck().expect("fsck").problems.is_empty(), "fsck names it");
    }

    fn set_mtime_zero(path: &std::path::Path) {
        let zero = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 },
            last_modification: rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 },
        };
        rustix::fs::utimensat(rustix::fs::CWD, path, &zero, rustix::fs::AtFlags::empty()).expect("utimensat");
    }
}
