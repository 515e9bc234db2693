//! Reading `.rpm` packages: the lead, the signature header, the main
//! header, and the cpio payload, streamed.
//!
//! Both headers are parsed strictly by this module (not by the `rpm`
//! crate, whose parser panics on out-of-range offsets and buffers whole
//! payloads): every index entry is bounds-checked, tags must be unique,
//! and the signature header may carry only signature tags of the right
//! type and count (SECURITY.md 17). The main header's SHA256/SHA1 digests
//! from the signature header are checked when the headers are read.
//! OpenPGP signatures are *not* verified here.
//!
//! The payload is decompressed and walked record by record; each record
//! must be a file the header lists, with the header's type and size, and
//! every listed non-ghost file must appear (SECURITY.md 18). Entries are
//! built from the header (rpm ignores cpio metadata too), checked by an
//! [`entry::Validator`](crate::entry::Validator), and only then handed to
//! the caller together with their content. File digests are checked as the
//! content streams by; the payload digest, the signature MD5 and the
//! declared sizes once it has ended. Until [`for_each_entry`] returns `Ok`,
//! whatever the caller received must be treated as untrusted staging.
//!
//! Hardlinks: rpm's payload carries a hardlink set's content on the last
//! member (in header order). That member is delivered as
//! [`EntryKind::File`](crate::entry::EntryKind::File) and the others as
//! [`EntryKind::Hardlink`](crate::entry::EntryKind::Hardlink) to it, after it.
//! `%ghost` files are listed in the header but never in the payload: they
//! are reported in [`RpmSummary::ghosts`] and the file list, never delivered.

mod caps;
mod cpio;
mod error;
mod files;
mod header;
mod info;
mod package;
mod payload;
pub mod richdep;
mod tags;

use std::io::Read;

use md5::{Digest, Md5};

pub use caps::{CapsError, capability_xattr};
pub use error::{HeaderKind, RpmError, RpmErrorKind, Tag};
pub use files::{FileFlags, FileKind, RpmFile, UNMAPPED_ID};
pub use info::PackageInfo;
pub use package::{
    Compressor, Dependency, Interpreter, PayloadInfo, RpmPackage, ScriptKind, Scriptlet, Trigger, TriggerClass,
};
pub use richdep::{DepAtom, RichDep, RichDepError, VersionOp};

use crate::entry::{Entry, PackagePath};
use header::Header;

/// Limits for streaming a payload (SECURITY.md 13).
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Most files a package may list.
    pub max_entries: usize,
    /// Most bytes of file content a package may declare.
    pub max_unpacked_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        // The largest Fedora packages list about 60k files and a few GiB.
        ReadOptions { max_entries: 250_000, max_unpacked_bytes: 32 << 30 }
    }
}

/// The outcome of streaming a whole package.
#[derive(Debug, Clone)]
pub struct RpmSummary {
    pub package: RpmPackage,
    /// Entries handed to the callback (ghosts excluded).
    pub entries: usize,
    /// Bytes of regular-file content handed to the callback.
    pub content_bytes: u64,
    /// Regular files whose digest was checked.
    pub file_digests_checked: usize,
    /// Whether the package recorded a payload digest (it was then checked).
    pub payload_digest_checked: bool,
    /// `%ghost` files: owned by the package, not in the payload, never delivered.
    pub ghosts: Vec<PackagePath>,
}

/// A package whose headers have been read and checked; the reader is
/// positioned at the payload.
pub struct RpmReader<R> {
    reader: R,
    package: RpmPackage,
    /// The signature header's MD5 over main header and payload, with an
    /// MD5 state that has already seen the main header.
    md5: Option<([u8; 16], Md5)>,
}

impl<R: Read> RpmReader<R> {
    /// Reads and checks the lead and both headers.
    pub fn new(mut reader: R) -> Result<RpmReader<R>, RpmError> {
        let lead = header::read_lead(&mut reader).map_err(|kind| RpmError::new(None, kind))?;
        let name = Some(lead.name.as_str()).filter(|n| !n.is_empty());
        let fail = |kind| RpmError::new(name, kind);
        let sig = Header::read(&mut reader, HeaderKind::Signature).map_err(fail)?;
        let main = Header::read(&mut reader, HeaderKind::Main).map_err(fail)?;
        check_header_digests(&sig, &main).map_err(fail)?;
        let package = package::read_package(&sig, &main).map_err(fail)?;
        let md5 = match sig.bin(tags::SIG_MD5).map_err(fail)? {
            Some(digest) => {
                let mut expected = [0u8; 16];
                expected.copy_from_slice(digest);
                let mut state = Md5::new();
                state.update(&main.raw);
                Some((expected, state))
            }
            None => None,
        };
        Ok(RpmReader { reader, package, md5 })
    }

    pub fn package(&self) -> &RpmPackage {
        &self.package
    }

    pub fn into_package(self) -> RpmPackage {
        self.package
    }

    /// Streams the payload: every entry is validated, then passed to `f`
    /// with its content (empty for anything but a regular file). See the
    /// module docs for what is checked and when.
    pub fn for_each_entry<F, E>(self, opts: &ReadOptions, f: F) -> Result<RpmSummary, RpmError>
    where
        F: FnMut(&Entry, &mut dyn Read) -> Result<(), E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let RpmReader { reader, package, md5 } = self;
        let expect = payload::PayloadExpectations { md5 };
        match payload::stream(reader, &package, expect, opts, f) {
            Ok(stats) => Ok(RpmSummary {
                entries: stats.entries,
                content_bytes: stats.content_bytes,
                file_digests_checked: stats.file_digests_checked,
                payload_digest_checked: package.payload.digest.is_some(),
                ghosts: package.files.iter().filter(|f| f.flags.ghost()).map(|f| f.path.clone()).collect(),
                package,
            }),
            Err(kind) => Err(RpmError::new(Some(&package.nevra()), kind)),
        }
    }
}

/// The main header's digests in the signature header must match it.
fn check_header_digests(sig: &Header, main: &Header) -> Result<(), RpmErrorKind> {
    for (tag, what) in [(tags::SIG_SHA256, "main header (sha256)"), (tags::SIG_SHA1, "main header (sha1)")] {
        if let Some(expected) = sig.utf8(tag)? {
            let actual = if tag == tags::SIG_SHA256 { main.sha256_hex() } else { main.sha1_hex() };
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(RpmErrorKind::Digest { what, expected: expected.to_ascii_lowercase(), actual });
            }
        }
    }
    Ok(())
}

/// Reads and checks the headers only; the payload is not read.
pub fn read_header<R: Read>(reader: R) -> Result<RpmPackage, RpmError> {
    Ok(RpmReader::new(reader)?.into_package())
}

/// Reads a whole package, handing each validated entry and its content to
/// `f`; see [`RpmReader::for_each_entry`].
pub fn for_each_entry<R, F, E>(reader: R, opts: &ReadOptions, f: F) -> Result<RpmSummary, RpmError>
where
    R: Read,
    F: FnMut(&Entry, &mut dyn Read) -> Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    RpmReader::new(reader)?.for_each_entry(opts, f)
}

/// Reads a whole package and checks everything, keeping nothing.
pub fn verify<R: Read>(reader: R, opts: &ReadOptions) -> Result<RpmSummary, RpmError> {
    for_each_entry(reader, opts, |_, _| Ok::<(), std::io::Error>(()))
}

/// What `layer pkg inspect FILE --json` shows, from the headers only.
pub fn inspect<R: Read>(reader: R) -> Result<PackageInfo, RpmError> {
    Ok(PackageInfo::new(read_header(reader)?))
}
