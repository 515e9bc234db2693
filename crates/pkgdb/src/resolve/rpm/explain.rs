//! Telling the user why an rpm request cannot be satisfied, in rpm's words:
//!
//! ```text
//! `foo` is requested
//! `foo-1.0-1.x86_64` requires `libbar >= 2`, which no package provides (other versions: `libbar-1.0-1.x86_64`)
//! ```
//!
//! Like the Debian explanation, it follows each dead end of resolvo's
//! conflict graph back to a request or a base package.

use std::collections::{BTreeSet, VecDeque};

use resolvo::conflict::{ConflictCause, ConflictEdge, ConflictGraph, ConflictNode};
use resolvo::{Requirement, SolvableId, VersionSetId};

use super::provider::{Key, Matcher, Negative, RpmProvider};
use crate::resolve::universe::PackageId;

/// At most this many dead ends are explained; more only repeat the story.
const MAX_PROBLEMS: usize = 6;

/// The explanation of an unsatisfiable problem, one dead end per
/// paragraph, and whether a conflict with the base is among the causes.
pub(crate) fn explain(graph: &ConflictGraph, provider: &RpmProvider<'_, '_>) -> (Vec<String>, bool) {
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
    let line = |from: Option<SolvableId>, requirement: Requirement| match from {
        None => root_line(provider, requirement),
        Some(from) => match provider.key(from) {
            Key::Absent(_) => String::new(),
            Key::Package(_) => {
                format!("`{}` requires `{}`", provider.show_solvable(from), show_requirement(provider, requirement))
            }
        },
    };
    let chain = |node: usize| -> Vec<String> {
        let mut steps = Vec::new();
        let mut current = node;
        while let Some((from, requirement)) = parent[current] {
            steps.push((from, requirement));
            current = from;
        }
        steps.reverse();
        steps.into_iter().map(|(from, r)| line(solvable_of(from), r)).filter(|l| !l.is_empty()).collect()
    };
    let is_installed = |s: SolvableId| matches!(provider.package(s), Some(PackageId::Installed(_)));

    let mut problems: Vec<Vec<String>> = Vec::new();
    let mut base_conflict = false;

    // Requirements none of whose candidates can be chosen.
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
            format!("but {}", reasons.into_iter().collect::<Vec<_>>().join("; "))
        };
        let mut lines = chain(source);
        let last = line(solvable_of(source), requirement);
        lines.push(format!("{last}, {why}"));
        problems.push(lines);
    }

    // Packages whose metadata cannot be used.
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

    // Conflicts, Obsoletes, and conditions of rich dependencies.
    for edge in edges {
        let ConflictEdge::Conflict(ConflictCause::Constrains(set)) = edge.weight else { continue };
        let (Some(declarer), Some(victim)) = (solvable_of(edge.source().index()), solvable_of(edge.target().index()))
        else {
            continue;
        };
        let Matcher::Avoids { kind, test, except, .. } = provider.pool.resolve_version_set(set) else { continue };
        let victim_text = provider.show_solvable(victim);
        let mut lines = chain(edge.source().index());
        let against_base = is_installed(victim) || is_installed(declarer);
        let conflict = *kind != Negative::Absent || except.is_some();
        if against_base && conflict {
            base_conflict = true;
        }
        let statement = match kind {
            Negative::Conflicts => format!("`{}` conflicts with `{test}`", provider.show_solvable(declarer)),
            Negative::Obsoletes => format!("`{}` obsoletes `{test}`", provider.show_solvable(declarer)),
            Negative::Absent => format!("that needs no package to provide `{test}`"),
        };
        if is_installed(victim) {
            lines.push(format!("{statement}, but the base has `{victim_text}` installed"));
        } else {
            lines.extend(chain(edge.target().index()));
            let what = if *kind == Negative::Obsoletes { "is" } else { "provides" };
            lines.push(format!("{statement}, which `{victim_text}` {what}"));
        }
        problems.push(lines);
    }

    // Two packages of one name needed at once.
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
            "only one package named `{}` can be installed, so `{}` and `{}` cannot both be",
            provider.show_name(provider.pool.resolve_solvable(a).name),
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
fn root_line(provider: &RpmProvider<'_, '_>, requirement: Requirement) -> String {
    if let Requirement::Single(set) = requirement {
        if let Matcher::Exactly(Key::Package(package)) = provider.pool.resolve_version_set(set) {
            let nevra = provider.universe.view(*package).nevra();
            return match package {
                PackageId::Installed(_) => format!("the base has `{nevra}` installed"),
                PackageId::Local(i) => {
                    let path = provider.universe.local().get(*i as usize).map(|l| l.path.display().to_string());
                    format!("`{}` ({nevra}) is requested", path.unwrap_or_default())
                }
                PackageId::Repository { .. } => format!("`{nevra}` is requested"),
            };
        }
    }
    format!("`{}` is requested", show_requirement(provider, requirement))
}

/// A requirement as the package wrote it, where known.
pub(crate) fn show_requirement(provider: &RpmProvider<'_, '_>, requirement: Requirement) -> String {
    if let Some(origin) = provider.origins.borrow().get(&requirement) {
        return origin.clone();
    }
    sets(provider, requirement).into_iter().map(|set| provider.show_set(set)).collect::<Vec<_>>().join(" or ")
}

fn sets(provider: &RpmProvider<'_, '_>, requirement: Requirement) -> Vec<VersionSetId> {
    match requirement {
        Requirement::Single(set) => vec![set],
        Requirement::Union(union) => provider.pool.resolve_version_set_union(union).collect(),
    }
}

/// Why nothing satisfies a requirement that has no candidates.
fn missing_reason(provider: &RpmProvider<'_, '_>, requirement: Requirement) -> String {
    let universe = provider.universe;
    let mut removed = Vec::new();
    let mut near = Vec::new();
    for set in sets(provider, requirement) {
        let Matcher::Satisfies(test) = provider.pool.resolve_version_set(set) else { continue };
        for anchor in test.anchors() {
            for id in universe.providers(anchor) {
                let view = universe.view(id);
                if provider.policy.removed.contains(view.name()) && !provider.policy.replaced.contains(view.name()) {
                    removed.push(format!("`{}` was removed from the base with `override remove`", view.name()));
                } else if near.len() < 5 {
                    let shown = format!("`{}`", view.nevra());
                    if !near.contains(&shown) {
                        near.push(shown);
                    }
                }
            }
        }
    }
    removed.dedup();
    if !removed.is_empty() {
        return format!("but {}", removed.join("; "));
    }
    match near.as_slice() {
        [] => "which no package provides".to_owned(),
        _ => format!("which no package provides (other versions: {})", near.join(", ")),
    }
}
