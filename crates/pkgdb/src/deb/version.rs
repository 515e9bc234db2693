//! Debian versions, deb-version(7): `[epoch:]upstream[-revision]`,
//! validated as dpkg's `parseversion` does and ordered exactly as its
//! `verrevcmp`: `~` sorts before everything (even the end of the string),
//! letters sort before the other characters, digit runs compare as
//! numbers, a missing epoch is `0` and a missing revision is empty.
//!
//! Equality follows the ordering, so `1.0` equals `0:1.0`, `1.00` and
//! `1.0-0`; hashing agrees with it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use super::relation::{VersionConstraint, VersionOp};

/// The largest epoch dpkg accepts (`INT_MAX`).
pub const MAX_EPOCH: u32 = i32::MAX as u32;

/// A parsed, valid Debian version. It keeps the text as written, so
/// [`Version::as_str`] and `Display` give back `0:1.0` as `0:1.0`.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    epoch: u32,
    /// Byte range of the upstream part in `text`.
    upstream_start: usize,
    upstream_end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{version}` is not a valid Debian version: {reason}")]
pub struct VersionError {
    pub version: String,
    pub reason: &'static str,
}

impl Version {
    /// Parses and validates a version as dpkg does. dpkg only warns about an
    /// upstream part that does not start with a digit and installs such
    /// packages anyway, so that is accepted; everything dpkg refuses, or
    /// warns about as an invalid character, is an error.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let error = |reason| VersionError { version: text.escape_debug().to_string(), reason };
        if text.is_empty() {
            return Err(error("the version is empty"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(error("it contains whitespace"));
        }
        let (epoch, upstream_start) = match text.split_once(':') {
            None => (0, 0),
            Some((epoch, rest)) => {
                if epoch.is_empty() {
                    return Err(error("the epoch before `:` is empty"));
                }
                if !epoch.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(error("the epoch is not a number"));
                }
                let epoch = epoch
                    .parse::<u32>()
                    .ok()
                    .filter(|e| *e <= MAX_EPOCH)
                    .ok_or_else(|| error("the epoch is too big"))?;
                if rest.is_empty() {
                    return Err(error("nothing follows the epoch's `:`"));
                }
                (epoch, text.len() - rest.len())
            }
        };
        let rest = &text[upstream_start..];
        let upstream_end = match rest.rfind('-') {
            Some(hyphen) => {
                if hyphen + 1 == rest.len() {
                    return Err(error("the revision after the last `-` is empty"));
                }
                upstream_start + hyphen
            }
            None => text.len(),
        };
        let version = Version { text: text.to_owned(), epoch, upstream_start, upstream_end };
        if version.upstream().is_empty() {
            return Err(error("the upstream version is empty"));
        }
        if !version
            .upstream()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'~' | b':'))
        {
            return Err(error("the upstream version may hold only letters, digits and `.+-~:`"));
        }
        if !version.revision().bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~')) {
            return Err(error("the revision may hold only letters, digits and `.+~`"));
        }
        Ok(version)
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn upstream(&self) -> &str {
        &self.text[self.upstream_start..self.upstream_end]
    }

    /// The Debian revision; empty when the version has none.
    pub fn revision(&self) -> &str {
        self.text.get(self.upstream_end + 1..).unwrap_or("")
    }

    /// Whether this version satisfies `op other`, as in `Depends: a (op other)`.
    pub fn satisfies(&self, op: VersionOp, other: &Version) -> bool {
        op_accepts(op, self.cmp(other))
    }
}

/// Whether `version` satisfies `constraint`; the constraint's own version
/// is parsed (and must be valid).
pub fn satisfies_constraint(version: &Version, constraint: &VersionConstraint) -> Result<bool, VersionError> {
    Ok(version.satisfies(constraint.op, &Version::parse(&constraint.version)?))
}

/// Whether an ordering of `version` against a constraint's version
/// satisfies the constraint's operator.
pub fn op_accepts(op: VersionOp, ordering: Ordering) -> bool {
    match op {
        VersionOp::Less => ordering == Ordering::Less,
        VersionOp::LessOrEqual => ordering != Ordering::Greater,
        VersionOp::Equal => ordering == Ordering::Equal,
        VersionOp::GreaterOrEqual => ordering != Ordering::Less,
        VersionOp::Greater => ordering == Ordering::Greater,
    }
}

/// Compares two version strings as `dpkg --compare-versions` does.
pub fn compare_versions(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(Version::parse(a)?.cmp(&Version::parse(b)?))
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse(text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| verrevcmp(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// Hashes the canonical form under `verrevcmp` equality: each part as its
/// runs of (non-digits, digits without leading zeros), where a part that
/// is only zeros equals the empty part.
impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        hash_part(self.upstream().as_bytes(), state);
        hash_part(self.revision().as_bytes(), state);
    }
}

fn hash_part<H: Hasher>(part: &[u8], state: &mut H) {
    let segments: Vec<(&[u8], &[u8])> = segments(part).collect();
    let segments: &[(&[u8], &[u8])] = match segments.as_slice() {
        [(b"", b"")] => &[],
        all => all,
    };
    segments.len().hash(state);
    for (letters, digits) in segments {
        letters.hash(state);
        digits.hash(state);
    }
}

/// Splits a part into (non-digit run, digit run without leading zeros).
fn segments(mut part: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        if part.is_empty() {
            return None;
        }
        let letters = part.iter().take_while(|b| !b.is_ascii_digit()).count();
        let (text, rest) = part.split_at(letters);
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (number, rest) = rest.split_at(digits);
        part = rest;
        let zeros = number.iter().take_while(|b| **b == b'0').count();
        Some((text, &number[zeros..]))
    })
}

/// dpkg's character weight: digits and the end of the string weigh 0,
/// `~` sorts first, letters next, then everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`, on one part (upstream or revision).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let at = |s: &[u8], k: usize| s.get(k).copied();
    let is_digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(at(a, i))) || (j < b.len() && !is_digit(at(b, j))) {
            let (ac, bc) = (order(at(a, i)), order(at(b, j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(a, i) == Some(b'0') {
            i += 1;
        }
        while at(b, j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(at(a, i)) && is_digit(at(b, j)) {
            if first_diff == Ordering::Equal {
                first_diff = at(a, i).cmp(&at(b, j));
            }
            i += 1;
            j += 1;
        }
        if is_digit(at(a, i)) {
            return Ordering::Greater;
        }
        if is_digit(at(b, j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::process::Command;

    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn hash_of(version: &Version) -> u64 {
        let mut hasher = DefaultHasher::new();
        version.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn parts() {
        let version = v("1:2.0~rc1-3+b1");
        assert_eq!((version.epoch(), version.upstream(), version.revision()), (1, "2.0~rc1", "3+b1"));
        let version = v("2.30-1-2");
        assert_eq!((version.epoch(), version.upstream(), version.revision()), (0, "2.30-1", "2"));
        let version = v("0:1.0");
        assert_eq!(
            (version.epoch(), version.upstream(), version.revision(), version.as_str()),
            (0, "1.0", "", "0:1.0")
        );
        assert_eq!(v("1:2:3").upstream(), "2:3");
    }

    #[test]
    fn classic_pairs() {
        use Ordering::{Equal, Greater, Less};
        let cases = [
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1:0", "2", Greater),
            ("1:0", "1:0", Equal),
            ("1.0-1", "1.0-1+b1", Less),
            ("1.0+dfsg", "1.0", Greater),
            ("1.0+dfsg-1", "1.0-1", Greater),
            ("1.0a", "1.0+", Less),
            ("1.0a", "1.0", Greater),
            ("1.01", "1.1", Equal),
            ("1.001", "1.1", Equal),
            ("1.010", "1.9", Greater),
            ("10", "9", Greater),
            ("1.0", "1.0-0", Equal),
            ("0:1.0", "1.0", Equal),
            ("1.0", "1.0.0", Less),
            ("a", "a0", Equal),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("7.88.1-10+deb12u5", "7.88.1-10", Greater),
            ("1.2.3", "1.2.3-1", Less),
            ("1:1.2.13.dfsg-1", "1.2.13.dfsg-1", Greater),
            ("1.0-1~bpo1", "1.0-1", Less),
            ("A", "a", Less),
            ("1.0.", "1.0", Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(v(a).cmp(&v(b)), expected, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), expected.reverse(), "{b} vs {a}");
            if expected == Equal {
                assert_eq!(hash_of(&v(a)), hash_of(&v(b)), "{a} and {b} hash alike");
            }
        }
    }

    #[test]
    fn invalid_versions() {
        for bad in [
            "",
            " ",
            "1.0 ",
            "1 0",
            ":1.0",
            "a:1.0",
            "-1:1.0",
            "1:",
            "99999999999:1",
            "2147483648:1",
            "1.0-",
            "-1",
            "1_0",
            "1.0-a_b",
            "1.0-1:2",
            "1.0-a-",
            "1.0/1",
            "ä",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(v("2147483647:1").epoch(), MAX_EPOCH);
        // dpkg only warns about these.
        assert!(Version::parse("a1.0").is_ok());
        let error = Version::parse("1:").expect_err("refused");
        assert_eq!(error.to_string(), "`1:` is not a valid Debian version: nothing follows the epoch's `:`");
    }

    #[test]
    fn constraints() {
        let version = v("1.2-1");
        let check = |op, other: &str| {
            satisfies_constraint(&version, &VersionConstraint { op, version: other.to_owned() }).expect("valid")
        };
        assert!(check(VersionOp::GreaterOrEqual, "1.2"));
        assert!(check(VersionOp::Greater, "1.2"));
        assert!(!check(VersionOp::Less, "1.2"));
        assert!(check(VersionOp::Less, "1.2-1+b1"));
        assert!(check(VersionOp::LessOrEqual, "1.2-1"));
        assert!(check(VersionOp::Equal, "0:1.2-1"));
        assert!(!check(VersionOp::Equal, "1.2-2"));
        assert!(!check(VersionOp::Greater, "1.2-1"));
        assert!(
            satisfies_constraint(&version, &VersionConstraint { op: VersionOp::Equal, version: "x y".into() }).is_err()
        );
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }

        /// A valid version built from pieces that hit the corner cases.
        fn version(&mut self) -> String {
            let mut text = String::new();
            if self.next() % 4 == 0 {
                text.push_str(self.pick(&["0:", "1:", "2:", "10:", "01:"]));
            }
            text.push_str(self.pick(&["0", "1", "2", "10", "01", "9"]));
            for _ in 0..self.next() % 4 {
                text.push_str(
                    self.pick(&[".", "~", "+", "a", "b", "~rc", "+dfsg", ".0", "00", "1", "2", "10", "z", "A"]),
                );
            }
            if self.next() % 2 == 0 {
                text.push('-');
                text.push_str(self.pick(&["0", "1", "2", "1+b1", "1~bpo", "1.1", "a", "0ubuntu1", "10"]));
                if self.next() % 3 == 0 {
                    text.push_str(self.pick(&["+deb12u1", "~", ".1", "+b2", "a"]));
                }
            }
            text
        }
    }

    /// Cross-checks random pairs against `dpkg --compare-versions`. One
    /// `dpkg` call checks many pairs through a shell loop.
    #[test]
    fn agrees_with_dpkg() {
        if Command::new("dpkg").arg("--version").output().is_err() {
            eprintln!("dpkg is not installed; skipping");
            return;
        }
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut pairs: Vec<(String, String)> = (0..400).map(|_| (random.version(), random.version())).collect();
        pairs.extend((0..50).map(|_| {
            let a = random.version();
            (a.clone(), a)
        }));
        let mut script = String::new();
        for (a, b) in &pairs {
            script.push_str(&format!(
                "if dpkg --compare-versions '{a}' lt '{b}'; then echo lt; \
                 elif dpkg --compare-versions '{a}' eq '{b}'; then echo eq; else echo gt; fi\n"
            ));
        }
        let output = Command::new("sh").arg("-c").arg(&script).output().expect("sh runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let answers = String::from_utf8(output.stdout).expect("utf-8");
        let answers: Vec<&str> = answers.lines().collect();
        assert_eq!(answers.len(), pairs.len());
        for ((a, b), answer) in pairs.iter().zip(answers) {
            let ours = match v(a).cmp(&v(b)) {
                Ordering::Less => "lt",
                Ordering::Equal => "eq",
                Ordering::Greater => "gt",
            };
            assert_eq!(ours, answer, "{a} vs {b}");
            if ours == "eq" {
                assert_eq!(hash_of(&v(a)), hash_of(&v(b)), "{a} and {b} hash alike");
            }
        }
    }
}
