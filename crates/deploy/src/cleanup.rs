//! Removing what the boot state no longer lists: deployment directories
//! (including those a crash left behind), the other boot version's files,
//! unused kernels, unreachable objects and stale staging.

use std::collections::HashSet;
use std::os::fd::AsFd;

use store::fsutil;
use store::prune::PruneOptions;

use crate::error::{Result, io_err};
use crate::failpoint;
use crate::sysroot::{State, Sysroot};

#[derive(Debug, Default, Clone, Copy)]
pub struct CleanupStats {
    pub deployments_removed: usize,
    pub objects_pruned: usize,
    pub bytes_freed: u64,
}

impl Sysroot {
    pub fn cleanup(&self, state: &State, prune: bool) -> Result<CleanupStats> {
        let mut stats = CleanupStats::default();
        let dir = self.dir();
        let keep: HashSet<String> = state.deployments.iter().map(|d| d.relpath()).collect();
        for stateroot in self.stateroots()? {
            let rel = format!("ostree/deploy/{stateroot}/deploy");
            let Ok(deploy) = fsutil::open_dir(dir, rel.as_str()) else { continue };
            for (name, _, _) in fsutil::read_names(&deploy).map_err(io_err("listing", &rel))? {
                let name = String::from_utf8_lossy(&name).into_owned();
                let base = name.strip_suffix(".origin").unwrap_or(&name);
                if keep.contains(&format!("{rel}/{base}")) {
                    continue;
                }
                fsutil::remove_all_at(deploy.as_fd(), name.as_bytes())
                    .map_err(io_err("removing", format!("{rel}/{name}")))?;
                if !name.ends_with(".origin") {
                    stats.deployments_removed += 1;
                }
            }
        }
        failpoint::hit("cleanup::deployments");

        // The inactive boot version and boot-link farms, and kernels no
        // listed deployment uses.
        let other = 1 - state.bootversion;
        let stale = [
            format!("boot/loader.{other}"),
            format!("ostree/boot.{other}"),
            format!("ostree/boot.{other}.0"),
            format!("ostree/boot.{other}.1"),
            format!("ostree/boot.{}.{}", state.bootversion, 1 - state.subbootversion),
        ];
        for path in &stale {
            fsutil::remove_all_at(dir.as_fd(), path.as_bytes()).map_err(io_err("removing", path))?;
        }
        let kernels: HashSet<String> =
            state.deployments.iter().map(|d| format!("{}-{}", d.stateroot, d.bootcsum)).collect();
        if let Ok(boot_ostree) = fsutil::open_dir(dir, "boot/ostree") {
            for (name, _, _) in fsutil::read_names(&boot_ostree).map_err(io_err("listing", "boot/ostree"))? {
                if !kernels.contains(String::from_utf8_lossy(&name).as_ref()) {
                    fsutil::remove_all_at(boot_ostree.as_fd(), &name).map_err(io_err("removing", "boot/ostree"))?;
                }
            }
        }
        failpoint::hit("cleanup::boot");

        self.repo.reclaim_staging()?;
        if prune {
            let pruned = self.repo.prune(&PruneOptions { depth: Some(0), dry_run: false })?;
            stats.objects_pruned = pruned.deleted;
            stats.bytes_freed = pruned.freed_bytes;
            failpoint::hit("cleanup::prune");
        }
        Ok(stats)
    }
}
