//! Debian's relationships as a resolvo problem.
//!
//! Every package name is a resolvo name, and at most one package of a
//! name is installed, as with dpkg for one architecture. A relation
//! `foo (>= 2)` is a version set on the name `foo` whose candidates are
//! the real packages named `foo` followed by the packages that provide
//! `foo`; the version set keeps those that satisfy the relation (a
//! versioned relation only takes versioned provides). Alternatives
//! `a | b` become a union, tried in the order written, as apt does.
//! Conflicts and Breaks become resolvo constraints: a version set of the
//! candidates the relation does *not* hit, so that installing the
//! declaring package forbids the rest.
//!
//! Candidates are listed in preference order (installed, then local files,
//! then the highest version; providers after the real package), and the
//! solver takes the first candidate it can, so the list order is the
//! policy.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use resolvo::utils::{Pool, VersionSet};
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider, Interner,
    KnownDependencies, NameId, Requirement, SolvableId, SolverCache, StringId, VersionSetId, VersionSetUnionId,
};

use super::universe::{PackageId, Universe, provided_names};
use crate::deb::Version;
use crate::deb::relation::{Relation, VersionOp, parse_relations};

/// A version operator that can be hashed (for interning version sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op(pub VersionOp);

impl Hash for Op {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

/// Which architectures a relation accepts; only native and `all`
/// packages are candidates, so this is all that is left of `:qualifier`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ArchRule {
    /// No qualifier, `:native` or the native architecture by name.
    Native,
    /// `:any`: only `Multi-Arch: allowed` packages satisfy it.
    Any,
    /// Another architecture, by name: nothing here satisfies it.
    Foreign(Box<str>),
}

/// Which relation field a negative relation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Negative {
    Conflicts,
    Breaks,
}

impl Negative {
    pub fn verb(self) -> &'static str {
        match self {
            Negative::Conflicts => "conflicts with",
            Negative::Breaks => "breaks",
        }
    }
}

/// A resolvo version set: which candidates of its name it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Matcher {
    /// The candidates that satisfy a relation on the name.
    Satisfies {
        constraint: Option<(Op, Version)>,
        arch: ArchRule,
        /// Whether packages that provide the name count (not for a request
        /// `name=version`, which means the real package).
        providers: bool,
    },
    /// The candidates that a `Conflicts` or `Breaks` on the name does not
    /// hit: the ones still allowed next to the declaring package.
    Avoids {
        kind: Negative,
        constraint: Option<(Op, Version)>,
        /// The declaring package's own name: dpkg ignores a conflict of a
        /// package with itself (`Provides: x, Conflicts: x`).
        except: NameId,
        /// Leave installed packages alone (conflicts with the base allowed).
        spare_installed: bool,
    },
    /// Exactly one package: an installed one, a local file.
    Exactly(PackageId),
}

/// The record of a solvable: which package, at which version.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub package: PackageId,
    pub version: Version,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.version, f)
    }
}

impl VersionSet for Matcher {
    type V = Candidate;
}

/// Why a candidate is left out; shown in explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exclusion {
    Removed,
    BaseHas { version: String },
}

/// The inputs of one resolution that change what is a candidate.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub removed: BTreeSet<String>,
    /// Of `removed`, the names a local file replaces.
    pub replaced: BTreeSet<String>,
    pub allow_base_conflicts: bool,
}

/// The resolvo dependency provider over a [`Universe`].
pub(crate) struct DebianProvider<'u, 'a> {
    pub universe: &'u Universe<'a>,
    pub policy: Policy,
    pub pool: Pool<Matcher, String>,
    solvables: RefCell<HashMap<PackageId, Option<SolvableId>>>,
    /// The reasons made by [`Self::exclusion_reason`], so explanations can
    /// tell them from reasons of a package's own.
    pub exclusions: RefCell<HashSet<StringId>>,
}

const PRIORITIES: [&str; 5] = ["required", "important", "standard", "optional", "extra"];

impl<'u, 'a> DebianProvider<'u, 'a> {
    pub fn new(universe: &'u Universe<'a>, policy: Policy) -> Self {
        DebianProvider {
            universe,
            policy,
            pool: Pool::new(),
            solvables: RefCell::new(HashMap::new()),
            exclusions: RefCell::new(HashSet::new()),
        }
    }

    pub fn name(&self, name: &str) -> NameId {
        self.pool.intern_package_name(name)
    }

    pub fn candidate(&self, solvable: SolvableId) -> &Candidate {
        &self.pool.resolve_solvable(solvable).record
    }

    /// The solvable of a package; `None` if its version is invalid, which
    /// leaves it out of every candidate list.
    pub fn solvable(&self, package: PackageId) -> Option<SolvableId> {
        if let Some(known) = self.solvables.borrow().get(&package) {
            return *known;
        }
        let fields = self.universe.fields(package);
        let solvable = Version::parse(fields.version).ok().map(|version| {
            let name = self.name(fields.name);
            self.pool.intern_solvable(name, Candidate { package, version })
        });
        self.solvables.borrow_mut().insert(package, solvable);
        solvable
    }

    /// A version set for a relation of a Depends-like field.
    pub fn relation_set(&self, relation: &Relation) -> Result<VersionSetId, String> {
        let constraint = self.constraint(relation)?;
        let arch = match relation.arch_qualifier.as_deref() {
            None | Some("native") => ArchRule::Native,
            Some("any") => ArchRule::Any,
            Some(arch) if arch == self.universe.architecture() => ArchRule::Native,
            Some(arch) => ArchRule::Foreign(arch.into()),
        };
        let matcher = Matcher::Satisfies { constraint, arch, providers: true };
        Ok(self.pool.intern_version_set(self.name(&relation.name), matcher))
    }

    fn constraint(&self, relation: &Relation) -> Result<Option<(Op, Version)>, String> {
        match &relation.version {
            None => Ok(None),
            Some(c) => Version::parse(&c.version).map(|v| Some((Op(c.op), v))).map_err(|e| e.to_string()),
        }
    }

    /// Whether a relation's `[arch]` restriction (source-style, rare in
    /// binary packages) lets it apply here.
    fn applies(&self, relation: &Relation) -> bool {
        if relation.architectures.is_empty() {
            return true;
        }
        let native = self.universe.architecture();
        let listed = relation.architectures.iter().any(|t| t.name == native || t.name == "any");
        if relation.architectures[0].negated { !listed } else { listed }
    }

    /// The version at which `package` provides `name`: `Some(None)` for an
    /// unversioned `Provides`, `None` if it does not provide it.
    fn provided_version(&self, package: PackageId, name: &str) -> Option<Option<&'a str>> {
        self.universe.providers(name).iter().find(|p| p.package == package).map(|p| p.version)
    }

    /// Whether a candidate satisfies a relation on `name`.
    pub fn satisfies(
        &self,
        solvable: SolvableId,
        name: &str,
        constraint: &Option<(Op, Version)>,
        arch: &ArchRule,
        providers: bool,
    ) -> bool {
        let candidate = self.candidate(solvable);
        let fields = self.universe.fields(candidate.package);
        let arch_ok = match arch {
            ArchRule::Native => true,
            ArchRule::Any => fields.multi_arch == Some("allowed"),
            ArchRule::Foreign(_) => false,
        };
        if !arch_ok {
            return false;
        }
        let version_ok = |version: &Version| constraint.as_ref().is_none_or(|(op, v)| version.satisfies(op.0, v));
        if fields.name == name && version_ok(&candidate.version) {
            return true;
        }
        if !providers {
            return false;
        }
        match self.provided_version(candidate.package, name) {
            None => false,
            Some(None) => constraint.is_none(),
            Some(Some(text)) => Version::parse(text).is_ok_and(|v| version_ok(&v)),
        }
    }

    /// Whether a candidate is in a version set on `name`.
    pub fn contains(&self, name: &str, matcher: &Matcher, solvable: SolvableId) -> bool {
        match matcher {
            Matcher::Satisfies { constraint, arch, providers } => {
                self.satisfies(solvable, name, constraint, arch, *providers)
            }
            Matcher::Avoids { constraint, except, spare_installed, .. } => {
                let candidate = self.candidate(solvable);
                if self.pool.resolve_solvable(solvable).name == *except {
                    return true;
                }
                if *spare_installed && matches!(candidate.package, PackageId::Installed(_)) {
                    return true;
                }
                !self.satisfies(solvable, name, constraint, &ArchRule::Native, true)
            }
            Matcher::Exactly(package) => self.candidate(solvable).package == *package,
        }
    }

    /// Real packages of `name` that may be chosen, best first, and the
    /// ones left out with why.
    fn real_candidates(&self, name: &str) -> (Vec<SolvableId>, Vec<(SolvableId, Exclusion)>) {
        let named = self.universe.named(name);
        let solvables = |filter: &dyn Fn(&PackageId) -> bool| -> Vec<SolvableId> {
            named.iter().filter(|id| filter(id)).filter_map(|id| self.solvable(*id)).collect()
        };
        if self.policy.replaced.contains(name) {
            // Only the local file that replaces the base package stands in.
            let local = solvables(&|id| matches!(id, PackageId::Local(_)));
            let others = solvables(&|id| !matches!(id, PackageId::Local(_)));
            return (local, others.into_iter().map(|s| (s, Exclusion::Removed)).collect());
        }
        if self.policy.removed.contains(name) {
            let all = solvables(&|_| true).into_iter().map(|s| (s, Exclusion::Removed)).collect();
            return (Vec::new(), all);
        }
        let installed = solvables(&|id| matches!(id, PackageId::Installed(_)));
        if let Some(&base) = installed.first() {
            let version = self.candidate(base).version.to_string();
            let others = solvables(&|id| !matches!(id, PackageId::Installed(_)))
                .into_iter()
                .map(|s| (s, Exclusion::BaseHas { version: version.clone() }))
                .collect();
            return (vec![base], others);
        }
        let local = solvables(&|id| matches!(id, PackageId::Local(_)));
        let mut chosen = if local.is_empty() { solvables(&|_| true) } else { local };
        // Highest version first; for equal versions the earlier source
        // (lower id: local, then index priority) wins and the rest go.
        chosen.sort_by(|a, b| {
            let (a, b) = (self.candidate(*a), self.candidate(*b));
            b.version.cmp(&a.version).then(a.package.cmp(&b.package))
        });
        chosen.dedup_by(|later, earlier| self.candidate(*later).version == self.candidate(*earlier).version);
        (chosen, Vec::new())
    }

    /// Preference among different providers of a virtual name: installed,
    /// local, essential, then by `Priority`, then by name.
    fn provider_rank(&self, solvable: SolvableId) -> (u8, u8, u8, usize, &'a str) {
        let package = self.candidate(solvable).package;
        let fields = self.universe.fields(package);
        let priority =
            fields.priority.and_then(|p| PRIORITIES.iter().position(|q| *q == p)).unwrap_or(PRIORITIES.len());
        (
            u8::from(!matches!(package, PackageId::Installed(_))),
            u8::from(!matches!(package, PackageId::Local(_))),
            u8::from(!fields.essential),
            priority,
            fields.name,
        )
    }

    fn exclusion_reason(&self, name: &str, exclusion: Exclusion) -> StringId {
        let text = match &exclusion {
            Exclusion::Removed => format!("`{name}` was removed from the base with `override remove`"),
            Exclusion::BaseHas { version } => {
                format!("the base has `{name} {version}` installed, and layering never replaces a base package")
            }
        };
        let id = self.pool.intern_string(text);
        self.exclusions.borrow_mut().insert(id);
        id
    }

    /// The parsed groups of a relation field, or why they cannot be read.
    fn groups(&self, field: &str, text: Option<&str>) -> Result<Vec<Vec<Relation>>, String> {
        match text {
            None => Ok(Vec::new()),
            Some(text) => parse_relations(text).map_err(|e| format!("its `{field}` field cannot be parsed: {e}")),
        }
    }

    fn dependencies(&self, solvable: SolvableId) -> Result<KnownDependencies, String> {
        let candidate = self.candidate(solvable);
        let fields = self.universe.fields(candidate.package);
        if fields.provides.is_some_and(|text| provided_names(text).is_none()) {
            return Err("its `Provides` field cannot be parsed".to_owned());
        }
        let mut known = KnownDependencies::default();
        for (field, text) in [("Pre-Depends", fields.pre_depends), ("Depends", fields.depends)] {
            for group in self.groups(field, text)? {
                let mut sets = Vec::with_capacity(group.len());
                for relation in group.iter().filter(|r| self.applies(r)) {
                    let set = self.relation_set(relation).map_err(|e| format!("its `{field}` field: {e}"))?;
                    if !sets.contains(&set) {
                        sets.push(set);
                    }
                }
                let requirement = match sets.as_slice() {
                    [] => continue,
                    [one] => Requirement::Single(*one),
                    [first, rest @ ..] => {
                        Requirement::Union(self.pool.intern_version_set_union(*first, rest.iter().copied()))
                    }
                };
                known.requirements.push(requirement.into());
            }
        }
        let installed = matches!(candidate.package, PackageId::Installed(_));
        if installed && self.policy.allow_base_conflicts {
            return Ok(known);
        }
        let except = self.name(fields.name);
        for (kind, field, text) in
            [(Negative::Conflicts, "Conflicts", fields.conflicts), (Negative::Breaks, "Breaks", fields.breaks)]
        {
            for relation in self.groups(field, text)?.iter().flatten().filter(|r| self.applies(r)) {
                let constraint = self.constraint(relation).map_err(|e| format!("its `{field}` field: {e}"))?;
                let matcher =
                    Matcher::Avoids { kind, constraint, except, spare_installed: self.policy.allow_base_conflicts };
                let set = self.pool.intern_version_set(self.name(&relation.name), matcher);
                if !known.constrains.contains(&set) {
                    known.constrains.push(set);
                }
            }
        }
        Ok(known)
    }

    /// The relation a version set stands for, as Debian writes it.
    pub fn show_set(&self, set: VersionSetId) -> String {
        let name = self.pool.resolve_package_name(self.pool.resolve_version_set_package_name(set));
        match self.pool.resolve_version_set(set) {
            Matcher::Satisfies { constraint, arch, .. } => {
                let qualifier = match arch {
                    ArchRule::Native => String::new(),
                    ArchRule::Any => ":any".to_owned(),
                    ArchRule::Foreign(arch) => format!(":{arch}"),
                };
                match constraint {
                    Some((op, version)) => format!("{name}{qualifier} ({} {version})", op.0.as_str()),
                    None => format!("{name}{qualifier}"),
                }
            }
            Matcher::Avoids { constraint: Some((op, version)), .. } => format!("{name} ({} {version})", op.0.as_str()),
            Matcher::Avoids { constraint: None, .. } => name.clone(),
            Matcher::Exactly(package) => {
                let fields = self.universe.fields(*package);
                format!("{} (= {})", fields.name, fields.version)
            }
        }
    }

    /// `name version` of a solvable.
    pub fn show_solvable(&self, solvable: SolvableId) -> String {
        let candidate = self.candidate(solvable);
        let fields = self.universe.fields(candidate.package);
        format!("{} {}", fields.name, fields.version)
    }
}

impl Interner for DebianProvider<'_, '_> {
    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        self.show_solvable(solvable)
    }

    fn display_name(&self, name: NameId) -> impl fmt::Display + '_ {
        self.pool.resolve_package_name(name).clone()
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl fmt::Display + '_ {
        self.show_set(version_set)
    }

    fn display_string(&self, string_id: StringId) -> impl fmt::Display + '_ {
        self.pool.resolve_string(string_id).to_owned()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.pool.resolve_version_set_package_name(version_set)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.pool.resolve_solvable(solvable).name
    }

    fn version_sets_in_union(&self, version_set_union: VersionSetUnionId) -> impl Iterator<Item = VersionSetId> {
        self.pool.resolve_version_set_union(version_set_union)
    }

    fn resolve_condition(&self, condition: ConditionId) -> Condition {
        self.pool.resolve_condition(condition).clone()
    }
}

impl DependencyProvider for DebianProvider<'_, '_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let name = self.pool.resolve_package_name(self.pool.resolve_version_set_package_name(version_set));
        let matcher = self.pool.resolve_version_set(version_set);
        candidates.iter().copied().filter(|s| self.contains(name, matcher, *s) != inverse).collect()
    }

    async fn get_candidates(&self, name_id: NameId) -> Option<Candidates> {
        let name = self.pool.resolve_package_name(name_id).clone();
        let (mut candidates, excluded) = self.real_candidates(&name);
        let mut excluded: Vec<(SolvableId, StringId)> =
            excluded.into_iter().map(|(s, why)| (s, self.exclusion_reason(&name, why))).collect();

        let mut providers: Vec<SolvableId> = Vec::new();
        let mut seen_names: Vec<&str> = Vec::new();
        for provision in self.universe.providers(&name) {
            let provider_name = self.universe.fields(provision.package).name;
            if provider_name == name || seen_names.contains(&provider_name) {
                continue;
            }
            seen_names.push(provider_name);
            // The provider's own candidates under the same rules (installed
            // wins, local hides the repositories), then only the versions
            // that provide `name`.
            let (real, left_out) = self.real_candidates(provider_name);
            for solvable in real {
                if self.provided_version(self.candidate(solvable).package, &name).is_some() {
                    providers.push(solvable);
                }
            }
            for (solvable, why) in left_out {
                if self.provided_version(self.candidate(solvable).package, &name).is_some() {
                    excluded.push((solvable, self.exclusion_reason(provider_name, why)));
                }
            }
        }
        // Stable: each provider's versions stay highest first.
        providers.sort_by_cached_key(|s| self.provider_rank(*s));
        candidates.extend(providers);
        candidates.extend(excluded.iter().map(|(s, _)| *s));
        if candidates.is_empty() {
            return None;
        }
        Some(Candidates { candidates, excluded, ..Candidates::default() })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, _solvables: &mut [SolvableId]) {
        // `get_candidates` lists them in preference order already, and
        // filtering keeps that order; see the module documentation.
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        match self.dependencies(solvable) {
            Ok(known) => Dependencies::Known(known),
            Err(reason) => Dependencies::Unknown(self.pool.intern_string(reason)),
        }
    }
}

/// A requirement on exactly one package.
pub(crate) fn exactly(provider: &DebianProvider<'_, '_>, package: PackageId) -> ConditionalRequirement {
    let name = provider.name(provider.universe.fields(package).name);
    Requirement::Single(provider.pool.intern_version_set(name, Matcher::Exactly(package))).into()
}
