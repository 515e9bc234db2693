//! `Packages` indexes in a compact in-memory form: every string of the
//! index lives in one arena, and each package is a fixed-size record of
//! spans into it. Relationship fields stay raw strings, parsed when a
//! resolver asks for them.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::{AptError, parse_sha256};
use crate::control::{Syntax, parse_paragraph};

/// Decompressed indexes larger than this are refused (bookworm's main is
/// about 45 MiB).
pub const MAX_INDEX_SIZE: u64 = 1 << 30;

/// All packages of one `Packages` index.
#[derive(Debug, Clone, Default)]
pub struct PackageIndex {
    arena: String,
    records: Vec<Record>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Debug, Clone)]
struct Record {
    name: Span,
    version: Span,
    architecture: Span,
    multi_arch: Span,
    priority: Span,
    depends: Span,
    pre_depends: Span,
    recommends: Span,
    conflicts: Span,
    breaks: Span,
    replaces: Span,
    provides: Span,
    filename: Span,
    size: u64,
    sha256: [u8; 32],
    essential: bool,
}

/// One package of a [`PackageIndex`]. Optional fields that are absent (or
/// empty) are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageRef<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub architecture: &'a str,
    pub multi_arch: Option<&'a str>,
    pub essential: bool,
    pub priority: Option<&'a str>,
    pub depends: Option<&'a str>,
    pub pre_depends: Option<&'a str>,
    pub recommends: Option<&'a str>,
    pub conflicts: Option<&'a str>,
    pub breaks: Option<&'a str>,
    pub replaces: Option<&'a str>,
    pub provides: Option<&'a str>,
    /// The `.deb`'s path relative to the archive root.
    pub filename: &'a str,
    pub size: u64,
    pub sha256: &'a [u8; 32],
}

impl PackageIndex {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<PackageRef<'_>> {
        self.records.get(index).map(|r| self.view(r))
    }

    pub fn iter(&self) -> impl Iterator<Item = PackageRef<'_>> + '_ {
        self.records.iter().map(|r| self.view(r))
    }

    /// Every version of `name` in the index (a linear scan).
    pub fn find<'a>(&'a self, name: &'a str) -> impl Iterator<Item = PackageRef<'a>> + 'a {
        self.iter().filter(move |p| p.name == name)
    }

    /// Bytes held on the heap: the arena and the records.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.records.capacity() * std::mem::size_of::<Record>()
    }

    fn text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.arena.get(start..start + span.len as usize).unwrap_or("")
    }

    fn optional(&self, span: Span) -> Option<&str> {
        Some(self.text(span)).filter(|s| !s.is_empty())
    }

    fn view<'a>(&'a self, r: &'a Record) -> PackageRef<'a> {
        PackageRef {
            name: self.text(r.name),
            version: self.text(r.version),
            architecture: self.text(r.architecture),
            multi_arch: self.optional(r.multi_arch),
            essential: r.essential,
            priority: self.optional(r.priority),
            depends: self.optional(r.depends),
            pre_depends: self.optional(r.pre_depends),
            recommends: self.optional(r.recommends),
            conflicts: self.optional(r.conflicts),
            breaks: self.optional(r.breaks),
            replaces: self.optional(r.replaces),
            provides: self.optional(r.provides),
            filename: self.text(r.filename),
            size: r.size,
            sha256: &r.sha256,
        }
    }

    fn push(&mut self, value: &str) -> Span {
        // The caller has checked that the whole index fits in u32 offsets,
        // and the arena only ever holds parts of it.
        let start = self.arena.len() as u32;
        self.arena.push_str(value);
        Span { start, len: value.len() as u32 }
    }
}

/// The first bytes of [`PackageIndex::to_bytes`]'s form; a changed layout
/// changes them.
const SERIAL_MAGIC: &[u8; 16] = b"layer-pkgindex1\n";
/// Spans of a serialized record, in the order of [`Record`]'s fields.
const SPANS: usize = 13;
const SERIAL_RECORD: usize = SPANS * 8 + 8 + 32 + 1;

impl PackageIndex {
    /// The index in a compact binary form that [`PackageIndex::from_bytes`]
    /// reads back without parsing any text: a cache of a parsed index,
    /// never an input from anywhere else.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.arena.len() + self.records.len() * SERIAL_RECORD);
        out.extend_from_slice(SERIAL_MAGIC);
        out.extend_from_slice(&(self.arena.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        out.extend_from_slice(self.arena.as_bytes());
        for r in &self.records {
            for span in r.spans() {
                out.extend_from_slice(&span.start.to_le_bytes());
                out.extend_from_slice(&span.len.to_le_bytes());
            }
            out.extend_from_slice(&r.size.to_le_bytes());
            out.extend_from_slice(&r.sha256);
            out.push(u8::from(r.essential));
        }
        out
    }

    /// Reads [`PackageIndex::to_bytes`]'s form back; `None` if the bytes are
    /// not exactly such a form (every span is checked to lie in the arena,
    /// on character boundaries).
    pub fn from_bytes(mut bytes: &[u8]) -> Option<PackageIndex> {
        Self::read_from(&mut bytes).ok().flatten()
    }

    /// [`PackageIndex::from_bytes`] from a reader, which must end where the
    /// form does: the arena is read straight into its place, with no copy
    /// of the whole form. `Ok(None)` if the bytes are not such a form.
    pub fn read_from(mut reader: impl Read) -> std::io::Result<Option<PackageIndex>> {
        let mut head = [0u8; 32];
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        if &head[..16] != SERIAL_MAGIC {
            return Ok(None);
        }
        let number = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let (arena_len, records_len) = (number(&head[16..24]), number(&head[24..32]));
        let record_bytes = records_len.checked_mul(SERIAL_RECORD as u64);
        let Some(record_bytes) = record_bytes.filter(|&n| arena_len <= MAX_INDEX_SIZE && n <= MAX_INDEX_SIZE) else {
            return Ok(None);
        };
        let read_part = |reader: &mut dyn Read, len: u64| -> std::io::Result<Option<Vec<u8>>> {
            // Reserved up front, as the form claims, within reason.
            let mut part = Vec::with_capacity(len.min(256 << 20) as usize);
            reader.take(len).read_to_end(&mut part)?;
            Ok((part.len() as u64 == len).then_some(part))
        };
        let Some(arena) = read_part(&mut reader, arena_len)? else { return Ok(None) };
        let Some(raw) = read_part(&mut reader, record_bytes)? else { return Ok(None) };
        if reader.read(&mut [0u8; 1])? != 0 {
            return Ok(None);
        }
        let Ok(arena) = String::from_utf8(arena) else { return Ok(None) };
        Ok(decode_records(&arena, &raw).map(|records| PackageIndex { arena, records }))
    }
}

/// The records of [`PackageIndex::to_bytes`]'s form, each span checked
/// against `arena`.
fn decode_records(arena: &str, raw: &[u8]) -> Option<Vec<Record>> {
    let number = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let mut records = Vec::with_capacity(raw.len() / SERIAL_RECORD);
    for raw in raw.chunks_exact(SERIAL_RECORD) {
        let mut spans = [Span::default(); SPANS];
        for (i, span) in spans.iter_mut().enumerate() {
            let word = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
            *span = Span { start: word(i * 8), len: word(i * 8 + 4) };
            let end = (span.start as usize).checked_add(span.len as usize)?;
            if !arena.is_char_boundary(span.start as usize) || !arena.is_char_boundary(end) || end > arena.len() {
                return None;
            }
        }
        let at = SPANS * 8;
        let [
            name,
            version,
            architecture,
            multi_arch,
            priority,
            depends,
            pre_depends,
            recommends,
            conflicts,
            breaks,
            replaces,
            provides,
            filename,
        ] = spans;
        records.push(Record {
            name,
            version,
            architecture,
            multi_arch,
            priority,
            depends,
            pre_depends,
            recommends,
            conflicts,
            breaks,
            replaces,
            provides,
            filename,
            size: number(&raw[at..at + 8]),
            sha256: raw[at + 8..at + 40].try_into().expect("32 bytes"),
            essential: match raw[at + 40] {
                0 => false,
                1 => true,
                _ => return None,
            },
        });
    }
    Some(records)
}

impl Record {
    fn spans(&self) -> [Span; SPANS] {
        [
            self.name,
            self.version,
            self.architecture,
            self.multi_arch,
            self.priority,
            self.depends,
            self.pre_depends,
            self.recommends,
            self.conflicts,
            self.breaks,
            self.replaces,
            self.provides,
            self.filename,
        ]
    }
}

/// Decompresses an index by its name: `.xz`, `.gz`, or plain.
pub fn decompress(data: &[u8], path: &str) -> Result<Vec<u8>, AptError> {
    let mut out = Vec::new();
    let limit = MAX_INDEX_SIZE + 1;
    let result = if path.ends_with(".xz") {
        liblzma::read::XzDecoder::new(data).take(limit).read_to_end(&mut out)
    } else if path.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(data).take(limit).read_to_end(&mut out)
    } else {
        out.extend_from_slice(data);
        Ok(out.len())
    };
    result.map_err(|source| AptError::Decompress { path: path.to_owned(), source })?;
    if out.len() as u64 > MAX_INDEX_SIZE {
        return Err(AptError::IndexTooLarge { path: path.to_owned() });
    }
    Ok(out)
}

/// Decompresses (by `path`'s suffix) and parses a `Packages` index.
pub fn read_packages_compressed(data: &[u8], path: &str) -> Result<PackageIndex, AptError> {
    read_packages(&decompress(data, path)?, path)
}

/// Parses an uncompressed `Packages` index; `path` names it in errors.
pub fn read_packages(text: &[u8], path: &str) -> Result<PackageIndex, AptError> {
    if u32::try_from(text.len()).is_err() {
        return Err(AptError::IndexTooLarge { path: path.to_owned() });
    }
    let mut index = PackageIndex::default();
    // The fields kept are a fraction of the text (descriptions are dropped).
    index.arena.reserve(text.len() / 4);
    let mut start = None;
    let mut offset = 0;
    let mut line_number = 0;
    let mut first_line = 0;
    for line in text.split(|&b| b == b'\n') {
        line_number += 1;
        let line_start = offset;
        offset += line.len() + 1;
        if line.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r') {
            if let Some(paragraph_start) = start.take() {
                add_paragraph(&mut index, &text[paragraph_start..line_start], path, first_line)?;
            }
        } else if start.is_none() {
            start = Some(line_start);
            first_line = line_number;
        }
    }
    if let Some(paragraph_start) = start {
        add_paragraph(&mut index, &text[paragraph_start..], path, first_line)?;
    }
    index.arena.shrink_to_fit();
    index.records.shrink_to_fit();
    Ok(index)
}

fn add_paragraph(index: &mut PackageIndex, text: &[u8], path: &str, line: usize) -> Result<(), AptError> {
    let paragraph = parse_paragraph(text, Syntax::Strict)
        .map_err(|source| AptError::ParsePackages { path: format!("{path}, paragraph at line {line}"), source })?;
    let package = paragraph.get("Package").unwrap_or("").to_owned();
    let bad = |field: &'static str| AptError::BadPackageField {
        path: path.to_owned(),
        package: if package.is_empty() { format!("at line {line}") } else { format!("`{package}`") },
        field,
    };
    let required = |name: &'static str| paragraph.get(name).filter(|v| !v.is_empty()).ok_or_else(|| bad(name));
    let name = required("Package")?;
    let version = required("Version")?;
    let architecture = required("Architecture")?;
    let filename = required("Filename")?;
    let size = required("Size")?.parse().map_err(|_| bad("Size"))?;
    let sha256 = parse_sha256(required("SHA256")?).ok_or_else(|| bad("SHA256"))?;
    let essential = match paragraph.get("Essential") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("yes") => true,
        Some(v) if v.eq_ignore_ascii_case("no") => false,
        Some(_) => return Err(bad("Essential")),
    };
    let optional = |index: &mut PackageIndex, name: &str| match paragraph.get(name) {
        Some(value) => index.push(value),
        None => Span::default(),
    };
    let record = Record {
        name: index.push(name),
        version: index.push(version),
        architecture: index.push(architecture),
        multi_arch: optional(index, "Multi-Arch"),
        priority: optional(index, "Priority"),
        depends: optional(index, "Depends"),
        pre_depends: optional(index, "Pre-Depends"),
        recommends: optional(index, "Recommends"),
        conflicts: optional(index, "Conflicts"),
        breaks: optional(index, "Breaks"),
        replaces: optional(index, "Replaces"),
        provides: optional(index, "Provides"),
        filename: index.push(filename),
        size,
        sha256,
        essential,
    };
    index.records.push(record);
    Ok(())
}

/// The sha256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const PACKAGES: &str = "Package: hello-layer\nVersion: 1.0-1\nArchitecture: amd64\nEssential: yes\n\
        Priority: optional\nDepends: dep-layer (>= 1.0),\n libc6\nMulti-Arch: foreign\n\
        Filename: pool/main/h/hello-layer_1.0-1_amd64.deb\nSize: 700\n\
        SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nDescription: hi\n long\n\
        \n \n\
        Package: dep-layer\nVersion: 1.0\nArchitecture: all\nProvides: virtual-layer\n\
        Filename: pool/main/d/dep-layer_1.0_all.deb\nSize: 600\n\
        SHA256: fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n";

    #[test]
    fn parses_records() {
        let index = read_packages(PACKAGES.as_bytes(), "Packages").expect("parses");
        assert_eq!(index.len(), 2);
        let hello = index.find("hello-layer").next().expect("present");
        assert_eq!(hello.version, "1.0-1");
        assert!(hello.essential);
        assert_eq!(hello.multi_arch, Some("foreign"));
        assert_eq!(hello.depends, Some("dep-layer (>= 1.0),\n libc6"));
        assert_eq!(hello.size, 700);
        assert_eq!(hello.sha256[31], 0xef);
        let dep = index.get(1).expect("second");
        assert_eq!(
            (dep.name, dep.architecture, dep.provides, dep.depends),
            ("dep-layer", "all", Some("virtual-layer"), None)
        );
        assert!(!dep.essential);
    }

    #[test]
    fn missing_fields_are_named() {
        let text = PACKAGES.replace("Size: 600\n", "");
        let error = read_packages(text.as_bytes(), "Packages").expect_err("must be refused");
        assert!(error.to_string().contains("`dep-layer`") && error.to_string().contains("`Size`"), "{error}");
        let comment = format!("# nope\n{PACKAGES}");
        assert!(matches!(read_packages(comment.as_bytes(), "P"), Err(AptError::ParsePackages { .. })));
    }

    #[test]
    fn decompresses_xz_and_gz() {
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(PACKAGES.as_bytes()).expect("xz");
        let xz = xz.finish().expect("xz");
        assert_eq!(read_packages_compressed(&xz, "Packages.xz").expect("xz parses").len(), 2);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(PACKAGES.as_bytes()).expect("gz");
        let gz = gz.finish().expect("gz");
        assert_eq!(read_packages_compressed(&gz, "Packages.gz").expect("gz parses").len(), 2);
        assert!(matches!(read_packages_compressed(b"not xz", "Packages.xz"), Err(AptError::Decompress { .. })));
    }

    #[test]
    fn the_binary_form_reads_back_and_refuses_anything_else() {
        let index = read_packages(PACKAGES.as_bytes(), "Packages").expect("parses");
        let bytes = index.to_bytes();
        let back = PackageIndex::from_bytes(&bytes).expect("reads back");
        assert_eq!(back.iter().collect::<Vec<_>>(), index.iter().collect::<Vec<_>>());
        for cut in [0, 10, 16, 40, bytes.len() - 1] {
            assert!(PackageIndex::from_bytes(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        // A span past the arena, and a flag that is not a bool.
        let mut bad = bytes.clone();
        let first_record = 32 + index.arena.len();
        bad[first_record + 4] = 0xff;
        assert!(PackageIndex::from_bytes(&bad).is_none());
        let mut bad = bytes.clone();
        bad[first_record + SERIAL_RECORD - 1] = 2;
        assert!(PackageIndex::from_bytes(&bad).is_none());
    }
}
