//! Resolving a request against the base image's package database and the
//! image's own repositories: apt's for a dpkg image, rpm-md's for an rpm
//! one. Both end in the same [`Resolved`]: the plan, what to download and
//! how to check it, and the base's packages.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use compose::build::Database;
use compose::package_tree::{self, PackageTree};
use compose::packages::{DPKG_ADMINDIR, Package};
use pkgdb::apt::HttpClient;
use pkgdb::fetch::WantedFile;
use pkgdb::resolve::rpm::{RpmLocal, RpmRepoData, RpmRequest, RpmUniverse};
use pkgdb::resolve::{InstalledPackage, LocalPackage, PackageSource, Plan, ResolveError, ResolveOptions, Universe};
use pkgdb::rpm::RpmPackage;
use store::Checksum;
use store::repo::Repo;

use super::{ApplyOpts, repos, rpm_repos};
use crate::cli::UserError;
use crate::request::Request;

/// A request resolved: what to add, and from where.
pub struct Resolved {
    pub database: Database,
    pub plan: Plan,
    /// The base's packages, less the removed ones.
    pub base_packages: Vec<Package>,
    /// The repository packages of the plan, in plan order.
    pub wanted: Vec<WantedFile>,
    /// For each of `wanted`, the rpm-md repository whose signature policy
    /// (`gpgcheck`) it must pass; `None` for apt, whose packages the
    /// signed index vouches for.
    pub signers: Vec<Option<pkgdb::rpmmd::Repository>>,
    /// The local packages of the request (`install ./file`, `override
    /// replace`), loaded from the store.
    pub local_trees: Vec<PackageTree>,
    /// The base packages taken out (`override remove` and `replace`).
    pub removed: Vec<String>,
}

/// Resolves `request` for the image at `root` (whose repositories are
/// used) built on `base`, caching metadata in `cache`.
pub fn resolve(
    repo: &Repo,
    root: &Path,
    base: &Checksum,
    cache: &Path,
    request: &Request,
    opts: &ApplyOpts,
    client: &HttpClient,
) -> anyhow::Result<Resolved> {
    let mut local_trees = Vec::new();
    for local in request.local.iter().chain(&request.replaced) {
        let commit = repo.refs().read(&local.reference)?.ok_or_else(|| {
            UserError(format!(
                "the local package `{}` is no longer in the store\nhint: install the file again",
                local.reference
            ))
        })?;
        local_trees.push(package_tree::load(repo, &local.reference, &commit)?);
    }
    let removed: Vec<String> =
        request.removed.iter().cloned().chain(request.replaced.iter().map(|r| r.name())).collect();
    let options = ResolveOptions {
        removed: removed.iter().cloned().collect(),
        replaced: request.replaced.iter().map(|r| r.name()).collect(),
        allow_base_conflicts: opts.force_replace || request.forces_replace(),
        ..Default::default()
    };
    let database = Database::of_commit(repo, base)?.unwrap_or(Database::Dpkg);
    let resolved = match database {
        Database::Dpkg => resolve_deb(repo, root, base, cache, request, opts, client, local_trees, &options),
        Database::Rpm => resolve_rpm(repo, root, base, cache, request, opts, client, local_trees, &options),
    };
    let mut resolved = resolved.map_err(|e| match e.downcast::<ResolveError>() {
        // The resolver's hint names its own option; the user's is a flag.
        Ok(ResolveError::Unsatisfiable { problems, base_conflict: true }) => {
            let text = ResolveError::Unsatisfiable { problems, base_conflict: false }.to_string();
            anyhow::Error::new(UserError(format!(
                "{text}\nhint: layering cannot remove or upgrade a base package; pass `--force-replace` to install \
                 beside it anyway, at your own risk"
            )))
        }
        Ok(e) => e.into(),
        Err(e) => e,
    })?;
    resolved.removed = removed;
    Ok(resolved)
}

#[allow(clippy::too_many_arguments)]
fn resolve_deb(
    repo: &Repo,
    root: &Path,
    base: &Checksum,
    cache: &Path,
    request: &Request,
    opts: &ApplyOpts,
    client: &HttpClient,
    local_trees: Vec<PackageTree>,
    options: &ResolveOptions,
) -> anyhow::Result<Resolved> {
    let installed = installed_debs(repo, base)?;
    let repositories = repos::load(root, &cache.join("apt"), opts.cache_only, client)?;
    let indexes: Vec<(&repos::Repository, &pkgdb::apt::PackageIndex)> =
        repositories.iter().flat_map(|r| r.indexes.iter().map(move |i| (r, i))).collect();
    let index_refs: Vec<&pkgdb::apt::PackageIndex> = indexes.iter().map(|(_, i)| *i).collect();
    let mut locals = Vec::new();
    for tree in &local_trees {
        locals.push(LocalPackage::from_control(&tree.deb_meta()?.control, &tree.reference));
    }
    let universe = Universe::new("amd64", &installed, &index_refs, &locals);
    let mut requests = Vec::new();
    for text in &request.packages {
        requests.push(pkgdb::resolve::Request::parse(text)?);
    }
    requests.extend((0..locals.len()).map(pkgdb::resolve::Request::Local));
    let plan = universe.resolve(&requests, options)?;
    let wanted = repos::wanted_files(&plan.install, &indexes);
    let base_packages = installed
        .iter()
        .filter(|p| !options.removed.contains(&p.name))
        .map(|p| Package { name: p.name.clone(), version: p.version.clone(), architecture: p.architecture.clone() })
        .collect();
    let signers = vec![None; wanted.len()];
    Ok(Resolved { database: Database::Dpkg, plan, base_packages, wanted, signers, local_trees, removed: Vec::new() })
}

#[allow(clippy::too_many_arguments)]
fn resolve_rpm(
    repo: &Repo,
    root: &Path,
    base: &Checksum,
    cache: &Path,
    request: &Request,
    opts: &ApplyOpts,
    client: &HttpClient,
    local_trees: Vec<PackageTree>,
    options: &ResolveOptions,
) -> anyhow::Result<Resolved> {
    let installed = installed_rpms(repo, base)?;
    let repositories = rpm_repos::load(root, &cache.join("rpm-md"), opts.cache_only, client)?;
    let data: Vec<RpmRepoData<'_>> =
        repositories.iter().map(|r| RpmRepoData { primary: &r.primary, filelists: r.filelists.as_ref() }).collect();
    let mut locals = Vec::new();
    for tree in &local_trees {
        locals.push(RpmLocal { package: tree.rpm_meta()?.package.clone(), path: PathBuf::from(&tree.reference) });
    }
    let packages: Vec<RpmPackage> = installed.iter().map(|(p, _)| p.clone()).collect();
    let universe = RpmUniverse::new(compose::rpmdb::MACHINE_ARCH, &packages, &data, &locals);
    let mut requests = Vec::new();
    for text in &request.packages {
        requests.push(RpmRequest::parse(text)?);
    }
    requests.extend((0..locals.len()).map(RpmRequest::Local));
    let plan = universe.resolve(&requests, options)?;
    let mut wanted = Vec::new();
    let mut signers = Vec::new();
    for planned in &plan.install {
        if let PackageSource::Repository { index, record, .. } = planned.source {
            let repository = &repositories[index];
            let package = repository.primary.get(record).context("the plan names a package the index lacks")?;
            wanted.push(package.wanted_file(&repository.repository.config.baseurls)?);
            signers.push(Some(repository.repository.clone()));
        }
    }
    let base_packages =
        installed.into_iter().filter(|(p, _)| !options.removed.contains(&p.name)).map(|(_, p)| p).collect();
    Ok(Resolved { database: Database::Rpm, plan, base_packages, wanted, signers, local_trees, removed: Vec::new() })
}

/// The installed packages of the base, from its dpkg database.
fn installed_debs(repo: &Repo, commit: &Checksum) -> anyhow::Result<Vec<InstalledPackage>> {
    let Some(text) = read_base_file(repo, commit, &format!("/{DPKG_ADMINDIR}/status"))? else { return Ok(Vec::new()) };
    let paragraphs = pkgdb::control::parse_paragraphs(&text, pkgdb::control::Syntax::Strict)
        .context("reading the base image's dpkg status")?;
    Ok(InstalledPackage::from_status_file(&paragraphs)?)
}

/// The installed packages of the base, from its rpmdb, each with the
/// package as `layer.packages` lists it.
fn installed_rpms(repo: &Repo, commit: &Checksum) -> anyhow::Result<Vec<(RpmPackage, Package)>> {
    let Some(bytes) = read_base_file(repo, commit, &format!("/{}", compose::rpmdb::path()))? else {
        return Ok(Vec::new());
    };
    let db = pkgdb::rpmdb::RpmDb::from_bytes(&bytes).context("reading the base image's rpmdb")?;
    let mut out = Vec::new();
    for installed in db.packages().context("reading the base image's rpmdb")? {
        let Some(arch) = installed.arch.clone() else { continue };
        let package = installed.package().with_context(|| format!("reading `{}` in the rpmdb", installed.nevra()))?;
        let version = package_tree::rpm::evr(&package);
        out.push((package, Package { name: installed.name.clone(), version, architecture: arch }));
    }
    Ok(out)
}

/// A regular file of the base commit, if it has one at `path`.
fn read_base_file(repo: &Repo, commit: &Checksum, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let node = match repo.lookup(commit, path) {
        Ok(node) => node,
        Err(store::Error::NoSuchPath { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let store::browse::Node::File(checksum) = node else { anyhow::bail!("`{path}` of the base is a directory") };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut repo.open_content(&checksum)?.reader, &mut bytes)?;
    Ok(Some(bytes))
}
