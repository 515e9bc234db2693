//! The header rpm 4.18 records for an installed package, built from the
//! package's two headers:
//!
//! - the main header, unchanged (its immutable region keeps `rpm -V`,
//!   `rpmkeys -K` on the installed header and the `SHA1HEADER` id valid);
//! - the signature header's digests and signatures, renamed to main-header
//!   tags (`headerMergeLegacySigs` in `lib/package.c`): `SIGSIZE`,
//!   `SIGPGP`, `SIGMD5`, `SIGGPG`, `ARCHIVESIZE` (from `PAYLOADSIZE`),
//!   `FILESIGNATURES`, `FILESIGNATURELENGTH`, `VERITYSIGNATURES`,
//!   `VERITYSIGNATUREALGO`, `SHA1HEADER`, `SHA256HEADER`, `DSAHEADER`,
//!   `RSAHEADER`, `LONGSIGSIZE`, `LONGARCHIVESIZE`. Tags rpm 4.18 does not
//!   know (rpm 6's `OPENPGP`, `SHA3_256`) are not copied, as 4.18 does not;
//! - `INSTPREFIXES`, a copy of `PREFIXES` for a relocatable package
//!   installed without relocations (`addPrefixes` in `lib/relocation.c`);
//! - `FILESTATES`, `INSTALLTID`, `INSTALLTIME`, `INSTALLCOLOR`
//!   (`dbAdd` in `lib/psm.c`).

use std::io::Read;

use super::RpmDbError;
use super::header::{Dribble, HEADER_MAGIC, HeaderEntry, InstalledHeader, TagType, export_with_dribbles};
use super::tags::*;
use crate::rpm::{RpmPackage, RpmReader};

/// A file's state in `FILESTATES` (rpm's `rpmfileState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Normal,
    Replaced,
    /// Left out on purpose (`--excludedocs`, `%_install_langs`); `rpm -V` skips it.
    NotInstalled,
    NetShared,
    WrongColor,
}

impl FileState {
    fn raw(self) -> u8 {
        match self {
            FileState::Normal => 0,
            FileState::Replaced => 1,
            FileState::NotInstalled => 2,
            FileState::NetShared => 3,
            FileState::WrongColor => 4,
        }
    }
}

/// What rpm records about the installation itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallInfo {
    /// `INSTALLTID`: the transaction id, which rpm takes from the time the
    /// transaction starts (or `SOURCE_DATE_EPOCH`).
    pub tid: u32,
    /// `INSTALLTIME`.
    pub time: u32,
    /// `INSTALLCOLOR`: the machine's `%_transaction_color`.
    pub color: u32,
    /// `FILESTATES`, one per file in header order; `None` for every file
    /// [`FileState::Normal`], which is what a plain install records.
    pub file_states: Option<Vec<FileState>>,
}

impl InstallInfo {
    /// An install at `time` (also the transaction id) on a machine of
    /// architecture `machine_arch` (not the package's, which may be `noarch`).
    pub fn new(machine_arch: &str, time: u32) -> InstallInfo {
        InstallInfo { tid: time, time, color: transaction_color(machine_arch), file_states: None }
    }
}

/// rpm's `%_transaction_color` for a machine architecture (its
/// `platform/ARCH-linux/macros`): 3 for the 64-bit multilib ones (both
/// ELF32 and ELF64 files install), 2 for ia64, 0 elsewhere.
pub fn transaction_color(machine_arch: &str) -> u32 {
    match machine_arch {
        "x86_64" | "amd64" | "ia32e" | "aarch64" | "ppc64" | "ppc64le" | "ppc64p7" | "s390x" | "riscv64"
        | "loongarch64" | "mips64" | "mips64el" | "mips64r6" | "mips64r6el" | "sparc64" | "sparc64v" => 3,
        "ia64" => 2,
        _ => 0,
    }
}

/// Signature tags and the main-header tags rpm 4.18 renames them to
/// (`xlateTags` in `lib/package.c`): (signature tag, main tag, type,
/// required count or 0 for any, quirk: may also be in the main header).
const SIGNATURE_TAGS: &[(u32, u32, TagType, u32, bool)] = &[
    (SIG_SIZE, SIGSIZE, TagType::Int32, 1, false),
    (SIG_PGP, SIGPGP, TagType::Bin, 0, false),
    (SIG_MD5, SIGMD5, TagType::Bin, 16, false),
    (SIG_GPG, SIGGPG, TagType::Bin, 0, false),
    (SIG_PAYLOADSIZE, ARCHIVESIZE, TagType::Int32, 1, true),
    (SIG_FILESIGNATURES, FILESIGNATURES, TagType::StringArray, 0, true),
    (SIG_FILESIGNATURELENGTH, FILESIGNATURELENGTH, TagType::Int32, 1, true),
    (SIG_VERITYSIGNATURES, VERITYSIGNATURES, TagType::StringArray, 0, false),
    (SIG_VERITYSIGNATUREALGO, VERITYSIGNATUREALGO, TagType::Int32, 1, false),
    (SIG_SHA1, SHA1HEADER, TagType::String, 1, false),
    (SIG_SHA256, SHA256HEADER, TagType::String, 1, false),
    (SIG_DSA, DSAHEADER, TagType::Bin, 0, false),
    (SIG_RSA, RSAHEADER, TagType::Bin, 0, false),
    (SIG_LONGSIZE, LONGSIGSIZE, TagType::Int64, 1, false),
    (SIG_LONGARCHIVESIZE, LONGARCHIVESIZE, TagType::Int64, 1, false),
];

/// rpm adds these at install time; a package must not bring them.
const INSTALL_TAGS: &[u32] = &[FILESTATES, INSTALLTID, INSTALLTIME, INSTALLCOLOR, INSTPREFIXES];

/// Most bytes of headers read from a package: rpm's limits for the
/// signature header (32 tags, 64 MiB) and ours for the main header.
const MAX_SIGNATURE_TAGS: usize = 32;
const MAX_MAIN_TAGS: usize = 0xffff;
const MAX_HEADER_DATA: usize = 64 << 20;
const LEAD_SIZE: usize = 96;

/// A package's headers as read from its `.rpm` file, checked by the rpm
/// reader (structure, signature tags, header digests).
#[derive(Clone)]
pub struct PackageHeaders {
    package: RpmPackage,
    signature: InstalledHeader,
    main: InstalledHeader,
}

impl std::fmt::Debug for PackageHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageHeaders").field("package", &self.package.nevra()).finish()
    }
}

/// Reads one header (intro, index, data) into `out`, bounded by the
/// limits; stops early on a short read or a header over the limits and
/// lets the rpm reader report what is wrong.
fn read_header_bytes(reader: &mut impl Read, out: &mut Vec<u8>, max_tags: usize, pad: bool) -> bool {
    let start = out.len();
    let Ok(n) = reader.take(16).read_to_end(out) else { return false };
    if n < 16 {
        return false;
    }
    let word = |at: usize| {
        let mut v = [0u8; 4];
        v.copy_from_slice(&out[start + at..start + at + 4]);
        u32::from_be_bytes(v) as usize
    };
    let (il, dl) = (word(8), word(12));
    if il > max_tags || dl > MAX_HEADER_DATA {
        return false;
    }
    let mut rest = (il * 16 + dl) as u64;
    if pad {
        rest += ((8 - (16 + il * 16 + dl) % 8) % 8) as u64;
    }
    matches!(reader.take(rest).read_to_end(out), Ok(n) if n as u64 == rest)
}

impl PackageHeaders {
    /// Reads the lead and both headers from the start of a package file.
    /// The payload is not read, so it is not verified here: record only a
    /// package whose content was checked when it was unpacked
    /// ([`crate::rpm::for_each_entry`]).
    pub fn read(mut reader: impl Read) -> Result<PackageHeaders, RpmDbError> {
        let mut bytes = Vec::with_capacity(64 << 10);
        let lead_ok = matches!((&mut reader).take(LEAD_SIZE as u64).read_to_end(&mut bytes), Ok(LEAD_SIZE));
        let sig_start = bytes.len();
        let headers_ok = lead_ok
            && read_header_bytes(&mut reader, &mut bytes, MAX_SIGNATURE_TAGS, true)
            && read_header_bytes(&mut reader, &mut bytes, MAX_MAIN_TAGS, false);
        // The rpm reader checks everything and reports what is wrong,
        // including what made the reads above stop.
        let package = RpmReader::new(&bytes[..]).map_err(RpmDbError::Package)?.into_package();
        if !headers_ok {
            return Err(RpmDbError::PackageHeader { package: package.nevra(), reason: "truncated headers".into() });
        }
        let header_at = |at: usize| -> Result<(InstalledHeader, usize), RpmDbError> {
            let word = |k: usize| {
                let mut v = [0u8; 4];
                v.copy_from_slice(&bytes[at + k..at + k + 4]);
                u32::from_be_bytes(v) as usize
            };
            let end = at + 16 + word(8) * 16 + word(12);
            let header = InstalledHeader::parse(bytes[at + 8..end].to_vec())
                .map_err(|e| RpmDbError::PackageHeader { package: package.nevra(), reason: e.reason })?;
            Ok((header, end))
        };
        let (signature, sig_end) = header_at(sig_start)?;
        let (main, _) = header_at(sig_end.div_ceil(8) * 8)?;
        Ok(PackageHeaders { package, signature, main })
    }

    /// The package as the rpm reader sees it.
    pub fn package(&self) -> &RpmPackage {
        &self.package
    }

    /// The header rpm 4.18 would store for this package installed as `install` says.
    pub fn installed_header(&self, install: &InstallInfo) -> Result<InstalledHeader, RpmDbError> {
        let fail = |reason: String| RpmDbError::PackageHeader { package: self.package.nevra(), reason };
        if self.package.source_package {
            return Err(RpmDbError::SourcePackage { package: self.package.nevra() });
        }
        if self.main.has(OLDFILENAMES) {
            return Err(fail("it lists files in the pre-4.0 format (OLDFILENAMES)".into()));
        }
        if let Some(tag) = INSTALL_TAGS.iter().find(|&&t| self.main.has(t)) {
            return Err(fail(format!("it already carries the install-time tag {tag}")));
        }
        let mut dribbles = signature_dribbles(&self.signature, &self.main).map_err(fail)?;
        if let Some(prefixes) = self.main.get(PREFIXES) {
            dribbles.push(Dribble::copy_of(INSTPREFIXES, &prefixes));
        }
        let file_count = self.main.get(BASENAMES).map_or(0, |e| e.count as usize);
        if file_count > 0 {
            let states: Vec<u8> = match &install.file_states {
                None => vec![FileState::Normal.raw(); file_count],
                Some(states) if states.len() == file_count => states.iter().map(|s| s.raw()).collect(),
                Some(states) => {
                    return Err(fail(format!("{} file states given for {file_count} files", states.len())));
                }
            };
            dribbles.push(Dribble::chars(FILESTATES, &states));
        }
        dribbles.push(Dribble::u32s(INSTALLTID, &[install.tid]));
        dribbles.push(Dribble::u32s(INSTALLTIME, &[install.time]));
        dribbles.push(Dribble::u32s(INSTALLCOLOR, &[install.color]));
        let blob = export_with_dribbles(&self.main, dribbles).map_err(|e| fail(e.reason))?;
        InstalledHeader::parse(blob).map_err(|e| fail(e.reason))
    }

    /// The main header as in the package file, magic included.
    pub fn main_header(&self) -> Vec<u8> {
        let mut out = HEADER_MAGIC.to_vec();
        out.extend_from_slice(self.main.as_bytes());
        out
    }
}

/// `headerMergeLegacySigs`: the signature tags to copy, renamed, or why
/// rpm would refuse the package.
fn signature_dribbles(signature: &InstalledHeader, main: &InstalledHeader) -> Result<Vec<Dribble>, String> {
    for &(sig_tag, main_tag, _, _, quirk) in SIGNATURE_TAGS {
        // A tag may be in either header, never in both; a few (the quirks)
        // may be in the main header when the signature header lacks them.
        let allowed_in_main = quirk && !signature.has(sig_tag);
        if main.has(main_tag) && !allowed_in_main {
            return Err(format!("signature tag {main_tag} is also in the main header"));
        }
    }
    let mut out = Vec::new();
    for &(sig_tag, main_tag, ty, count, _) in SIGNATURE_TAGS {
        let Some(entry): Option<HeaderEntry<'_>> = signature.get(sig_tag) else { continue };
        let invalid = entry.ty != ty || entry.count > 16 << 20 || (count != 0 && entry.count != count);
        if invalid {
            return Err(format!("invalid signature tag {main_tag} ({sig_tag} in the signature header)"));
        }
        out.push(Dribble::copy_of(main_tag, &entry));
    }
    Ok(out)
}
