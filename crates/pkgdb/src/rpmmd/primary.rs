//! `primary.xml`: every package of a repository, read as a stream into a
//! compact form. All strings live in one arena; each package is a
//! fixed-size record of spans into it, and its relations (provides,
//! requires, ...) and the files primary lists are fixed-size records in
//! two shared vectors. Descriptions, URLs and the like are skipped.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};

use super::RpmmdError;
use super::evr::Evr;
use super::repomd::require_relative_location;
use super::xml::{XmlReader, append_text, attribute, attributes};
use crate::apt::parse_sha256;
use crate::fetch::WantedFile;
use crate::http::encode_path;
use crate::rpm::{RichDep, RichDepError, VersionOp};

/// The kinds of relation a package declares, in the order records keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepKind {
    Provides,
    Requires,
    Conflicts,
    Obsoletes,
    Recommends,
    Suggests,
    Supplements,
    Enhances,
}

impl DepKind {
    pub const ALL: [DepKind; 8] = [
        DepKind::Provides,
        DepKind::Requires,
        DepKind::Conflicts,
        DepKind::Obsoletes,
        DepKind::Recommends,
        DepKind::Suggests,
        DepKind::Supplements,
        DepKind::Enhances,
    ];

    /// The element name in primary (after `rpm:`).
    pub fn as_str(self) -> &'static str {
        match self {
            DepKind::Provides => "provides",
            DepKind::Requires => "requires",
            DepKind::Conflicts => "conflicts",
            DepKind::Obsoletes => "obsoletes",
            DepKind::Recommends => "recommends",
            DepKind::Suggests => "suggests",
            DepKind::Supplements => "supplements",
            DepKind::Enhances => "enhances",
        }
    }

    fn from_element(name: &[u8]) -> Option<DepKind> {
        DepKind::ALL.into_iter().find(|kind| kind.as_str().as_bytes() == name)
    }
}

/// What a file entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

impl FileKind {
    /// The `type` attribute of a `<file>`: absent, `dir` or `ghost`.
    pub(crate) fn parse(value: Option<&str>) -> Result<FileKind, String> {
        match value {
            None | Some("file") => Ok(FileKind::File),
            Some("dir") => Ok(FileKind::Dir),
            Some("ghost") => Ok(FileKind::Ghost),
            Some(other) => Err(format!("a `<file>` has the unknown type `{other}`")),
        }
    }
}

/// One file of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackageFile<'a> {
    pub path: &'a str,
    pub kind: FileKind,
}

/// One relation, such as `Requires: foo >= 1:2.0-3` or `Provides: bar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dep<'a> {
    /// The name, or for a rich dependency the whole `(a or b)` expression.
    pub name: &'a str,
    pub op: Option<VersionOp>,
    /// Present only with `op`.
    pub epoch: Option<u32>,
    pub version: Option<&'a str>,
    pub release: Option<&'a str>,
    /// `Requires(pre)` and the like: needed before the package's scripts run.
    pub pre: bool,
}

impl<'a> Dep<'a> {
    /// The version the relation compares with, if it compares.
    pub fn evr(&self) -> Option<Evr<'a>> {
        self.op?;
        Some(Evr::new(self.epoch.unwrap_or(0), self.version?, self.release))
    }

    /// Whether the name is a rich (boolean) dependency.
    pub fn is_rich(&self) -> bool {
        RichDep::is_rich(self.name)
    }

    /// The parsed rich dependency, for one.
    pub fn rich(&self) -> Option<Result<RichDep, RichDepError>> {
        self.is_rich().then(|| RichDep::parse(self.name))
    }
}

impl fmt::Display for Dep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if let (Some(op), Some(evr)) = (self.op, self.evr()) {
            write!(f, " {op} {evr}")?;
        }
        Ok(())
    }
}

/// All packages of one `primary.xml`.
#[derive(Debug, Clone, Default)]
pub struct Primary {
    arena: String,
    records: Vec<Record>,
    deps: Vec<DepRecord>,
    files: Vec<FileRecord>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Debug, Clone, Default)]
struct Record {
    name: Span,
    arch: Span,
    version: Span,
    release: Span,
    checksum_type: Span,
    checksum: Span,
    summary: Span,
    location: Span,
    location_base: Span,
    sourcerpm: Span,
    epoch: u32,
    size: u64,
    installed_size: u64,
    /// `deps[deps_start..deps_ends[0]]` are the provides,
    /// `deps[deps_ends[0]..deps_ends[1]]` the requires, in [`DepKind::ALL`] order.
    deps_start: u32,
    deps_ends: [u32; 8],
    files_start: u32,
    files_end: u32,
}

const NO_EPOCH: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct DepRecord {
    name: Span,
    version: Span,
    release: Span,
    epoch: u32,
    op: Option<VersionOp>,
    pre: bool,
}

#[derive(Debug, Clone, Copy)]
struct FileRecord {
    path: Span,
    kind: FileKind,
}

/// One package of a [`Primary`].
#[derive(Clone, Copy)]
pub struct PackageRef<'a> {
    pub name: &'a str,
    pub arch: &'a str,
    /// 0 when primary says none.
    pub epoch: u32,
    pub version: &'a str,
    pub release: &'a str,
    /// `sha256` on any current repository.
    pub checksum_type: &'a str,
    /// The package's checksum in hex; also its `pkgid` in filelists.
    pub checksum: &'a str,
    pub summary: &'a str,
    /// `<location href>`, relative to the repository's base URL (or to
    /// `location_base`).
    pub location: &'a str,
    /// `<location xml:base>`, another base URL for this package.
    pub location_base: Option<&'a str>,
    pub sourcerpm: Option<&'a str>,
    /// The size of the `.rpm`.
    pub size: u64,
    pub installed_size: u64,
    primary: &'a Primary,
    record: &'a Record,
}

impl fmt::Debug for PackageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackageRef")
            .field("nevra", &self.nevra())
            .field("checksum", &self.checksum)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl<'a> PackageRef<'a> {
    pub fn evr(&self) -> Evr<'a> {
        Evr::new(self.epoch, self.version, Some(self.release))
    }

    /// `name-[epoch:]version-release.arch`, the epoch only when not 0.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }

    /// The package's sha256, when that is its checksum type.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        if self.checksum_type.eq_ignore_ascii_case("sha256") { parse_sha256(self.checksum) } else { None }
    }

    /// The relations of one kind, in primary's order.
    pub fn deps(&self, kind: DepKind) -> impl ExactSizeIterator<Item = Dep<'a>> + 'a {
        let index = kind as usize;
        let start = if index == 0 { self.record.deps_start } else { self.record.deps_ends[index - 1] };
        let end = self.record.deps_ends[index];
        let primary = self.primary;
        primary.deps[start as usize..end as usize].iter().map(move |d| primary.dep(d))
    }

    pub fn provides(&self) -> impl ExactSizeIterator<Item = Dep<'a>> + 'a {
        self.deps(DepKind::Provides)
    }

    pub fn requires(&self) -> impl ExactSizeIterator<Item = Dep<'a>> + 'a {
        self.deps(DepKind::Requires)
    }

    pub fn conflicts(&self) -> impl ExactSizeIterator<Item = Dep<'a>> + 'a {
        self.deps(DepKind::Conflicts)
    }

    pub fn obsoletes(&self) -> impl ExactSizeIterator<Item = Dep<'a>> + 'a {
        self.deps(DepKind::Obsoletes)
    }

    pub fn recommends(&self) -> impl ExactSizeIterator<Item = Dep<'a>> + 'a {
        self.deps(DepKind::Recommends)
    }

    /// The files primary lists for this package: by createrepo_c's rule,
    /// those under `/etc/`, in a `bin/` directory and `/usr/lib/sendmail`
    /// (the ones file dependencies name). The full list is in filelists.
    pub fn files(&self) -> impl ExactSizeIterator<Item = PackageFile<'a>> + 'a {
        let primary = self.primary;
        primary.files[self.record.files_start as usize..self.record.files_end as usize]
            .iter()
            .map(move |f| PackageFile { path: primary.text(f.path), kind: f.kind })
    }

    /// The download of this package from the repository's `baseurls`
    /// (mirrors, tried in order), or from its own `xml:base`, verified by
    /// the sha256 and size primary declares.
    pub fn wanted_file(&self, baseurls: &[String]) -> Result<WantedFile, RpmmdError> {
        let name = self.nevra();
        let refuse =
            |reason| RpmmdError::PackageLocation { package: name.clone(), location: self.location.to_owned(), reason };
        let sha256 = self.sha256().ok_or_else(|| RpmmdError::PackageChecksum {
            package: name.clone(),
            checksum_type: self.checksum_type.to_owned(),
        })?;
        require_relative_location(self.location).map_err(refuse)?;
        let path = encode_path(self.location);
        let urls = match self.location_base {
            Some(base) => {
                let scheme = base.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
                if !matches!(scheme.as_deref(), Some("http" | "https")) {
                    return Err(refuse("its `xml:base` is not an http or https URL"));
                }
                vec![format!("{}/{path}", base.trim_end_matches('/'))]
            }
            None => baseurls.iter().map(|base| format!("{}/{path}", base.trim_end_matches('/'))).collect(),
        };
        Ok(WantedFile { name, urls, size: self.size, sha256 })
    }
}

impl Primary {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<PackageRef<'_>> {
        self.records.get(index).map(|r| self.view(r))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = PackageRef<'_>> + '_ {
        self.records.iter().map(|r| self.view(r))
    }

    /// Every package named `name` (a linear scan).
    pub fn find<'a>(&'a self, name: &'a str) -> impl Iterator<Item = PackageRef<'a>> + 'a {
        self.iter().filter(move |p| p.name == name)
    }

    /// Every package that provides `name` (by a provide, or by a file
    /// primary lists when `name` is a path). A linear scan.
    pub fn what_provides<'a>(&'a self, name: &'a str) -> impl Iterator<Item = PackageRef<'a>> + 'a {
        self.iter().filter(move |p| {
            p.provides().any(|d| d.name == name) || (name.starts_with('/') && p.files().any(|f| f.path == name))
        })
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.records.capacity() * std::mem::size_of::<Record>()
            + self.deps.capacity() * std::mem::size_of::<DepRecord>()
            + self.files.capacity() * std::mem::size_of::<FileRecord>()
    }

    fn text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.arena.get(start..start + span.len as usize).unwrap_or("")
    }

    fn optional(&self, span: Span) -> Option<&str> {
        Some(self.text(span)).filter(|s| !s.is_empty())
    }

    fn dep<'a>(&'a self, d: &DepRecord) -> Dep<'a> {
        Dep {
            name: self.text(d.name),
            op: d.op,
            epoch: (d.epoch != NO_EPOCH).then_some(d.epoch),
            version: self.optional(d.version),
            release: self.optional(d.release),
            pre: d.pre,
        }
    }

    fn view<'a>(&'a self, r: &'a Record) -> PackageRef<'a> {
        PackageRef {
            name: self.text(r.name),
            arch: self.text(r.arch),
            epoch: r.epoch,
            version: self.text(r.version),
            release: self.text(r.release),
            checksum_type: self.text(r.checksum_type),
            checksum: self.text(r.checksum),
            summary: self.text(r.summary),
            location: self.text(r.location),
            location_base: self.optional(r.location_base),
            sourcerpm: self.optional(r.sourcerpm),
            size: r.size,
            installed_size: r.installed_size,
            primary: self,
            record: r,
        }
    }

    /// Appends to the arena; `None` when it would outgrow u32 offsets.
    fn push(&mut self, value: &str) -> Option<Span> {
        let start = u32::try_from(self.arena.len()).ok()?;
        let len = u32::try_from(value.len()).ok()?;
        start.checked_add(len)?;
        self.arena.push_str(value);
        Some(Span { start, len })
    }

    /// Parses an uncompressed `primary.xml`; `what` names it in errors.
    /// See [`super::compression::decompress`] for compressed input.
    pub fn parse(input: impl BufRead, what: &str) -> Result<Primary, RpmmdError> {
        Parser::new(input, what).run()
    }
}

/// Text elements kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Arch,
    Checksum,
    Summary,
    SourceRpm,
    File(FileKind),
}

impl Field {
    fn element(self) -> &'static [u8] {
        match self {
            Field::Name => b"name",
            Field::Arch => b"arch",
            Field::Checksum => b"checksum",
            Field::Summary => b"summary",
            Field::SourceRpm => b"sourcerpm",
            Field::File(_) => b"file",
        }
    }
}

struct Parser<R> {
    reader: XmlReader<R>,
    primary: Primary,
    record: Record,
    /// Which parts of the current package were seen.
    seen_version: bool,
    seen_checksum: bool,
    seen_location: bool,
    seen_size: bool,
    in_package: bool,
    in_format: bool,
    dep_kind: Option<DepKind>,
    /// The kinds already closed in this package (each may appear once, in any order).
    deps_by_kind: [Vec<DepRecord>; 8],
    capture: Option<Field>,
    text: String,
    declared_packages: Option<usize>,
    root_closed: bool,
}

impl<R: BufRead> Parser<R> {
    fn new(input: R, what: &str) -> Parser<R> {
        Parser {
            reader: XmlReader::new(input, what),
            primary: Primary::default(),
            record: Record::default(),
            seen_version: false,
            seen_checksum: false,
            seen_location: false,
            seen_size: false,
            in_package: false,
            in_format: false,
            dep_kind: None,
            deps_by_kind: Default::default(),
            capture: None,
            text: String::new(),
            declared_packages: None,
            root_closed: false,
        }
    }

    fn push(&mut self, value: &str) -> Result<Span, RpmmdError> {
        self.primary.push(value).ok_or_else(|| self.reader.bad("the metadata is too large (over 4 GiB of text)"))
    }

    fn push_optional(&mut self, value: Option<&str>) -> Result<Span, RpmmdError> {
        match value {
            Some(v) if !v.is_empty() => self.push(v),
            _ => Ok(Span::default()),
        }
    }

    fn run(mut self) -> Result<Primary, RpmmdError> {
        let mut buffer = Vec::new();
        let mut root_seen = false;
        loop {
            let decoder = self.reader.decoder();
            let event = self.reader.next(&mut buffer)?;
            match &event {
                Event::Start(element) | Event::Empty(element) => {
                    let empty = matches!(event, Event::Empty(_));
                    if !root_seen {
                        if element.local_name().as_ref() != b"metadata" {
                            return Err(self.reader.bad("the root element is not `<metadata>`"));
                        }
                        root_seen = true;
                        let declared = attribute(element, b"packages", decoder).map_err(|e| self.reader.bad(e))?;
                        self.declared_packages = declared.and_then(|d| d.parse().ok());
                        // Bounded, so a lying count cannot reserve gigabytes.
                        self.primary.records.reserve(self.declared_packages.unwrap_or(0).min(1 << 18));
                        self.root_closed = empty;
                        continue;
                    }
                    self.start(element, empty, decoder)?;
                }
                Event::End(element) => {
                    let name = element.local_name();
                    self.end(name.as_ref())?;
                }
                Event::Eof => break,
                other => {
                    if self.capture.is_some() {
                        append_text(other, &mut self.text).map_err(|e| self.reader.bad(e))?;
                    }
                }
            }
        }
        if !self.root_closed {
            return Err(self.reader.bad("the document ends before `</metadata>`"));
        }
        if let Some(declared) = self.declared_packages.filter(|&d| d != self.primary.records.len()) {
            return Err(self.reader.bad(format!(
                "`<metadata packages=\"{declared}\">` but it holds {} packages",
                self.primary.records.len()
            )));
        }
        self.primary.arena.shrink_to_fit();
        self.primary.records.shrink_to_fit();
        self.primary.deps.shrink_to_fit();
        self.primary.files.shrink_to_fit();
        Ok(self.primary)
    }

    fn start(&mut self, element: &BytesStart<'_>, empty: bool, decoder: quick_xml::Decoder) -> Result<(), RpmmdError> {
        let local = element.local_name();
        let name = local.as_ref();
        let attr = |key: &[u8]| attribute(element, key, decoder);
        if !self.in_package {
            if name != b"package" {
                return Err(self
                    .reader
                    .bad(format!("unexpected `<{}>` outside a package", String::from_utf8_lossy(name))));
            }
            if empty {
                return Err(self.reader.bad("an empty `<package/>`"));
            }
            self.begin_package();
            return Ok(());
        }
        if self.capture.is_some() {
            return Err(self.reader.bad("an element inside a text element"));
        }
        if self.in_format {
            if let Some(kind) = self.dep_kind {
                if name != b"entry" {
                    return Err(self.reader.bad(format!(
                        "unexpected `<{}>` in `<{}>`",
                        String::from_utf8_lossy(name),
                        kind.as_str()
                    )));
                }
                return self.entry(kind, element, decoder);
            }
            if let Some(kind) = DepKind::from_element(name) {
                if !self.deps_by_kind[kind as usize].is_empty() {
                    return Err(self.reader.bad(format!("two `<rpm:{}>` in one package", kind.as_str())));
                }
                if !empty {
                    self.dep_kind = Some(kind);
                }
                return Ok(());
            }
            match name {
                b"file" => {
                    let kind = attr(b"type").map_err(|e| self.reader.bad(e))?;
                    let kind = FileKind::parse(kind.as_deref()).map_err(|e| self.reader.bad(e))?;
                    self.begin_capture(Field::File(kind), empty)?;
                }
                b"sourcerpm" => self.begin_capture(Field::SourceRpm, empty)?,
                _ => {}
            }
            return Ok(());
        }
        match name {
            b"name" => self.begin_capture(Field::Name, empty)?,
            b"arch" => self.begin_capture(Field::Arch, empty)?,
            b"summary" => self.begin_capture(Field::Summary, empty)?,
            b"checksum" => {
                let kind = attr(b"type").map_err(|e| self.reader.bad(e))?;
                let kind = kind.ok_or_else(|| self.reader.bad("a package `<checksum>` has no `type`"))?;
                self.record.checksum_type = self.push(&kind.to_ascii_lowercase())?;
                self.seen_checksum = true;
                self.begin_capture(Field::Checksum, empty)?;
            }
            b"version" => {
                let [epoch, version, release] =
                    attributes(element, [b"epoch", b"ver", b"rel"], decoder).map_err(|e| self.reader.bad(e))?;
                self.record.epoch = match epoch.as_deref() {
                    None | Some("") => 0,
                    Some(e) => e.parse().map_err(|_| self.reader.bad(format!("the epoch `{e}` is not a number")))?,
                };
                let (Some(version), Some(release)) = (version, release) else {
                    return Err(self.reader.bad("a package `<version>` lacks `ver` or `rel`"));
                };
                if version.is_empty() || release.is_empty() {
                    return Err(self.reader.bad("a package `<version>` has an empty `ver` or `rel`"));
                }
                self.record.version = self.push(&version)?;
                self.record.release = self.push(&release)?;
                self.seen_version = true;
            }
            b"size" => {
                let [package, installed] =
                    attributes(element, [b"package", b"installed"], decoder).map_err(|e| self.reader.bad(e))?;
                let number = |value: Option<Cow<'_, str>>| -> Result<Option<u64>, RpmmdError> {
                    value
                        .map(|v| v.parse().map_err(|_| self.reader.bad(format!("the size `{v}` is not a number"))))
                        .transpose()
                };
                let package = number(package)?.ok_or_else(|| self.reader.bad("a `<size>` has no `package`"))?;
                let installed = number(installed)?.unwrap_or(0);
                self.record.size = package;
                self.record.installed_size = installed;
                self.seen_size = true;
            }
            b"location" => {
                let [href, base] =
                    attributes(element, [b"href", b"xml:base"], decoder).map_err(|e| self.reader.bad(e))?;
                let href = href.ok_or_else(|| self.reader.bad("a package `<location>` has no `href`"))?;
                self.record.location = self.push(&href)?;
                self.record.location_base = self.push_optional(base.as_deref())?;
                self.seen_location = true;
            }
            b"format" if !empty => self.in_format = true,
            _ => {}
        }
        Ok(())
    }

    fn entry(
        &mut self,
        kind: DepKind,
        element: &BytesStart<'_>,
        decoder: quick_xml::Decoder,
    ) -> Result<(), RpmmdError> {
        let [name, flags, pre, epoch, version, release] =
            attributes(element, [b"name", b"flags", b"pre", b"epoch", b"ver", b"rel"], decoder)
                .map_err(|e| self.reader.bad(e))?;
        let name = name.filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| self.reader.bad("an `<rpm:entry>` has no `name`"))?;
        let op = match flags.as_deref() {
            None | Some("") => None,
            Some("EQ") => Some(VersionOp::Eq),
            Some("LT") => Some(VersionOp::Lt),
            Some("LE") => Some(VersionOp::Le),
            Some("GT") => Some(VersionOp::Gt),
            Some("GE") => Some(VersionOp::Ge),
            Some(other) => return Err(self.reader.bad(format!("the flags `{other}` of `{name}` are unknown"))),
        };
        let pre = match pre.as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => return Err(self.reader.bad(format!("`pre=\"{other}\"` of `{name}` is not 0 or 1"))),
        };
        // rpm ignores a version without a comparison; so does this.
        let (epoch, version, release) = match op {
            None => (NO_EPOCH, None, None),
            Some(_) => {
                let epoch = match epoch.as_deref() {
                    None | Some("") => NO_EPOCH,
                    Some(e) => e
                        .parse::<u32>()
                        .ok()
                        .filter(|&e| e != NO_EPOCH)
                        .ok_or_else(|| self.reader.bad(format!("the epoch `{e}` of `{name}` is not a number")))?,
                };
                let version = version.filter(|v| !v.is_empty());
                let version = version.ok_or_else(|| self.reader.bad(format!("`{name}` compares with no `ver`")))?;
                (epoch, Some(version), release)
            }
        };
        let record = DepRecord {
            name: self.push(&name)?,
            version: self.push_optional(version.as_deref())?,
            release: self.push_optional(release.as_deref())?,
            epoch,
            op,
            pre,
        };
        self.deps_by_kind[kind as usize].push(record);
        Ok(())
    }

    fn begin_capture(&mut self, field: Field, empty: bool) -> Result<(), RpmmdError> {
        self.text.clear();
        self.capture = Some(field);
        if empty { self.finish_capture() } else { Ok(()) }
    }

    fn finish_capture(&mut self) -> Result<(), RpmmdError> {
        let Some(field) = self.capture.take() else { return Ok(()) };
        let text = std::mem::take(&mut self.text);
        let trimmed = text.trim();
        match field {
            Field::Name => self.record.name = self.push(trimmed)?,
            Field::Arch => self.record.arch = self.push(trimmed)?,
            Field::Checksum => self.record.checksum = self.push(&trimmed.to_ascii_lowercase())?,
            Field::Summary => self.record.summary = self.push(trimmed)?,
            Field::SourceRpm => self.record.sourcerpm = self.push_optional(Some(trimmed))?,
            Field::File(kind) => {
                if !text.starts_with('/') {
                    return Err(self.reader.bad(format!("the file `{text}` is not an absolute path")));
                }
                let path = self.push(&text)?;
                self.primary.files.push(FileRecord { path, kind });
            }
        }
        self.text = text;
        Ok(())
    }

    fn begin_package(&mut self) {
        self.in_package = true;
        self.record = Record { files_start: self.primary.files.len() as u32, epoch: 0, ..Record::default() };
        self.seen_version = false;
        self.seen_checksum = false;
        self.seen_location = false;
        self.seen_size = false;
        for deps in &mut self.deps_by_kind {
            deps.clear();
        }
    }

    fn end(&mut self, name: &[u8]) -> Result<(), RpmmdError> {
        if let Some(field) = self.capture {
            if field.element() == name {
                return self.finish_capture();
            }
            return Err(self.reader.bad("an element ends inside a text element"));
        }
        if let Some(kind) = self.dep_kind {
            if name == kind.as_str().as_bytes() {
                self.dep_kind = None;
            }
            return Ok(());
        }
        match name {
            b"format" if self.in_format => self.in_format = false,
            b"package" if self.in_package && !self.in_format => self.end_package()?,
            b"metadata" if !self.in_package => self.root_closed = true,
            _ => {}
        }
        Ok(())
    }

    fn end_package(&mut self) -> Result<(), RpmmdError> {
        self.in_package = false;
        let name = self.primary.text(self.record.name).to_owned();
        let missing = [
            (self.record.name.len == 0, "`<name>`"),
            (self.record.arch.len == 0, "`<arch>`"),
            (!self.seen_version, "`<version>`"),
            (!self.seen_checksum || self.record.checksum.len == 0, "`<checksum>`"),
            (!self.seen_location, "`<location>`"),
            (!self.seen_size, "`<size>`"),
        ];
        if let Some((_, field)) = missing.iter().find(|(absent, _)| *absent) {
            let package = if name.is_empty() { "a package".to_owned() } else { format!("the package `{name}`") };
            return Err(self.reader.bad(format!("{package} has no {field}")));
        }
        let deps_start = u32::try_from(self.primary.deps.len()).ok();
        let files_end = u32::try_from(self.primary.files.len()).ok();
        let (Some(deps_start), Some(files_end)) = (deps_start, files_end) else {
            return Err(self.reader.bad("too many relations or files"));
        };
        self.record.deps_start = deps_start;
        self.record.files_end = files_end;
        for (index, deps) in self.deps_by_kind.iter_mut().enumerate() {
            self.primary.deps.append(deps);
            self.record.deps_ends[index] =
                u32::try_from(self.primary.deps.len()).map_err(|_| RpmmdError::BadMetadata {
                    what: self.reader.what().to_owned(),
                    position: 0,
                    reason: "too many relations".into(),
                })?;
        }
        self.primary.records.push(std::mem::take(&mut self.record));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>hello</name>
  <arch>x86_64</arch>
  <version epoch="2" ver="1.5~rc1" rel="3.fc40"/>
  <checksum type="sha256" pkgid="YES">B0CFED6E77BBA6FC8A0D9664574701F68EA2FF36737E70786F590F1804D221D6</checksum>
  <summary>Says &lt;hello&gt; &amp; goes</summary>
  <description>Long
text</description>
  <packager></packager>
  <url></url>
  <time file="1" build="2"/>
  <size package="10953" installed="330" archive="1876"/>
  <location href="Packages/h/hello-1.5~rc1-3.fc40.x86_64.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:sourcerpm>hello-1.5~rc1-3.fc40.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="9077"/>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
      <rpm:entry name="dep" flags="GE" epoch="0" ver="1.0" rel="1"/>
      <rpm:entry name="(a or b &gt;= 2)"/>
    </rpm:requires>
    <rpm:provides>
      <rpm:entry name="hello" flags="EQ" epoch="2" ver="1.5~rc1" rel="3.fc40"/>
      <rpm:entry name="virtual-hello"/>
    </rpm:provides>
    <rpm:conflicts>
      <rpm:entry name="old" flags="LT" epoch="0" ver="2"/>
    </rpm:conflicts>
    <rpm:obsoletes/>
    <file>/usr/bin/hello</file>
    <file type="dir">/etc/hello.d</file>
    <file type="ghost">/etc/hello&amp;world.conf</file>
  </format>
</package>
<package type="rpm">
  <name>dep</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1.0" rel="1"/>
  <checksum type="sha1" pkgid="YES">0123456789abcdef0123456789abcdef01234567</checksum>
  <summary/>
  <size package="5"/>
  <location xml:base="https://other.invalid/repo/" href="d/dep.rpm"/>
  <format/>
</package>
</metadata>
"#;

    #[test]
    fn parses_packages() {
        let primary = Primary::parse(PRIMARY.as_bytes(), "primary.xml").expect("parses");
        assert_eq!(primary.len(), 2);
        let hello = primary.find("hello").next().expect("hello");
        assert_eq!(hello.nevra(), "hello-2:1.5~rc1-3.fc40.x86_64");
        assert_eq!(hello.summary, "Says <hello> & goes");
        assert_eq!(hello.checksum, "b0cfed6e77bba6fc8a0d9664574701f68ea2ff36737e70786f590f1804d221d6");
        assert_eq!(hello.sha256().expect("sha256")[0], 0xb0);
        assert_eq!((hello.size, hello.installed_size), (10953, 330));
        assert_eq!(hello.sourcerpm, Some("hello-1.5~rc1-3.fc40.src.rpm"));
        let requires: Vec<String> = hello.requires().map(|d| d.to_string()).collect();
        assert_eq!(requires, ["/bin/sh", "libc.so.6(GLIBC_2.34)(64bit)", "dep >= 1.0-1", "(a or b >= 2)"]);
        let pre: Vec<bool> = hello.requires().map(|d| d.pre).collect();
        assert_eq!(pre, [true, false, false, false]);
        let rich = hello.requires().nth(3).expect("rich");
        assert!(matches!(rich.rich(), Some(Ok(RichDep::Or { .. }))));
        let provides: Vec<String> = hello.provides().map(|d| d.to_string()).collect();
        assert_eq!(provides, ["hello = 2:1.5~rc1-3.fc40", "virtual-hello"]);
        assert_eq!(hello.conflicts().next().expect("conflict").evr(), Some(Evr::new(0, "2", None)));
        assert_eq!(hello.obsoletes().len(), 0);
        let files: Vec<(&str, FileKind)> = hello.files().map(|f| (f.path, f.kind)).collect();
        assert_eq!(
            files,
            [
                ("/usr/bin/hello", FileKind::File),
                ("/etc/hello.d", FileKind::Dir),
                ("/etc/hello&world.conf", FileKind::Ghost)
            ]
        );
        assert_eq!(primary.what_provides("virtual-hello").count(), 1);
        assert_eq!(primary.what_provides("/usr/bin/hello").count(), 1);

        let wanted = hello.wanted_file(&["http://a.invalid/os/".into(), "http://b.invalid/os".into()]).expect("wanted");
        assert_eq!(
            wanted.urls,
            [
                "http://a.invalid/os/Packages/h/hello-1.5~rc1-3.fc40.x86_64.rpm",
                "http://b.invalid/os/Packages/h/hello-1.5~rc1-3.fc40.x86_64.rpm"
            ]
        );
        assert_eq!((wanted.size, wanted.name.as_str()), (10953, "hello-2:1.5~rc1-3.fc40.x86_64"));

        let dep = primary.get(1).expect("dep");
        assert_eq!(dep.location_base, Some("https://other.invalid/repo/"));
        assert_eq!(dep.summary, "");
        assert!(matches!(dep.wanted_file(&[]), Err(RpmmdError::PackageChecksum { .. })), "sha1 is not enough");
    }

    #[test]
    fn refuses_bad_documents() {
        let cases = [
            PRIMARY.replace("packages=\"2\"", "packages=\"3\""),
            PRIMARY.replace("</metadata>", ""),
            PRIMARY.replace("<size package=\"5\"/>", ""),
            PRIMARY.replace("flags=\"GE\"", "flags=\"XX\""),
            PRIMARY.replace("epoch=\"2\" ver", "epoch=\"x\" ver"),
            PRIMARY.replace("pre=\"1\"", "pre=\"2\""),
            PRIMARY.replace("<file>/usr/bin/hello</file>", "<file>usr/bin/hello</file>"),
            PRIMARY.replace("<file>/usr/bin/hello</file>", "<file type=\"odd\">/usr/bin/hello</file>"),
            PRIMARY.replace("&amp;world", "&nbsp;world"),
            PRIMARY.replace("</name>", "</nam>"),
            PRIMARY.replace("<rpm:obsoletes/>", "<rpm:conflicts/>"),
        ];
        for (index, text) in cases.iter().enumerate() {
            assert!(Primary::parse(text.as_bytes(), "primary.xml").is_err(), "case {index} was accepted");
        }
    }

    #[test]
    fn locations_are_checked() {
        let text = PRIMARY.replace("Packages/h/hello-1.5~rc1-3.fc40.x86_64.rpm", "../../etc/x.rpm");
        let primary = Primary::parse(text.as_bytes(), "primary.xml").expect("parses");
        let hello = primary.find("hello").next().expect("hello");
        assert!(matches!(hello.wanted_file(&["http://a.invalid".into()]), Err(RpmmdError::PackageLocation { .. })));
        let text = PRIMARY.replace("https://other.invalid/repo/", "file:///etc/");
        let text = text.replace(
            "type=\"sha1\" pkgid=\"YES\">0123456789abcdef0123456789abcdef01234567",
            "type=\"sha256\" pkgid=\"YES\">0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        );
        let primary = Primary::parse(text.as_bytes(), "primary.xml").expect("parses");
        let dep = primary.find("dep").next().expect("dep");
        assert!(matches!(dep.wanted_file(&[]), Err(RpmmdError::PackageLocation { .. })), "file:// xml:base");
    }
}
