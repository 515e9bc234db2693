//! `layer compose import DIR`: a root filesystem (what `mmdebstrap` or
//! `debootstrap` makes) committed as a base image, postprocessed into image
//! form on the way (see [`crate::postprocess`]).

use std::path::Path;

use store::commit::{CommitOptions, write_commit, write_directory};
use store::gvariant::Value;
use store::objects::Checksum;
use store::repo::Repo;

use crate::error::{Error, Result};
use crate::packages;
use crate::postprocess::{self, Report};

/// Mount points at boot: committed as empty directories, so the device
/// nodes and whatever is mounted there never become content.
const MOUNT_POINTS: [&str; 5] = ["dev", "proc", "sys", "run", "tmp"];

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub subject: Option<String>,
    /// Recorded as the commit's `version`.
    pub version: Option<String>,
}

/// What an import made.
#[derive(Debug, Clone)]
pub struct Imported {
    pub commit: Checksum,
    pub packages: Vec<packages::Package>,
    pub report: Report,
}

/// Commits the root directory `dir` on `reference`, in image form.
pub fn import_rootfs(repo: &Repo, dir: &Path, reference: &str, options: &ImportOptions) -> Result<Imported> {
    let usr = dir.join("usr");
    if !usr.is_dir() {
        return Err(Error::NotARoot { dir: dir.display().to_string(), reason: "it has no `usr` directory".into() });
    }
    store::refs::validate_ref(reference).map_err(Error::store("checking the ref name"))?;
    let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
    let (mut tree, _) = write_directory(&tx, dir, None, &MOUNT_POINTS).map_err(Error::store("committing the root"))?;
    let report = postprocess::image_form(repo, &tx, &mut tree)?;
    let packages = packages::from_tree(&tx, &mut tree)?;

    let mut metadata = vec![
        (packages::KEY.to_owned(), packages::to_value(&packages)),
        ("layer.import.source".to_owned(), Value::String(dir.display().to_string())),
    ];
    if let Some(version) = &options.version {
        metadata.push(("version".to_owned(), Value::String(version.clone())));
    }
    let subject = options.subject.clone().unwrap_or_else(|| format!("Import of {}", dir.display()));
    let commit_options = CommitOptions { subject, metadata, ..Default::default() };
    let parent = repo.refs().read(reference).map_err(Error::store("reading the ref"))?;
    let commit = write_commit(&tx, &tree, parent, &commit_options).map_err(Error::store("writing the commit"))?;
    tx.commit(&[(reference, Some(commit))]).map_err(Error::store("publishing the commit"))?;
    Ok(Imported { commit, packages, report })
}
