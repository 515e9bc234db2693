//! The packages that a resolution starts from and may add: what the base
//! image has installed (from its dpkg `status`), and local `.deb` files.
//! Both keep their relation fields as raw text, parsed only if the solver
//! visits the package.

use std::path::PathBuf;

use super::ResolveError;
use crate::control::Paragraph;
use crate::deb::ControlInfo;

/// One package of the base image, from an entry of dpkg's `status` file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub multi_arch: Option<String>,
    pub essential: bool,
    pub depends: Option<String>,
    pub pre_depends: Option<String>,
    pub conflicts: Option<String>,
    pub breaks: Option<String>,
    pub provides: Option<String>,
}

impl InstalledPackage {
    /// Reads one `status` entry. Returns `None` unless the package is on
    /// disk: its `Status` is `install ok installed`, or `hold ok installed`
    /// (held, still installed) or `deinstall ok installed` (selected for
    /// removal by dpkg, still installed); entries that are half-installed,
    /// config-files only or not installed do not count.
    pub fn from_status(paragraph: &Paragraph) -> Result<Option<InstalledPackage>, ResolveError> {
        let name = paragraph.get("Package").unwrap_or("");
        let bad = |reason: &str| ResolveError::BadStatusEntry {
            package: if name.is_empty() { "(no Package field)".to_owned() } else { name.to_owned() },
            reason: reason.to_owned(),
        };
        if name.is_empty() {
            return Err(bad("the entry has no `Package` field"));
        }
        let status = paragraph.get("Status").ok_or_else(|| bad("the entry has no `Status` field"))?;
        let words: Vec<&str> = status.split_whitespace().collect();
        let [want, flag, state] = words.as_slice() else {
            return Err(bad(&format!("`Status: {status}` is not three words")));
        };
        if !matches!(*want, "install" | "hold" | "deinstall" | "purge" | "unknown") {
            return Err(bad(&format!("`Status: {status}` has an unknown selection `{want}`")));
        }
        if *flag != "ok" || *state != "installed" {
            return Ok(None);
        }
        let required = |field: &'static str| {
            paragraph
                .get(field)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("the installed entry has no `{field}` field")))
        };
        let optional = |field: &str| paragraph.get(field).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(Some(InstalledPackage {
            name: name.to_owned(),
            version: required("Version")?,
            architecture: required("Architecture")?,
            multi_arch: optional("Multi-Arch"),
            essential: paragraph.get("Essential").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            depends: optional("Depends"),
            pre_depends: optional("Pre-Depends"),
            conflicts: optional("Conflicts"),
            breaks: optional("Breaks"),
            provides: optional("Provides"),
        }))
    }

    /// Every installed package of a parsed `status` file, in file order.
    pub fn from_status_file(paragraphs: &[Paragraph]) -> Result<Vec<InstalledPackage>, ResolveError> {
        let mut installed = Vec::new();
        for paragraph in paragraphs {
            if let Some(package) = InstalledPackage::from_status(paragraph)? {
                installed.push(package);
            }
        }
        Ok(installed)
    }
}

/// A `.deb` file given on the command line. It is a candidate like a
/// repository package, but it wins over every repository version of its
/// name: those are not considered at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPackage {
    /// Where the file is, for messages and for the plan.
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub multi_arch: Option<String>,
    pub essential: bool,
    pub priority: Option<String>,
    pub depends: Option<String>,
    pub pre_depends: Option<String>,
    pub conflicts: Option<String>,
    pub breaks: Option<String>,
    pub provides: Option<String>,
    /// Whether it ships a `postinst`: configuring a package without one
    /// does nothing, so dependency cycles are best broken there.
    pub has_postinst: bool,
}

impl LocalPackage {
    pub fn from_control(info: &ControlInfo, path: impl Into<PathBuf>) -> LocalPackage {
        let field = |name: &str| info.field(name).filter(|v| !v.is_empty()).map(str::to_owned);
        LocalPackage {
            path: path.into(),
            name: info.package.clone(),
            version: info.version.clone(),
            architecture: info.architecture.clone(),
            multi_arch: info.multi_arch.clone(),
            essential: info.essential,
            priority: field("Priority"),
            depends: field("Depends"),
            pre_depends: field("Pre-Depends"),
            conflicts: field("Conflicts"),
            breaks: field("Breaks"),
            provides: field("Provides"),
            has_postinst: info.scripts.contains_key("postinst"),
        }
    }
}
