//! `layer db list|diff`: the packages of deployments and commits, read from
//! the `layer.packages` metadata every commit carries, so nothing is
//! checked out.

use std::collections::BTreeMap;
use std::io::Write;

use clap::{Args, Subcommand};
use compose::packages::{Package, from_commit};
use deploy::Sysroot;
use fn_error_context::context;
use serde_json::json;
use store::Checksum;

use crate::cli::{Cli, UserError};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// List the packages of a deployment (default: the default deployment)
    /// or a commit.
    List(ListOpts),
    /// Packages added, removed and changed from A to B (default: from the
    /// previous deployment to the default one).
    Diff(DiffOpts),
}

#[derive(Debug, Args)]
pub struct ListOpts {
    /// A deployment index (as `layer status` shows), a ref or a commit.
    target: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct DiffOpts {
    from: Option<String>,
    to: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, cmd: &DbCommand) -> anyhow::Result<i32> {
    let sysroot = Sysroot::open(&cli.sysroot)?;
    match cmd {
        DbCommand::List(o) => list(&sysroot, o),
        DbCommand::Diff(o) => diff(&sysroot, o),
    }
}

/// A deployment index, a ref or a commit, as a commit.
fn commit_of(sysroot: &Sysroot, target: Option<&str>, default_index: usize) -> anyhow::Result<Checksum> {
    let state = sysroot.load()?;
    let by_index = |i: usize| -> anyhow::Result<Checksum> {
        let d = state.deployments.get(i).ok_or_else(|| UserError(format!("there is no deployment {i}")))?;
        Ok(d.checksum)
    };
    match target {
        None => by_index(default_index),
        Some(t) => match t.parse::<usize>() {
            Ok(i) if t.len() < 8 => by_index(i),
            _ => Ok(sysroot.repo().refs().resolve(t)?),
        },
    }
}

fn packages_of(sysroot: &Sysroot, commit: &Checksum) -> anyhow::Result<Vec<Package>> {
    let object = sysroot.repo().read_commit(commit)?;
    from_commit(&object).ok_or_else(|| {
        UserError(format!("commit {commit} carries no package list (it was not made by `layer`)")).into()
    })
}

#[context("Listing packages")]
fn list(sysroot: &Sysroot, opts: &ListOpts) -> anyhow::Result<i32> {
    let commit = commit_of(sysroot, opts.target.as_deref(), 0)?;
    let packages = packages_of(sysroot, &commit)?;
    let mut out = std::io::stdout().lock();
    if opts.json {
        writeln!(out, "{}", json!({ "version": 1, "commit": commit.to_string(), "packages": packages }))?;
        return Ok(0);
    }
    for p in &packages {
        writeln!(out, "{} {} {}", p.name, p.version, p.architecture)?;
    }
    Ok(0)
}

/// The differences between two package lists, by name.
#[derive(Debug, Default, serde::Serialize)]
pub struct PackageDiff {
    pub added: Vec<Package>,
    pub removed: Vec<Package>,
    /// (from, to)
    pub changed: Vec<(Package, Package)>,
}

pub fn package_diff(from: &[Package], to: &[Package]) -> PackageDiff {
    let from: BTreeMap<&str, &Package> = from.iter().map(|p| (p.name.as_str(), p)).collect();
    let to: BTreeMap<&str, &Package> = to.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut diff = PackageDiff::default();
    for (name, new) in &to {
        match from.get(name) {
            None => diff.added.push((*new).clone()),
            Some(old) if old != new => diff.changed.push(((*old).clone(), (*new).clone())),
            Some(_) => {}
        }
    }
    diff.removed = from.iter().filter(|(n, _)| !to.contains_key(*n)).map(|(_, p)| (*p).clone()).collect();
    diff
}

/// Prints a diff as `+ name version`, `- name version`, `~ name old -> new`.
pub fn print_diff(out: &mut dyn Write, diff: &PackageDiff) -> std::io::Result<()> {
    for p in &diff.added {
        writeln!(out, "+ {} {}", p.name, p.version)?;
    }
    for p in &diff.removed {
        writeln!(out, "- {} {}", p.name, p.version)?;
    }
    for (old, new) in &diff.changed {
        writeln!(out, "~ {} {} -> {}", new.name, old.version, new.version)?;
    }
    Ok(())
}

#[context("Comparing packages")]
fn diff(sysroot: &Sysroot, opts: &DiffOpts) -> anyhow::Result<i32> {
    let from = commit_of(sysroot, opts.from.as_deref(), 1)?;
    let to = commit_of(sysroot, opts.to.as_deref(), 0)?;
    let diff = package_diff(&packages_of(sysroot, &from)?, &packages_of(sysroot, &to)?);
    let mut out = std::io::stdout().lock();
    if opts.json {
        let value = json!({
            "version": 1,
            "from": from.to_string(),
            "to": to.to_string(),
            "added": diff.added,
            "removed": diff.removed,
            "changed": diff.changed.iter().map(|(o, n)| json!({"name": n.name, "from": o.version, "to": n.version})).collect::<Vec<_>>(),
        });
        writeln!(out, "{value}")?;
        return Ok(0);
    }
    print_diff(&mut out, &diff)?;
    Ok(0)
}
