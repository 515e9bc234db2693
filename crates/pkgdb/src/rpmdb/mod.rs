//! rpm's database of installed packages (the rpmdb), in rpm 4.18's sqlite
//! format, read and written as rpm writes it, so that `rpm -qa`, `rpm -V`,
//! `rpm -qf` and dnf inside an image tell the truth.
//!
//! - [`header`]: header blobs as stored: parsing, and rpm's export layout
//!   (the package's signed main header, then the install-time tags).
//! - [`install`]: the header rpm records for an installed package, from
//!   the package file's headers ([`PackageHeaders`], [`InstallInfo`]).
//! - [`index`]: the index tables and the rows rpm puts in them.
//! - [`sqlite`]: the database itself ([`RpmDb`]), in memory.
//! - [`disk`]: `ROOT/usr/lib/sysimage/rpm/rpmdb.sqlite` through a
//!   directory handle ([`RpmDbDir`]), replaced with one rename.
//!
//! One deliberate difference from rpm: rpm keeps the database in WAL mode
//! with persistent `-wal` and `-shm` files; we write it in rollback-journal
//! mode without them. An image's `/usr` is read-only, and sqlite can read
//! a rollback-mode database there as any user, while a WAL one needs its
//! `-shm` file (whose content also varies from build to build). rpm
//! switches the database back to WAL the next time it writes to it.

pub mod disk;
pub mod header;
pub mod index;
pub mod install;
pub mod sqlite;
mod tags;

use std::io;

pub use disk::{RPMDB_FILE, RPMDB_IN_ROOT, RpmDbDir};
pub use header::{HeaderEntry, HeaderError, InstalledHeader, TagType, TagValue};
pub use index::{ByteOrder, Index, IndexRow};
pub use install::{FileState, InstallInfo, PackageHeaders, transaction_color};
pub use sqlite::RpmDb;

use crate::rpm::{RpmError, RpmPackage};
use header::{Dribble, write_header};

#[derive(Debug, thiserror::Error)]
pub enum RpmDbError {
    #[error("the rpmdb is not an sqlite database")]
    NotSqlite,
    #[error(
        "the rpmdb has no `Packages` table\nhint: it may be an older (Berkeley DB or ndb) rpmdb; convert it with `rpmdb --rebuilddb`"
    )]
    NoPackagesTable,
    #[error(
        "`{file}` holds changes that are not yet in `rpmdb.sqlite`\nhint: let rpm finish them: `rpmdb --root ROOT --rebuilddb`"
    )]
    PendingJournal { file: &'static str },
    #[error("sqlite failed while {action}")]
    Sqlite {
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("rpmdb row {rowid} is not a valid header number")]
    HeaderNumber { rowid: i64 },
    #[error("the header of installed package {hnum} is malformed")]
    InstalledHeader {
        hnum: u32,
        #[source]
        source: HeaderError,
    },
    #[error("installed package {hnum} has no {tag}")]
    MissingTag { hnum: u32, tag: &'static str },
    #[error("cannot read the package's headers")]
    Package(#[source] RpmError),
    #[error("cannot record `{package}` as installed: {reason}")]
    PackageHeader { package: String, reason: String },
    #[error("`{package}` is a source package, which is never installed")]
    SourcePackage { package: String },
    #[error("cannot {action} `{path}` in the rpmdb directory")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// An installed package: its identity and its installed header.
#[derive(Debug, Clone)]
pub struct InstalledPackage {
    /// The header number, rpm's primary key (`Packages.hnum`).
    pub hnum: u32,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    /// `None` for headers without one (`gpg-pubkey`).
    pub arch: Option<String>,
    pub header: InstalledHeader,
}

impl InstalledPackage {
    fn from_blob(hnum: u32, blob: Vec<u8>) -> Result<InstalledPackage, RpmDbError> {
        let header = InstalledHeader::parse(blob).map_err(|source| RpmDbError::InstalledHeader { hnum, source })?;
        InstalledPackage::from_header(hnum, header)
    }

    fn from_header(hnum: u32, header: InstalledHeader) -> Result<InstalledPackage, RpmDbError> {
        let text = |tag: u32, what: &'static str| -> Result<String, RpmDbError> {
            header
                .string(tag)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .ok_or(RpmDbError::MissingTag { hnum, tag: what })
        };
        Ok(InstalledPackage {
            hnum,
            name: text(tags::NAME, "NAME")?,
            version: text(tags::VERSION, "VERSION")?,
            release: text(tags::RELEASE, "RELEASE")?,
            epoch: header.u32_one(tags::EPOCH),
            arch: header.string(tags::ARCH).map(|s| String::from_utf8_lossy(s).into_owned()),
            header,
        })
    }

    /// `name-[epoch:]version-release[.arch]`, as `rpm -qa` prints it.
    pub fn nevra(&self) -> String {
        let epoch = self.epoch.map(|e| format!("{e}:")).unwrap_or_default();
        let arch = self.arch.as_ref().map(|a| format!(".{a}")).unwrap_or_default();
        format!("{}-{epoch}{}-{}{arch}", self.name, self.version, self.release)
    }

    /// The package as the rpm reader reads it from its immutable main
    /// header (dependencies, scriptlets, the file list...), after checking
    /// that header against the installed `SHA256HEADER`/`SHA1HEADER`.
    pub fn package(&self) -> Result<RpmPackage, RpmDbError> {
        let hnum = self.hnum;
        let main = self.header.immutable_header().ok_or_else(|| RpmDbError::InstalledHeader {
            hnum,
            source: HeaderError { reason: "no immutable region".into() },
        })?;
        // A package file around it: a lead and a signature header holding
        // the installed header digests, which the reader checks.
        let mut lead = [0u8; 96];
        lead[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        lead[4] = 3;
        lead[78..80].copy_from_slice(&5u16.to_be_bytes());
        let nevra = self.nevra();
        let name = &nevra.as_bytes()[..nevra.len().min(65)];
        lead[10..10 + name.len()].copy_from_slice(name);
        let mut digests = Vec::new();
        for (tag, sig_tag) in [(tags::SHA1HEADER, tags::SIG_SHA1), (tags::SHA256HEADER, tags::SIG_SHA256)] {
            if let Some(entry) = self.header.get(tag).filter(|e| e.ty == TagType::String) {
                digests.push(Dribble::copy_of(sig_tag, &entry));
            }
        }
        let mut file = lead.to_vec();
        file.extend_from_slice(&write_header(tags::HEADER_SIGNATURES, &digests));
        file.resize(file.len().div_ceil(8) * 8, 0);
        file.extend_from_slice(&main);
        crate::rpm::read_header(&file[..]).map_err(RpmDbError::Package)
    }
}
