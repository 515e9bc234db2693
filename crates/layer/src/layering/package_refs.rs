//! The cache of package trees (`layer/pkg/...` refs) kept to what the
//! deployments use: the layered packages of each deployment's commit, and
//! the local packages its request pins. Everything else is dropped before
//! a cleanup, which then prunes its objects, as rpm-ostree prunes its
//! package cache. A tree dropped too early costs only a download and an
//! import the next time.

use std::collections::BTreeSet;

use compose::build::Database;
use compose::package_tree;
use compose::packages::{Package, from_commit};
use deploy::{State, Sysroot};
use store::gvariant::Value;

use crate::request::Request;

/// The prefix of every package tree ref.
const PREFIX: &str = "layer/pkg/";

/// Deletes the package tree refs no deployment of `state` uses; returns
/// how many went.
pub fn prune(sysroot: &Sysroot, state: &State) -> anyhow::Result<usize> {
    let repo = sysroot.repo();
    let mut used = BTreeSet::new();
    for deployment in &state.deployments {
        let request = Request::from_origin(&deployment.origin);
        used.extend(request.local.iter().chain(&request.replaced).map(|l| l.reference.clone()));
        let commit = repo.read_commit(&deployment.checksum)?;
        let Some(base) = commit.metadata_value("layer.base-commit").and_then(Value::as_str) else { continue };
        let base: store::Checksum = base.parse()?;
        let Some(packages) = from_commit(&commit) else { continue };
        let base_packages: BTreeSet<Package> =
            repo.read_commit(&base).ok().and_then(|c| from_commit(&c)).unwrap_or_default().into_iter().collect();
        let format = match Database::of_commit(repo, &deployment.checksum)? {
            Some(Database::Rpm) => "rpm",
            _ => "deb",
        };
        for package in packages.iter().filter(|p| !base_packages.contains(p)) {
            used.insert(package_tree::reference(format, &package.name, &package.version, &package.architecture));
        }
    }
    let mut removed = 0;
    for (name, _) in repo.refs().list()? {
        if name.starts_with(PREFIX) && !used.contains(&name) {
            repo.refs().set(&name, None)?;
            removed += 1;
        }
    }
    Ok(removed)
}
