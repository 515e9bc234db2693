//! `repodata/repomd.xml`: the repository's revision and the metadata files
//! it lists (type, location, checksum, sizes, timestamp). It is the one
//! file a signature covers; everything else is trusted only through the
//! checksums and sizes it declares.

use std::cmp::Ordering;
use std::io::BufRead;
use std::time::{Duration, SystemTime};

use quick_xml::events::Event;
use sha2::{Digest, Sha256, Sha512};

use super::RpmmdError;
use super::evr::rpmvercmp;
use super::xml::{XmlReader, append_text, attribute};
use crate::apt::hex;

/// Timestamps further ahead of the clock than this are refused.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(24 * 60 * 60);

/// What `repomd.xml` says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Repomd {
    /// `<revision>`: createrepo_c writes the Unix time of the run unless
    /// told otherwise.
    pub revision: Option<String>,
    pub data: Vec<DataFile>,
}

/// One `<data type="...">` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// `primary`, `filelists`, `other`, `primary_db`, `updateinfo`, ...
    pub kind: String,
    /// `<location href>`, relative to the repository's base URL.
    pub location: String,
    pub checksum: Checksum,
    /// The checksum of the decompressed file.
    pub open_checksum: Option<Checksum>,
    pub size: Option<u64>,
    /// The size of the decompressed file.
    pub open_size: Option<u64>,
    /// Unix time.
    pub timestamp: Option<u64>,
}

/// The checksum algorithms accepted for metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    Sha256,
    Sha512,
}

impl ChecksumType {
    /// `sha256` and `sha512`; anything else (`sha`, `sha1`, `md5`) is weak
    /// or unknown.
    pub fn parse(name: &str) -> Option<ChecksumType> {
        match name.to_ascii_lowercase().as_str() {
            "sha256" => Some(ChecksumType::Sha256),
            "sha512" => Some(ChecksumType::Sha512),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumType::Sha256 => "sha256",
            ChecksumType::Sha512 => "sha512",
        }
    }

    pub fn hasher(self) -> Hasher {
        match self {
            ChecksumType::Sha256 => Hasher::Sha256(Sha256::new()),
            ChecksumType::Sha512 => Hasher::Sha512(Box::new(Sha512::new())),
        }
    }
}

/// A running digest of one of the [`ChecksumType`]s.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Box<Sha512>),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest in lowercase hex.
    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
        }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A checksum as `repomd.xml` declares it: an accepted type and lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub kind: ChecksumType,
    pub hex: String,
}

impl Checksum {
    /// Whether `data` has this checksum.
    pub fn matches(&self, data: &[u8]) -> bool {
        let mut hasher = self.kind.hasher();
        hasher.update(data);
        hasher.finish_hex() == self.hex
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.hex)
    }
}

impl Repomd {
    /// Parses `repomd.xml`; `what` (its URL or path) names it in errors.
    /// Entries with a checksum type other than sha256 or sha512 are refused.
    pub fn parse(input: impl BufRead, what: &str) -> Result<Repomd, RpmmdError> {
        let mut reader = XmlReader::new(input, what);
        let mut buffer = Vec::new();
        let mut repomd = Repomd::default();
        let mut root_seen = false;
        let mut root_closed = false;
        let mut data: Option<PartialData> = None;
        let mut capture: Option<Field> = None;
        let mut text = String::new();
        loop {
            let decoder = reader.decoder();
            let event = reader.next(&mut buffer)?;
            match &event {
                Event::Start(element) | Event::Empty(element) => {
                    let empty = matches!(event, Event::Empty(_));
                    let name = element.local_name();
                    let attr = |key: &[u8]| attribute(element, key, decoder).map(|v| v.map(|v| v.into_owned()));
                    match (name.as_ref(), data.as_mut()) {
                        (b"repomd", None) if !root_seen => root_seen = true,
                        (_, _) if !root_seen => return Err(reader.bad("the root element is not `<repomd>`")),
                        (b"revision", None) => capture = Some(Field::Revision),
                        (b"data", None) => {
                            let kind = attr(b"type").map_err(|e| reader.bad(e))?;
                            let kind = kind.ok_or_else(|| reader.bad("a `<data>` has no `type`"))?;
                            data = Some(PartialData { kind, ..PartialData::default() });
                        }
                        (b"checksum" | b"open-checksum", Some(partial)) => {
                            let kind = attr(b"type").map_err(|e| reader.bad(e))?.unwrap_or_default();
                            let open = name.as_ref() == b"open-checksum";
                            if open {
                                partial.open_checksum_type = Some(kind);
                            } else {
                                partial.checksum_type = Some(kind);
                            }
                            capture = Some(if open { Field::OpenChecksum } else { Field::Checksum });
                        }
                        (b"location", Some(partial)) => {
                            partial.location = attr(b"href").map_err(|e| reader.bad(e))?;
                            if attr(b"xml:base").map_err(|e| reader.bad(e))?.is_some() {
                                return Err(reader.bad("a metadata `<location>` with `xml:base` is not supported"));
                            }
                        }
                        (b"timestamp", Some(_)) => capture = Some(Field::Timestamp),
                        (b"size", Some(_)) => capture = Some(Field::Size),
                        (b"open-size", Some(_)) => capture = Some(Field::OpenSize),
                        _ => {}
                    }
                    if capture.is_some() {
                        text.clear();
                        if empty {
                            finish(&mut repomd, data.as_mut(), capture.take(), &text).map_err(|e| reader.bad(e))?;
                        }
                    }
                }
                Event::End(element) => {
                    let name = element.local_name();
                    if capture.is_some() {
                        finish(&mut repomd, data.as_mut(), capture.take(), &text).map_err(|e| reader.bad(e))?;
                    } else if name.as_ref() == b"data" {
                        if let Some(partial) = data.take() {
                            let entry = partial.complete(reader.what()).map_err(|e| match e {
                                Incomplete::Bad(reason) => reader.bad(reason),
                                Incomplete::Error(error) => error,
                            })?;
                            if repomd.data.iter().any(|d| d.kind == entry.kind) {
                                return Err(reader.bad(format!("two `<data type=\"{}\">` entries", entry.kind)));
                            }
                            repomd.data.push(entry);
                        }
                    } else if name.as_ref() == b"repomd" && data.is_none() {
                        root_closed = true;
                    }
                }
                Event::Eof => break,
                other => {
                    if capture.is_some() {
                        append_text(other, &mut text).map_err(|e| reader.bad(e))?;
                    }
                }
            }
        }
        if !root_closed {
            return Err(reader.bad("the document ends before `</repomd>`"));
        }
        Ok(repomd)
    }

    /// The entry of `kind` (`primary`, `filelists`, ...).
    pub fn data(&self, kind: &str) -> Option<&DataFile> {
        self.data.iter().find(|d| d.kind == kind)
    }

    /// The newest timestamp of its entries.
    pub fn timestamp(&self) -> Option<u64> {
        self.data.iter().filter_map(|d| d.timestamp).max()
    }

    /// How this metadata's age compares with `other`'s: by revision when
    /// both have one (as numbers when both are, else with rpm's version
    /// ordering), then by the newest timestamp.
    pub fn compare_age(&self, other: &Repomd) -> Ordering {
        let by_revision = match (&self.revision, &other.revision) {
            (Some(a), Some(b)) => compare_revisions(a, b),
            _ => Ordering::Equal,
        };
        by_revision.then_with(|| match (self.timestamp(), other.timestamp()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => Ordering::Equal,
        })
    }

    /// Refuses metadata older than `cached` (SECURITY.md 24) or with a
    /// timestamp more than [`FUTURE_TOLERANCE`] ahead of `now`.
    pub fn require_fresh(&self, url: &str, now: SystemTime, cached: Option<&Repomd>) -> Result<(), RpmmdError> {
        let now = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        if let Some(timestamp) = self.timestamp().filter(|&t| t > (now + FUTURE_TOLERANCE).as_secs()) {
            return Err(RpmmdError::InFuture { url: url.to_owned(), timestamp });
        }
        if let Some(cached) = cached.filter(|cached| self.compare_age(cached) == Ordering::Less) {
            return Err(RpmmdError::Replay { url: url.to_owned(), found: self.age_text(), cached: cached.age_text() });
        }
        Ok(())
    }

    fn age_text(&self) -> String {
        let revision = self.revision.as_deref().map(|r| format!("revision {r}"));
        let timestamp = self.timestamp().map(|t| format!("timestamp {t}"));
        [revision, timestamp].into_iter().flatten().collect::<Vec<_>>().join(", ")
    }
}

fn compare_revisions(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        rpmvercmp(a, b)
    }
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Revision,
    Checksum,
    OpenChecksum,
    Timestamp,
    Size,
    OpenSize,
}

#[derive(Debug, Default)]
struct PartialData {
    kind: String,
    location: Option<String>,
    checksum_type: Option<String>,
    checksum: Option<String>,
    open_checksum_type: Option<String>,
    open_checksum: Option<String>,
    size: Option<u64>,
    open_size: Option<u64>,
    timestamp: Option<u64>,
}

enum Incomplete {
    Bad(String),
    Error(RpmmdError),
}

impl PartialData {
    fn complete(self, what: &str) -> Result<DataFile, Incomplete> {
        let kind = self.kind;
        let missing = |field: &str| Incomplete::Bad(format!("the `{kind}` entry has no {field}"));
        let location = self.location.ok_or_else(|| missing("`<location href>`"))?;
        require_relative_location(&location).map_err(|reason| {
            Incomplete::Bad(format!("the `{kind}` entry's location `{location}` is refused: {reason}"))
        })?;
        let checksum = checksum(self.checksum_type, self.checksum, what, &kind)?.ok_or_else(|| missing("checksum"))?;
        let open_checksum = checksum_optional(self.open_checksum_type, self.open_checksum);
        Ok(DataFile {
            kind,
            location,
            checksum,
            open_checksum,
            size: self.size,
            open_size: self.open_size,
            timestamp: self.timestamp,
        })
    }
}

fn checksum(
    kind: Option<String>,
    value: Option<String>,
    what: &str,
    entry: &str,
) -> Result<Option<Checksum>, Incomplete> {
    let (Some(kind), Some(value)) = (kind, value) else { return Ok(None) };
    let Some(parsed) = ChecksumType::parse(&kind) else {
        return Err(Incomplete::Error(RpmmdError::UnsupportedChecksum {
            what: format!("{what}` entry `{entry}"),
            checksum_type: kind,
        }));
    };
    let expected_len = match parsed {
        ChecksumType::Sha256 => 64,
        ChecksumType::Sha512 => 128,
    };
    if value.len() != expected_len || !value.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(Incomplete::Bad(format!("the `{entry}` entry's checksum `{value}` is not {kind} hex")));
    }
    Ok(Some(Checksum { kind: parsed, hex: value.to_ascii_lowercase() }))
}

/// The open checksum is informational: an unknown type is dropped, not refused.
fn checksum_optional(kind: Option<String>, value: Option<String>) -> Option<Checksum> {
    let kind = ChecksumType::parse(&kind?)?;
    Some(Checksum { kind, hex: value?.to_ascii_lowercase() })
}

/// A location inside the repository: relative, no `..`, no scheme, query
/// or control characters.
pub fn require_relative_location(location: &str) -> Result<(), &'static str> {
    if location.is_empty() || location.starts_with('/') {
        return Err("it is empty or absolute");
    }
    if location.contains(['?', '#', '\\']) || location.chars().any(|c| c.is_control()) {
        return Err("it holds `?`, `#`, `\\` or control characters");
    }
    if location.split('/').next().is_some_and(|first| first.contains(':')) {
        return Err("it names a URL scheme");
    }
    if location.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err("it has an empty, `.` or `..` segment");
    }
    Ok(())
}

fn finish(repomd: &mut Repomd, data: Option<&mut PartialData>, field: Option<Field>, text: &str) -> Result<(), String> {
    let text = text.trim();
    let number = |name: &str| -> Result<u64, String> {
        // Old repositories write timestamps with a fraction.
        let integer = text.split_once('.').map_or(text, |(integer, _)| integer);
        integer.parse().map_err(|_| format!("`<{name}>` `{text}` is not a number"))
    };
    match (field, data) {
        (Some(Field::Revision), _) => repomd.revision = Some(text.to_owned()).filter(|r| !r.is_empty()),
        (Some(Field::Checksum), Some(d)) => d.checksum = Some(text.to_owned()),
        (Some(Field::OpenChecksum), Some(d)) => d.open_checksum = Some(text.to_owned()),
        (Some(Field::Timestamp), Some(d)) => d.timestamp = Some(number("timestamp")?),
        (Some(Field::Size), Some(d)) => d.size = Some(number("size")?),
        (Some(Field::OpenSize), Some(d)) => d.open_size = Some(number("open-size")?),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <tags><content>binary-x86_64</content></tags>
  <data type="primary">
    <checksum type="sha256">07af0ffa53713e0846b9df7769d8ee7ce7aebee89630c19d5755632b7852abd3</checksum>
    <open-checksum type="sha256">5fa69be4ad02f03ef00387ab4f15f56a498a9bedbd8cfa176365cba9fe22acb2</open-checksum>
    <location href="repodata/07af-primary.xml.gz"/>
    <timestamp>1700000001</timestamp>
    <size>1631</size>
    <open-size>5982</open-size>
  </data>
  <data type="filelists">
    <checksum type="SHA256">C27BD3BB4DF2EA5B2F838001FAB1391CD1D62AB1B4BE977BE7B53897D334ECC5</checksum>
    <location href="repodata/c27b-filelists.xml.gz"/>
    <timestamp>1700000002.5</timestamp>
    <size>519</size>
  </data>
</repomd>
"#;

    #[test]
    fn parses_entries() {
        let repomd = Repomd::parse(REPOMD.as_bytes(), "repomd.xml").expect("parses");
        assert_eq!(repomd.revision.as_deref(), Some("1700000000"));
        assert_eq!(repomd.data.len(), 2);
        let primary = repomd.data("primary").expect("primary");
        assert_eq!(primary.location, "repodata/07af-primary.xml.gz");
        assert_eq!(primary.checksum.kind, ChecksumType::Sha256);
        assert_eq!((primary.size, primary.open_size, primary.timestamp), (Some(1631), Some(5982), Some(1700000001)));
        assert!(primary.open_checksum.is_some());
        let filelists = repomd.data("filelists").expect("filelists");
        assert_eq!(filelists.checksum.hex, "c27bd3bb4df2ea5b2f838001fab1391cd1d62ab1b4be977be7b53897d334ecc5");
        assert_eq!(repomd.timestamp(), Some(1700000002));
    }

    #[test]
    fn refuses_bad_documents() {
        let cases = [
            REPOMD.replace("type=\"sha256\">07af", "type=\"md5\">07af"),
            REPOMD.replace("repodata/07af-primary.xml.gz", "../primary.xml.gz"),
            REPOMD.replace("repodata/07af-primary.xml.gz", "http://evil.invalid/p.xml.gz"),
            REPOMD.replace("repodata/07af-primary.xml.gz", "/etc/shadow"),
            REPOMD.replace("<size>1631</size>", "<size>-1</size>"),
            REPOMD.replace("07af0ffa", "07af0ffz"),
            REPOMD.replace("type=\"filelists\"", "type=\"primary\""),
            REPOMD.replace("</repomd>", ""),
            REPOMD.replace("</data>\n</repomd>", "</repomd>"),
            REPOMD.replace("<repomd ", "<other ").replace("</repomd>", "</other>"),
            REPOMD.replace("<revision>1700000000</revision>", "<revision>&bogus;</revision>"),
        ];
        for (index, text) in cases.iter().enumerate() {
            assert!(Repomd::parse(text.as_bytes(), "repomd.xml").is_err(), "case {index} was accepted");
        }
    }

    #[test]
    fn entities_in_text_and_attributes() {
        let text = REPOMD
            .replace("<revision>1700000000</revision>", "<revision>1&#55;0&amp;0</revision>")
            .replace("repodata/07af-primary.xml.gz", "repodata/a&amp;b-primary.xml.gz");
        let repomd = Repomd::parse(text.as_bytes(), "repomd.xml").expect("parses");
        assert_eq!(repomd.revision.as_deref(), Some("170&0"));
        assert_eq!(repomd.data("primary").expect("primary").location, "repodata/a&b-primary.xml.gz");
    }

    #[test]
    fn ages() {
        let base = Repomd::parse(REPOMD.as_bytes(), "a").expect("parses");
        let with_revision = |revision: &str| Repomd { revision: Some(revision.into()), ..base.clone() };
        assert_eq!(with_revision("999999999").compare_age(&base), Ordering::Less, "numeric, not lexical");
        assert_eq!(with_revision("1700000001").compare_age(&base), Ordering::Greater);
        assert_eq!(with_revision("compose-2.1").compare_age(&with_revision("compose-10")), Ordering::Less);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        base.require_fresh("u", now, Some(&base)).expect("same age");
        assert!(matches!(with_revision("1").require_fresh("u", now, Some(&base)), Err(RpmmdError::Replay { .. })));
        let old_clock = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        assert!(matches!(base.require_fresh("u", old_clock, None), Err(RpmmdError::InFuture { .. })));
        let mut older_data = base.clone();
        older_data.data[1].timestamp = Some(1);
        assert!(matches!(older_data.require_fresh("u", now, Some(&base)), Err(RpmmdError::Replay { .. })));
    }
}
