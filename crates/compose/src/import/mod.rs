//! `layer compose import SOURCE`: a root filesystem committed as a base
//! image. The root comes from a directory (what `mmdebstrap` or
//! `debootstrap` makes), a tarball of one, or an OCI image layout, whose
//! layers apply in order with their whiteouts. Tarballs and layers stream
//! straight into the store; nothing is unpacked to disk. Then the same
//! postprocessing turns any of them into image form ([`crate::postprocess`]).
//!
//! The boot mount points ([`MOUNT_POINTS`]) are committed as empty
//! directories whatever the source holds there, so a root's device nodes
//! and whatever was mounted there never become content.

pub mod oci;
pub mod rootfs;
pub mod tarball;

use std::fmt;
use std::path::{Path, PathBuf};

use store::commit::{CommitOptions, write_commit};
use store::gvariant::Value;
use store::mtree::MutableTree;
use store::objects::Checksum;
use store::repo::Repo;
use store::transaction::Transaction;

use crate::error::Error;
use crate::packages;
use crate::postprocess::{self, Report};

/// Mount points at boot: committed as empty directories.
pub const MOUNT_POINTS: [&str; 5] = ["dev", "proc", "sys", "run", "tmp"];

/// The commit metadata key naming where an import came from.
pub const KEY_SOURCE: &str = "layer.import.source";
/// The commit metadata key holding an OCI image's manifest digest.
pub const KEY_OCI_MANIFEST: &str = "layer.import.oci.manifest";

/// What to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A root directory.
    Directory(PathBuf),
    /// A tar archive of a root, plain or compressed with gzip, zstd or xz.
    Tarball(PathBuf),
    /// An OCI image layout, and the tag (`org.opencontainers.image.ref.name`)
    /// of the image in it when it holds more than one.
    Oci { layout: PathBuf, tag: Option<String> },
}

impl Source {
    /// Reads `oci:LAYOUT[:TAG]`, a directory or a tarball. A tarball is
    /// recognised by its content, not its name.
    pub fn parse(text: &str) -> Result<Source, ImportError> {
        if let Some(rest) = text.strip_prefix("oci:") {
            // `oci:DIR:TAG` splits at the first colon, as skopeo's `oci:`
            // transport does, unless the whole rest names a directory.
            let (layout, tag) = match rest.split_once(':') {
                Some((layout, tag)) if !Path::new(rest).is_dir() => (layout, Some(tag.to_owned())),
                _ => (rest, None),
            };
            if layout.is_empty() {
                return Err(ImportError::UnknownSource { path: text.to_owned(), reason: "no layout directory".into() });
            }
            return Ok(Source::Oci { layout: PathBuf::from(layout), tag });
        }
        let path = PathBuf::from(text);
        let metadata = std::fs::metadata(&path).map_err(|source| ImportError::Io { path: text.to_owned(), source })?;
        if metadata.is_dir() {
            Ok(Source::Directory(path))
        } else if metadata.is_file() {
            Ok(Source::Tarball(path))
        } else {
            Err(ImportError::UnknownSource {
                path: text.to_owned(),
                reason: "it is neither a directory nor a file".into(),
            })
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Directory(path) | Source::Tarball(path) => write!(f, "{}", path.display()),
            Source::Oci { layout, tag: Some(tag) } => write!(f, "oci:{}:{tag}", layout.display()),
            Source::Oci { layout, tag: None } => write!(f, "oci:{}", layout.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub subject: Option<String>,
    /// Recorded as the commit's `version`.
    pub version: Option<String>,
    /// Put the root into image form ([`postprocess::image_form`]). Off, the
    /// tree is committed as the source has it (still without the mount
    /// points' content), which is for inspecting and comparing a source,
    /// not for deploying.
    pub postprocess: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { subject: None, version: None, postprocess: true }
    }
}

/// What an import made.
#[derive(Debug, Clone)]
pub struct Imported {
    pub commit: Checksum,
    pub packages: Vec<packages::Package>,
    /// Empty when postprocessing was off.
    pub report: Report,
    /// Entries left out that are not under a mount point: device nodes and
    /// FIFOs, as `/path (kind)`.
    pub skipped: Vec<String>,
    /// The digest of the OCI manifest imported.
    pub manifest: Option<String>,
}

/// A root read into the store, before postprocessing.
pub(crate) struct Root {
    pub tree: MutableTree,
    pub skipped: Vec<String>,
    pub manifest: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot import `{path}`: {reason}")]
    UnknownSource { path: String, reason: String },
    #[error("cannot read `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{path}` is not a tarball that `layer` reads: it is not a tar archive, nor one compressed with gzip, zstd or xz"
    )]
    NotATarball { path: String },
    #[error("cannot read the tar stream of {archive}")]
    Tar {
        archive: String,
        #[source]
        source: std::io::Error,
    },
    /// An entry that would be written wrongly or outside the root: the
    /// whole import is refused.
    #[error("`{entry}` in {archive}: {reason}")]
    BadEntry { archive: String, entry: String, reason: String },
    #[error("the OCI image layout `{layout}`: {reason}")]
    Oci { layout: String, reason: String },
    #[error("the OCI image layout `{layout}`: {what}")]
    OciRead {
        layout: String,
        what: String,
        #[source]
        source: ocidir::Error,
    },
    #[error(transparent)]
    Compose(#[from] Error),
}

impl ImportError {
    fn store(what: &'static str) -> impl FnOnce(store::Error) -> ImportError {
        move |source| ImportError::Compose(Error::Store { what, source })
    }
}

/// Commits `source` on `reference`: in image form unless
/// `options.postprocess` is off. Nothing is committed, and the ref is
/// left alone, unless the whole source was read and accepted.
pub fn import(repo: &Repo, source: &Source, reference: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
    store::refs::validate_ref(reference).map_err(ImportError::store("checking the ref name"))?;
    if let Source::Directory(dir) = source
        && !dir.join("usr").is_dir()
        && options.postprocess
    {
        return Err(
            Error::NotARoot { dir: dir.display().to_string(), reason: "it has no `usr` directory".into() }.into()
        );
    }
    let tx = repo.begin().map_err(ImportError::store("starting a transaction"))?;
    let mut root = match source {
        Source::Directory(dir) => rootfs::read_root(&tx, dir)?,
        Source::Tarball(path) => tarball::read_root(&tx, path)?,
        Source::Oci { layout, tag } => oci::read_root(&tx, layout, tag.as_deref())?,
    };
    let report = if options.postprocess {
        if !root.tree.dirs.contains_key("usr") {
            let reason = "it has no `usr` directory".into();
            return Err(Error::NotARoot { dir: source.to_string(), reason }.into());
        }
        postprocess::image_form(repo, &tx, &mut root.tree)?
    } else {
        Report::default()
    };
    let packages = installed_packages(&tx, &mut root.tree)?;

    let mut metadata = vec![
        (packages::KEY.to_owned(), packages::to_value(&packages)),
        (KEY_SOURCE.to_owned(), Value::String(source.to_string())),
    ];
    if let Some(manifest) = &root.manifest {
        metadata.push((KEY_OCI_MANIFEST.to_owned(), Value::String(manifest.clone())));
    }
    if let Some(version) = &options.version {
        metadata.push(("version".to_owned(), Value::String(version.clone())));
    }
    let subject = options.subject.clone().unwrap_or_else(|| format!("Import of {source}"));
    let commit_options = CommitOptions { subject, metadata, ..Default::default() };
    let parent = repo.refs().read(reference).map_err(ImportError::store("reading the ref"))?;
    let commit =
        write_commit(&tx, &root.tree, parent, &commit_options).map_err(ImportError::store("writing the commit"))?;
    tx.commit(&[(reference, Some(commit))]).map_err(ImportError::store("publishing the commit"))?;
    Ok(Imported { commit, packages, report, skipped: root.skipped, manifest: root.manifest })
}

/// The dpkg database's packages, where image form keeps it or, without
/// postprocessing, where the root had it.
fn installed_packages(tx: &Transaction<'_>, tree: &mut MutableTree) -> Result<Vec<packages::Package>, ImportError> {
    let found = packages::from_tree(tx, tree)?;
    if !found.is_empty() {
        return Ok(found);
    }
    match crate::tree::read_file(tx, tree, "var/lib/dpkg/status")? {
        Some(text) => Ok(packages::from_dpkg_status(&text)?),
        None => Ok(Vec::new()),
    }
}
