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

/// Interests of every package recorded in the admindir at `info`: trigger
/// name to the packages interested in it.
fn interests(info: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let entries = std::fs::read_dir(info)
        .map_err(|source| Error::Io { what: "listing the dpkg info directory".into(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io { what: "listing the dpkg info directory".into(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(package) = name.strip_suffix(".triggers") else { continue };
        let package = package.split(':').next().unwrap_or(package).to_owned();
        let text = std::fs::read(entry.path())
            .map_err(|source| Error::Io { what: format!("reading `info/{name}`"), source })?;
        for directive in parse(&String::from_utf8_lossy(&text)) {
            if let Directive::Interest(trigger) = directive {
                out.entry(trigger).or_default().insert(package.clone());
            }
        }
    }
    Ok(out)
}

/// The triggers the new `packages` activate, by interested package.
pub fn activated(info: &Path, packages: &[PackageTree]) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let interests = interests(info)?;
    let mut names: BTreeSet<String> = BTreeSet::new();
    for package in packages {
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
    Ok(out)
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
