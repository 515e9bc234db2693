//! rpm's version ordering: `rpmvercmp` on version and release strings
//! (with `~` sorting before anything and `^` after the base version), and
//! epoch:version-release triples on top of it, as `rpmVersionCompare`
//! and `rpmdsCompare` use them.

use std::cmp::Ordering;
use std::fmt;

/// rpm's `rpmvercmp`: compares two version (or release) strings segment by
/// segment. Segments are runs of ASCII digits or ASCII letters; anything
/// else separates them, except `~` (sorts before everything, even the end
/// of the string) and `^` (sorts after the end of the string but before
/// any other segment). Numeric segments compare as numbers and are newer
/// than alphabetic ones.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (one, two) = (a.get(i).copied(), b.get(j).copied());
        if one.is_none() && two.is_none() {
            return Ordering::Equal;
        }
        if one == Some(b'~') || two == Some(b'~') {
            if one != Some(b'~') {
                return Ordering::Greater;
            }
            if two != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if one == Some(b'^') || two == Some(b'^') {
            match (one, two) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(b'^'), Some(b'^')) => {
                    i += 1;
                    j += 1;
                    continue;
                }
                (Some(b'^'), _) => return Ordering::Less,
                _ => return Ordering::Greater,
            }
        }
        let (Some(first), Some(_)) = (one, two) else { break };
        let numeric = first.is_ascii_digit();
        let in_segment = |c: &u8| if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() };
        let end_a = i + a[i..].iter().take_while(|c| in_segment(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| in_segment(c)).count();
        let (mut segment_a, mut segment_b) = (&a[i..end_a], &b[j..end_b]);
        // Segments of different types: numeric is newer than alphabetic.
        if segment_b.is_empty() {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        if numeric {
            segment_a = trim_zeros(segment_a);
            segment_b = trim_zeros(segment_b);
            match segment_a.len().cmp(&segment_b.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match segment_a.cmp(segment_b) {
            Ordering::Equal => {}
            different => return different,
        }
        i = end_a;
        j = end_b;
    }
    // All segments compared equal; whichever has anything left is newer.
    match (i < a.len(), j < b.len()) {
        (false, false) => Ordering::Equal,
        (false, true) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

/// An epoch:version-release. A missing epoch is 0; a missing release (in
/// a dependency such as `foo >= 1.2`) matches every release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Evr<'a> {
    pub epoch: u32,
    pub version: &'a str,
    pub release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    pub fn new(epoch: u32, version: &'a str, release: Option<&'a str>) -> Evr<'a> {
        Evr { epoch, version, release: release.filter(|r| !r.is_empty()) }
    }

    /// Parses `[EPOCH:]VERSION[-RELEASE]` as rpm writes it in a dependency;
    /// `None` when the epoch is not a number.
    pub fn parse(text: &'a str) -> Option<Evr<'a>> {
        let (epoch, rest) = match text.split_once(':') {
            Some((epoch, rest)) => (epoch.parse().ok()?, rest),
            None => (0, text),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((version, release)) => (version, Some(release)),
            None => (rest, None),
        };
        Some(Evr::new(epoch, version, release))
    }

    /// rpm's ordering of two EVRs. When either side has no release, the
    /// releases are not compared (rpm's rule for dependency ranges).
    pub fn compare(&self, other: &Evr<'_>) -> Ordering {
        self.epoch.cmp(&other.epoch).then_with(|| rpmvercmp(self.version, other.version)).then_with(|| {
            match (self.release, other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                _ => Ordering::Equal,
            }
        })
    }
}

impl fmt::Display for Evr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(self.version)?;
        if let Some(release) = self.release {
            write!(f, "-{release}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from rpm's own test suite (`tests/rpmvercmp.at`), checked
    /// against `rpm --eval '%{lua: print(rpm.vercmp(A, B))}'` (rpm 4.18).
    const CASES: &[(&str, &str, i8)] = &[
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p2", "5.5p1", 1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("10.1xyz", "10xyz", 1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz10.1", "xyz10", 1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("8", "xyz.4", 1),
        ("xyz.4", "2", -1),
        ("2", "xyz.4", 1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "5.5p2", 1),
        ("5.6p1", "6.5p1", -1),
        ("6.5p1", "5.6p1", 1),
        ("6.0.rc1", "6.0", 1),
        ("6.0", "6.0.rc1", -1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("1.0aa", "1.0a", 1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.1", "10.0001", 0),
        ("10.0001", "10.0039", -1),
        ("10.0039", "10.0001", 1),
        ("4.999.9", "5.0", -1),
        ("5.0", "4.999.9", 1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("20101122", "20101121", 1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("2_0", "2.0", 0),
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("a_", "a+", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("_a", "+a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_+", 0),
        ("+", "_", 0),
        ("_", "+", 0),
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc2", "1.0~rc1", 1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0~rc1", "1.0~rc1~git123", 1),
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0", "1.0^", -1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0", "1.0^git1", -1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git2", "1.0^git1", 1),
        ("1.0^git1", "1.01", -1),
        ("1.01", "1.0^git1", 1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0.1", "1.0^20160101", 1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0^20160101^git1", "1.0^20160102", -1),
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc1^git1", -1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
        ("1.1^a", "1.1~a", 1),
    ];

    #[test]
    fn rpm_test_suite() {
        for &(a, b, expected) in CASES {
            let expected = expected.cmp(&0);
            assert_eq!(rpmvercmp(a, b), expected, "rpmvercmp({a:?}, {b:?})");
        }
    }

    #[test]
    fn evr_order() {
        let parse = |text| Evr::parse(text).expect("parses");
        assert_eq!(parse("1:1.0-1").compare(&parse("2.0-1")), Ordering::Greater);
        assert_eq!(parse("1.0-2").compare(&parse("1.0-10")), Ordering::Less);
        assert_eq!(parse("1.0").compare(&parse("1.0-10")), Ordering::Equal, "no release matches any");
        assert_eq!(parse("0:1.0-1"), Evr::new(0, "1.0", Some("1")));
        assert_eq!(parse("2:1.5~rc1-3").to_string(), "2:1.5~rc1-3");
        assert_eq!(parse("1.0").to_string(), "1.0");
        assert!(Evr::parse("x:1.0").is_none());
    }
}
