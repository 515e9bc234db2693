//! An object store in OSTree's repository format, byte for byte: objects,
//! commits, checkouts, refs, fsck, prune, and pull over HTTP.
//!
//! The real `ostree` CLI can read what this writes and the reverse, which
//! makes it this crate's test oracle.

pub mod browse;
pub mod checkout;
pub mod commit;
pub mod diff;
pub mod error;
pub mod failpoint;
pub mod fsck;
pub mod fsutil;
pub mod gvariant;
pub mod mtree;
pub mod objects;
pub mod prune;
pub mod pull;
pub mod refs;
pub mod repo;
pub mod transaction;
mod verified;

pub use checkout::{CheckoutMode, CheckoutOptions};
pub use commit::CommitOptions;
pub use error::{Error, Result};
pub use objects::{Checksum, ObjectType};
pub use repo::{Repo, RepoMode};
