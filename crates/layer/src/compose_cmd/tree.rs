//! `layer compose tree TREEFILE --repo R`: a base image from packages,
//! built by the same engine as layering, onto an empty merged-/usr tree.
//!
//! Debian's bootstrap order, as `mmdebstrap` and `debootstrap` do it:
//! 1. the essential set (every `Essential: yes` package and what it
//!    depends on) is unpacked, then configured in dependency order;
//! 2. the rest (`Priority: required` and `apt` for `minbase`, and the
//!    treefile's packages) is installed onto it, as `apt-get install
//!    --no-install-recommends` would.
//!
//! Each phase is one build ([`compose::build::build`]): it unpacks all its
//! packages, runs every `preinst install`, then every `postinst configure`
//! in the resolver's order. The second build starts from the first's
//! commit, so nothing of the rest runs before the essential set is
//! configured.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use compose::build::{BuildRequest, build};
use compose::package_tree::{self, PackageFile, PackageTree};
use compose::treefile::{Bootstrap, Repository as TreefileRepository, Treefile};
use pkgdb::apt::{HttpClient, PackageIndex, SignedBy, Source};
use pkgdb::fetch::{FetchOptions, PackageCache, fetch};
use pkgdb::resolve::{InstalledPackage, PackageSource, Plan, Request, ResolveOptions, Universe};
use serde_json::json;
use store::Repo;
use store::gvariant::Value;

use crate::cli::UserError;
use crate::layering::repos;

#[derive(Debug, clap::Args)]
pub struct TreeOpts {
    /// The treefile (TOML): ref, version, repositories, packages.
    treefile: PathBuf,
    /// The repository to commit into.
    #[arg(long, value_name = "PATH")]
    repo: PathBuf,
    /// Show the package plan and stop.
    #[arg(long)]
    dry_run: bool,
    /// Print the plan and the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Where repository metadata and packages are cached (default:
    /// `REPO/tmp/layer-compose-cache`).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// The environment variable that fixes the commit's timestamp, as
/// reproducible builds use it; without it, the newest Release `Date`.
const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Both phases, resolved.
struct Plans {
    essential: Option<Plan>,
    rest: Plan,
}

pub fn run(opts: &TreeOpts) -> anyhow::Result<i32> {
    let treefile = Treefile::load(&opts.treefile).map_err(|e| anyhow::Error::new(UserError(e.to_string())))?;
    compose(&treefile, opts)
        .with_context(|| format!("Composing `{}` from `{}`", treefile.reference, opts.treefile.display()))
}

fn compose(treefile: &Treefile, opts: &TreeOpts) -> anyhow::Result<i32> {
    let repo = Repo::open(&opts.repo)?;
    let cache = opts.cache_dir.clone().unwrap_or_else(|| opts.repo.join("tmp/layer-compose-cache"));
    let client = HttpClient::new();
    let sources = treefile
        .repos
        .iter()
        .map(|r| match r {
            TreefileRepository::Apt(apt) => Source {
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
            },
        })
        .collect();
    let loaded = repos::load_sources(sources, &cache.join("apt"), &client)?;
    let timestamp = timestamp(&loaded)?;
    let indexes: Vec<(&repos::Repository, &PackageIndex)> =
        loaded.iter().flat_map(|(r, _)| r.indexes.iter().map(move |i| (r, i))).collect();
    let index_refs: Vec<&PackageIndex> = indexes.iter().map(|(_, i)| *i).collect();

    eprintln!("Resolving");
    let plans = resolve(treefile, &index_refs)?;
    show_plans(treefile, &plans, opts.json)?;
    if opts.dry_run {
        return Ok(0);
    }

    let phases: Vec<&Plan> = plans.essential.iter().chain([&plans.rest]).collect();
    let wanted = repos::wanted_files(phases.iter().flat_map(|plan| plan.install.iter()), &indexes);
    let fetched = fetch(
        &PackageCache::new(cache.join("packages")),
        &wanted,
        &client,
        &FetchOptions { progress: true, ..Default::default() },
    )?;
    eprintln!(
        "Fetched {} packages ({} bytes); {} were cached",
        fetched.summary.downloaded,
        fetched.summary.bytes,
        wanted.len() - fetched.summary.downloaded
    );
    let hex: Vec<String> = wanted.iter().map(|w| w.sha256.iter().map(|b| format!("{b:02x}")).collect()).collect();
    let files: Vec<PackageFile<'_>> =
        fetched.paths.iter().zip(&hex).map(|(path, sha256)| PackageFile { path, sha256 }).collect();
    eprintln!("Importing {} packages", files.len());
    let mut trees: HashMap<String, PackageTree> =
        package_tree::import_debs(&repo, &files)?.into_iter().map(|t| (t.name().to_owned(), t)).collect();

    let mut base = compose::bootstrap::skeleton_commit(&repo)?;
    let script_timeout = script_timeout()?;
    for (number, plan) in phases.iter().enumerate() {
        let ordered: Vec<PackageTree> = plan.configure_order.iter().filter_map(|name| trees.remove(name)).collect();
        if ordered.is_empty() {
            continue;
        }
        let phase = if plans.essential.is_some() && number == 0 { "the essential set" } else { "the packages" };
        eprintln!("Installing {phase}: {} packages", ordered.len());
        let request = BuildRequest {
            base,
            packages: &ordered,
            remove: &[],
            assemble: compose::assemble::AssembleOptions::default(),
            subject: format!("{}: {phase}", treefile.reference),
            metadata: Vec::new(),
            prepare_var: &prepare_var,
            sandbox_program: None,
            script_timeout,
            source_date_epoch: timestamp,
        };
        let built = build(&repo, &request, &mut |step| eprintln!("{step}"))?;
        for line in &built.assembly.dropped {
            eprintln!("note: not in the image (image policy): {line}");
        }
        base = built.commit;
    }

    if let Some(script) = &treefile.postprocess_script {
        base = run_postprocess(&repo, &base, script)?;
    }

    // As mmdebstrap writes it; the deployment's own file wins once edited.
    let mut files = vec![("usr/etc/fstab".to_owned(), 0o644, b"# UNCONFIGURED FSTAB FOR BASE SYSTEM\n".to_vec())];
    if matches!(repo.lookup(&base, "/usr/etc/apt"), Ok(store::browse::Node::Dir { .. })) {
        // As mmdebstrap writes it: the image's apt uses the repositories it
        // was composed from, with the keys its own keyring package ships.
        let mut list = String::new();
        for (repository, _) in &loaded {
            let source = &repository.source;
            list.push_str(&format!("deb {} {} {}\n", source.uri, source.suite, source.components.join(" ")));
        }
        files.push(("usr/etc/apt/sources.list".to_owned(), 0o644, list.into_bytes()));
    }
    let mut metadata: Vec<(String, Value)> =
        treefile.metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    if let Some(version) = &treefile.version {
        metadata.push(("version".into(), Value::String(version.clone())));
    }
    let requested = plans.rest.install.iter().filter(|p| p.requested).map(|p| Value::String(p.name.clone()));
    metadata.push(("layer.compose.requested".into(), Value::Array(store::gvariant::Type::String, requested.collect())));
    let subject = match &treefile.version {
        Some(version) => format!("{} {version}", treefile.reference),
        None => treefile.reference.clone(),
    };
    let finish = compose::bootstrap::Finish { reference: &treefile.reference, subject, metadata, files, timestamp };
    let finished = compose::bootstrap::finish(&repo, &base, &finish)?;
    let commit = repo.read_commit(&finished.commit)?;
    let packages = compose::packages::from_commit(&commit).unwrap_or_default();
    if opts.json {
        let value = json!({
            "version": 1,
            "commit": finished.commit.to_string(),
            "ref": treefile.reference,
            "changed": finished.changed,
            "packages": packages,
        });
        writeln!(std::io::stdout().lock(), "{value}")?;
    } else {
        writeln!(std::io::stdout().lock(), "{}", finished.commit)?;
    }
    if finished.changed {
        eprintln!("Committed {} packages on `{}`", packages.len(), treefile.reference);
    } else {
        eprintln!("No changes: `{}` already holds this tree", treefile.reference);
    }
    Ok(0)
}

/// The commit's timestamp: `SOURCE_DATE_EPOCH` if set, else the newest
/// Release `Date`, so that the same repositories give the same commit.
fn timestamp(loaded: &[(repos::Repository, pkgdb::apt::UpdateSummary)]) -> anyhow::Result<u64> {
    if let Some(value) = std::env::var_os(SOURCE_DATE_EPOCH) {
        return value.to_str().and_then(|v| v.trim().parse().ok()).ok_or_else(|| {
            UserError(format!("`{SOURCE_DATE_EPOCH}={}` is not a number of seconds", value.to_string_lossy())).into()
        });
    }
    Ok(loaded
        .iter()
        .filter_map(|(_, summary)| summary.date.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .max()
        .unwrap_or(0))
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
    for plan in essential_plan.iter().chain([&rest]) {
        if let Some(p) = plan.install.iter().find(|p| treefile.excludes.contains(&p.name)) {
            anyhow::bail!(UserError(format!(
                "`{}` is excluded, but the package set needs it{}\nhint: take it out of `excludes`, or the packages that need it out of `packages`",
                p.name,
                if p.requested { "" } else { " as a dependency" }
            )));
        }
    }
    Ok(Plans { essential: essential_plan, rest })
}

fn show_plans(treefile: &Treefile, plans: &Plans, json: bool) -> anyhow::Result<()> {
    if json {
        let value = json!({
            "version": 1,
            "ref": treefile.reference,
            "essential": plans.essential,
            "plan": plans.rest,
        });
        writeln!(std::io::stdout().lock(), "{value}")?;
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    let mut size = 0;
    if let Some(plan) = &plans.essential {
        writeln!(err, "Essential set, unpacked and configured first: {} packages", plan.install.len())?;
        for p in &plan.install {
            writeln!(err, "  {} {} ({})", p.name, p.version, p.architecture)?;
        }
        size += plan.download_size;
    }
    writeln!(err, "Then install {} packages:", plans.rest.install.len())?;
    for p in &plans.rest.install {
        let why = if p.requested { "" } else { " (dependency)" };
        writeln!(err, "  {} {} ({}){why}", p.name, p.version, p.architecture)?;
    }
    size += plans.rest.download_size;
    writeln!(err, "Download size: {:.1} MiB", size as f64 / f64::from(1u32 << 20))?;
    Ok(())
}

/// Fills `ROOT/var` from the tree's `tmpfiles.d`, as a deploy does.
fn prepare_var(root: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dir = store::fsutil::open_dir(rustix::fs::CWD, root)?;
    let var = store::fsutil::open_dir(&dir, "var")?;
    deploy::tmpfiles::apply(std::os::fd::AsFd::as_fd(&dir), std::os::fd::AsFd::as_fd(&var))?;
    Ok(())
}

fn script_timeout() -> anyhow::Result<Duration> {
    let name = crate::layering::SCRIPT_TIMEOUT_VAR;
    match std::env::var_os(name) {
        None => Ok(Duration::from_secs(600)),
        Some(value) => match value.to_str().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
            _ => anyhow::bail!(UserError(format!("`{name}={}` is not a number of seconds", value.to_string_lossy()))),
        },
    }
}

/// Runs the treefile's postprocess script in a chroot of a copy of the
/// built tree, in new mount, pid, network, IPC and UTS namespaces (no
/// network), with `/usr/etc` as `/etc` and an empty `/var`, as maintainer
/// scripts see them. The copy (not a hardlink checkout) is what keeps the
/// script from writing through into the store. What it leaves under
/// `/var` is dropped: `/var` is never image content.
fn run_postprocess(repo: &Repo, commit: &store::Checksum, script: &Path) -> anyhow::Result<store::Checksum> {
    eprintln!("Running the postprocess script `{}`", script.display());
    let scratch = tempfile::Builder::new()
        .prefix("layer-compose-")
        .tempdir_in(repo.path().join("tmp"))
        .context("creating a directory for the postprocess script")?;
    let root = scratch.path().join("root");
    let options = store::CheckoutOptions { mode: Some(store::checkout::CheckoutMode::Copy), ..Default::default() };
    repo.checkout(commit, &root, &options)?;
    std::fs::rename(root.join("usr/etc"), root.join("etc")).context("moving `/usr/etc` to `/etc`")?;
    let input = std::fs::File::open(script).with_context(|| format!("opening `{}`", script.display()))?;
    let status = std::process::Command::new("unshare")
        .args(["--mount", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child", "chroot"])
        .arg(&root)
        .args(["/bin/sh", "-es"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C.UTF-8")
        .stdin(input)
        .status()
        .context("running `unshare` (util-linux) for the postprocess script")?;
    if !status.success() {
        anyhow::bail!(UserError(format!("the postprocess script `{}` failed: {status}", script.display())));
    }
    std::fs::rename(root.join("etc"), root.join("usr/etc"))
        .context("moving `/etc` back to `/usr/etc`: the script must leave `/etc` a directory")?;
    let left: Vec<_> = ["var", "tmp", "run"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten())
        .collect();
    for entry in left {
        eprintln!(
            "note: dropped `{}`, which the postprocess script left",
            entry.path().strip_prefix(&root).unwrap_or(&entry.path()).display()
        );
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(compose::bootstrap::recommit_directory(repo, commit, &root)?)
}
