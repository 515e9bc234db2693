//! dpkg's database of installed packages (its "admindir", `ROOT/var/lib/dpkg`),
//! read and written byte for byte as dpkg 1.21 does, so that `dpkg-query`,
//! `dpkg --audit`, `dpkg -V` and apt inside an image see the truth.
//!
//! - [`status`]: the `status` file: its paragraphs, each package's `Status`
//!   and `Conffiles`, lookups by `name` and `name:arch`, state changes, and
//!   the canonical field order and sort order dpkg writes.
//! - [`record`]: a package's status paragraph and info files, built from
//!   its [`ControlInfo`](crate::deb::ControlInfo) and the paths its
//!   `data.tar` installed, as `dpkg --unpack` / `--configure` record them.
//! - [`info`]: the files under `info/` (`PKG.list`, `PKG.md5sums`,
//!   maintainer scripts, ...) and their names (`PKG:ARCH.*` for
//!   `Multi-Arch: same`).
//! - [`admindir`]: the directory itself, through a directory handle that
//!   never follows a symlink: atomic writes (`status-new`, fsync,
//!   `status-old`, rename), the `updates/` journal, trigger interests
//!   (`triggers/File`, `triggers/NAME`), the lock, the layout.
//!
//! Building a record is pure data (plan); [`Admindir`] applies it.

pub mod admindir;
pub mod info;
pub mod record;
pub mod status;
mod triggers;
mod version;

pub use admindir::{Admindir, AdmindirError, AdmindirLock};
pub use info::{InfoFile, info_file_name};
pub use record::{InstalledPayload, PackageRecord, RecordError, md5_hex, read_payload};
pub use status::{ConffileRecord, Flag, NEW_CONFFILE_HASH, State, Status, StatusDb, StatusEntry, StatusError, Want};
pub use version::RelationFormatError;
