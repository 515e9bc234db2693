//! dpkg's `status` file: one deb822 paragraph per package instance.
//!
//! Values are kept as dpkg's own parser keeps them (lib/dpkg/parse.c): the
//! space after the colon and the whitespace at the end of the whole value
//! are dropped, everything else (continuation lines with their trailing
//! spaces) is kept. Writing follows lib/dpkg/dump.c: fields in dpkg's
//! table order, then the other fields in their own order; `Conffiles:`
//! with its value on the following lines; paragraphs sorted by name, then
//! by architecture where the name alone is ambiguous. So a `status` that
//! dpkg wrote is written back byte for byte.

use std::cmp::Ordering;
use std::fmt;

use super::record::InstalledPayload;
use crate::control::Field;

/// The hash dpkg records for a conffile that was unpacked but not yet
/// configured (and never was before).
pub const NEW_CONFFILE_HASH: &str = "newconffile";

/// The fields dpkg knows, in the order it writes them (`fieldinfos` in
/// lib/dpkg/parse.c, dpkg 1.21).
const KNOWN_FIELDS: [&str; 31] = [
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Filename",
    "Size",
    "MD5sum",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Fields of `available` only: dpkg never writes them to `status`.
const ARCHIVE_FIELDS: [&str; 3] = ["Filename", "Size", "MD5sum"];

/// dpkg's canonical spelling and table position of a known field.
pub(crate) fn known_field(name: &str) -> Option<(usize, &'static str)> {
    KNOWN_FIELDS.iter().enumerate().find(|(_, known)| known.eq_ignore_ascii_case(name)).map(|(i, k)| (i, *k))
}

/// What the administrator asked for the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Want {
    Unknown,
    Install,
    Hold,
    Deinstall,
    Purge,
}

/// Whether the package needs reinstalling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    Ok,
    ReinstReq,
}

/// How far the package got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    NotInstalled,
    ConfigFiles,
    HalfInstalled,
    Unpacked,
    HalfConfigured,
    TriggersAwaited,
    TriggersPending,
    Installed,
}

macro_rules! names {
    ($type:ty, $($variant:ident => $name:literal),+ $(,)?) => {
        impl $type {
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            /// dpkg compares these names without regard to ASCII case.
            pub fn from_name(name: &str) -> Option<Self> {
                $(if name.eq_ignore_ascii_case($name) { return Some(Self::$variant); })+
                None
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(Want, Unknown => "unknown", Install => "install", Hold => "hold", Deinstall => "deinstall", Purge => "purge");
names!(Flag, Ok => "ok", ReinstReq => "reinstreq");
names!(
    State,
    NotInstalled => "not-installed",
    ConfigFiles => "config-files",
    HalfInstalled => "half-installed",
    Unpacked => "unpacked",
    HalfConfigured => "half-configured",
    TriggersAwaited => "triggers-awaited",
    TriggersPending => "triggers-pending",
    Installed => "installed",
);

impl State {
    /// States in which dpkg writes no `Config-Version`: the configured
    /// version is then the package's own `Version`, or there is none.
    fn implies_config_version(self) -> bool {
        matches!(self, State::Installed | State::NotInstalled | State::TriggersPending)
    }
}

/// The `Status:` field: `install ok installed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    pub want: Want,
    pub flag: Flag,
    pub state: State,
}

impl Status {
    /// `install ok STATE`, what dpkg writes for a package it unpacks or configures.
    pub const fn install(state: State) -> Status {
        Status { want: Want::Install, flag: Flag::Ok, state }
    }

    /// Parses `want flag state`, separated by whitespace.
    pub fn parse(text: &str) -> Option<Status> {
        let mut words = text.split_ascii_whitespace();
        let status = Status {
            want: Want::from_name(words.next()?)?,
            flag: Flag::from_name(words.next()?)?,
            state: State::from_name(words.next()?)?,
        };
        words.next().is_none().then_some(status)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.want, self.flag, self.state)
    }
}

/// One line of a `Conffiles:` field: ` /etc/foo.conf HASH [obsolete] [remove-on-upgrade]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConffileRecord {
    /// Absolute: `/etc/foo.conf`.
    pub path: String,
    /// The md5 of the conffile as last distributed, or [`NEW_CONFFILE_HASH`].
    pub hash: String,
    /// The package no longer ships it; the file stays until purge.
    pub obsolete: bool,
    /// deb-conffiles(5) `remove-on-upgrade`.
    pub remove_on_upgrade: bool,
}

impl ConffileRecord {
    /// Parses one line (without its leading space), the way dpkg's
    /// `f_conffiles` does: the flags and the hash are the last words, so
    /// the path may hold spaces.
    fn parse(line: &str) -> Option<ConffileRecord> {
        let (mut rest, mut word) = line.trim_end().rsplit_once(' ')?;
        let remove_on_upgrade = word == "remove-on-upgrade";
        if remove_on_upgrade {
            (rest, word) = rest.trim_end().rsplit_once(' ')?;
        }
        let obsolete = word == "obsolete";
        if obsolete {
            (rest, word) = rest.trim_end().rsplit_once(' ')?;
        }
        let name = skip_slash_dotslash(rest.trim_end());
        if name.is_empty() || word.is_empty() {
            return None;
        }
        Some(ConffileRecord { path: format!("/{name}"), hash: word.to_owned(), obsolete, remove_on_upgrade })
    }

    fn write(&self, out: &mut String) {
        out.push(' ');
        out.push_str(&self.path);
        out.push(' ');
        out.push_str(&self.hash);
        if self.obsolete {
            out.push_str(" obsolete");
        }
        if self.remove_on_upgrade {
            out.push_str(" remove-on-upgrade");
        }
    }
}

/// dpkg's `path_skip_slash_dotslash`.
fn skip_slash_dotslash(mut path: &str) -> &str {
    loop {
        if let Some(rest) = path.strip_prefix('/').or_else(|| path.strip_prefix("./")) {
            path = rest;
        } else {
            return path;
        }
    }
}

fn conffiles_value(conffiles: &[ConffileRecord]) -> String {
    let mut value = String::new();
    for conffile in conffiles {
        value.push('\n');
        conffile.write(&mut value);
    }
    value
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("the status database is not UTF-8")]
    NotUtf8,
    #[error("line {line}: a continuation line comes before any field")]
    ContinuationFirst { line: usize },
    #[error("line {line}: `{text}` is not a `Name: value` field")]
    MissingColon { line: usize, text: String },
    #[error("line {line}: field `{name}` appears twice in one paragraph")]
    DuplicateField { line: usize, name: String },
    #[error("line {line}: the paragraph has no `{field}` field")]
    MissingField { line: usize, field: &'static str },
    #[error("line {line}: `Status: {value}` is not `WANT FLAG STATE`")]
    BadStatus { line: usize, value: String },
    #[error("line {line}: package `{package}` has a bad `Conffiles` line `{text}`")]
    BadConffile { line: usize, package: String, text: String },
    #[error("package `{package}` is not in the dpkg database")]
    NotFound { package: String },
    #[error("package `{package}` is installed for several architectures\nhint: name one, as `{package}:ARCH`")]
    Ambiguous { package: String },
}

/// One paragraph of `status`: a package instance as dpkg records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// In dpkg's order: known fields by table position, then the others.
    fields: Vec<Field>,
    package: String,
    status: Status,
    conffiles: Vec<ConffileRecord>,
}

impl StatusEntry {
    /// Builds an entry from its fields, in any order. `Package` and
    /// `Status` are required; known field names take dpkg's spelling.
    pub fn from_fields(fields: Vec<Field>) -> Result<StatusEntry, StatusError> {
        StatusEntry::from_fields_at(fields, 0)
    }

    fn from_fields_at(fields: Vec<Field>, line: usize) -> Result<StatusEntry, StatusError> {
        let mut ranked: Vec<(usize, Field)> = Vec::with_capacity(fields.len());
        for (position, mut field) in fields.into_iter().enumerate() {
            if ranked.iter().any(|(_, f)| f.name.eq_ignore_ascii_case(&field.name)) {
                return Err(StatusError::DuplicateField { line, name: field.name });
            }
            if ARCHIVE_FIELDS.iter().any(|a| a.eq_ignore_ascii_case(&field.name)) {
                continue;
            }
            let rank = match known_field(&field.name) {
                Some((rank, canonical)) => {
                    canonical.clone_into(&mut field.name);
                    rank
                }
                None => KNOWN_FIELDS.len() + position,
            };
            ranked.push((rank, field));
        }
        ranked.sort_by_key(|(rank, _)| *rank);
        let fields: Vec<Field> = ranked.into_iter().map(|(_, f)| f).collect();
        let value = |name: &'static str| fields.iter().find(|f| f.name == name).map(|f| f.value.as_str());
        let package = value("Package").ok_or(StatusError::MissingField { line, field: "Package" })?.to_owned();
        let status_text = value("Status").ok_or(StatusError::MissingField { line, field: "Status" })?;
        let status =
            Status::parse(status_text).ok_or_else(|| StatusError::BadStatus { line, value: status_text.to_owned() })?;
        let mut conffiles = Vec::new();
        for text in value("Conffiles").unwrap_or_default().split('\n').filter(|l| !l.is_empty()) {
            let record = text
                .strip_prefix(' ')
                .and_then(ConffileRecord::parse)
                .ok_or_else(|| StatusError::BadConffile { line, package: package.clone(), text: text.to_owned() })?;
            conffiles.push(record);
        }
        Ok(StatusEntry { fields, package, status, conffiles })
    }

    pub fn package(&self) -> &str {
        &self.package
    }

    /// The value of a field, by name in any case.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| f.value.as_str())
    }

    /// Every field, in the order dpkg writes them.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn version(&self) -> Option<&str> {
        self.field("Version")
    }

    pub fn architecture(&self) -> Option<&str> {
        self.field("Architecture").filter(|a| !a.is_empty())
    }

    /// `same`, `foreign` or `allowed`; `None` for `no` or absent.
    pub fn multi_arch(&self) -> Option<&str> {
        self.field("Multi-Arch").filter(|m| !m.eq_ignore_ascii_case("no"))
    }

    pub fn is_multi_arch_same(&self) -> bool {
        self.multi_arch().is_some_and(|m| m.eq_ignore_ascii_case("same"))
    }

    /// The version last configured: `Config-Version`, or `Version` when
    /// the package is installed (dpkg leaves the field out then).
    pub fn config_version(&self) -> Option<&str> {
        match self.field("Config-Version") {
            Some(v) => Some(v),
            None if matches!(self.status.state, State::Installed | State::TriggersPending) => self.version(),
            None => None,
        }
    }

    pub fn conffiles(&self) -> &[ConffileRecord] {
        &self.conffiles
    }

    /// `name:arch`, for messages and for dpkg's `--show` of an instance.
    pub fn name_arch(&self) -> String {
        match self.architecture() {
            Some(arch) => format!("{}:{arch}", self.package),
            None => self.package.clone(),
        }
    }

    /// The stem of this package's files under `info/`: `libc6:amd64` for
    /// `Multi-Arch: same`, else the name alone.
    pub fn info_name(&self) -> String {
        match self.architecture() {
            Some(arch) if self.is_multi_arch_same() => format!("{}:{arch}", self.package),
            _ => self.package.clone(),
        }
    }

    /// Sets a field, at its place in dpkg's order. Not for `Package`,
    /// `Status` or `Conffiles`, which have their own setters.
    pub(crate) fn set_field(&mut self, name: &str, value: &str) {
        let (name, rank) = match known_field(name) {
            Some((rank, canonical)) => (canonical.to_owned(), rank),
            None => (name.to_owned(), usize::MAX),
        };
        if let Some(existing) = self.fields.iter_mut().find(|f| f.name.eq_ignore_ascii_case(&name)) {
            value.clone_into(&mut existing.value);
            return;
        }
        let at = if rank == usize::MAX {
            self.fields.len()
        } else {
            self.fields
                .iter()
                .position(|f| known_field(&f.name).is_none_or(|(r, _)| r > rank))
                .unwrap_or(self.fields.len())
        };
        self.fields.insert(at, Field { name, value: value.to_owned() });
    }

    pub(crate) fn remove_field(&mut self, name: &str) {
        self.fields.retain(|f| !f.name.eq_ignore_ascii_case(name));
    }

    /// Moves the package to `status`, keeping `Config-Version` as dpkg
    /// does: dropped in the states where it equals `Version`, and written
    /// (as the version last configured) in the others.
    pub fn set_status(&mut self, status: Status) {
        let configured = self.config_version().map(str::to_owned);
        self.status = status;
        self.set_field("Status", &status.to_string());
        match configured {
            Some(version) if !status.state.implies_config_version() => self.set_field("Config-Version", &version),
            _ => self.remove_field("Config-Version"),
        }
    }

    pub fn set_conffiles(&mut self, conffiles: Vec<ConffileRecord>) {
        if conffiles.is_empty() {
            self.remove_field("Conffiles");
        } else {
            self.set_field("Conffiles", &conffiles_value(&conffiles));
        }
        self.conffiles = conffiles;
    }

    /// What dpkg's `--configure` does to the conffile hashes before it
    /// runs `postinst`: each conffile the package still ships records the
    /// md5 of the distributed file. `digest` maps `/etc/x` to that md5.
    pub fn record_conffile_hashes<'a>(&mut self, digest: impl Fn(&str) -> Option<&'a str>) {
        let mut conffiles = self.conffiles.clone();
        for conffile in conffiles.iter_mut().filter(|c| !c.obsolete && !c.remove_on_upgrade) {
            if let Some(hash) = digest(&conffile.path) {
                hash.clone_into(&mut conffile.hash);
            }
        }
        self.set_conffiles(conffiles);
    }

    /// dpkg's `pkg_is_informative`: a paragraph that says nothing is not written.
    fn is_informative(&self) -> bool {
        if self.status != (Status { want: Want::Unknown, flag: Flag::Ok, state: State::NotInstalled }) {
            return true;
        }
        const SILENT: [&str; 8] =
            ["Package", "Status", "Essential", "Protected", "Priority", "Section", "Architecture", "Multi-Arch"];
        self.fields.iter().any(|f| !SILENT.contains(&f.name.as_str()))
    }

    /// The paragraph as dpkg writes it, without the blank line after it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        for field in &self.fields {
            out.push_str(&field.name);
            // dpkg's `w_conffiles` puts the list on the following lines;
            // every other field gets `: ` even when its value starts with
            // a newline.
            if field.name == "Conffiles" && field.value.starts_with('\n') {
                out.push(':');
            } else {
                out.push_str(": ");
            }
            out.push_str(&field.value);
            out.push('\n');
        }
    }

    /// The same package instance: dpkg keeps one slot per name and architecture.
    fn same_instance(&self, other: &StatusEntry) -> bool {
        self.package == other.package && self.architecture() == other.architecture()
    }
}

impl fmt::Display for StatusEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// The whole `status` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDb {
    /// Always in dpkg's order (see [`StatusDb::to_bytes`]).
    entries: Vec<StatusEntry>,
    native_architecture: String,
}

impl StatusDb {
    /// An empty database for a system whose dpkg is built for `native_architecture`.
    pub fn new(native_architecture: &str) -> StatusDb {
        StatusDb { entries: Vec::new(), native_architecture: native_architecture.to_owned() }
    }

    /// Parses a `status` file. The native architecture is that of the
    /// installed `dpkg` package, else the host's.
    pub fn parse(text: &[u8]) -> Result<StatusDb, StatusError> {
        let entries = parse_entries(text)?;
        let native = entries
            .iter()
            .find(|e| e.package == "dpkg")
            .and_then(|e| e.architecture())
            .map(str::to_owned)
            .unwrap_or_else(|| host_architecture().to_owned());
        let mut db = StatusDb { entries, native_architecture: native };
        db.sort();
        Ok(db)
    }

    pub fn native_architecture(&self) -> &str {
        &self.native_architecture
    }

    /// Which architecture is native decides the sort order (dpkg's is built in).
    pub fn set_native_architecture(&mut self, arch: &str) {
        arch.clone_into(&mut self.native_architecture);
        self.sort();
    }

    /// Every paragraph, in the order dpkg writes them.
    pub fn entries(&self) -> &[StatusEntry] {
        &self.entries
    }

    /// Every instance of a package name.
    pub fn instances<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a StatusEntry> + 'a {
        self.entries.iter().filter(move |e| e.package == name)
    }

    /// A package by `name`, or by `name:arch` for one instance of a
    /// `Multi-Arch: same` package. `name` alone picks the native or
    /// `all` instance, or the only one.
    pub fn get(&self, spec: &str) -> Option<&StatusEntry> {
        self.find(spec).ok().map(|i| &self.entries[i])
    }

    fn find(&self, spec: &str) -> Result<usize, StatusError> {
        let not_found = || StatusError::NotFound { package: spec.to_owned() };
        if let Some((name, arch)) = spec.split_once(':') {
            return self
                .entries
                .iter()
                .position(|e| e.package == name && e.architecture() == Some(arch))
                .ok_or_else(not_found);
        }
        let found: Vec<usize> = (0..self.entries.len()).filter(|&i| self.entries[i].package == spec).collect();
        match found.as_slice() {
            [] => Err(not_found()),
            [only] => Ok(*only),
            several => several
                .iter()
                .copied()
                .find(|&i| {
                    let arch = self.entries[i].architecture();
                    arch == Some(self.native_architecture.as_str()) || arch == Some("all")
                })
                .ok_or_else(|| StatusError::Ambiguous { package: spec.to_owned() }),
        }
    }

    /// Adds a paragraph, replacing the one with the same name and
    /// architecture; returns the one replaced.
    pub fn insert(&mut self, entry: StatusEntry) -> Option<StatusEntry> {
        let old = self.entries.iter().position(|e| e.same_instance(&entry)).map(|i| self.entries.remove(i));
        self.entries.push(entry);
        self.sort();
        old
    }

    /// Forgets a package instance entirely (as after a purge).
    pub fn remove(&mut self, spec: &str) -> Result<StatusEntry, StatusError> {
        let index = self.find(spec)?;
        Ok(self.entries.remove(index))
    }

    pub fn entry_mut(&mut self, spec: &str) -> Result<&mut StatusEntry, StatusError> {
        let index = self.find(spec)?;
        Ok(&mut self.entries[index])
    }

    /// Moves a package to `state` (want `install`, flag `ok`), with
    /// `Config-Version` kept as dpkg keeps it.
    pub fn set_state(&mut self, spec: &str, state: State) -> Result<(), StatusError> {
        let entry = self.entry_mut(spec)?;
        entry.set_status(Status::install(state));
        Ok(())
    }

    /// What `dpkg --configure` records once `postinst configure`
    /// succeeded: the conffiles' distributed hashes (taken from the
    /// payload), then `install ok installed`.
    pub fn configure(&mut self, spec: &str, payload: &InstalledPayload) -> Result<(), StatusError> {
        let entry = self.entry_mut(spec)?;
        entry.record_conffile_hashes(|path| payload.md5_of_absolute(path));
        entry.set_status(Status::install(State::Installed));
        Ok(())
    }

    /// The `status` file as dpkg writes it: every informative paragraph
    /// followed by a blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for entry in self.entries.iter().filter(|e| e.is_informative()) {
            entry.write(&mut out);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// dpkg's `pkg_sorter_by_nonambig_name_arch`: by name (bytes), then
    /// the instance shown without `:arch` first, then by architecture.
    fn sort(&mut self) {
        let native = self.native_architecture.clone();
        let needs_arch = |e: &StatusEntry| match e.architecture() {
            None => false,
            Some(_) if e.is_multi_arch_same() => true,
            Some(arch) => arch != native && arch != "all",
        };
        self.entries.sort_by(|a, b| {
            a.package.as_bytes().cmp(b.package.as_bytes()).then_with(|| {
                if a.architecture() == b.architecture() {
                    return Ordering::Equal;
                }
                match (needs_arch(a), needs_arch(b)) {
                    (false, true) => Ordering::Less,
                    (true, false) => Ordering::Greater,
                    _ => a.architecture().cmp(&b.architecture()),
                }
            })
        });
    }
}

/// The Debian name of the architecture this program runs on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "i386",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64el",
        "powerpc64" => "ppc64",
        "mips64" if cfg!(target_endian = "little") => "mips64el",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Splits deb822 text into paragraphs the way dpkg's `parse_stanza` does.
pub(crate) fn parse_entries(text: &[u8]) -> Result<Vec<StatusEntry>, StatusError> {
    let text = std::str::from_utf8(text).map_err(|_| StatusError::NotUtf8)?;
    let mut entries = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut start = 0;
    let finish = |fields: &mut Vec<Field>, start: usize, entries: &mut Vec<StatusEntry>| {
        if fields.is_empty() {
            return Ok(());
        }
        for field in fields.iter_mut() {
            let kept = field.value.trim_end_matches(|c: char| c.is_ascii_whitespace()).len();
            field.value.truncate(kept);
        }
        entries.push(StatusEntry::from_fields_at(std::mem::take(fields), start)?);
        Ok::<(), StatusError>(())
    };
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        if line.is_empty() && lines.peek().is_none() {
            break;
        }
        if line.is_empty() || (fields.is_empty() && line.chars().all(|c| c.is_ascii_whitespace())) {
            finish(&mut fields, start, &mut entries)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().ok_or(StatusError::ContinuationFirst { line: number })?;
            last.value.push('\n');
            last.value.push_str(line);
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| StatusError::MissingColon { line: number, text: line.escape_debug().to_string() })?;
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(StatusError::MissingColon { line: number, text: line.escape_debug().to_string() });
        }
        if fields.is_empty() {
            start = number;
        }
        if fields.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            return Err(StatusError::DuplicateField { line: number, name: name.to_owned() });
        }
        let value = value.trim_start_matches(|c: char| c.is_ascii_whitespace() && c != '\n');
        fields.push(Field { name: name.to_owned(), value: value.to_owned() });
    }
    finish(&mut fields, start, &mut entries)?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: zed\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\
        Description: short\n long line with trailing space \n .\n more\n\n\
        Package: libc6\nStatus: install ok installed\nPriority: optional\nArchitecture: i386\nMulti-Arch: same\n\
        Version: 2.36-9\nConffiles:\n /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab\n\n\
        Package: libc6\nStatus: install ok unpacked\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9\n\
        Config-Version: 2.36-8\nConffiles:\n /etc/a b.conf newconffile obsolete remove-on-upgrade\n /etc/c 0123\n\
        X-Custom: \n continued\n\n\
        Package: dpkg\nStatus: hold reinstreq half-configured\nArchitecture: amd64\nVersion: 1.21.22\n\
        Config-Version: 1.21.21\n\n";

    #[test]
    fn parses_what_dpkg_writes() {
        let db = StatusDb::parse(TEXT.as_bytes()).expect("parses");
        assert_eq!(db.native_architecture(), "amd64");
        let names: Vec<String> = db.entries().iter().map(StatusEntry::name_arch).collect();
        assert_eq!(names, ["dpkg:amd64", "libc6:amd64", "libc6:i386", "zed:all"]);
        let dpkg = db.get("dpkg").expect("dpkg");
        assert_eq!(dpkg.status(), Status { want: Want::Hold, flag: Flag::ReinstReq, state: State::HalfConfigured });
        assert_eq!(dpkg.config_version(), Some("1.21.21"));
        assert_eq!(db.get("zed").and_then(StatusEntry::config_version), Some("1"));
        assert_eq!(
            db.get("zed").and_then(|e| e.field("description")),
            Some("short\n long line with trailing space \n .\n more")
        );
        let libc = db.get("libc6:amd64").expect("instance");
        assert_eq!(db.get("libc6"), Some(libc), "the native instance");
        assert_eq!(libc.info_name(), "libc6:amd64");
        assert_eq!(
            libc.conffiles(),
            [
                ConffileRecord {
                    path: "/etc/a b.conf".into(),
                    hash: "newconffile".into(),
                    obsolete: true,
                    remove_on_upgrade: true
                },
                ConffileRecord {
                    path: "/etc/c".into(),
                    hash: "0123".into(),
                    obsolete: false,
                    remove_on_upgrade: false
                },
            ]
        );
        assert_eq!(libc.field("X-Custom"), Some("\n continued"));
        assert_eq!(db.get("libc6:arm64"), None);
    }

    #[test]
    fn writes_back_in_dpkg_order() {
        let db = StatusDb::parse(TEXT.as_bytes()).expect("parses");
        let written = String::from_utf8(db.to_bytes()).expect("utf8");
        assert!(written.starts_with("Package: dpkg\nStatus: hold reinstreq half-configured\n"), "{written}");
        assert!(written.contains("Conffiles:\n /etc/a b.conf newconffile obsolete remove-on-upgrade\n /etc/c 0123\n"));
        assert!(written.contains("X-Custom: \n continued\n"));
        assert!(written.ends_with("more\n\n"));
        // Written again, nothing changes.
        assert_eq!(StatusDb::parse(written.as_bytes()).expect("parses").to_bytes(), written.as_bytes());
    }

    #[test]
    fn fields_take_dpkg_order_and_spelling() {
        let text = "Homepage: h\nversion: 1\nstatus: install ok installed\npackage: a\nFilename: pool/a.deb\nZ: z\n\n";
        let db = StatusDb::parse(text.as_bytes()).expect("parses");
        assert_eq!(
            String::from_utf8(db.to_bytes()).expect("utf8"),
            "Package: a\nStatus: install ok installed\nVersion: 1\nHomepage: h\nZ: z\n\n"
        );
    }

    #[test]
    fn config_version_follows_state() {
        let mut db = StatusDb::parse(TEXT.as_bytes()).expect("parses");
        db.set_state("zed", State::HalfConfigured).expect("zed");
        assert_eq!(db.get("zed").and_then(|e| e.field("Config-Version")), Some("1"));
        let text = db.get("zed").expect("zed").to_text();
        assert!(text.contains("Version: 1\nConfig-Version: 1\nDescription:"), "{text}");
        db.set_state("zed", State::Installed).expect("zed");
        assert_eq!(db.get("zed").and_then(|e| e.field("Config-Version")), None);
        db.set_state("dpkg", State::Unpacked).expect("dpkg");
        assert_eq!(db.get("dpkg").and_then(|e| e.field("Config-Version")), Some("1.21.21"));
        assert_eq!(db.get("dpkg").map(|e| e.status().to_string()).as_deref(), Some("install ok unpacked"));
        assert_eq!(db.set_state("nope", State::Installed), Err(StatusError::NotFound { package: "nope".into() }));
    }

    #[test]
    fn insert_replaces_the_same_instance_and_remove_forgets() {
        let mut db = StatusDb::parse(TEXT.as_bytes()).expect("parses");
        let entry = |text: &str| parse_entries(text.as_bytes()).expect("parses").remove(0);
        let old = db.insert(entry("Package: zed\nStatus: install ok unpacked\nArchitecture: all\nVersion: 2\n"));
        assert_eq!(old.and_then(|e| e.version().map(str::to_owned)).as_deref(), Some("1"));
        let old = db.insert(entry(
            "Package: libc6\nStatus: install ok unpacked\nArchitecture: arm64\nMulti-Arch: same\nVersion: 2\n",
        ));
        assert_eq!(old, None);
        let names: Vec<String> = db.entries().iter().map(StatusEntry::name_arch).collect();
        assert_eq!(names, ["dpkg:amd64", "libc6:amd64", "libc6:arm64", "libc6:i386", "zed:all"]);
        assert_eq!(db.remove("libc6").map(|e| e.name_arch()), Ok("libc6:amd64".into()));
        assert_eq!(db.remove("libc6"), Err(StatusError::Ambiguous { package: "libc6".into() }));
        db.remove("libc6:arm64").expect("present");
        db.remove("zed").expect("present");
        assert_eq!(db.entries().len(), 2);
    }

    #[test]
    fn malformed_status_is_refused() {
        let cases: &[(&str, StatusError)] = &[
            (" x\n", StatusError::ContinuationFirst { line: 1 }),
            ("Package: a\nnot a field\n", StatusError::MissingColon { line: 2, text: "not a field".into() }),
            (
                "Package: a\nStatus: install ok installed\npackage: b\n",
                StatusError::DuplicateField { line: 3, name: "package".into() },
            ),
            ("Version: 1\nStatus: install ok installed\n", StatusError::MissingField { line: 1, field: "Package" }),
            ("Package: a\nStatus: install ok\n", StatusError::BadStatus { line: 1, value: "install ok".into() }),
            (
                "Package: a\nStatus: install ok installed\nConffiles:\n /etc/a\n",
                StatusError::BadConffile { line: 1, package: "a".into(), text: " /etc/a".into() },
            ),
        ];
        for (text, error) in cases {
            assert_eq!(StatusDb::parse(text.as_bytes()).as_ref(), Err(error), "{text}");
        }
        assert_eq!(StatusDb::parse(b"Package: \xff\n"), Err(StatusError::NotUtf8));
    }

    #[test]
    fn silent_paragraphs_are_dropped() {
        let db =
            StatusDb::parse(b"Package: a\nStatus: unknown ok not-installed\nPriority: optional\n\n").expect("parses");
        assert_eq!(db.entries().len(), 1);
        assert!(db.to_bytes().is_empty());
    }
}
