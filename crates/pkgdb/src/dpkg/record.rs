//! A package as dpkg records it: the status paragraph `dpkg --unpack`
//! writes (and `--configure` completes) and the `info/` files, built from
//! the package's [`ControlInfo`] and what its `data.tar` installed.
//!
//! The paragraph follows lib/dpkg/dump.c: dpkg parses the control file and
//! prints its own form, so relation fields are re-joined on one line,
//! versions lose a zero epoch, `Essential: no` and `Multi-Arch: no` vanish,
//! and fields dpkg does not know follow `Description` in their own order.

use std::collections::HashMap;
use std::io::{self, Read};

use md5::{Digest, Md5};

use super::info::{InfoFile, info_files};
use super::status::{
    ConffileRecord, NEW_CONFFILE_HASH, State, Status, StatusDb, StatusEntry, StatusError, known_field,
};
use super::version::{RelationFormatError, normalize_relations, normalize_version};
use crate::control::Field;
use crate::deb::{ControlInfo, DebError, DebOptions, DebReader};
use crate::entry::{Entry, EntryKind, PackagePath, normalize_path};

/// What a package's payload installed, in archive order, with the md5 of
/// each regular file (and of each hardlink, which dpkg gives its target's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledPayload {
    entries: Vec<(PackagePath, Option<String>)>,
    /// Every path, with its md5 if it has one.
    index: HashMap<PackagePath, Option<String>>,
}

impl InstalledPayload {
    pub fn new() -> InstalledPayload {
        InstalledPayload::default()
    }

    /// Adds the next payload entry. `md5` is the lowercase hex md5 of a
    /// regular file's content as written; without it the package's own
    /// `md5sums` digest is used, if it has one.
    pub fn push(&mut self, entry: &Entry, md5: Option<String>) {
        let md5 = match &entry.kind {
            EntryKind::File { .. } => {
                md5.or_else(|| entry.digest.as_deref().and_then(|d| d.strip_prefix("md5:")).map(str::to_owned))
            }
            EntryKind::Hardlink { target } => self.index.get(target).cloned().flatten(),
            EntryKind::Dir | EntryKind::Symlink { .. } => None,
        };
        self.push_path(entry.path.clone(), md5);
    }

    /// Adds a path directly (`md5` only for regular files).
    pub fn push_path(&mut self, path: PackagePath, md5: Option<String>) {
        self.index.insert(path.clone(), md5.clone());
        self.entries.push((path, md5));
    }

    /// Every path, in archive order, the root (`./`) included when the archive lists it.
    pub fn paths(&self) -> impl Iterator<Item = &PackagePath> {
        self.entries.iter().map(|(path, _)| path)
    }

    pub fn md5(&self, path: &PackagePath) -> Option<&str> {
        self.index.get(path).and_then(Option::as_deref)
    }

    pub fn contains(&self, path: &PackagePath) -> bool {
        self.index.contains_key(path)
    }

    /// The md5 of `/etc/foo.conf`, as conffiles name their files.
    pub(crate) fn md5_of_absolute(&self, path: &str) -> Option<&str> {
        let path = normalize_path(path.as_bytes(), true).ok()?;
        self.md5(&path)
    }

    fn contains_absolute(&self, path: &str) -> bool {
        normalize_path(path.as_bytes(), true).is_ok_and(|path| self.contains(&path))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The lowercase hex md5 of everything `reader` yields.
pub fn md5_hex(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads a whole `.deb` without writing anything: its control information
/// and its payload with every file's md5.
pub fn read_payload<R: Read>(reader: R, options: DebOptions) -> Result<(ControlInfo, InstalledPayload), DebError> {
    let deb = DebReader::new(reader, options)?;
    let control = deb.control().clone();
    let mut payload = InstalledPayload::new();
    deb.for_each_entry(|entry, content| -> io::Result<()> {
        let md5 = match entry.kind {
            EntryKind::File { .. } => Some(md5_hex(content)?),
            _ => None,
        };
        payload.push(entry, md5);
        Ok(())
    })?;
    Ok((control, payload))
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("package `{package}`: cannot record its `{field}` field")]
    Relation {
        package: String,
        field: &'static str,
        #[source]
        source: RelationFormatError,
    },
    #[error("package `{package}`: a package is recorded unpacked, half-configured or installed, not `{state}`")]
    State { package: String, state: State },
    #[error("package `{package}`: cannot build its status paragraph")]
    Entry {
        package: String,
        #[source]
        source: StatusError,
    },
}

/// Relation fields in the order dpkg writes them.
const RELATION_FIELDS: [&str; 9] =
    ["Replaces", "Provides", "Depends", "Pre-Depends", "Recommends", "Suggests", "Breaks", "Conflicts", "Enhances"];

/// Fields dpkg reads but never writes back (it folds them into others).
const OBSOLETE_FIELDS: [&str; 6] =
    ["Recommended", "Optional", "Class", "Revision", "Package-Revision", "Package_Revision"];

/// dpkg's known priority names, which it writes in lowercase.
const PRIORITIES: [&str; 5] = ["required", "important", "standard", "optional", "extra"];

/// A package's status paragraph and `info/` files, ready to apply with
/// [`Admindir::record`](super::Admindir::record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    pub entry: StatusEntry,
    pub info_files: Vec<InfoFile>,
    /// The instance this record replaces (another architecture on a
    /// cross-grade), whose paragraph and stale info files go.
    pub replaces: Option<StatusEntry>,
}

impl PackageRecord {
    /// What dpkg records after unpacking `info` (and, for the later
    /// states, after configuring it). `previous` is the same package
    /// instance as recorded before, if any ([`StatusDb::previous_instance`]):
    /// dpkg carries its `Config-Version`, its conffile hashes, its
    /// `Priority` and `Section` when the new package has none, and keeps
    /// conffiles the new version dropped as `obsolete`.
    ///
    /// `state` is `HalfInstalled`, `Unpacked`, `HalfConfigured` or
    /// `Installed`; from `HalfConfigured` on, conffiles record the md5 of
    /// the file as shipped, as `dpkg --configure` does before `postinst`.
    pub fn new(
        info: &ControlInfo,
        payload: &InstalledPayload,
        state: State,
        previous: Option<&StatusEntry>,
    ) -> Result<PackageRecord, RecordError> {
        let package = info.package.clone();
        if !matches!(state, State::HalfInstalled | State::Unpacked | State::HalfConfigured | State::Installed) {
            return Err(RecordError::State { package, state });
        }
        let replaces = previous.filter(|p| p.package() == info.package).cloned();
        // A `not-installed` paragraph is a bare selection: nothing to carry.
        let previous = replaces.as_ref().filter(|p| p.status().state != State::NotInstalled);
        let (conffiles, obsolete) = conffiles(info, payload, state, previous);

        let mut fields = Vec::new();
        let mut push = |name: &str, value: &str| {
            if !value.is_empty() {
                fields.push(Field { name: name.to_owned(), value: value.to_owned() });
            }
        };
        let control = |name: &str| info.field(name).unwrap_or_default();
        let inherited = |name: &str| match control(name) {
            "" => previous.and_then(|p| p.field(name)).unwrap_or_default(),
            value => value,
        };
        push("Package", &info.package);
        if info.essential {
            push("Essential", "yes");
        }
        if control("Protected").eq_ignore_ascii_case("yes") {
            push("Protected", "yes");
        }
        push("Status", &Status::install(state).to_string());
        let priority = inherited("Priority");
        match PRIORITIES.iter().find(|p| p.eq_ignore_ascii_case(priority)) {
            Some(known) => push("Priority", known),
            None => push("Priority", priority),
        }
        push("Section", inherited("Section"));
        for name in ["Installed-Size", "Origin", "Maintainer", "Bugs"] {
            push(name, control(name));
        }
        push("Architecture", &info.architecture);
        if let Some(multi_arch) = info.multi_arch.as_deref().filter(|m| *m != "no") {
            push("Multi-Arch", multi_arch);
        }
        push("Source", control("Source"));
        push("Version", &normalize_version(&info.version));
        // Written in every state recorded here but `installed`, where it is `Version`.
        if state != State::Installed {
            push(
                "Config-Version",
                &previous.and_then(StatusEntry::config_version).map(normalize_version).unwrap_or_default(),
            );
        }
        for name in RELATION_FIELDS {
            let text = control(name);
            if text.trim().is_empty() {
                continue;
            }
            let value = normalize_relations(text).map_err(|source| RecordError::Relation {
                package: package.clone(),
                field: name,
                source,
            })?;
            push(name, &value);
        }
        push("Description", control("Description"));
        for field in info.fields.fields() {
            let known = known_field(&field.name).is_some()
                || OBSOLETE_FIELDS.iter().any(|o| o.eq_ignore_ascii_case(&field.name));
            if !known {
                fields.push(field.clone());
            }
        }

        let mut entry = StatusEntry::from_fields(fields).map_err(|source| RecordError::Entry { package, source })?;
        entry.set_conffiles(conffiles);
        Ok(PackageRecord { entry, info_files: info_files(info, payload, &obsolete), replaces })
    }
}

/// The `Conffiles` dpkg records, and the paths of conffiles the package
/// dropped (kept as `obsolete`, and listed).
fn conffiles(
    info: &ControlInfo,
    payload: &InstalledPayload,
    state: State,
    previous: Option<&StatusEntry>,
) -> (Vec<ConffileRecord>, Vec<String>) {
    let old = previous.map(StatusEntry::conffiles).unwrap_or_default();
    let mut records: Vec<ConffileRecord> = info
        .conffiles
        .iter()
        .map(|conffile| {
            let path = conffile.path.to_absolute();
            // dpkg carries the hash of the version last configured, not
            // the `obsolete` mark.
            let hash = old.iter().find(|o| o.path == path).map_or(NEW_CONFFILE_HASH, |o| o.hash.as_str());
            ConffileRecord {
                path,
                hash: hash.to_owned(),
                obsolete: false,
                remove_on_upgrade: conffile.remove_on_upgrade,
            }
        })
        .collect();
    if state >= State::HalfConfigured {
        for record in records.iter_mut().filter(|r| !r.remove_on_upgrade) {
            if let Some(md5) = payload.md5_of_absolute(&record.path) {
                md5.clone_into(&mut record.hash);
            }
        }
    }
    let mut obsolete = Vec::new();
    for gone in old.iter().filter(|o| !o.remove_on_upgrade) {
        let shipped = records.iter().any(|r| r.path == gone.path) || payload.contains_absolute(&gone.path);
        if !shipped {
            records.push(ConffileRecord { obsolete: true, ..gone.clone() });
            obsolete.push(gone.path.clone());
        }
    }
    (records, obsolete)
}

impl StatusDb {
    /// The recorded instance that unpacking a package built for `info`
    /// replaces, chosen as dpkg's `pkg_parse_get_pkg` does: when exactly
    /// one instance is installed it is replaced (a cross-grade), unless
    /// both it and the new package are `Multi-Arch: same`; otherwise the
    /// instance of the same architecture, if any.
    pub fn previous_instance(&self, info: &ControlInfo) -> Option<&StatusEntry> {
        let instances = || self.entries().iter().filter(|e| e.package() == info.package);
        let same_arch = || instances().find(|e| e.architecture() == Some(info.architecture.as_str()));
        let installed: Vec<&StatusEntry> = instances().filter(|e| e.status().state != State::NotInstalled).collect();
        match installed.as_slice() {
            [only] if only.is_multi_arch_same() && info.multi_arch.as_deref() == Some("same") => same_arch(),
            [only] => Some(only),
            _ => same_arch(),
        }
    }
}
