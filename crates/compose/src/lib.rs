//! Assembling trees from packages: per-package trees, their union on a
//! base inside the store, maintainer scripts in a sandbox, postprocessing
//! into image form, and imports of root filesystems.

pub mod assemble;
pub mod bootstrap;
pub mod build;
pub mod error;
pub mod failpoint;
pub mod import;
pub mod package_tree;
pub mod packages;
pub mod postprocess;
pub mod rpm_scripts;
pub mod rpmdb;
pub mod sandbox;
pub mod scripts;
pub mod tree;
pub mod treefile;
pub mod triggers;

pub use error::{Error, Result};
