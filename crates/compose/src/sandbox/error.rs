//! What can go wrong in the sandbox, one variant per step.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// An error of the script sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The tree to run scripts in cannot be opened.
    #[error("cannot open the tree `{}`", path.display())]
    OpenTree {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The scratch directory (upper and work dirs) cannot be created.
    #[error("cannot create the sandbox's scratch directory in `{}`", path.display())]
    CreateScratch {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Changes could not be renamed into the tree from another filesystem.
    #[error(
        "the scratch directory `{}` is not on the filesystem of the tree `{}`\nhint: choose a scratch directory on the tree's filesystem, so that changes can be renamed into it",
        scratch.display(),
        root.display()
    )]
    DifferentFilesystem { scratch: PathBuf, root: PathBuf },
    /// The scratch directory would be inside the tree, and so in the sandbox.
    #[error(
        "the scratch directory `{}` is inside the tree `{}`\nhint: choose a scratch directory outside the tree, on its filesystem",
        scratch.display(),
        root.display()
    )]
    ScratchInsideTree { scratch: PathBuf, root: PathBuf },
    /// The init program cannot be started.
    #[error("cannot start the sandbox init `{}`", program.display())]
    SpawnInit {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The init program did not answer as the sandbox's init.
    #[error(
        "the sandbox init `{}` did not start\nhint: call `compose::sandbox::init_main()` first thing in `main` of the program that uses the sandbox",
        program.display()
    )]
    InitNotStarted { program: PathBuf },
    /// The init could not build the sandbox (namespaces, overlay, mounts).
    #[error("cannot set up the sandbox: {step}")]
    Setup {
        step: String,
        #[source]
        source: io::Error,
    },
    /// The init died or the pipe to it broke; the session is unusable.
    #[error("lost the sandbox init")]
    InitLost {
        #[source]
        source: io::Error,
    },
    /// The init ended badly when the session finished.
    #[error("the sandbox init ended with {status}")]
    InitFailed { status: ExitStatus },
    /// The script could not be started inside the sandbox.
    #[error("cannot run script `{name}` in the sandbox: {step}")]
    ScriptStart {
        name: String,
        step: String,
        #[source]
        source: io::Error,
    },
    /// The script ran past its timeout; all its processes were killed.
    #[error(
        "script `{name}` timed out after {:.1}s; all of its processes were killed\nhint: a script that waits for input or a service never ends here: check what it was doing in its output",
        timeout.as_secs_f64()
    )]
    TimedOut { name: String, timeout: Duration },
    /// The script ran and failed (see [`super::ScriptOutput::require_success`]).
    #[error("script `{name}` failed with {status}")]
    ScriptFailed { name: String, status: ExitStatus },
    /// Reading the upper dir or changing the tree failed.
    #[error("cannot apply the scripts' change to `{}`", path.display())]
    Apply {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The upper dir holds a device node that is not a whiteout.
    #[error("the scripts left a device node at `{}`; the sandbox allows none", path.display())]
    UnexpectedDevice { path: PathBuf },
}
