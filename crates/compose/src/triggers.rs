//! dpkg triggers (deb-triggers(5)) that the new packages activate: an
//! explicit `activate NAME` in their `triggers` control file, or a file
//! they ship under a path some installed package is `interest`ed in (libc-bin's
//! `ldconfig`, man-db's `/usr/share/man`). Each interested package's
//! `postinst triggered "NAMES"` runs once, after every `postinst configure`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};
use crate::package_tree::PackageTree;

/// One line of a `triggers` file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Directive {
    Interest(String),
    Activate(String),
}

fn parse(text: &str) -> Vec<Directive> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|line| {
            let (verb, name) = line.split_once(char::is_whitespace)?;
            let name = name.trim().to_owned();
            match verb {
                "interest" | "interest-await" | "interest-noawait" => Some(Directive::Interest(name)),
                "activate" | "activate-await" | "activate-noawait" => Some(Directive::Activate(name)),
                _ => None,
            }
        })
        .collect()
}

/// Trigger name to the packages interested in it, from `(package,
/// triggers file)` pairs.
fn interests_of(files: Vec<(String, Vec<u8>)>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (package, text) in files {
        for directive in parse(&String::from_utf8_lossy(&text)) {
            if let Directive::Interest(trigger) = directive {
                out.entry(trigger).or_default().insert(package.clone());
            }
        }
    }
    out
}

/// True if the package declares an interest in any trigger (dpkg then
/// keeps a registry in `triggers/`, which only [`pkgdb::dpkg::Admindir`]
/// writes).
pub fn has_interests(package: &PackageTree) -> bool {
    package
        .deb()
        .and_then(|deb| deb.control_files.get("triggers"))
        .is_some_and(|text| parse(&String::from_utf8_lossy(text)).iter().any(|d| matches!(d, Directive::Interest(_))))
}

/// The `triggers` files of every package recorded in the admindir whose
/// `info/` directory is `info` in `tree`.
pub fn interest_files_in_tree(
    tx: &store::transaction::Transaction<'_>,
    tree: &mut store::mtree::MutableTree,
    info: &str,
) -> Result<Vec<(String, Vec<u8>)>> {
    let names: Vec<String> =
        match tree.dir_at_mut(tx.repo(), info).map_err(Error::store("reading the dpkg database"))? {
            Some(dir) => dir.files.keys().filter(|n| n.ends_with(".triggers")).cloned().collect(),
            None => return Ok(Vec::new()),
        };
    let mut out = Vec::new();
    for name in names {
        let package = name.trim_end_matches(".triggers");
        let package = package.split(':').next().unwrap_or(package).to_owned();
        if let Some(text) = crate::tree::read_file(tx, tree, &format!("{info}/{name}"))? {
            out.push((package, text));
        }
    }
    Ok(out)
}

/// The `triggers` files of every package recorded in the admindir at `info`.
fn interest_files(info: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(info)
        .map_err(|source| Error::Io { what: "listing the dpkg info directory".into(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io { what: "listing the dpkg info directory".into(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(package) = name.strip_suffix(".triggers") else { continue };
        let package = package.split(':').next().unwrap_or(package).to_owned();
        let text = std::fs::read(entry.path())
            .map_err(|source| Error::Io { what: format!("reading `info/{name}`"), source })?;
        out.push((package, text));
    }
    Ok(out)
}

/// Triggers that scripts activated with `dpkg-trigger`, from dpkg's
/// `triggers/Unincorp` (`NAME ACTIVATING-PACKAGE...` per line), by
/// interested package, with the interests recorded in the admindir at
/// `info`.
pub fn pending(unincorp: &[u8], info: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let interests = interests_of(interest_files(info)?);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(unincorp).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        for package in interests.get(name).into_iter().flatten() {
            out.entry(package.clone()).or_default().insert(name.to_owned());
        }
    }
    Ok(out)
}

/// The triggers the new `packages` activate, by interested package, with
/// the interests recorded in the admindir at `info`.
pub fn activated(info: &Path, packages: &[PackageTree]) -> Result<BTreeMap<String, BTreeSet<String>>> {
    Ok(activated_by(&interests_of(interest_files(info)?), packages))
}

/// The same, with interests read from `(package, triggers file)` pairs.
pub fn activated_with(files: Vec<(String, Vec<u8>)>, packages: &[PackageTree]) -> BTreeMap<String, BTreeSet<String>> {
    activated_by(&interests_of(files), packages)
}

fn activated_by(
    interests: &BTreeMap<String, BTreeSet<String>>,
    packages: &[PackageTree],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for package in packages.iter().filter_map(PackageTree::deb) {
        if let Some(text) = package.control_files.get("triggers") {
            for directive in parse(&String::from_utf8_lossy(text)) {
                if let Directive::Activate(name) = directive {
                    names.insert(name);
                }
            }
        }
        for trigger in interests.keys().filter(|t| t.starts_with('/')) {
            let prefix = format!("{}/", trigger.trim_end_matches('/'));
            if package.paths.iter().any(|p| p == trigger || p.starts_with(&prefix)) {
                names.insert(trigger.clone());
            }
        }
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in names {
        for package in interests.get(&name).into_iter().flatten() {
            out.entry(package.clone()).or_default().insert(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_deb_triggers_lines() {
        let text = "# comment\ninterest-noawait ldconfig\nactivate-noawait /usr/share/man # why\nfoo bar\n\ninterest /usr/lib/x\n";
        assert_eq!(
            parse(text),
            [
                Directive::Interest("ldconfig".into()),
                Directive::Activate("/usr/share/man".into()),
                Directive::Interest("/usr/lib/x".into()),
            ]
        );
    }
}
