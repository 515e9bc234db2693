//! The apt repositories a deployment is configured for: its own
//! `/etc/apt` sources, their keys read inside the deployment (a symlink
//! there resolves in the deployment, never on the host), metadata updated
//! into the stateroot's `/var/cache/layer/apt`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use pkgdb::apt::{HttpClient, PackageIndex, SignedBy, Source, read_packages, read_sources, update};
use rustix::fs::{Mode, OFlags, ResolveFlags};

/// One suite and its package indexes.
pub struct Repository {
    pub source: Source,
    pub indexes: Vec<PackageIndex>,
}

/// Reads the sources of the image at `root`, refreshes their metadata in
/// `cache` (unless `cache_only`), and loads their indexes.
pub fn load(root: &Path, cache: &Path, cache_only: bool, client: &HttpClient) -> anyhow::Result<Vec<Repository>> {
    let keys = tempfile::tempdir().context("creating a directory for the repository keys")?;
    let mut out = Vec::new();
    for mut source in read_sources(root)? {
        source.signed_by = keys_in_root(root, source.signed_by.take(), keys.path())?;
        let directory = if cache_only {
            pkgdb::apt::update::cache_directory(&source, cache)
        } else {
            eprintln!("Updating {} {}", source.uri, source.suite);
            update(&source, cache, SystemTime::now(), client)?.directory
        };
        let indexes = read_indexes(&source, &directory, "\nhint: run without `--cache-only` to fetch it")?;
        out.push(Repository { source, indexes });
    }
    if out.is_empty() {
        anyhow::bail!(crate::cli::UserError(format!(
            "the image at `{}` configures no apt repository\nhint: add one under `/etc/apt/sources.list.d`",
            root.display()
        )));
    }
    Ok(out)
}

/// The downloads of `planned`'s repository packages; `indexes` are the
/// `(repository, index)` pairs the plan's `PackageSource::Repository`
/// numbers refer to.
pub fn wanted_files<'p>(
    planned: impl IntoIterator<Item = &'p pkgdb::resolve::PlannedPackage>,
    indexes: &[(&Repository, &PackageIndex)],
) -> Vec<pkgdb::fetch::WantedFile> {
    planned
        .into_iter()
        .filter_map(|p| match &p.source {
            pkgdb::resolve::PackageSource::Repository { index, record, .. } => {
                let (repository, packages) = indexes[*index];
                packages.get(*record).map(|r| pkgdb::fetch::WantedFile::from_apt(&repository.source.uri, &r))
            }
            pkgdb::resolve::PackageSource::Local { .. } => None,
        })
        .collect()
}

/// The package indexes of each of `source`'s components in its metadata
/// `directory`; `hint` follows the error when one is missing.
fn read_indexes(source: &Source, directory: &Path, hint: &str) -> anyhow::Result<Vec<PackageIndex>> {
    let architecture = source.architectures.first().map_or("amd64", String::as_str);
    // The Release the update verified and kept names each index's sha256.
    let release = std::fs::read(directory.join("Release"))
        .ok()
        .and_then(|text| pkgdb::apt::Release::parse(&text, "the cached Release").ok());
    let mut indexes = Vec::new();
    for component in &source.components {
        let stem = format!("{component}/binary-{architecture}/Packages");
        let found = ["xz", "gz"].iter().map(|ext| format!("{stem}.{ext}")).find(|p| directory.join(p).is_file());
        let Some(relative) = found else {
            anyhow::bail!(crate::cli::UserError(format!(
                "no package index for `{} {} {component}` on `{architecture}`{hint}",
                source.uri, source.suite
            )));
        };
        let listed = release.as_ref().and_then(|r| r.file(&relative)).map(|f| f.sha256);
        indexes.push(read_index(&directory.join(&relative), listed.as_ref(), hint)?);
    }
    Ok(indexes)
}

/// Reads a verified `Packages.{xz,gz}`. Its parsed form is cached next to
/// it under the compressed file's sha256 (and an update that keeps the
/// index keeps the cache), as apt keeps `pkgcache.bin`:
/// decoding and parsing bookworm's index is most of the time of an
/// install, and reading the cache back is a copy. The name ties the cache
/// to the exact verified file; a cache that does not read back whole is
/// made again. With `listed`, the sha256 the kept Release gives the index,
/// the cache is found without reading the index, and an index that does
/// not match it is refused.
fn read_index(path: &Path, listed: Option<&[u8; 32]>, hint: &str) -> anyhow::Result<PackageIndex> {
    use sha2::Digest;
    let hex = |digest: &[u8]| -> String { digest.iter().map(|b| format!("{b:02x}")).collect() };
    let shown = path.display().to_string();
    let read_cache = |digest: &str| {
        let cached = pkgdb::apt::update::derived_cache_path(path, digest, "index");
        std::fs::File::open(&cached)
            .ok()
            .and_then(|file| PackageIndex::read_from(std::io::BufReader::new(file)).ok()?)
    };
    if let Some(index) = listed.and_then(|digest| read_cache(&hex(digest))) {
        return Ok(index);
    }
    let data = std::fs::read(path).with_context(|| format!("reading `{shown}`"))?;
    let digest = sha2::Sha256::digest(&data);
    if listed.is_some_and(|l| l[..] != digest[..]) {
        anyhow::bail!(crate::cli::UserError(format!(
            "`{shown}` does not have the sha256 its verified Release lists{hint}"
        )));
    }
    let digest = hex(&digest);
    if listed.is_none()
        && let Some(index) = read_cache(&digest)
    {
        return Ok(index);
    }
    let cached = pkgdb::apt::update::derived_cache_path(path, &digest, "index");
    let cache_name = file_name_of(&cached);
    let text = pkgdb::apt::index::decompress(&data, &shown)?;
    let index = read_packages(&text, &shown)?;
    // Only a cache: a failed write costs the next run the parsing again.
    let staged = cached.with_extension("new");
    if std::fs::write(&staged, index.to_bytes()).is_ok() && std::fs::rename(&staged, &cached).is_ok() {
        // Earlier versions' caches of this file are of no more use.
        let prefix = format!(".{}.", file_name_of(path));
        let stale = std::fs::read_dir(path.parent().unwrap_or(Path::new("."))).into_iter().flatten().flatten();
        for entry in stale {
            let name = entry.file_name().to_string_lossy().into_owned();
            let old_text_cache = name.strip_prefix(".Packages.").is_some_and(|d| d.len() == 64 && !d.contains('.'));
            if (name.starts_with(&prefix) && name != cache_name) || old_text_cache {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(index)
}

fn file_name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The keyrings of a source, read inside `root` and copied to `scratch`.
/// Without `Signed-By`, apt trusts `/etc/apt/trusted.gpg.d` and
/// `/etc/apt/trusted.gpg`; so does this.
fn keys_in_root(root: &Path, signed_by: Option<SignedBy>, scratch: &Path) -> anyhow::Result<Option<SignedBy>> {
    let paths: Vec<PathBuf> = match signed_by {
        Some(SignedBy::Inline(text)) => return Ok(Some(SignedBy::Inline(text))),
        Some(SignedBy::Keyrings(paths)) => paths,
        None => {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("etc/apt/trusted.gpg.d"))
                .map(|dir| {
                    dir.filter_map(|e| e.ok())
                        .map(|e| Path::new("/etc/apt/trusted.gpg.d").join(e.file_name()))
                        .filter(|p| p.extension().is_some_and(|e| e == "gpg" || e == "asc"))
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            if root.join("etc/apt/trusted.gpg").is_file() {
                found.push("/etc/apt/trusted.gpg".into());
            }
            if found.is_empty() {
                return Ok(None);
            }
            found
        }
    };
    let rootfd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .with_context(|| format!("opening `{}`", root.display()))?;
    let mut copies = Vec::new();
    for path in paths {
        let relative = path.strip_prefix("/").unwrap_or(&path);
        let fd = rustix::fs::openat2(
            &rootfd,
            relative,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .with_context(|| format!("opening the keyring `{}` in `{}`", path.display(), root.display()))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut bytes)
            .with_context(|| format!("reading the keyring `{}`", path.display()))?;
        let extension = if path.extension().is_some_and(|e| e == "asc") { "asc" } else { "gpg" };
        let copy = scratch.join(format!("{}.{extension}", copies.len()));
        std::fs::write(&copy, bytes).with_context(|| format!("copying the keyring `{}`", path.display()))?;
        copies.push(copy);
    }
    Ok(Some(SignedBy::Keyrings(copies)))
}

/// Refreshes the metadata of `sources` (a treefile's, not an image's) in
/// `cache` and loads their indexes; each comes with the verified Release's
/// summary (its `Date` dates a composed image).
pub fn load_sources(
    sources: Vec<Source>,
    cache: &Path,
    client: &HttpClient,
) -> anyhow::Result<Vec<(Repository, pkgdb::apt::update::UpdateSummary)>> {
    let mut out = Vec::new();
    for source in sources {
        eprintln!("Updating {} {}", source.uri, source.suite);
        let summary = update(&source, cache, SystemTime::now(), client)?;
        let indexes = read_indexes(&source, &summary.directory, "")?;
        out.push((Repository { source, indexes }, summary));
    }
    Ok(out)
}
