//! A commit from a base and package trees: the one assembly that layering
//! (onto a base image) and composing (onto an empty tree) share, for
//! `.deb` and `.rpm` alike. The image's package database decides which
//! ([`Database`]); every package must be of its format.
//!
//! 1. The package trees are merged onto the base inside the store
//!    ([`crate::assemble`]).
//! 2. With no script to run, the package database is written into the
//!    merged tree and it is committed without a checkout.
//! 3. Otherwise the merged tree is checked out with hardlinks. The dpkg
//!    database in `/usr/lib/sysimage/dpkg` records the new packages, as
//!    `dpkg --unpack` would, and maintainer scripts run in the sandbox
//!    ([`crate::scripts`]): every `preinst install`, then every `postinst
//!    configure` in dependency order, then the triggers they activated.
//!    For rpm, the rpmdb already records them ([`crate::rpmdb`]) and the
//!    scriptlets run ([`crate::rpm_scripts`]). Their changes come back
//!    through copy-up, so nothing writes through a hardlink into the store.
//! 4. The checkout is committed; files still hardlinked to the store are
//!    known by inode and not read again. The checkout is then exactly a
//!    checkout of the commit, and the caller may deploy it as it is.

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
use crate::rpm_scripts::RpmScripts;
use crate::scripts::{ScriptReport, Scripts};
use crate::{failpoint, rpmdb, triggers};

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
    /// `SOURCE_DATE_EPOCH` for the scripts: tools that stamp dates (the
    /// `passwd` postinst's `/etc/shadow` day) use it, so the same inputs
    /// build the same tree on any day.
    pub source_date_epoch: u64,
}

/// What a build made.
#[derive(Debug)]
pub struct Built {
    pub commit: Checksum,
    pub packages: Vec<Package>,
    pub assembly: AssemblyReport,
    pub scripts: ScriptReport,
    /// The checkout the scripts ran in, when there was one: a hardlinked
    /// tree exactly as a checkout of `commit` would be (it is what the
    /// commit was read from), in the repository's `tmp/`. A deployment
    /// can take it over by rename instead of checking the commit out
    /// again; dropped, it is removed.
    pub checkout: Option<BuiltCheckout>,
}

/// A build's checkout, removed when dropped unless taken.
#[derive(Debug)]
pub struct BuiltCheckout {
    scratch: tempfile::TempDir,
}

impl BuiltCheckout {
    /// The tree: a directory on the repository's filesystem, which the
    /// caller may rename away (what is left is removed on drop).
    pub fn root(&self) -> PathBuf {
        self.scratch.path().join("root")
    }
}

/// Builds the commit (without a ref) and returns it.
pub fn build(repo: &Repo, request: &BuildRequest<'_>, progress: &mut dyn FnMut(&str)) -> Result<Built> {
    let base = repo.read_commit(&request.base).map_err(Error::store("reading the base commit"))?;

    progress("Assembling the tree");
    let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
    let mut assembly = Assembly::new(repo, &tx, (base.root_tree, base.root_meta), request.assemble.clone())?;
    let database = Database::of_tree(&tx, assembly.tree_mut(), request.packages)?;
    let (recorded, in_store) = match database {
        Database::Rpm => {
            let packages = assemble_rpm(request, &base, &mut assembly, progress)?;
            let in_store = !RpmScripts::needed(request.packages);
            (Some(packages), in_store)
        }
        Database::Dpkg => (None, assemble_deb(request, &mut assembly)?),
    };
    if in_store {
        // No script runs: the database is written into the tree directly,
        // and the tree is committed without a checkout.
        let packages = match recorded {
            Some(packages) => packages,
            None => {
                progress("Recording the packages");
                record_in_tree(&tx, &mut assembly, request.packages)?
            }
        };
        let (tree, report) = assembly.finish()?;
        progress("Committing");
        let metadata = commit_metadata(request, &base, &packages);
        let options = CommitOptions { subject: request.subject.clone(), metadata, ..Default::default() };
        let commit = write_commit(&tx, &tree, None, &options).map_err(Error::store("writing the commit"))?;
        tx.commit(&[]).map_err(Error::store("publishing the commit"))?;
        failpoint::hit("compose::built");
        return Ok(Built { commit, packages, assembly: report, scripts: ScriptReport::default(), checkout: None });
    }
    let (tree, assembly) = assembly.finish()?;
    let (scratch, root) = check_out(repo, tx, &tree, progress)?;
    let (packages, scripts) = match recorded {
        Some(packages) => {
            failpoint::hit("compose::recorded");
            let scripts = RpmScripts { root: &root, scratch: scratch.path(), packages: request.packages, request };
            (packages, scripts.run(progress)?)
        }
        None => run_deb_scripts(request, &root, scratch.path(), progress)?,
    };
    failpoint::hit("compose::scripts");
    let commit = commit_checkout(repo, request, &base, &root, &packages, progress)?;
    Ok(Built { commit, packages, assembly, scripts, checkout: Some(BuiltCheckout { scratch }) })
}

/// Takes out the removed base packages and merges the `.deb`s; returns
/// whether the build can finish in the store (no script or trigger runs).
fn assemble_deb(request: &BuildRequest<'_>, assembly: &mut Assembly<'_, '_>) -> Result<bool> {
    for package in request.packages {
        package.deb_meta()?;
    }
    for name in request.remove {
        assembly.remove_package(name)?;
    }
    for package in request.packages {
        assembly.add(package)?;
    }
    let info = format!("{DPKG_ADMINDIR}/info");
    let interests = triggers::interest_files_in_tree(assembly.transaction(), assembly.tree_mut(), &info)?;
    Ok(request.remove.is_empty()
        && !Scripts::needed(request.packages)
        && !request.packages.iter().any(triggers::has_interests)
        && triggers::activated_with(interests, request.packages).is_empty())
}

/// Records the packages in the checkout's dpkg database, runs their
/// maintainer scripts and the triggers they activate, and returns the
/// installed packages.
fn run_deb_scripts(
    request: &BuildRequest<'_>,
    root: &Path,
    scratch: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Package>, ScriptReport)> {
    let admindir = open_admindir(root)?;
    let mut db = admindir.read_status().map_err(dpkg_error)?;
    for name in request.remove {
        admindir.remove(&mut db, name).map_err(dpkg_error)?;
    }
    let mut payloads = Vec::new();
    for package in request.packages {
        let payload = payload_of(package)?;
        let control = &package.deb_meta()?.control;
        let state = if control.scripts.contains_key("postinst") { State::Unpacked } else { State::Installed };
        let previous = db.previous_instance(control).cloned();
        let record = PackageRecord::new(control, &payload, state, previous.as_ref())
            .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
        admindir.record(&mut db, record).map_err(dpkg_error)?;
        payloads.push(payload);
    }
    drop(admindir);
    failpoint::hit("compose::recorded");

    let triggers = triggers::activated(&root.join(DPKG_ADMINDIR).join("info"), request.packages)?;
    let scripts = if Scripts::needed(request.packages) || !triggers.is_empty() {
        let scripts = Scripts { root, scratch, packages: request.packages, payloads: &payloads, request, triggers };
        scripts.run(progress)?
    } else {
        ScriptReport::default()
    };
    let status = std::fs::read(root.join(DPKG_ADMINDIR).join("status"))
        .map_err(|source| Error::Io { what: "reading the new dpkg status".into(), source })?;
    Ok((packages::from_dpkg_status(&status)?, scripts))
}

/// Takes out the removed base packages, merges the `.rpm`s and records
/// the changes in the tree's rpmdb, as rpm does before any `%post` runs.
/// Returns the installed packages.
fn assemble_rpm(
    request: &BuildRequest<'_>,
    base: &store::objects::Commit,
    assembly: &mut Assembly<'_, '_>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Package>> {
    for package in request.packages {
        package.rpm_meta()?;
    }
    RpmScripts::check_runnable(request.packages)?;
    let db = rpmdb::read(assembly)?;
    for name in request.remove {
        let files = rpmdb::files_of(&db, name)?;
        assembly.remove_files(&files.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    for package in request.packages {
        assembly.add(package)?;
    }
    progress("Recording the packages");
    // Installed at the base's time, so the same request builds the same tree.
    let time = u32::try_from(base.timestamp).unwrap_or(u32::MAX);
    let packages = rpmdb::record(assembly, db, request.remove, request.packages, time)?;
    if !RpmScripts::needed(request.packages) {
        for line in RpmScripts::skipped_triggers(request.packages) {
            progress(&format!("note: rpm trigger not run: {line}"));
        }
    }
    Ok(packages)
}

/// Commits the assembled `tree` and checks it out with hardlinks into a
/// new build directory; returns the directory and the root in it.
fn check_out(
    repo: &Repo,
    tx: store::transaction::Transaction<'_>,
    tree: &store::mtree::MutableTree,
    progress: &mut dyn FnMut(&str),
) -> Result<(tempfile::TempDir, PathBuf)> {
    let options = CommitOptions { subject: "layer: assembled tree".into(), timestamp: Some(0), ..Default::default() };
    let assembled = write_commit(&tx, tree, None, &options).map_err(Error::store("writing the assembled tree"))?;
    tx.commit(&[]).map_err(Error::store("publishing the assembled tree"))?;
    failpoint::hit("compose::assembled");

    reclaim_builds(repo)?;
    let scratch = tempfile::Builder::new()
        .prefix(BUILD_PREFIX)
        .tempdir_in(repo.path().join("tmp"))
        .map_err(|source| Error::Io { what: "creating a build directory in the repository".into(), source })?;
    let root = scratch.path().join("root");
    progress("Checking out the tree");
    // Verified, as a deployment's checkout is: a corrupt base object is
    // refused before any script reads it, and the checkout may become the
    // deployment.
    let checkout = CheckoutOptions { mode: None, verify: true, ..Default::default() };
    repo.checkout(&assembled, &root, &checkout).map_err(Error::store("checking out the assembled tree"))?;
    failpoint::hit("compose::checked-out");
    Ok((scratch, root))
}

/// Commits the built checkout at `root`.
fn commit_checkout(
    repo: &Repo,
    request: &BuildRequest<'_>,
    base: &store::objects::Commit,
    root: &Path,
    packages: &[Package],
    progress: &mut dyn FnMut(&str),
) -> Result<Checksum> {
    progress("Committing");
    let metadata = commit_metadata(request, base, packages);
    // Scanned inside the transaction, whose lock keeps a prune from
    // deleting an object the cache names before the commit links it.
    let tx = repo.begin().map_err(Error::store("starting a transaction"))?;
    let cache = DevInoCache::scan(repo).map_err(Error::store("reading the store's inodes"))?;
    let (tree, _) = write_directory(&tx, root, Some(&cache), &[]).map_err(Error::store("committing the built tree"))?;
    let options = CommitOptions { subject: request.subject.clone(), metadata, ..Default::default() };
    let commit = write_commit(&tx, &tree, None, &options).map_err(Error::store("writing the commit"))?;
    tx.commit(&[]).map_err(Error::store("publishing the commit"))?;
    failpoint::hit("compose::built");
    Ok(commit)
}

/// Which package database an image keeps, and so which format its
/// packages must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// `usr/lib/sysimage/dpkg`.
    Dpkg,
    /// `usr/lib/sysimage/rpm/rpmdb.sqlite`.
    Rpm,
}

impl Database {
    /// The database of the tree being assembled; for a tree with none
    /// (composing from nothing), the format of the packages.
    fn of_tree(
        tx: &store::transaction::Transaction<'_>,
        tree: &mut store::mtree::MutableTree,
        packages: &[PackageTree],
    ) -> Result<Database> {
        if crate::tree::read_file(tx, tree, &rpmdb::path())?.is_some() {
            return Ok(Database::Rpm);
        }
        if crate::tree::read_file(tx, tree, &format!("{DPKG_ADMINDIR}/status"))?.is_some() {
            return Ok(Database::Dpkg);
        }
        Ok(match packages.first().map(|p| &p.format) {
            Some(crate::package_tree::Format::Rpm(_)) => Database::Rpm,
            _ => Database::Dpkg,
        })
    }

    /// The database of a stored commit, by the same rule (`None` when it has none).
    pub fn of_commit(repo: &Repo, commit: &Checksum) -> Result<Option<Database>> {
        for (path, database) in
            [(format!("/{}", rpmdb::path()), Database::Rpm), (format!("/{DPKG_ADMINDIR}/status"), Database::Dpkg)]
        {
            match repo.lookup(commit, &path) {
                Ok(_) => return Ok(Some(database)),
                Err(store::Error::NoSuchPath { .. }) => {}
                Err(e) => return Err(Error::Store { what: "reading the base's package database", source: e }),
            }
        }
        Ok(None)
    }
}

/// Build directories in the repository's `tmp/`.
const BUILD_PREFIX: &str = "layer-build-";

/// Removes build directories a killed build left. Builds run under the
/// sysroot lock, so none is in use: a command that holds the lock calls
/// this first, so a build killed after its deployment landed (whose rerun
/// has nothing to build) leaves nothing behind either.
pub fn reclaim_builds(repo: &Repo) -> Result<()> {
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
        let control = &package.deb_meta()?.control;
        let previous = db.previous_instance(control).cloned();
        let record = PackageRecord::new(control, &payload, State::Installed, previous.as_ref())
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
    let deb = package.deb_meta()?;
    for path in &deb.paths {
        let raw = if path == "/." { "./" } else { path.as_str() };
        let normalized = normalize_path(raw.as_bytes(), true)
            .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
        let md5 = deb.control.md5sums.get(&normalized).cloned();
        payload.push_path(normalized, md5);
    }
    Ok(payload)
}
