//! The capabilities a script keeps.
//!
//! Scripts run as uid 0, but without the capabilities that reach past the
//! sandbox: no `CAP_SYS_ADMIN` (mount, pivot_root, namespaces of others), no
//! `CAP_MKNOD` (block devices), no `CAP_DAC_READ_SEARCH` (`open_by_handle_at`
//! opens any file of the tree's filesystem by handle, past any root), no
//! `CAP_SYS_MODULE`, `CAP_SYS_RAWIO`, `CAP_SYS_BOOT`, `CAP_SYS_TIME`,
//! `CAP_SYS_PTRACE`, `CAP_NET_ADMIN`, `CAP_BPF`... What stays is what
//! package scripts need to own files and switch users: Docker's default set
//! minus `CAP_MKNOD`.

use rustix::io::Errno;
use rustix::thread::{self, CapabilitySet, CapabilitySets};

use super::protocol::StepError;

const KEEP: CapabilitySet = CapabilitySet::CHOWN
    .union(CapabilitySet::DAC_OVERRIDE)
    .union(CapabilitySet::FOWNER)
    .union(CapabilitySet::FSETID)
    .union(CapabilitySet::KILL)
    .union(CapabilitySet::SETGID)
    .union(CapabilitySet::SETUID)
    .union(CapabilitySet::SETPCAP)
    .union(CapabilitySet::SETFCAP)
    .union(CapabilitySet::NET_BIND_SERVICE)
    .union(CapabilitySet::NET_RAW)
    .union(CapabilitySet::SYS_CHROOT)
    .union(CapabilitySet::AUDIT_WRITE);

/// Drops every other capability from the bounding set (so that exec as
/// root cannot regain them), the inheritable and ambient sets, and our own
/// effective and permitted sets; then sets `no_new_privs`.
pub(crate) fn drop_capabilities() -> Result<(), StepError> {
    for bit in 0..64 {
        let capability = CapabilitySet::from_bits_retain(1 << bit);
        if KEEP.contains(capability) {
            continue;
        }
        match thread::capability_is_in_bounding_set(capability) {
            Ok(true) => thread::remove_capability_from_bounding_set(capability)
                .map_err(|errno| StepError::from_rustix(format!("dropping capability {bit}"), errno))?,
            Ok(false) => {}
            // Past the last capability this kernel knows.
            Err(Errno::INVAL) => break,
            Err(errno) => {
                return Err(StepError::from_rustix(format!("reading capability {bit}"), errno));
            }
        }
    }
    match thread::clear_ambient_capability_set() {
        Ok(()) | Err(Errno::INVAL) => {}
        Err(errno) => return Err(StepError::from_rustix("clearing ambient capabilities", errno)),
    }
    // A caller that runs with fewer capabilities cannot grant more.
    let current = thread::capabilities(None).map_err(|errno| StepError::from_rustix("reading capabilities", errno))?;
    let keep = KEEP.intersection(current.permitted);
    let sets = CapabilitySets { effective: keep, permitted: keep, inheritable: CapabilitySet::empty() };
    thread::set_capabilities(None, sets).map_err(|errno| StepError::from_rustix("setting capabilities", errno))?;
    thread::set_no_new_privs(true).map_err(|errno| StepError::from_rustix("setting no_new_privs", errno))
}
