//! rpm's relations as a resolvo problem.
//!
//! resolvo names are capability names: a version set on `foo` holds the
//! packages that provide `foo` (by name, Provides or file) and pass a
//! [`Test`]. A solvable's own name is its package name, so at most one
//! package of each name is installed; installed packages are named by
//! their NEVRA instead, since a base may hold several of one name
//! (kernels, multilib), and they are all kept anyway.
//!
//! A requirement is a clause of [`Literal`]s. A positive literal is a
//! version set per anchor name of its test. A negative one ("no package
//! passes this test", from `if`, `unless` and rich Conflicts) is a
//! stand-in solvable, an [`Absence`], which is the only candidate of its
//! own name and constrains every package that passes the test away; so a
//! requirement `(x if y)` is "`x`, or the absence of `y`", which is exact.
//! Plain Conflicts and Obsoletes are resolvo constraints.
//!
//! Candidates are listed in preference order (installed; local files;
//! the package named like the capability; then other providers by name;
//! each name's highest EVR first, repository order breaking ties), and
//! the solver takes the first candidate it can, so the list is the policy.
//! Absences come first among alternatives, so that an `if` does not pull
//! in its consequence before anything needs the condition.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use resolvo::utils::{Pool, VersionSet};
use resolvo::{
    Candidates, Condition, ConditionId, Dependencies, DependencyProvider, Interner, KnownDependencies, NameId,
    Requirement, SolvableId, SolverCache, StringId, VersionSetId, VersionSetUnionId,
};

use super::formula::{Atom, Formula, Literal, Test};
use super::universe::{DepView, RpmUniverse};
use crate::resolve::universe::PackageId;
use crate::rpm::RichDep;
use crate::rpmmd::DepKind;

/// What a solvable stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Package(PackageId),
    /// The `n`-th [`Absence`].
    Absent(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub key: Key,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.key)
    }
}

/// Why a relation keeps packages out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Negative {
    Conflicts,
    Obsoletes,
    /// An [`Absence`]: no package may pass the test.
    Absent,
}

/// A resolvo version set: which candidates of its name it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Matcher {
    /// The packages that pass the test.
    Satisfies(Test),
    /// The candidates a negative relation leaves alone.
    Avoids {
        kind: Negative,
        test: Test,
        /// The declaring package's own name: a package never conflicts
        /// with or obsoletes itself.
        except: Option<String>,
        /// Leave installed packages alone (conflicts with the base allowed).
        spare_installed: bool,
    },
    Exactly(Key),
}

impl VersionSet for Matcher {
    type V = Candidate;
}

/// A stand-in solvable that means "no package passes `test`".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Absence {
    pub test: Test,
    pub except: Option<String>,
    pub spare_installed: bool,
}

/// Why a candidate is left out; shown in explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exclusion {
    Removed,
    BaseHas { nevra: String },
}

/// The inputs of one resolution that change what is a candidate.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub removed: BTreeSet<String>,
    /// Of `removed`, the names a local file replaces.
    pub replaced: BTreeSet<String>,
    pub allow_base_conflicts: bool,
}

/// The resolvo dependency provider over an [`RpmUniverse`].
pub(crate) struct RpmProvider<'u, 'a> {
    pub universe: &'u RpmUniverse<'a>,
    pub policy: Policy,
    pub pool: Pool<Matcher, String>,
    solvables: RefCell<HashMap<PackageId, SolvableId>>,
    absences: RefCell<Vec<(Absence, SolvableId, NameId)>>,
    absence_index: RefCell<HashMap<Absence, u32>>,
    absence_names: RefCell<HashMap<NameId, u32>>,
    /// The reasons made by [`Self::exclusion_reason`].
    pub exclusions: RefCell<HashSet<StringId>>,
    /// The dependency each requirement of a package comes from, as written.
    pub origins: RefCell<HashMap<Requirement, String>>,
}

impl<'u, 'a> RpmProvider<'u, 'a> {
    pub fn new(universe: &'u RpmUniverse<'a>, policy: Policy) -> Self {
        RpmProvider {
            universe,
            policy,
            pool: Pool::new(),
            solvables: RefCell::new(HashMap::new()),
            absences: RefCell::new(Vec::new()),
            absence_index: RefCell::new(HashMap::new()),
            absence_names: RefCell::new(HashMap::new()),
            exclusions: RefCell::new(HashSet::new()),
            origins: RefCell::new(HashMap::new()),
        }
    }

    pub fn name(&self, name: &str) -> NameId {
        self.pool.intern_package_name(name)
    }

    pub fn key(&self, solvable: SolvableId) -> Key {
        self.pool.resolve_solvable(solvable).record.key
    }

    /// The package a solvable stands for; `None` for an absence.
    pub fn package(&self, solvable: SolvableId) -> Option<PackageId> {
        match self.key(solvable) {
            Key::Package(id) => Some(id),
            Key::Absent(_) => None,
        }
    }

    pub fn solvable(&self, package: PackageId) -> SolvableId {
        if let Some(known) = self.solvables.borrow().get(&package) {
            return *known;
        }
        let view = self.universe.view(package);
        let name = match package {
            PackageId::Installed(_) => self.name(&view.nevra()),
            _ => self.name(view.name()),
        };
        let solvable = self.pool.intern_solvable(name, Candidate { key: Key::Package(package) });
        self.solvables.borrow_mut().insert(package, solvable);
        solvable
    }

    /// The version set of the stand-in for "no package passes the test".
    fn absence_set(&self, absence: Absence) -> VersionSetId {
        let known = self.absence_index.borrow().get(&absence).copied();
        let index = match known {
            Some(index) => index,
            None => {
                let mut absences = self.absences.borrow_mut();
                let index = absences.len() as u32;
                // Unique per absence; shown through `show_name`.
                let name = self.name(&format!("\0absent {index}"));
                let solvable = self.pool.intern_solvable(name, Candidate { key: Key::Absent(index) });
                absences.push((absence.clone(), solvable, name));
                self.absence_index.borrow_mut().insert(absence, index);
                self.absence_names.borrow_mut().insert(name, index);
                index
            }
        };
        let name = self.absences.borrow()[index as usize].2;
        self.pool.intern_version_set(name, Matcher::Exactly(Key::Absent(index)))
    }

    pub fn absence(&self, index: u32) -> Absence {
        self.absences.borrow()[index as usize].0.clone()
    }

    /// Whether a candidate is in a version set.
    pub fn contains(&self, matcher: &Matcher, solvable: SolvableId) -> bool {
        let key = self.key(solvable);
        match matcher {
            Matcher::Exactly(wanted) => key == *wanted,
            Matcher::Satisfies(test) => match key {
                Key::Package(id) => test.holds(self.universe, id),
                Key::Absent(_) => false,
            },
            Matcher::Avoids { test, except, spare_installed, .. } => match key {
                Key::Absent(_) => true,
                Key::Package(id) => {
                    if except.as_deref() == Some(self.universe.view(id).name()) {
                        return true;
                    }
                    if *spare_installed && matches!(id, PackageId::Installed(_)) {
                        return true;
                    }
                    !test.holds(self.universe, id)
                }
            },
        }
    }

    /// The version set of the packages that pass `test` among the
    /// candidates of `anchor`.
    pub fn test_set(&self, anchor: &str, test: &Test) -> VersionSetId {
        self.pool.intern_version_set(self.name(anchor), Matcher::Satisfies(test.clone()))
    }

    /// A clause as a requirement: any of its literals.
    fn clause_requirement(&self, clause: &[Literal], except: Option<&str>, spare_installed: bool) -> Requirement {
        let mut sets: Vec<VersionSetId> = Vec::new();
        let mut push = |set: VersionSetId| {
            if !sets.contains(&set) {
                sets.push(set);
            }
        };
        // Absences first: see the module documentation.
        for literal in clause.iter().filter(|l| !l.positive) {
            push(self.absence_set(Absence {
                test: literal.test.clone(),
                except: except.map(str::to_owned),
                spare_installed,
            }));
        }
        for literal in clause.iter().filter(|l| l.positive) {
            for anchor in literal.test.anchors() {
                push(self.test_set(anchor, &literal.test));
            }
        }
        match sets.as_slice() {
            [one] => Requirement::Single(*one),
            [first, rest @ ..] => Requirement::Union(self.pool.intern_version_set_union(*first, rest.iter().copied())),
            [] => unreachable!("a clause has at least one literal"),
        }
    }

    /// Real packages named `name` that may be chosen, best first, and the
    /// ones left out with why.
    fn real_candidates(&self, name: &str) -> (Vec<PackageId>, Vec<(PackageId, Exclusion)>) {
        let named = self.universe.named(name);
        let pick = |filter: &dyn Fn(&PackageId) -> bool| -> Vec<PackageId> {
            named.iter().copied().filter(|id| filter(id)).collect()
        };
        let is_local = |id: &PackageId| matches!(id, PackageId::Local(_));
        let is_installed = |id: &PackageId| matches!(id, PackageId::Installed(_));
        if self.policy.replaced.contains(name) {
            let others = pick(&|id| !is_local(id)).into_iter().map(|id| (id, Exclusion::Removed)).collect();
            return (pick(&is_local), others);
        }
        if self.policy.removed.contains(name) {
            return (Vec::new(), pick(&|_| true).into_iter().map(|id| (id, Exclusion::Removed)).collect());
        }
        let installed = pick(&is_installed);
        if let Some(&base) = installed.first() {
            let nevra = self.universe.view(base).nevra();
            let others = pick(&|id| !is_installed(id))
                .into_iter()
                .map(|id| (id, Exclusion::BaseHas { nevra: nevra.clone() }))
                .collect();
            return (installed, others);
        }
        let local = pick(&is_local);
        let mut chosen = if local.is_empty() { pick(&|_| true) } else { local };
        // Highest EVR first; for the same EVR and arch the earlier source
        // (local, then repository priority) wins and the rest go.
        chosen.sort_by(|a, b| {
            let (va, vb) = (self.universe.view(*a), self.universe.view(*b));
            vb.evr().compare(&va.evr()).then(a.cmp(b))
        });
        chosen.dedup_by(|later, earlier| {
            let (l, e) = (self.universe.view(*later), self.universe.view(*earlier));
            l.arch() == e.arch() && l.evr().compare(&e.evr()).is_eq() && l.evr().release == e.evr().release
        });
        (chosen, Vec::new())
    }

    fn exclusion_reason(&self, name: &str, exclusion: Exclusion) -> StringId {
        let text = match &exclusion {
            Exclusion::Removed => format!("`{name}` was removed from the base with `override remove`"),
            Exclusion::BaseHas { nevra } => {
                format!("the base has `{nevra}` installed, and layering never replaces a base package")
            }
        };
        let id = self.pool.intern_string(text);
        self.exclusions.borrow_mut().insert(id);
        id
    }

    /// Whether some base package passes `test` (other than `except`, by
    /// name), removed ones included: this asks about the base as built.
    fn base_passes(&self, test: &Test, except: Option<&str>) -> bool {
        test.anchors().iter().any(|anchor| {
            self.universe.providers(anchor).into_iter().any(|id| {
                matches!(id, PackageId::Installed(_))
                    && Some(self.universe.view(id).name()) != except
                    && test.holds(self.universe, id)
            })
        })
    }

    /// Whether the base as built makes a clause true.
    fn base_satisfies(&self, clause: &[Literal], except: Option<&str>) -> bool {
        clause.iter().any(|l| self.base_passes(&l.test, except) == l.positive)
    }

    /// A dependency's formula, or why it cannot be read.
    fn formula(&self, dep: &DepView<'_>) -> Result<Formula, String> {
        if !dep.is_rich() {
            return Ok(Formula::atom(dep));
        }
        let rich =
            RichDep::parse(dep.name).map_err(|e| format!("its dependency `{}` cannot be parsed: {e}", dep.name))?;
        Formula::from_rich(&rich).map_err(|e| format!("its dependency `{}` cannot be used: {e}", dep.name))
    }

    fn dependencies(&self, package: PackageId) -> Result<KnownDependencies, String> {
        let view = self.universe.view(package);
        let own_name = view.name();
        let installed = matches!(package, PackageId::Installed(_));
        let mut known = KnownDependencies::default();
        for dep in view.deps(DepKind::Requires) {
            if dep.is_rpmlib() {
                continue;
            }
            let clauses = self.formula(&dep)?.cnf().map_err(|e| format!("its dependency `{dep}` is unusable: {e}"))?;
            for clause in clauses {
                // A base that is broken already stays as it is: only what
                // the base itself satisfies binds a base package.
                if installed && !self.base_satisfies(&clause, None) {
                    continue;
                }
                let requirement = self.clause_requirement(&clause, None, false);
                self.origins.borrow_mut().entry(requirement).or_insert_with(|| dep.to_string());
                if !known.requirements.iter().any(|r| r.requirement == requirement) {
                    known.requirements.push(requirement.into());
                }
            }
        }
        if installed && self.policy.allow_base_conflicts {
            return Ok(known);
        }
        let spare_installed = self.policy.allow_base_conflicts;
        let except = Some(own_name.to_owned());
        for (kind, deps) in
            [(Negative::Conflicts, view.deps(DepKind::Conflicts)), (Negative::Obsoletes, view.deps(DepKind::Obsoletes))]
        {
            for dep in deps {
                if dep.is_rich() && kind == Negative::Conflicts {
                    let formula = Formula::Not(Box::new(self.formula(&dep)?));
                    let clauses = formula.cnf().map_err(|e| format!("its conflict `{dep}` is unusable: {e}"))?;
                    for clause in clauses {
                        if installed && !self.base_satisfies(&clause, Some(own_name)) {
                            continue;
                        }
                        let requirement = self.clause_requirement(&clause, Some(own_name), spare_installed);
                        self.origins.borrow_mut().entry(requirement).or_insert_with(|| format!("!{dep}"));
                        known.requirements.push(requirement.into());
                    }
                    continue;
                }
                let atom = Atom::from_dep(&dep);
                let test = if kind == Negative::Obsoletes { Test::Named(atom) } else { Test::Provides(atom) };
                if installed && self.base_passes(&test, Some(own_name)) {
                    continue;
                }
                let matcher = Matcher::Avoids { kind, test, except: except.clone(), spare_installed };
                let set = self.pool.intern_version_set(self.name(dep.name), matcher);
                if !known.constrains.contains(&set) {
                    known.constrains.push(set);
                }
            }
        }
        Ok(known)
    }

    fn absence_dependencies(&self, index: u32) -> KnownDependencies {
        let absence = self.absence(index);
        let mut known = KnownDependencies::default();
        for anchor in absence.test.anchors() {
            let matcher = Matcher::Avoids {
                kind: Negative::Absent,
                test: absence.test.clone(),
                except: absence.except.clone(),
                spare_installed: absence.spare_installed,
            };
            known.constrains.push(self.pool.intern_version_set(self.name(anchor), matcher));
        }
        known
    }

    /// The relation a version set stands for, as rpm writes it.
    pub fn show_set(&self, set: VersionSetId) -> String {
        match self.pool.resolve_version_set(set) {
            Matcher::Satisfies(test) => test.to_string(),
            Matcher::Avoids { test, .. } => test.to_string(),
            Matcher::Exactly(Key::Package(id)) => {
                let view = self.universe.view(*id);
                format!("{} = {}", view.name(), view.evr())
            }
            Matcher::Exactly(Key::Absent(index)) => format!("no {}", self.absence(*index).test),
        }
    }

    /// The NEVRA of a package, or what an absence stands for.
    pub fn show_solvable(&self, solvable: SolvableId) -> String {
        match self.key(solvable) {
            Key::Package(id) => self.universe.view(id).nevra(),
            Key::Absent(index) => format!("no {}", self.absence(index).test),
        }
    }

    pub fn show_name(&self, name: NameId) -> String {
        match self.absence_names.borrow().get(&name) {
            Some(index) => format!("no {}", self.absence(*index).test),
            None => self.pool.resolve_package_name(name).clone(),
        }
    }
}

impl Interner for RpmProvider<'_, '_> {
    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        self.show_solvable(solvable)
    }

    fn display_name(&self, name: NameId) -> impl fmt::Display + '_ {
        self.show_name(name)
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

impl DependencyProvider for RpmProvider<'_, '_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let matcher = self.pool.resolve_version_set(version_set);
        candidates.iter().copied().filter(|s| self.contains(matcher, *s) != inverse).collect()
    }

    async fn get_candidates(&self, name_id: NameId) -> Option<Candidates> {
        if let Some(&index) = self.absence_names.borrow().get(&name_id) {
            let solvable = self.absences.borrow()[index as usize].1;
            return Some(Candidates { candidates: vec![solvable], ..Candidates::default() });
        }
        let name = self.pool.resolve_package_name(name_id).clone();
        let providers = self.universe.providers(&name);
        let mut names: Vec<&str> = Vec::new();
        for id in &providers {
            let provider_name = self.universe.view(*id).name();
            if !names.contains(&provider_name) {
                names.push(provider_name);
            }
        }
        // The package named like the capability, then by name (installed
        // and local ones first, below).
        names.sort_by_key(|n| (*n != name, *n));
        let mut groups: Vec<(u8, Vec<PackageId>)> = Vec::new();
        let mut excluded: Vec<(SolvableId, StringId)> = Vec::new();
        for provider_name in names {
            let (real, left_out) = self.real_candidates(provider_name);
            let real: Vec<PackageId> = real.into_iter().filter(|id| providers.contains(id)).collect();
            let rank = match real.first() {
                Some(PackageId::Installed(_)) => 0,
                Some(PackageId::Local(_)) => 1,
                _ => 2,
            };
            if !real.is_empty() {
                groups.push((rank, real));
            }
            for (id, why) in left_out.into_iter().filter(|(id, _)| providers.contains(id)) {
                excluded.push((self.solvable(id), self.exclusion_reason(provider_name, why)));
            }
        }
        // Stable: the name order stays within a rank.
        groups.sort_by_key(|(rank, _)| *rank);
        let mut candidates: Vec<SolvableId> =
            groups.into_iter().flat_map(|(_, ids)| ids).map(|id| self.solvable(id)).collect();
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
        match self.key(solvable) {
            Key::Absent(index) => Dependencies::Known(self.absence_dependencies(index)),
            Key::Package(id) => match self.dependencies(id) {
                Ok(known) => Dependencies::Known(known),
                Err(reason) => Dependencies::Unknown(self.pool.intern_string(reason)),
            },
        }
    }
}
