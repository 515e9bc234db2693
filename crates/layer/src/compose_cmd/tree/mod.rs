//! `layer compose tree TREEFILE --repo R`: a base image from packages,
//! built by the same engine as layering, onto an empty merged-/usr tree.
//!
//! The package format decides where the packages come from and in how
//! many phases they are built ([`deb`]: apt, Debian's bootstrap order;
//! [`rpm`]: rpm-md, one phase). Each phase is one build
//! ([`compose::build::build`]): it unpacks all its packages, runs every
//! pre-install script, then every post-install script in the resolver's
//! order. Then the postprocess script, and the final commit on the ref.

mod deb;
mod rpm;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use compose::build::{BuildRequest, Database, build};
use compose::package_tree::{PackageFile, PackageTree};
use compose::treefile::{PackageFormat, Treefile};
use pkgdb::apt::HttpClient;
use pkgdb::fetch::{FetchOptions, PackageCache, WantedFile, fetch};
use pkgdb::resolve::Plan;
use serde_json::json;
use store::Repo;
use store::gvariant::Value;

use crate::cli::UserError;

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

/// The plans of the phases: Debian's essential set (when bootstrapped),
/// then the rest.
struct Plans {
    essential: Option<Plan>,
    rest: Plan,
}

/// One build: its packages, in the order their scripts run.
struct Phase {
    what: &'static str,
    packages: Vec<PackageTree>,
}

impl Phase {
    /// The packages of `plan` among `trees` (by name), in its configure order.
    fn new(what: &'static str, plan: &Plan, trees: &HashMap<String, PackageTree>) -> Phase {
        let packages = plan.configure_order.iter().filter_map(|name| trees.get(name).cloned()).collect();
        Phase { what, packages }
    }
}

/// What a format's preparation hands to the build: everything fetched,
/// verified and imported.
struct Prepared {
    database: Database,
    phases: Vec<Phase>,
    /// The requested packages (without their dependencies), for the commit.
    requested: Vec<String>,
    /// Seconds since the epoch: a property of the repositories.
    timestamp: u64,
    /// Files put into the image besides the packages' (path, mode,
    /// content), each written when its directory exists in the built tree.
    files: Vec<(String, u32, Vec<u8>)>,
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
    let prepared = match treefile.format {
        PackageFormat::Deb => deb::prepare(&repo, treefile, opts, &cache, &client)?,
        PackageFormat::Rpm => rpm::prepare(&repo, treefile, opts, &cache, &client)?,
    };
    let Some(prepared) = prepared else { return Ok(0) };

    let mut base = compose::bootstrap::skeleton_commit(&repo, prepared.database)?;
    let script_timeout = script_timeout()?;
    for phase in prepared.phases.iter().filter(|p| !p.packages.is_empty()) {
        eprintln!("Installing {}: {} packages", phase.what, phase.packages.len());
        let request = BuildRequest {
            base,
            packages: &phase.packages,
            remove: &[],
            assemble: compose::assemble::AssembleOptions::default(),
            subject: format!("{}: {}", treefile.reference, phase.what),
            metadata: Vec::new(),
            prepare_var: &prepare_var,
            sandbox_program: None,
            script_timeout,
            source_date_epoch: prepared.timestamp,
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

    let mut files = Vec::new();
    for (path, mode, data) in prepared.files {
        let parent = Path::new(&path).parent().map_or_else(|| "/".to_owned(), |p| format!("/{}", p.display()));
        if matches!(repo.lookup(&base, &parent), Ok(store::browse::Node::Dir { .. })) {
            files.push((path, mode, data));
        }
    }
    let mut metadata: Vec<(String, Value)> =
        treefile.metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    if let Some(version) = &treefile.version {
        metadata.push(("version".into(), Value::String(version.clone())));
    }
    let requested = prepared.requested.into_iter().map(Value::String).collect();
    metadata.push(("layer.compose.requested".into(), Value::Array(store::gvariant::Type::String, requested)));
    let subject = match &treefile.version {
        Some(version) => format!("{} {version}", treefile.reference),
        None => treefile.reference.clone(),
    };
    let timestamp = prepared.timestamp;
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

/// `SOURCE_DATE_EPOCH`, which fixes the commit's timestamp as
/// reproducible builds use it, when set.
fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    let Some(value) = std::env::var_os(SOURCE_DATE_EPOCH) else { return Ok(None) };
    match value.to_str().and_then(|v| v.trim().parse().ok()) {
        Some(seconds) => Ok(Some(seconds)),
        None => {
            Err(UserError(format!("`{SOURCE_DATE_EPOCH}={}` is not a number of seconds", value.to_string_lossy()))
                .into())
        }
    }
}

/// Downloads `wanted` into the cache, checks each against its rpm-md
/// repository's signature policy (`signers`, one per file; empty for apt,
/// whose signed indexes vouch for the packages), and imports them with
/// `import`, by package name.
fn fetch_packages(
    repo: &Repo,
    cache: &Path,
    wanted: &[WantedFile],
    client: &HttpClient,
    signers: &[&pkgdb::rpmmd::Repository],
    import: fn(&Repo, &[PackageFile<'_>]) -> compose::Result<Vec<PackageTree>>,
) -> anyhow::Result<HashMap<String, PackageTree>> {
    let fetched = fetch(
        &PackageCache::new(cache.join("packages")),
        wanted,
        client,
        &FetchOptions { progress: true, ..Default::default() },
    )?;
    eprintln!(
        "Fetched {} packages ({} bytes); {} were cached",
        fetched.summary.downloaded,
        fetched.summary.bytes,
        wanted.len() - fetched.summary.downloaded
    );
    for (path, repository) in fetched.paths.iter().zip(signers) {
        pkgdb::rpmmd::require_package_signature(repository, path)?;
    }
    let hex: Vec<String> = wanted.iter().map(|w| w.sha256.iter().map(|b| format!("{b:02x}")).collect()).collect();
    let files: Vec<PackageFile<'_>> =
        fetched.paths.iter().zip(&hex).map(|(path, sha256)| PackageFile { path, sha256 }).collect();
    eprintln!("Importing {} packages", files.len());
    Ok(import(repo, &files)?.into_iter().map(|t| (t.name().to_owned(), t)).collect())
}

/// Fails when a plan takes in a package the treefile excludes.
fn refuse_excluded(treefile: &Treefile, plans: &Plans) -> anyhow::Result<()> {
    for plan in plans.essential.iter().chain([&plans.rest]) {
        if let Some(p) = plan.install.iter().find(|p| treefile.excludes.contains(&p.name)) {
            anyhow::bail!(UserError(format!(
                "`{}` is excluded, but the package set needs it{}\nhint: take it out of `excludes`, or the packages that need it out of `packages`",
                p.name,
                if p.requested { "" } else { " as a dependency" }
            )));
        }
    }
    Ok(())
}

/// The plan, on stderr (as JSON on stdout with `--json`).
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
