//! A sysroot in OSTree's layout: the repository, the stateroots with
//! their deployments and shared `/var`, and the boot entries that list the
//! deployments in order. Loading reads the same files `ostree admin
//! status` reads, so both tools see the same deployments.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use store::fsutil;
use store::{Checksum, Repo, RepoMode};

use crate::bootconfig::{self, BootConfig};
use crate::error::{Error, Result, io_err};
use crate::keyfile::KeyFile;

/// One deployment: a checkout of `checksum` under its stateroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub stateroot: String,
    pub checksum: Checksum,
    pub deployserial: u32,
    /// sha256 of the kernel and initramfs (of nothing, for a kernel-less tree).
    pub bootcsum: String,
    pub bootserial: u32,
    pub origin: KeyFile,
    /// Kernel arguments other than `ostree=`.
    pub kargs: String,
}

impl Deployment {
    /// `ostree/deploy/STATEROOT/deploy/CSUM.SERIAL`, relative to the sysroot.
    pub fn relpath(&self) -> String {
        format!("ostree/deploy/{}/deploy/{}.{}", self.stateroot, self.checksum, self.deployserial)
    }

    pub fn origin_relpath(&self) -> String {
        format!("{}.origin", self.relpath())
    }

    pub fn pinned(&self) -> bool {
        self.origin.get_bool("libostree-transient", "pinned")
    }

    pub fn refspec(&self) -> Option<&str> {
        self.origin.get("origin", "refspec")
    }
}

/// The deployments as the boot entries list them, default first.
#[derive(Debug, Clone)]
pub struct State {
    pub bootversion: u8,
    pub subbootversion: u8,
    pub deployments: Vec<Deployment>,
    /// Index of the deployment the machine runs, if it runs one of these.
    pub booted: Option<usize>,
}

pub struct Sysroot {
    pub(crate) path: PathBuf,
    pub(crate) dir: OwnedFd,
    pub(crate) repo: Repo,
}

/// The sysroot's write lock. It is the lock `ostree` takes (an fcntl
/// record lock on `ostree/lock`), so `layer` and `ostree admin` exclude
/// each other too. Released when dropped.
pub struct SysrootLock(#[allow(dead_code)] OwnedFd);

pub fn validate_stateroot(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok { Ok(()) } else { Err(Error::InvalidStateroot(name.into())) }
}

impl Sysroot {
    /// Creates the layout (`ostree admin init-fs`), idempotently.
    pub fn init(path: &Path) -> Result<Sysroot> {
        std::fs::create_dir_all(path).map_err(io_err("creating sysroot", path.display()))?;
        for sub in ["boot", "ostree", "ostree/deploy"] {
            std::fs::create_dir_all(path.join(sub)).map_err(io_err("creating", path.join(sub).display()))?;
        }
        Repo::init(&path.join("ostree/repo"), RepoMode::Bare)?;
        Sysroot::open(path)
    }

    pub fn open(path: &Path) -> Result<Sysroot> {
        let dir =
            fsutil::open_dir(rustix::fs::CWD, path).map_err(|_| Error::NotASysroot(path.display().to_string()))?;
        if rustix::fs::statat(&dir, "ostree/repo/config", AtFlags::empty()).is_err() {
            return Err(Error::NotASysroot(path.display().to_string()));
        }
        let repo = Repo::open(&path.join("ostree/repo"))?;
        Ok(Sysroot { path: path.to_owned(), dir, repo })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    pub(crate) fn dir(&self) -> &OwnedFd {
        &self.dir
    }

    /// Creates a stateroot (`ostree admin os-init`): its deploy dir and `/var`.
    pub fn init_stateroot(&self, name: &str) -> Result<()> {
        validate_stateroot(name)?;
        let base = format!("ostree/deploy/{name}");
        for sub in [base.clone(), format!("{base}/deploy"), format!("{base}/var")] {
            fsutil::ensure_dir(&self.dir, sub.as_str(), 0o755)
                .map_err(io_err("creating", self.path.join(&sub).display()))?;
        }
        Ok(())
    }

    pub fn stateroots(&self) -> Result<Vec<String>> {
        let deploy = fsutil::open_dir(&self.dir, "ostree/deploy").map_err(io_err("opening", "ostree/deploy"))?;
        let mut out: Vec<String> = fsutil::read_names(&deploy)
            .map_err(io_err("listing", "ostree/deploy"))?
            .into_iter()
            .filter(|(_, ty, _)| *ty == rustix::fs::FileType::Directory)
            .map(|(n, _, _)| String::from_utf8_lossy(&n).into_owned())
            .collect();
        out.sort();
        Ok(out)
    }

    /// The stateroot to act on: the one asked for, else the booted one's,
    /// else the only one.
    pub fn choose_stateroot(&self, requested: Option<&str>, state: &State) -> Result<String> {
        let all = self.stateroots()?;
        if let Some(name) = requested {
            return if all.iter().any(|s| s == name) {
                Ok(name.to_owned())
            } else {
                Err(Error::NoSuchStateroot(name.into()))
            };
        }
        if let Some(b) = state.booted {
            return Ok(state.deployments[b].stateroot.clone());
        }
        match all.as_slice() {
            [] => Err(Error::NoStateroot),
            [one] => Ok(one.clone()),
            many => Err(Error::AmbiguousStateroot(many.join(", "))),
        }
    }

    /// Takes the write lock. Without `wait`, a held lock is an error at
    /// once; with it, `on_wait` is called once before blocking.
    pub fn lock(&self, wait: bool, on_wait: impl FnOnce()) -> Result<SysrootLock> {
        let fd = rustix::fs::openat(
            &self.dir,
            "ostree/lock",
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(io_err("opening", self.path.join("ostree/lock").display()))?;
        match rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(SysrootLock(fd)),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::ACCESS) if wait => on_wait(),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::ACCESS) => return Err(Error::Locked),
            Err(e) => return Err(io_err("locking", self.path.join("ostree/lock").display())(e)),
        }
        rustix::fs::fcntl_lock(&fd, FlockOperation::LockExclusive)
            .map_err(io_err("locking", self.path.join("ostree/lock").display()))?;
        Ok(SysrootLock(fd))
    }

    fn read_link(&self, path: &str) -> Result<Option<String>> {
        match rustix::fs::readlinkat(&self.dir, path, Vec::new()) {
            Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err("reading link", self.path.join(path).display())(e)),
        }
    }

    /// Reads the deployments from the current boot entries, as ostree does.
    pub fn load(&self) -> Result<State> {
        let bootversion = match self.read_link("boot/loader")?.as_deref() {
            None | Some("loader.0") => 0,
            Some("loader.1") => 1,
            Some(other) => return Err(Error::Malformed(format!("`boot/loader` points to `{other}`"))),
        };
        let subbootversion = self.current_subbootversion(bootversion)?;
        let entries_dir = format!("boot/loader.{bootversion}/entries");
        let mut configs = Vec::new();
        if let Ok(dir) = fsutil::open_dir(&self.dir, entries_dir.as_str()) {
            for (name, _, _) in fsutil::read_names(&dir).map_err(io_err("listing", &entries_dir))? {
                let name = String::from_utf8_lossy(&name).into_owned();
                if !(name.starts_with("ostree-") && name.ends_with(".conf")) {
                    continue;
                }
                let fd = fsutil::open_file(&dir, name.as_str())
                    .map_err(io_err("opening", format!("{entries_dir}/{name}")))?;
                let text = fsutil::read_to_end(&fd).map_err(io_err("reading", format!("{entries_dir}/{name}")))?;
                configs.push(BootConfig::parse(&String::from_utf8_lossy(&text)));
            }
        }
        configs.sort_by(bootconfig::compare_for_listing);
        let mut deployments = Vec::with_capacity(configs.len());
        for config in &configs {
            deployments.push(self.parse_entry(config)?);
        }
        let booted = self.find_booted(&deployments)?;
        Ok(State { bootversion, subbootversion, deployments, booted })
    }

    pub(crate) fn current_subbootversion(&self, bootversion: u8) -> Result<u8> {
        Ok(match self.read_link(&format!("ostree/boot.{bootversion}"))? {
            None => 0,
            Some(t) if t.ends_with(".0") => 0,
            Some(t) if t.ends_with(".1") => 1,
            Some(t) => return Err(Error::Malformed(format!("`ostree/boot.{bootversion}` points to `{t}`"))),
        })
    }

    fn parse_entry(&self, config: &BootConfig) -> Result<Deployment> {
        let bootlink =
            config.karg("ostree").ok_or_else(|| Error::Malformed("a boot entry has no ostree= argument".into()))?;
        // /ostree/boot.B/STATEROOT/BOOTCSUM/SERIAL
        let parts: Vec<&str> = bootlink.trim_start_matches('/').split('/').collect();
        let [_, boot, stateroot, bootcsum, serial] = parts.as_slice() else {
            return Err(Error::Malformed(format!("invalid ostree= argument `{bootlink}`")));
        };
        if !matches!(*boot, "boot.0" | "boot.1") {
            return Err(Error::Malformed(format!("invalid ostree= argument `{bootlink}`")));
        }
        let bootserial =
            serial.parse().map_err(|_| Error::Malformed(format!("invalid boot serial in `{bootlink}`")))?;
        let target = self
            .read_link(bootlink.trim_start_matches('/'))?
            .ok_or_else(|| Error::Malformed(format!("boot link `{bootlink}` is missing")))?;
        let base = target.rsplit('/').next().unwrap_or("");
        let (csum, deployserial) =
            base.split_once('.').ok_or_else(|| Error::Malformed(format!("invalid deployment name `{base}`")))?;
        let checksum = csum.parse().map_err(|_| Error::Malformed(format!("invalid deployment name `{base}`")))?;
        let deployserial =
            deployserial.parse().map_err(|_| Error::Malformed(format!("invalid deployment name `{base}`")))?;
        let kargs = config
            .get("options")
            .unwrap_or("")
            .split_whitespace()
            .filter(|a| !a.starts_with("ostree="))
            .collect::<Vec<_>>()
            .join(" ");
        let mut deployment = Deployment {
            stateroot: (*stateroot).to_owned(),
            checksum,
            deployserial,
            bootcsum: (*bootcsum).to_owned(),
            bootserial,
            origin: KeyFile::default(),
            kargs,
        };
        let origin_path = deployment.origin_relpath();
        if let Ok(fd) = fsutil::open_file(&self.dir, origin_path.as_str()) {
            let text = fsutil::read_to_end(&fd).map_err(io_err("reading", &origin_path))?;
            deployment.origin = KeyFile::parse(&String::from_utf8_lossy(&text))
                .map_err(|e| Error::Malformed(format!("origin `{origin_path}`: {e}")))?;
        }
        Ok(deployment)
    }

    /// The booted deployment is the one whose root is `/`, when this
    /// sysroot is the running system's (`/run/ostree-booted` exists and
    /// the kernel command line names a deployment).
    fn find_booted(&self, deployments: &[Deployment]) -> Result<Option<usize>> {
        let is_host = self.path.canonicalize().map(|p| p == Path::new("/")).unwrap_or(false);
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        if !is_host
            || !Path::new("/run/ostree-booted").exists()
            || !cmdline.split_whitespace().any(|a| a.starts_with("ostree="))
        {
            return Ok(None);
        }
        let root = rustix::fs::stat("/").map_err(io_err("reading", "/"))?;
        for (i, d) in deployments.iter().enumerate() {
            if let Ok(st) = rustix::fs::statat(&self.dir, d.relpath().as_str(), AtFlags::empty())
                && st.st_dev == root.st_dev
                && st.st_ino == root.st_ino
            {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Writes a deployment's origin file durably (used for pins).
    pub fn write_origin(&self, deployment: &Deployment) -> Result<()> {
        let path = deployment.origin_relpath();
        store::refs::write_atomic(&self.dir, &path, deployment.origin.to_text().as_bytes())
            .map_err(io_err("writing origin", self.path.join(&path).display()))
    }

    /// Opens a deployment's root directory.
    pub fn open_deployment(&self, deployment: &Deployment) -> Result<OwnedFd> {
        let rel = deployment.relpath();
        fsutil::open_dir(&self.dir, rel.as_str()).map_err(io_err("opening deployment", self.path.join(&rel).display()))
    }

    pub(crate) fn syncfs(&self) -> Result<()> {
        rustix::fs::syncfs(self.dir.as_fd()).map_err(io_err("syncing", self.path.display()))?;
        // A separate /boot filesystem needs its own sync; it is never frozen.
        if let Ok(boot) = fsutil::open_dir(&self.dir, "boot")
            && rustix::fs::fstat(&boot).map(|b| b.st_dev).ok() != rustix::fs::fstat(&self.dir).map(|s| s.st_dev).ok()
        {
            rustix::fs::syncfs(&boot).map_err(io_err("syncing", self.path.join("boot").display()))?;
        }
        Ok(())
    }
}
