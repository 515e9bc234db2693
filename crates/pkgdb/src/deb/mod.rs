//! Reading `.deb` packages (deb(5)) from any `impl Read`, streaming.
//!
//! [`DebReader::new`] reads and checks `debian-binary` and the control
//! archive. [`DebReader::for_each_entry`] then streams `data.tar`: each
//! entry is converted to an [`Entry`], checked against every earlier one
//! by a [`Validator`], and counted against the entry and size budgets
//! before the callback sees it or its data. A caller that writes as it
//! goes therefore never writes a refused entry; but it must still treat
//! everything written as provisional until `for_each_entry` returns `Ok`,
//! because a later entry, the compressor's checksum or the members after
//! `data.tar` can still fail the package.
//!
//! The container rules follow dpkg-deb: `debian-binary` (format 2.x) first,
//! then `control.tar[.gz|.xz|.zst]`, then `data.tar[.gz|.xz|.zst|.bz2|.lzma]`.
//! Members whose names start with `_` may appear anywhere after
//! `debian-binary` and are skipped; any other member out of this order, a
//! second control or data member, or a missing one is an error
//! (SECURITY.md 16).

mod ar;
mod compression;
mod control_info;
mod inspect;
pub mod relation;
mod tarball;
pub mod version;

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::io::{self, Read};

pub use ar::ArError;
pub use compression::Compression;
pub use control_info::{Conffile, ControlInfo, RelationField, SCRIPT_NAMES, interpreter};
pub use inspect::{FileInfo, PackageInfo, ScriptInfo, inspect, inspect_with};
pub use tarball::TarError;
pub use version::{Version, VersionError};

use crate::control::ControlError;
use crate::entry::{Entry, EntryError, EntryKind, MAX_PATH, PackagePath, PathError, Validator, normalize_path};
use ar::ArReader;
use tarball::{TarKind, TarMember, Walk};

/// Limits that keep a hostile package from exhausting memory or disk
/// (SECURITY.md 13). The defaults suit every package in Debian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebOptions {
    /// Most `data.tar` entries, the root directory included.
    pub max_entries: usize,
    /// `data.tar` bytes (file data plus headers) always allowed.
    pub min_data_size: u64,
    /// `data.tar` bytes allowed per byte of `Installed-Size`, above `min_data_size`.
    pub installed_size_factor: u64,
    /// `data.tar` bytes never exceeded, whatever `Installed-Size` says.
    pub max_data_size: u64,
    /// Largest single file in `control.tar`.
    pub max_control_file_size: u64,
    /// Most bytes of all files in `control.tar` together.
    pub max_control_size: u64,
}

impl Default for DebOptions {
    fn default() -> Self {
        DebOptions {
            max_entries: 1_000_000,
            min_data_size: 64 << 20,
            installed_size_factor: 4,
            max_data_size: 16 << 30,
            max_control_file_size: 16 << 20,
            max_control_size: 64 << 20,
        }
    }
}

impl DebOptions {
    /// The `data.tar` budget for a package declaring `installed_size` KiB:
    /// `max(min_data_size, factor × installed_size)`, capped at `max_data_size`.
    pub fn data_limit(&self, installed_size: Option<u64>) -> u64 {
        let declared = installed_size.unwrap_or(0).saturating_mul(1024).saturating_mul(self.installed_size_factor);
        declared.max(self.min_data_size).min(self.max_data_size)
    }
}

/// Most files in `control.tar` (dpkg's own packages have about ten).
const MAX_CONTROL_FILES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("malformed deb container")]
    Container(#[source] ArError),
    #[error("the first member is `{found}`, not `debian-binary`; this is not a Debian package")]
    NotDebianBinary { found: String },
    #[error("`debian-binary` holds `{version}`; only format 2.x is supported")]
    FormatVersion { version: String },
    #[error("the package has no `{expected}` member")]
    MissingMember { expected: &'static str },
    #[error("member `{name}` is out of place: {reason}")]
    UnexpectedMember { name: String, reason: &'static str },
    #[error("member `{name}` has an unknown compression")]
    UnknownCompression { name: String },
    #[error("cannot start decompressing `{member}`")]
    Decompress {
        member: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read `{member}`")]
    ControlTar {
        member: String,
        #[source]
        source: TarError,
    },
    #[error("`{member}` holds `{path}`: {reason}")]
    ControlEntry { member: String, path: String, reason: &'static str },
    #[error("`{member}` is larger than {limit} bytes at `{path}`")]
    ControlTooLarge { member: String, path: String, limit: u64 },
    #[error("the control archive has no `control` file")]
    MissingControl,
    #[error("cannot parse the `control` file")]
    ControlParse(#[source] ControlError),
    #[error("the `control` file has no `{field}` field")]
    MissingField { field: &'static str },
    #[error("the `control` field `{field}`: `{value}` {reason}")]
    BadField { field: &'static str, value: String, reason: &'static str },
    #[error("package `{package}`: cannot parse the `{field}` field")]
    Relation {
        package: String,
        field: &'static str,
        #[source]
        source: relation::RelationError,
    },
    #[error("package `{package}`: line {line} of `{file}`: {reason}")]
    BadListFile { package: String, file: &'static str, line: usize, reason: String },
    #[error("{count} bytes follow the compressed stream in `{member}`")]
    ControlTrailingBytes { member: String, count: u64 },
    #[error("package `{package}`: {count} bytes follow the compressed stream in `{member}`")]
    DataTrailingBytes { package: String, member: String, count: u64 },
    #[error("package `{package}`: cannot read `{member}`")]
    DataTar {
        package: String,
        member: String,
        #[source]
        source: TarError,
    },
    #[error("package `{package}`: refused payload path `{path}`")]
    Path {
        package: String,
        path: String,
        #[source]
        source: PathError,
    },
    #[error("package `{package}`: hardlink `{path}` has a target outside the package")]
    HardlinkTarget {
        package: String,
        path: PackagePath,
        #[source]
        source: PathError,
    },
    #[error(
        "package `{package}`: symlink `{path}` has a target that is not UTF-8, has a NUL or is longer than {MAX_PATH} bytes"
    )]
    SymlinkTarget { package: String, path: PackagePath },
    #[error("package `{package}`: refused payload entry")]
    Entry {
        package: String,
        #[source]
        source: EntryError,
    },
    #[error(
        "package `{package}`: the payload grows past its limit of {limit} bytes at `{path}` \
         (Installed-Size: {installed_size})"
    )]
    DataTooLarge { package: String, path: PackagePath, limit: u64, installed_size: String },
    #[error("package `{package}`: handling `{path}` failed")]
    Callback {
        package: String,
        path: PackagePath,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl From<ArError> for DebError {
    fn from(e: ArError) -> Self {
        DebError::Container(e)
    }
}

/// What [`DebReader::for_each_entry`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebSummary {
    /// `data.tar.xz` and so on.
    pub data_member: String,
    pub compression: Compression,
    /// Entries handed to the callback, the root directory included.
    pub entries: usize,
    pub files: usize,
    /// Bytes of regular-file data.
    pub file_bytes: u64,
    /// Members starting with `_`, skipped.
    pub ignored_members: Vec<String>,
}

/// A `.deb` being read; see the module documentation.
pub struct DebReader<R> {
    ar: ArReader<R>,
    control: ControlInfo,
    /// The control archive's files as shipped, by name.
    control_files: BTreeMap<String, Vec<u8>>,
    options: DebOptions,
    ignored_members: Vec<String>,
}

impl<R: Read> DebReader<R> {
    /// Reads `debian-binary` and the control archive.
    pub fn new(reader: R, options: DebOptions) -> Result<Self, DebError> {
        let mut ar = ArReader::new(reader)?;
        let first = ar.next_member()?.ok_or(DebError::MissingMember { expected: "debian-binary" })?;
        if first.name != "debian-binary" {
            return Err(DebError::NotDebianBinary { found: first.name });
        }
        let mut version = Vec::new();
        ar.member().take(64).read_to_end(&mut version).map_err(|e| DebError::Container(ArError::Read(e)))?;
        if ar.remaining() > 0 || !valid_format_version(&version) {
            return Err(DebError::FormatVersion {
                version: String::from_utf8_lossy(&version).escape_debug().to_string(),
            });
        }

        let mut ignored_members = Vec::new();
        let (member, compression) = loop {
            let m = ar.next_member()?.ok_or(DebError::MissingMember { expected: "control.tar" })?;
            if m.name.starts_with('_') {
                ignored_members.push(m.name);
            } else if m.name.starts_with("control.tar") {
                let compression = Compression::from_member_name(&m.name, "control.tar", Compression::CONTROL)
                    .ok_or_else(|| DebError::UnknownCompression { name: m.name.clone() })?;
                break (m.name, compression);
            } else if m.name.starts_with("data.tar") {
                return Err(DebError::UnexpectedMember { name: m.name, reason: "data comes before control" });
            } else {
                return Err(DebError::UnexpectedMember {
                    name: m.name,
                    reason: "only `_` members may precede control",
                });
            }
        };
        let files = read_control_files(&mut ar, &member, compression, &options)?;
        if ar.remaining() > 0 {
            return Err(DebError::ControlTrailingBytes { member, count: ar.remaining() });
        }
        let control = ControlInfo::from_files(member, files.clone())?;
        Ok(DebReader { ar, control, control_files: files, options, ignored_members })
    }

    pub fn control(&self) -> &ControlInfo {
        &self.control
    }

    /// The control archive's files as shipped (`control`, `md5sums`,
    /// `postinst`, ...), by name: [`ControlInfo::from_files`] reads them
    /// back.
    pub fn control_files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.control_files
    }

    /// Streams `data.tar`. Each entry is validated (path, type, links,
    /// xattrs, duplicates, budgets) before `callback` sees it. `content`
    /// yields a regular file's data, exactly its size, and nothing for
    /// other entries; the callback may leave it unread. Then the members
    /// after `data.tar` are checked.
    pub fn for_each_entry<F, E>(self, mut callback: F) -> Result<DebSummary, DebError>
    where
        F: FnMut(&Entry, &mut dyn Read) -> Result<(), E>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let DebReader { mut ar, control, options, mut ignored_members, .. } = self;
        let package = control.package.clone();
        let (member, compression) = loop {
            let m = ar.next_member()?.ok_or(DebError::MissingMember { expected: "data.tar" })?;
            if m.name.starts_with('_') {
                ignored_members.push(m.name);
            } else if m.name.starts_with("data.tar") {
                let compression = Compression::from_member_name(&m.name, "data.tar", Compression::DATA)
                    .ok_or_else(|| DebError::UnknownCompression { name: m.name.clone() })?;
                break (m.name, compression);
            } else if m.name.starts_with("control.tar") {
                return Err(DebError::UnexpectedMember { name: m.name, reason: "a second control member" });
            } else {
                return Err(DebError::UnexpectedMember { name: m.name, reason: "only `_` members may precede data" });
            }
        };

        let limit = options.data_limit(control.installed_size);
        let mut validator = Validator::new(options.max_entries);
        let mut summary = DebSummary {
            data_member: member.clone(),
            compression,
            entries: 0,
            files: 0,
            file_bytes: 0,
            ignored_members: Vec::new(),
        };
        let mut consumed: u64 = 0;
        let decoder = compression::decoder(compression, ar.member())
            .map_err(|source| DebError::Decompress { member: member.clone(), source })?;
        tarball::walk(decoder, |raw: TarMember, content: &mut dyn Read| -> Result<(), DebError> {
            let size = match raw.kind {
                TarKind::File { size } => size,
                _ => 0,
            };
            consumed = consumed.saturating_add(size).saturating_add(raw.header_bytes);
            let entry = to_entry(&package, raw, &control.md5sums)?;
            if consumed > limit {
                return Err(DebError::DataTooLarge {
                    package: package.clone(),
                    path: entry.path,
                    limit,
                    installed_size: control.installed_size.map_or("absent".to_owned(), |s| format!("{s} KiB")),
                });
            }
            validator.check(&entry).map_err(|source| DebError::Entry { package: package.clone(), source })?;
            summary.entries += 1;
            if let EntryKind::File { size } = entry.kind {
                summary.files += 1;
                summary.file_bytes += size;
            }
            callback(&entry, content).map_err(|e| DebError::Callback {
                package: package.clone(),
                path: entry.path.clone(),
                source: e.into(),
            })
        })
        .map_err(|w| match w {
            Walk::Tar(source) => DebError::DataTar { package: package.clone(), member: member.clone(), source },
            Walk::Visit(e) => e,
        })?;
        if ar.remaining() > 0 {
            return Err(DebError::DataTrailingBytes { package, member, count: ar.remaining() });
        }

        while let Some(m) = ar.next_member()? {
            if m.name.starts_with('_') {
                ignored_members.push(m.name);
            } else if m.name.starts_with("data.tar") {
                return Err(DebError::UnexpectedMember { name: m.name, reason: "a second data member" });
            } else {
                return Err(DebError::UnexpectedMember { name: m.name, reason: "only `_` members may follow data" });
            }
        }
        summary.ignored_members = ignored_members;
        Ok(summary)
    }
}

/// `2.` and a minor version, then a newline: dpkg reads the major number
/// only, but nothing but `2.0` has ever been written.
fn valid_format_version(content: &[u8]) -> bool {
    content
        .strip_prefix(b"2.")
        .and_then(|rest| rest.strip_suffix(b"\n"))
        .is_some_and(|minor| !minor.is_empty() && minor.iter().all(u8::is_ascii_digit))
}

fn to_entry(package: &str, raw: TarMember, md5sums: &BTreeMap<PackagePath, String>) -> Result<Entry, DebError> {
    let path = normalize_path(&raw.path, false).map_err(|source| DebError::Path {
        package: package.to_owned(),
        path: tarball::show(&raw.path),
        source,
    })?;
    let kind = match raw.kind {
        TarKind::File { size } => EntryKind::File { size },
        TarKind::Dir => EntryKind::Dir,
        TarKind::Symlink { target } => {
            let target = String::from_utf8(target)
                .ok()
                .filter(|t| !t.contains('\0') && t.len() <= MAX_PATH)
                .ok_or_else(|| DebError::SymlinkTarget { package: package.to_owned(), path: path.clone() })?;
            EntryKind::Symlink { target }
        }
        TarKind::Hardlink { target } => {
            let target = normalize_path(&target, false).map_err(|source| DebError::HardlinkTarget {
                package: package.to_owned(),
                path: path.clone(),
                source,
            })?;
            EntryKind::Hardlink { target }
        }
    };
    let digest = match kind {
        EntryKind::File { .. } => md5sums.get(&path).map(|hex| format!("md5:{hex}")),
        _ => None,
    };
    Ok(Entry {
        path,
        kind,
        mode: raw.mode,
        uid: raw.uid,
        gid: raw.gid,
        user: raw.user,
        group: raw.group,
        mtime: raw.mtime,
        xattrs: raw.xattrs,
        digest,
    })
}

/// Reads the control archive's files into memory, by name, within the
/// options' bounds. Only regular files named `./NAME` or `NAME` (and the
/// root directory) are allowed.
fn read_control_files<R: Read>(
    ar: &mut ArReader<R>,
    member: &str,
    compression: Compression,
    options: &DebOptions,
) -> Result<BTreeMap<String, Vec<u8>>, DebError> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut entries = 0usize;
    let entry_error =
        |path: &[u8], reason| DebError::ControlEntry { member: member.to_owned(), path: tarball::show(path), reason };
    let decoder = compression::decoder(compression, ar.member())
        .map_err(|source| DebError::Decompress { member: member.to_owned(), source })?;
    tarball::walk(decoder, |raw: TarMember, content: &mut dyn Read| -> Result<(), DebError> {
        entries += 1;
        if entries > MAX_CONTROL_FILES {
            return Err(entry_error(&raw.path, "the control archive has more than 256 entries"));
        }
        let name = raw.path.strip_prefix(b"./").unwrap_or(&raw.path);
        if matches!(name, b"" | b"." | b"./") {
            return match raw.kind {
                TarKind::Dir => Ok(()),
                _ => Err(entry_error(&raw.path, "the root is not a directory")),
            };
        }
        let TarKind::File { size } = raw.kind else {
            return Err(entry_error(&raw.path, "only regular files are allowed"));
        };
        let name = std::str::from_utf8(name)
            .ok()
            .filter(|n| !n.contains('/') && *n != ".." && !n.chars().any(char::is_control))
            .ok_or_else(|| entry_error(&raw.path, "a name must be a plain file name"))?;
        if !raw.xattrs.is_empty() {
            return Err(entry_error(&raw.path, "control files may not carry extended attributes"));
        }
        if files.contains_key(name) {
            return Err(entry_error(&raw.path, "it appears twice"));
        }
        total = total.saturating_add(size);
        let limit = options.max_control_file_size.min(options.max_control_size);
        if size > options.max_control_file_size || total > options.max_control_size {
            return Err(DebError::ControlTooLarge { member: member.to_owned(), path: tarball::show(&raw.path), limit });
        }
        let mut data = Vec::with_capacity(size as usize);
        content.read_to_end(&mut data).map_err(|source| DebError::ControlTar {
            member: member.to_owned(),
            source: TarError::Data { path: tarball::show(&raw.path), source },
        })?;
        files.insert(name.to_owned(), data);
        Ok(())
    })
    .map_err(|w| match w {
        Walk::Tar(source) => DebError::ControlTar { member: member.to_owned(), source },
        Walk::Visit(e) => e,
    })?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_versions() {
        for ok in [&b"2.0\n"[..], b"2.1\n", b"2.10\n"] {
            assert!(valid_format_version(ok));
        }
        for bad in [&b"3.0\n"[..], b"2.0", b"2.\n", b"2.0\nx", b"20\n", b" 2.0\n", b"2.0\n\n", b""] {
            assert!(!valid_format_version(bad), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn data_limit() {
        let o = DebOptions::default();
        assert_eq!(o.data_limit(None), 64 << 20);
        assert_eq!(o.data_limit(Some(378)), 64 << 20);
        assert_eq!(o.data_limit(Some(100_000)), 4 * 100_000 * 1024);
        assert_eq!(o.data_limit(Some(u64::MAX)), 16 << 30);
    }
}
