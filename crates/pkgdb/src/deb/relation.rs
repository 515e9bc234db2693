//! Debian relation fields (`Depends`, `Pre-Depends`, `Recommends`,
//! `Suggests`, `Conflicts`, `Breaks`, `Replaces`, `Provides`, and the
//! source-side `Build-Depends`), as deb-control(5) and dpkg parse them:
//!
//! `a (>= 1.2) | b:any, c [amd64] <!nocheck>` is two groups; the first
//! holds two alternatives, `a` with a version constraint and `b` with an
//! architecture qualifier; the second, `c`, is restricted to amd64 and to
//! builds without the `nocheck` profile.

use std::fmt;

/// A comparison in a version constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum VersionOp {
    /// `<<`
    Less,
    /// `<=` (and the obsolete `<`, which dpkg reads the same way)
    LessOrEqual,
    /// `=`
    Equal,
    /// `>=` (and the obsolete `>`)
    GreaterOrEqual,
    /// `>>`
    Greater,
}

impl VersionOp {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Less => "<<",
            VersionOp::LessOrEqual => "<=",
            VersionOp::Equal => "=",
            VersionOp::GreaterOrEqual => ">=",
            VersionOp::Greater => ">>",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionConstraint {
    pub op: VersionOp,
    pub version: String,
}

/// One term of an `[arch ...]` list or a `<profile ...>` list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Term {
    pub negated: bool,
    pub name: String,
}

/// One alternative: a package name and its qualifiers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Relation {
    pub name: String,
    /// `any`, `native` or an architecture, from `name:qualifier`.
    pub arch_qualifier: Option<String>,
    pub version: Option<VersionConstraint>,
    /// `[amd64 arm64]` or `[!i386]`; empty means every architecture.
    pub architectures: Vec<Term>,
    /// `<!nocheck> <stage1 cross>`: the relation applies when any one list
    /// holds entirely.
    pub profiles: Vec<Vec<Term>>,
}

/// A relation field: every group must hold, and a group holds when any
/// one of its alternatives does.
pub type Relations = Vec<Vec<Relation>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset} of `{text}`: {reason}")]
pub struct RelationError {
    pub text: String,
    pub offset: usize,
    pub reason: &'static str,
}

/// Parses a relation field. Whitespace, including the newlines of a folded
/// field, may appear between any two tokens. An empty group (`a, , b` or a
/// trailing comma) is skipped, as dpkg does; an empty alternative is not.
pub fn parse_relations(text: &str) -> Result<Relations, RelationError> {
    let mut scanner = Scanner { text, bytes: text.as_bytes(), pos: 0 };
    let mut groups = Vec::new();
    loop {
        scanner.skip_space();
        if scanner.at_end() {
            break;
        }
        if scanner.eat(b',') {
            continue;
        }
        let mut group = vec![scanner.relation()?];
        loop {
            scanner.skip_space();
            if scanner.eat(b'|') {
                group.push(scanner.relation()?);
            } else if scanner.eat(b',') || scanner.at_end() {
                break;
            } else {
                return Err(scanner.error("expected `,` or `|`"));
            }
        }
        groups.push(group);
    }
    Ok(groups)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn error(&self, reason: &'static str) -> RelationError {
        RelationError { text: self.text.to_owned(), offset: self.pos, reason }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// The longest run of bytes accepted by `ok`.
    fn take_while(&mut self, ok: impl Fn(u8) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&ok) {
            self.pos += 1;
        }
        // Every predicate below accepts ASCII only, so this is a char boundary.
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn relation(&mut self) -> Result<Relation, RelationError> {
        self.skip_space();
        let name = self.take_while(is_package_char).to_owned();
        if name.is_empty() {
            return Err(self.error("expected a package name"));
        }
        if !name.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(self.error("a package name starts with a letter or digit"));
        }
        let arch_qualifier = if self.eat(b':') {
            let arch = self.take_while(is_arch_char);
            if arch.is_empty() {
                return Err(self.error("expected an architecture after `:`"));
            }
            Some(arch.to_owned())
        } else {
            None
        };
        let mut relation =
            Relation { name, arch_qualifier, version: None, architectures: Vec::new(), profiles: Vec::new() };
        self.skip_space();
        if self.eat(b'(') {
            relation.version = Some(self.version_constraint()?);
            self.skip_space();
        }
        if self.eat(b'[') {
            relation.architectures = self.terms(b']', is_arch_char)?;
            if relation.architectures.is_empty() {
                return Err(self.error("an architecture list is empty"));
            }
            if relation.architectures.iter().any(|t| t.negated != relation.architectures[0].negated) {
                return Err(self.error("an architecture list mixes negated and plain architectures"));
            }
            self.skip_space();
        }
        while self.eat(b'<') {
            let profiles = self.terms(b'>', is_profile_char)?;
            if profiles.is_empty() {
                return Err(self.error("a build profile list is empty"));
            }
            relation.profiles.push(profiles);
            self.skip_space();
        }
        Ok(relation)
    }

    fn version_constraint(&mut self) -> Result<VersionConstraint, RelationError> {
        self.skip_space();
        let op = match (self.peek(), self.bytes.get(self.pos + 1).copied()) {
            (Some(b'<'), Some(b'<')) => (VersionOp::Less, 2),
            (Some(b'<'), Some(b'=')) => (VersionOp::LessOrEqual, 2),
            (Some(b'>'), Some(b'>')) => (VersionOp::Greater, 2),
            (Some(b'>'), Some(b'=')) => (VersionOp::GreaterOrEqual, 2),
            (Some(b'<'), _) => (VersionOp::LessOrEqual, 1),
            (Some(b'>'), _) => (VersionOp::GreaterOrEqual, 1),
            (Some(b'='), _) => (VersionOp::Equal, 1),
            _ => return Err(self.error("expected `<<`, `<=`, `=`, `>=` or `>>`")),
        };
        self.pos += op.1;
        self.skip_space();
        let version = self.take_while(is_version_char).to_owned();
        if version.is_empty() {
            return Err(self.error("expected a version"));
        }
        self.skip_space();
        if !self.eat(b')') {
            return Err(self.error("expected `)` after the version"));
        }
        Ok(VersionConstraint { op: op.0, version })
    }

    /// Whitespace-separated `name` or `!name` terms up to `close`.
    fn terms(&mut self, close: u8, ok: fn(u8) -> bool) -> Result<Vec<Term>, RelationError> {
        let mut terms = Vec::new();
        loop {
            self.skip_space();
            if self.eat(close) {
                return Ok(terms);
            }
            let negated = self.eat(b'!');
            let name = self.take_while(ok);
            if name.is_empty() {
                return Err(self.error("expected a name in a `[...]` or `<...>` list"));
            }
            terms.push(Term { negated, name: name.to_owned() });
        }
    }
}

/// deb-control(5): lowercase letters, digits, `+`, `-` and `.`.
fn is_package_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
}

fn is_arch_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

fn is_profile_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'+')
}

/// deb-version(7): `[epoch:]upstream[-revision]` characters.
fn is_version_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'~' | b':')
}

impl fmt::Display for Relation {
    /// The relation in the canonical form dpkg writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let term = |t: &Term| format!("{}{}", if t.negated { "!" } else { "" }, t.name);
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch_qualifier {
            write!(f, ":{arch}")?;
        }
        if let Some(v) = &self.version {
            write!(f, " ({} {})", v.op.as_str(), v.version)?;
        }
        if !self.architectures.is_empty() {
            write!(f, " [{}]", self.architectures.iter().map(term).collect::<Vec<_>>().join(" "))?;
        }
        for list in &self.profiles {
            write!(f, " <{}>", list.iter().map(term).collect::<Vec<_>>().join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(relations: &Relations) -> String {
        relations
            .iter()
            .map(|group| group.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" | "))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn the_documented_example() {
        let r = parse_relations("a (>= 1.2) | b:any, c [amd64] <!nocheck>").expect("parses");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].len(), 2);
        assert_eq!(r[0][0].name, "a");
        assert_eq!(r[0][0].version, Some(VersionConstraint { op: VersionOp::GreaterOrEqual, version: "1.2".into() }));
        assert_eq!(r[0][1].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(r[1][0].architectures, vec![Term { negated: false, name: "amd64".into() }]);
        assert_eq!(r[1][0].profiles, vec![vec![Term { negated: true, name: "nocheck".into() }]]);
        assert_eq!(shown(&r), "a (>= 1.2) | b:any, c [amd64] <!nocheck>");
    }

    #[test]
    fn real_fields_and_odd_spacing() {
        let cases = [
            (
                "libc6 (>= 2.34), libncursesw6 (>= 6), libnl-3-200 (>= 3.2.7)",
                "libc6 (>= 2.34), libncursesw6 (>= 6), libnl-3-200 (>= 3.2.7)",
            ),
            ("libgcc-s1, libc6 (<<2.37),\n libstdc++6(>=12)", "libgcc-s1, libc6 (<< 2.37), libstdc++6 (>= 12)"),
            ("a (=1:2.0~rc1-3+b1)", "a (= 1:2.0~rc1-3+b1)"),
            ("a (< 1), b (> 2)", "a (<= 1), b (>= 2)"),
            (
                "debhelper-compat (= 13), a [!i386 !armel] <stage1 cross> <!nocheck>",
                "debhelper-compat (= 13), a [!i386 !armel] <stage1 cross> <!nocheck>",
            ),
            ("a,, b,", "a, b"),
            ("", ""),
            ("python3:any | python3.11:native", "python3:any | python3.11:native"),
        ];
        for (input, expected) in cases {
            let parsed = parse_relations(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(shown(&parsed), expected, "{input}");
        }
    }

    #[test]
    fn malformed_fields_are_refused() {
        for bad in [
            "a |",
            "| a",
            "a | | b",
            "a (>= )",
            "a (~ 1)",
            "a (>= 1",
            "a b",
            "A",
            "-a",
            "a:",
            "a [amd64 !i386]",
            "a []",
            "a <>",
            "a [amd64",
            "a (>= 1) (<< 2)",
            "a (>= 1 2)",
            "ä",
        ] {
            assert!(parse_relations(bad).is_err(), "{bad:?} accepted");
        }
        let e = parse_relations("a, b (>= )").expect_err("refused");
        assert_eq!(e.offset, 9);
        assert_eq!(e.to_string(), "at byte 9 of `a, b (>= )`: expected a version");
    }
}
