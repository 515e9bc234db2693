//! A whole `.deb` described as data: the backing of
//! `layer pkg inspect FILE --json`. The shape is versioned by
//! [`PackageInfo::format`]; fields are only ever added.

use std::io::Read;

use serde::Serialize;

use super::{DebError, DebOptions, DebReader, interpreter};
use crate::control::Paragraph;
use crate::entry::{Entry, EntryKind};

/// The version of the JSON shape below.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct PackageInfo {
    pub format: u32,
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// KiB, as the package declares it.
    pub installed_size: Option<u64>,
    pub multi_arch: Option<String>,
    pub essential: bool,
    pub depends: Option<String>,
    pub pre_depends: Option<String>,
    pub recommends: Option<String>,
    pub suggests: Option<String>,
    pub conflicts: Option<String>,
    pub breaks: Option<String>,
    pub replaces: Option<String>,
    pub provides: Option<String>,
    /// Every field of `control`, in order.
    pub fields: Paragraph,
    pub control_member: String,
    pub data_member: String,
    pub scripts: Vec<ScriptInfo>,
    /// Absolute paths, as `conffiles` lists them.
    pub conffiles: Vec<String>,
    /// The other files of the control archive (`md5sums`, `triggers`, ...).
    pub control_files: Vec<String>,
    pub files: Vec<FileInfo>,
    /// Bytes of regular-file data.
    pub file_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptInfo {
    pub name: String,
    pub size: u64,
    /// From the `#!` line; `None` for a binary or a script without one.
    pub interpreter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// Absolute: `/usr/bin/htop`; the root is `/`.
    pub path: String,
    /// `file`, `dir`, `symlink` or `hardlink`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Four octal digits: `0755`, `4755`.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    pub size: u64,
    pub mtime: i64,
    /// `md5:HEX` from `md5sums`.
    pub digest: Option<String>,
    /// A symlink's target as written, or a hardlink's target as an absolute path.
    pub link_target: Option<String>,
    /// Names of the extended attributes.
    pub xattrs: Vec<String>,
}

impl From<&Entry> for FileInfo {
    fn from(e: &Entry) -> Self {
        let (kind, size, link_target) = match &e.kind {
            EntryKind::File { size } => ("file", *size, None),
            EntryKind::Dir => ("dir", 0, None),
            EntryKind::Symlink { target } => ("symlink", 0, Some(target.clone())),
            EntryKind::Hardlink { target } => ("hardlink", 0, Some(target.to_absolute())),
        };
        FileInfo {
            path: e.path.to_absolute(),
            kind,
            mode: format!("{:04o}", e.mode),
            uid: e.uid,
            gid: e.gid,
            user: e.user.clone(),
            group: e.group.clone(),
            size,
            mtime: e.mtime,
            digest: e.digest.clone(),
            link_target,
            xattrs: e.xattrs.iter().map(|(n, _)| n.clone()).collect(),
        }
    }
}

/// Reads a whole package with the default limits: its control
/// information and every payload entry, validated as for installing.
pub fn inspect<R: Read>(reader: R) -> Result<PackageInfo, DebError> {
    inspect_with(reader, DebOptions::default())
}

/// [`inspect`] with chosen limits.
pub fn inspect_with<R: Read>(reader: R, options: DebOptions) -> Result<PackageInfo, DebError> {
    let deb = DebReader::new(reader, options)?;
    let control = deb.control().clone();
    let mut files = Vec::new();
    let summary = deb.for_each_entry(|entry, _content| {
        files.push(FileInfo::from(entry));
        Ok::<(), std::convert::Infallible>(())
    })?;
    let field = |name: &str| control.field(name).map(str::to_owned);
    let mut control_files: Vec<String> = control.other.keys().cloned().collect();
    for (name, present) in [
        ("conffiles", !control.conffiles.is_empty()),
        ("md5sums", !control.md5sums.is_empty()),
        ("shlibs", control.shlibs.is_some()),
        ("symbols", control.symbols.is_some()),
        ("templates", control.templates.is_some()),
        ("triggers", control.triggers.is_some()),
    ] {
        if present {
            control_files.push(name.to_owned());
        }
    }
    control_files.sort();
    Ok(PackageInfo {
        format: FORMAT,
        depends: field("Depends"),
        pre_depends: field("Pre-Depends"),
        recommends: field("Recommends"),
        suggests: field("Suggests"),
        conflicts: field("Conflicts"),
        breaks: field("Breaks"),
        replaces: field("Replaces"),
        provides: field("Provides"),
        scripts: control
            .scripts
            .iter()
            .map(|(name, body)| ScriptInfo {
                name: name.clone(),
                size: body.len() as u64,
                interpreter: interpreter(body),
            })
            .collect(),
        conffiles: control.conffiles.iter().map(|c| c.path.to_absolute()).collect(),
        control_files,
        files,
        file_bytes: summary.file_bytes,
        control_member: control.member,
        data_member: summary.data_member,
        package: control.package,
        version: control.version,
        architecture: control.architecture,
        installed_size: control.installed_size,
        multi_arch: control.multi_arch,
        essential: control.essential,
        fields: control.fields,
    })
}
