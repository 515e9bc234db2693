//! The sysroot verbs: `init`, `rebase`, `rollback`, `undeploy`, `pin`,
//! `cleanup` and `status`.

use std::io::Write;

use clap::Args;
use deploy::{Deployment, KeyFile, State, Sysroot, SysrootLock};
use fn_error_context::context;
use serde_json::json;

use crate::cli::Cli;

/// `layer init` takes the global `--stateroot NAME` as the one to create.
#[derive(Debug, Args)]
pub struct InitOpts {}

#[derive(Debug, Args)]
pub struct WriteOpts {
    /// Fail at once if another process holds the sysroot lock.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct RebaseOpts {
    /// The ref or commit to deploy (`REF`, `REMOTE:REF` or a checksum).
    pub refspec: String,
    #[command(flatten)]
    pub write: WriteOpts,
}

#[derive(Debug, Args)]
pub struct IndexOpts {
    /// The deployment's index, as `layer status` shows it.
    pub index: usize,
    #[command(flatten)]
    pub write: WriteOpts,
}

#[derive(Debug, Args)]
pub struct PinOpts {
    pub index: usize,
    /// Remove the pin instead.
    #[arg(long)]
    pub unpin: bool,
    #[command(flatten)]
    pub write: WriteOpts,
}

#[derive(Debug, Args)]
pub struct StatusOpts {
    #[arg(long)]
    pub json: bool,
}

fn open(cli: &Cli) -> anyhow::Result<Sysroot> {
    Ok(Sysroot::open(&cli.sysroot)?)
}

fn lock(sysroot: &Sysroot, opts: &WriteOpts) -> anyhow::Result<SysrootLock> {
    Ok(sysroot.lock(!opts.no_wait, || {
        eprintln!("Waiting for the sysroot lock (another `layer` or `ostree admin` is running)...");
    })?)
}

#[context("Initializing `{}`", cli.sysroot.display())]
pub fn init(cli: &Cli, _opts: &InitOpts) -> anyhow::Result<i32> {
    let name = cli.stateroot.as_deref().ok_or_else(|| {
        crate::cli::UserError("`layer init` needs `--stateroot NAME`, the OS install to create".into())
    })?;
    deploy::sysroot::validate_stateroot(name)?;
    let sysroot = Sysroot::init(&cli.sysroot)?;
    sysroot.init_stateroot(name)?;
    Ok(0)
}

/// Which deployments stay when `new` becomes the default: the booted one,
/// the previous default (the rollback target) and every pinned one.
pub(crate) fn retained(state: &State, new: Deployment, previous_default: Option<&Deployment>) -> Vec<Deployment> {
    let mut out = vec![new];
    for (i, d) in state.deployments.iter().enumerate() {
        let keep = Some(i) == state.booted || Some(d) == previous_default || d.pinned();
        if keep && !out.contains(d) {
            out.push(d.clone());
        }
    }
    out
}

#[context("Deploying `{}`", opts.refspec)]
pub fn rebase(cli: &Cli, opts: &RebaseOpts) -> anyhow::Result<i32> {
    // The layered packages and overrides come along, resolved again
    // against the new base.
    let apply = crate::layering::ApplyOpts {
        yes: true,
        no_wait: opts.write.no_wait,
        rebuild: true,
        always_deploy: true,
        ..Default::default()
    };
    crate::packages_cmd::with_request(cli, &apply, |ctx, mut request| {
        request.refspec = opts.refspec.clone();
        request.override_commit = None;
        crate::layering::apply(ctx, &request, &apply)
    })
}

#[context("Rolling back")]
pub fn rollback(cli: &Cli, opts: &WriteOpts) -> anyhow::Result<i32> {
    let sysroot = open(cli)?;
    let _lock = lock(&sysroot, opts)?;
    let state = sysroot.load()?;
    if state.deployments.is_empty() {
        return Err(deploy::Error::NoDeployments.into());
    }
    if state.deployments.len() < 2 {
        return Err(deploy::Error::NoRollback.into());
    }
    let mut list = state.deployments.clone();
    list.swap(0, 1);
    let new_state = sysroot.write_deployments(&state, list)?;
    sysroot.cleanup(&new_state, false)?;
    eprintln!("The default deployment is now {} (was index 1)", new_state.deployments[0].checksum);
    Ok(0)
}

#[context("Removing deployment {}", opts.index)]
pub fn undeploy(cli: &Cli, opts: &IndexOpts) -> anyhow::Result<i32> {
    let sysroot = open(cli)?;
    let _lock = lock(&sysroot, &opts.write)?;
    let state = sysroot.load()?;
    if opts.index >= state.deployments.len() {
        return Err(deploy::Error::NoSuchDeployment(opts.index).into());
    }
    if state.booted == Some(opts.index) {
        return Err(deploy::Error::Booted.into());
    }
    let mut list = state.deployments.clone();
    list.remove(opts.index);
    let new_state = sysroot.write_deployments(&state, list)?;
    sysroot.cleanup(&new_state, false)?;
    Ok(0)
}

#[context("Pinning deployment {}", opts.index)]
pub fn pin(cli: &Cli, opts: &PinOpts) -> anyhow::Result<i32> {
    let sysroot = open(cli)?;
    let _lock = lock(&sysroot, &opts.write)?;
    let state = sysroot.load()?;
    let mut d = state.deployments.get(opts.index).cloned().ok_or(deploy::Error::NoSuchDeployment(opts.index))?;
    if opts.unpin {
        d.origin.remove("libostree-transient", "pinned");
    } else {
        d.origin.set("libostree-transient", "pinned", "true");
    }
    sysroot.write_origin(&d)?;
    Ok(0)
}

#[context("Cleaning up `{}`", cli.sysroot.display())]
pub fn cleanup(cli: &Cli, opts: &WriteOpts) -> anyhow::Result<i32> {
    let sysroot = open(cli)?;
    let _lock = lock(&sysroot, opts)?;
    compose::build::reclaim_builds(sysroot.repo())?;
    let state = sysroot.load()?;
    let trees = crate::layering::package_refs::prune(&sysroot, &state)?;
    let stats = sysroot.cleanup(&state, true)?;
    eprintln!(
        "Removed {} deployments, {trees} cached package trees and {} objects ({} bytes)",
        stats.deployments_removed, stats.objects_pruned, stats.bytes_freed
    );
    Ok(0)
}

fn version_of(sysroot: &Sysroot, d: &Deployment) -> Option<String> {
    let commit = sysroot.repo().read_commit(&d.checksum).ok()?;
    commit.metadata_value("version").and_then(|v| v.as_str()).map(str::to_owned)
}

/// The role of each deployment: default, pending, rollback, booted.
fn roles(state: &State, i: usize) -> (bool, bool, bool, bool) {
    let booted = state.booted == Some(i);
    let default = i == 0;
    let pending = default && state.booted.is_some_and(|b| b != 0);
    let rollback = match state.booted {
        Some(b) => i != b && i != 0 && state.deployments.len() > 1 && i == if b == 0 { 1 } else { b + 1 },
        None => i == 1,
    };
    (default, pending, rollback, booted)
}

/// Requests the deployment's base satisfied when it was built.
fn inactive(sysroot: &Sysroot, d: &Deployment) -> Vec<String> {
    let Ok(commit) = sysroot.repo().read_commit(&d.checksum) else { return Vec::new() };
    match commit.metadata_value("layer.request.inactive") {
        Some(store::gvariant::Value::Array(_, items)) => {
            items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        }
        _ => Vec::new(),
    }
}

fn requested(origin: &KeyFile, key: &str) -> Vec<String> {
    origin.get_list("packages", key)
}

#[context("Reading the status of `{}`", cli.sysroot.display())]
pub fn status(cli: &Cli, opts: &StatusOpts) -> anyhow::Result<i32> {
    let sysroot = open(cli)?;
    let state = sysroot.load()?;
    let mut out = std::io::stdout().lock();
    if opts.json {
        let list: Vec<_> = state
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (default, pending, rollback, booted) = roles(&state, i);
                json!({
                    "index": i,
                    "stateroot": d.stateroot,
                    "checksum": d.checksum.to_string(),
                    "deployserial": d.deployserial,
                    "refspec": d.refspec(),
                    "version": version_of(&sysroot, d),
                    "requested_packages": requested(&d.origin, "requested"),
                    "inactive_requests": inactive(&sysroot, d),
                    "override_commit": d.origin.get("origin", "override-commit"),
                    "requested_local_packages": requested(&d.origin, "requested-local"),
                    "removed_base_packages": d.origin.get_list("overrides", "remove"),
                    "replaced_local_packages": d.origin.get_list("overrides", "replace-local"),
                    "default": default,
                    "pending": pending,
                    "rollback": rollback,
                    "booted": booted,
                    "pinned": d.pinned(),
                })
            })
            .collect();
        writeln!(out, "{}", json!({ "version": 1, "deployments": list }))?;
        return Ok(0);
    }
    if state.deployments.is_empty() {
        writeln!(out, "No deployments.")?;
        return Ok(0);
    }
    writeln!(out, "Deployments:")?;
    for (i, d) in state.deployments.iter().enumerate() {
        let (default, pending, rollback, booted) = roles(&state, i);
        let mut tags = Vec::new();
        for (on, tag) in [
            (default, "default"),
            (pending, "pending"),
            (rollback, "rollback"),
            (booted, "booted"),
            (d.pinned(), "pinned"),
        ] {
            if on {
                tags.push(tag);
            }
        }
        let marker = if booted { '●' } else { ' ' };
        let refspec = d.refspec().unwrap_or("(no origin)");
        writeln!(
            out,
            "{marker} {i}: {}:{refspec}{}",
            d.stateroot,
            if tags.is_empty() { String::new() } else { format!(" ({})", tags.join(", ")) }
        )?;
        if let Some(v) = version_of(&sysroot, d) {
            writeln!(out, "      Version: {v}")?;
        }
        writeln!(out, "       Commit: {}.{}", d.checksum, d.deployserial)?;
        for (label, key) in [("Requested", "requested"), ("LocalPackages", "requested-local")] {
            let list = requested(&d.origin, key);
            if !list.is_empty() {
                writeln!(out, "{label:>13}: {}", list.join(" "))?;
            }
        }
        let inactive = inactive(&sysroot, d);
        if !inactive.is_empty() {
            writeln!(out, "     Inactive: {} (in the base already)", inactive.join(" "))?;
        }
        let removed = d.origin.get_list("overrides", "remove");
        if !removed.is_empty() {
            writeln!(out, "RemovedBasePackages: {}", removed.join(" "))?;
        }
    }
    Ok(0)
}

/// Deploy errors that are the user's to fix exit with 1.
pub fn is_user_error(e: &deploy::Error) -> bool {
    use deploy::Error as E;
    match e {
        E::Store(s) => crate::cli::is_user_store_error(s),
        E::Io { .. } | E::Malformed(_) => false,
        _ => true,
    }
}
