//! One resolution: checks the requests, runs resolvo over the
//! [`DebianProvider`], and turns the solution into a [`Plan`] (or the
//! conflict into an explanation).

use std::collections::{BTreeSet, HashMap, HashSet};

use resolvo::{ConditionalRequirement, Problem, Requirement, SolvableId, Solver, UnsolvableOrCancelled};

use super::debian::{ArchRule, DebianProvider, Matcher, Op, Policy, exactly};
use super::explain::{explain, suggest};
use super::order::{Link, Node, configure_order};
use super::plan::{ForcedConflict, PackageSource, Plan, PlannedPackage};
use super::universe::{PackageId, Universe};
use super::{Request, ResolveError, ResolveOptions};
use crate::apt::hex;
use crate::deb::relation::{VersionOp, parse_relations};

impl Universe<'_> {
    /// Resolves `requests` on top of the installed packages; see the
    /// module documentation for the semantics.
    pub fn resolve(&self, requests: &[Request], options: &ResolveOptions) -> Result<Plan, ResolveError> {
        self.require_removable(options)?;
        let policy = Policy {
            removed: options.removed.clone(),
            replaced: options.replaced.clone(),
            allow_base_conflicts: options.allow_base_conflicts,
        };
        let provider = DebianProvider::new(self, policy);

        let mut requirements: Vec<ConditionalRequirement> = Vec::new();
        for (i, package) in self.installed().iter().enumerate() {
            if self.architecture_fits(&package.architecture) && !options.removed.contains(&package.name) {
                requirements.push(exactly(&provider, PackageId::Installed(i as u32)));
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
        let provider = solver.provider();
        build_plan(provider, &solution, requests, &request_sets, options)
    }

    /// Removed packages must be installed, and not Essential unless allowed.
    fn require_removable(&self, options: &ResolveOptions) -> Result<(), ResolveError> {
        for name in &options.removed {
            let installed: Vec<_> = self.installed().iter().filter(|p| &p.name == name).collect();
            if installed.is_empty() {
                return Err(ResolveError::RemovedNotInstalled { name: name.clone() });
            }
            if installed.iter().any(|p| p.essential) && !options.allow_remove_essential {
                return Err(ResolveError::RemovesEssential { name: name.clone() });
            }
        }
        Ok(())
    }

    /// The version set a request asks for, after checking that it names
    /// something that exists.
    fn request_set(
        &self,
        provider: &DebianProvider<'_, '_>,
        request: &Request,
        options: &ResolveOptions,
    ) -> Result<resolvo::VersionSetId, ResolveError> {
        let not_found =
            |name: &str| ResolveError::NotFound { name: name.to_owned(), suggestion: suggest(name, self.all_names()) };
        match request {
            Request::Name(name) => {
                if options.removed.contains(name) {
                    return Err(ResolveError::RequestsRemoved { name: name.clone() });
                }
                if !self.knows(name) {
                    return Err(not_found(name));
                }
                if self.named(name).is_empty() {
                    let providers: BTreeSet<&str> =
                        self.providers(name).iter().map(|p| self.fields(p.package).name).collect();
                    let any_installed =
                        self.providers(name).iter().any(|p| matches!(p.package, PackageId::Installed(_)));
                    if providers.len() > 1 && !any_installed {
                        return Err(ResolveError::VirtualRequest {
                            name: name.clone(),
                            providers: providers.into_iter().map(str::to_owned).collect(),
                        });
                    }
                }
                let matcher = Matcher::Satisfies { constraint: None, arch: ArchRule::Native, providers: true };
                Ok(provider.pool.intern_version_set(provider.name(name), matcher))
            }
            Request::Version { name, version } => {
                if options.removed.contains(name) {
                    return Err(ResolveError::RequestsRemoved { name: name.clone() });
                }
                let named = self.named(name);
                if named.is_empty() {
                    return Err(not_found(name));
                }
                let mut available: Vec<crate::deb::Version> =
                    named.iter().filter_map(|id| crate::deb::Version::parse(self.fields(*id).version).ok()).collect();
                if !available.contains(version) {
                    available.sort_by(|a, b| b.cmp(a));
                    available.dedup();
                    return Err(ResolveError::VersionNotFound {
                        name: name.clone(),
                        version: version.to_string(),
                        available: available.iter().map(ToString::to_string).collect(),
                    });
                }
                let matcher = Matcher::Satisfies {
                    constraint: Some((Op(VersionOp::Equal), version.clone())),
                    arch: ArchRule::Native,
                    providers: false,
                };
                Ok(provider.pool.intern_version_set(provider.name(name), matcher))
            }
            Request::Local(index) => {
                let local = self
                    .local()
                    .get(*index)
                    .ok_or(ResolveError::NoSuchLocal { index: *index, count: self.local().len() })?;
                if !self.architecture_fits(&local.architecture) {
                    return Err(ResolveError::LocalArchitecture {
                        path: local.path.clone(),
                        architecture: local.architecture.clone(),
                        native: self.architecture().to_owned(),
                    });
                }
                if options.removed.contains(&local.name) && !options.replaced.contains(&local.name) {
                    return Err(ResolveError::RequestsRemoved { name: local.name.clone() });
                }
                let package = PackageId::Local(*index as u32);
                let name = provider.name(&local.name);
                Ok(provider.pool.intern_version_set(name, Matcher::Exactly(package)))
            }
        }
    }
}

fn build_plan(
    provider: &DebianProvider<'_, '_>,
    solution: &[SolvableId],
    requests: &[Request],
    request_sets: &[resolvo::VersionSetId],
    options: &ResolveOptions,
) -> Result<Plan, ResolveError> {
    let universe = provider.universe;
    let is_installed = |s: &SolvableId| matches!(provider.candidate(*s).package, PackageId::Installed(_));
    let set_contains = |set: resolvo::VersionSetId, s: SolvableId| {
        let name = provider.pool.resolve_package_name(provider.pool.resolve_version_set_package_name(set));
        provider.contains(name, provider.pool.resolve_version_set(set), s)
    };

    let mut new: Vec<SolvableId> = solution.iter().copied().filter(|s| !is_installed(s)).collect();
    new.sort_by(|a, b| {
        let (a, b) = (universe.fields(provider.candidate(*a).package), universe.fields(provider.candidate(*b).package));
        a.name.cmp(b.name)
    });

    let mut requested: HashSet<SolvableId> = HashSet::new();
    let mut satisfied_by_base = Vec::new();
    for (request, set) in requests.iter().zip(request_sets) {
        let satisfiers: Vec<SolvableId> = solution.iter().copied().filter(|s| set_contains(*set, *s)).collect();
        if satisfiers.iter().any(is_installed) {
            satisfied_by_base.push(match request {
                Request::Name(name) => name.clone(),
                Request::Version { name, version } => format!("{name}={version}"),
                Request::Local(i) => universe.local()[*i].path.display().to_string(),
            });
        } else {
            requested.extend(satisfiers);
        }
    }

    let install: Vec<PlannedPackage> = new
        .iter()
        .map(|s| {
            let candidate = provider.candidate(*s);
            let fields = universe.fields(candidate.package);
            let (source, size) = match candidate.package {
                PackageId::Repository { index, record } => {
                    let entry = universe.index(index).and_then(|i| i.get(record as usize));
                    let (filename, sha256, size) = entry
                        .map_or((String::new(), String::new(), 0), |e| (e.filename.to_owned(), hex(e.sha256), e.size));
                    (
                        PackageSource::Repository { index: index as usize, record: record as usize, filename, sha256 },
                        size,
                    )
                }
                PackageId::Local(index) => {
                    let path = universe.local()[index as usize].path.clone();
                    (PackageSource::Local { index: index as usize, path }, 0)
                }
                PackageId::Installed(_) => unreachable!("installed packages are filtered out"),
            };
            PlannedPackage {
                name: fields.name.to_owned(),
                version: fields.version.to_owned(),
                architecture: fields.architecture.to_owned(),
                source,
                size,
                requested: requested.contains(s),
            }
        })
        .collect();

    let (configure_order, broken_cycles) = order_new(provider, solution, &new)?;
    let forced_conflicts = if options.allow_base_conflicts { forced_conflicts(provider, solution) } else { Vec::new() };
    Ok(Plan {
        architecture: universe.architecture().to_owned(),
        download_size: install.iter().map(|p| p.size).sum(),
        install,
        configure_order,
        broken_cycles,
        satisfied_by_base,
        forced_conflicts,
    })
}

/// The solution's packages that satisfy `relation`'s name, real ones
/// first, then providers.
fn satisfiers(
    provider: &DebianProvider<'_, '_>,
    by_name: &HashMap<&str, SolvableId>,
    by_package: &HashMap<PackageId, SolvableId>,
    name: &str,
) -> Vec<SolvableId> {
    let mut out: Vec<SolvableId> = by_name.get(name).copied().into_iter().collect();
    for provision in provider.universe.providers(name) {
        if let Some(s) = by_package.get(&provision.package) {
            if !out.contains(s) {
                out.push(*s);
            }
        }
    }
    out
}

fn order_new(
    provider: &DebianProvider<'_, '_>,
    solution: &[SolvableId],
    new: &[SolvableId],
) -> Result<(Vec<String>, Vec<super::BrokenCycle>), ResolveError> {
    let universe = provider.universe;
    let by_name: HashMap<&str, SolvableId> =
        solution.iter().map(|s| (universe.fields(provider.candidate(*s).package).name, *s)).collect();
    let by_package: HashMap<PackageId, SolvableId> =
        solution.iter().map(|s| (provider.candidate(*s).package, *s)).collect();
    let position: HashMap<SolvableId, usize> = new.iter().enumerate().map(|(i, s)| (*s, i)).collect();

    let mut nodes = Vec::with_capacity(new.len());
    let mut links = Vec::new();
    for (from, solvable) in new.iter().enumerate() {
        let package = provider.candidate(*solvable).package;
        let fields = universe.fields(package);
        let has_postinst = match package {
            PackageId::Local(i) => universe.local()[i as usize].has_postinst,
            _ => true,
        };
        nodes.push(Node { name: fields.name.to_owned(), has_postinst });
        for (pre_depends, text) in [(true, fields.pre_depends), (false, fields.depends)] {
            // The solver has read these fields already, so they parse.
            let groups = text.map(parse_relations).and_then(Result::ok).unwrap_or_default();
            for group in groups {
                let mut chosen = None;
                let mut by_base = false;
                for relation in &group {
                    let Ok(set) = provider.relation_set(relation) else { continue };
                    let name = provider.pool.resolve_package_name(provider.pool.resolve_version_set_package_name(set));
                    let matcher = provider.pool.resolve_version_set(set);
                    for s in satisfiers(provider, &by_name, &by_package, &relation.name) {
                        if provider.contains(name, matcher, s) {
                            match position.get(&s) {
                                None => by_base = true,
                                Some(to) if chosen.is_none() => chosen = Some(*to),
                                Some(_) => {}
                            }
                        }
                    }
                }
                if let (false, Some(to)) = (by_base, chosen) {
                    links.push(Link { from, to, pre_depends });
                }
            }
        }
    }
    let (order, broken) = configure_order(&nodes, &links).map_err(|cycle| ResolveError::PreDependsCycle { cycle })?;
    Ok((order.into_iter().map(|i| nodes[i].name.clone()).collect(), broken))
}

/// With conflicts against the base allowed, the Conflicts and Breaks that
/// hold between new and base packages of the solution.
fn forced_conflicts(provider: &DebianProvider<'_, '_>, solution: &[SolvableId]) -> Vec<ForcedConflict> {
    let universe = provider.universe;
    let by_name: HashMap<&str, SolvableId> =
        solution.iter().map(|s| (universe.fields(provider.candidate(*s).package).name, *s)).collect();
    let by_package: HashMap<PackageId, SolvableId> =
        solution.iter().map(|s| (provider.candidate(*s).package, *s)).collect();
    let installed = |s: SolvableId| matches!(provider.candidate(s).package, PackageId::Installed(_));
    let mut out = BTreeSet::new();
    for &solvable in solution {
        let fields = universe.fields(provider.candidate(solvable).package);
        for (field, text) in [("Conflicts", fields.conflicts), ("Breaks", fields.breaks)] {
            let groups = text.map(parse_relations).and_then(Result::ok).unwrap_or_default();
            for relation in groups.iter().flatten() {
                let Ok(set) = provider.relation_set(relation) else { continue };
                let Matcher::Satisfies { constraint, .. } = provider.pool.resolve_version_set(set) else { continue };
                for hit in satisfiers(provider, &by_name, &by_package, &relation.name) {
                    let hit_name = universe.fields(provider.candidate(hit).package).name;
                    if hit_name == fields.name || installed(hit) == installed(solvable) {
                        continue;
                    }
                    if provider.satisfies(hit, &relation.name, constraint, &ArchRule::Native, true) {
                        out.insert(ForcedConflict {
                            package: provider.show_solvable(solvable),
                            field: field.to_owned(),
                            relation: relation.to_string(),
                            hits: provider.show_solvable(hit),
                        });
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}
