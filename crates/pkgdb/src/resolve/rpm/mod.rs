//! rpm dependency resolution: which packages to add to a base image so
//! that the requested ones can be installed, and in which order rpm
//! should install them.
//!
//! The semantics are dnf's with `install_weak_deps=False`, onto a locked
//! base as rpm-ostree layers: the base's packages (from its rpmdb) are
//! never upgraded or removed, except those the user removed (`override
//! remove`), which then count as absent. Candidates are the repositories'
//! packages of the native architecture and `noarch`, and local `.rpm`
//! files, which hide every repository package of their name.
//!
//! Relations follow rpm: every package provides its own name at its EVR;
//! versioned Provides are compared as `rpmdsCompare` does (a missing epoch
//! is 0, a missing release is not compared, an unversioned side matches
//! any version); file requires are satisfied by the package that lists the
//! exact path (no symlinks are followed, as rpm follows none); `rpmlib()`
//! requires always hold; rich dependencies are supported in Requires and
//! Conflicts; Obsoletes match package names only. Conflicts and Obsoletes
//! that hit a base package are refused, since layering cannot remove it,
//! unless [`ResolveOptions::allow_base_conflicts`] lets them through.
//! Recommends, Suggests, Supplements and Enhances are ignored. The
//! highest EVR of a name is preferred, and repository order breaks ties.
//!
//! Where this differs from dnf, it is on purpose or noted here:
//! - Among different packages providing one capability, the base's comes
//!   first, then a local file's, then the package named like the
//!   capability, then the others by name; libsolv weighs more (such as
//!   which other requests a provider helps), so its pick may differ.
//! - A request for a package that another available package obsoletes
//!   installs that package, where dnf installs the obsoleting one instead.
//! - Packages are never installed side by side (`installonlypkgs`): a
//!   kernel in the base keeps repository kernels out.
//! - A base package's broken relations (a Requires nothing in the base
//!   satisfies, a Conflicts that already holds) are left alone.
//! - [`Plan::forced_conflicts`](super::Plan::forced_conflicts) lists plain
//!   Conflicts and Obsoletes only, not rich Conflicts.
//!
//! ```no_run
//! # fn demo(primary: &pkgdb::rpmmd::Primary) -> Result<(), pkgdb::resolve::ResolveError> {
//! use pkgdb::resolve::ResolveOptions;
//! use pkgdb::resolve::rpm::{RpmRepoData, RpmRequest, RpmUniverse};
//! let repos = [RpmRepoData { primary, filelists: None }];
//! let universe = RpmUniverse::new("x86_64", &[], &repos, &[]);
//! let plan = universe.resolve(&[RpmRequest::parse("htop")?], &ResolveOptions::default())?;
//! for package in &plan.install {
//!     println!("{} {}", package.name, package.version);
//! }
//! # Ok(())
//! # }
//! ```

mod explain;
mod formula;
mod provider;
mod solve;
mod universe;

use std::path::PathBuf;

pub use universe::RpmUniverse;

use super::ResolveError;
use crate::rpm::RpmPackage;
use crate::rpmmd::{CachedFileLists, Primary};

/// One repository's metadata, as the resolver reads it.
#[derive(Debug, Clone, Copy)]
pub struct RpmRepoData<'a> {
    pub primary: &'a Primary,
    /// The full file lists, for file requires on paths primary does not
    /// list; without them such a path is provided by base packages only.
    pub filelists: Option<&'a CachedFileLists>,
}

/// A local `.rpm` file to install.
#[derive(Debug, Clone)]
pub struct RpmLocal {
    pub package: RpmPackage,
    /// Shown in the plan ([`PackageSource::Local`](super::PackageSource::Local)).
    pub path: PathBuf,
}

/// One thing the user asked to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpmRequest {
    /// `htop`: the best package of that name; if none has it, the single
    /// package name that provides it (a capability or a file path), as dnf.
    Name(String),
    /// `htop=3.3.0-1.fc40`: that version of the package named `name`; a
    /// version without a release matches every release.
    Evr { name: String, evr: String },
    /// A local `.rpm`: the `index`-th [`RpmLocal`] given to the [`RpmUniverse`].
    Local(usize),
}

impl RpmRequest {
    /// Parses `NAME` or `NAME=[EPOCH:]VERSION[-RELEASE]`.
    pub fn parse(text: &str) -> Result<RpmRequest, ResolveError> {
        let bad = || ResolveError::BadRequest { text: text.to_owned() };
        let (name, evr) = match text.split_once('=') {
            Some((name, evr)) => (name, Some(evr)),
            None => (text, None),
        };
        let valid_name = !name.is_empty()
            && !name.starts_with('(')
            && !name.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '='));
        if !valid_name {
            return Err(bad());
        }
        match evr {
            None => Ok(RpmRequest::Name(name.to_owned())),
            Some(evr) => {
                let parsed = crate::rpmmd::Evr::parse(evr).ok_or_else(bad)?;
                let valid = !parsed.version.is_empty()
                    && !evr.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '='))
                    && evr.matches(':').count() <= 1
                    && evr.matches('-').count() <= 1
                    && !evr.ends_with('-');
                if !valid || name.starts_with('/') {
                    return Err(bad());
                }
                Ok(RpmRequest::Evr { name: name.to_owned(), evr: evr.to_owned() })
            }
        }
    }

    /// The request as the user wrote it (local files by path).
    fn display(&self, universe: &RpmUniverse<'_>) -> String {
        match self {
            RpmRequest::Name(name) => name.clone(),
            RpmRequest::Evr { name, evr } => format!("{name}={evr}"),
            RpmRequest::Local(index) => {
                universe.local().get(*index).map(|l| l.path.display().to_string()).unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests;
