//! Treefiles: what `layer compose tree` builds a base image from, written
//! in TOML. Parsing is pure: [`Treefile::parse`] takes the text and the
//! path it came from (for messages and for paths relative to it) and an
//! environment lookup (for `${NAME}` in repository URIs).
//!
//! ```toml
//! ref = "debian/12/x86_64/minbase"
//! version = "12.minbase.1"
//! bootstrap = "minbase"            # none | essential | minbase
//! packages = ["systemd"]
//! excludes = ["systemd-timesyncd"]
//! postprocess-script = "post.sh"   # relative to the treefile
//! etc-policy = "usr-etc"           # the only policy: /etc ships in /usr/etc
//! var-policy = "tmpfiles"          # the only policy: /var becomes tmpfiles.d lines
//!
//! [metadata]
//! "org.example.flavor" = "minimal"
//!
//! [[repos]]
//! kind = "apt"
//! uri = "${DEBIAN_MIRROR}"
//! suite = "bookworm"
//! components = ["main"]
//! signed-by = "/usr/share/keyrings/debian-archive-keyring.gpg"
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// A treefile, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Treefile {
    /// The file it was read from.
    pub path: PathBuf,
    pub reference: String,
    pub version: Option<String>,
    pub bootstrap: Bootstrap,
    /// The native architecture (`amd64`).
    pub architecture: String,
    pub repos: Vec<Repository>,
    pub packages: Vec<String>,
    pub excludes: Vec<String>,
    /// Absolute path of the script run in a chroot of the built tree.
    pub postprocess_script: Option<PathBuf>,
    /// Extra commit metadata strings.
    pub metadata: BTreeMap<String, String>,
}

/// Which packages come in besides the listed ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bootstrap {
    /// Only the listed packages and their dependencies.
    #[default]
    None,
    /// Every `Essential: yes` package, as `mmdebstrap --variant=essential`.
    Essential,
    /// The essential set, every `Priority: required` package and `apt`, as
    /// `mmdebstrap --variant=minbase`.
    Minbase,
}

/// One package repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    Apt(AptRepository),
}

/// An apt repository suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptRepository {
    /// The archive root, `${NAME}` substituted, without a trailing slash.
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Empty: the treefile's architecture.
    pub architectures: Vec<String>,
    /// Absolute paths of the keyrings that alone may sign its `InRelease`.
    pub signed_by: Vec<PathBuf>,
}

/// A bad treefile: where, and what.
#[derive(Debug, thiserror::Error)]
#[error("`{}` line {line}{}: {message}", path.display(), key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default())]
pub struct TreefileError {
    pub path: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    #[serde(rename = "ref")]
    reference: Spanned<String>,
    version: Option<Spanned<String>>,
    #[serde(default)]
    bootstrap: Bootstrap,
    architecture: Option<Spanned<String>>,
    #[serde(default)]
    repos: Vec<Spanned<RawRepository>>,
    #[serde(default)]
    packages: Vec<Spanned<String>>,
    #[serde(default)]
    excludes: Vec<Spanned<String>>,
    postprocess_script: Option<Spanned<String>>,
    #[serde(default)]
    etc_policy: EtcPolicy,
    #[serde(default)]
    var_policy: VarPolicy,
    #[serde(default)]
    metadata: BTreeMap<String, Spanned<String>>,
}

/// Written out so that a treefile states its policy; each has one value
/// today, the image policy of DESIGN.md.
#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
enum EtcPolicy {
    #[default]
    UsrEtc,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
enum VarPolicy {
    #[default]
    Tmpfiles,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RepositoryKind {
    Apt,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRepository {
    kind: Spanned<RepositoryKind>,
    uri: Spanned<String>,
    suite: Spanned<String>,
    components: Vec<Spanned<String>>,
    #[serde(default)]
    architectures: Vec<Spanned<String>>,
    signed_by: Spanned<SignedBy>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SignedBy {
    One(String),
    Many(Vec<String>),
}

impl Treefile {
    /// Reads and checks the treefile at `path`; `${NAME}` in a repository
    /// URI comes from the process environment.
    pub fn load(path: &Path) -> Result<Treefile, TreefileError> {
        let text = std::fs::read_to_string(path).map_err(|e| TreefileError {
            path: path.to_owned(),
            line: 0,
            key: None,
            message: format!("cannot read it: {e}"),
        })?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        Treefile::parse(&text, &path, &|name| std::env::var(name).ok())
    }

    /// Parses `text`, read from `path` (relative paths in it are relative
    /// to its directory), looking `${NAME}` up with `env`.
    pub fn parse(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Treefile, TreefileError> {
        let at = |span: Range<usize>, key: &str, message: String| TreefileError {
            path: path.to_owned(),
            line: line_of(text, span.start),
            key: Some(key.to_owned()),
            message,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| TreefileError {
            path: path.to_owned(),
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            key: None,
            message: e.message().trim_end().to_owned(),
        })?;
        let (EtcPolicy::UsrEtc, VarPolicy::Tmpfiles) = (raw.etc_policy, raw.var_policy);
        let directory = path.parent().unwrap_or(Path::new("/"));

        let reference = raw.reference.get_ref();
        if !valid_ref(reference) {
            return Err(at(
                raw.reference.span(),
                "ref",
                format!(
                    "`{reference}` is not a ref name\nhint: write words of letters, digits, `.`, `_` and `-`, joined by `/`"
                ),
            ));
        }
        let architecture = match &raw.architecture {
            Some(a)
                if a.get_ref().is_empty() || !a.get_ref().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                return Err(at(a.span(), "architecture", format!("`{}` is not an architecture", a.get_ref())));
            }
            Some(a) => a.get_ref().clone(),
            None => "amd64".to_owned(),
        };
        let mut repos = Vec::new();
        for repo in &raw.repos {
            let RepositoryKind::Apt = repo.get_ref().kind.get_ref();
            repos.push(Repository::Apt(apt_repository(repo.get_ref(), directory, env, &at)?));
        }
        if repos.is_empty() && (raw.bootstrap != Bootstrap::None || !raw.packages.is_empty()) {
            return Err(TreefileError {
                path: path.to_owned(),
                line: 1,
                key: Some("repos".into()),
                message: "no repository to take the packages from\nhint: add a `[[repos]]` table".into(),
            });
        }
        let names = |list: &[Spanned<String>], key: &str| -> Result<Vec<String>, TreefileError> {
            let mut out = Vec::new();
            for name in list {
                if !valid_package(name.get_ref()) {
                    return Err(at(name.span(), key, format!("`{}` is not a package name", name.get_ref())));
                }
                out.push(name.get_ref().clone());
            }
            Ok(out)
        };
        let packages = names(&raw.packages, "packages")?;
        let excludes = names(&raw.excludes, "excludes")?;
        if let Some(name) = packages.iter().find(|p| excludes.contains(p)) {
            let span = raw.excludes.iter().find(|e| e.get_ref() == name).map_or(0..0, |e| e.span());
            return Err(at(span, "excludes", format!("`{name}` is both listed in `packages` and excluded")));
        }
        if raw.bootstrap == Bootstrap::None && packages.is_empty() {
            return Err(TreefileError {
                path: path.to_owned(),
                line: 1,
                key: Some("packages".into()),
                message: "nothing to install\nhint: list `packages` or set `bootstrap = \"minbase\"`".into(),
            });
        }
        let postprocess_script = match &raw.postprocess_script {
            Some(script) => {
                let resolved = directory.join(script.get_ref());
                if !resolved.is_file() {
                    return Err(at(
                        script.span(),
                        "postprocess-script",
                        format!("`{}` is not a file", resolved.display()),
                    ));
                }
                Some(resolved)
            }
            None => None,
        };
        let mut metadata = BTreeMap::new();
        for (key, value) in &raw.metadata {
            if key.starts_with("layer.") || key == "version" || key.starts_with("ostree.") {
                return Err(at(
                    value.span(),
                    "metadata",
                    format!(
                        "`{key}` is reserved\nhint: `version` has its own key; pick a name outside `layer.` and `ostree.`"
                    ),
                ));
            }
            metadata.insert(key.clone(), value.get_ref().clone());
        }
        Ok(Treefile {
            path: path.to_owned(),
            reference: reference.clone(),
            version: raw.version.map(Spanned::into_inner),
            bootstrap: raw.bootstrap,
            architecture,
            repos,
            packages,
            excludes,
            postprocess_script,
            metadata,
        })
    }
}

type At<'a> = dyn Fn(Range<usize>, &str, String) -> TreefileError + 'a;

fn apt_repository(
    raw: &RawRepository,
    directory: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    at: &At<'_>,
) -> Result<AptRepository, TreefileError> {
    let uri = substitute(raw.uri.get_ref(), env).map_err(|m| at(raw.uri.span(), "repos.uri", m))?;
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(at(raw.uri.span(), "repos.uri", format!("`{uri}` is not an http:// or https:// URI")));
    }
    let word = |s: &Spanned<String>, key: &str| -> Result<String, TreefileError> {
        let value = s.get_ref();
        if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '/' && key != "repos.suite") {
            return Err(at(s.span(), key, format!("`{value}` is not a valid {}", key.trim_start_matches("repos."))));
        }
        Ok(value.clone())
    };
    let suite = word(&raw.suite, "repos.suite")?;
    if raw.components.is_empty() {
        return Err(at(raw.suite.span(), "repos.components", "a repository needs at least one component".into()));
    }
    let components = raw.components.iter().map(|c| word(c, "repos.components")).collect::<Result<_, _>>()?;
    let architectures = raw.architectures.iter().map(|a| word(a, "repos.architectures")).collect::<Result<_, _>>()?;
    let span = raw.signed_by.span();
    let keys: Vec<&String> = match raw.signed_by.get_ref() {
        SignedBy::One(one) => vec![one],
        SignedBy::Many(many) => many.iter().collect(),
    };
    if keys.is_empty() {
        return Err(at(span, "repos.signed-by", "a repository needs a key".into()));
    }
    let mut signed_by = Vec::new();
    for key in keys {
        let path = directory.join(key);
        if !path.is_file() {
            return Err(at(span.clone(), "repos.signed-by", format!("the keyring `{}` is not a file", path.display())));
        }
        signed_by.push(path);
    }
    Ok(AptRepository { uri: uri.trim_end_matches('/').to_owned(), suite, components, architectures, signed_by })
}

/// Replaces each `${NAME}` with the variable's value.
fn substitute(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("`{text}` has `${{` without `}}`"))?;
        let name = &after[..end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("`${{{name}}}` is not a variable name"));
        }
        let value = env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            format!("the environment variable `{name}` is not set\nhint: set it, as in `{name}=http://.../debian layer compose tree ...`")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn valid_ref(reference: &str) -> bool {
    !reference.is_empty()
        && reference.split('/').all(|word| {
            !word.is_empty()
                && !word.starts_with('.')
                && word.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// Debian policy's package names (5.6.7).
fn valid_package(name: &str) -> bool {
    name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Treefile, TreefileError> {
        let dir = std::env::temp_dir();
        let key = dir.join("layer-treefile-test.gpg");
        std::fs::write(&key, b"key").expect("key");
        let text = text.replace("KEY", &key.display().to_string());
        Treefile::parse(&text, &dir.join("t.toml"), &|name| {
            (name == "MIRROR").then(|| "http://mirror.invalid/debian/".into())
        })
    }

    const GOOD: &str = r#"
ref = "debian/12/minbase"
version = "12.1"
bootstrap = "minbase"
packages = ["htop"]
excludes = ["nano"]

[metadata]
"org.example.flavor" = "small"

[[repos]]
kind = "apt"
uri = "${MIRROR}"
suite = "bookworm"
components = ["main"]
signed-by = "KEY"
"#;

    #[test]
    fn parses_a_treefile() {
        let t = parse(GOOD).expect("parses");
        assert_eq!(t.reference, "debian/12/minbase");
        assert_eq!(t.bootstrap, Bootstrap::Minbase);
        assert_eq!(t.architecture, "amd64");
        let Repository::Apt(apt) = &t.repos[0];
        assert_eq!(apt.uri, "http://mirror.invalid/debian");
        assert_eq!(apt.components, ["main"]);
        assert_eq!(t.metadata["org.example.flavor"], "small");
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let e = parse(&GOOD.replace("excludes", "exclude")).expect_err("unknown key");
        assert_eq!(e.line, 6, "{e}");
        assert!(e.to_string().contains("unknown field `exclude`"), "{e}");
        let e = parse(&GOOD.replace("${MIRROR}", "${NOPE}")).expect_err("unset");
        assert_eq!((e.line, e.key.as_deref()), (13, Some("repos.uri")), "{e}");
        assert!(e.to_string().contains("`NOPE` is not set"), "{e}");
        let e = parse(&GOOD.replace("\"htop\"", "\"Htop\"")).expect_err("bad name");
        assert_eq!((e.line, e.key.as_deref()), (5, Some("packages")), "{e}");
        let e = parse(&GOOD.replace("kind = \"apt\"", "kind = \"yum\"")).expect_err("kind");
        assert_eq!(e.line, 12, "{e}");
        let e = parse(&GOOD.replace("bootstrap = \"minbase\"", "bootstrap = \"big\"")).expect_err("bootstrap");
        assert_eq!(e.line, 4, "{e}");
        let e = parse(&GOOD.replace("\"KEY\"", "\"missing.gpg\"")).expect_err("key file");
        assert_eq!(e.key.as_deref(), Some("repos.signed-by"), "{e}");
        let e = parse(&GOOD.replace("debian/12/minbase", "debian//x")).expect_err("ref");
        assert_eq!((e.line, e.key.as_deref()), (2, Some("ref")), "{e}");
    }
}
