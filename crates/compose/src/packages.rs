//! The package list a commit carries in its metadata (`layer.packages`,
//! an `a(sss)` of name, version and architecture, sorted), so `db list`
//! and `db diff` read it without a checkout. Built from the tree's own
//! package database, dpkg's or rpm's.

use pkgdb::control::{Syntax, parse_paragraphs};
use store::gvariant::{Type, Value};
use store::mtree::MutableTree;
use store::objects::Commit;
use store::transaction::Transaction;

use crate::error::{Error, Result};

/// The commit metadata key.
pub const KEY: &str = "layer.packages";

/// Where an image keeps its dpkg database (DESIGN.md).
pub const DPKG_ADMINDIR: &str = "usr/lib/sysimage/dpkg";

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

/// The installed packages of a dpkg `status` file.
pub fn from_dpkg_status(text: &[u8]) -> Result<Vec<Package>> {
    let paragraphs = parse_paragraphs(text, Syntax::Strict)
        .map_err(|source| Error::Package { package: "the dpkg status database".into(), source: source.into() })?;
    let mut out: Vec<Package> = paragraphs
        .iter()
        .filter(|p| p.get("Status").is_some_and(|s| s.split_whitespace().nth(2) == Some("installed")))
        .filter_map(|p| {
            Some(Package {
                name: p.get("Package")?.to_owned(),
                version: p.get("Version")?.to_owned(),
                architecture: p.get("Architecture").unwrap_or("").to_owned(),
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The installed packages of `tree`, read from its rpmdb or its dpkg
/// database; empty when it has neither.
pub fn from_tree(tx: &Transaction<'_>, tree: &mut MutableTree) -> Result<Vec<Package>> {
    if let Some(bytes) = crate::tree::read_file(tx, tree, &crate::rpmdb::path())? {
        let db = pkgdb::rpmdb::RpmDb::from_bytes(&bytes)
            .map_err(|source| Error::Package { package: "the rpm database".into(), source: source.into() })?;
        return crate::rpmdb::packages_of(&db);
    }
    match crate::tree::read_file(tx, tree, &format!("{DPKG_ADMINDIR}/status"))? {
        Some(text) => from_dpkg_status(&text),
        None => Ok(Vec::new()),
    }
}

pub fn to_value(packages: &[Package]) -> Value {
    let items = packages
        .iter()
        .map(|p| {
            Value::Tuple(vec![
                Value::String(p.name.clone()),
                Value::String(p.version.clone()),
                Value::String(p.architecture.clone()),
            ])
        })
        .collect();
    Value::Array(Type::Tuple(vec![Type::String, Type::String, Type::String]), items)
}

/// The package list of a commit; `None` if it carries none.
pub fn from_commit(commit: &Commit) -> Option<Vec<Package>> {
    let Value::Array(_, items) = commit.metadata_value(KEY)? else { return None };
    items
        .iter()
        .map(|item| match item {
            Value::Tuple(fields) => match fields.as_slice() {
                [name, version, arch] => Some(Package {
                    name: name.as_str()?.to_owned(),
                    version: version.as_str()?.to_owned(),
                    architecture: arch.as_str()?.to_owned(),
                }),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
