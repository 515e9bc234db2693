//! `layer compose ...`: making base images. `import` commits a root
//! filesystem in image form.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use fn_error_context::context;
use serde_json::json;
use store::Repo;

#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Commit a root filesystem directory (such as `mmdebstrap` makes) as a
    /// base image: /etc moves to /usr/etc, the package database into /usr,
    /// /var content into tmpfiles.d entries.
    Import(ImportOpts),
}

#[derive(Debug, Args)]
pub struct ImportOpts {
    /// The root directory to import.
    source: PathBuf,
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
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: &ComposeCommand) -> anyhow::Result<i32> {
    match cmd {
        ComposeCommand::Import(o) => import(o),
    }
}

#[context("Importing `{}` into `{}`", opts.source.display(), opts.repo.display())]
fn import(opts: &ImportOpts) -> anyhow::Result<i32> {
    let repo = Repo::open(&opts.repo)?;
    let options = compose::rootfs::ImportOptions { subject: opts.subject.clone(), version: opts.version.clone() };
    let imported = compose::rootfs::import_rootfs(&repo, &opts.source, &opts.reference, &options)?;
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
        });
        writeln!(out, "{value}")?;
        return Ok(0);
    }
    writeln!(out, "{}", imported.commit)?;
    eprintln!(
        "Imported {} packages on `{}`; {} /var entries became tmpfiles.d lines ({} files kept in /usr/share/factory/var)",
        imported.packages.len(),
        opts.reference,
        imported.report.tmpfiles.len(),
        imported.report.factory_files.len()
    );
    if imported.report.kernels.is_empty() {
        eprintln!("note: the image has no kernel; it deploys, but boots only with a kernel from elsewhere");
    }
    Ok(0)
}
