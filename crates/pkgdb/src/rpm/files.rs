//! The header's file list: paths, types, modes, owners, digests, link
//! targets, flags and capabilities, with hardlink sets resolved and every
//! path checked before anything looks at the payload.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::caps;
use super::error::{RpmErrorKind, Tag};
use super::header::Header;
use super::package::{count_mismatch, missing};
use super::tags::*;
use crate::entry::{PackagePath, normalize_path};

/// Owner ids for names other than `root`: rpm records owners by name only,
/// and the importer maps names through the image's passwd/group files. An
/// unmapped name must never fall back to root.
pub const UNMAPPED_ID: u32 = 65534;

/// The type of a file in the header's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// Only `%ghost` entries may be special files; they are never unpacked.
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileKind {
    pub(crate) fn from_mode_bits(mode: u32) -> Option<FileKind> {
        Some(match mode & 0o170000 {
            0o100000 => FileKind::File,
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            0o020000 => FileKind::CharDevice,
            0o060000 => FileKind::BlockDevice,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "directory",
            FileKind::Symlink => "symlink",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Fifo => "FIFO",
            FileKind::Socket => "socket",
        }
    }
}

/// RPMFILE flags, as stored; see the accessors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFlags(pub u32);

const FILE_FLAG_NAMES: &[(u32, &str)] = &[
    (1 << 0, "config"),
    (1 << 1, "doc"),
    (1 << 2, "icon"),
    (1 << 3, "missingok"),
    (1 << 4, "noreplace"),
    (1 << 5, "specfile"),
    (1 << 6, "ghost"),
    (1 << 7, "license"),
    (1 << 8, "readme"),
    (1 << 11, "pubkey"),
    (1 << 12, "artifact"),
];

impl FileFlags {
    pub fn config(self) -> bool {
        self.0 & 1 != 0
    }
    pub fn doc(self) -> bool {
        self.0 & (1 << 1) != 0
    }
    pub fn noreplace(self) -> bool {
        self.0 & (1 << 4) != 0
    }
    /// `%ghost`: owned by the package but not in the payload.
    pub fn ghost(self) -> bool {
        self.0 & (1 << 6) != 0
    }
    /// The names of the set flags: `config`, `doc`, `ghost`, ...
    pub fn names(self) -> Vec<&'static str> {
        FILE_FLAG_NAMES.iter().filter(|(bit, _)| self.0 & bit != 0).map(|(_, n)| *n).collect()
    }
}

impl Serialize for FileFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

/// One file of the header's list.
#[derive(Debug, Clone, Serialize)]
pub struct RpmFile {
    /// Normalized, relative to the package root; `/` + this is the path.
    #[serde(serialize_with = "serialize_path")]
    pub path: PackagePath,
    pub kind: FileKind,
    /// Permission bits, with setuid, setgid and sticky.
    pub mode: u32,
    pub user: String,
    pub group: String,
    /// Size as recorded: content length, or the target length of a symlink.
    pub size: u64,
    pub mtime: u32,
    /// `algo:hex`, for regular files that record one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    pub flags: FileFlags,
    /// Capabilities in libcap's text form, as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caps: Option<String>,
    /// The same capabilities as a binary `security.capability` value.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "serialize_hex")]
    pub capability_xattr: Option<Vec<u8>>,
    /// For a regular file that shares its inode with others: the member
    /// whose payload record carries the content (rpm puts it on the last
    /// of the set in header order). `None` for that member itself.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "serialize_opt_path")]
    pub hardlink_to: Option<PackagePath>,
    /// The header's raw path, exactly as the payload must name it.
    #[serde(skip)]
    pub(crate) raw_path: String,
    /// Bytes this file's payload record must carry.
    #[serde(skip)]
    pub(crate) payload_size: u64,
}

fn serialize_path<S: serde::Serializer>(p: &PackagePath, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_absolute())
}

fn serialize_opt_path<S: serde::Serializer>(p: &Option<PackagePath>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_str(&p.to_absolute()),
        None => s.serialize_none(),
    }
}

fn serialize_hex<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&super::header::hex(v)),
        None => s.serialize_none(),
    }
}

/// File digest algorithms (PGPHASHALGO numbers) we can check.
pub fn digest_algorithm_name(algorithm: u32) -> Option<&'static str> {
    Some(match algorithm {
        1 => "md5",
        2 => "sha1",
        8 => "sha256",
        9 => "sha384",
        10 => "sha512",
        11 => "sha224",
        _ => return None,
    })
}

pub fn files(h: &Header) -> Result<Vec<RpmFile>, RpmErrorKind> {
    let raw_paths = file_paths(h)?;
    let n = raw_paths.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let check = |tag: u32, len: usize| if len == n { Ok(()) } else { Err(count_mismatch(tag, n, len)) };
    let modes = h.u16s(FILEMODES)?.ok_or_else(|| missing(FILEMODES))?;
    check(FILEMODES, modes.len())?;
    let sizes: Vec<u64> = match h.u64s(LONGFILESIZES)? {
        Some(s) => {
            check(LONGFILESIZES, s.len())?;
            s
        }
        None => {
            let s = h.u32s(FILESIZES)?.ok_or_else(|| missing(FILESIZES))?;
            check(FILESIZES, s.len())?;
            s.into_iter().map(u64::from).collect()
        }
    };
    let users = h.utf8_strings(FILEUSERNAME)?.ok_or_else(|| missing(FILEUSERNAME))?;
    check(FILEUSERNAME, users.len())?;
    let groups = h.utf8_strings(FILEGROUPNAME)?.ok_or_else(|| missing(FILEGROUPNAME))?;
    check(FILEGROUPNAME, groups.len())?;
    let flags = h.u32s(FILEFLAGS)?.unwrap_or_else(|| vec![0; n]);
    check(FILEFLAGS, flags.len())?;
    let mtimes = h.u32s(FILEMTIMES)?.unwrap_or_else(|| vec![0; n]);
    check(FILEMTIMES, mtimes.len())?;
    let links = h.utf8_strings(FILELINKTOS)?.unwrap_or_else(|| vec![""; n]);
    check(FILELINKTOS, links.len())?;
    let digests = h.utf8_strings(FILEDIGESTS)?.unwrap_or_else(|| vec![""; n]);
    check(FILEDIGESTS, digests.len())?;
    let caps = h.utf8_strings(FILECAPS)?;
    if let Some(c) = &caps {
        check(FILECAPS, c.len())?;
    }
    let inodes = h.u32s(FILEINODES)?;
    let devices = h.u32s(FILEDEVICES)?;
    if let Some(v) = &inodes {
        check(FILEINODES, v.len())?;
    }
    if let Some(v) = &devices {
        check(FILEDEVICES, v.len())?;
    }
    let algorithm = h.u32_one(FILEDIGESTALGO)?.unwrap_or(1);

    let mut out = Vec::with_capacity(n);
    let mut unique = HashSet::with_capacity(n);
    for i in 0..n {
        let raw = &raw_paths[i];
        let path = normalize_path(raw.as_bytes(), true)
            .map_err(|source| RpmErrorKind::BadPath { path: raw.clone(), source })?;
        let mode = u32::from(modes[i]);
        let kind = FileKind::from_mode_bits(mode)
            .ok_or_else(|| RpmErrorKind::UnknownFileType { path: raw.clone(), mode: mode & 0o170000 })?;
        // Only a directory may be the root (the `filesystem` package owns `/`).
        if !raw.starts_with('/') || (path.is_root() && kind != FileKind::Dir) {
            return Err(RpmErrorKind::FileList { reason: format!("`{raw}` is not an absolute file path") });
        }
        if !unique.insert(path.clone()) {
            return Err(RpmErrorKind::FileList { reason: format!("`{raw}` is listed twice") });
        }
        let file_flags = FileFlags(flags[i]);
        if !file_flags.ghost() && !matches!(kind, FileKind::File | FileKind::Dir | FileKind::Symlink) {
            return Err(RpmErrorKind::SpecialFile { path: raw.clone(), kind: kind.as_str() });
        }
        let digest = match (kind, digests[i]) {
            (FileKind::File, d) if !d.is_empty() => {
                let name = digest_algorithm_name(algorithm)
                    .ok_or(RpmErrorKind::UnsupportedDigest { what: "file", algorithm })?;
                if !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(RpmErrorKind::TagValue {
                        tag: Tag::main(FILEDIGESTS),
                        reason: format!("`{d}` for `{raw}` is not hex"),
                    });
                }
                Some(format!("{name}:{}", d.to_ascii_lowercase()))
            }
            _ => None,
        };
        let link_target = match kind {
            FileKind::Symlink => {
                if links[i].is_empty() || links[i].len() >= crate::entry::MAX_PATH {
                    return Err(RpmErrorKind::FileList {
                        reason: format!("symlink `{raw}` has an empty or overlong target"),
                    });
                }
                if !file_flags.ghost() && sizes[i] != links[i].len() as u64 {
                    return Err(RpmErrorKind::FileList {
                        reason: format!(
                            "symlink `{raw}` has size {} for a target of {} bytes",
                            sizes[i],
                            links[i].len()
                        ),
                    });
                }
                Some(links[i].to_owned())
            }
            _ => None,
        };
        let file_caps = caps.as_ref().map(|c| c[i]).filter(|c| !c.is_empty()).map(str::to_owned);
        let capability_xattr = match &file_caps {
            Some(text) if kind == FileKind::File => {
                Some(caps::capability_xattr(text).map_err(|source| RpmErrorKind::Capabilities {
                    path: raw.clone(),
                    caps: text.clone(),
                    source,
                })?)
            }
            _ => None,
        };
        let payload_size = match kind {
            _ if file_flags.ghost() => 0,
            FileKind::File | FileKind::Symlink => sizes[i],
            _ => 0,
        };
        out.push(RpmFile {
            path,
            kind,
            mode: mode & 0o7777,
            user: users[i].to_owned(),
            group: groups[i].to_owned(),
            size: sizes[i],
            mtime: mtimes[i],
            digest,
            link_target,
            flags: file_flags,
            caps: file_caps,
            capability_xattr,
            hardlink_to: None,
            raw_path: raw.clone(),
            payload_size,
        });
    }
    require_directory_parents(&out)?;
    if let (Some(inodes), Some(devices)) = (inodes, devices) {
        link_hardlinks(&mut out, &inodes, &devices)?;
    }
    Ok(out)
}

/// Every listed ancestor of a listed path must be a directory, whatever
/// order the payload delivers them in: `d -> /etc` and `d/shadow` in one
/// package is refused even when `d/shadow` comes first (SECURITY.md 2, 5).
fn require_directory_parents(files: &[RpmFile]) -> Result<(), RpmErrorKind> {
    let kinds: HashMap<&PackagePath, FileKind> = files.iter().map(|f| (&f.path, f.kind)).collect();
    for f in files {
        for ancestor in f.path.ancestors() {
            match kinds.get(&ancestor) {
                None | Some(FileKind::Dir) => {}
                Some(kind) => {
                    return Err(RpmErrorKind::FileList {
                        reason: format!("`{}` lies under `{}`, which is a {}", f.path, ancestor, kind.as_str()),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Full paths from BASENAMES/DIRNAMES/DIRINDEXES, or the legacy OLDFILENAMES.
fn file_paths(h: &Header) -> Result<Vec<String>, RpmErrorKind> {
    let Some(basenames) = h.utf8_strings(BASENAMES)? else {
        if h.has(DIRNAMES) || h.has(DIRINDEXES) {
            return Err(missing(BASENAMES));
        }
        return Ok(h.utf8_strings(OLDFILENAMES)?.unwrap_or_default().into_iter().map(str::to_owned).collect());
    };
    let dirnames = h.utf8_strings(DIRNAMES)?.ok_or_else(|| missing(DIRNAMES))?;
    let dirindexes = h.u32s(DIRINDEXES)?.ok_or_else(|| missing(DIRINDEXES))?;
    if dirindexes.len() != basenames.len() {
        return Err(count_mismatch(DIRINDEXES, basenames.len(), dirindexes.len()));
    }
    basenames
        .iter()
        .zip(dirindexes)
        .map(|(base, dir)| {
            let dir = dirnames.get(dir as usize).ok_or_else(|| RpmErrorKind::TagValue {
                tag: Tag::main(DIRINDEXES),
                reason: format!("directory {dir} of {}", dirnames.len()),
            })?;
            if base.contains('/') || !dir.ends_with('/') {
                return Err(RpmErrorKind::FileList { reason: format!("bad name `{base}` in directory `{dir}`") });
            }
            Ok(format!("{dir}{base}"))
        })
        .collect()
}

/// Groups regular, non-ghost files sharing (device, inode), as rpm's
/// `rpmfilesBuildNLink` does, and points every member at the last one,
/// which carries the content in the payload. Members must agree on
/// everything stored per inode.
fn link_hardlinks(files: &mut [RpmFile], inodes: &[u32], devices: &[u32]) -> Result<(), RpmErrorKind> {
    let mut sets: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if f.kind == FileKind::File && !f.flags.ghost() && inodes[i] > 0 {
            sets.entry((devices[i], inodes[i])).or_default().push(i);
        }
    }
    for members in sets.values().filter(|m| m.len() > 1) {
        let Some(&content) = members.last() else { continue };
        let first = &files[content];
        for &m in members {
            let f = &files[m];
            let disagree = |field: &'static str| RpmErrorKind::Hardlink {
                path: f.path.to_absolute(),
                other: first.path.to_absolute(),
                field,
            };
            if f.size != first.size {
                return Err(disagree("size"));
            }
            if f.digest != first.digest {
                return Err(disagree("digest"));
            }
            if f.mode != first.mode {
                return Err(disagree("mode"));
            }
            if f.user != first.user || f.group != first.group {
                return Err(disagree("owner"));
            }
            if f.caps != first.caps {
                return Err(disagree("capabilities"));
            }
        }
        let target = first.path.clone();
        for &m in &members[..members.len() - 1] {
            files[m].hardlink_to = Some(target.clone());
            files[m].payload_size = 0;
        }
    }
    Ok(())
}
