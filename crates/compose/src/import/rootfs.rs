//! A root directory read into the store: a walk of the directory with its
//! mount points committed empty ([`super::MOUNT_POINTS`]).

use std::path::Path;

use store::commit::write_directory;
use store::transaction::Transaction;

use super::{ImportError, MOUNT_POINTS, Root};

pub(crate) fn read_root(tx: &Transaction<'_>, dir: &Path) -> Result<Root, ImportError> {
    let (tree, _) = write_directory(tx, dir, None, &MOUNT_POINTS).map_err(ImportError::store("committing the root"))?;
    Ok(Root { tree, skipped: Vec::new(), manifest: None })
}
