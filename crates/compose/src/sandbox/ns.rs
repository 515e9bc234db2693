//! Namespace changes, the only place in this crate with `unsafe` code.
//!
//! `unshare` is unsafe in rustix because `CLONE_FILES` could let one thread
//! close another thread's file descriptors. We never pass it, and the two
//! callers (the sandbox's init and its per-command pid 1) are
//! single-threaded processes when they call it.

#![allow(unsafe_code)]

use std::io;

use rustix::fd::AsFd;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// The namespaces the init takes for the whole session: mounts, hostname,
/// System V IPC and network (which leaves only a loopback that is down).
pub(crate) const SESSION_NAMESPACES: UnshareFlags =
    UnshareFlags::NEWNS.union(UnshareFlags::NEWUTS).union(UnshareFlags::NEWIPC).union(UnshareFlags::NEWNET);

pub(crate) fn unshare(flags: UnshareFlags) -> io::Result<()> {
    debug_assert!(!flags.intersects(UnshareFlags::FILES | UnshareFlags::FS));
    // SAFETY: the flags never include `CLONE_FILES` (checked above), so no
    // file descriptor table is split, and the callers are single-threaded.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(io::Error::from)
}

/// Points the pid namespace for our next children at a fresh one.
///
/// `unshare(CLONE_NEWPID)` works once: afterwards our children's namespace
/// differs from our own, and the kernel refuses another. Each command needs
/// a fresh namespace (its pid 1 dies with it), so first go back to our own
/// namespace for children (`setns` to the one we are in), then unshare.
pub(crate) fn fresh_pid_namespace_for_children(own: impl AsFd) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(own.as_fd(), Some(LinkNameSpaceType::ProcessID))?;
    unshare(UnshareFlags::NEWPID)
}
