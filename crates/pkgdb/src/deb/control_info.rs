//! What a `.deb`'s control archive says: the `control` paragraph with a
//! typed view of the fields we act on, the maintainer scripts, and the
//! `conffiles`, `md5sums`, `triggers`, `shlibs`, `symbols` and `templates`
//! files.

use std::collections::BTreeMap;

use super::DebError;
use super::relation::{Relations, parse_relations};
use crate::control::{Paragraph, Syntax, parse_paragraph};
use crate::entry::{PackagePath, normalize_path};

/// Maintainer scripts, in the order dpkg runs them on a fresh install.
pub const SCRIPT_NAMES: [&str; 5] = ["config", "preinst", "postinst", "prerm", "postrm"];

/// The relation fields of a binary package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationField {
    Depends,
    PreDepends,
    Recommends,
    Suggests,
    Conflicts,
    Breaks,
    Replaces,
    Provides,
}

impl RelationField {
    pub const ALL: [RelationField; 8] = [
        RelationField::Depends,
        RelationField::PreDepends,
        RelationField::Recommends,
        RelationField::Suggests,
        RelationField::Conflicts,
        RelationField::Breaks,
        RelationField::Replaces,
        RelationField::Provides,
    ];

    pub fn field_name(self) -> &'static str {
        match self {
            RelationField::Depends => "Depends",
            RelationField::PreDepends => "Pre-Depends",
            RelationField::Recommends => "Recommends",
            RelationField::Suggests => "Suggests",
            RelationField::Conflicts => "Conflicts",
            RelationField::Breaks => "Breaks",
            RelationField::Replaces => "Replaces",
            RelationField::Provides => "Provides",
        }
    }
}

/// One line of `conffiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    pub path: PackagePath,
    /// deb-conffiles(5) `remove-on-upgrade` flag.
    pub remove_on_upgrade: bool,
}

/// The control archive of a `.deb`, checked and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlInfo {
    /// `control.tar.xz` and so on.
    pub member: String,
    /// Every field of `control`, in order.
    pub fields: Paragraph,
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// `Installed-Size`, in KiB.
    pub installed_size: Option<u64>,
    /// `same`, `foreign`, `allowed` or `no`.
    pub multi_arch: Option<String>,
    pub essential: bool,
    /// Maintainer scripts present, by name (`preinst`, ...), as shipped.
    pub scripts: BTreeMap<String, Vec<u8>>,
    pub conffiles: Vec<Conffile>,
    /// `md5sums`: lowercase hex digest by path.
    pub md5sums: BTreeMap<PackagePath, String>,
    pub triggers: Option<Vec<u8>>,
    pub shlibs: Option<Vec<u8>>,
    pub symbols: Option<Vec<u8>>,
    pub templates: Option<Vec<u8>>,
    /// Any other file of the control archive, raw.
    pub other: BTreeMap<String, Vec<u8>>,
}

impl ControlInfo {
    /// A field of `control`, by name in any case.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    /// A relation field as written.
    pub fn relation_text(&self, field: RelationField) -> Option<&str> {
        self.fields.get(field.field_name())
    }

    /// A relation field, parsed; empty when the field is absent.
    pub fn relations(&self, field: RelationField) -> Result<Relations, DebError> {
        let Some(text) = self.relation_text(field) else {
            return Ok(Vec::new());
        };
        parse_relations(text).map_err(|source| DebError::Relation {
            package: self.package.clone(),
            field: field.field_name(),
            source,
        })
    }

    /// Builds the view from the control archive's files, by name, as
    /// [`super::DebReader::control_files`] gives them.
    pub fn from_files(member: String, mut files: BTreeMap<String, Vec<u8>>) -> Result<Self, DebError> {
        let control = files.remove("control").ok_or(DebError::MissingControl)?;
        let fields = parse_paragraph(&control, Syntax::Strict).map_err(DebError::ControlParse)?;
        let required = |field: &'static str| -> Result<String, DebError> {
            let value = fields.get(field).ok_or(DebError::MissingField { field })?;
            Ok(value.to_owned())
        };
        let bad = |field: &'static str, value: &str, reason: &'static str| DebError::BadField {
            field,
            value: value.escape_debug().to_string(),
            reason,
        };

        let package = required("Package")?;
        if !valid_package_name(&package) {
            return Err(bad("Package", &package, "is not a package name (lowercase letters, digits, `+-.`)"));
        }
        let version = required("Version")?;
        if !valid_version(&version) {
            return Err(bad("Version", &version, "is not a Debian version"));
        }
        let architecture = required("Architecture")?;
        if architecture.is_empty()
            || !architecture.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("Architecture", &architecture, "is not an architecture name"));
        }
        let installed_size = match fields.get("Installed-Size") {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .ok()
                    .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| bad("Installed-Size", v, "is not a size in KiB"))?,
            ),
        };
        let multi_arch = match fields.get("Multi-Arch") {
            None => None,
            Some(v @ ("same" | "foreign" | "allowed" | "no")) => Some(v.to_owned()),
            Some(v) => return Err(bad("Multi-Arch", v, "is not `same`, `foreign`, `allowed` or `no`")),
        };
        let essential = match fields.get("Essential") {
            None | Some("no") => false,
            Some("yes") => true,
            Some(v) => return Err(bad("Essential", v, "is not `yes` or `no`")),
        };

        let mut scripts = BTreeMap::new();
        for name in SCRIPT_NAMES {
            if let Some(body) = files.remove(name) {
                scripts.insert(name.to_owned(), body);
            }
        }
        let conffiles = match files.remove("conffiles") {
            Some(text) => parse_conffiles(&package, &text)?,
            None => Vec::new(),
        };
        let md5sums = match files.remove("md5sums") {
            Some(text) => parse_md5sums(&package, &text)?,
            None => BTreeMap::new(),
        };
        Ok(ControlInfo {
            member,
            package,
            version,
            architecture,
            installed_size,
            multi_arch,
            essential,
            scripts,
            conffiles,
            md5sums,
            triggers: files.remove("triggers"),
            shlibs: files.remove("shlibs"),
            symbols: files.remove("symbols"),
            templates: files.remove("templates"),
            other: files,
            fields,
        })
    }
}

/// deb-control(5): at least two characters, lowercase letters, digits,
/// `+`, `-` and `.`, starting with a letter or digit.
fn valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
}

/// deb-version(7): `[epoch:]upstream[-revision]`.
fn valid_version(version: &str) -> bool {
    let (epoch, rest) = version.split_once(':').unwrap_or(("0", version));
    let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, "0"));
    !epoch.is_empty()
        && epoch.bytes().all(|b| b.is_ascii_digit())
        && !upstream.is_empty()
        && upstream.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b'-' | b':'))
        && !revision.is_empty()
        && revision.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~'))
}

fn lines<'a>(package: &str, file: &'static str, text: &'a [u8]) -> Result<Vec<(usize, &'a str)>, DebError> {
    let text = std::str::from_utf8(text).map_err(|_| DebError::BadListFile {
        package: package.to_owned(),
        file,
        line: 0,
        reason: "is not UTF-8".to_owned(),
    })?;
    Ok(text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end())).filter(|(_, l)| !l.is_empty()).collect())
}

fn parse_conffiles(package: &str, text: &[u8]) -> Result<Vec<Conffile>, DebError> {
    let mut out = Vec::new();
    for (line, text) in lines(package, "conffiles", text)? {
        let bad =
            |reason: String| DebError::BadListFile { package: package.to_owned(), file: "conffiles", line, reason };
        let (remove_on_upgrade, path) = match text.split_once(' ') {
            Some(("remove-on-upgrade", path)) => (true, path),
            Some((flag, _)) if !flag.starts_with('/') => return Err(bad(format!("unknown flag `{flag}`"))),
            _ => (false, text),
        };
        if !path.starts_with('/') {
            return Err(bad(format!("`{}` is not an absolute path", path.escape_debug())));
        }
        let path = normalize_path(path.as_bytes(), true).map_err(|e| bad(e.to_string()))?;
        out.push(Conffile { path, remove_on_upgrade });
    }
    Ok(out)
}

/// `md5sum` output: 32 hex digits, two spaces (or a space and `*`), a
/// path relative to the package root.
fn parse_md5sums(package: &str, text: &[u8]) -> Result<BTreeMap<PackagePath, String>, DebError> {
    let mut out = BTreeMap::new();
    for (line, text) in lines(package, "md5sums", text)? {
        let bad = |reason: String| DebError::BadListFile { package: package.to_owned(), file: "md5sums", line, reason };
        let (hex, rest) = text.split_at_checked(32).ok_or_else(|| bad("the line is too short".to_owned()))?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the digest is not 32 hex digits".to_owned()));
        }
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .or_else(|| rest.strip_prefix(' '))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("the digest is not followed by a path".to_owned()))?;
        let path = normalize_path(path.as_bytes(), true).map_err(|e| bad(e.to_string()))?;
        if out.insert(path.clone(), hex.to_ascii_lowercase()).is_some() {
            return Err(bad(format!("`{path}` is listed twice")));
        }
    }
    Ok(out)
}

/// The interpreter a script's `#!` line names, such as `/bin/sh`.
pub fn interpreter(script: &[u8]) -> Option<String> {
    let rest = script.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).ok()?;
    line.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(control: &str, extra: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        let mut files: BTreeMap<String, Vec<u8>> = extra.iter().map(|(n, d)| ((*n).to_owned(), d.to_vec())).collect();
        files.insert("control".into(), control.as_bytes().to_vec());
        files
    }

    const CONTROL: &str = "Package: foo\nVersion: 1:2.0~rc1-3\nArchitecture: amd64\nInstalled-Size: 12\n\
        Multi-Arch: same\nEssential: yes\nDepends: a (>= 1) | b, c\n";

    #[test]
    fn typed_view() {
        let info = ControlInfo::from_files(
            "control.tar.xz".into(),
            files(
                CONTROL,
                &[
                    ("postinst", b"#!/bin/sh -e\nexit 0\n"),
                    (
                        "md5sums",
                        b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/foo\nD41D8CD98F00B204E9800998ECF8427F *usr/a b\n",
                    ),
                    ("conffiles", b"/etc/foo.conf\nremove-on-upgrade /etc/old.conf\n\n"),
                    ("triggers", b"activate-noawait ldconfig\n"),
                    ("extra", b"x"),
                ],
            ),
        )
        .expect("valid");
        assert_eq!(
            (info.package.as_str(), info.version.as_str(), info.architecture.as_str()),
            ("foo", "1:2.0~rc1-3", "amd64")
        );
        assert_eq!(info.installed_size, Some(12));
        assert_eq!(info.multi_arch.as_deref(), Some("same"));
        assert!(info.essential);
        assert_eq!(info.relations(RelationField::Depends).expect("parses").len(), 2);
        assert!(info.relations(RelationField::Breaks).expect("absent").is_empty());
        assert_eq!(interpreter(&info.scripts["postinst"]).as_deref(), Some("/bin/sh"));
        let md5: Vec<(&str, &str)> = info.md5sums.iter().map(|(p, h)| (p.as_str(), h.as_str())).collect();
        assert_eq!(
            md5,
            [("usr/a b", "d41d8cd98f00b204e9800998ecf8427f"), ("usr/bin/foo", "d41d8cd98f00b204e9800998ecf8427e")]
        );
        assert_eq!(info.conffiles.len(), 2);
        assert!(info.conffiles[1].remove_on_upgrade);
        assert_eq!(info.triggers.as_deref(), Some(&b"activate-noawait ldconfig\n"[..]));
        assert_eq!(info.other.keys().collect::<Vec<_>>(), ["extra"]);
    }

    #[test]
    fn bad_control_files_are_refused() {
        let cases: Vec<BTreeMap<String, Vec<u8>>> = vec![
            BTreeMap::new(),
            files("Version: 1\nArchitecture: all\n", &[]),
            files("Package: Foo\nVersion: 1\nArchitecture: all\n", &[]),
            files("Package: foo\nVersion: 1 2\nArchitecture: all\n", &[]),
            files("Package: foo\nVersion: a:1\nArchitecture: all\n", &[]),
            files("Package: foo\nVersion: 1-\nArchitecture: all\n", &[]),
            files("Package: foo\nVersion: 1\nArchitecture: all\nInstalled-Size: -1\n", &[]),
            files("Package: foo\nVersion: 1\nArchitecture: all\nEssential: maybe\n", &[]),
            files("Package: foo\nVersion: 1\nArchitecture: all\n# comment\n", &[]),
            files("Package: foo\nVersion: 1\nArchitecture: all\n\nPackage: bar\n", &[]),
            files("Package: foo\nVersion: 1\nArchitecture: all\n", &[("md5sums", b"xyz  usr/bin/foo\n")]),
            files(
                "Package: foo\nVersion: 1\nArchitecture: all\n",
                &[("md5sums", b"d41d8cd98f00b204e9800998ecf8427e  ../etc/x\n")],
            ),
            files("Package: foo\nVersion: 1\nArchitecture: all\n", &[("conffiles", b"etc/relative\n")]),
            files("Package: foo\nVersion: 1\nArchitecture: all\n", &[("conffiles", b"frobnicate /etc/x\n")]),
        ];
        for (i, c) in cases.into_iter().enumerate() {
            assert!(ControlInfo::from_files("control.tar".into(), c).is_err(), "case {i} accepted");
        }
    }
}
