//! The deploy's named crash points (see [`store::failpoint`]).

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

/// Reaches the failpoint `name` (see [`store::failpoint`]).
pub fn hit(name: &'static str) {
    debug_assert!(ALL.contains(&name), "failpoint `{name}` is not listed in ALL");
    store::failpoint::hit(name);
}
