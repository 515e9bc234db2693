//! Trigger interests, as dpkg keeps them under `triggers/`: a package
//! whose `triggers` control file says `interest[-await|-noawait] NAME`
//! is listed in `triggers/NAME` (one `PKG[/noawait]` per line) for an
//! explicit trigger, or in `triggers/File` (`PATH PKG[/noawait]`) for a
//! file trigger. dpkg drops a package's old interests and appends its new
//! ones when it unpacks it (lib/dpkg/triglib.c); activations are not
//! recorded here, they are for whoever runs the triggers.

/// One `interest*` directive of a package's `triggers` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interest {
    pub trigger: String,
    pub noawait: bool,
}

impl Interest {
    pub fn is_file_trigger(&self) -> bool {
        self.trigger.starts_with('/')
    }
}

/// The interests a `triggers` control file declares, in order. Lines
/// dpkg would refuse (unknown directives, bad names) are skipped:
/// `dpkg-deb` refuses to build such packages.
pub(crate) fn interests(triggers: &[u8]) -> Vec<Interest> {
    let text = String::from_utf8_lossy(triggers);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((directive, trigger)) = line.split_once(|c: char| c.is_ascii_whitespace()) else { continue };
        let noawait = match directive {
            "interest" | "interest-await" => false,
            "interest-noawait" => true,
            _ => continue,
        };
        let trigger = trigger.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if valid_trigger_name(trigger) {
            out.push(Interest { trigger: trigger.to_owned(), noawait });
        }
    }
    out
}

/// dpkg's `trig_classify_byname`: an absolute path without empty
/// components or a trailing slash, or a package-like name without `_`.
fn valid_trigger_name(name: &str) -> bool {
    if let Some(path) = name.strip_prefix('/') {
        return path.split('/').all(|c| !c.is_empty());
    }
    !name.is_empty()
        && !name.starts_with(['-', '+', '.'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b':'))
}

/// A package instance as it appears in the interest files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interested<'a> {
    pub package: &'a str,
    pub architecture: Option<&'a str>,
    /// `PKG` or `PKG:ARCH` (dpkg's `pnaw_same` name).
    pub written_name: &'a str,
}

impl Interested<'_> {
    /// Whether a `PKG[:ARCH][/OPTIONS]` record names this instance.
    fn named_by(&self, record: &str) -> bool {
        let spec = record.split_once('/').map_or(record, |(spec, _)| spec);
        match spec.split_once(':') {
            Some((name, arch)) => name == self.package && Some(arch) == self.architecture,
            None => spec == self.package,
        }
    }

    fn record(&self, noawait: bool) -> String {
        format!("{}{}", self.written_name, if noawait { "/noawait" } else { "" })
    }
}

/// An explicit trigger's interest file after dropping `package`'s lines
/// and, with `add`, appending it again; `None` when it ends up empty
/// (dpkg removes the file then).
pub(crate) fn explicit_interest_file(
    current: Option<&str>,
    package: Interested<'_>,
    add: Option<bool>,
) -> Option<String> {
    let mut out = String::new();
    for line in current.unwrap_or_default().lines().filter(|l| !l.is_empty()) {
        if !package.named_by(line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    if let Some(noawait) = add {
        out.push_str(&package.record(noawait));
        out.push('\n');
    }
    (!out.is_empty()).then_some(out)
}

/// `triggers/File`, in dpkg's list order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FileInterests {
    records: Vec<(String, String)>,
    edited: bool,
}

impl FileInterests {
    pub fn parse(text: &str) -> FileInterests {
        let records = text
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(path, record)| (path.to_owned(), record.to_owned()))
            .collect();
        FileInterests { records, edited: false }
    }

    /// dpkg's `trk_file_interest_change` with -1.
    pub fn remove(&mut self, path: &str, package: Interested<'_>) {
        if let Some(i) = self.records.iter().position(|(p, r)| p == path && package.named_by(r)) {
            self.records.remove(i);
            self.edited = true;
        }
    }

    /// dpkg's `trk_file_interest_change` with +1: a new interest goes last;
    /// an existing one only changes its options (and, as in dpkg, that
    /// alone does not mark the list for writing).
    pub fn add(&mut self, path: &str, package: Interested<'_>, noawait: bool) {
        match self.records.iter_mut().find(|(p, r)| p == path && package.named_by(r)) {
            Some((_, record)) => *record = package.record(noawait),
            None => {
                self.records.push((path.to_owned(), package.record(noawait)));
                self.edited = true;
            }
        }
    }

    pub fn edited(&self) -> bool {
        self.edited
    }

    /// The file's new contents, or `None` to remove it.
    pub fn to_text(&self) -> Option<String> {
        (!self.records.is_empty())
            .then(|| self.records.iter().map(|(path, record)| format!("{path} {record}\n")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAN_DB: Interested<'static> =
        Interested { package: "man-db", architecture: Some("amd64"), written_name: "man-db" };

    #[test]
    fn interests_are_read_as_dpkg_reads_them() {
        let text = b"# comment\n  interest-noawait /usr/share/man  \nactivate-noawait ldconfig\ninterest  foo\n\
            interest-await bar\ninterest bad_name\ninterest /usr//x\nbogus x\n";
        let found = interests(text);
        let names: Vec<(&str, bool)> = found.iter().map(|i| (i.trigger.as_str(), i.noawait)).collect();
        assert_eq!(names, [("/usr/share/man", true), ("foo", false), ("bar", false)]);
        assert!(found[0].is_file_trigger() && !found[1].is_file_trigger());
    }

    #[test]
    fn explicit_interest_lines_move_to_the_end() {
        let current = "libc-bin\nman-db/noawait\nother:i386\n";
        assert_eq!(
            explicit_interest_file(Some(current), MAN_DB, Some(false)).as_deref(),
            Some("libc-bin\nother:i386\nman-db\n")
        );
        assert_eq!(explicit_interest_file(Some("man-db\n"), MAN_DB, None), None);
        let libc = Interested { package: "libc6", architecture: Some("i386"), written_name: "libc6:i386" };
        assert_eq!(
            explicit_interest_file(Some("libc6:amd64\nlibc6:i386\n"), libc, Some(true)).as_deref(),
            Some("libc6:amd64\nlibc6:i386/noawait\n")
        );
    }

    #[test]
    fn file_interests_keep_dpkg_list_order() {
        let mut list = FileInterests::parse("/usr/share/man man-db/noawait\n/usr/share/info install-info\n");
        list.remove("/usr/share/nothing", MAN_DB);
        assert!(!list.edited());
        list.remove("/usr/share/man", MAN_DB);
        list.add("/usr/share/man", MAN_DB, false);
        assert!(list.edited());
        assert_eq!(list.to_text().as_deref(), Some("/usr/share/info install-info\n/usr/share/man man-db\n"));
        let mut list = FileInterests::parse("/usr/share/man man-db\n");
        list.remove("/usr/share/man", MAN_DB);
        assert_eq!(list.to_text(), None);
    }
}
