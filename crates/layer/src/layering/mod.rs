//! Deploying a request (DESIGN.md, "The main flow"): resolve the whole
//! request against the base image's package database and the image's own
//! repositories, show the plan, fetch what is missing, import each package
//! as a tree, build base + packages with `compose`, and deploy the result.
//! Every change rebuilds from the base and the full request.

pub mod package_refs;
pub mod repos;
pub mod resolve;
pub mod rpm_repos;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use compose::build::{BuildRequest, BuiltCheckout, Database, build};
use compose::package_tree::{self, PackageFile, PackageTree};
use compose::packages::Package;
use deploy::{Deployment, State, Sysroot};
use pkgdb::apt::HttpClient;
use pkgdb::fetch::{FetchOptions, PackageCache, fetch};
use pkgdb::resolve::Plan;
use serde_json::json;
use store::Checksum;
use store::gvariant::{Type, Value};

use crate::cli::UserError;
use crate::db_cmd::{package_diff, print_diff};
use crate::request::Request;

/// The install's named crash points before the build (see
/// [`store::failpoint`]); the build's are `compose::failpoint::ALL`, then
/// the deploy's.
pub const FAILPOINTS: &[&str] = &["layer::resolved", "layer::fetched", "layer::imported"];

/// The exit code for "nothing changed", with `--unchanged-exit-77`.
pub const EXIT_UNCHANGED: i32 = 77;

/// How long one maintainer script may run, unless `LAYER_SCRIPT_TIMEOUT`
/// says otherwise.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// The environment variable that sets how long one maintainer script may
/// run, in whole seconds (at least 1); unset, it is [`SCRIPT_TIMEOUT`]. The
/// tests set a few seconds to see a script that never ends killed with its
/// whole process tree.
pub const SCRIPT_TIMEOUT_VAR: &str = "LAYER_SCRIPT_TIMEOUT";

/// The script timeout: [`SCRIPT_TIMEOUT_VAR`] if set, else [`SCRIPT_TIMEOUT`].
fn script_timeout() -> anyhow::Result<Duration> {
    let Some(value) = std::env::var_os(SCRIPT_TIMEOUT_VAR) else { return Ok(SCRIPT_TIMEOUT) };
    match value.to_str().and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => anyhow::bail!(UserError(format!(
            "`{SCRIPT_TIMEOUT_VAR}={}` is not a number of seconds\nhint: unset it for the default of {} seconds",
            value.to_string_lossy(),
            SCRIPT_TIMEOUT.as_secs()
        ))),
    }
}

/// The flags every request-changing verb shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ApplyOpts {
    /// Answer yes to the plan.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Fetch the packages and stop.
    #[arg(long)]
    pub download_only: bool,
    /// Use only metadata and packages already cached; fetch nothing.
    #[arg(long)]
    pub cache_only: bool,
    /// Let a package replace a base file or another package's file, and
    /// conflict with a base package.
    #[arg(long)]
    pub force_replace: bool,
    /// Exit with 77 when nothing changed.
    #[arg(long)]
    pub unchanged_exit_77: bool,
    /// Print the plan and the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Fail at once if another process holds the sysroot lock.
    #[arg(long)]
    pub no_wait: bool,
    /// Names this command adds to the request (`install`).
    #[arg(skip)]
    pub newly_requested: Vec<String>,
    /// Keep new requests the base already satisfies (`install --allow-inactive`).
    #[arg(skip)]
    pub allow_inactive: bool,
    /// Resolve again even if the request and the base did not change (`upgrade`).
    #[arg(skip)]
    pub rebuild: bool,
    /// Compare the plan with the deployment instead of deploying (`upgrade --check`).
    #[arg(skip)]
    pub check: bool,
    /// Deploy even when nothing changed, as `ostree admin deploy` does (`rebase`).
    #[arg(skip)]
    pub always_deploy: bool,
}

/// The stateroot's cache: `var/cache/layer` of its shared `/var`.
fn cache_dir(sysroot: &Sysroot, stateroot: &str) -> PathBuf {
    sysroot.path().join(format!("ostree/deploy/{stateroot}/var/cache/layer"))
}

/// Everything the verbs need to rebuild and deploy.
pub struct Context<'a> {
    pub sysroot: &'a Sysroot,
    pub state: &'a State,
    pub stateroot: String,
    /// The deployment whose `/etc` (and repositories) the new one starts from.
    pub merge: Option<&'a Deployment>,
}

/// Rebuilds from `request` and deploys it. Returns the exit code.
pub fn apply(ctx: &Context<'_>, request: &Request, opts: &ApplyOpts) -> anyhow::Result<i32> {
    let sysroot = ctx.sysroot;
    let repo = sysroot.repo();
    let base = match &request.override_commit {
        Some(commit) => repo.refs().resolve(commit)?,
        None => repo.refs().resolve(&request.refspec)?,
    };
    let previous = ctx.merge.map(|m| Request::from_origin(&m.origin));
    if let Some(merge) = ctx.merge
        && !opts.rebuild
        && !opts.always_deploy
        && previous.as_ref() == Some(request)
        && base_of(sysroot, &merge.checksum)? == base
    {
        eprintln!("No changes.");
        return Ok(if opts.unchanged_exit_77 { EXIT_UNCHANGED } else { 0 });
    }

    let (commit, checkout) = if request.is_base_only() {
        if opts.check {
            let changed = ctx.merge.is_none_or(|m| m.checksum != base);
            eprintln!("Base: {}", if changed { format!("new commit {base}") } else { "unchanged".into() });
            return Ok(0);
        }
        (base, None)
    } else {
        match build_layered(ctx, request, base, opts)? {
            Some(built) => built,
            None => return Ok(0),
        }
    };
    deploy_commit(ctx, request, commit, checkout.as_ref(), opts)
}

/// The base commit a deployment's commit was built from.
fn base_of(sysroot: &Sysroot, commit: &Checksum) -> anyhow::Result<Checksum> {
    let object = sysroot.repo().read_commit(commit)?;
    match object.metadata_value("layer.base-commit").and_then(Value::as_str) {
        Some(base) => Ok(base.parse()?),
        None => Ok(*commit),
    }
}

fn build_layered(
    ctx: &Context<'_>,
    request: &Request,
    base: Checksum,
    opts: &ApplyOpts,
) -> anyhow::Result<Option<(Checksum, Option<BuiltCheckout>)>> {
    let sysroot = ctx.sysroot;
    let repo = sysroot.repo();
    let merge = ctx.merge.ok_or_else(|| {
        UserError("there is no deployment to take the package repositories from\nhint: deploy a base first with `layer rebase REF`".into())
    })?;
    let root = sysroot.path().join(merge.relpath());
    let cache = cache_dir(sysroot, &ctx.stateroot);
    let client = HttpClient::new();
    let resolved = resolve::resolve(repo, &root, &base, &cache, request, opts, &client)?;
    let plan = &resolved.plan;
    if !opts.allow_inactive {
        if let Some(name) = plan.satisfied_by_base.iter().find(|n| opts.newly_requested.contains(n)) {
            anyhow::bail!(UserError(format!(
                "`{name}` is already installed in the base image\nhint: pass `--allow-inactive` to request it anyway"
            )));
        }
    }
    show_plan(plan, opts)?;
    if opts.check {
        let current = sysroot.repo().read_commit(&merge.checksum).ok().and_then(|o| compose::packages::from_commit(&o));
        let mut planned: Vec<Package> = resolved
            .base_packages
            .iter()
            .cloned()
            .chain(plan.install.iter().map(|p| Package {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
            }))
            .collect();
        planned.sort();
        let base_changed = base_of(sysroot, &merge.checksum)? != base;
        eprintln!("Base: {}", if base_changed { format!("new commit {base}") } else { "unchanged".into() });
        let diff = package_diff(&current.unwrap_or_default(), &planned);
        print_diff(&mut std::io::stdout().lock(), &diff)?;
        return Ok(None);
    }
    if opts.dry_run {
        return Ok(None);
    }
    require_confirmation(opts)?;
    store::failpoint::hit("layer::resolved");
    let script_timeout = script_timeout()?;

    let fetch_options = FetchOptions { cache_only: opts.cache_only, progress: true, ..Default::default() };
    let fetched = fetch(&PackageCache::new(cache.join("packages")), &resolved.wanted, &client, &fetch_options)?;
    if fetched.summary.downloaded > 0 {
        eprintln!("Fetched {} packages ({} bytes)", fetched.summary.downloaded, fetched.summary.bytes);
    }
    for (path, signer) in fetched.paths.iter().zip(&resolved.signers) {
        if let Some(repository) = signer {
            pkgdb::rpmmd::require_package_signature(repository, path)?;
        }
    }
    store::failpoint::hit("layer::fetched");
    if opts.download_only {
        eprintln!("Downloaded; nothing deployed (--download-only)");
        return Ok(None);
    }

    let hex: Vec<String> =
        resolved.wanted.iter().map(|w| w.sha256.iter().map(|b| format!("{b:02x}")).collect()).collect();
    let files: Vec<PackageFile<'_>> =
        fetched.paths.iter().zip(&hex).map(|(path, sha256)| PackageFile { path, sha256 }).collect();
    eprintln!("Importing {} packages", files.len());
    let imported = match resolved.database {
        Database::Dpkg => package_tree::import_debs(repo, &files)?,
        Database::Rpm => package_tree::import_rpms(repo, &files)?,
    };
    store::failpoint::hit("layer::imported");
    let mut by_name: std::collections::HashMap<String, PackageTree> =
        imported.into_iter().chain(resolved.local_trees).map(|t| (t.name().to_owned(), t)).collect();
    let ordered: Vec<PackageTree> = plan.configure_order.iter().filter_map(|name| by_name.remove(name)).collect();

    let prepare_var = |root: &Path| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let dir = store::fsutil::open_dir(rustix::fs::CWD, root)?;
        let var = store::fsutil::open_dir(&dir, "var")?;
        deploy::tmpfiles::apply(std::os::fd::AsFd::as_fd(&dir), std::os::fd::AsFd::as_fd(&var))?;
        Ok(())
    };
    let list = |values: &[String]| Value::Array(Type::String, values.iter().cloned().map(Value::String).collect());
    let local: Vec<String> = request.local.iter().map(|l| format!("{}:{}", l.sha256, l.reference)).collect();
    let build_request = BuildRequest {
        base,
        packages: &ordered,
        remove: &resolved.removed,
        assemble: compose::assemble::AssembleOptions { force_replace: opts.force_replace || request.forces_replace() },
        subject: format!("{} + {} layered packages", request.refspec, ordered.len()),
        metadata: vec![
            ("layer.base-commit".into(), Value::String(base.to_string())),
            ("layer.base-refspec".into(), Value::String(request.refspec.clone())),
            ("layer.request.packages".into(), list(&request.packages)),
            ("layer.request.local".into(), list(&local)),
            ("layer.request.removed".into(), list(&request.removed)),
            ("layer.request.inactive".into(), list(&plan.satisfied_by_base)),
        ],
        prepare_var: &prepare_var,
        sandbox_program: None,
        script_timeout,
        source_date_epoch: repo.read_commit(&base)?.timestamp,
    };
    let built = build(repo, &build_request, &mut |step| eprintln!("{step}"))?;
    for line in &built.assembly.dropped {
        eprintln!("note: not installed (image policy): {line}");
    }
    for line in &built.assembly.replaced {
        eprintln!("warning: replaced: {line}");
    }
    Ok(Some((built.commit, built.checkout)))
}

fn show_plan(plan: &Plan, opts: &ApplyOpts) -> anyhow::Result<()> {
    if opts.json {
        writeln!(std::io::stdout().lock(), "{}", json!({ "version": 1, "plan": plan }))?;
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    if plan.install.is_empty() {
        writeln!(err, "Nothing to install: the base image has everything requested")?;
    } else {
        writeln!(err, "Install {} packages:", plan.install.len())?;
        for p in &plan.install {
            let why = if p.requested { "" } else { " (dependency)" };
            writeln!(err, "  {} {} ({}){why}", p.name, p.version, p.architecture)?;
        }
        writeln!(err, "Download size: {}", human_size(plan.download_size))?;
    }
    for name in &plan.satisfied_by_base {
        writeln!(err, "note: `{name}` is in the base image already; it stays requested, inactive")?;
    }
    for c in &plan.forced_conflicts {
        writeln!(err, "warning: {} {} {} (forced): hits {}", c.package, c.field, c.relation, c.hits)?;
    }
    Ok(())
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Asks on a terminal; elsewhere the plan needs `-y`, as apt-get's does.
fn require_confirmation(opts: &ApplyOpts) -> anyhow::Result<()> {
    if opts.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(UserError("not confirmed: standard input is not a terminal\nhint: pass `-y` to go ahead".into()));
    }
    eprint!("Go ahead? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") { Ok(()) } else { anyhow::bail!(UserError("cancelled".into())) }
}

/// Stages `commit` with `request` as its origin and makes it the default;
/// `checkout`, the build's checkout of it, becomes the deployment's tree.
fn deploy_commit(
    ctx: &Context<'_>,
    request: &Request,
    commit: Checksum,
    checkout: Option<&BuiltCheckout>,
    opts: &ApplyOpts,
) -> anyhow::Result<i32> {
    let sysroot = ctx.sysroot;
    if let Some(merge) = ctx.merge.filter(|_| !opts.always_deploy) {
        let (old, new) = (sysroot.repo().read_commit(&merge.checksum)?, sysroot.repo().read_commit(&commit)?);
        if (old.root_tree, old.root_meta) == (new.root_tree, new.root_meta)
            && Request::from_origin(&merge.origin) == *request
        {
            eprintln!("No changes.");
            return Ok(if opts.unchanged_exit_77 { EXIT_UNCHANGED } else { 0 });
        }
    }
    let mut origin = ctx.merge.map(|m| m.origin.clone()).unwrap_or_default();
    request.write_to(&mut origin);
    // A pin belongs to a deployment, not to its successors.
    origin.remove("libostree-transient", "pinned");
    let prepared = checkout.map(BuiltCheckout::root);
    let (new, etc) = sysroot.stage(&ctx.stateroot, &commit, origin, ctx.merge, prepared.as_deref())?;
    let list = crate::deploy_cmd::retained(ctx.state, new.clone(), ctx.merge);
    let new_state = sysroot.write_deployments(ctx.state, list)?;
    package_refs::prune(sysroot, &new_state)?;
    sysroot.cleanup(&new_state, true)?;
    eprintln!("Deployed {} ({}) in stateroot `{}`", request.refspec, new.checksum, ctx.stateroot);
    eprintln!("/etc: kept {} modified, {} removed and {} added files", etc.modified, etc.removed, etc.added);
    if let Some(old) = ctx.merge {
        let changes = sysroot.repo().diff(&old.checksum, &new.checksum)?;
        let count = |k| changes.iter().filter(|c| c.kind == k).count();
        use store::diff::ChangeKind as K;
        eprintln!(
            "Changes from the previous deployment: {} added, {} removed, {} modified",
            count(K::Added),
            count(K::Removed),
            count(K::Modified)
        );
        let packages = |c: &Checksum| -> Option<Vec<Package>> {
            sysroot.repo().read_commit(c).ok().and_then(|o| compose::packages::from_commit(&o))
        };
        if let (Some(before), Some(after)) = (packages(&old.checksum), packages(&new.checksum)) {
            let diff = package_diff(&before, &after);
            if opts.json {
                writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    json!({ "version": 1, "deployed": new.checksum.to_string(), "packages": diff })
                )?;
            } else {
                eprintln!("Package changes:");
                print_diff(&mut std::io::stderr().lock(), &diff)?;
            }
        }
    }
    eprintln!("Run `layer status` to see the deployments; the new one is used at the next boot");
    Ok(0)
}
