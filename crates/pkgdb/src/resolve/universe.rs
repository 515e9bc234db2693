//! Every package a resolution may see, by name: the base's installed
//! packages, local `.deb` files and the repository indexes, filtered to
//! the native architecture and `all`. Building it reads names,
//! architectures and `Provides` only; everything else stays raw text in
//! the index until the solver asks for it.

use std::collections::HashMap;

use foldhash::fast::RandomState;

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
    names: Groups<'a, PackageId>,
    /// Names provided by `Provides`, with who provides them.
    providers: Groups<'a, Provision<'a>>,
}

/// Values grouped by name, each group in the order its values were added.
/// Every group lives in one array, so a universe of a whole archive
/// (63,000 names for bookworm) is built without an allocation per name.
struct Groups<'a, T> {
    group_of: HashMap<&'a str, u32, RandomState>,
    /// Group `g` is `values[starts[g]..starts[g + 1]]`.
    starts: Vec<u32>,
    values: Vec<T>,
}

/// A [`Groups`] being filled: the values in the order added, each with its
/// group.
struct GroupsBuilder<'a, T> {
    group_of: HashMap<&'a str, u32, RandomState>,
    counts: Vec<u32>,
    added: Vec<(u32, T)>,
}

impl<'a, T: Copy> GroupsBuilder<'a, T> {
    fn with_capacity(capacity: usize) -> Self {
        GroupsBuilder {
            group_of: HashMap::with_capacity_and_hasher(capacity, RandomState::default()),
            counts: Vec::with_capacity(capacity),
            added: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, name: &'a str, value: T) {
        let next = self.counts.len() as u32;
        let group = *self.group_of.entry(name).or_insert(next);
        if group == next {
            self.counts.push(0);
        }
        self.counts[group as usize] += 1;
        self.added.push((group, value));
    }

    /// Places every value in its group's run, keeping the order within
    /// each group (a counting sort).
    fn finish(self) -> Groups<'a, T> {
        let mut starts = Vec::with_capacity(self.counts.len() + 1);
        let mut total = 0;
        starts.push(0);
        for count in &self.counts {
            total += count;
            starts.push(total);
        }
        let mut next = starts.clone();
        let mut values = match self.added.first() {
            Some(&(_, filler)) => vec![filler; self.added.len()],
            None => Vec::new(),
        };
        for (group, value) in self.added {
            let at = &mut next[group as usize];
            values[*at as usize] = value;
            *at += 1;
        }
        Groups { group_of: self.group_of, starts, values }
    }
}

impl<'a, T> Groups<'a, T> {
    fn get(&self, name: &str) -> &[T] {
        match self.group_of.get(name) {
            Some(&g) => &self.values[self.starts[g as usize] as usize..self.starts[g as usize + 1] as usize],
            None => &[],
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.group_of.contains_key(name)
    }

    fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.group_of.keys().copied()
    }
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
        let architecture_fits = |a: &str| a == "all" || a == architecture;
        let capacity = indexes.iter().map(|i| i.len()).sum::<usize>() + installed.len() + local.len();
        let mut names = GroupsBuilder::with_capacity(capacity);
        let mut providers = GroupsBuilder::with_capacity(capacity / 8);
        let mut add = |id: PackageId, name: &'a str, package_architecture: &str, provides: Option<&'a str>| {
            if !architecture_fits(package_architecture) {
                return;
            }
            names.push(name, id);
            let Some(text) = provides else { return };
            // A field that does not parse provides nothing; the solver
            // reports it if it ever visits the package.
            let Some(provided) = provided_names(text) else { return };
            for (name, version) in provided {
                providers.push(name, Provision { package: id, version });
            }
        };
        for (i, package) in installed.iter().enumerate() {
            add(PackageId::Installed(i as u32), &package.name, &package.architecture, package.provides.as_deref());
        }
        for (i, package) in local.iter().enumerate() {
            add(PackageId::Local(i as u32), &package.name, &package.architecture, package.provides.as_deref());
        }
        for (index, packages) in indexes.iter().enumerate() {
            for (record, package) in packages.iter().enumerate() {
                let id = PackageId::Repository { index: index as u32, record: record as u32 };
                add(id, package.name, package.architecture, package.provides);
            }
        }
        Universe {
            architecture: architecture.to_owned(),
            installed,
            local,
            indexes: indexes.to_vec(),
            names: names.finish(),
            providers: providers.finish(),
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
        self.names.get(name)
    }

    /// Who provides `name` through `Provides`.
    pub(crate) fn providers(&self, name: &str) -> &[Provision<'a>] {
        self.providers.get(name)
    }

    /// Whether any package is named `name` or provides it.
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.names.contains(name) || self.providers.contains(name)
    }

    /// Every name a package has or provides, for suggestions.
    pub(crate) fn all_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.names.names().chain(self.providers.names())
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
