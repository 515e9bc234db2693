//! One rpm resolution: checks the requests, runs resolvo over the
//! [`RpmProvider`], and turns the solution into a [`Plan`] (or the
//! conflict into an explanation).

use std::collections::{BTreeSet, HashMap, HashSet};

use resolvo::{ConditionalRequirement, Problem, Requirement, SolvableId, Solver, UnsolvableOrCancelled};

use super::explain::explain;
use super::formula::{Atom, Formula, Range, Test};
use super::provider::{Key, Matcher, Policy, RpmProvider};
use super::universe::RpmUniverse;
use super::{ResolveError, RpmRequest};
use crate::resolve::ResolveOptions;
use crate::resolve::explain::suggest;
use crate::resolve::order::{BrokenCycle, Link, Node, configure_order};
use crate::resolve::plan::{ForcedConflict, PackageSource, Plan, PlannedPackage};
use crate::resolve::universe::PackageId;
use crate::rpm::{RichDep, ScriptKind, VersionOp};
use crate::rpmmd::{DepKind, Evr};

impl RpmUniverse<'_> {
    /// Resolves `requests` on top of the installed packages; see the
    /// module documentation for the semantics.
    pub fn resolve(&self, requests: &[RpmRequest], options: &ResolveOptions) -> Result<Plan, ResolveError> {
        for name in &options.removed {
            if !self.installed_ids().any(|id| self.view(id).name() == name) {
                return Err(ResolveError::RemovedNotInstalled { name: name.clone() });
            }
        }
        let requested_paths: Vec<&str> = requests
            .iter()
            .filter_map(|r| match r {
                RpmRequest::Name(name) if name.starts_with('/') => Some(name.as_str()),
                _ => None,
            })
            .collect();
        self.load_file_owners(&requested_paths, |id| !options.removed.contains(self.view(id).name()))?;

        let policy = Policy {
            removed: options.removed.clone(),
            replaced: options.replaced.clone(),
            allow_base_conflicts: options.allow_base_conflicts,
        };
        let provider = RpmProvider::new(self, policy);
        let mut requirements: Vec<ConditionalRequirement> = Vec::new();
        for id in self.installed_ids() {
            if !options.removed.contains(self.view(id).name()) {
                let set = provider
                    .pool
                    .intern_version_set(provider.name(self.view(id).name()), Matcher::Exactly(Key::Package(id)));
                requirements.push(Requirement::Single(set).into());
            }
        }
        let mut request_sets = Vec::with_capacity(requests.len());
        for request in requests {
            let set = self.request_set(&provider, request, options)?;
            request_sets.push(set);
            requirements.push(Requirement::Single(set).into());
        }

        let mut solver = Solver::new(provider);
        let solution = match solver.solve(Problem::new().requirements(requirements)) {
            Ok(solution) => solution,
            Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
                let graph = conflict.graph(&solver);
                let (mut problems, base_conflict) = explain(&graph, solver.provider());
                if problems.is_empty() {
                    problems.push(conflict.display_user_friendly(&solver).to_string());
                }
                return Err(ResolveError::Unsatisfiable { problems, base_conflict });
            }
            Err(UnsolvableOrCancelled::Cancelled(_)) => return Err(ResolveError::Cancelled),
        };
        build_plan(solver.provider(), &solution, requests, &request_sets, options)
    }

    /// The version set a request asks for, after checking that it names
    /// something that exists.
    fn request_set(
        &self,
        provider: &RpmProvider<'_, '_>,
        request: &RpmRequest,
        options: &ResolveOptions,
    ) -> Result<resolvo::VersionSetId, ResolveError> {
        let not_found =
            |name: &str| ResolveError::NotFound { name: name.to_owned(), suggestion: suggest(name, self.all_names()) };
        let removed = |name: &str| options.removed.contains(name);
        match request {
            RpmRequest::Name(name) => {
                if removed(name) {
                    return Err(ResolveError::RequestsRemoved { name: name.clone() });
                }
                if !self.named(name).is_empty() {
                    let test = Test::Named(Atom { name: name.clone(), range: None });
                    return Ok(provider.test_set(name, &test));
                }
                let providers = self.providers(name);
                let names: BTreeSet<&str> = providers.iter().map(|id| self.view(*id).name()).collect();
                if names.is_empty() {
                    return Err(not_found(name));
                }
                let any_installed = providers.iter().any(|id| matches!(id, PackageId::Installed(_)));
                if names.len() > 1 && !any_installed {
                    return Err(ResolveError::VirtualRequest {
                        name: name.clone(),
                        providers: names.into_iter().map(str::to_owned).collect(),
                    });
                }
                let test = Test::Provides(Atom { name: name.clone(), range: None });
                Ok(provider.test_set(name, &test))
            }
            RpmRequest::Evr { name, evr } => {
                if removed(name) {
                    return Err(ResolveError::RequestsRemoved { name: name.clone() });
                }
                let named = self.named(name);
                if named.is_empty() {
                    return Err(not_found(name));
                }
                let wanted =
                    Evr::parse(evr).ok_or_else(|| ResolveError::BadRequest { text: format!("{name}={evr}") })?;
                let range = Range::new(VersionOp::Eq, &wanted);
                if !named.iter().any(|id| range.contains(&self.view(*id).evr())) {
                    let mut available: Vec<Evr<'_>> = named.iter().map(|id| self.view(*id).evr()).collect();
                    available.sort_by(|a, b| b.compare(a));
                    available.dedup_by(|a, b| a.compare(b).is_eq());
                    return Err(ResolveError::VersionNotFound {
                        name: name.clone(),
                        version: evr.clone(),
                        available: available.iter().map(ToString::to_string).collect(),
                    });
                }
                let test = Test::Named(Atom { name: name.clone(), range: Some(range) });
                Ok(provider.test_set(name, &test))
            }
            RpmRequest::Local(index) => {
                let local = self
                    .local()
                    .get(*index)
                    .ok_or(ResolveError::NoSuchLocal { index: *index, count: self.local().len() })?;
                let package = &local.package;
                if !self.arch_fits(&package.arch) {
                    return Err(ResolveError::RpmLocalArchitecture {
                        path: local.path.clone(),
                        architecture: package.arch.clone(),
                        native: self.arch().to_owned(),
                    });
                }
                if removed(&package.name) && !options.replaced.contains(&package.name) {
                    return Err(ResolveError::RequestsRemoved { name: package.name.clone() });
                }
                let key = Key::Package(PackageId::Local(*index as u32));
                Ok(provider.pool.intern_version_set(provider.name(&package.name), Matcher::Exactly(key)))
            }
        }
    }
}

fn build_plan(
    provider: &RpmProvider<'_, '_>,
    solution: &[SolvableId],
    requests: &[RpmRequest],
    request_sets: &[resolvo::VersionSetId],
    options: &ResolveOptions,
) -> Result<Plan, ResolveError> {
    let universe = provider.universe;
    let packages: Vec<PackageId> = solution.iter().filter_map(|s| provider.package(*s)).collect();
    let mut new: Vec<PackageId> =
        packages.iter().copied().filter(|id| !matches!(id, PackageId::Installed(_))).collect();
    new.sort_by(|a, b| universe.view(*a).name().cmp(universe.view(*b).name()));

    let mut requested: HashSet<PackageId> = HashSet::new();
    let mut satisfied_by_base = Vec::new();
    for (request, set) in requests.iter().zip(request_sets) {
        let matcher = provider.pool.resolve_version_set(*set);
        let satisfiers: Vec<PackageId> =
            solution.iter().filter(|s| provider.contains(matcher, **s)).filter_map(|s| provider.package(*s)).collect();
        if satisfiers.iter().any(|id| matches!(id, PackageId::Installed(_))) {
            satisfied_by_base.push(request.display(universe));
        } else {
            requested.extend(satisfiers);
        }
    }

    let mut install = Vec::with_capacity(new.len());
    for id in &new {
        let view = universe.view(*id);
        let (source, size) = match *id {
            PackageId::Repository { index, record } => {
                let package = universe.repo(index).and_then(|r| r.primary.get(record as usize));
                let package = package.unwrap_or_else(|| unreachable!("ids are made from records that exist"));
                if package.sha256().is_none() {
                    return Err(ResolveError::PackageChecksum {
                        package: view.nevra(),
                        checksum_type: package.checksum_type.to_owned(),
                    });
                }
                let source = PackageSource::Repository {
                    index: index as usize,
                    record: record as usize,
                    filename: package.location.to_owned(),
                    sha256: package.checksum.to_owned(),
                };
                (source, package.size)
            }
            PackageId::Local(index) => {
                let path = universe.local()[index as usize].path.clone();
                (PackageSource::Local { index: index as usize, path }, 0)
            }
            PackageId::Installed(_) => unreachable!("installed packages are filtered out"),
        };
        install.push(PlannedPackage {
            name: view.name().to_owned(),
            version: view.evr().to_string(),
            architecture: view.arch().to_owned(),
            source,
            size,
            requested: requested.contains(id),
        });
    }

    let (configure_order, broken_cycles) = install_order(universe, &packages, &new);
    let forced_conflicts =
        if options.allow_base_conflicts { forced_conflicts(universe, &packages) } else { Vec::new() };
    Ok(Plan {
        architecture: universe.arch().to_owned(),
        download_size: install.iter().map(|p| p.size).sum(),
        install,
        configure_order,
        broken_cycles,
        satisfied_by_base,
        forced_conflicts,
    })
}

/// The tests a dependency makes of the installation, for ordering: its
/// atoms, each as "some package provides it".
fn dependency_tests(dep: &super::universe::DepView<'_>) -> Vec<Test> {
    if !dep.is_rich() {
        return vec![Test::Provides(Atom::from_dep(dep))];
    }
    let Ok(rich) = RichDep::parse(dep.name) else { return Vec::new() };
    let Ok(formula) = Formula::from_rich(&rich) else { return Vec::new() };
    let mut tests = Vec::new();
    collect_tests(&formula, &mut tests);
    tests
}

fn collect_tests(formula: &Formula, out: &mut Vec<Test>) {
    match formula {
        Formula::Test(test) => {
            for atom in test.atoms() {
                out.push(Test::Provides(atom.clone()));
            }
        }
        Formula::Not(inner) => collect_tests(inner, out),
        Formula::And(parts) | Formula::Or(parts) => {
            for part in parts {
                collect_tests(part, out);
            }
        }
    }
}

/// rpm's install order for the new packages: each after what it requires,
/// unless the base provides that already. `Requires(pre)` and
/// `Requires(post)` are kept when a cycle is broken; plain Requires go
/// first. Where only such hard links form a cycle, rpm still installs
/// (it warns and breaks one), so they are then treated as soft.
fn install_order(
    universe: &RpmUniverse<'_>,
    solution: &[PackageId],
    new: &[PackageId],
) -> (Vec<String>, Vec<BrokenCycle>) {
    let in_solution: HashSet<PackageId> = solution.iter().copied().collect();
    let position: HashMap<PackageId, usize> = new.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut nodes = Vec::with_capacity(new.len());
    let mut links = Vec::new();
    let mut linked: HashSet<(usize, usize, bool)> = HashSet::new();
    for (from, id) in new.iter().enumerate() {
        let view = universe.view(*id);
        let has_postinst = match id {
            PackageId::Local(i) => {
                universe.local()[*i as usize].package.scripts.iter().any(|s| s.kind == ScriptKind::Post)
            }
            _ => true,
        };
        nodes.push(Node { name: view.name().to_owned(), has_postinst });
        for dep in view.deps(DepKind::Requires) {
            if dep.is_rpmlib() {
                continue;
            }
            for test in dependency_tests(&dep) {
                let mut by_base = false;
                let mut chosen = None;
                for anchor in test.anchors() {
                    for provider in universe.providers(anchor) {
                        if provider == *id || !in_solution.contains(&provider) || !test.holds(universe, provider) {
                            continue;
                        }
                        match position.get(&provider) {
                            None => by_base = true,
                            Some(&to) if chosen.is_none() => chosen = Some(to),
                            Some(_) => {}
                        }
                    }
                }
                if let (false, Some(to)) = (by_base, chosen) {
                    if linked.insert((from, to, dep.pre)) {
                        links.push(Link { from, to, pre_depends: dep.pre });
                    }
                }
            }
        }
    }
    let (order, broken) = match configure_order(&nodes, &links) {
        Ok(done) => done,
        Err(_) => {
            let soft: Vec<Link> = links.iter().map(|l| Link { pre_depends: false, ..*l }).collect();
            configure_order(&nodes, &soft).unwrap_or_else(|_| unreachable!("soft links always order"))
        }
    };
    (order.into_iter().map(|i| nodes[i].name.clone()).collect(), broken)
}

/// With conflicts against the base allowed, the plain Conflicts and
/// Obsoletes that hold between new and base packages of the solution.
fn forced_conflicts(universe: &RpmUniverse<'_>, solution: &[PackageId]) -> Vec<ForcedConflict> {
    let installed = |id: &PackageId| matches!(id, PackageId::Installed(_));
    let in_solution: HashSet<PackageId> = solution.iter().copied().collect();
    let mut out = BTreeSet::new();
    for declarer in solution {
        let view = universe.view(*declarer);
        for (field, kind) in [("Conflicts", DepKind::Conflicts), ("Obsoletes", DepKind::Obsoletes)] {
            for dep in view.deps(kind) {
                if dep.is_rich() {
                    continue;
                }
                let atom = Atom::from_dep(&dep);
                let test = if kind == DepKind::Obsoletes { Test::Named(atom) } else { Test::Provides(atom) };
                for hit in universe.providers(dep.name) {
                    let hit_view = universe.view(hit);
                    if installed(&hit) == installed(declarer)
                        || hit_view.name() == view.name()
                        || !in_solution.contains(&hit)
                        || !test.holds(universe, hit)
                    {
                        continue;
                    }
                    out.insert(ForcedConflict {
                        package: view.nevra(),
                        field: field.to_owned(),
                        relation: dep.to_string(),
                        hits: hit_view.nevra(),
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}
