//! A commit from a base and package trees: the one assembly that layering
//! (onto a base image) and composing (onto an empty tree) share.
//!
//! 1. The package trees are merged onto the base inside the store
//!    ([`crate::assemble`]).
//! 2. The merged tree is checked out with hardlinks, and the dpkg database
//!    in `/usr/lib/sysimage/dpkg` records the new packages, as `dpkg
//!    --unpack` would.
//! 3. Maintainer scripts run in the sandbox ([`crate::scripts`]): every
//!    `preinst install`, then every `postinst configure` in dependency
//!    order, then the triggers they activated. Their changes come back
//!    through copy-up, so nothing writes through a hardlink into the store.
//! 4. The checkout is committed; files still hardlinked to the store are
//!    known by inode and not read again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pkgdb::dpkg::{Admindir, InstalledPayload, PackageRecord, State};
use pkgdb::entry::normalize_path;
use store::CheckoutOptions;
use store::commit::{CommitOptions, DevInoCache, write_commit, write_directory};
use store::gvariant::Value;
use store::objects::Checksum;
use store::repo::Repo;

use crate::assemble::{AssembleOptions, Assembly, AssemblyReport};
use crate::error::{Error, Result};
use crate::package_tree::PackageTree;
use crate::packages::{self, DPKG_ADMINDIR, Package};
use crate::scripts::{ScriptReport, Scripts};
use crate::{failpoint, triggers};

/// Fills `ROOT/var` of a checked-out tree from its `tmpfiles.d`.
pub type PrepareVar<'a> = &'a dyn Fn(&Path) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// What to build.
pub struct BuildRequest<'a> {
    /// The base commit.
    pub base: Checksum,
    /// The packages to add, in the order they must be configured.
    pub packages: &'a [PackageTree],
    /// Base packages to take out first (`override remove` and `replace`).
    pub remove: &'a [String],
    pub assemble: AssembleOptions,
    pub subject: String,
    /// Extra commit metadata (the request, the base).
    pub metadata: Vec<(String, Value)>,
    /// Fills `ROOT/var` from the tree's `tmpfiles.d`, as a deploy does, so
    /// scripts find `/var/lib/dpkg` and the rest.
    pub prepare_var: PrepareVar<'a>,
    /// The program the sandbox re-executes as its init (`None`: this one).
    pub sandbox_program: Option<PathBuf>,
    pub script_timeout: Duration,
}

/// What a build made.
#[derive(Debug)]
pub struct Built {
    pub commit: Checksum,
    pub packages: Vec<Package>,
    pub assembly: AssemblyReport,
    pub scripts: ScriptReport,
}

/// Builds the commit (without a ref) and returns it.
pub fn build(repo: &Repo, request: &BuildRequest<'_>, progress: &mut dyn FnMut(&str)) -> Result<Built> {
    let base = repo.read_commit(&request.base).map_err(Error::store("reading the base commit"))?;

    progress("Assembling the tree");
    let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
    let mut assembly = Assembly::new(repo, &tx, (base.root_tree, base.root_meta), request.assemble.clone())?;
    for name in request.remove {
        assembly.remove_package(name)?;
    }
    for package in request.packages {
        assembly.add(package)?;
    }
    let info = format!("{DPKG_ADMINDIR}/info");
    let interests = triggers::interest_files_in_tree(&tx, assembly.tree_mut(), &info)?;
    let in_store = request.remove.is_empty()
        && !Scripts::needed(request.packages)
        && !request.packages.iter().any(triggers::has_interests)
        && triggers::activated_with(interests, request.packages).is_empty();
    if in_store {
        // No script runs: the database is written into the tree directly,
        // and the tree is committed without a checkout.
        progress("Recording the packages");
        let packages = record_in_tree(&tx, &mut assembly, request.packages)?;
        let (tree, report) = assembly.finish()?;
        progress("Committing");
        let metadata = commit_metadata(request, &base, &packages);
        let options = CommitOptions { subject: request.subject.clone(), metadata, ..Default::default() };
        let commit = write_commit(&tx, &tree, None, &options).map_err(Error::store("writing the commit"))?;
        tx.commit(&[]).map_err(Error::store("publishing the commit"))?;
        failpoint::hit("compose::built");
        return Ok(Built { commit, packages, assembly: report, scripts: ScriptReport::default() });
    }
    let (tree, assembly) = assembly.finish()?;
    let options = CommitOptions { subject: "layer: assembled tree".into(), timestamp: Some(0), ..Default::default() };
    let assembled = write_commit(&tx, &tree, None, &options).map_err(Error::store("writing the assembled tree"))?;
    tx.commit(&[]).map_err(Error::store("publishing the assembled tree"))?;
    failpoint::hit("compose::assembled");

    reclaim_builds(repo)?;
    let scratch = tempfile::Builder::new()
        .prefix(BUILD_PREFIX)
        .tempdir_in(repo.path().join("tmp"))
        .map_err(|source| Error::Io { what: "creating a build directory in the repository".into(), source })?;
    let root = scratch.path().join("root");
    progress("Checking out the tree");
    let checkout = CheckoutOptions { mode: None, ..Default::default() };
    repo.checkout(&assembled, &root, &checkout).map_err(Error::store("checking out the assembled tree"))?;
    failpoint::hit("compose::checked-out");

    let admindir = open_admindir(&root)?;
    let mut db = admindir.read_status().map_err(dpkg_error)?;
    for name in request.remove {
        admindir.remove(&mut db, name).map_err(dpkg_error)?;
    }
    let mut payloads = Vec::new();
    for package in request.packages {
        let payload = payload_of(package)?;
        let state = if package.control.scripts.contains_key("postinst") { State::Unpacked } else { State::Installed };
        let previous = db.previous_instance(&package.control).cloned();
        let record = PackageRecord::new(&package.control, &payload, state, previous.as_ref())
            .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
        admindir.record(&mut db, record).map_err(dpkg_error)?;
        payloads.push(payload);
    }
    drop(admindir);
    failpoint::hit("compose::recorded");

    let triggers = triggers::activated(&root.join(DPKG_ADMINDIR).join("info"), request.packages)?;
    let scripts = if Scripts::needed(request.packages) || !triggers.is_empty() {
        let scripts = Scripts {
            root: &root,
            scratch: scratch.path(),
            packages: request.packages,
            payloads: &payloads,
            request,
            triggers,
        };
        scripts.run(progress)?
    } else {
        ScriptReport::default()
    };

    failpoint::hit("compose::scripts");
    progress("Committing");
    let status = std::fs::read(root.join(DPKG_ADMINDIR).join("status"))
        .map_err(|source| Error::Io { what: "reading the new dpkg status".into(), source })?;
    let packages = packages::from_dpkg_status(&status)?;
    let metadata = commit_metadata(request, &base, &packages);
    let cache = DevInoCache::scan(repo).map_err(Error::store("reading the store's inodes"))?;
    let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
    let (tree, _) =
        write_directory(&tx, &root, Some(&cache), &[]).map_err(Error::store("committing the built tree"))?;
    let options = CommitOptions { subject: request.subject.clone(), metadata, ..Default::default() };
    let commit = write_commit(&tx, &tree, None, &options).map_err(Error::store("writing the commit"))?;
    tx.commit(&[]).map_err(Error::store("publishing the commit"))?;
    failpoint::hit("compose::built");
    Ok(Built { commit, packages, assembly, scripts })
}

/// Build directories in the repository's `tmp/`.
const BUILD_PREFIX: &str = "layer-build-";

/// Removes build directories a killed build left. Builds run under the
/// sysroot lock, so none is in use.
fn reclaim_builds(repo: &Repo) -> Result<()> {
    let tmp = repo.path().join("tmp");
    let entries =
        std::fs::read_dir(&tmp).map_err(|source| Error::Io { what: "listing the repository's tmp".into(), source })?;
    for entry in entries.filter_map(|e| e.ok()) {
        if entry.file_name().to_string_lossy().starts_with(BUILD_PREFIX) {
            std::fs::remove_dir_all(entry.path())
                .map_err(|source| Error::Io { what: format!("removing `{}`", entry.path().display()), source })?;
        }
    }
    Ok(())
}

fn commit_metadata(
    request: &BuildRequest<'_>,
    base: &store::objects::Commit,
    packages: &[Package],
) -> Vec<(String, Value)> {
    let mut metadata = request.metadata.clone();
    metadata.push((packages::KEY.to_owned(), packages::to_value(packages)));
    if let Some(version) = base.metadata_value("version") {
        metadata.push(("version".to_owned(), version.clone()));
    }
    metadata
}

/// Records `packages` as installed in the tree's dpkg database, as
/// [`Admindir::record`] would on disk: their info files, then `status`
/// (the previous one kept as `status-old`).
fn record_in_tree(
    tx: &store::transaction::Transaction<'_>,
    assembly: &mut Assembly<'_, '_>,
    packages: &[PackageTree],
) -> Result<Vec<Package>> {
    let status_path = format!("{DPKG_ADMINDIR}/status");
    let old = crate::tree::read_file(tx, assembly.tree_mut(), &status_path)?.unwrap_or_default();
    let mut db = pkgdb::dpkg::StatusDb::parse(&old)
        .map_err(|source| Error::Package { package: "the dpkg database".into(), source: source.into() })?;
    for package in packages {
        let payload = payload_of(package)?;
        let previous = db.previous_instance(&package.control).cloned();
        let record = PackageRecord::new(&package.control, &payload, State::Installed, previous.as_ref())
            .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
        let info_name = record.entry.info_name();
        for file in &record.info_files {
            let name = pkgdb::dpkg::info_file_name(&info_name, &file.kind);
            assembly.put_own_file(&format!("{DPKG_ADMINDIR}/info/{name}"), file.mode, &file.contents)?;
        }
        db.insert(record.entry);
    }
    let new = db.to_bytes();
    assembly.put_own_file(&format!("{DPKG_ADMINDIR}/status-old"), 0o644, &old)?;
    assembly.put_own_file(&status_path, 0o644, &new)?;
    packages::from_dpkg_status(&new)
}

fn dpkg_error(source: pkgdb::dpkg::AdmindirError) -> Error {
    Error::Package { package: "the dpkg database".into(), source: source.into() }
}

/// The image's dpkg database, created if the tree has none (composing onto
/// an empty tree).
fn open_admindir(root: &Path) -> Result<Admindir> {
    let path = root.join(DPKG_ADMINDIR);
    std::fs::create_dir_all(&path)
        .map_err(|source| Error::Io { what: format!("creating `/{DPKG_ADMINDIR}`"), source })?;
    let admindir = Admindir::open(&path).map_err(dpkg_error)?;
    admindir.ensure_layout().map_err(dpkg_error)?;
    Ok(admindir)
}

/// What the package's payload installed, with the md5 of each file from
/// its `md5sums`, as dpkg records it.
pub fn payload_of(package: &PackageTree) -> Result<InstalledPayload> {
    let mut payload = InstalledPayload::new();
    for path in &package.paths {
        let raw = if path == "/." { "./" } else { path.as_str() };
        let normalized = normalize_path(raw.as_bytes(), true)
            .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
        let md5 = package.control.md5sums.get(&normalized).cloned();
        payload.push_path(normalized, md5);
    }
    Ok(payload)
}
