//! An rpm image's packages: rpm-md repositories with their keys (files
//! beside the treefile, on the build machine), the treefile's packages
//! and what they require, one phase. An rpm distribution has no
//! essential set: its `filesystem` and shell packages are requested or
//! required like any other, and the resolver orders them first (as rpm
//! orders a transaction by Requires(pre) and Requires).

use std::path::Path;
use std::time::SystemTime;

use compose::build::Database;
use compose::package_tree;
use compose::treefile::{Repository as TreefileRepository, Treefile};
use pkgdb::apt::{HttpClient, Keyring};
use pkgdb::resolve::rpm::{RpmRepoData, RpmRequest, RpmUniverse};
use pkgdb::resolve::{PackageSource, ResolveOptions};
use pkgdb::rpmmd::repofile::DEFAULT_PRIORITY;
use pkgdb::rpmmd::{CachedRepo, RepoConfig, Repository, update};
use store::Repo;

use super::{Phase, Plans, Prepared, TreeOpts, fetch_packages, refuse_excluded, show_plans, source_date_epoch};

/// Resolves, fetches (checking each package's signature where the
/// repository's `gpgcheck` asks) and imports the packages of `treefile`;
/// `None` after showing the plan of a dry run.
pub fn prepare(
    repo: &Repo,
    treefile: &Treefile,
    opts: &TreeOpts,
    cache: &Path,
    client: &HttpClient,
) -> anyhow::Result<Option<Prepared>> {
    let metadata_cache = cache.join("rpm-md");
    let mut loaded = Vec::new();
    let mut newest = 0;
    for configured in &treefile.repos {
        let TreefileRepository::RpmMd(rpm) = configured else { continue };
        let repository = Repository {
            config: RepoConfig {
                id: rpm.id.clone(),
                name: rpm.id.clone(),
                baseurls: rpm.baseurls.clone(),
                metalink: None,
                mirrorlist: None,
                enabled: true,
                gpgcheck: rpm.gpgcheck,
                repo_gpgcheck: rpm.repo_gpgcheck,
                gpgkeys: rpm.gpgkeys.iter().map(|p| format!("file://{}", p.display())).collect(),
                priority: DEFAULT_PRIORITY,
                file: treefile.path.clone(),
            },
            keys: rpm.gpgkeys.iter().cloned().map(Keyring::File).collect(),
        };
        eprintln!("Updating {}", rpm.id);
        let summary = update(&repository, &metadata_cache, SystemTime::now(), client)?;
        newest = newest.max(summary.timestamp.unwrap_or(0));
        let cached = CachedRepo::open(&repository.config, &metadata_cache)?;
        let primary = cached.primary()?;
        let filelists = cached.filelists()?;
        loaded.push((repository, primary, filelists));
    }
    let timestamp = source_date_epoch()?.unwrap_or(newest);

    eprintln!("Resolving");
    let data: Vec<RpmRepoData<'_>> =
        loaded.iter().map(|(_, primary, filelists)| RpmRepoData { primary, filelists: filelists.as_ref() }).collect();
    let universe = RpmUniverse::new(&treefile.architecture, &[], &data, &[]);
    let requests = treefile.packages.iter().map(|name| RpmRequest::parse(name)).collect::<Result<Vec<_>, _>>()?;
    let plan = universe.resolve(&requests, &ResolveOptions::default())?;
    let plans = Plans { essential: None, rest: plan };
    refuse_excluded(treefile, &plans)?;
    show_plans(treefile, &plans, opts.json)?;
    if opts.dry_run {
        return Ok(None);
    }

    let mut wanted = Vec::new();
    let mut signers = Vec::new();
    for planned in &plans.rest.install {
        if let PackageSource::Repository { index, record, .. } = planned.source {
            let (repository, primary, _) = &loaded[index];
            let Some(package) = primary.get(record) else { anyhow::bail!("the plan names a package the index lacks") };
            wanted.push(package.wanted_file(&repository.config.baseurls)?);
            signers.push(repository);
        }
    }
    let trees = fetch_packages(repo, cache, &wanted, client, &signers, package_tree::import_rpms)?;
    let phases = vec![Phase::new("the packages", &plans.rest, &trees)];
    let requested = plans.rest.install.iter().filter(|p| p.requested).map(|p| p.name.clone()).collect();
    Ok(Some(Prepared { database: Database::Rpm, phases, requested, timestamp, files: Vec::new() }))
}
