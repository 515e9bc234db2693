//! A Debian image's packages: apt repositories with their keyrings,
//! Debian's bootstrap sets, two phases.
//!
//! Debian's bootstrap order, as `mmdebstrap` and `debootstrap` do it:
//! 1. the essential set (every `Essential: yes` package and what it
//!    depends on) is unpacked, then configured in dependency order;
//! 2. the rest (`Priority: required` and `apt` for `minbase`, and the
//!    treefile's packages) is installed onto it, as `apt-get install
//!    --no-install-recommends` would.
//!
//! The second phase starts from the first's commit, so nothing of the
//! rest runs before the essential set is configured.

use std::time::UNIX_EPOCH;

use compose::build::Database;
use compose::package_tree;
use compose::treefile::{Bootstrap, Repository as TreefileRepository, Treefile};
use pkgdb::apt::{HttpClient, PackageIndex, SignedBy, Source};
use pkgdb::resolve::{InstalledPackage, PackageSource, Plan, Request, ResolveOptions, Universe};
use store::Repo;

use super::{Phase, Plans, Prepared, TreeOpts, fetch_packages, refuse_excluded, show_plans, source_date_epoch};
use crate::layering::repos;

/// Resolves, fetches and imports the packages of `treefile`; `None` after
/// showing the plan of a dry run.
pub fn prepare(
    repo: &Repo,
    treefile: &Treefile,
    opts: &TreeOpts,
    cache: &std::path::Path,
    client: &HttpClient,
) -> anyhow::Result<Option<Prepared>> {
    let sources = treefile
        .repos
        .iter()
        .filter_map(|r| match r {
            TreefileRepository::Apt(apt) => Some(Source {
                uri: apt.uri.clone(),
                suite: apt.suite.clone(),
                components: apt.components.clone(),
                architectures: if apt.architectures.is_empty() {
                    vec![treefile.architecture.clone()]
                } else {
                    apt.architectures.clone()
                },
                signed_by: Some(SignedBy::Keyrings(apt.signed_by.clone())),
                file: treefile.path.clone(),
            }),
            TreefileRepository::RpmMd(_) => None,
        })
        .collect();
    let loaded = repos::load_sources(sources, &cache.join("apt"), client)?;
    // The newest Release `Date`, so that the same repositories give the
    // same commit.
    let newest = loaded
        .iter()
        .filter_map(|(_, summary)| summary.date.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .max()
        .unwrap_or(0);
    let timestamp = source_date_epoch()?.unwrap_or(newest);
    let indexes: Vec<(&repos::Repository, &PackageIndex)> =
        loaded.iter().flat_map(|(r, _)| r.indexes.iter().map(move |i| (r, i))).collect();
    let index_refs: Vec<&PackageIndex> = indexes.iter().map(|(_, i)| *i).collect();

    eprintln!("Resolving");
    let plans = resolve(treefile, &index_refs)?;
    show_plans(treefile, &plans, opts.json)?;
    if opts.dry_run {
        return Ok(None);
    }
    let planned: Vec<&Plan> = plans.essential.iter().chain([&plans.rest]).collect();
    let wanted = repos::wanted_files(planned.iter().flat_map(|plan| plan.install.iter()), &indexes);
    let trees = fetch_packages(repo, cache, &wanted, client, &[], package_tree::import_debs)?;
    let mut phases = Vec::new();
    if let Some(essential) = &plans.essential {
        phases.push(Phase::new("the essential set", essential, &trees));
    }
    phases.push(Phase::new("the packages", &plans.rest, &trees));

    // As mmdebstrap writes them; the deployment's own files win once edited.
    let mut files = vec![("usr/etc/fstab".to_owned(), 0o644, b"# UNCONFIGURED FSTAB FOR BASE SYSTEM\n".to_vec())];
    // The image's apt uses the repositories it was composed from, with the
    // keys its own keyring package ships (written when it has apt).
    let mut list = String::new();
    for (repository, _) in &loaded {
        let source = &repository.source;
        list.push_str(&format!("deb {} {} {}\n", source.uri, source.suite, source.components.join(" ")));
    }
    files.push(("usr/etc/apt/sources.list".to_owned(), 0o644, list.into_bytes()));
    let requested = plans.rest.install.iter().filter(|p| p.requested).map(|p| p.name.clone()).collect();
    Ok(Some(Prepared { database: Database::Dpkg, phases, requested, timestamp, files }))
}

fn resolve(treefile: &Treefile, indexes: &[&PackageIndex]) -> anyhow::Result<Plans> {
    let architecture = treefile.architecture.as_str();
    let fits = |a: &str| a == architecture || a == "all";
    let mut essential: Vec<String> = Vec::new();
    let mut required: Vec<String> = Vec::new();
    if treefile.bootstrap != Bootstrap::None {
        for index in indexes {
            for package in index.iter().filter(|p| fits(p.architecture)) {
                if package.essential {
                    essential.push(package.name.to_owned());
                }
                if treefile.bootstrap == Bootstrap::Minbase && package.priority == Some("required") {
                    required.push(package.name.to_owned());
                }
            }
        }
        if treefile.bootstrap == Bootstrap::Minbase {
            required.push("apt".into());
        }
    }
    for list in [&mut essential, &mut required] {
        list.sort();
        list.dedup();
        list.retain(|name| !treefile.excludes.contains(name));
    }
    let requests = |names: &[String]| -> anyhow::Result<Vec<Request>> {
        names.iter().map(|n| Request::parse(n).map_err(anyhow::Error::from)).collect()
    };
    let options = ResolveOptions::default();
    let essential_plan = if essential.is_empty() {
        None
    } else {
        let universe = Universe::new(architecture, &[], indexes, &[]);
        Some(universe.resolve(&requests(&essential)?, &options)?)
    };
    let installed: Vec<InstalledPackage> = essential_plan
        .iter()
        .flat_map(|plan| plan.install.iter())
        .filter_map(|p| match &p.source {
            PackageSource::Repository { index, record, .. } => indexes[*index].get(*record).map(|r| InstalledPackage {
                name: r.name.to_owned(),
                version: r.version.to_owned(),
                architecture: r.architecture.to_owned(),
                multi_arch: r.multi_arch.map(str::to_owned),
                essential: r.essential,
                depends: r.depends.map(str::to_owned),
                pre_depends: r.pre_depends.map(str::to_owned),
                conflicts: r.conflicts.map(str::to_owned),
                breaks: r.breaks.map(str::to_owned),
                provides: r.provides.map(str::to_owned),
            }),
            PackageSource::Local { .. } => None,
        })
        .collect();
    let mut rest_names = required;
    rest_names.extend(treefile.packages.iter().cloned());
    let universe = Universe::new(architecture, &installed, indexes, &[]);
    let rest = universe.resolve(&requests(&rest_names)?, &options)?;
    let plans = Plans { essential: essential_plan, rest };
    refuse_excluded(treefile, &plans)?;
    Ok(plans)
}
