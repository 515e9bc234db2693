//! Telling the user why a request cannot be satisfied, and what they may
//! have meant by a name nobody has.
//!
//! resolvo's conflict graph says which requirements, constraints and
//! exclusions are involved. This module turns each dead end of it into a
//! chain a user can follow, in Debian's words:
//!
//! ```text
//! `htop` is requested
//! `htop 3.2.2-2` depends on `libfoo (>= 2)`, but only `libfoo 1.0` is available
//! ```

use std::collections::{BTreeSet, VecDeque};

use resolvo::conflict::{ConflictCause, ConflictEdge, ConflictGraph, ConflictNode};
use resolvo::{Requirement, SolvableId, VersionSetId};

use super::debian::{ArchRule, DebianProvider, Matcher};
use super::universe::PackageId;

/// At most this many dead ends are explained; more only repeat the story.
const MAX_PROBLEMS: usize = 6;

/// The explanation of an unsatisfiable problem, one dead end per
/// paragraph, each a chain of lines from a request (or a base package) to
/// the cause. Deterministic for the same inputs.
pub(crate) fn explain(graph: &ConflictGraph, provider: &DebianProvider<'_, '_>) -> (Vec<String>, bool) {
    let nodes = graph.graph.raw_nodes();
    let edges = graph.graph.raw_edges();
    let root = graph.root_node.index();
    let solvable_of = |node: usize| match nodes.get(node).map(|n| n.weight) {
        Some(ConflictNode::Solvable(id)) => id.solvable(),
        _ => None,
    };

    // The shortest chain of requirements from the root to every node.
    let mut parent: Vec<Option<(usize, Requirement)>> = vec![None; nodes.len()];
    let mut seen = vec![false; nodes.len()];
    let mut queue = VecDeque::from([root]);
    seen[root] = true;
    while let Some(node) = queue.pop_front() {
        for edge in edges.iter().filter(|e| e.source().index() == node) {
            if let ConflictEdge::Requires(requirement) = edge.weight {
                let target = edge.target().index();
                if !seen[target] {
                    seen[target] = true;
                    parent[target] = Some((node, requirement));
                    queue.push_back(target);
                }
            }
        }
    }
    let chain = |node: usize| -> Vec<String> {
        let mut steps = Vec::new();
        let mut current = node;
        while let Some((from, requirement)) = parent[current] {
            steps.push((from, requirement));
            current = from;
        }
        steps.reverse();
        steps
            .into_iter()
            .map(|(from, requirement)| match solvable_of(from) {
                None => root_line(provider, requirement),
                Some(from) => {
                    format!(
                        "`{}` depends on `{}`",
                        provider.show_solvable(from),
                        show_requirement(provider, requirement)
                    )
                }
            })
            .collect()
    };
    let is_installed = |solvable: SolvableId| matches!(provider.candidate(solvable).package, PackageId::Installed(_));

    let mut problems: Vec<Vec<String>> = Vec::new();
    let mut base_conflict = false;

    // Requirements none of whose candidates can be chosen: no candidate at
    // all, or every one excluded.
    let mut requirement_edges: Vec<(usize, Requirement)> = edges
        .iter()
        .filter_map(|e| match e.weight {
            ConflictEdge::Requires(requirement) => Some((e.source().index(), requirement)),
            ConflictEdge::Conflict(_) => None,
        })
        .collect();
    requirement_edges.dedup();
    for (source, requirement) in requirement_edges {
        let targets: Vec<usize> = edges
            .iter()
            .filter(|e| e.source().index() == source && e.weight == ConflictEdge::Requires(requirement))
            .map(|e| e.target().index())
            .collect();
        let excluded_reasons = |target: usize| -> Option<Vec<String>> {
            let reasons: Vec<String> = edges
                .iter()
                .filter(|e| e.source().index() == target && e.weight == ConflictEdge::Conflict(ConflictCause::Excluded))
                .filter_map(|e| match nodes[e.target().index()].weight {
                    ConflictNode::Excluded(reason) => Some(provider.pool.resolve_string(reason).to_owned()),
                    _ => None,
                })
                .collect();
            (!reasons.is_empty()).then_some(reasons)
        };
        let unresolved = targets.iter().all(|t| Some(*t) == graph.unresolved_node.map(|n| n.index()));
        let all_excluded = targets.iter().all(|t| excluded_reasons(*t).is_some());
        if !(unresolved || all_excluded) {
            continue;
        }
        let why = if unresolved {
            missing_reason(provider, requirement)
        } else {
            let reasons: BTreeSet<String> = targets.iter().filter_map(|t| excluded_reasons(*t)).flatten().collect();
            reasons.into_iter().collect::<Vec<_>>().join("; ")
        };
        let mut lines = chain(source);
        match solvable_of(source) {
            Some(from) => lines.push(format!(
                "`{}` depends on `{}`, but {why}",
                provider.show_solvable(from),
                show_requirement(provider, requirement)
            )),
            None => {
                let line = root_line(provider, requirement);
                lines.push(format!("{line}, but {why}"));
            }
        }
        problems.push(lines);
    }

    // Packages excluded for a reason of their own (a field that cannot be read).
    for index in 0..nodes.len() {
        let Some(solvable) = solvable_of(index) else { continue };
        for edge in edges.iter().filter(|e| e.source().index() == index) {
            if let (ConflictEdge::Conflict(ConflictCause::Excluded), ConflictNode::Excluded(reason)) =
                (edge.weight, nodes[edge.target().index()].weight)
            {
                if provider.exclusions.borrow().contains(&reason) {
                    continue;
                }
                let mut lines = chain(index);
                lines.push(format!(
                    "`{}` cannot be used: {}",
                    provider.show_solvable(solvable),
                    provider.pool.resolve_string(reason)
                ));
                problems.push(lines);
            }
        }
    }

    // Conflicts and Breaks.
    for edge in edges {
        let ConflictEdge::Conflict(ConflictCause::Constrains(set)) = edge.weight else { continue };
        let (Some(declarer), Some(victim)) = (solvable_of(edge.source().index()), solvable_of(edge.target().index()))
        else {
            continue;
        };
        let verb = match provider.pool.resolve_version_set(set) {
            Matcher::Avoids { kind, .. } => kind.verb(),
            _ => "conflicts with",
        };
        let mut lines = chain(edge.source().index());
        let relation = provider.show_set(set);
        let victim_text = provider.show_solvable(victim);
        if is_installed(victim) || is_installed(declarer) {
            base_conflict = true;
        }
        if is_installed(victim) {
            lines.push(format!(
                "`{}` {verb} `{relation}`, but the base has `{victim_text}` installed",
                provider.show_solvable(declarer)
            ));
        } else {
            lines.extend(chain(edge.target().index()));
            lines.push(format!("`{}` {verb} `{relation}`, which `{victim_text}` is", provider.show_solvable(declarer)));
        }
        problems.push(lines);
    }

    // Two versions of one package needed at once.
    for edge in edges {
        if edge.weight != ConflictEdge::Conflict(ConflictCause::ForbidMultipleInstances) {
            continue;
        }
        let (Some(a), Some(b)) = (solvable_of(edge.source().index()), solvable_of(edge.target().index())) else {
            continue;
        };
        let mut lines = chain(edge.source().index());
        lines.extend(chain(edge.target().index()));
        lines.push(format!(
            "only one version of `{}` can be installed, so `{}` and `{}` cannot both be",
            provider.pool.resolve_package_name(provider.pool.resolve_solvable(a).name),
            provider.show_solvable(a),
            provider.show_solvable(b)
        ));
        problems.push(lines);
    }

    let mut paragraphs: Vec<String> = Vec::new();
    for lines in problems {
        let mut unique: Vec<String> = Vec::new();
        for line in lines {
            if !unique.contains(&line) {
                unique.push(line);
            }
        }
        let paragraph = unique.join("\n");
        if !paragraphs.contains(&paragraph) {
            paragraphs.push(paragraph);
        }
    }
    paragraphs.truncate(MAX_PROBLEMS);
    (paragraphs, base_conflict)
}

/// The first line of a chain: what put the root requirement there.
fn root_line(provider: &DebianProvider<'_, '_>, requirement: Requirement) -> String {
    if let Requirement::Single(set) = requirement {
        if let Matcher::Exactly(package) = provider.pool.resolve_version_set(set) {
            let fields = provider.universe.fields(*package);
            return match package {
                PackageId::Installed(_) => format!("the base has `{} {}` installed", fields.name, fields.version),
                PackageId::Local(i) => {
                    let path = provider.universe.local().get(*i as usize).map(|l| l.path.display().to_string());
                    format!("`{}` ({} {}) is requested", path.unwrap_or_default(), fields.name, fields.version)
                }
                PackageId::Repository { .. } => format!("`{} {}` is requested", fields.name, fields.version),
            };
        }
    }
    format!("`{}` is requested", show_requirement(provider, requirement))
}

pub(crate) fn show_requirement(provider: &DebianProvider<'_, '_>, requirement: Requirement) -> String {
    match requirement {
        Requirement::Single(set) => provider.show_set(set),
        Requirement::Union(union) => provider
            .pool
            .resolve_version_set_union(union)
            .map(|set| provider.show_set(set))
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

fn sets(provider: &DebianProvider<'_, '_>, requirement: Requirement) -> Vec<VersionSetId> {
    match requirement {
        Requirement::Single(set) => vec![set],
        Requirement::Union(union) => provider.pool.resolve_version_set_union(union).collect(),
    }
}

/// Why nothing satisfies a requirement that has no candidates.
fn missing_reason(provider: &DebianProvider<'_, '_>, requirement: Requirement) -> String {
    let reasons: Vec<String> =
        sets(provider, requirement).into_iter().map(|set| missing_set_reason(provider, set)).collect();
    reasons.join("; ")
}

fn missing_set_reason(provider: &DebianProvider<'_, '_>, set: VersionSetId) -> String {
    let universe = provider.universe;
    let name = provider.pool.resolve_package_name(provider.pool.resolve_version_set_package_name(set)).clone();
    if provider.policy.removed.contains(&name) && !provider.policy.replaced.contains(&name) {
        return format!("`{name}` was removed from the base with `override remove`");
    }
    let arch = match provider.pool.resolve_version_set(set) {
        Matcher::Satisfies { arch, .. } => arch.clone(),
        _ => ArchRule::Native,
    };
    let named = universe.named(&name);
    let versions = |filter: &dyn Fn(&PackageId) -> bool| -> Vec<String> {
        let mut versions: Vec<(crate::deb::Version, String)> = named
            .iter()
            .filter(|id| filter(id))
            .filter_map(|id| provider.solvable(*id))
            .map(|s| provider.candidate(s).version.clone())
            .map(|v| (v.clone(), v.to_string()))
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        versions.dedup_by(|a, b| a.0 == b.0);
        versions.into_iter().map(|(_, text)| text).collect()
    };
    if matches!(arch, ArchRule::Foreign(_)) {
        return format!("only `{}` and `all` packages are available", universe.architecture());
    }
    let installed = versions(&|id| matches!(id, PackageId::Installed(_)));
    if let Some(version) = installed.first() {
        return format!("the base has `{name} {version}` installed");
    }
    let available = versions(&|_| true);
    if arch == ArchRule::Any && !available.is_empty() {
        return format!("`{name}` is not `Multi-Arch: allowed`, so nothing satisfies `{name}:any`");
    }
    let providers: BTreeSet<&str> = universe.providers(&name).iter().map(|p| universe.fields(p.package).name).collect();
    match (available.as_slice(), providers.is_empty()) {
        ([], true) => format!("no available package is named `{name}` or provides it"),
        ([], false) => format!(
            "`{name}` is a virtual package, and none of its providers ({}) satisfies that",
            providers.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
        ),
        ([one], _) => format!("only `{name} {one}` is available"),
        (many, _) => {
            let shown: Vec<String> = many.iter().take(5).map(|v| format!("`{name} {v}`")).collect();
            let more = if many.len() > 5 { format!(" and {} more", many.len() - 5) } else { String::new() };
            format!("only {}{more} are available", shown.join(", "))
        }
    }
}

/// Levenshtein distance between two names, in bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The known name closest to `wanted`, if one is close enough to be a
/// likely typo: at most a third of its length away (and at least one edit).
pub(crate) fn suggest<'n>(wanted: &str, names: impl Iterator<Item = &'n str>) -> Option<String> {
    let limit = (wanted.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for name in names {
        if name.len().abs_diff(wanted.len()) > limit {
            continue;
        }
        let distance = edit_distance(wanted, name);
        if distance == 0 || distance > limit {
            continue;
        }
        if best.is_none_or(|(d, n)| (distance, name) < (d, n)) {
            best = Some((distance, name));
        }
    }
    best.map(|(_, name)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("htopp", "htop"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions() {
        let names = ["htop", "atop", "btop", "git", "apache2", "libc6"];
        assert_eq!(suggest("htopp", names.iter().copied()).as_deref(), Some("htop"));
        assert_eq!(suggest("apache", names.iter().copied()).as_deref(), Some("apache2"));
        assert_eq!(suggest("gti", names.iter().copied()), None);
        assert_eq!(suggest("xyzzy-frobnicator", names.iter().copied()), None);
        // Ties go to the alphabetically first name.
        assert_eq!(suggest("ctop", names.iter().copied()).as_deref(), Some("atop"));
    }
}
