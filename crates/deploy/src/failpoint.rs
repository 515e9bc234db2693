//! Named crash points. With the `failpoints` feature, setting
//! `FAILPOINTS=name=return` makes the process SIGKILL itself when it
//! reaches `name`, which is how the crash tests stop a deploy at every
//! step. Without the feature, `hit` compiles to nothing.

/// Every failpoint, in the order a deploy reaches them.
pub const ALL: &[&str] = &[
    "deploy::checkout",
    "deploy::etc",
    "deploy::var",
    "deploy::origin",
    "bootswap::refs",
    "bootswap::entries",
    "bootswap::bootlinks",
    "bootswap::loader-link",
    "bootswap::sync",
    "bootswap::swap",
    "bootswap::after-swap",
    "cleanup::deployments",
    "cleanup::boot",
    "cleanup::prune",
];

#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    use std::sync::Once;
    static SETUP: Once = Once::new();
    // The scenario reads FAILPOINTS once and must live as long as the process.
    SETUP.call_once(|| std::mem::forget(fail::FailScenario::setup()));
    debug_assert!(ALL.contains(&name), "failpoint `{name}` is not listed in ALL");
    if fail::eval(name, |_| ()).is_some() {
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}
