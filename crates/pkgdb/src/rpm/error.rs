//! Errors of the rpm reader: one [`RpmErrorKind`] per step that can fail,
//! wrapped in an [`RpmError`] that names the package.

use std::fmt;
use std::io;

use super::caps::CapsError;
use super::richdep::RichDepError;
use super::tags;
use crate::entry::{EntryError, PathError};

/// Which of the two headers of an rpm a tag lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    Signature,
    Main,
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderKind::Signature => "signature header",
            HeaderKind::Main => "main header",
        })
    }
}

/// A tag in one of the headers, shown as "`FILESIZES` (1028) in the main header".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub header: HeaderKind,
    pub number: u32,
}

impl Tag {
    pub fn main(number: u32) -> Tag {
        Tag { header: HeaderKind::Main, number }
    }

    pub fn signature(number: u32) -> Tag {
        Tag { header: HeaderKind::Signature, number }
    }

    fn name(&self) -> Option<&'static str> {
        match self.header {
            HeaderKind::Main => tags::main_tag_name(self.number),
            HeaderKind::Signature if self.number == tags::HEADER_SIGNATURES => Some("HEADERSIGNATURES"),
            HeaderKind::Signature => tags::signature_tag_rule(self.number).map(|r| r.name),
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "`{name}` ({}) in the {}", self.number, self.header),
            None => write!(f, "tag {} in the {}", self.number, self.header),
        }
    }
}

/// A failure to read an rpm, naming the package when its name is known
/// (from the header, or from the lead before the header is read).
#[derive(Debug, thiserror::Error)]
#[error("{}", label(.package))]
pub struct RpmError {
    /// `name-version-release.arch`, or the lead's name before the header is read.
    pub package: Option<String>,
    #[source]
    pub kind: RpmErrorKind,
}

fn label(package: &Option<String>) -> String {
    match package {
        Some(p) => format!("rpm package `{p}`"),
        None => "rpm package".to_owned(),
    }
}

impl RpmError {
    pub(crate) fn new(package: Option<&str>, kind: RpmErrorKind) -> RpmError {
        RpmError { package: package.map(str::to_owned), kind }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpmErrorKind {
    #[error("reading the package failed")]
    Read(#[source] io::Error),
    #[error("the file ends inside the {part}\nhint: the download may be incomplete")]
    Truncated { part: &'static str },
    #[error("not an rpm package (no rpm lead)")]
    NotRpm,
    #[error("bad lead: {reason}")]
    Lead { reason: &'static str },
    #[error("bad {header}: {reason}")]
    HeaderStructure { header: HeaderKind, reason: String },
    #[error("{tag} appears twice")]
    DuplicateTag { tag: Tag },
    #[error("the signature header carries tag {tag}, which is not a signature tag")]
    ForeignSignatureTag { tag: u32 },
    #[error("{tag} has type {found}, expected {expected}")]
    TagType { tag: Tag, expected: &'static str, found: &'static str },
    #[error("{tag} has {found} values, expected {expected}")]
    TagCount { tag: Tag, expected: usize, found: usize },
    #[error("{tag} is invalid: {reason}")]
    TagValue { tag: Tag, reason: String },
    #[error("{tag} is missing")]
    MissingTag { tag: Tag },
    #[error("the {what} digest does not match: the package says {expected}, the content has {actual}")]
    Digest { what: &'static str, expected: String, actual: String },
    #[error("the {what} is {actual} bytes, but the header says {expected}")]
    SizeMismatch { what: &'static str, expected: u64, actual: u64 },
    #[error("payload compressor `{name}` is not supported")]
    UnsupportedCompressor { name: String },
    #[error("payload format `{name}` is not supported (only cpio)")]
    UnsupportedPayloadFormat { name: String },
    #[error("{what} digest algorithm {algorithm} is not supported")]
    UnsupportedDigest { what: &'static str, algorithm: u32 },
    #[error("decompressing the {compressor} payload failed")]
    Decompress {
        compressor: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("malformed cpio payload at byte {offset}: {reason}")]
    Cpio { offset: u64, reason: String },
    #[error("the payload holds `{path}`, which the header does not list")]
    UnlistedFile { path: String },
    #[error("the header lists `{path}`, but the payload does not hold it")]
    MissingFile { path: String },
    #[error("`{path}` appears twice in the payload")]
    DuplicatePayloadFile { path: String },
    #[error("`{path}` is {payload} bytes in the payload but {header} bytes in the header")]
    PayloadFileSize { path: String, header: u64, payload: u64 },
    #[error("`{path}` has another file type in the payload than in the header")]
    PayloadFileType { path: String },
    #[error("symlink `{path}` points elsewhere in the payload than in the header")]
    SymlinkMismatch { path: String },
    #[error("`{path}` has digest {actual}, but the header says {expected}")]
    FileDigest { path: String, expected: String, actual: String },
    #[error("`{path}` is a {kind}; packages may not ship device nodes, FIFOs or sockets")]
    SpecialFile { path: String, kind: &'static str },
    #[error("`{path}` has the unknown file type {mode:#o}")]
    UnknownFileType { path: String, mode: u32 },
    #[error("bad file path `{path}`")]
    BadPath {
        path: String,
        #[source]
        source: PathError,
    },
    #[error("the header's file list is inconsistent: {reason}")]
    FileList { reason: String },
    #[error("invalid payload entry")]
    Entry(#[source] EntryError),
    #[error("hardlinked files `{path}` and `{other}` disagree on their {field}")]
    Hardlink { path: String, other: String, field: &'static str },
    #[error("the package has {count} files, more than the limit of {limit}")]
    TooManyEntries { count: usize, limit: usize },
    #[error("the package's files add up to {declared} bytes, more than the limit of {limit}")]
    TooLarge { declared: u64, limit: u64 },
    #[error("data follows the {after}")]
    TrailingData { after: &'static str },
    #[error("dependency `{name}`: {reason}")]
    Dependency { name: String, reason: String },
    #[error("cannot parse rich dependency `{dependency}`")]
    RichDependency {
        dependency: String,
        #[source]
        source: RichDepError,
    },
    #[error("cannot convert the capabilities `{caps}` of `{path}`")]
    Capabilities {
        path: String,
        caps: String,
        #[source]
        source: CapsError,
    },
    #[error("{what} scriptlet: {reason}")]
    Scriptlet { what: String, reason: String },
    #[error("handling `{path}` failed")]
    Callback {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
