//! `layer repo ...`: the object store's verbs, modelled on `ostree`'s, so
//! people who know `ostree` know these.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use fn_error_context::context;
use serde_json::json;
use store::browse::Entry;
use store::gvariant::Value;
use store::{CheckoutMode, CheckoutOptions, CommitOptions, Repo, RepoMode};

use crate::cli::{EXIT_USER, UserError};

#[derive(Debug, Args)]
pub struct RepoArg {
    /// Path to the repository.
    #[arg(long, value_name = "PATH")]
    repo: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Bare,
    BareUser,
    Archive,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository.
    Init(InitOpts),
    /// Commit a directory tree on a branch; prints the commit checksum.
    Commit(CommitOpts),
    /// Check a commit out into a new directory.
    Checkout(CheckoutOpts),
    /// List a commit's files.
    Ls(LsOpts),
    /// Print a file of a commit.
    Cat(CatOpts),
    /// Show a commit and its parents.
    Log(RevOpts),
    /// Show one commit and its metadata.
    Show(RevOpts),
    /// List paths added (A), removed (D) and modified (M) between two commits.
    Diff(DiffOpts),
    /// List refs.
    Refs(RefsOpts),
    /// Verify every object; names each bad one and the commits that reach it.
    Fsck(FsckOpts),
    /// Delete objects no ref reaches.
    Prune(PruneOpts),
    /// Fetch refs from an `archive` repository over HTTP; every object is
    /// verified against its checksum before it is stored.
    Pull(PullOpts),
}

#[derive(Debug, Args)]
pub struct InitOpts {
    #[command(flatten)]
    repo: RepoArg,
    /// How objects are stored.
    #[arg(long, value_enum, default_value = "bare")]
    mode: ModeArg,
}

#[derive(Debug, Args)]
pub struct CommitOpts {
    #[command(flatten)]
    repo: RepoArg,
    /// The ref to commit on.
    #[arg(long, short = 'b')]
    branch: String,
    #[arg(long, short = 's', default_value = "")]
    subject: String,
    #[arg(long, default_value = "")]
    body: String,
    /// Metadata `KEY=VALUE`, stored as a string.
    #[arg(long = "add-metadata-string", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// Trust files that are hardlinks into this repository by device and
    /// inode instead of reading them again.
    #[arg(long)]
    link_checkout_speedup: bool,
    /// Commit without a parent.
    #[arg(long)]
    orphan: bool,
    /// Seconds since the epoch to record instead of now.
    #[arg(long)]
    timestamp: Option<u64>,
    /// The directory to commit.
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckoutOpts {
    #[command(flatten)]
    repo: RepoArg,
    /// Copy files instead of hardlinking them.
    #[arg(long)]
    copy: bool,
    /// Check out over an existing directory, replacing files.
    #[arg(long)]
    union: bool,
    /// Apply OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`).
    #[arg(long)]
    whiteouts: bool,
    /// A ref or commit checksum.
    rev: String,
    dest: PathBuf,
}

#[derive(Debug, Args)]
pub struct LsOpts {
    #[command(flatten)]
    repo: RepoArg,
    /// List subdirectories too.
    #[arg(long, short = 'R')]
    recursive: bool,
    /// Show checksums.
    #[arg(long, short = 'C')]
    checksum: bool,
    rev: String,
    #[arg(default_value = "/")]
    paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CatOpts {
    #[command(flatten)]
    repo: RepoArg,
    rev: String,
    path: String,
}

#[derive(Debug, Args)]
pub struct RevOpts {
    #[command(flatten)]
    repo: RepoArg,
    #[arg(long)]
    json: bool,
    rev: String,
}

#[derive(Debug, Args)]
pub struct DiffOpts {
    #[command(flatten)]
    repo: RepoArg,
    #[arg(long)]
    json: bool,
    from: String,
    to: String,
}

#[derive(Debug, Args)]
pub struct RefsOpts {
    #[command(flatten)]
    repo: RepoArg,
    /// Print each ref's commit too.
    #[arg(long)]
    verbose: bool,
    #[arg(long)]
    json: bool,
    /// Delete these refs.
    #[arg(long, num_args = 1.., value_name = "REF")]
    delete: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FsckOpts {
    #[command(flatten)]
    repo: RepoArg,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PruneOpts {
    #[command(flatten)]
    repo: RepoArg,
    /// Parents of each ref's commit to keep; -1 keeps all history.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    depth: i64,
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PullOpts {
    #[command(flatten)]
    repo: RepoArg,
    /// Store the refs as `REMOTE:REF` (under refs/remotes/) instead of as local refs.
    #[arg(long)]
    remote: Option<String>,
    /// Parallel downloads.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    #[arg(long)]
    json: bool,
    /// Base URL of the repository.
    url: String,
    /// Refs or commit checksums to pull.
    #[arg(required = true)]
    refs: Vec<String>,
}

pub fn run(cmd: &RepoCommand) -> anyhow::Result<i32> {
    match cmd {
        RepoCommand::Init(o) => init(o),
        RepoCommand::Commit(o) => commit(o),
        RepoCommand::Checkout(o) => checkout(o),
        RepoCommand::Ls(o) => ls(o),
        RepoCommand::Cat(o) => cat(o),
        RepoCommand::Log(o) => log(o),
        RepoCommand::Show(o) => show(o),
        RepoCommand::Diff(o) => diff(o),
        RepoCommand::Refs(o) => refs(o),
        RepoCommand::Fsck(o) => fsck(o),
        RepoCommand::Prune(o) => prune(o),
        RepoCommand::Pull(o) => pull(o),
    }
}

fn open(repo: &RepoArg) -> anyhow::Result<Repo> {
    Repo::open(&repo.repo).with_context(|| format!("Opening repository `{}`", repo.repo.display()))
}

#[context("Creating repository `{}`", o.repo.repo.display())]
fn init(o: &InitOpts) -> anyhow::Result<i32> {
    let mode = match o.mode {
        ModeArg::Bare => RepoMode::Bare,
        ModeArg::BareUser => RepoMode::BareUser,
        ModeArg::Archive => RepoMode::Archive,
    };
    Repo::init(&o.repo.repo, mode)?;
    Ok(0)
}

#[context("Committing `{}` on `{}`", o.dir.display(), o.branch)]
fn commit(o: &CommitOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let mut metadata = Vec::new();
    for kv in &o.metadata {
        let (k, v) = kv.split_once('=').ok_or_else(|| UserError(format!("metadata `{kv}` is not KEY=VALUE")))?;
        metadata.push((k.to_owned(), Value::String(v.to_owned())));
    }
    let opts = CommitOptions {
        subject: o.subject.clone(),
        body: o.body.clone(),
        orphan: o.orphan,
        metadata,
        timestamp: o.timestamp,
        link_checkout_speedup: o.link_checkout_speedup,
        ..Default::default()
    };
    let (checksum, _stats) = repo.commit_directory(&o.branch, &o.dir, &opts)?;
    println!("{checksum}");
    Ok(0)
}

#[context("Checking out `{}` into `{}`", o.rev, o.dest.display())]
fn checkout(o: &CheckoutOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let commit = repo.refs().resolve(&o.rev)?;
    if !o.union && o.dest.symlink_metadata().is_ok() {
        return Err(UserError(format!(
            "`{}` already exists\nhint: pass --union to check out over it",
            o.dest.display()
        ))
        .into());
    }
    let opts = CheckoutOptions {
        mode: o.copy.then_some(CheckoutMode::Copy),
        union: o.union,
        whiteouts: o.whiteouts,
        ..Default::default()
    };
    let stats = repo.checkout(&commit, &o.dest, &opts)?;
    let fallbacks = stats.link_fallbacks.load(std::sync::atomic::Ordering::Relaxed);
    if fallbacks > 0 {
        eprintln!("note: {fallbacks} files were copied because they could not be hardlinked");
    }
    Ok(0)
}

fn type_char(entry: &Entry) -> char {
    match entry {
        Entry::Dir { .. } => 'd',
        Entry::File { meta, .. } if meta.is_symlink() => 'l',
        Entry::File { .. } => '-',
    }
}

/// One line of `ls`, in `ostree ls`'s format.
fn ls_line(path: &str, entry: &Entry, checksums: bool) -> String {
    let (mode, uid, gid, size) = match entry {
        Entry::Dir { meta, .. } => (meta.mode, meta.uid, meta.gid, 0),
        Entry::File { meta, size, .. } => (meta.mode, meta.uid, meta.gid, *size),
    };
    let mut line = format!("{}0{:04o} {uid} {gid} {size:>6} ", type_char(entry), mode & 0o7777);
    if checksums {
        match entry {
            Entry::Dir { tree, meta_checksum, .. } => line.push_str(&format!("{tree} {meta_checksum} ")),
            Entry::File { checksum, .. } => line.push_str(&format!("{checksum} ")),
        }
    }
    line.push_str(path);
    if let Entry::File { meta, .. } = entry
        && meta.is_symlink()
    {
        line.push_str(" -> ");
        line.push_str(&meta.symlink_target);
    }
    line
}

#[context("Listing `{}`", o.rev)]
fn ls(o: &LsOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let commit = repo.refs().resolve(&o.rev)?;
    let mut out = std::io::stdout().lock();
    for path in &o.paths {
        let node = repo.lookup(&commit, path)?;
        let mut result = Ok(());
        repo.list(&node, path, o.recursive, &mut |p, e| {
            if result.is_ok() {
                result = writeln!(out, "{}", ls_line(p, e, o.checksum));
            }
        })?;
        result?;
    }
    Ok(0)
}

#[context("Reading `{}` from `{}`", o.path, o.rev)]
fn cat(o: &CatOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let commit = repo.refs().resolve(&o.rev)?;
    match repo.lookup(&commit, &o.path)? {
        store::browse::Node::Dir { .. } => Err(UserError(format!("`{}` is a directory", o.path)).into()),
        store::browse::Node::File(c) => {
            let mut content = repo.open_content(&c)?;
            if content.meta.is_symlink() {
                return Err(UserError(format!("`{}` is a symlink to `{}`", o.path, content.meta.symlink_target)).into());
            }
            std::io::copy(&mut content.reader, &mut std::io::stdout().lock())?;
            Ok(0)
        }
    }
}

fn format_time(secs: u64) -> String {
    // A civil UTC date from days since the epoch (Howard Hinnant's algorithm).
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000", rem / 3600, rem / 60 % 60, rem % 60)
}

fn value_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => json!(b),
        Value::Byte(b) => json!(b),
        Value::Int16(x) => json!(x),
        Value::Uint16(x) => json!(x),
        Value::Int32(x) => json!(x),
        Value::Uint32(x) => json!(x),
        Value::Int64(x) => json!(x),
        Value::Uint64(x) => json!(x),
        Value::Double(x) => json!(x),
        Value::String(s) | Value::ObjectPath(s) | Value::Signature(s) => json!(s),
        Value::Variant(inner) => value_to_json(inner),
        Value::Bytes(b) => json!(hex_string(b)),
        Value::Array(_, items) | Value::Tuple(items) => items.iter().map(value_to_json).collect(),
        Value::Maybe(_, inner) => inner.as_deref().map(value_to_json).unwrap_or(serde_json::Value::Null),
        Value::DictEntry(k, v) => json!([value_to_json(k), value_to_json(v)]),
    }
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn commit_json(checksum: &store::Checksum, c: &store::objects::Commit) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> =
        c.metadata.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect();
    json!({
        "checksum": checksum.to_string(),
        "parent": c.parent.map(|p| p.to_string()),
        "subject": c.subject,
        "body": c.body,
        "timestamp": c.timestamp,
        "root_tree": c.root_tree.to_string(),
        "root_meta": c.root_meta.to_string(),
        "metadata": metadata,
    })
}

fn print_commit(out: &mut impl Write, checksum: &store::Checksum, c: &store::objects::Commit) -> std::io::Result<()> {
    writeln!(out, "commit {checksum}")?;
    if let Some(p) = c.parent {
        writeln!(out, "Parent:  {p}")?;
    }
    writeln!(out, "Date:  {}", format_time(c.timestamp))?;
    for (k, v) in &c.metadata {
        writeln!(out, "{k}: {}", value_to_json(v))?;
    }
    writeln!(out)?;
    writeln!(out, "    {}", if c.subject.is_empty() { "(no subject)" } else { &c.subject })?;
    if !c.body.is_empty() {
        writeln!(out)?;
        for line in c.body.lines() {
            writeln!(out, "    {line}")?;
        }
    }
    writeln!(out)
}

#[context("Showing the history of `{}`", o.rev)]
fn log(o: &RevOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let mut next = Some(repo.refs().resolve(&o.rev)?);
    let mut entries = Vec::new();
    let mut out = std::io::stdout().lock();
    while let Some(c) = next {
        if !repo.has_object(store::ObjectType::Commit, &c)? {
            if !o.json {
                writeln!(out, "<< History beyond this commit not fetched >>")?;
            }
            break;
        }
        let commit = repo.read_commit(&c)?;
        if o.json {
            entries.push(commit_json(&c, &commit));
        } else {
            print_commit(&mut out, &c, &commit)?;
        }
        next = commit.parent;
    }
    if o.json {
        writeln!(out, "{}", json!({ "version": 1, "commits": entries }))?;
    }
    Ok(0)
}

#[context("Showing `{}`", o.rev)]
fn show(o: &RevOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let checksum = repo.refs().resolve(&o.rev)?;
    let commit = repo.read_commit(&checksum)?;
    let mut out = std::io::stdout().lock();
    if o.json {
        writeln!(out, "{}", json!({ "version": 1, "commit": commit_json(&checksum, &commit) }))?;
    } else {
        print_commit(&mut out, &checksum, &commit)?;
    }
    Ok(0)
}

#[context("Comparing `{}` with `{}`", o.from, o.to)]
fn diff(o: &DiffOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let from = repo.refs().resolve(&o.from)?;
    let to = repo.refs().resolve(&o.to)?;
    let changes = repo.diff(&from, &to)?;
    let mut out = std::io::stdout().lock();
    if o.json {
        let list: Vec<_> = changes
            .iter()
            .map(|c| json!({ "path": c.path, "change": format!("{:?}", c.kind).to_lowercase() }))
            .collect();
        writeln!(out, "{}", json!({ "version": 1, "changes": list }))?;
    } else {
        for c in changes {
            writeln!(out, "{}    {}", c.kind.letter(), c.path)?;
        }
    }
    Ok(0)
}

#[context("Listing refs")]
fn refs(o: &RefsOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    if !o.delete.is_empty() {
        for name in &o.delete {
            if repo.refs().read(name)?.is_none() {
                return Err(store::Error::RefNotFound(name.clone()).into());
            }
            repo.refs().set(name, None)?;
        }
        return Ok(0);
    }
    let list = repo.refs().list()?;
    let mut out = std::io::stdout().lock();
    if o.json {
        let refs: serde_json::Map<_, _> = list.iter().map(|(n, c)| (n.clone(), json!(c.to_string()))).collect();
        writeln!(out, "{}", json!({ "version": 1, "refs": refs }))?;
    } else {
        for (name, c) in list {
            if o.verbose {
                writeln!(out, "{name} {c}")?;
            } else {
                writeln!(out, "{name}")?;
            }
        }
    }
    Ok(0)
}

#[context("Checking repository `{}`", o.repo.repo.display())]
fn fsck(o: &FsckOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    eprintln!("Verifying objects...");
    let report = repo.fsck()?;
    let mut out = std::io::stdout().lock();
    if o.json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| {
                json!({
                    "kind": p.kind.name(),
                    "checksum": p.checksum.to_string(),
                    "reason": p.reason,
                    "commits": p.commits.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let dangling: Vec<_> =
            report.dangling_refs.iter().map(|(n, c)| json!({ "ref": n, "commit": c.to_string() })).collect();
        writeln!(
            out,
            "{}",
            json!({ "version": 1, "commits": report.commits, "objects": report.objects, "problems": problems, "dangling_refs": dangling })
        )?;
    } else {
        for p in &report.problems {
            let commits: Vec<String> = p.commits.iter().map(|c| c.to_string()).collect();
            writeln!(out, "corrupt {} object {}: {}", p.kind.name(), p.checksum, p.reason)?;
            if !commits.is_empty() {
                writeln!(out, "  reached from commits: {}", commits.join(", "))?;
            }
        }
        for (name, c) in &report.dangling_refs {
            writeln!(out, "ref `{name}` points at missing commit {c}")?;
        }
        eprintln!("Checked {} commits and {} objects", report.commits, report.objects);
    }
    if report.is_clean() {
        Ok(0)
    } else {
        eprintln!("error: the repository has {} bad objects", report.problems.len() + report.dangling_refs.len());
        Ok(EXIT_USER)
    }
}

#[context("Pruning repository `{}`", o.repo.repo.display())]
fn prune(o: &PruneOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let depth = usize::try_from(o.depth).ok();
    let stats = repo.prune(&store::prune::PruneOptions { depth, dry_run: o.dry_run })?;
    let verb = if o.dry_run { "Would delete" } else { "Deleted" };
    println!("{verb} {} objects, {} bytes; {} reachable", stats.deleted, stats.freed_bytes, stats.reachable);
    Ok(0)
}

#[context("Pulling {} from `{}`", o.refs.join(", "), o.url)]
fn pull(o: &PullOpts) -> anyhow::Result<i32> {
    let repo = open(&o.repo)?;
    let progress = |p: store::pull::PullProgress| {
        eprint!("\rReceiving objects: {}/{} ({} bytes)", p.fetched_objects, p.requested_objects, p.fetched_bytes);
    };
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let opts = store::pull::PullOptions {
        remote: o.remote.clone(),
        jobs: o.jobs.max(1),
        progress: if show_progress { Some(&progress) } else { None },
    };
    let stats = store::pull::pull(&repo, &o.url, &o.refs, &opts)?;
    if show_progress {
        eprintln!();
    }
    let mut out = std::io::stdout().lock();
    if o.json {
        let refs: Vec<_> = stats
            .refs
            .iter()
            .map(|r| json!({ "requested": r.requested, "ref": r.local, "commit": r.commit.to_string() }))
            .collect();
        writeln!(
            out,
            "{}",
            json!({ "version": 1, "refs": refs, "fetched_objects": stats.fetched_objects,
                    "fetched_bytes": stats.fetched_bytes, "skipped_objects": stats.skipped_objects })
        )?;
    } else {
        for r in &stats.refs {
            writeln!(out, "{} {}", r.local.as_deref().unwrap_or(&r.requested), r.commit)?;
        }
        eprintln!(
            "{} objects fetched ({} bytes), {} already present",
            stats.fetched_objects, stats.fetched_bytes, stats.skipped_objects
        );
    }
    Ok(0)
}
