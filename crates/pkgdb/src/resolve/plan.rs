//! What a resolution decided: the packages to add, where each comes from,
//! what it costs to download, and the order in which to configure them.
//! Nothing is fetched or installed here; the plan is shown, then applied.

use std::path::PathBuf;

use super::order::BrokenCycle;

/// The outcome of [`Universe::resolve`](super::Universe::resolve).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// The native architecture resolved for.
    pub architecture: String,
    /// The packages to add, sorted by name.
    pub install: Vec<PlannedPackage>,
    /// The names of `install`, in the order to configure them:
    /// dependencies before the packages that depend on them.
    pub configure_order: Vec<String>,
    /// Dependency cycles among new packages, and where each was broken.
    pub broken_cycles: Vec<BrokenCycle>,
    /// Bytes to download: repository packages (local files are on disk).
    pub download_size: u64,
    /// Requests the base image already satisfies, as written.
    pub satisfied_by_base: Vec<String>,
    /// Conflicts and Breaks between new and base packages that
    /// [`ResolveOptions::allow_base_conflicts`](super::ResolveOptions::allow_base_conflicts)
    /// let through; empty otherwise.
    pub forced_conflicts: Vec<ForcedConflict>,
}

/// One package to add.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub source: PackageSource,
    /// The `.deb`'s size in bytes (repository packages; 0 for local files).
    pub size: u64,
    /// Whether a request named it (rather than a dependency pulling it in).
    pub requested: bool,
}

/// Where a planned package comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PackageSource {
    /// Record `record` of the `index`-th repository index given to the
    /// [`Universe`](super::Universe).
    Repository {
        index: usize,
        record: usize,
        /// The path relative to the archive root, from the index.
        filename: String,
        /// Lowercase hex, from the index.
        sha256: String,
    },
    /// The `index`-th local package given to the universe.
    Local { index: usize, path: PathBuf },
}

/// A relation between a new package and a base package that was allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ForcedConflict {
    /// `name version` of the package declaring the relation.
    pub package: String,
    /// `Conflicts` or `Breaks`.
    pub field: String,
    /// The relation as written, such as `foo (<< 2)`.
    pub relation: String,
    /// `name version` of the package it hits.
    pub hits: String,
}

impl Plan {
    /// The planned package named `name`.
    pub fn get(&self, name: &str) -> Option<&PlannedPackage> {
        self.install.iter().find(|p| p.name == name)
    }
}
