//! Every package a resolution may see, by name: the base's installed
//! packages, local `.deb` files and the repository indexes, filtered to
//! the native architecture and `all`. Building it reads names,
//! architectures and `Provides` only; everything else stays raw text in
//! the index until the solver asks for it.

use std::collections::HashMap;

use super::installed::{InstalledPackage, LocalPackage};
use crate::apt::PackageIndex;

/// Where a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum PackageId {
    Installed(u32),
    Local(u32),
    Repository { index: u32, record: u32 },
}

/// The fields of one package that resolution reads, wherever it comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub architecture: &'a str,
    pub multi_arch: Option<&'a str>,
    pub essential: bool,
    pub priority: Option<&'a str>,
    pub depends: Option<&'a str>,
    pub pre_depends: Option<&'a str>,
    pub conflicts: Option<&'a str>,
    pub breaks: Option<&'a str>,
    pub provides: Option<&'a str>,
}

/// One `Provides` entry: `package` provides a name, at `version` if the
/// entry is versioned (`Provides: foo (= 1.0)`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Provision<'a> {
    pub package: PackageId,
    pub version: Option<&'a str>,
}

/// The packages a resolution can use; see the module documentation.
/// Build it once and resolve many requests against it.
pub struct Universe<'a> {
    architecture: String,
    installed: &'a [InstalledPackage],
    local: &'a [LocalPackage],
    indexes: Vec<&'a PackageIndex>,
    /// Real packages by name: installed first, then local files, then the
    /// repositories in priority order.
    names: HashMap<&'a str, Vec<PackageId>>,
    /// Names provided by `Provides`, with who provides them.
    providers: HashMap<&'a str, Vec<Provision<'a>>>,
}

impl<'a> Universe<'a> {
    /// `architecture` is the native one (`amd64`); only packages of it and
    /// of `all` are candidates. `indexes` are in priority order: for the
    /// same name and version, the first index wins.
    pub fn new(
        architecture: &str,
        installed: &'a [InstalledPackage],
        indexes: &[&'a PackageIndex],
        local: &'a [LocalPackage],
    ) -> Universe<'a> {
        let mut universe = Universe {
            architecture: architecture.to_owned(),
            installed,
            local,
            indexes: indexes.to_vec(),
            names: HashMap::with_capacity(indexes.iter().map(|i| i.len()).sum::<usize>() + installed.len()),
            providers: HashMap::new(),
        };
        for (i, package) in installed.iter().enumerate() {
            universe.add(
                PackageId::Installed(i as u32),
                &package.name,
                &package.architecture,
                package.provides.as_deref(),
            );
        }
        for (i, package) in local.iter().enumerate() {
            universe.add(PackageId::Local(i as u32), &package.name, &package.architecture, package.provides.as_deref());
        }
        for (index, packages) in indexes.iter().enumerate() {
            for (record, package) in packages.iter().enumerate() {
                let id = PackageId::Repository { index: index as u32, record: record as u32 };
                universe.add(id, package.name, package.architecture, package.provides);
            }
        }
        universe
    }

    fn add(&mut self, id: PackageId, name: &'a str, architecture: &str, provides: Option<&'a str>) {
        if !self.architecture_fits(architecture) {
            return;
        }
        self.names.entry(name).or_default().push(id);
        let Some(text) = provides else { return };
        // A field that does not parse provides nothing; the solver reports
        // it if it ever visits the package.
        let Some(provided) = provided_names(text) else { return };
        for (name, version) in provided {
            self.providers.entry(name).or_default().push(Provision { package: id, version });
        }
    }

    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    pub(crate) fn architecture_fits(&self, architecture: &str) -> bool {
        architecture == "all" || architecture == self.architecture
    }

    pub fn installed(&self) -> &'a [InstalledPackage] {
        self.installed
    }

    pub fn local(&self) -> &'a [LocalPackage] {
        self.local
    }

    pub(crate) fn index(&self, index: u32) -> Option<&'a PackageIndex> {
        self.indexes.get(index as usize).copied()
    }

    /// Real packages named `name` (installed, local, repository).
    pub(crate) fn named(&self, name: &str) -> &[PackageId] {
        self.names.get(name).map_or(&[], Vec::as_slice)
    }

    /// Who provides `name` through `Provides`.
    pub(crate) fn providers(&self, name: &str) -> &[Provision<'a>] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether any package is named `name` or provides it.
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.names.contains_key(name) || self.providers.contains_key(name)
    }

    /// Every name a package has or provides, for suggestions.
    pub(crate) fn all_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.names.keys().chain(self.providers.keys()).copied()
    }

    pub(crate) fn fields(&self, id: PackageId) -> Fields<'a> {
        match id {
            PackageId::Installed(i) => {
                let p = &self.installed[i as usize];
                Fields {
                    name: &p.name,
                    version: &p.version,
                    architecture: &p.architecture,
                    multi_arch: p.multi_arch.as_deref(),
                    essential: p.essential,
                    priority: None,
                    depends: p.depends.as_deref(),
                    pre_depends: p.pre_depends.as_deref(),
                    conflicts: p.conflicts.as_deref(),
                    breaks: p.breaks.as_deref(),
                    provides: p.provides.as_deref(),
                }
            }
            PackageId::Local(i) => {
                let p = &self.local[i as usize];
                Fields {
                    name: &p.name,
                    version: &p.version,
                    architecture: &p.architecture,
                    multi_arch: p.multi_arch.as_deref(),
                    essential: p.essential,
                    priority: p.priority.as_deref(),
                    depends: p.depends.as_deref(),
                    pre_depends: p.pre_depends.as_deref(),
                    conflicts: p.conflicts.as_deref(),
                    breaks: p.breaks.as_deref(),
                    provides: p.provides.as_deref(),
                }
            }
            PackageId::Repository { index, record } => {
                // Ids are only made from records that exist.
                let p = self.indexes[index as usize].get(record as usize).unwrap_or_else(|| unreachable!());
                Fields {
                    name: p.name,
                    version: p.version,
                    architecture: p.architecture,
                    multi_arch: p.multi_arch,
                    essential: p.essential,
                    priority: p.priority,
                    depends: p.depends,
                    pre_depends: p.pre_depends,
                    conflicts: p.conflicts,
                    breaks: p.breaks,
                    provides: p.provides,
                }
            }
        }
    }
}

/// The names (and versions) a `Provides` field gives, borrowed from its
/// text: `foo, bar (= 1.0)`. `None` if the field is malformed, or uses an
/// operator other than `=`, which Provides does not allow.
pub(crate) fn provided_names(text: &str) -> Option<Vec<(&str, Option<&str>)>> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let name_end = item.find(|c: char| c.is_whitespace() || c == '(' || c == ':').unwrap_or(item.len());
        let name = &item[..name_end];
        let valid_name = !name.is_empty()
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_name {
            return None;
        }
        let mut rest = item[name_end..].trim_start();
        if let Some(after) = rest.strip_prefix(':') {
            // An architecture qualifier on a provided name; the name is what counts.
            let end = after.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(after.len());
            rest = after[end..].trim_start();
        }
        let version = if rest.is_empty() {
            None
        } else {
            let inner = rest.strip_prefix('(')?.strip_suffix(')')?.trim();
            let version = inner.strip_prefix('=')?.trim();
            if version.is_empty() || version.contains(char::is_whitespace) || version.starts_with(['<', '>', '=']) {
                return None;
            }
            Some(version)
        };
        out.push((name, version));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::provided_names;

    #[test]
    fn provides_fields() {
        assert_eq!(
            provided_names("awk, libfoo-abi-2 (= 2.0-1),\n foo:any , bar (=1)"),
            Some(vec![("awk", None), ("libfoo-abi-2", Some("2.0-1")), ("foo", None), ("bar", Some("1"))])
        );
        assert_eq!(provided_names(""), Some(vec![]));
        for bad in ["a (>= 1)", "A", "a (= )", "a b", "a (= 1"] {
            assert_eq!(provided_names(bad), None, "{bad}");
        }
    }
}
