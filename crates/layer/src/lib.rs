//! The `layer` client: the command line and the verbs behind it.

pub mod cli;
mod deploy_cmd;
mod pkg_cmd;
mod repo_cmd;
