//! Rich (boolean) dependencies, `(foo >= 1.2 or (bar if baz))`, parsed
//! into a tree with the rules of rpm's `rpmrichParse` (rpm's
//! `docs/manual/boolean_dependencies.md`): operands are package names
//! with an optional version comparison, or nested expressions; `and`,
//! `or` and `with` may be chained, `if`/`unless` take one `else`, and the
//! operands of `with`/`without` may not contain `and`, `if` or `unless`.

use std::fmt;

use serde::Serialize;

/// A version comparison: `<`, `<=`, `=`, `>=`, `>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VersionOp {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
}

impl VersionOp {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">",
        }
    }

    /// The operator of rpm's sense bits (`RPMSENSE_LESS|GREATER|EQUAL`);
    /// `Ok(None)` when no comparison is set.
    pub fn from_sense(flags: u32) -> Result<Option<VersionOp>, &'static str> {
        const LESS: u32 = 1 << 1;
        const GREATER: u32 = 1 << 2;
        const EQUAL: u32 = 1 << 3;
        Ok(Some(match flags & (LESS | GREATER | EQUAL) {
            0 => return Ok(None),
            LESS => VersionOp::Lt,
            x if x == LESS | EQUAL => VersionOp::Le,
            EQUAL => VersionOp::Eq,
            x if x == GREATER | EQUAL => VersionOp::Ge,
            GREATER => VersionOp::Gt,
            _ => return Err("contradictory version comparison flags"),
        }))
    }

    /// rpm's spellings, including the legacy `==`, `=<` and `=>`.
    fn parse(token: &str) -> Option<VersionOp> {
        Some(match token {
            "<" => VersionOp::Lt,
            "<=" | "=<" => VersionOp::Le,
            "=" | "==" => VersionOp::Eq,
            ">=" | "=>" => VersionOp::Ge,
            ">" => VersionOp::Gt,
            _ => return None,
        })
    }
}

impl fmt::Display for VersionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `name`, or `name op version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepAtom {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<VersionOp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl fmt::Display for DepAtom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let (Some(op), Some(version)) = (self.op, &self.version) {
            write!(f, " {op} {version}")?;
        }
        Ok(())
    }
}

/// A parsed rich dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RichDep {
    Atom(DepAtom),
    And { args: Vec<RichDep> },
    Or { args: Vec<RichDep> },
    With { args: Vec<RichDep> },
    Without { left: Box<RichDep>, right: Box<RichDep> },
    If { then: Box<RichDep>, condition: Box<RichDep>, otherwise: Option<Box<RichDep>> },
    Unless { then: Box<RichDep>, condition: Box<RichDep>, otherwise: Option<Box<RichDep>> },
}

/// Why a rich dependency did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {position}")]
pub struct RichDepError {
    pub position: usize,
    pub message: &'static str,
}

/// Deeper nesting than this is refused rather than recursed into.
const MAX_DEPTH: usize = 64;

impl RichDep {
    /// Parses a whole rich dependency; it must start with `(`.
    pub fn parse(text: &str) -> Result<RichDep, RichDepError> {
        let mut parser = Parser { text: text.as_bytes(), pos: 0 };
        let dep = parser.expression(0)?;
        if parser.pos != parser.text.len() {
            return Err(parser.error("text after the rich dependency"));
        }
        Ok(dep)
    }

    /// Whether a dependency name is a rich dependency (rpm: starts with `(`).
    pub fn is_rich(name: &str) -> bool {
        name.starts_with('(')
    }

    fn fmt_nested(&self, f: &mut fmt::Formatter<'_>, top: bool) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, args: &[RichDep], op: &str| {
            f.write_str("(")?;
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                a.fmt_nested(f, false)?;
            }
            f.write_str(")")
        };
        let cond = |f: &mut fmt::Formatter<'_>, op: &str, then: &RichDep, c: &RichDep, other: &Option<Box<RichDep>>| {
            f.write_str("(")?;
            then.fmt_nested(f, false)?;
            write!(f, " {op} ")?;
            c.fmt_nested(f, false)?;
            if let Some(other) = other {
                f.write_str(" else ")?;
                other.fmt_nested(f, false)?;
            }
            f.write_str(")")
        };
        match self {
            RichDep::Atom(a) if top => write!(f, "({a})"),
            RichDep::Atom(a) => write!(f, "{a}"),
            RichDep::And { args } => list(f, args, "and"),
            RichDep::Or { args } => list(f, args, "or"),
            RichDep::With { args } => list(f, args, "with"),
            RichDep::Without { left, right } => {
                f.write_str("(")?;
                left.fmt_nested(f, false)?;
                f.write_str(" without ")?;
                right.fmt_nested(f, false)?;
                f.write_str(")")
            }
            RichDep::If { then, condition, otherwise } => cond(f, "if", then, condition, otherwise),
            RichDep::Unless { then, condition, otherwise } => cond(f, "unless", then, condition, otherwise),
        }
    }

    /// Whether this expression holds an `and`, `if` or `unless` anywhere,
    /// which rpm forbids under `with`/`without`.
    fn has_and_like(&self) -> bool {
        match self {
            RichDep::Atom(_) => false,
            RichDep::And { .. } | RichDep::If { .. } | RichDep::Unless { .. } => true,
            RichDep::Or { args } | RichDep::With { args } => args.iter().any(RichDep::has_and_like),
            RichDep::Without { left, right } => left.has_and_like() || right.has_and_like(),
        }
    }
}

/// Prints the canonical form: single spaces, `(` `)` around every
/// expression, and the standard spelling of each comparison.
impl fmt::Display for RichDep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_nested(f, true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    If,
    Unless,
    Else,
    With,
    Without,
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> RichDepError {
        RichDepError { position: self.pos, message }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// rpm's `SKIPWHITE`: whitespace and commas separate tokens.
    fn skip_white(&mut self) {
        while self.peek().is_some_and(|b| is_space(b) || b == b',') {
            self.pos += 1;
        }
    }

    /// rpm's `SKIPNONWHITEX`: a token ends at whitespace, a comma, or a
    /// `)` that closes no `(` opened inside the token (`perl(Foo)`).
    fn token(&mut self) -> &str {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            if is_space(b) || b == b',' {
                break;
            }
            if b == b')' {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            } else if b == b'(' {
                depth += 1;
            }
            self.pos += 1;
        }
        // Tokens end at ASCII bytes, so the slice is on char boundaries.
        std::str::from_utf8(&self.text[start..self.pos]).unwrap_or_default()
    }

    fn atom(&mut self) -> Result<RichDep, RichDepError> {
        let name = self.token().to_owned();
        if name.is_empty() {
            return Err(self.error("name required"));
        }
        self.skip_white();
        let before = self.pos;
        let op = VersionOp::parse(self.token());
        let Some(op) = op else {
            self.pos = before;
            return Ok(RichDep::Atom(DepAtom { name, op: None, version: None }));
        };
        self.skip_white();
        let version = self.token().to_owned();
        if version.is_empty() {
            return Err(self.error("version required"));
        }
        Ok(RichDep::Atom(DepAtom { name, op: Some(op), version: Some(version) }))
    }

    fn operator(&mut self) -> Result<Op, RichDepError> {
        let start = self.pos;
        while self.peek().is_some_and(|b| !is_space(b) && b != b')') {
            self.pos += 1;
        }
        Ok(match &self.text[start..self.pos] {
            b"and" => Op::And,
            b"or" => Op::Or,
            b"if" => Op::If,
            b"unless" => Op::Unless,
            b"else" => Op::Else,
            b"with" => Op::With,
            b"without" => Op::Without,
            _ => {
                self.pos = start;
                return Err(self.error("unknown rich dependency operator"));
            }
        })
    }

    fn expression(&mut self, depth: usize) -> Result<RichDep, RichDepError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("rich dependency nested too deeply"));
        }
        if self.peek() != Some(b'(') {
            return Err(self.error("rich dependency does not start with `(`"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        let mut ops = Vec::new();
        let mut chain: Option<Op> = None;
        loop {
            self.skip_white();
            match self.peek() {
                Some(b')') if chain.is_some() => return Err(self.error("missing operand")),
                Some(b')') => return Err(self.error("empty rich dependency")),
                Some(b'(') => args.push(self.expression(depth + 1)?),
                _ => args.push(self.atom()?),
            }
            self.skip_white();
            match self.peek() {
                None => return Err(self.error("unterminated rich dependency")),
                Some(b')') => break,
                Some(_) => {}
            }
            let at = self.pos;
            let op = self.operator()?;
            if op == Op::Else && matches!(chain, Some(Op::If | Op::Unless)) {
                chain = None;
            }
            if let Some(previous) = chain {
                let message = if op != previous {
                    Some("different operators need parentheses")
                } else if !matches!(op, Op::And | Op::Or | Op::With) {
                    Some("only `and`, `or` and `with` can be chained")
                } else {
                    None
                };
                if let Some(message) = message {
                    self.pos = at;
                    return Err(self.error(message));
                }
            }
            chain = Some(op);
            ops.push(op);
        }
        self.pos += 1;
        let end = self.pos;
        let error = |message| RichDepError { position: end, message };
        let mut args = args.into_iter();
        let mut next = || args.next().map(Box::new).ok_or(error("missing operand"));
        let dep = match ops.as_slice() {
            [] => *next()?,
            [Op::And, ..] => RichDep::And { args: next_all(next)? },
            [Op::Or, ..] => RichDep::Or { args: next_all(next)? },
            [Op::With, ..] => RichDep::With { args: next_all(next)? },
            [Op::Without] => RichDep::Without { left: next()?, right: next()? },
            [Op::If] => RichDep::If { then: next()?, condition: next()?, otherwise: None },
            [Op::If, Op::Else] => RichDep::If { then: next()?, condition: next()?, otherwise: Some(next()?) },
            [Op::Unless] => RichDep::Unless { then: next()?, condition: next()?, otherwise: None },
            [Op::Unless, Op::Else] => RichDep::Unless { then: next()?, condition: next()?, otherwise: Some(next()?) },
            [Op::Else, ..] => return Err(error("`else` without `if` or `unless`")),
            _ => return Err(error("operators that cannot be combined")),
        };
        let illegal_in_with = match &dep {
            RichDep::With { args } => args.iter().any(RichDep::has_and_like),
            RichDep::Without { left, right } => left.has_and_like() || right.has_and_like(),
            _ => false,
        };
        if illegal_in_with {
            return Err(error("`and`, `if` and `unless` are not allowed inside `with`/`without`"));
        }
        Ok(dep)
    }
}

fn next_all(mut next: impl FnMut() -> Result<Box<RichDep>, RichDepError>) -> Result<Vec<RichDep>, RichDepError> {
    let mut all = vec![*next()?];
    while let Ok(arg) = next() {
        all.push(*arg);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(name: &str) -> RichDep {
        RichDep::Atom(DepAtom { name: name.into(), op: None, version: None })
    }

    fn versioned(name: &str, op: VersionOp, version: &str) -> RichDep {
        RichDep::Atom(DepAtom { name: name.into(), op: Some(op), version: Some(version.into()) })
    }

    fn parse(text: &str) -> RichDep {
        RichDep::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"))
    }

    #[test]
    fn every_operator_parses_into_a_tree() {
        assert_eq!(parse("(a or b)"), RichDep::Or { args: vec![atom("a"), atom("b")] });
        assert_eq!(parse("(a and b and c)"), RichDep::And { args: vec![atom("a"), atom("b"), atom("c")] });
        assert_eq!(
            parse("(a if b)"),
            RichDep::If { then: Box::new(atom("a")), condition: Box::new(atom("b")), otherwise: None }
        );
        assert_eq!(
            parse("(a if b else c)"),
            RichDep::If {
                then: Box::new(atom("a")),
                condition: Box::new(atom("b")),
                otherwise: Some(Box::new(atom("c")))
            }
        );
        assert_eq!(
            parse("(a unless b else c)"),
            RichDep::Unless {
                then: Box::new(atom("a")),
                condition: Box::new(atom("b")),
                otherwise: Some(Box::new(atom("c")))
            }
        );
        assert_eq!(
            parse("(a unless b)"),
            RichDep::Unless { then: Box::new(atom("a")), condition: Box::new(atom("b")), otherwise: None }
        );
        assert_eq!(parse("(a with b)"), RichDep::With { args: vec![atom("a"), atom("b")] });
        assert_eq!(parse("(a without b)"), RichDep::Without { left: Box::new(atom("a")), right: Box::new(atom("b")) });
        assert_eq!(
            parse("(foo >= 1.2 or bar)"),
            RichDep::Or { args: vec![versioned("foo", VersionOp::Ge, "1.2"), atom("bar")] }
        );
        assert_eq!(
            parse("((pkgY and pkgZ) or pkgAA)"),
            RichDep::Or { args: vec![RichDep::And { args: vec![atom("pkgY"), atom("pkgZ")] }, atom("pkgAA")] }
        );
        assert_eq!(
            parse("(perl(Foo::Bar) >= 1:2.0-3 or python3.11dist(x) < 2)"),
            RichDep::Or {
                args: vec![
                    versioned("perl(Foo::Bar)", VersionOp::Ge, "1:2.0-3"),
                    versioned("python3.11dist(x)", VersionOp::Lt, "2")
                ]
            }
        );
        assert_eq!(parse("(a)"), atom("a"));
        // Legacy spellings and odd whitespace normalize.
        assert_eq!(parse("( a  =<  1,or\tb == 2 )").to_string(), "(a <= 1 or b = 2)");
    }

    #[test]
    fn printing_round_trips() {
        for text in [
            "(a or b)",
            "(foo >= 1.2 or bar)",
            "(a if b else c)",
            "(a unless b else c)",
            "(a without b)",
            "(a with b with c)",
            "((a or b) and c)",
            "(a or (b and (c if d else (e unless f))))",
            "((a with b) or (c without d))",
            "(foo)",
        ] {
            let dep = parse(text);
            assert_eq!(dep.to_string(), text);
            assert_eq!(parse(&dep.to_string()), dep);
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        for text in [
            "",
            "a or b",
            "(",
            ")",
            "()",
            "(a",
            "(a or",
            "(a or )",
            "(a or b",
            "(a or b))",
            "(a or b) junk",
            "(a and b or c)",
            "(a if b if c)",
            "(a if b else c else d)",
            "(a else b)",
            "(a without b without c)",
            "(a xor b)",
            "(a >= )",
            "(a >=)",
            "((a and b) with c)",
            "(a with (b if c))",
            "(a without (b and c))",
            "(a unless b and c)",
            "(a or b else c)",
            "((a) (b))",
            "(a b)",
        ] {
            assert!(RichDep::parse(text).is_err(), "`{text}` parsed");
        }
        // Deep nesting is refused, not recursed into.
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(RichDep::parse(&deep).is_err());
        // Arbitrary bytes never panic.
        let alphabet = ["(", ")", " ", "a", "or", "if", "else", ">=", "1", ",", "é"];
        let mut seed = 12345u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push_str(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            seed = seed.wrapping_add(7);
            let _ = RichDep::parse(&s);
        }
    }
}
