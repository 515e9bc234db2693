//! The image's rpmdb, `usr/lib/sysimage/rpm/rpmdb.sqlite`, edited inside
//! the store as rpm edits it on install and erase: a removed package's
//! header goes, each new package's installed header comes, and `rpm -qa`,
//! `rpm -V` and `rpm -q --whatprovides` in the image tell the truth.
//!
//! rpm adds a package to its database after unpacking it and before its
//! `%post`, so scriptlets find it recorded; the build does the same.

use pkgdb::rpmdb::{InstallInfo, PackageHeaders, RPMDB_FILE, RPMDB_IN_ROOT, RpmDb};

use store::mtree::MutableTree;
use store::transaction::Transaction;

use crate::assemble::Assembly;
use crate::error::{Error, Result};
use crate::package_tree::PackageTree;
use crate::packages::Package;

/// Files sqlite keeps beside the database. A database that `layer` writes
/// is in rollback-journal mode and has none: an image must not carry them,
/// because sqlite writes into `-shm` even to read, and an image's files are
/// hardlinks into the store.
const JOURNALS: [&str; 4] = ["rpmdb.sqlite-wal", "rpmdb.sqlite-shm", "rpmdb.sqlite-journal", ".rpm.lock"];

/// The machine architecture images are built for.
pub const MACHINE_ARCH: &str = "x86_64";

/// The database's path in a tree.
pub fn path() -> String {
    format!("{RPMDB_IN_ROOT}/{RPMDB_FILE}")
}

fn db_error(source: pkgdb::rpmdb::RpmDbError) -> Error {
    Error::Package { package: "the rpm database".into(), source: source.into() }
}

/// Reads the rpmdb of the tree being assembled; an empty one when the
/// tree has none (composing onto an empty tree).
pub fn read(assembly: &mut Assembly<'_, '_>) -> Result<RpmDb> {
    let tx = assembly.transaction();
    match crate::tree::read_file(tx, assembly.tree_mut(), &path())? {
        Some(bytes) => RpmDb::from_bytes(&bytes).map_err(db_error),
        None => RpmDb::new().map_err(db_error),
    }
}

/// The files of the installed package `name` that erasing it removes:
/// everything it lists but directories and `%ghost`s.
pub fn files_of(db: &RpmDb, name: &str) -> Result<Vec<String>> {
    let installed = db.find(name).map_err(db_error)?;
    if installed.is_empty() {
        return Err(Error::NotInstalled { package: name.to_owned() });
    }
    let mut files = Vec::new();
    for package in installed {
        let package = package.package().map_err(db_error)?;
        files.extend(
            package
                .files
                .iter()
                .filter(|f| f.kind != pkgdb::rpm::FileKind::Dir && !f.flags.ghost())
                .map(|f| f.path.as_str().to_owned()),
        );
    }
    Ok(files)
}

/// Takes `removed` out of the database and records `packages` as
/// installed at `time`, then writes the database into the tree. Returns
/// the installed packages afterwards.
pub fn record(
    assembly: &mut Assembly<'_, '_>,
    mut db: RpmDb,
    removed: &[String],
    packages: &[PackageTree],
    time: u32,
) -> Result<Vec<Package>> {
    for name in removed {
        for installed in db.find(name).map_err(db_error)? {
            db.remove(installed.hnum).map_err(db_error)?;
        }
    }
    let install = InstallInfo::new(MACHINE_ARCH, time);
    for package in packages {
        let meta = package.rpm_meta()?;
        let headers = PackageHeaders::read(&meta.headers[..])
            .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
        // An older instance of the same name and arch (a replaced base
        // package) is erased first, as `rpm -U` does.
        for installed in db.find(&meta.package.name).map_err(db_error)? {
            if installed.arch.as_deref() == Some(meta.package.arch.as_str()) {
                db.remove(installed.hnum).map_err(db_error)?;
            }
        }
        db.add(&headers, &install)
            .map_err(|source| Error::Package { package: package.display(), source: source.into() })?;
    }
    let bytes = db.to_bytes().map_err(db_error)?;
    assembly.put_own_file(&path(), 0o644, &bytes)?;
    for journal in JOURNALS {
        assembly.remove(&format!("{RPMDB_IN_ROOT}/{journal}"))?;
    }
    packages_of(&db)
}

/// Rewrites the rpmdb of an imported root `tree` (if it has one) as
/// `layer` writes it: rollback-journal mode, no journal files beside it.
/// A WAL with content means rpm did not finish writing; that is refused.
pub fn normalize(tx: &Transaction<'_>, tree: &mut MutableTree) -> Result<()> {
    let Some(bytes) = crate::tree::read_file(tx, tree, &path())? else { return Ok(()) };
    let wal = crate::tree::read_file(tx, tree, &format!("{RPMDB_IN_ROOT}/rpmdb.sqlite-wal"))?;
    if wal.is_some_and(|w| !w.is_empty()) {
        return Err(db_error(pkgdb::rpmdb::RpmDbError::PendingJournal { file: "rpmdb.sqlite-wal" }));
    }
    let db = RpmDb::from_bytes(&bytes).map_err(db_error)?;
    let checksum = crate::tree::file_object(tx, 0o644, &db.to_bytes().map_err(db_error)?)?;
    let dir = crate::tree::dir_meta(tx, 0o755)?;
    let repo = tx.repo();
    crate::postprocess::insert(repo, tree, &path(), store::mtree::Node::File(checksum), dir)?;
    for journal in JOURNALS {
        tree.take_at(repo, &format!("{RPMDB_IN_ROOT}/{journal}")).map_err(Error::store("editing the tree"))?;
    }
    Ok(())
}

/// The installed packages of an rpmdb, as `layer.packages` lists them;
/// rpm's `gpg-pubkey` pseudo-packages are not packages.
pub fn packages_of(db: &RpmDb) -> Result<Vec<Package>> {
    let mut out: Vec<Package> = db
        .packages()
        .map_err(db_error)?
        .into_iter()
        .filter_map(|p| {
            let arch = p.arch?;
            let version = match p.epoch {
                Some(epoch) if epoch != 0 => format!("{epoch}:{}-{}", p.version, p.release),
                _ => format!("{}-{}", p.version, p.release),
            };
            Some(Package { name: p.name, version, architecture: arch })
        })
        .collect();
    out.sort();
    Ok(out)
}
