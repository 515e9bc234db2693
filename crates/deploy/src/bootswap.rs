//! Making a new list of deployments the boot state, atomically.
//!
//! Everything for the new list is written where the current boot state
//! does not look (the other `boot/loader.N`, the other `ostree/boot.N`),
//! made durable with `syncfs`, and then one `rename` of `boot/loader.tmp`
//! over `boot/loader` switches. A crash before the rename boots the old
//! list, after it the new one. Nothing is ever frozen (FIFREEZE on the
//! root filesystem would stop the machine; see DESIGN.md).

use std::collections::HashMap;
use std::os::fd::AsFd;

use store::fsutil;

use crate::bootconfig::BootConfig;
use crate::error::{Error, Result, io_err};
use crate::failpoint;
use crate::kernel;
use crate::sysroot::{Deployment, State, Sysroot};

/// Replaces `name` in `dir` with a symlink to `target`, atomically.
fn symlink_replace(dir: impl AsFd, target: &str, name: &str) -> std::io::Result<()> {
    let dir = dir.as_fd();
    let tmp = format!("{name}.tmp-link");
    let _ = rustix::fs::unlinkat(dir, tmp.as_str(), rustix::fs::AtFlags::empty());
    rustix::fs::symlinkat(target, dir, tmp.as_str())?;
    rustix::fs::renameat(dir, tmp.as_str(), dir, name)?;
    Ok(())
}

fn os_release_name(root: &std::os::fd::OwnedFd) -> String {
    for path in ["usr/lib/os-release", "etc/os-release", "usr/etc/os-release"] {
        let Ok(fd) = fsutil::open_file(root, path) else { continue };
        let Ok(text) = fsutil::read_to_end(&fd) else { continue };
        let text = String::from_utf8_lossy(&text);
        let value = |key: &str| {
            text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(|v| v.trim_matches('"').to_owned())
        };
        if let Some(v) = value("PRETTY_NAME").or_else(|| value("ID")) {
            return v;
        }
    }
    "Linux".into()
}

impl Sysroot {
    /// Writes `deployments` (default first) as the new boot state and
    /// switches to it. Every deployment must have been staged.
    pub fn write_deployments(&self, state: &State, deployments: Vec<Deployment>) -> Result<State> {
        if let Some(b) = state.booted
            && !deployments.iter().any(|d| d == &state.deployments[b])
        {
            return Err(Error::Booted);
        }
        let mut deployments = deployments;
        // Deployments sharing a kernel are told apart by a serial.
        let mut serials: HashMap<String, u32> = HashMap::new();
        for d in &mut deployments {
            let n = serials.entry(d.bootcsum.clone()).or_default();
            d.bootserial = *n;
            *n += 1;
        }
        let new_bootversion = 1 - state.bootversion;
        let new_sub = 1 - self.current_subbootversion(new_bootversion)?;
        let dir = self.dir();

        // Refs keep each deployment's commit from being pruned, under the
        // names ostree uses (ostree/BOOTVERSION/SUBBOOTVERSION/INDEX).
        for (i, d) in deployments.iter().enumerate() {
            self.repo.refs().set(&format!("ostree/{new_bootversion}/{new_sub}/{i}"), Some(&d.checksum))?;
        }
        failpoint::hit("bootswap::refs");

        let entries = format!("boot/loader.{new_bootversion}/entries");
        fsutil::remove_all_at(dir.as_fd(), entries.as_bytes()).map_err(io_err("clearing", &entries))?;
        fsutil::ensure_dir(dir, "boot", 0o755).map_err(io_err("creating", "boot"))?;
        fsutil::ensure_dir(dir, format!("boot/loader.{new_bootversion}").as_str(), 0o755)
            .map_err(io_err("creating", &entries))?;
        fsutil::ensure_dir(dir, entries.as_str(), 0o755).map_err(io_err("creating", &entries))?;
        let n = deployments.len();
        let show_stateroot = deployments.iter().any(|o| o.stateroot != deployments[0].stateroot);
        for (i, d) in deployments.iter().enumerate() {
            let root = self.open_deployment(d)?;
            let mut entry = BootConfig::default();
            let title = os_release_name(&root);
            let label = if show_stateroot { format!("ostree:{}:{i}", d.stateroot) } else { format!("ostree:{i}") };
            entry.set("title", format!("{title} ({label})"));
            entry.set("version", (n - i).to_string());
            let ostree_arg =
                format!("ostree=/ostree/boot.{new_bootversion}/{}/{}/{}", d.stateroot, d.bootcsum, d.bootserial);
            let options = if d.kargs.is_empty() { ostree_arg } else { format!("{} {ostree_arg}", d.kargs) };
            if let Some(k) = kernel::find(root.as_fd())? {
                let (linux, initrd) = kernel::install(dir.as_fd(), root.as_fd(), &d.stateroot, &d.bootcsum, &k)?;
                entry.set("linux", linux);
                if let Some(initrd) = initrd {
                    entry.set("initrd", initrd);
                }
            }
            entry.set("options", options);
            let file = format!("{entries}/ostree-{}-{}.conf", n - i, d.stateroot);
            let fd = rustix::fs::openat(
                dir,
                file.as_str(),
                rustix::fs::OFlags::WRONLY
                    | rustix::fs::OFlags::CREATE
                    | rustix::fs::OFlags::TRUNC
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::from_raw_mode(0o644),
            )
            .map_err(io_err("writing", &file))?;
            fsutil::write_all(fd.as_fd(), entry.to_text().as_bytes()).map_err(io_err("writing", &file))?;
        }
        failpoint::hit("bootswap::entries");

        // ostree/boot.B.S/STATEROOT/BOOTCSUM/SERIAL -> the deployment.
        let farm = format!("ostree/boot.{new_bootversion}.{new_sub}");
        fsutil::remove_all_at(dir.as_fd(), farm.as_bytes()).map_err(io_err("clearing", &farm))?;
        fsutil::ensure_dir(dir, farm.as_str(), 0o755).map_err(io_err("creating", &farm))?;
        for d in &deployments {
            for part in [format!("{farm}/{}", d.stateroot), format!("{farm}/{}/{}", d.stateroot, d.bootcsum)] {
                fsutil::ensure_dir(dir, part.as_str(), 0o755).map_err(io_err("creating", &part))?;
            }
            let link = format!("{farm}/{}/{}/{}", d.stateroot, d.bootcsum, d.bootserial);
            let target = format!("../../../deploy/{}/deploy/{}.{}", d.stateroot, d.checksum, d.deployserial);
            rustix::fs::symlinkat(target.as_str(), dir, link.as_str()).map_err(io_err("creating", &link))?;
        }
        let ostree_dir = fsutil::open_dir(dir, "ostree").map_err(io_err("opening", "ostree"))?;
        symlink_replace(&ostree_dir, &format!("boot.{new_bootversion}.{new_sub}"), &format!("boot.{new_bootversion}"))
            .map_err(io_err("switching", format!("ostree/boot.{new_bootversion}")))?;
        failpoint::hit("bootswap::bootlinks");

        let boot = fsutil::open_dir(dir, "boot").map_err(io_err("opening", "boot"))?;
        // `boot/boot -> .` lets /boot be the sysroot's own directory or a
        // separate filesystem, as ostree arranges it.
        match rustix::fs::symlinkat(".", &boot, "boot") {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(io_err("creating", "boot/boot")(e)),
        }
        let _ = rustix::fs::unlinkat(&boot, "loader.tmp", rustix::fs::AtFlags::empty());
        rustix::fs::symlinkat(format!("loader.{new_bootversion}").as_str(), &boot, "loader.tmp")
            .map_err(io_err("creating", "boot/loader.tmp"))?;
        failpoint::hit("bootswap::loader-link");

        self.syncfs()?;
        failpoint::hit("bootswap::sync");
        failpoint::hit("bootswap::swap");
        rustix::fs::renameat(&boot, "loader.tmp", &boot, "loader").map_err(io_err("switching", "boot/loader"))?;
        rustix::fs::fsync(&boot).map_err(io_err("syncing", "boot"))?;
        failpoint::hit("bootswap::after-swap");

        // The old state's refs are no longer needed to protect anything the
        // new state does not also protect.
        for (name, _) in self.repo.refs().list()? {
            let Some(rest) = name.strip_prefix("ostree/") else { continue };
            if !rest.starts_with(&format!("{new_bootversion}/{new_sub}/")) && rest.split('/').count() == 3 {
                self.repo.refs().set(&name, None)?;
            }
        }
        let booted = state.booted.and_then(|b| deployments.iter().position(|d| d == &state.deployments[b]));
        Ok(State { bootversion: new_bootversion, subbootversion: new_sub, deployments, booted })
    }
}
