//! Creating a deployment directory from a commit: hardlink checkout,
//! `/etc`, the stateroot's `/var` on first use, and the origin file. Until
//! the boot entries list it (see `bootswap.rs`), the directory is invisible:
//! a crash leaves only a directory that cleanup removes.

use std::os::fd::AsFd;

use store::{CheckoutOptions, Checksum, fsutil};

use crate::error::{Result, io_err};
use crate::etc::{self, MergeStats};
use crate::failpoint;
use crate::kernel;
use crate::keyfile::KeyFile;
use crate::sysroot::{Deployment, Sysroot};

impl Sysroot {
    /// The next free serial for `checksum` in `stateroot`: one past every
    /// directory that exists, listed or left over.
    fn next_deployserial(&self, stateroot: &str, checksum: &Checksum) -> Result<u32> {
        let rel = format!("ostree/deploy/{stateroot}/deploy");
        let dir = fsutil::open_dir(self.dir(), rel.as_str()).map_err(io_err("opening", &rel))?;
        let prefix = format!("{checksum}.");
        let mut next = 0;
        for (name, _, _) in fsutil::read_names(&dir).map_err(io_err("listing", &rel))? {
            let name = String::from_utf8_lossy(&name);
            if let Some(serial) = name.strip_prefix(&prefix).and_then(|s| s.parse::<u32>().ok()) {
                next = next.max(serial + 1);
            }
        }
        Ok(next)
    }

    /// Creates a deployment of `commit` in `stateroot`, with `/etc` merged
    /// from `merge_from` when given. It is not yet bootable: pass it to
    /// [`Sysroot::write_deployments`].
    ///
    /// `prepared`, when given, is a directory holding exactly a checkout of
    /// `commit` made with `verify` (a build's, whose scripts ran in it and
    /// which was then committed as `commit`), on the sysroot's filesystem:
    /// it is renamed into place instead of checking the commit out again.
    /// If it cannot be (another filesystem), the commit is checked out.
    pub fn stage(
        &self,
        stateroot: &str,
        commit: &Checksum,
        origin: KeyFile,
        merge_from: Option<&Deployment>,
        prepared: Option<&std::path::Path>,
    ) -> Result<(Deployment, MergeStats)> {
        let deployserial = self.next_deployserial(stateroot, commit)?;
        let mut deployment = Deployment {
            stateroot: stateroot.to_owned(),
            checksum: *commit,
            deployserial,
            bootcsum: String::new(),
            bootserial: 0,
            origin,
            kargs: merge_from.map(|m| m.kargs.clone()).unwrap_or_default(),
        };
        let rel = deployment.relpath();
        let dest = self.path.join(&rel);
        let renamed = match prepared {
            Some(tree) => match std::fs::rename(tree, &dest) {
                Ok(()) => true,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => false,
                Err(e) => return Err(io_err("moving the built tree to", &rel)(e)),
            },
            None => false,
        };
        if !renamed {
            // Every object is re-hashed as it is checked out (unless a
            // verified checkout hashed this very inode before): a corrupt
            // commit (SECURITY.md 38) fails here, naming the object, before
            // anything lists the deployment, and cleanup reclaims the
            // directory.
            let verified = CheckoutOptions { verify: true, ..Default::default() };
            self.repo.checkout(commit, &dest, &verified)?;
        }
        failpoint::hit("deploy::checkout");
        let root = self.open_deployment(&deployment)?;
        etc::prepare(root.as_fd())?;
        let stats = match merge_from {
            Some(old) => etc::merge(self.open_deployment(old)?.as_fd(), root.as_fd())?,
            None => MergeStats::default(),
        };
        failpoint::hit("deploy::etc");
        self.ensure_var(&deployment)?;
        let var_rel = format!("ostree/deploy/{stateroot}/var");
        let var = store::fsutil::open_dir(self.dir(), var_rel.as_str()).map_err(io_err("opening", &var_rel))?;
        crate::tmpfiles::apply(root.as_fd(), var.as_fd())?;
        failpoint::hit("deploy::var");
        deployment.bootcsum = match kernel::find(root.as_fd())? {
            Some(k) => kernel::bootcsum(root.as_fd(), &k)?,
            None => kernel::kernelless_bootcsum(),
        };
        self.write_origin(&deployment)?;
        failpoint::hit("deploy::origin");
        Ok((deployment, stats))
    }

    /// `/var` belongs to the stateroot: it is filled once, from the first
    /// deployment's `/var`, and never touched again. It is built beside the
    /// empty `var` and renamed over it, so a crash cannot leave it half full.
    fn ensure_var(&self, deployment: &Deployment) -> Result<()> {
        let base = format!("ostree/deploy/{}", deployment.stateroot);
        let var_rel = format!("{base}/var");
        let var = fsutil::open_dir(self.dir(), var_rel.as_str()).map_err(io_err("opening", &var_rel))?;
        if !fsutil::read_names(&var).map_err(io_err("listing", &var_rel))?.is_empty() {
            return Ok(());
        }
        let root = self.open_deployment(deployment)?;
        let Ok(src) = fsutil::open_dir(&root, "var") else { return Ok(()) };
        let state = fsutil::open_dir(self.dir(), base.as_str()).map_err(io_err("opening", &base))?;
        fsutil::remove_all_at(state.as_fd(), b"var.new").map_err(io_err("removing", format!("{base}/var.new")))?;
        etc::copy_path(root.as_fd(), b"var", state.as_fd(), b"var.new")?;
        drop(src);
        rustix::fs::renameat(&state, "var.new", &state, "var").map_err(io_err("installing", &var_rel))?;
        Ok(())
    }
}
