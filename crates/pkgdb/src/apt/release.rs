//! The signed `Release` text: its dates, its suite, and the size and sha256
//! of every index it vouches for. Freshness is checked against an injected
//! clock: an expired `Valid-Until`, a `Date` in the future, or a `Date`
//! older than the cached Release's (a replay) are refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{AptError, parse_sha256};
use crate::control::{Syntax, parse_paragraph};

/// How far in the future a `Date` may be before the Release is "not valid
/// yet", allowing for clocks slightly out of step.
pub const DATE_FUTURE_TOLERANCE: Duration = Duration::from_secs(60 * 60);

/// A parsed, already verified Release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub date: SystemTime,
    pub valid_until: Option<SystemTime>,
    /// `Date` as written, for messages.
    pub date_text: String,
    pub valid_until_text: Option<String>,
    pub acquire_by_hash: bool,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// The `SHA256` entries.
    pub files: Vec<ReleaseFile>,
}

/// One `SHA256` entry: `hash size path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    pub path: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

impl Release {
    /// Parses a Release's signed text; `what` names it (a URL or path) in errors.
    pub fn parse(text: &[u8], what: &str) -> Result<Release, AptError> {
        let paragraph = parse_paragraph(text, Syntax::Strict)
            .map_err(|source| AptError::ParseRelease { what: what.to_owned(), source })?;
        let bad =
            |field: &'static str, reason: String| AptError::BadReleaseField { what: what.to_owned(), field, reason };
        let date_text = paragraph.get("Date").ok_or_else(|| bad("Date", "is missing".into()))?.to_owned();
        let date =
            parse_date(&date_text).ok_or_else(|| bad("Date", format!("`{date_text}` is not an RFC 2822 date")))?;
        let valid_until_text = paragraph.get("Valid-Until").map(str::to_owned);
        let valid_until = match &valid_until_text {
            None => None,
            Some(text) => {
                Some(parse_date(text).ok_or_else(|| bad("Valid-Until", format!("`{text}` is not an RFC 2822 date")))?)
            }
        };
        let acquire_by_hash = match paragraph.get("Acquire-By-Hash") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("yes") => true,
            Some(v) if v.eq_ignore_ascii_case("no") => false,
            Some(v) => return Err(bad("Acquire-By-Hash", format!("`{v}` is not `yes` or `no`"))),
        };
        let mut files = Vec::new();
        for line in paragraph.get("SHA256").unwrap_or("").lines() {
            let mut words = line.split_whitespace();
            let (Some(hash), Some(size), Some(path), None) = (words.next(), words.next(), words.next(), words.next())
            else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(bad("SHA256", format!("`{}` is not `hash size path`", line.trim())));
            };
            let sha256 = parse_sha256(hash).ok_or_else(|| bad("SHA256", format!("`{hash}` is not a sha256")))?;
            let size = size.parse().map_err(|_| bad("SHA256", format!("`{size}` is not a size")))?;
            files.push(ReleaseFile { path: path.to_owned(), size, sha256 });
        }
        if files.is_empty() {
            return Err(bad("SHA256", "lists no files".into()));
        }
        let words = |name: &str| -> Vec<String> {
            paragraph.get(name).map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
        };
        Ok(Release {
            suite: paragraph.get("Suite").map(str::to_owned),
            codename: paragraph.get("Codename").map(str::to_owned),
            date,
            valid_until,
            date_text,
            valid_until_text,
            acquire_by_hash,
            components: words("Components"),
            architectures: words("Architectures"),
            files,
        })
    }

    /// The `SHA256` entry for `path` (relative to `dists/SUITE/`).
    pub fn file(&self, path: &str) -> Option<&ReleaseFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Refuses an expired Release, one dated in the future, and one older
    /// than `cached` (the Release kept from the last good update).
    pub fn require_fresh(&self, what: &str, now: SystemTime, cached: Option<&Release>) -> Result<(), AptError> {
        if let (Some(valid_until), Some(text)) = (self.valid_until, &self.valid_until_text) {
            if valid_until < now {
                return Err(AptError::Expired { what: what.to_owned(), valid_until: text.clone() });
            }
        }
        if self.date > now + DATE_FUTURE_TOLERANCE {
            return Err(AptError::DateInFuture { what: what.to_owned(), date: self.date_text.clone() });
        }
        if let Some(cached) = cached.filter(|cached| self.date < cached.date) {
            return Err(AptError::Replay {
                what: what.to_owned(),
                date: self.date_text.clone(),
                cached: cached.date_text.clone(),
            });
        }
        Ok(())
    }
}

/// Parses the RFC 2822 dates of Release files: `Sat, 10 May 2025 08:46:49 UTC`
/// (the weekday is optional; the zone is `UTC`, `GMT`, `Z` or `±HHMM`).
pub fn parse_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let text = match text.split_once(',') {
        Some((_weekday, rest)) => rest,
        None => text,
    };
    let mut words = text.split_whitespace();
    let day: u32 = words.next()?.parse().ok()?;
    let month = match words.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year: i64 = words.next()?.parse().ok()?;
    let mut clock = words.next()?.split(':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let second: i64 = clock.next().unwrap_or("0").parse().ok()?;
    let offset: i64 = match words.next() {
        None | Some("UTC" | "GMT" | "Z" | "UT") => 0,
        Some(zone) => {
            let (sign, digits) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            if digits.len() != 4 {
                return None;
            }
            let value: i64 = digits.parse().ok()?;
            sign * ((value / 100) * 3600 + (value % 100) * 60)
        }
    };
    // Out-of-range fields (a year past 9999, a negative minute) are
    // refused before the arithmetic below could overflow (found by fuzzing).
    if words.next().is_some()
        || !(1970..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=60).contains(&second)
    {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "Origin: Debian\nSuite: stable\nCodename: bookworm\n\
        Date: Sat, 10 May 2025 08:46:49 UTC\nValid-Until: Sat, 17 May 2025 08:46:49 UTC\n\
        Acquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: main contrib\n\
        SHA256:\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1234 main/binary-amd64/Packages.xz\n \
        fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210 99 main/binary-amd64/Release\n";

    fn at(text: &str) -> SystemTime {
        parse_date(text).expect("date")
    }

    #[test]
    fn absurd_years_are_refused_without_overflow() {
        // The fuzz target apt_indexes found this: a year of 14 digits
        // overflowed the day arithmetic (a panic with overflow checks, a
        // wrapped date without).
        assert_eq!(parse_date("Fri, 20 Nov 20200000006686 02:11:10 UTC"), None);
        assert_eq!(parse_date("Fri, 20 Nov -9223372036854775808 02:11:10 UTC"), None);
        assert_eq!(parse_date("Fri, 20 Nov 10000 02:11:10 UTC"), None);
        assert!(parse_date("Fri, 31 Dec 9999 23:59:59 UTC").is_some());
        // And a negative minute (found by the same target afterwards).
        assert_eq!(parse_date("Fri, 20 Nov 2126 02:-000000008446744073709551615 UTC"), None);
        assert_eq!(parse_date("Fri, 20 Nov 2026 -1:10:10 UTC"), None);
        assert_eq!(parse_date("Fri, 20 Nov 2026 01:10:-5 UTC"), None);
        let release = "Origin: tes\nDate: Fri, 20 Nov 20200000006686 02:11:10 UTC\nAcquire-By-Hash: yes\n";
        assert!(Release::parse(release.as_bytes(), "fuzz").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(at("Thu, 01 Jan 1970 00:00:00 UTC"), UNIX_EPOCH);
        assert_eq!(at("Sat, 10 May 2025 08:46:49 UTC"), UNIX_EPOCH + Duration::from_secs(1_746_866_809));
        assert_eq!(at("10 May 2025 10:46:49 +0200"), at("Sat, 10 May 2025 08:46:49 UTC"));
        assert_eq!(at("29 Feb 2024 00:00:00 GMT"), UNIX_EPOCH + Duration::from_secs(1_709_164_800));
        for bad in
            ["", "Sat, 10 Mai 2025 08:46:49 UTC", "10 May 2025", "10 May 2025 25:00:00 UTC", "1 Jan 1960 00:00:00 UTC"]
        {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_fields() {
        let release = Release::parse(RELEASE.as_bytes(), "t").expect("parses");
        assert_eq!(release.suite.as_deref(), Some("stable"));
        assert_eq!(release.codename.as_deref(), Some("bookworm"));
        assert!(release.acquire_by_hash);
        assert_eq!(release.components, ["main", "contrib"]);
        let packages = release.file("main/binary-amd64/Packages.xz").expect("listed");
        assert_eq!(packages.size, 1234);
        assert_eq!(packages.sha256[0], 0x01);
        assert!(release.file("main/binary-amd64/Packages.gz").is_none());
    }

    #[test]
    fn malformed_fields_are_named() {
        let no_date = RELEASE.replace("Date: Sat, 10 May 2025 08:46:49 UTC\n", "");
        let error = Release::parse(no_date.as_bytes(), "t").expect_err("must be refused");
        assert!(error.to_string().contains("`Date`"), "{error}");
        let bad_hash = RELEASE.replace("0123456789abcdef0123", "0123456789abcdefXX23");
        assert!(Release::parse(bad_hash.as_bytes(), "t").is_err());
    }

    #[test]
    fn freshness() {
        let release = Release::parse(RELEASE.as_bytes(), "t").expect("parses");
        let date = release.date;
        release.require_fresh("t", date + Duration::from_secs(3600), None).expect("fresh");
        let expired = release.require_fresh("t", at("Sun, 18 May 2025 00:00:00 UTC"), None);
        assert!(matches!(expired, Err(AptError::Expired { .. })));
        release.require_fresh("t", date - Duration::from_secs(30 * 60), None).expect("within tolerance");
        let future = release.require_fresh("t", date - Duration::from_secs(2 * 3600), None);
        assert!(matches!(future, Err(AptError::DateInFuture { .. })));
        let mut newer = release.clone();
        newer.date += Duration::from_secs(60);
        let replay = release.require_fresh("t", date, Some(&newer));
        assert!(matches!(replay, Err(AptError::Replay { .. })));
        release.require_fresh("t", date, Some(&release)).expect("same date is not a replay");
    }
}
