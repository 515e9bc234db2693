//! Assembling trees from packages: per-package trees, their union on a
//! base inside the store, maintainer scripts in a sandbox, postprocessing
//! into image form, and imports of root filesystems.

pub mod sandbox;
