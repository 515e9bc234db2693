//! What a package's payload holds, as validated entries. The `.deb` and
//! `.rpm` readers both produce these, and nothing may be written from a
//! payload before its whole entry list has passed [`validate_entries`].
//!
//! Paths are kept relative to the package root, normalized (no `.`, no
//! empty components, no `..`), and never absolute. Whether `bin/foo` lands
//! in `usr/bin/foo` on a merged-/usr base is decided later, against the
//! target root; here we only guarantee that the package cannot name a path
//! outside its own root or pass through one of its own symlinks.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Longest path accepted (Linux `PATH_MAX`).
pub const MAX_PATH: usize = 4096;
/// Longest single component (Linux `NAME_MAX`).
pub const MAX_NAME: usize = 255;

/// A normalized path inside a package: `usr/bin/htop`. Empty is the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackagePath(String);

impl PackagePath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<PackagePath> {
        if self.0.is_empty() {
            return None;
        }
        Some(PackagePath(self.0.rsplit_once('/').map(|(p, _)| p.to_owned()).unwrap_or_default()))
    }

    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// `/usr/bin/htop`, for messages and file lists.
    pub fn to_absolute(&self) -> String {
        format!("/{}", self.0)
    }

    /// Every proper ancestor, from the top: `usr`, `usr/bin` for `usr/bin/htop`.
    pub fn ancestors(&self) -> impl Iterator<Item = PackagePath> + '_ {
        let bytes = self.0.as_bytes();
        (0..bytes.len()).filter(move |&i| bytes[i] == b'/').map(move |i| PackagePath(self.0[..i].to_owned()))
    }
}

impl fmt::Display for PackagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("absolute path `{0}`")]
    Absolute(String),
    #[error("path `{0}` contains `..`")]
    DotDot(String),
    #[error("path `{0}` is not UTF-8")]
    NotUtf8(String),
    #[error("path `{0}` contains a NUL byte or a control character")]
    BadCharacter(String),
    #[error("path of {0} bytes is longer than {MAX_PATH}")]
    TooLong(usize),
    #[error("path `{0}` has a component longer than {MAX_NAME} bytes")]
    NameTooLong(String),
}

/// Normalizes a payload path. Archives write `./usr/bin/x`, `usr/bin/x`
/// or (rpm) `/usr/bin/x` relative to the package root; callers say which
/// form they accept with `allow_absolute` (only rpm's cpio uses it, and
/// the leading `/` there is the package root, not the host's).
pub fn normalize_path(raw: &[u8], allow_absolute: bool) -> Result<PackagePath, PathError> {
    let shown = || String::from_utf8_lossy(raw).escape_debug().to_string();
    if raw.len() > MAX_PATH {
        return Err(PathError::TooLong(raw.len()));
    }
    let s = std::str::from_utf8(raw).map_err(|_| PathError::NotUtf8(shown()))?;
    if s.chars().any(|c| c == '\0' || c.is_control()) {
        return Err(PathError::BadCharacter(shown()));
    }
    let rest = match s.strip_prefix('/') {
        Some(rest) if allow_absolute => rest,
        Some(_) => return Err(PathError::Absolute(shown())),
        None => s,
    };
    let mut parts = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(PathError::DotDot(shown())),
            c if c.len() > MAX_NAME => return Err(PathError::NameTooLong(shown())),
            c => parts.push(c),
        }
    }
    Ok(PackagePath(parts.join("/")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File {
        size: u64,
    },
    Dir,
    Symlink {
        target: String,
    },
    /// Another name for a regular file earlier in the same payload.
    Hardlink {
        target: PackagePath,
    },
}

/// One payload entry, after its path was normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PackagePath,
    pub kind: EntryKind,
    /// Permission bits, including setuid, setgid and sticky (no type bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Owner and group by name, when the archive names them (rpm does;
    /// tar may). Names win over numbers when the image maps them.
    pub user: Option<String>,
    pub group: Option<String>,
    pub mtime: i64,
    /// Extended attributes that passed the allowlist, sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// The package's own digest of a regular file, `algo:hex`, when it
    /// records one (rpm file digests, deb md5sums).
    pub digest: Option<String>,
}

/// Extended attributes a package may carry; everything else is refused.
/// File capabilities are part of the object checksum (SECURITY.md 11).
pub fn xattr_allowed(name: &str) -> bool {
    name == "security.capability" || name.starts_with("user.")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("`{path}` appears twice in the payload")]
    Duplicate { path: PackagePath },
    #[error("`{path}` lies under `{through}`, which the package makes a symlink")]
    ThroughSymlink { path: PackagePath, through: PackagePath },
    #[error("`{path}` lies under `{parent}`, which is not a directory in the payload")]
    ParentNotDirectory { path: PackagePath, parent: PackagePath },
    #[error("hardlink `{path}` points to `{target}`, {reason}")]
    BadHardlink { path: PackagePath, target: String, reason: &'static str },
    #[error("`{path}` has the extended attribute `{name}`, which packages may not set")]
    ForbiddenXattr { path: PackagePath, name: String },
    #[error("symlink `{path}` has an empty target")]
    EmptySymlink { path: PackagePath },
    #[error("the payload has more than {limit} entries")]
    TooManyEntries { limit: usize },
}

/// Checks payload entries against each other as they stream by, before
/// each is written: no path twice (a later entry replacing an earlier link
/// is how dpkg and tar were fooled), no path under one of the package's own
/// symlinks or under a non-directory, hardlinks only to earlier regular
/// files, only allowlisted xattrs, and a bounded entry count.
pub struct Validator {
    seen: HashMap<PackagePath, EntryKind>,
    max_entries: usize,
    count: usize,
}

impl Validator {
    pub fn new(max_entries: usize) -> Validator {
        Validator { seen: HashMap::new(), max_entries, count: 0 }
    }

    /// Accepts `e` if it is consistent with every entry accepted before it.
    pub fn check(&mut self, e: &Entry) -> Result<(), EntryError> {
        self.count += 1;
        if self.count > self.max_entries {
            return Err(EntryError::TooManyEntries { limit: self.max_entries });
        }
        if let Some((name, _)) = e.xattrs.iter().find(|(n, _)| !xattr_allowed(n)) {
            return Err(EntryError::ForbiddenXattr { path: e.path.clone(), name: name.clone() });
        }
        // The root directory itself (`./`) may be listed; it creates nothing.
        if e.path.is_root() {
            if e.kind != EntryKind::Dir {
                return Err(EntryError::ParentNotDirectory { path: e.path.clone(), parent: e.path.clone() });
            }
            return Ok(());
        }
        for ancestor in e.path.ancestors().filter(|a| !a.is_root()) {
            match self.seen.get(&ancestor) {
                Some(EntryKind::Symlink { .. }) => {
                    return Err(EntryError::ThroughSymlink { path: e.path.clone(), through: ancestor });
                }
                Some(EntryKind::Dir) => {}
                // A parent the payload never listed is created as a
                // directory; recording it means a later entry cannot turn it
                // into a symlink or a file under what is already written.
                None => {
                    self.seen.insert(ancestor, EntryKind::Dir);
                }
                Some(_) => return Err(EntryError::ParentNotDirectory { path: e.path.clone(), parent: ancestor }),
            }
        }
        match &e.kind {
            EntryKind::Symlink { target } if target.is_empty() => {
                return Err(EntryError::EmptySymlink { path: e.path.clone() });
            }
            EntryKind::Hardlink { target } => match self.seen.get(target) {
                Some(EntryKind::File { .. }) => {}
                Some(EntryKind::Dir) => return Err(bad_link(e, target, "a directory")),
                Some(_) => return Err(bad_link(e, target, "which is not a regular file")),
                None => return Err(bad_link(e, target, "which is not earlier in the package")),
            },
            _ => {}
        }
        match self.seen.get(&e.path) {
            // A directory listed twice creates nothing new.
            Some(EntryKind::Dir) if e.kind == EntryKind::Dir => Ok(()),
            Some(_) => Err(EntryError::Duplicate { path: e.path.clone() }),
            None => {
                self.seen.insert(e.path.clone(), e.kind.clone());
                Ok(())
            }
        }
    }
}

/// Checks a whole list of entries; see [`Validator`].
pub fn validate_entries(entries: &[Entry], max_entries: usize) -> Result<(), EntryError> {
    let mut v = Validator::new(max_entries);
    entries.iter().try_for_each(|e| v.check(e))
}

fn bad_link(e: &Entry, target: &PackagePath, reason: &'static str) -> EntryError {
    EntryError::BadHardlink { path: e.path.clone(), target: target.to_absolute(), reason }
}

/// Entries by path, for lookups after validation.
pub fn index(entries: &[Entry]) -> BTreeMap<&PackagePath, &Entry> {
    entries.iter().map(|e| (&e.path, e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PackagePath {
        normalize_path(s.as_bytes(), false).expect("valid")
    }

    fn entry(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: p(path),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            user: None,
            group: None,
            mtime: 0,
            xattrs: vec![],
            digest: None,
        }
    }

    #[test]
    fn paths_normalize_or_are_refused() {
        assert_eq!(p("./usr//bin/./htop").as_str(), "usr/bin/htop");
        assert!(p("./").is_root());
        assert_eq!(normalize_path(b"/usr/bin/x", true).expect("rpm form").as_str(), "usr/bin/x");
        for bad in ["../../etc/passwd", "./a/../../x", "a/..", "/etc/cron.d/x", "a\nb"] {
            assert!(normalize_path(bad.as_bytes(), false).is_err(), "{bad}");
        }
        assert!(normalize_path(&[b'a'; 5000], false).is_err());
        assert!(normalize_path(&[b'a'; 300], false).is_err());
        assert!(normalize_path(b"\xff", false).is_err());
        assert_eq!(
            p("usr/bin/htop").ancestors().map(|a| a.as_str().to_owned()).collect::<Vec<_>>(),
            ["usr", "usr/bin"]
        );
    }

    #[test]
    fn hostile_entry_sets_are_refused() {
        let file = || EntryKind::File { size: 1 };
        let link = |t: &str| EntryKind::Symlink { target: t.into() };
        let cases: Vec<Vec<Entry>> = vec![
            // 2: through a symlink to /etc
            vec![entry("usr/lib/x", link("/etc")), entry("usr/lib/x/shadow", file())],
            // 3: s -> .. then s/exploit/foo
            vec![entry("s", link("..")), entry("s/exploit/foo/bar", file())],
            // 5: dir d, then d -> /etc, then d/f
            vec![entry("d", EntryKind::Dir), entry("d", link("/etc")), entry("d/f", file())],
            // 6: f as a symlink, then a regular f
            vec![entry("f", link("/etc/shadow")), entry("f", file())],
            // 5 without the directory entry: d/f, then d -> /etc
            vec![entry("d/f", file()), entry("d", link("/etc"))],
            // 7: hardlinks that are missing, to dirs, or forward
            vec![entry("h", EntryKind::Hardlink { target: p("missing") })],
            vec![entry("d", EntryKind::Dir), entry("h", EntryKind::Hardlink { target: p("d") })],
            vec![entry("h", EntryKind::Hardlink { target: p("f") }), entry("f", file())],
            // a file used as a directory
            vec![entry("f", file()), entry("f/g", file())],
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(validate_entries(c, 1000).is_err(), "case {i} accepted");
        }
        let mut xattr = entry("f", file());
        xattr.xattrs.push(("security.selinux".into(), b"x".to_vec()));
        assert!(validate_entries(&[xattr], 10).is_err());
        let ok = vec![
            entry("", EntryKind::Dir),
            entry("usr", EntryKind::Dir),
            entry("usr", EntryKind::Dir),
            entry("usr/f", file()),
            entry("usr/g", EntryKind::Hardlink { target: p("usr/f") }),
            entry("usr/l", link("f")),
        ];
        validate_entries(&ok, 10).expect("a plain payload is fine");
        assert!(validate_entries(&ok, 3).is_err(), "entry bound");
    }
}
