//! Every rpm package a resolution may see, and who provides what: the
//! base's installed packages, local `.rpm` files and the repositories'
//! primary metadata, filtered to the native architecture and `noarch`.
//!
//! Provides are indexed up front. Files are indexed only where some
//! package requires (or conflicts with) that path, as libsolv does, since
//! a base lists hundreds of thousands of files and requires name a few
//! hundred. Paths that primary does not list (createrepo_c keeps only
//! `/etc/...`, `*bin/*` and `/usr/lib/sendmail` there) are looked up in
//! the repositories' filelists once, on the first resolution that needs
//! them, because that streams the whole file.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};

use super::{RpmLocal, RpmRepoData};
use crate::resolve::ResolveError;
use crate::resolve::universe::PackageId;
use crate::rpm::{RichDep, RpmPackage, VersionOp};
use crate::rpmmd::{DepKind, Evr, PackageRef};

/// The packages a resolution can use; see the module documentation.
/// Build it once and resolve many requests against it.
pub struct RpmUniverse<'a> {
    arch: String,
    installed: &'a [RpmPackage],
    local: &'a [RpmLocal],
    repos: Vec<RpmRepoData<'a>>,
    /// Packages by their own name: installed, then local, then repositories
    /// in priority order.
    names: HashMap<&'a str, Vec<PackageId>>,
    /// Capability name (own names included) to the packages providing it.
    provides: HashMap<&'a str, Vec<PackageId>>,
    /// Required paths to the packages listing them, from installed and
    /// local headers and from primary.
    files: HashMap<&'a str, Vec<PackageId>>,
    /// Required paths primary cannot answer for.
    unlisted_paths: BTreeSet<&'a str>,
    /// Owners found in filelists, and the paths already asked for.
    filelist_owners: RefCell<FileListOwners>,
}

#[derive(Default)]
struct FileListOwners {
    /// Requested paths looked up in headers and primary.
    scanned: HashSet<String>,
    /// Paths looked up in filelists.
    asked: HashSet<String>,
    owners: HashMap<String, Vec<PackageId>>,
}

/// A package of any source, as resolution reads it.
#[derive(Clone, Copy)]
pub(crate) enum PackageView<'a> {
    Header(&'a RpmPackage),
    Repo(PackageRef<'a>),
}

/// One relation of a package, borrowed from where it is stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DepView<'a> {
    pub name: &'a str,
    pub op: Option<VersionOp>,
    pub evr: Option<Evr<'a>>,
    /// `Requires(pre)`, `Requires(post)` and the like: ordering must keep it.
    pub pre: bool,
}

impl DepView<'_> {
    /// `rpmlib(...)` features, which every rpm that can read the package has.
    pub fn is_rpmlib(&self) -> bool {
        self.name.starts_with("rpmlib(")
    }

    pub fn is_rich(&self) -> bool {
        RichDep::is_rich(self.name)
    }
}

impl std::fmt::Display for DepView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)?;
        if let (Some(op), Some(evr)) = (self.op, self.evr) {
            write!(f, " {op} {evr}")?;
        }
        Ok(())
    }
}

impl<'a> PackageView<'a> {
    pub fn name(&self) -> &'a str {
        match self {
            PackageView::Header(p) => &p.name,
            PackageView::Repo(p) => p.name,
        }
    }

    pub fn arch(&self) -> &'a str {
        match self {
            PackageView::Header(p) => &p.arch,
            PackageView::Repo(p) => p.arch,
        }
    }

    pub fn evr(&self) -> Evr<'a> {
        match self {
            PackageView::Header(p) => Evr::new(p.epoch.unwrap_or(0), &p.version, Some(&p.release)),
            PackageView::Repo(p) => p.evr(),
        }
    }

    /// `name-[epoch:]version-release.arch`, the epoch only when not 0.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name(), self.evr(), self.arch())
    }

    /// The relations of one kind. A header's version that does not parse
    /// (a non-numeric epoch) compares as its whole text with epoch 0.
    pub fn deps(&self, kind: DepKind) -> Vec<DepView<'a>> {
        match self {
            PackageView::Repo(p) => {
                p.deps(kind).map(|d| DepView { name: d.name, op: d.op, evr: d.evr(), pre: d.pre }).collect()
            }
            PackageView::Header(p) => {
                let list = match kind {
                    DepKind::Provides => &p.provides,
                    DepKind::Requires => &p.requires,
                    DepKind::Conflicts => &p.conflicts,
                    DepKind::Obsoletes => &p.obsoletes,
                    DepKind::Recommends => &p.recommends,
                    DepKind::Suggests => &p.suggests,
                    DepKind::Supplements => &p.supplements,
                    DepKind::Enhances => &p.enhances,
                };
                list.iter()
                    .filter(|d| !d.rpmlib)
                    .map(|d| {
                        let evr = match (d.op, d.version.as_deref()) {
                            (Some(_), Some(text)) => Some(Evr::parse(text).unwrap_or(Evr::new(0, text, None))),
                            _ => None,
                        };
                        DepView {
                            name: &d.name,
                            op: d.op,
                            evr,
                            pre: d.when.iter().any(|w| matches!(*w, "pre" | "post" | "prereq")),
                        }
                    })
                    .collect()
            }
        }
    }
}

/// Whether createrepo_c lists `path` in primary (`cr_is_primary`).
fn primary_lists(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

impl<'a> RpmUniverse<'a> {
    /// `arch` is the native architecture (`x86_64`); only packages of it
    /// and `noarch` are candidates. `installed` are the base's packages
    /// (`gpg-pubkey` entries and headers without an architecture are
    /// skipped); they count whatever their architecture, since they are
    /// on disk. `repos` are in priority order.
    pub fn new(
        arch: &str,
        installed: &'a [RpmPackage],
        repos: &[RpmRepoData<'a>],
        local: &'a [RpmLocal],
    ) -> RpmUniverse<'a> {
        let mut universe = RpmUniverse {
            arch: arch.to_owned(),
            installed,
            local,
            repos: repos.to_vec(),
            names: HashMap::new(),
            provides: HashMap::new(),
            files: HashMap::new(),
            unlisted_paths: BTreeSet::new(),
            filelist_owners: RefCell::new(FileListOwners::default()),
        };
        let mut ids = Vec::new();
        for (i, package) in installed.iter().enumerate() {
            if package.name != "gpg-pubkey" && !package.arch.is_empty() && !package.source_package {
                ids.push(PackageId::Installed(i as u32));
            }
        }
        for (i, local) in local.iter().enumerate() {
            if universe.arch_fits(&local.package.arch) && !local.package.source_package {
                ids.push(PackageId::Local(i as u32));
            }
        }
        for (index, repo) in repos.iter().enumerate() {
            for (record, package) in repo.primary.iter().enumerate() {
                if universe.arch_fits(package.arch) {
                    ids.push(PackageId::Repository { index: index as u32, record: record as u32 });
                }
            }
        }

        // Paths anybody requires or conflicts with, rich dependencies included.
        let mut paths: HashSet<&'a str> = HashSet::new();
        for &id in &ids {
            let view = universe.view(id);
            for kind in [DepKind::Requires, DepKind::Conflicts] {
                for dep in view.deps(kind) {
                    if dep.name.starts_with('/') {
                        paths.insert(dep.name);
                    } else if dep.is_rich() {
                        if let Ok(rich) = RichDep::parse(dep.name) {
                            let mut atoms = Vec::new();
                            rich_atoms(&rich, &mut atoms);
                            for atom in atoms {
                                if atom.starts_with('/') {
                                    // Borrowed from the dependency's own text.
                                    if let Some(at) = dep.name.find(atom) {
                                        paths.insert(&dep.name[at..at + atom.len()]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        for &id in &ids {
            let view = universe.view(id);
            universe.names.entry(view.name()).or_default().push(id);
            let add = |map: &mut HashMap<&'a str, Vec<PackageId>>, name: &'a str| {
                let list = map.entry(name).or_default();
                if list.last() != Some(&id) {
                    list.push(id);
                }
            };
            add(&mut universe.provides, view.name());
            for dep in view.deps(DepKind::Provides) {
                add(&mut universe.provides, dep.name);
            }
            match view {
                PackageView::Header(p) => {
                    for file in &p.files {
                        let path = file.path.to_absolute();
                        if let Some(&path) = paths.get(path.as_str()) {
                            add(&mut universe.files, path);
                        }
                    }
                }
                PackageView::Repo(p) => {
                    for file in p.files() {
                        if paths.contains(file.path) {
                            add(&mut universe.files, file.path);
                        }
                    }
                }
            }
        }
        universe.unlisted_paths = paths.into_iter().filter(|p| !primary_lists(p)).collect();
        universe
    }

    pub fn arch(&self) -> &str {
        &self.arch
    }

    pub(crate) fn arch_fits(&self, arch: &str) -> bool {
        arch == self.arch || arch == "noarch"
    }

    pub(crate) fn local(&self) -> &'a [RpmLocal] {
        self.local
    }

    pub(crate) fn repo(&self, index: u32) -> Option<&RpmRepoData<'a>> {
        self.repos.get(index as usize)
    }

    /// The installed packages that take part (not `gpg-pubkey`, not arch-less).
    pub(crate) fn installed_ids(&self) -> impl Iterator<Item = PackageId> + '_ {
        self.installed
            .iter()
            .enumerate()
            .filter(|(_, p)| p.name != "gpg-pubkey" && !p.arch.is_empty() && !p.source_package)
            .map(|(i, _)| PackageId::Installed(i as u32))
    }

    pub(crate) fn view(&self, id: PackageId) -> PackageView<'a> {
        match id {
            PackageId::Installed(i) => PackageView::Header(&self.installed[i as usize]),
            PackageId::Local(i) => PackageView::Header(&self.local[i as usize].package),
            PackageId::Repository { index, record } => {
                // Ids are only made from records that exist.
                let package = self.repos[index as usize].primary.get(record as usize);
                PackageView::Repo(package.unwrap_or_else(|| unreachable!()))
            }
        }
    }

    /// Packages named `name`.
    pub(crate) fn named(&self, name: &str) -> &[PackageId] {
        self.names.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every package that may provide capability `name`: by a Provides
    /// entry, by its own name, or by listing the path. Callers still check
    /// versions.
    pub(crate) fn providers(&self, name: &str) -> Vec<PackageId> {
        let mut out: Vec<PackageId> = self.provides.get(name).cloned().unwrap_or_default();
        if name.starts_with('/') {
            let extra = self.files.get(name).into_iter().flatten().copied();
            let owners = self.filelist_owners.borrow();
            let more = owners.owners.get(name).into_iter().flatten().copied();
            for id in extra.chain(more) {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }

    /// Whether `package` lists the file `path` (for file provides).
    pub(crate) fn lists_file(&self, package: PackageId, path: &str) -> bool {
        self.files.get(path).is_some_and(|l| l.contains(&package))
            || self.filelist_owners.borrow().owners.get(path).is_some_and(|l| l.contains(&package))
    }

    /// Every package name, for suggestions (provided names are mostly
    /// sonames and paths, which make poor ones).
    pub(crate) fn all_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.names.keys().copied()
    }

    /// Finds the owners of the paths the index does not answer for: the
    /// required paths primary does not list, and `requested` paths (which
    /// nobody may require, so the headers and primary are searched for
    /// them too). Each repository's filelists is read at most once per
    /// call, only for paths no kept base package provides (`kept` says
    /// which installed packages are kept), and never twice for a path.
    pub(crate) fn load_file_owners(
        &self,
        requested: &[&str],
        kept: impl Fn(PackageId) -> bool,
    ) -> Result<(), ResolveError> {
        let unscanned: Vec<&str> = {
            let owners = self.filelist_owners.borrow();
            requested
                .iter()
                .copied()
                .filter(|p| p.starts_with('/') && !self.files.contains_key(p) && !owners.scanned.contains(*p))
                .collect()
        };
        if !unscanned.is_empty() {
            let mut found: Vec<(String, PackageId)> = Vec::new();
            let headers = self
                .installed_ids()
                .chain((0..self.local.len() as u32).map(PackageId::Local))
                .filter(|id| self.arch_fits(self.view(*id).arch()) || matches!(id, PackageId::Installed(_)));
            for id in headers {
                if let PackageView::Header(p) = self.view(id) {
                    for file in &p.files {
                        let path = file.path.to_absolute();
                        if unscanned.contains(&path.as_str()) {
                            found.push((path, id));
                        }
                    }
                }
            }
            for (index, repo) in self.repos.iter().enumerate() {
                for (record, package) in repo.primary.iter().enumerate() {
                    if !self.arch_fits(package.arch) {
                        continue;
                    }
                    for file in package.files() {
                        if unscanned.contains(&file.path) {
                            let id = PackageId::Repository { index: index as u32, record: record as u32 };
                            found.push((file.path.to_owned(), id));
                        }
                    }
                }
            }
            let mut owners = self.filelist_owners.borrow_mut();
            owners.scanned.extend(unscanned.iter().map(|p| (*p).to_owned()));
            for (path, id) in found {
                let list = owners.owners.entry(path).or_default();
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }

        let wanted: Vec<&str> = {
            let owners = self.filelist_owners.borrow();
            self.unlisted_paths
                .iter()
                .copied()
                .chain(requested.iter().copied().filter(|p| p.starts_with('/') && !primary_lists(p)))
                .filter(|p| !owners.asked.contains(*p))
                .collect::<BTreeSet<&str>>()
                .into_iter()
                .collect()
        };
        let wanted: Vec<&str> = wanted
            .into_iter()
            .filter(|p| !self.providers(p).into_iter().any(|id| matches!(id, PackageId::Installed(_)) && kept(id)))
            .collect();
        if wanted.is_empty() || self.repos.iter().all(|r| r.filelists.is_none()) {
            return Ok(());
        }
        let mut found: HashMap<String, Vec<PackageId>> = HashMap::new();
        for (index, repo) in self.repos.iter().enumerate() {
            let Some(filelists) = repo.filelists else { continue };
            let owners = filelists.owners(&wanted).map_err(|source| ResolveError::FileLists { repo: index, source })?;
            let by_pkgid: HashMap<&str, usize> = repo
                .primary
                .iter()
                .enumerate()
                .filter(|(_, p)| self.arch_fits(p.arch))
                .map(|(i, p)| (p.checksum, i))
                .collect();
            for (path, pkgids) in owners {
                for pkgid in pkgids {
                    if let Some(&record) = by_pkgid.get(pkgid.as_str()) {
                        let id = PackageId::Repository { index: index as u32, record: record as u32 };
                        let list = found.entry(path.clone()).or_default();
                        if !list.contains(&id) {
                            list.push(id);
                        }
                    }
                }
            }
        }
        let mut owners = self.filelist_owners.borrow_mut();
        owners.asked.extend(wanted.iter().map(|p| (*p).to_owned()));
        for (path, ids) in found {
            let list = owners.owners.entry(path).or_default();
            for id in ids {
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
        Ok(())
    }
}

/// The names of a rich dependency's atoms.
pub(crate) fn rich_atoms<'r>(rich: &'r RichDep, out: &mut Vec<&'r str>) {
    match rich {
        RichDep::Atom(atom) => out.push(&atom.name),
        RichDep::And { args } | RichDep::Or { args } | RichDep::With { args } => {
            for arg in args {
                rich_atoms(arg, out);
            }
        }
        RichDep::Without { left, right } => {
            rich_atoms(left, out);
            rich_atoms(right, out);
        }
        RichDep::If { then, condition, otherwise } | RichDep::Unless { then, condition, otherwise } => {
            rich_atoms(then, out);
            rich_atoms(condition, out);
            if let Some(otherwise) = otherwise {
                rich_atoms(otherwise, out);
            }
        }
    }
}
