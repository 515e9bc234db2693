//! The rpm-md repositories a deployment is configured for: its own
//! `/etc/yum.repos.d`, their `gpgkey`s read inside the deployment,
//! metadata updated into the stateroot's `/var/cache/layer/rpm-md`.

use std::path::Path;
use std::time::SystemTime;

use pkgdb::apt::HttpClient;
use pkgdb::rpmmd::{CachedFileLists, CachedRepo, Primary, Repository, read_repositories, update};

use crate::cli::UserError;

/// One repository with its package index.
pub struct RpmRepository {
    pub repository: Repository,
    pub primary: Primary,
    pub filelists: Option<CachedFileLists>,
}

/// Reads the enabled repositories of the image at `root`, refreshes their
/// metadata in `cache` (unless `cache_only`), and loads their indexes, in
/// `priority` order (lower first, as dnf prefers).
pub fn load(root: &Path, cache: &Path, cache_only: bool, client: &HttpClient) -> anyhow::Result<Vec<RpmRepository>> {
    let mut repositories = read_repositories(root)?;
    repositories.sort_by_key(|r| r.config.priority);
    let mut out = Vec::new();
    for repository in repositories {
        if !cache_only {
            eprintln!("Updating {} ({})", repository.config.name, repository.config.id);
            update(&repository, cache, SystemTime::now(), client)?;
        }
        let cached = CachedRepo::open(&repository.config, cache)?;
        let primary = cached.primary()?;
        let filelists = cached.filelists()?;
        out.push(RpmRepository { repository, primary, filelists });
    }
    if out.is_empty() {
        anyhow::bail!(UserError(format!(
            "the image at `{}` configures no enabled rpm-md repository\nhint: add one under `/etc/yum.repos.d`",
            root.display()
        )));
    }
    Ok(out)
}
