//! The `layer` client: the command line and the verbs behind it.

pub mod cli;
mod repo_cmd;
