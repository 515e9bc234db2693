//! The order in which new packages are configured: every package after
//! the packages it depends on. A `Pre-Depends` is never broken (the
//! depended-on package must be configured before the dependent is even
//! unpacked); a cycle of `Depends` is broken the way dpkg breaks it
//! (`findbreakcycle` in dpkg's `depcon.c`): walking back along the cycle
//! from where it was found, at the first package without a `postinst`
//! (configuring it early does nothing), else at the link leaving the
//! first package of the cycle.
//!
//! The packages of a cycle stay together, ordered among the others as one.
//! Every walk is a depth-first search from each package in name order,
//! following its Pre-Depends and then its Depends as written, so the
//! order is deterministic.

/// One package to order.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    /// Unknown for repository packages (the index does not say), which
    /// are then taken to have one.
    pub has_postinst: bool,
}

/// `from` depends on `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub from: usize,
    pub to: usize,
    pub pre_depends: bool,
}

/// A dependency cycle among new packages, and the link ignored to order it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenCycle {
    /// The packages of the cycle, each depending on the next, the last on the first.
    pub cycle: Vec<String>,
    /// The dependency ignored: `from` is configured before `to`.
    pub from: String,
    pub to: String,
}

/// Orders `nodes` along `links`. Returns indices into `nodes`, and the
/// cycles broken; or, if a cycle has only `Pre-Depends` links, its names.
///
/// Packages on a cycle are kept together: the strongly connected
/// components are ordered dependencies first, and each component with a
/// cycle is ordered inside after breaking its cycles.
pub(crate) fn configure_order(nodes: &[Node], links: &[Link]) -> Result<(Vec<usize>, Vec<BrokenCycle>), Vec<String>> {
    let mut by_name: Vec<usize> = (0..nodes.len()).collect();
    by_name.sort_by(|a, b| nodes[*a].name.cmp(&nodes[*b].name));
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for pass in [true, false] {
        for (i, link) in links.iter().enumerate() {
            if link.pre_depends == pass && link.from != link.to {
                outgoing[link.from].push(i);
            }
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    let mut broken = Vec::new();
    for component in components(&by_name, &outgoing, links) {
        if let [single] = component.as_slice() {
            order.push(*single);
            continue;
        }
        let mut inside = vec![false; nodes.len()];
        for node in &component {
            inside[*node] = true;
        }
        let internal: Vec<Vec<usize>> =
            outgoing
                .iter()
                .enumerate()
                .map(|(node, out)| {
                    if inside[node] {
                        out.iter().copied().filter(|l| inside[links[*l].to]).collect()
                    } else {
                        Vec::new()
                    }
                })
                .collect();
        let starts: Vec<usize> = by_name.iter().copied().filter(|n| inside[*n]).collect();
        let mut ignored = vec![false; links.len()];
        loop {
            match walk(&starts, &internal, links, &ignored) {
                Walk::Done(inner) => {
                    order.extend(inner);
                    break;
                }
                Walk::Cycle(path) => {
                    let link = choose_break(nodes, links, &path)
                        .ok_or_else(|| path.iter().map(|l| nodes[links[*l].from].name.clone()).collect::<Vec<_>>())?;
                    ignored[link] = true;
                    broken.push(BrokenCycle {
                        cycle: path.iter().map(|l| nodes[links[*l].from].name.clone()).collect(),
                        from: nodes[links[link].from].name.clone(),
                        to: nodes[links[link].to].name.clone(),
                    });
                }
            }
        }
    }
    Ok((order, broken))
}

/// Tarjan's strongly connected components, dependencies first (Tarjan
/// emits a component after every component it reaches), starting from
/// the nodes in name order. Iterative, so deep chains cannot overflow.
fn components(by_name: &[usize], outgoing: &[Vec<usize>], links: &[Link]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let count = outgoing.len();
    let mut index = vec![UNSEEN; count];
    let mut low = vec![0; count];
    let mut on_stack = vec![false; count];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0;
    let mut out = Vec::new();
    for &start in by_name {
        if index[start] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(start, 0)];
        index[start] = next_index;
        low[start] = next_index;
        next_index += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (node, ref mut position)) = calls.last_mut() {
            if let Some(&link) = outgoing[node].get(*position) {
                *position += 1;
                let to = links[link].to;
                if index[to] == UNSEEN {
                    index[to] = next_index;
                    low[to] = next_index;
                    next_index += 1;
                    stack.push(to);
                    on_stack[to] = true;
                    calls.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(index[to]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}

enum Walk {
    /// Dependencies first.
    Done(Vec<usize>),
    /// The links of a cycle, starting with the link leaving the first
    /// package of the cycle and ending with the link back to it.
    Cycle(Vec<usize>),
}

fn walk(starts: &[usize], outgoing: &[Vec<usize>], links: &[Link], ignored: &[bool]) -> Walk {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnPath,
        Done,
    }
    let mut state = vec![State::New; outgoing.len()];
    let mut order = Vec::with_capacity(outgoing.len());
    for &start in starts {
        if state[start] != State::New {
            continue;
        }
        // (node, position in its outgoing links); `via[k]` is the link
        // taken from stack[k] to stack[k + 1].
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        let mut via: Vec<usize> = Vec::new();
        state[start] = State::OnPath;
        while let Some(&mut (node, ref mut position)) = stack.last_mut() {
            let next = outgoing[node].get(*position).copied();
            *position += 1;
            match next {
                None => {
                    state[node] = State::Done;
                    order.push(node);
                    stack.pop();
                    via.pop();
                }
                Some(link) if ignored[link] => {}
                Some(link) => {
                    let to = links[link].to;
                    match state[to] {
                        State::Done => {}
                        State::New => {
                            state[to] = State::OnPath;
                            stack.push((to, 0));
                            via.push(link);
                        }
                        State::OnPath => {
                            let first = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                            let mut cycle: Vec<usize> = via[first..].to_vec();
                            cycle.push(link);
                            return Walk::Cycle(cycle);
                        }
                    }
                }
            }
        }
    }
    Walk::Done(order)
}

/// dpkg's choice: from the link that closed the cycle back towards the
/// first package, the first link leaving a package without a `postinst`;
/// else the link leaving the first package. Pre-Depends links are never
/// chosen; if that leaves the fallback unusable, the first other link
/// from the start of the cycle is taken.
fn choose_break(nodes: &[Node], links: &[Link], cycle: &[usize]) -> Option<usize> {
    let eligible = |l: &usize| !links[*l].pre_depends;
    cycle
        .iter()
        .rev()
        .filter(|l| eligible(l))
        .find(|l| !nodes[links[**l].from].has_postinst)
        .or_else(|| cycle.iter().find(|l| eligible(l)))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[(&str, bool)]) -> Vec<Node> {
        names.iter().map(|(n, p)| Node { name: (*n).to_owned(), has_postinst: *p }).collect()
    }

    fn names(nodes: &[Node], order: &[usize]) -> Vec<String> {
        order.iter().map(|i| nodes[*i].name.clone()).collect()
    }

    fn link(from: usize, to: usize) -> Link {
        Link { from, to, pre_depends: false }
    }

    #[test]
    fn dependencies_first() {
        let n = nodes(&[("app", true), ("libb", true), ("liba", true)]);
        let (order, broken) = configure_order(&n, &[link(0, 1), link(1, 2), link(0, 2)]).expect("orders");
        assert_eq!(names(&n, &order), ["liba", "libb", "app"]);
        assert!(broken.is_empty());
    }

    #[test]
    fn cycles_break_where_dpkg_would() {
        // a -> b -> c -> a, all with postinst: the link leaving `a`, the
        // first package of the cycle, goes.
        let n = nodes(&[("a", true), ("b", true), ("c", true)]);
        let (order, broken) = configure_order(&n, &[link(0, 1), link(1, 2), link(2, 0)]).expect("orders");
        assert_eq!(
            broken,
            [BrokenCycle { cycle: vec!["a".into(), "b".into(), "c".into()], from: "a".into(), to: "b".into() }]
        );
        assert_eq!(names(&n, &order), ["a", "c", "b"]);
        // `b` has no postinst: its link goes.
        let n = nodes(&[("a", true), ("b", false), ("c", true)]);
        let (order, broken) = configure_order(&n, &[link(0, 1), link(1, 2), link(2, 0)]).expect("orders");
        assert_eq!((broken[0].from.as_str(), broken[0].to.as_str()), ("b", "c"));
        assert_eq!(names(&n, &order), ["b", "a", "c"]);
    }

    #[test]
    fn cycles_stay_together() {
        // app -> libc6 <-> libgcc-s1, app -> zlib; the cycle comes as one,
        // before `app`, not after it.
        let n = nodes(&[("app", true), ("libc6", true), ("libgcc-s1", true), ("zlib", true)]);
        let links = [link(0, 1), link(1, 2), link(2, 1), link(0, 3), link(3, 1)];
        let (order, broken) = configure_order(&n, &links).expect("orders");
        assert_eq!(names(&n, &order), ["libc6", "libgcc-s1", "zlib", "app"]);
        assert_eq!((broken[0].from.as_str(), broken[0].to.as_str()), ("libc6", "libgcc-s1"));
    }

    #[test]
    fn pre_depends_are_kept() {
        // a pre-depends on b, b depends on a: only b -> a may go.
        let n = nodes(&[("a", true), ("b", true)]);
        let links = [Link { from: 0, to: 1, pre_depends: true }, link(1, 0)];
        let (order, broken) = configure_order(&n, &links).expect("orders");
        assert_eq!((broken[0].from.as_str(), broken[0].to.as_str()), ("b", "a"));
        assert_eq!(names(&n, &order), ["b", "a"]);
        let only_pre = [Link { from: 0, to: 1, pre_depends: true }, Link { from: 1, to: 0, pre_depends: true }];
        assert_eq!(configure_order(&n, &only_pre).expect_err("no order"), ["a", "b"]);
    }
}
