//! A metadata cache entry kept as generations: `CACHE/KEY` is a symlink
//! to the current generation's directory, which an update stages whole
//! beside it. Publishing the new generation is one rename of a new
//! symlink over `CACHE/KEY`, so a reader sees the old metadata or the new,
//! never a mix; the previous generation is deleted after the swap.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Points `directory` (a symlink in `cache_dir`) at the staged generation,
/// then deletes the previous generation. On failure the staged generation
/// is deleted, `directory` still names the old one, and the error comes
/// with the path it concerns.
pub(crate) fn publish(
    staging: tempfile::TempDir,
    directory: &Path,
    cache_dir: &Path,
) -> Result<(), (PathBuf, std::io::Error)> {
    let previous = std::fs::read_link(directory).ok();
    let generation = staging.keep();
    let Some(name) = generation.file_name().map(ToOwned::to_owned) else {
        return Err((generation, ErrorKind::InvalidInput.into()));
    };
    let shown = name.to_string_lossy();
    let link = cache_dir.join(format!("{}{shown}.link", if shown.starts_with('.') { "" } else { "." }));
    let result = (|| {
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => return Err((link.clone(), source)),
        }
        std::os::unix::fs::symlink(&name, &link).map_err(|source| (link.clone(), source))?;
        std::fs::rename(&link, directory).map_err(|source| (directory.to_owned(), source))
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_dir_all(&generation);
        return Err(error);
    }
    if let Some(previous) = previous.filter(|p| p.as_os_str() != name) {
        // Only a generation we made: a plain name inside the cache.
        if previous.components().count() == 1 {
            let _ = std::fs::remove_dir_all(cache_dir.join(previous));
        }
    }
    Ok(())
}
