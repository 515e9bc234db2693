//! Packages and their repositories: `.deb` and `.rpm` reading, apt and
//! rpm-md metadata, signature checks, dependency resolution, and the
//! installed-package databases (dpkg status, rpmdb).
//!
//! Readers take `impl Read` and know nothing of the filesystem or the
//! network; every payload becomes a list of validated [`entry::Entry`]s
//! before anything is written anywhere.

pub mod apt;
mod cache_generation;
pub mod control;
pub mod deb;
pub mod dpkg;
pub mod entry;
pub mod fetch;
pub mod http;
pub mod resolve;
pub mod rpm;
pub mod rpmdb;
pub mod rpmmd;
