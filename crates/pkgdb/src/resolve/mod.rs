//! Debian dependency resolution: which packages to add to a base image so
//! that the requested ones can be installed, and in which order to
//! configure them.
//!
//! The base image's packages are locked: layering never upgrades or
//! removes one, except those the user removed (`override remove`), which
//! then count as absent. The candidates are the repository indexes (in
//! priority order) and local `.deb` files, which replace every repository
//! version of their name. Only packages of the native architecture and
//! `all` are candidates.
//!
//! The semantics are apt's for `apt-get install --no-install-recommends`:
//! Depends and Pre-Depends with alternatives (the first satisfiable one is
//! preferred), versioned relations, virtual and versioned Provides,
//! Conflicts and Breaks, and Multi-Arch `:any`; the highest version of a
//! package is preferred, and an installed package always satisfies with
//! its installed version. Recommends and Suggests are not installed.
//! Essential packages are not pulled in implicitly (apt does not either);
//! removing one from the base is refused.
//!
//! ```no_run
//! # fn demo(index: &pkgdb::apt::PackageIndex) -> Result<(), pkgdb::resolve::ResolveError> {
//! use pkgdb::resolve::{Request, ResolveOptions, Universe};
//! let universe = Universe::new("amd64", &[], &[index], &[]);
//! let plan = universe.resolve(&[Request::parse("htop")?], &ResolveOptions::default())?;
//! for package in &plan.install {
//!     println!("{} {}", package.name, package.version);
//! }
//! # Ok(())
//! # }
//! ```

mod debian;
mod explain;
mod installed;
mod order;
mod plan;
pub mod rpm;
mod solve;
mod universe;

use std::collections::BTreeSet;

pub use installed::{InstalledPackage, LocalPackage};
pub use order::BrokenCycle;
pub use plan::{ForcedConflict, PackageSource, Plan, PlannedPackage};
pub use universe::Universe;

use crate::deb::{Version, VersionError};

/// One thing the user asked to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `htop`: the best candidate of the package (or, for a virtual
    /// package with a single provider, that provider).
    Name(String),
    /// `htop=3.2.2-2`: exactly this version of the real package.
    Version { name: String, version: Version },
    /// A local `.deb`: the `index`-th [`LocalPackage`] given to the
    /// [`Universe`].
    Local(usize),
}

impl Request {
    /// Parses `NAME` or `NAME=VERSION`.
    pub fn parse(text: &str) -> Result<Request, ResolveError> {
        let bad = || ResolveError::BadRequest { text: text.to_owned() };
        let (name, version) = match text.split_once('=') {
            Some((name, version)) => (name, Some(version)),
            None => (text, None),
        };
        let valid_name = name.len() >= 2
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_name {
            return Err(bad());
        }
        match version {
            None => Ok(Request::Name(name.to_owned())),
            Some(version) => {
                let version = Version::parse(version)
                    .map_err(|source| ResolveError::BadRequestVersion { text: text.to_owned(), source })?;
                Ok(Request::Version { name: name.to_owned(), version })
            }
        }
    }
}

/// What may change per resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveOptions {
    /// Base packages removed with `override remove`. They count as absent;
    /// a package that still needs one makes the resolution fail, naming it.
    pub removed: BTreeSet<String>,
    /// Of `removed`, the base packages a local file replaces (`override
    /// replace`): the local package of the same name may be requested.
    pub replaced: BTreeSet<String>,
    /// Let a new package conflict with (or break) a base package, and a
    /// base package conflict with a new one. Off by default: such a
    /// request is refused (SECURITY.md 28), because layering cannot remove
    /// or upgrade the base package that apt would. When on, both stay
    /// installed and the plan lists each such relation in
    /// [`Plan::forced_conflicts`], for the caller to show as a warning.
    pub allow_base_conflicts: bool,
    /// Allow removing `Essential: yes` base packages (dpkg's
    /// `--force-remove-essential`). Off by default.
    pub allow_remove_essential: bool,
}

/// Every way a resolution can fail.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("`{text}` is not a package request\nhint: write `NAME` or `NAME=VERSION`")]
    BadRequest { text: String },
    #[error("`{text}` is not a package request")]
    BadRequestVersion {
        text: String,
        #[source]
        source: VersionError,
    },
    #[error("package `{name}` not found in the configured repositories{}", did_you_mean(suggestion))]
    NotFound { name: String, suggestion: Option<String> },
    #[error(
        "version `{version}` of package `{name}` is not available\nhint: available versions: {}",
        available.join(", ")
    )]
    VersionNotFound { name: String, version: String, available: Vec<String> },
    #[error(
        "`{name}` is a virtual package provided by several packages: {}\nhint: request one of them",
        providers.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    )]
    VirtualRequest { name: String, providers: Vec<String> },
    #[error("package `{name}` was removed from the base with `override remove`, so it cannot be requested too")]
    RequestsRemoved { name: String },
    #[error("`{name}` cannot be removed: the base does not have it installed")]
    RemovedNotInstalled { name: String },
    #[error("`{name}` cannot be removed: it is an Essential package, which everything may use without declaring it")]
    RemovesEssential { name: String },
    #[error("there is no local package number {index} (only {count} were given)")]
    NoSuchLocal { index: usize, count: usize },
    #[error("`{}` is for architecture `{architecture}`, not `{native}` or `all`", path.display())]
    LocalArchitecture { path: std::path::PathBuf, architecture: String, native: String },
    #[error(
        "the request cannot be satisfied:\n{}{}",
        indent(problems),
        if *base_conflict { "\nhint: a conflict with a base package can be allowed (`allow_base_conflicts`), at your own risk" } else { "" }
    )]
    Unsatisfiable { problems: Vec<String>, base_conflict: bool },
    #[error("the packages {} pre-depend on each other in a cycle, so no order can install them", cycle.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))]
    PreDependsCycle { cycle: Vec<String> },
    #[error("the dpkg status entry of `{package}` is invalid: {reason}")]
    BadStatusEntry { package: String, reason: String },
    #[error("the solver was cancelled")]
    Cancelled,
    #[error("`{}` is for architecture `{architecture}`, not `{native}` or `noarch`", path.display())]
    RpmLocalArchitecture { path: std::path::PathBuf, architecture: String, native: String },
    #[error("the file lists of repository number {repo} cannot be read")]
    FileLists {
        repo: usize,
        #[source]
        source: crate::rpmmd::RpmmdError,
    },
    #[error(
        "`{package}` is checksummed with `{checksum_type}` in its repository, and only sha256 is accepted\nhint: regenerate the repository metadata with sha256 checksums"
    )]
    PackageChecksum { package: String, checksum_type: String },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!("\nhint: did you mean `{name}`?"),
        None => String::new(),
    }
}

fn indent(problems: &[String]) -> String {
    problems
        .iter()
        .map(|p| p.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"))
        .collect::<Vec<_>>()
        .join("\n\n")
}
