//! The `layer` client: the command line and the verbs behind it.

pub mod cli;
mod compose_cmd;
mod db_cmd;
mod deploy_cmd;
pub mod layering;
mod packages_cmd;
mod pkg_cmd;
mod repo_cmd;
mod request;
