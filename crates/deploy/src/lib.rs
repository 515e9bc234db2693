//! Sysroots and deployments: the /etc three-way merge, /var, boot
//! entries, the atomic swap, rollback and cleanup, and the sysroot lock.
//!
//! Not built yet: this crate is the home of the deployments issue.
