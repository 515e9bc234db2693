//! The sandbox where maintainer scripts and rpm scriptlets run.
//!
//! A [`Sandbox`] session runs commands in an assembled tree without letting
//! them touch the tree, the store behind its hardlinks, or the host:
//!
//! - the tree is the read-only lower dir of an overlay; writes land in a
//!   fresh upper dir (copy-up), so no script writes through a hardlink into
//!   the store. [`Sandbox::finish`] hands the upper dir over as an
//!   [`UpperDir`], whose [`UpperDir::apply`] renames the changes into the
//!   tree and lists them;
//! - the session has its own mount, UTS, IPC and network namespaces (only a
//!   loopback that is down); each command gets its own pid namespace and a
//!   read-only `/proc` for it, the tree as its root (`pivot_root`, the
//!   host's root detached), a minimal `/dev`, tmpfs on `/run`, `/tmp` and
//!   `/dev/shm`, an empty read-only `/sys`, and root without the
//!   capabilities that reach past all this;
//! - a timeout kills the command's pid 1, and the kernel kills every other
//!   process of the namespace with it.
//!
//! The sandbox re-executes the calling program as its init (and as each
//! command's pid 1), so every program that uses it must call
//! [`init_main`] first thing in `main`.
//!
//! Needs root (real `CAP_SYS_ADMIN`), overlayfs, and the scratch directory
//! on the tree's filesystem.

mod caps;
mod copyup;
mod error;
mod init;
mod mounts;
mod ns;
mod pid1;
mod protocol;
mod script;
mod session;

pub use copyup::{Change, ChangeKind, EntryKind, UpperDir};
pub use error::SandboxError;
pub use script::{DEFAULT_TIMEOUT, OutputStream, SCRIPT_PATH, Script, ScriptOutput};
pub use session::{Sandbox, SandboxConfig, prefixed_stderr};

/// The hidden first argument that makes a program the sandbox's init.
const INIT_ARG: &str = "__layer-sandbox-init";
/// The hidden first argument that makes a program a command's pid 1.
const PID1_ARG: &str = "__layer-sandbox-pid1";

/// Becomes the sandbox's init or a command's pid 1 when the program was
/// started as one, and never returns then; otherwise returns at once.
///
/// Call it first thing in `main` of every program that starts a
/// [`Sandbox`], before any thread is spawned.
pub fn init_main() {
    let mut args = std::env::args_os();
    let _program = args.next();
    let Some(role) = args.next() else {
        return;
    };
    let code = if role == INIT_ARG {
        init::main(args.collect())
    } else if role == PID1_ARG {
        pid1::main(args.collect())
    } else {
        return;
    };
    std::process::exit(code);
}
