//! `layer compose ...`: making base images. `tree` builds one from the
//! packages a treefile names; `import` commits a root filesystem (a
//! directory, a tarball or an OCI image layout) in image form.

mod tree;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use compose::import::{ImportError, ImportOptions, Source};
use fn_error_context::context;
use serde_json::json;
use store::Repo;

#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Build a base image from the packages a treefile (TOML) names, onto an
    /// empty merged-/usr tree, and commit it on the treefile's ref.
    Tree(tree::TreeOpts),
    /// Commit a root filesystem as a base image: /etc moves to /usr/etc, the
    /// package database into /usr, /var content into tmpfiles.d entries.
    Import(ImportOpts),
}

#[derive(Debug, Args)]
pub struct ImportOpts {
    /// What to import: a root directory (such as `mmdebstrap` makes); a
    /// tarball of one (`.tar`, `.tar.gz`, `.tar.zst`, `.tar.xz`); or
    /// `oci:LAYOUT_DIR[:TAG]`, an image of an OCI image layout, whose layers
    /// apply in order.
    source: String,
    /// The repository to commit into.
    #[arg(long, value_name = "PATH")]
    repo: PathBuf,
    /// The ref to commit on.
    #[arg(long = "ref", value_name = "REF")]
    reference: String,
    /// A version recorded in the commit (`layer status` shows it).
    #[arg(long = "add-version", value_name = "VERSION")]
    version: Option<String>,
    #[arg(long, short = 's')]
    subject: Option<String>,
    /// Commit the root as the source has it, not in image form (for
    /// inspecting or comparing a source; such a commit does not deploy).
    #[arg(long)]
    no_postprocess: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: &ComposeCommand) -> anyhow::Result<i32> {
    match cmd {
        ComposeCommand::Import(o) => import(o),
        ComposeCommand::Tree(o) => tree::run(o),
    }
}

#[context("Importing `{}` into `{}`", opts.source, opts.repo.display())]
fn import(opts: &ImportOpts) -> anyhow::Result<i32> {
    let source = Source::parse(&opts.source).map_err(import_error)?;
    let repo = Repo::open(&opts.repo)?;
    let options = ImportOptions {
        subject: opts.subject.clone(),
        version: opts.version.clone(),
        postprocess: !opts.no_postprocess,
    };
    let imported = compose::import::import(&repo, &source, &opts.reference, &options).map_err(import_error)?;
    let mut out = std::io::stdout().lock();
    if opts.json {
        let value = json!({
            "version": 1,
            "commit": imported.commit.to_string(),
            "ref": opts.reference,
            "packages": imported.packages,
            "kernels": imported.report.kernels,
            "tmpfiles": imported.report.tmpfiles,
            "factory_files": imported.report.factory_files,
            "skipped": imported.skipped,
            "manifest": imported.manifest,
        });
        writeln!(out, "{value}")?;
        return Ok(0);
    }
    writeln!(out, "{}", imported.commit)?;
    for skipped in &imported.skipped {
        eprintln!(
            "note: left out `{skipped}`: device nodes and FIFOs cannot be committed; at boot, /dev provides them"
        );
    }
    eprintln!(
        "Imported {} packages on `{}`; {} /var entries became tmpfiles.d lines ({} files kept in /usr/share/factory/var)",
        imported.packages.len(),
        opts.reference,
        imported.report.tmpfiles.len(),
        imported.report.factory_files.len()
    );
    if opts.no_postprocess {
        eprintln!("note: committed as the source has it (--no-postprocess); it does not deploy");
    } else if imported.report.kernels.is_empty() && !has_kernel(&repo, &imported.commit) {
        eprintln!("note: the image has no kernel; it deploys, but boots only with a kernel from elsewhere");
    }
    Ok(0)
}

/// Everything wrong with the source is the user's to fix (exit 1); the
/// store's and the machine's failures keep their own classification.
fn import_error(error: ImportError) -> anyhow::Error {
    match error {
        ImportError::Compose(inner) => inner.into(),
        error => {
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(&error);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            crate::cli::UserError(text).into()
        }
    }
}

/// True if the commit has a `usr/lib/modules/KVER/vmlinuz`, whether the
/// import moved it there from `/boot` or the source had it in place.
fn has_kernel(repo: &Repo, commit: &store::Checksum) -> bool {
    let Ok(store::browse::Node::Dir { tree, .. }) = repo.lookup(commit, "usr/lib/modules") else { return false };
    let Ok(modules) = repo.read_dirtree(&tree) else { return false };
    modules.dirs.iter().any(|(_, version, _)| {
        repo.read_dirtree(version).is_ok_and(|dir| dir.files.iter().any(|(name, _)| name == "vmlinuz"))
    })
}
