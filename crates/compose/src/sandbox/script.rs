//! A command to run in the sandbox, and what it left behind.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use super::SandboxError;

/// The `PATH` that dpkg gives maintainer scripts.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a script may run unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// One command: a program inside the tree, its arguments, its whole
/// environment (nothing of the caller's is inherited) and its timeout.
#[derive(Debug, Clone)]
pub struct Script {
    pub(crate) name: String,
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: BTreeMap<OsString, OsString>,
    pub(crate) current_dir: PathBuf,
    pub(crate) timeout: Duration,
}

impl Script {
    /// A command named `name` in messages (say `htop.postinst`), running
    /// `program` (a path inside the tree, or a name looked up in the
    /// `PATH` you set) from `/`, with an empty environment.
    pub fn new(name: impl Into<String>, program: impl AsRef<OsStr>) -> Self {
        Self {
            name: name.into(),
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            current_dir: PathBuf::from("/"),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets one variable; a later value for the same key wins.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self = self.env(key, value);
        }
        self
    }

    /// The working directory, inside the tree.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = dir.into();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Which of the script's streams a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// How a script ended, and what it printed.
#[derive(Debug, Clone)]
pub struct ScriptOutput {
    pub name: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The output went past the session's limit; only its end is kept.
    pub truncated: bool,
}

impl ScriptOutput {
    /// Turns a non-zero exit into [`SandboxError::ScriptFailed`].
    pub fn require_success(self) -> Result<Self, SandboxError> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(SandboxError::ScriptFailed { name: self.name, status: self.status })
        }
    }
}
