//! rpm relations as logic: a [`Test`] asks one package (does it provide
//! `foo >= 2`, is it named `bar`), a [`Formula`] combines tests over the
//! whole installation, and [`Formula::cnf`] flattens a formula into the
//! clauses a SAT solver takes: each clause is "one of these tests holds
//! for some installed package, or one of those holds for none".
//!
//! Rich dependencies map onto this exactly: `and`, `or`, `if`, `unless`
//! and `else` are boolean connectives over the installation, while `with`
//! and `without` ask one and the same package, so they stay inside a test.

use std::cmp::Ordering;
use std::fmt;

use super::universe::{DepView, RpmUniverse};
use crate::resolve::universe::PackageId;
use crate::rpm::{DepAtom, RichDep, VersionOp};
use crate::rpmmd::{DepKind, Evr};

const LESS: u8 = 1;
const GREATER: u8 = 2;
const EQUAL: u8 = 4;

fn sense(op: VersionOp) -> u8 {
    match op {
        VersionOp::Lt => LESS,
        VersionOp::Le => LESS | EQUAL,
        VersionOp::Eq => EQUAL,
        VersionOp::Ge => GREATER | EQUAL,
        VersionOp::Gt => GREATER,
    }
}

fn sense_str(sense: u8) -> &'static str {
    match sense {
        LESS => "<",
        x if x == LESS | EQUAL => "<=",
        GREATER => ">",
        x if x == GREATER | EQUAL => ">=",
        _ => "=",
    }
}

/// rpm's `rpmdsCompare` for two versioned ranges of the same name: do
/// they overlap? The versions compare with [`Evr::compare`] (a missing
/// release is not compared).
pub(crate) fn overlaps(a_sense: u8, a: &Evr<'_>, b_sense: u8, b: &Evr<'_>) -> bool {
    match a.compare(b) {
        Ordering::Less => a_sense & GREATER != 0 || b_sense & LESS != 0,
        Ordering::Greater => a_sense & LESS != 0 || b_sense & GREATER != 0,
        Ordering::Equal => {
            (a_sense & EQUAL != 0 && b_sense & EQUAL != 0)
                || (a_sense & LESS != 0 && b_sense & LESS != 0)
                || (a_sense & GREATER != 0 && b_sense & GREATER != 0)
        }
    }
}

/// A version range: `>= 1:2.0-3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Range {
    sense: u8,
    epoch: u32,
    version: String,
    release: Option<String>,
}

impl Range {
    pub fn new(op: VersionOp, evr: &Evr<'_>) -> Range {
        Range {
            sense: sense(op),
            epoch: evr.epoch,
            version: evr.version.to_owned(),
            release: evr.release.map(str::to_owned),
        }
    }

    fn evr(&self) -> Evr<'_> {
        Evr::new(self.epoch, &self.version, self.release.as_deref())
    }

    /// Whether a package of exactly `evr` (as its self-provide `= evr`) is in range.
    pub fn contains(&self, evr: &Evr<'_>) -> bool {
        overlaps(EQUAL, evr, self.sense, &self.evr())
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", sense_str(self.sense), self.evr())
    }
}

/// A capability, optionally versioned: `libfoo.so.1()(64bit)`, `bar >= 2`, `/bin/sh`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Atom {
    pub name: String,
    pub range: Option<Range>,
}

impl Atom {
    pub fn from_dep(dep: &DepView<'_>) -> Atom {
        let range = match (dep.op, dep.evr) {
            (Some(op), Some(evr)) => Some(Range::new(op, &evr)),
            _ => None,
        };
        Atom { name: dep.name.to_owned(), range }
    }

    fn from_rich(atom: &DepAtom) -> Atom {
        let range = match (atom.op, atom.version.as_deref()) {
            (Some(op), Some(text)) => Some(Range::new(op, &Evr::parse(text).unwrap_or(Evr::new(0, text, None)))),
            _ => None,
        };
        Atom { name: atom.name.clone(), range }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(range) = &self.range {
            write!(f, " {range}")?;
        }
        Ok(())
    }
}

/// A question about one package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Test {
    /// It provides the capability (by a Provides entry, its own name and
    /// EVR, or a file it lists).
    Provides(Atom),
    /// It is named so, at a version in range (Obsoletes, `NAME=EVR` requests).
    Named(Atom),
    /// Any of them holds for it (`or` under `with`/`without`).
    Any(Vec<Test>),
    /// All of them hold for it (`with`).
    All(Vec<Test>),
    /// The first holds for it and the second does not (`without`).
    But(Box<Test>, Box<Test>),
}

impl Test {
    pub fn holds(&self, universe: &RpmUniverse<'_>, package: PackageId) -> bool {
        let view = universe.view(package);
        match self {
            Test::Named(atom) => {
                view.name() == atom.name && atom.range.as_ref().is_none_or(|r| r.contains(&view.evr()))
            }
            Test::Provides(atom) => {
                if view.name() == atom.name && atom.range.as_ref().is_none_or(|r| r.contains(&view.evr())) {
                    return true;
                }
                let by_provide = view.deps(DepKind::Provides).iter().any(|dep| {
                    dep.name == atom.name
                        && match (&atom.range, dep.op, dep.evr) {
                            (Some(range), Some(op), Some(evr)) => overlaps(sense(op), &evr, range.sense, &range.evr()),
                            // An unversioned side matches any version.
                            _ => true,
                        }
                });
                by_provide || (atom.name.starts_with('/') && universe.lists_file(package, &atom.name))
            }
            Test::Any(tests) => tests.iter().any(|t| t.holds(universe, package)),
            Test::All(tests) => tests.iter().all(|t| t.holds(universe, package)),
            Test::But(yes, no) => yes.holds(universe, package) && !no.holds(universe, package),
        }
    }

    /// Capability names such that every package the test holds for
    /// provides (or is named) one of them: where to look for candidates.
    pub fn anchors(&self) -> Vec<&str> {
        match self {
            Test::Provides(atom) | Test::Named(atom) => vec![atom.name.as_str()],
            Test::Any(tests) => {
                let mut out = Vec::new();
                for name in tests.iter().flat_map(Test::anchors) {
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
                out
            }
            Test::All(tests) => tests.first().map(Test::anchors).unwrap_or_default(),
            Test::But(yes, _) => yes.anchors(),
        }
    }

    /// The atoms the test names, for ordering.
    pub fn atoms(&self) -> Vec<&Atom> {
        match self {
            Test::Provides(atom) | Test::Named(atom) => vec![atom],
            Test::Any(tests) | Test::All(tests) => tests.iter().flat_map(Test::atoms).collect(),
            Test::But(yes, _) => yes.atoms(),
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, tests: &[Test], op: &str| {
            f.write_str("(")?;
            for (i, t) in tests.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{t}")?;
            }
            f.write_str(")")
        };
        match self {
            Test::Provides(atom) | Test::Named(atom) => write!(f, "{atom}"),
            Test::Any(tests) => list(f, tests, "or"),
            Test::All(tests) => list(f, tests, "with"),
            Test::But(yes, no) => write!(f, "({yes} without {no})"),
        }
    }
}

/// A condition on the whole installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Formula {
    /// Some installed package passes the test.
    Test(Test),
    Not(Box<Formula>),
    And(Vec<Formula>),
    Or(Vec<Formula>),
}

/// One literal of a clause: some package passes `test` (`positive`), or none does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Literal {
    pub positive: bool,
    pub test: Test,
}

/// More clauses than this from one dependency is refused; real rich
/// dependencies make a handful.
const MAX_CLAUSES: usize = 256;

impl Formula {
    /// A plain dependency: some package provides it.
    pub fn atom(dep: &DepView<'_>) -> Formula {
        Formula::Test(Test::Provides(Atom::from_dep(dep)))
    }

    pub fn from_rich(rich: &RichDep) -> Result<Formula, String> {
        Ok(match rich {
            RichDep::Atom(atom) => Formula::Test(Test::Provides(Atom::from_rich(atom))),
            RichDep::And { args } => Formula::And(args.iter().map(Formula::from_rich).collect::<Result<_, _>>()?),
            RichDep::Or { args } => Formula::Or(args.iter().map(Formula::from_rich).collect::<Result<_, _>>()?),
            RichDep::With { .. } | RichDep::Without { .. } => Formula::Test(test_of(rich)?),
            RichDep::If { then, condition, otherwise } => {
                let (then, condition) = (Formula::from_rich(then)?, Formula::from_rich(condition)?);
                let first = Formula::Or(vec![then, Formula::Not(Box::new(condition.clone()))]);
                match otherwise {
                    None => first,
                    Some(otherwise) => {
                        Formula::And(vec![first, Formula::Or(vec![Formula::from_rich(otherwise)?, condition])])
                    }
                }
            }
            RichDep::Unless { then, condition, otherwise } => {
                let (then, condition) = (Formula::from_rich(then)?, Formula::from_rich(condition)?);
                let first = Formula::Or(vec![then, condition.clone()]);
                match otherwise {
                    None => first,
                    Some(otherwise) => Formula::And(vec![
                        first,
                        Formula::Or(vec![Formula::from_rich(otherwise)?, Formula::Not(Box::new(condition))]),
                    ]),
                }
            }
        })
    }

    /// The formula as clauses (conjunctive normal form), negations pushed
    /// down to the tests. `Err` when it would take too many clauses.
    pub fn cnf(&self) -> Result<Vec<Vec<Literal>>, String> {
        let clauses = self.cnf_signed(true)?;
        Ok(clauses
            .into_iter()
            .map(|clause| {
                let mut unique: Vec<Literal> = Vec::with_capacity(clause.len());
                for literal in clause {
                    if !unique.contains(&literal) {
                        unique.push(literal);
                    }
                }
                unique
            })
            .collect())
    }

    fn cnf_signed(&self, positive: bool) -> Result<Vec<Vec<Literal>>, String> {
        match (self, positive) {
            (Formula::Test(test), _) => Ok(vec![vec![Literal { positive, test: test.clone() }]]),
            (Formula::Not(inner), _) => inner.cnf_signed(!positive),
            (Formula::And(parts), true) | (Formula::Or(parts), false) => {
                let mut out = Vec::new();
                for part in parts {
                    out.extend(part.cnf_signed(positive)?);
                    if out.len() > MAX_CLAUSES {
                        return Err("it is too complex".to_owned());
                    }
                }
                Ok(out)
            }
            (Formula::Or(parts), true) | (Formula::And(parts), false) => {
                let mut out: Vec<Vec<Literal>> = vec![Vec::new()];
                for part in parts {
                    let clauses = part.cnf_signed(positive)?;
                    if out.len() * clauses.len() > MAX_CLAUSES {
                        return Err("it is too complex".to_owned());
                    }
                    out = out
                        .iter()
                        .flat_map(|left| {
                            clauses.iter().map(move |right| left.iter().chain(right).cloned().collect::<Vec<_>>())
                        })
                        .collect();
                }
                Ok(out)
            }
        }
    }
}

/// The single-package test of a `with`/`without` operand, where rpm
/// allows only atoms, `or`, `with` and `without`.
fn test_of(rich: &RichDep) -> Result<Test, String> {
    Ok(match rich {
        RichDep::Atom(atom) => Test::Provides(Atom::from_rich(atom)),
        RichDep::Or { args } => Test::Any(args.iter().map(test_of).collect::<Result<_, _>>()?),
        RichDep::With { args } => Test::All(args.iter().map(test_of).collect::<Result<_, _>>()?),
        RichDep::Without { left, right } => Test::But(Box::new(test_of(left)?), Box::new(test_of(right)?)),
        RichDep::And { .. } | RichDep::If { .. } | RichDep::Unless { .. } => {
            return Err("`and`, `if` and `unless` cannot be operands of `with` or `without`".to_owned());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evr(text: &str) -> Evr<'_> {
        Evr::parse(text).expect("evr")
    }

    #[test]
    fn ranges_overlap_as_rpm() {
        // Provide `= 1.0-1` against requires.
        assert!(overlaps(EQUAL, &evr("1.0-1"), GREATER | EQUAL, &evr("1.0")));
        assert!(!overlaps(EQUAL, &evr("1.0-1"), GREATER, &evr("1.0")), "no release: releases not compared");
        assert!(overlaps(EQUAL, &evr("1.0-2"), GREATER, &evr("1.0-1")));
        assert!(!overlaps(EQUAL, &evr("1.0-1"), LESS, &evr("1.0-1")));
        assert!(overlaps(EQUAL, &evr("1:0.5"), GREATER, &evr("2.0")), "epoch wins");
        assert!(!overlaps(EQUAL, &evr("2.0"), EQUAL, &evr("1:2.0")), "missing epoch is 0");
        // Two open ranges.
        assert!(overlaps(GREATER, &evr("1"), LESS, &evr("3")));
        assert!(!overlaps(LESS, &evr("1"), GREATER, &evr("3")));
        assert!(overlaps(GREATER | EQUAL, &evr("2"), LESS | EQUAL, &evr("2")));
    }

    fn rich(text: &str) -> Formula {
        Formula::from_rich(&RichDep::parse(text).expect("parses")).expect("converts")
    }

    fn show(clauses: &[Vec<Literal>]) -> Vec<String> {
        clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|l| if l.positive { l.test.to_string() } else { format!("!{}", l.test) })
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect()
    }

    #[test]
    fn rich_dependencies_become_clauses() {
        assert_eq!(show(&rich("(a or b >= 2)").cnf().expect("cnf")), ["a | b >= 2"]);
        assert_eq!(show(&rich("(a and b)").cnf().expect("cnf")), ["a", "b"]);
        assert_eq!(show(&rich("(x if y)").cnf().expect("cnf")), ["x | !y"]);
        assert_eq!(show(&rich("(x if y else z)").cnf().expect("cnf")), ["x | !y", "z | y"]);
        assert_eq!(show(&rich("(x unless y)").cnf().expect("cnf")), ["x | y"]);
        assert_eq!(show(&rich("(x unless y else z)").cnf().expect("cnf")), ["x | y", "z | !y"]);
        assert_eq!(show(&rich("((a and b) or c)").cnf().expect("cnf")), ["a | c", "b | c"]);
        assert_eq!(show(&rich("(x if (a or b))").cnf().expect("cnf")), ["x | !a", "x | !b"]);
        assert_eq!(show(&rich("(a with b)").cnf().expect("cnf")), ["(a with b)"]);
        assert_eq!(show(&rich("(a without b)").cnf().expect("cnf")), ["(a without b)"]);
        // A rich Conflicts is the requirement that the formula not hold.
        let conflict = Formula::Not(Box::new(rich("(a and b)")));
        assert_eq!(show(&conflict.cnf().expect("cnf")), ["!a | !b"]);
    }

    #[test]
    fn anchors_cover_every_match() {
        let Formula::Test(test) = rich("((a or b) with c)") else { panic!("a test") };
        assert_eq!(test.anchors(), ["a", "b"]);
        let Formula::Test(test) = rich("(a without b)") else { panic!("a test") };
        assert_eq!(test.anchors(), ["a"]);
    }
}
