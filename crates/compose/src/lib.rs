//! Assembling trees from packages: per-package trees, union, maintainer
//! scripts in a sandbox, postprocessing, treefiles, and imports.
//!
//! Not built yet: this crate is the home of the layering and compose issues.
