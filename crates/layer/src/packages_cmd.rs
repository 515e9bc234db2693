//! The verbs that change the request: `install`, `uninstall`, `override`,
//! `upgrade` (and `rebase`, in `deploy_cmd`). Each edits the request of the
//! default deployment of the stateroot and rebuilds from the base.

use std::path::Path;

use clap::{Args, Subcommand};
use compose::package_tree::{PackageFile, import_debs, import_rpms};
use deploy::Sysroot;
use fn_error_context::context;
use sha2::{Digest, Sha256};

use crate::cli::{Cli, UserError};
use crate::layering::{self, ApplyOpts};
use crate::request::{LocalPackage, Request};

#[derive(Debug, Args)]
pub struct InstallOpts {
    /// `NAME`, `NAME=VERSION` or a path to a `.deb` or `.rpm` file.
    #[arg(required = true)]
    packages: Vec<String>,
    /// Do nothing, successfully, for packages already requested.
    #[arg(long)]
    idempotent: bool,
    /// Keep a request the base image already satisfies (it stays inactive
    /// until a base without it arrives).
    #[arg(long)]
    allow_inactive: bool,
    #[command(flatten)]
    apply: ApplyOpts,
}

#[derive(Debug, Args)]
pub struct UninstallOpts {
    /// Requested packages to drop.
    packages: Vec<String>,
    /// Drop every requested package.
    #[arg(long, conflicts_with = "packages")]
    all: bool,
    #[command(flatten)]
    apply: ApplyOpts,
}

#[derive(Debug, Subcommand)]
pub enum OverrideCommand {
    /// Remove a package of the base image.
    Remove(OverrideRemoveOpts),
    /// Replace a package of the base image with a local `.deb` or `.rpm`.
    Replace(OverrideReplaceOpts),
    /// Undo overrides.
    Reset(OverrideResetOpts),
}

#[derive(Debug, Args)]
pub struct OverrideRemoveOpts {
    #[arg(required = true)]
    packages: Vec<String>,
    #[command(flatten)]
    apply: ApplyOpts,
}

#[derive(Debug, Args)]
pub struct OverrideReplaceOpts {
    #[arg(required = true)]
    files: Vec<String>,
    #[command(flatten)]
    apply: ApplyOpts,
}

#[derive(Debug, Args)]
pub struct OverrideResetOpts {
    packages: Vec<String>,
    #[arg(long, conflicts_with = "packages")]
    all: bool,
    #[command(flatten)]
    apply: ApplyOpts,
}

#[derive(Debug, Args)]
pub struct UpgradeOpts {
    /// Show what would change and deploy nothing.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    apply: ApplyOpts,
}

/// Opens the sysroot, takes its lock, and runs `f` with the layering
/// context and the current request.
pub(crate) fn with_request(
    cli: &Cli,
    opts: &ApplyOpts,
    f: impl FnOnce(&layering::Context<'_>, Request) -> anyhow::Result<i32>,
) -> anyhow::Result<i32> {
    let sysroot = Sysroot::open(&cli.sysroot)?;
    let _lock = sysroot.lock(!opts.no_wait, || {
        eprintln!("Waiting for the sysroot lock (another `layer` or `ostree admin` is running)...");
    })?;
    compose::build::reclaim_builds(sysroot.repo())?;
    let state = sysroot.load()?;
    let stateroot = sysroot.choose_stateroot(cli.stateroot.as_deref(), &state)?;
    let merge = match state.booted.map(|b| &state.deployments[b]).filter(|d| d.stateroot == stateroot) {
        Some(booted) => Some(booted),
        None => state.deployments.iter().find(|d| d.stateroot == stateroot),
    };
    let request = merge.map(|m| Request::from_origin(&m.origin)).unwrap_or_default();
    let ctx = layering::Context { sysroot: &sysroot, state: &state, stateroot, merge };
    f(&ctx, request)
}

fn is_local_file(text: &str) -> bool {
    (text.ends_with(".deb") || text.ends_with(".rpm")) && (text.contains('/') || Path::new(text).is_file())
}

/// Imports a local `.deb` or `.rpm` into the store and pins it by sha256.
fn import_local(sysroot: &Sysroot, path: &str) -> anyhow::Result<LocalPackage> {
    let bytes = std::fs::read(path).map_err(|e| UserError(format!("cannot read `{path}`: {e}")))?;
    let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let file = [PackageFile { path: Path::new(path), sha256: &sha256 }];
    let trees =
        if path.ends_with(".rpm") { import_rpms(sysroot.repo(), &file)? } else { import_debs(sysroot.repo(), &file)? };
    let tree = trees.into_iter().next().ok_or_else(|| anyhow::anyhow!("importing `{path}` gave no tree"))?;
    Ok(LocalPackage { sha256, reference: tree.reference })
}

#[context("Installing {}", opts.packages.join(" "))]
pub fn install(cli: &Cli, opts: &InstallOpts) -> anyhow::Result<i32> {
    with_request(cli, &opts.apply, |ctx, mut request| {
        let mut apply = opts.apply.clone();
        for text in &opts.packages {
            if is_local_file(text) {
                let local = import_local(ctx.sysroot, text)?;
                if request.local.contains(&local) && !opts.idempotent {
                    anyhow::bail!(UserError(format!("`{text}` is already requested\nhint: pass `--idempotent`")));
                }
                if apply.force_replace {
                    request.forced.push(local.name());
                }
                request.local.push(local);
                continue;
            }
            let name = text.split_once('=').map_or(text.as_str(), |(n, _)| n);
            if apply.force_replace {
                request.forced.push(name.to_owned());
            }
            if request.requested_names().iter().any(|n| n == name) {
                if opts.idempotent {
                    continue;
                }
                anyhow::bail!(UserError(format!("`{name}` is already requested\nhint: pass `--idempotent`")));
            }
            request.packages.push(text.clone());
            apply.newly_requested.push(name.to_owned());
        }
        apply.allow_inactive = opts.allow_inactive;
        request.normalize();
        layering::apply(ctx, &request, &apply)
    })
}

#[context("Uninstalling")]
pub fn uninstall(cli: &Cli, opts: &UninstallOpts) -> anyhow::Result<i32> {
    if !opts.all && opts.packages.is_empty() {
        anyhow::bail!(UserError("name the packages to uninstall, or pass `--all`".into()));
    }
    with_request(cli, &opts.apply, |ctx, mut request| {
        if opts.all {
            request.packages.clear();
            request.local.clear();
        }
        for name in &opts.packages {
            let before = request.packages.len() + request.local.len();
            request.packages.retain(|p| p.split_once('=').map_or(p.as_str(), |(n, _)| n) != name);
            request.local.retain(|l| l.name() != *name);
            if request.packages.len() + request.local.len() == before {
                anyhow::bail!(UserError(format!(
                    "`{name}` is not a requested package\nhint: `layer status` lists the requested packages"
                )));
            }
        }
        request.normalize();
        layering::apply(ctx, &request, &opts.apply)
    })
}

pub fn override_(cli: &Cli, cmd: &OverrideCommand) -> anyhow::Result<i32> {
    match cmd {
        OverrideCommand::Remove(o) => with_request(cli, &o.apply, |ctx, mut request| {
            request.removed.extend(o.packages.iter().cloned());
            request.normalize();
            layering::apply(ctx, &request, &o.apply)
        }),
        OverrideCommand::Replace(o) => with_request(cli, &o.apply, |ctx, mut request| {
            for file in &o.files {
                let local = import_local(ctx.sysroot, file)?;
                request.replaced.retain(|r| r.name() != local.name());
                request.replaced.push(local);
            }
            request.normalize();
            layering::apply(ctx, &request, &o.apply)
        }),
        OverrideCommand::Reset(o) => with_request(cli, &o.apply, |ctx, mut request| {
            if o.all {
                request.removed.clear();
                request.replaced.clear();
            }
            for name in &o.packages {
                let before = request.removed.len() + request.replaced.len();
                request.removed.retain(|r| r != name);
                request.replaced.retain(|r| r.name() != *name);
                if request.removed.len() + request.replaced.len() == before {
                    anyhow::bail!(UserError(format!("`{name}` has no override")));
                }
            }
            layering::apply(ctx, &request, &o.apply)
        }),
    }
}

#[derive(Debug, Args)]
pub struct DeployOpts {
    /// A commit (or ref) of the base to deploy, keeping the requests.
    commit: String,
    #[command(flatten)]
    apply: ApplyOpts,
}

#[context("Deploying `{}`", opts.commit)]
pub fn deploy(cli: &Cli, opts: &DeployOpts) -> anyhow::Result<i32> {
    with_request(cli, &opts.apply, |ctx, mut request| {
        let commit = ctx.sysroot.repo().refs().resolve(&opts.commit)?;
        request.override_commit = Some(commit.to_string());
        let mut apply = opts.apply.clone();
        apply.rebuild = true;
        layering::apply(ctx, &request, &apply)
    })
}

#[context("Upgrading")]
pub fn upgrade(cli: &Cli, opts: &UpgradeOpts) -> anyhow::Result<i32> {
    with_request(cli, &opts.apply, |ctx, mut request| {
        request.override_commit = None;
        let mut apply = opts.apply.clone();
        apply.rebuild = true;
        if opts.check {
            apply.dry_run = true;
            apply.check = true;
        }
        layering::apply(ctx, &request, &apply)
    })
}
