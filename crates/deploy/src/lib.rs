//! Sysroots and deployments in OSTree's layout: staging a deployment from
//! a commit (hardlink checkout, the /etc three-way merge, the stateroot's
//! /var), the atomic switch of boot state, rollback, pins, cleanup, and
//! the sysroot lock.
//!
//! The boot entries under `boot/loader/entries` are the list of
//! deployments, as they are for ostree: `ostree admin status` and
//! `layer status` read the same files.

pub mod bootconfig;
mod bootswap;
mod cleanup;
pub mod error;
pub mod etc;
pub mod failpoint;
pub mod kernel;
pub mod keyfile;
mod stage;
pub mod sysroot;
pub mod tmpfiles;

pub use cleanup::CleanupStats;
pub use error::{Error, Result};
pub use keyfile::KeyFile;
pub use sysroot::{Deployment, State, Sysroot, SysrootLock};
