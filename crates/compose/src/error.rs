//! The compose crate's error type: one variant per kind of failed step.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}")]
    Store {
        what: &'static str,
        #[source]
        source: store::Error,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the package `{package}`")]
    Package {
        package: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{path}`: `{part}` is not a directory")]
    NotADirectory { path: String, part: String },
    #[error("`{path}`: too many levels of symbolic links")]
    SymlinkLoop { path: String },
    #[error(
        "`{path}` of `{package}` would replace `{path}` of {owner}\nhint: pass `--force-replace` to let the package replace it"
    )]
    Collision { path: String, package: String, owner: String },
    #[error("`{path}` of `{package}` is a directory where the tree has a file")]
    DirectoryOverFile { path: String, package: String },
    #[error("`{path}` of `{package}` is a file where the tree has a directory")]
    FileOverDirectory { path: String, package: String },
    #[error("`{package}` is not installed in the base image")]
    NotInstalled { package: String },
    #[error("`{dir}` is not an image root: {reason}")]
    NotARoot { dir: String, reason: String },
    #[error("the maintainer script of `{package}` failed")]
    Script {
        package: String,
        #[source]
        source: crate::sandbox::SandboxError,
    },
    /// A `/var` entry that cannot become a `tmpfiles.d` line as it is.
    #[error("`{path}` of {package} cannot be kept under /var: {reason}")]
    StatePath { path: String, package: String, reason: String },
    /// A script ran to success but took away what the system, and the
    /// rest of the build, cannot do without.
    #[error("`{script}` of `{package}` removed `{path}`, which the system cannot do without")]
    ScriptRemovedEssential { package: String, script: String, path: String },
    #[error("{what}")]
    Sandbox {
        what: &'static str,
        #[source]
        source: crate::sandbox::SandboxError,
    },
    #[error("`{package}` is {format} package, but the image keeps its packages in {database}")]
    WrongFormat { package: String, format: &'static str, database: &'static str },
    #[error(
        "`{package}` has a Lua {script} scriptlet, which layer cannot run (it needs rpm's embedded Lua)\nhint: remove the package from the request, or rebuild it with a shell scriptlet"
    )]
    LuaScriptlet { package: String, script: String },
    #[error("the cached package tree `{reference}` is damaged: {reason}")]
    BadPackageTree { reference: String, reason: String },
}

impl Error {
    /// Builds an `Error::Store` mapper naming the step.
    pub(crate) fn store(what: &'static str) -> impl FnOnce(store::Error) -> Error {
        move |source| Error::Store { what, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
