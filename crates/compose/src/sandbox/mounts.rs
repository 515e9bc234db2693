//! The sandbox's mounts: the copy-up overlay over the tree, a minimal
//! `/dev`, tmpfs on `/run`, `/tmp` and `/sys`, and per command a fresh
//! read-only `/proc` and the switch of root.
//!
//! Every mount point inside the tree is found with `openat2` and
//! `RESOLVE_IN_ROOT`, and mounted on through its `/proc/self/fd` link: a
//! symlink in the tree (`tmp -> /somewhere`) resolves inside the tree and
//! never makes us mount on a path of the host.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::process;

use super::protocol::StepError;

/// Device nodes bound from the host's `/dev`. Binding instead of `mknod`
/// works where device creation is denied, and the nodes are the host's own
/// harmless ones.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// The magic link through which a mount reaches exactly the opened file.
fn fd_path(fd: impl AsFd) -> String {
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

fn step<T>(result: Result<T, Errno>, step: impl FnOnce() -> String) -> Result<T, StepError> {
    result.map_err(|errno| StepError::from_rustix(step(), errno))
}

/// Keeps every mount we make in our own namespace: nothing propagates to
/// the host's, whatever the host's `/` propagation is.
pub(crate) fn make_mounts_private() -> Result<(), StepError> {
    step(mount::mount_change("/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE), || {
        "making mounts private".to_owned()
    })
}

/// Mounts the overlay: the tree read-only below, our upper and work dirs
/// above. `redirect_dir`, `metacopy` and `index` are off, so that the upper
/// dir holds whole files, whiteouts and opaque markers only.
pub(crate) fn mount_overlay(lower: &Path, upper: &Path, work: &Path, merged: &Path) -> Result<(), StepError> {
    let open = |path: &Path| {
        step(fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()), || {
            format!("opening `{}`", path.display())
        })
    };
    let (lower_fd, upper_fd, work_fd) = (open(lower)?, open(upper)?, open(work)?);
    // Paths through our fds: no escaping of `:` or `,` in the caller's paths.
    let options = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
        fd_path(&lower_fd),
        fd_path(&upper_fd),
        fd_path(&work_fd),
    );
    let options = CString::new(options).map_err(|_| StepError::message("overlay options contain a NUL byte"))?;
    step(mount::mount("overlay", merged, "overlay", MountFlags::NOSUID | MountFlags::NODEV, options.as_c_str()), || {
        format!("mounting the overlay on `{}`", merged.display())
    })
}

/// Opens a directory of the tree as a mount point, resolving symlinks inside
/// the tree. A missing top-level directory is created when `create` says so.
fn open_mount_point(root: BorrowedFd<'_>, name: &str, create: bool) -> Result<Option<OwnedFd>, StepError> {
    let open = || {
        fs::openat2(
            root,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    };
    match open() {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) if create => {
            step(fs::mkdirat(root, name, Mode::from_raw_mode(0o755)), || format!("creating `/{name}` in the tree"))?;
            step(open(), || format!("opening `/{name}` in the tree")).map(Some)
        }
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => Err(StepError::from_rustix(format!("opening `/{name}` in the tree"), errno)),
    }
}

fn mount_tmpfs(
    root: BorrowedFd<'_>,
    name: &str,
    flags: MountFlags,
    options: &std::ffi::CStr,
    create: bool,
) -> Result<(), StepError> {
    let Some(target) = open_mount_point(root, name, create)? else {
        return Ok(());
    };
    step(mount::mount("tmpfs", fd_path(&target), "tmpfs", flags, options), || format!("mounting tmpfs on `/{name}`"))
}

/// Mounts what lives for the whole session: `/dev`, `/run`, `/tmp`, `/sys`.
/// Writes to these never reach the upper dir, so they are discarded.
pub(crate) fn mount_session_filesystems(merged: &Path) -> Result<(), StepError> {
    let root = step(fs::open(merged, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()), || {
        format!("opening `{}`", merged.display())
    })?;
    let root = root.as_fd();
    let private = MountFlags::NOSUID | MountFlags::NODEV;
    mount_dev(root)?;
    mount_tmpfs(root, "run", private, c"mode=0755", true)?;
    if let Some(run) = open_mount_point(root, "run", false)? {
        // Debian's tmpfiles create it at boot; scripts take locks there.
        step(fs::mkdirat(&run, "lock", Mode::from_raw_mode(0o755)), || "creating `/run/lock`".to_owned())?;
        step(fs::chmodat(&run, "lock", Mode::from_raw_mode(0o1777), AtFlags::empty()), || {
            "setting the mode of `/run/lock`".to_owned()
        })?;
    }
    mount_tmpfs(root, "tmp", private, c"mode=1777", true)?;
    // An empty, read-only `/sys`: nothing of the host's kernel to see.
    mount_tmpfs(root, "sys", private | MountFlags::NOEXEC | MountFlags::RDONLY, c"mode=0555", false)?;
    // `/proc` is mounted per command, from inside its pid namespace.
    open_mount_point(root, "proc", true)?;
    Ok(())
}

fn mount_dev(root: BorrowedFd<'_>) -> Result<(), StepError> {
    // Not `nodev`: the bound device nodes must open.
    mount_tmpfs(root, "dev", MountFlags::NOSUID | MountFlags::NOEXEC, c"mode=0755,size=1m", true)?;
    let dev =
        open_mount_point(root, "dev", false)?.ok_or_else(|| StepError::message("`/dev` vanished after mounting it"))?;
    for name in DEVICES {
        let host = format!("/dev/{name}");
        match fs::statat(fs::CWD, host.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice => {}
            // The host lacks it (a minimal container): so does the sandbox.
            _ => continue,
        }
        let target = step(
            fs::openat(
                &dev,
                *name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            ),
            || format!("creating `/dev/{name}`"),
        )?;
        step(mount::mount_bind(host.as_str(), fd_path(&target)), || format!("binding `{host}` into the sandbox"))?;
    }
    for (name, target) in DEV_SYMLINKS {
        step(fs::symlinkat(*target, &dev, *name), || format!("creating `/dev/{name}`"))?;
    }
    step(fs::mkdirat(&dev, "shm", Mode::from_raw_mode(0o755)), || "creating `/dev/shm`".to_owned())?;
    mount_tmpfs(dev.as_fd(), "shm", MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, c"mode=1777", false)
}

/// Makes the tree this process's root, for one command: a fresh `/proc`
/// (this process is pid 1 of a new pid namespace, so the procfs shows only
/// the command's processes), read-only, then `pivot_root` and detach the
/// host's root so that no path leads back to it.
pub(crate) fn enter_root(merged: &Path, max_processes: u32) -> Result<(), StepError> {
    make_mounts_private()?;
    let root = step(fs::open(merged, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()), || {
        format!("opening `{}`", merged.display())
    })?;
    let mount_point =
        open_mount_point(root.as_fd(), "proc", false)?.ok_or_else(|| StepError::message("the tree has no `/proc`"))?;
    step(
        mount::mount(
            "proc",
            fd_path(&mount_point),
            "proc",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        ),
        || "mounting `/proc`".to_owned(),
    )?;
    if max_processes > 0 && kernel_limits_pids_per_namespace() {
        limit_processes(root.as_fd(), max_processes)?;
    }
    // Read-only: no `/proc/sysrq-trigger`, no `/proc/sys`.
    let procfs = open_mount_point(root.as_fd(), "proc", false)?
        .ok_or_else(|| StepError::message("`/proc` vanished after mounting it"))?;
    step(
        mount::mount_remount(
            fd_path(&procfs),
            MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            "",
        ),
        || "making `/proc` read-only".to_owned(),
    )?;
    drop(procfs);
    step(process::fchdir(&root), || "entering the tree".to_owned())?;
    drop(root);
    // pivot_root(".", ".") stacks the old root on the new one; detaching it
    // leaves the tree as the only root this mount namespace has.
    step(process::pivot_root(".", "."), || "switching root to the tree".to_owned())?;
    step(mount::unmount(".", UnmountFlags::DETACH), || "detaching the host's root".to_owned())?;
    step(process::chdir("/"), || "entering `/`".to_owned())
}

/// `kernel.pid_max` is per pid namespace since Linux 6.14. On older kernels
/// the same file is the host's global limit, which we must not touch.
fn kernel_limits_pids_per_namespace() -> bool {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|part| part.parse::<u32>().unwrap_or(0));
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    (major, minor) >= (6, 14)
}

/// Caps the number of processes (a fork bomb's reach) through the new
/// namespace's own `pid_max`. Root ignores `RLIMIT_NPROC`, so this is the
/// limit that holds without a cgroup.
fn limit_processes(root: BorrowedFd<'_>, max_processes: u32) -> Result<(), StepError> {
    // The kernel refuses a pid_max at or below its reserved pids (300).
    let pid_max = max_processes.max(512);
    let file = step(
        fs::openat2(
            root,
            "proc/sys/kernel/pid_max",
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ),
        || "opening the namespace's `pid_max`".to_owned(),
    )?;
    std::fs::File::from(file)
        .write_all(pid_max.to_string().as_bytes())
        .map_err(|error| StepError::new("limiting the number of processes", &error))
}
