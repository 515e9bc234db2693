//! Named crash points, shared by every crate of the workspace. With the
//! `failpoints` feature, setting `FAILPOINTS=name=return` makes the process
//! SIGKILL itself when it reaches `name`, which is how the crash tests stop
//! a deploy or an install at every step. Without the feature, `hit`
//! compiles to nothing. Each crate lists its own points (`ALL`).

#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    use std::sync::Once;
    static SETUP: Once = Once::new();
    // The scenario reads FAILPOINTS once and must live as long as the process.
    SETUP.call_once(|| std::mem::forget(fail::FailScenario::setup()));
    if fail::eval(name, |_| ()).is_some() {
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}
