//! The build's named crash points (see [`store::failpoint`]), in the order
//! a build with maintainer scripts reaches them. A build without scripts
//! reaches only the last.

pub const ALL: &[&str] =
    &["compose::assembled", "compose::checked-out", "compose::recorded", "compose::scripts", "compose::built"];

/// Reaches the failpoint `name`.
pub fn hit(name: &'static str) {
    debug_assert!(ALL.contains(&name), "failpoint `{name}` is not listed in ALL");
    store::failpoint::hit(name);
}
