//! apt's source lists: `etc/apt/sources.list` and `etc/apt/sources.list.d/*.list`
//! (one-line format) and `etc/apt/sources.list.d/*.sources` (deb822). Only
//! `deb` entries are kept; each becomes one [`Source`] per suite.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::AptError;
use crate::control::{Syntax, parse_paragraphs};

/// One `deb` repository suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The archive root, without a trailing slash.
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// `arch=` / `Architectures:`; empty means the native architecture.
    pub architectures: Vec<String>,
    pub signed_by: Option<SignedBy>,
    /// The file this entry came from.
    pub file: PathBuf,
}

/// The keys a source trusts, and no others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// Keyring files, binary (`.gpg`) or armored (`.asc`).
    Keyrings(Vec<PathBuf>),
    /// An armored public key block written into the `.sources` file.
    Inline(String),
}

/// Reads every `deb` source configured under `root` (`/` for this machine).
/// Missing files and directories are not an error; files in
/// `sources.list.d` are read in name order, as apt does.
pub fn read_sources(root: &Path) -> Result<Vec<Source>, AptError> {
    let mut sources = Vec::new();
    let main = root.join("etc/apt/sources.list");
    if let Some(text) = read_optional(&main)? {
        sources.extend(parse_one_line(&text, &main)?);
    }
    let dir = root.join("etc/apt/sources.list.d");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(sources),
        Err(source) => return Err(AptError::ReadSources { path: dir, source }),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| AptError::ReadSources { path: dir.clone(), source })?;
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        let Some(extension) = path.extension().and_then(|e| e.to_str()) else { continue };
        if extension != "list" && extension != "sources" {
            continue;
        }
        let Some(text) = read_optional(&path)? else { continue };
        if extension == "list" {
            sources.extend(parse_one_line(&text, &path)?);
        } else {
            sources.extend(parse_deb822(&text, &path)?);
        }
    }
    Ok(sources)
}

fn read_optional(path: &Path) -> Result<Option<String>, AptError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AptError::ReadSources { path: path.to_owned(), source }),
    }
}

/// Parses the one-line format: `deb [opt=value ...] URI SUITE [COMPONENT...]`.
pub fn parse_one_line(text: &str, file: &Path) -> Result<Vec<Source>, AptError> {
    let mut sources = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let bad = |reason: String| AptError::BadSourceLine { path: file.to_owned(), line: line_number, reason };
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (kind, mut rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        rest = rest.trim_start();
        if kind == "deb-src" {
            continue;
        }
        if kind != "deb" {
            return Err(bad(format!("`{kind}` is not `deb` or `deb-src`")));
        }
        let mut architectures = Vec::new();
        let mut signed_by = None;
        if let Some(after) = rest.strip_prefix('[') {
            let (options, tail) = after.split_once(']').ok_or_else(|| bad("the `[` options have no `]`".into()))?;
            rest = tail.trim_start();
            for option in options.split_whitespace() {
                let (name, value) =
                    option.split_once('=').ok_or_else(|| bad(format!("option `{option}` has no `=`")))?;
                match name {
                    "arch" => architectures = value.split(',').map(str::to_owned).collect(),
                    "signed-by" => signed_by = Some(keyring_paths(value.split(','), file, "signed-by")?),
                    _ => {}
                }
            }
        }
        let mut words = rest.split_whitespace();
        let uri = words.next().ok_or_else(|| bad("there is no URI".into()))?;
        let suite = words.next().ok_or_else(|| bad("there is no suite".into()))?;
        if suite.ends_with('/') {
            return Err(bad(format!("`{suite}` is a flat repository, which is not supported")));
        }
        let components: Vec<String> = words.map(str::to_owned).collect();
        if components.is_empty() {
            return Err(bad("there are no components".into()));
        }
        sources.push(Source {
            uri: uri.trim_end_matches('/').to_owned(),
            suite: suite.to_owned(),
            components,
            architectures,
            signed_by,
            file: file.to_owned(),
        });
    }
    Ok(sources)
}

/// Parses the deb822 format of `*.sources` files.
pub fn parse_deb822(text: &str, file: &Path) -> Result<Vec<Source>, AptError> {
    let paragraphs = parse_paragraphs(text.as_bytes(), Syntax::AllowComments)
        .map_err(|source| AptError::ParseSources { path: file.to_owned(), source })?;
    let mut sources = Vec::new();
    for paragraph in paragraphs {
        let bad = |field: &'static str, reason: &str| AptError::BadSourceField {
            path: file.to_owned(),
            field,
            reason: reason.to_owned(),
        };
        let words = |name: &str| -> Vec<String> {
            paragraph.get(name).map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
        };
        if paragraph.get("Enabled").is_some_and(|v| v.trim().eq_ignore_ascii_case("no")) {
            continue;
        }
        let types = words("Types");
        if types.is_empty() {
            return Err(bad("Types", "is missing"));
        }
        if !types.iter().any(|t| t == "deb") {
            continue;
        }
        let uris = words("URIs");
        let suites = words("Suites");
        let components = words("Components");
        if uris.is_empty() {
            return Err(bad("URIs", "is missing"));
        }
        if suites.is_empty() {
            return Err(bad("Suites", "is missing"));
        }
        if suites.iter().any(|s| s.ends_with('/')) {
            return Err(bad("Suites", "names a flat repository, which is not supported"));
        }
        if components.is_empty() {
            return Err(bad("Components", "is missing"));
        }
        let signed_by = match paragraph.get("Signed-By") {
            None => None,
            Some(value) if value.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") => {
                Some(SignedBy::Inline(unfold_inline_key(value)))
            }
            Some(value) => Some(keyring_paths(value.split_whitespace(), file, "Signed-By")?),
        };
        for uri in &uris {
            for suite in &suites {
                sources.push(Source {
                    uri: uri.trim_end_matches('/').to_owned(),
                    suite: suite.clone(),
                    components: components.clone(),
                    architectures: words("Architectures"),
                    signed_by: signed_by.clone(),
                    file: file.to_owned(),
                });
            }
        }
    }
    Ok(sources)
}

fn keyring_paths<'a>(
    values: impl Iterator<Item = &'a str>,
    file: &Path,
    field: &'static str,
) -> Result<SignedBy, AptError> {
    let mut paths = Vec::new();
    for value in values.filter(|v| !v.is_empty()) {
        if !value.starts_with('/') {
            return Err(AptError::BadSourceField {
                path: file.to_owned(),
                field,
                reason: format!("`{value}` is not an absolute keyring path (fingerprints are not supported)"),
            });
        }
        paths.push(PathBuf::from(value));
    }
    if paths.is_empty() {
        return Err(AptError::BadSourceField { path: file.to_owned(), field, reason: "is empty".into() });
    }
    Ok(SignedBy::Keyrings(paths))
}

/// Undoes deb822 folding of a multiline value: one leading space or tab goes,
/// and a line of just `.` stands for an empty line.
fn unfold_inline_key(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for line in value.split('\n') {
        let line = line.strip_prefix([' ', '\t']).unwrap_or(line).trim_end();
        if line == "." {
            out.push('\n');
        } else if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_options_and_comments() {
        let text = "# comment\n\
            deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/a.gpg] http://example.invalid/debian/ bookworm main contrib # tail\n\
            deb-src http://example.invalid/debian bookworm main\n\
            \n\
            deb http://example.invalid/security bookworm-security main\n";
        let sources = parse_one_line(text, Path::new("/etc/apt/sources.list")).expect("parses");
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].uri, "http://example.invalid/debian");
        assert_eq!(sources[0].suite, "bookworm");
        assert_eq!(sources[0].components, ["main", "contrib"]);
        assert_eq!(sources[0].architectures, ["amd64", "arm64"]);
        assert_eq!(sources[0].signed_by, Some(SignedBy::Keyrings(vec!["/usr/share/keyrings/a.gpg".into()])));
        assert_eq!(sources[1].signed_by, None);
        assert_eq!(sources[1].suite, "bookworm-security");
    }

    #[test]
    fn one_line_errors_name_the_line() {
        let error =
            parse_one_line("deb [arch=amd64 http://x y main\n", Path::new("/s.list")).expect_err("must be refused");
        assert!(error.to_string().contains("line 1"), "{error}");
        assert!(parse_one_line("deb http://x\n", Path::new("/s.list")).is_err());
        assert!(parse_one_line("deb http://x stable\n", Path::new("/s.list")).is_err());
        assert!(parse_one_line("deb [signed-by=relative.gpg] http://x stable main\n", Path::new("/s.list")).is_err());
    }

    #[test]
    fn deb822_suites_uris_disabled_and_inline_key() {
        let text = "Types: deb deb-src\n\
            # a comment\n\
            URIs: http://a.invalid/debian http://b.invalid/debian/\n\
            Suites: bookworm bookworm-updates\n\
            Components: main\n\
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\
            \n\
            Types: deb\n\
            URIs: http://c.invalid/\n\
            Suites: test\n\
            Components: main\n\
            Enabled: no\n\
            \n\
            Types: deb-src\n\
            URIs: http://d.invalid/\n\
            Suites: test\n\
            Components: main\n\
            \n\
            Types: deb\n\
            URIs: http://e.invalid/repo\n\
            Suites: test\n\
            Components: main extra\n\
            Architectures: amd64\n\
            Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQENBGZ\n =abcd\n -----END PGP PUBLIC KEY BLOCK-----\n";
        let sources = parse_deb822(text, Path::new("/x.sources")).expect("parses");
        let pairs: Vec<(&str, &str)> = sources.iter().map(|s| (s.uri.as_str(), s.suite.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("http://a.invalid/debian", "bookworm"),
                ("http://a.invalid/debian", "bookworm-updates"),
                ("http://b.invalid/debian", "bookworm"),
                ("http://b.invalid/debian", "bookworm-updates"),
                ("http://e.invalid/repo", "test"),
            ]
        );
        assert_eq!(
            sources[4].signed_by,
            Some(SignedBy::Inline(
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBGZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n".into()
            ))
        );
        assert_eq!(sources[4].components, ["main", "extra"]);
        assert_eq!(sources[4].architectures, ["amd64"]);
    }

    #[test]
    fn deb822_missing_fields_are_named() {
        let error = parse_deb822("Types: deb\nSuites: a\nComponents: main\n", Path::new("/x.sources"))
            .expect_err("must be refused");
        assert!(error.to_string().contains("`URIs`"), "{error}");
    }

    #[test]
    fn reads_a_root_in_order() {
        let root = tempfile::tempdir().expect("tempdir");
        let apt = root.path().join("etc/apt/sources.list.d");
        std::fs::create_dir_all(&apt).expect("mkdir");
        std::fs::write(root.path().join("etc/apt/sources.list"), "deb http://one.invalid/ s main\n").expect("write");
        std::fs::write(apt.join("b.sources"), "Types: deb\nURIs: http://three.invalid\nSuites: s\nComponents: main\n")
            .expect("write");
        std::fs::write(apt.join("a.list"), "deb http://two.invalid s main\n").expect("write");
        std::fs::write(apt.join("c.list.disabled"), "deb http://ignored.invalid s main\n").expect("write");
        let uris: Vec<String> = read_sources(root.path()).expect("reads").into_iter().map(|s| s.uri).collect();
        assert_eq!(uris, ["http://one.invalid", "http://two.invalid", "http://three.invalid"]);
    }
}
