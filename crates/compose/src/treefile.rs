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
//!
//! An rpm image takes its packages from rpm-md repositories instead (all
//! of a treefile's repositories are of one kind, and `bootstrap` stays
//! `none`: an rpm distribution's base is whatever its packages require):
//!
//! ```toml
//! [[repos]]
//! kind = "rpm-md"
//! id = "fedora"                    # names its metadata cache
//! baseurl = "${FEDORA_MIRROR}/releases/41/Everything/x86_64/os"
//! gpgkey = "RPM-GPG-KEY-fedora-41" # relative to the treefile
//! gpgcheck = true                  # packages must be signed (default)
//! repo-gpgcheck = false            # repomd.xml must be signed (default: off, as dnf)
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
    /// The native architecture, in the format's words (`amd64`, `x86_64`).
    pub architecture: String,
    /// What the repositories serve (Debian's when there are none).
    pub format: PackageFormat,
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
    RpmMd(RpmMdRepository),
}

/// The package format a treefile's repositories serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageFormat {
    Deb,
    Rpm,
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

/// An rpm-md repository, as a `.repo` section would configure it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmMdRepository {
    /// Names its metadata cache; unique in the treefile.
    pub id: String,
    /// Mirrors of the repository, tried in order, without a trailing slash.
    pub baseurls: Vec<String>,
    /// Absolute paths of the keys (armored or binary) that may sign it.
    pub gpgkeys: Vec<PathBuf>,
    pub gpgcheck: bool,
    pub repo_gpgcheck: bool,
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

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RepositoryKind {
    Apt,
    RpmMd,
}

/// Both kinds' keys; which belong to which is checked after parsing, so
/// that a misplaced key is named with its kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRepository {
    kind: Spanned<RepositoryKind>,
    // apt
    uri: Option<Spanned<String>>,
    suite: Option<Spanned<String>>,
    components: Option<Vec<Spanned<String>>>,
    architectures: Option<Vec<Spanned<String>>>,
    signed_by: Option<Spanned<OneOrMany>>,
    // rpm-md
    id: Option<Spanned<String>>,
    baseurl: Option<Spanned<OneOrMany>>,
    gpgkey: Option<Spanned<OneOrMany>>,
    gpgcheck: Option<Spanned<bool>>,
    repo_gpgcheck: Option<Spanned<bool>>,
}

impl RawRepository {
    /// The keys set that `kind` does not take, by name and position.
    fn foreign_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let apt = [
            ("uri", self.uri.as_ref().map(Spanned::span)),
            ("suite", self.suite.as_ref().map(Spanned::span)),
            ("components", self.components.as_ref().and_then(|c| c.first()).map(Spanned::span)),
            ("architectures", self.architectures.as_ref().and_then(|c| c.first()).map(Spanned::span)),
            ("signed-by", self.signed_by.as_ref().map(Spanned::span)),
        ];
        let rpm = [
            ("id", self.id.as_ref().map(Spanned::span)),
            ("baseurl", self.baseurl.as_ref().map(Spanned::span)),
            ("gpgkey", self.gpgkey.as_ref().map(Spanned::span)),
            ("gpgcheck", self.gpgcheck.as_ref().map(Spanned::span)),
            ("repo-gpgcheck", self.repo_gpgcheck.as_ref().map(Spanned::span)),
        ];
        let foreign = match self.kind.get_ref() {
            RepositoryKind::Apt => rpm,
            RepositoryKind::RpmMd => apt,
        };
        foreign.into_iter().filter_map(|(key, span)| span.map(|s| (key, s))).collect()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many.iter().collect(),
        }
    }
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
            None if raw.repos.first().is_some_and(|r| *r.get_ref().kind.get_ref() == RepositoryKind::RpmMd) => {
                RPM_ARCHITECTURE.to_owned()
            }
            None => "amd64".to_owned(),
        };
        let mut repos = Vec::new();
        for repo in &raw.repos {
            let raw_repo = repo.get_ref();
            let kind = *raw_repo.kind.get_ref();
            if let Some((key, span)) = raw_repo.foreign_keys().into_iter().next() {
                let name = match kind {
                    RepositoryKind::Apt => "apt",
                    RepositoryKind::RpmMd => "rpm-md",
                };
                return Err(at(span, &format!("repos.{key}"), format!("an {name} repository has no `{key}`")));
            }
            if kind != *raw.repos[0].get_ref().kind.get_ref() {
                return Err(at(
                    raw_repo.kind.span(),
                    "repos.kind",
                    "all repositories of a treefile must be of one kind: an image has one package database".into(),
                ));
            }
            repos.push(match kind {
                RepositoryKind::Apt => Repository::Apt(apt_repository(raw_repo, repo.span(), directory, env, &at)?),
                RepositoryKind::RpmMd => {
                    let rpm = rpm_md_repository(raw_repo, repo.span(), directory, env, &at)?;
                    if repos.iter().any(|r| matches!(r, Repository::RpmMd(other) if other.id == rpm.id)) {
                        return Err(at(repo.span(), "repos.id", format!("two repositories have the id `{}`", rpm.id)));
                    }
                    Repository::RpmMd(rpm)
                }
            });
        }
        let format = match raw.repos.first().map(|r| *r.get_ref().kind.get_ref()) {
            Some(RepositoryKind::RpmMd) => PackageFormat::Rpm,
            _ => PackageFormat::Deb,
        };
        if format == PackageFormat::Rpm && raw.bootstrap != Bootstrap::None {
            return Err(TreefileError {
                path: path.to_owned(),
                line: 1,
                key: Some("bootstrap".into()),
                message: "`bootstrap` is Debian's (essential and required packages); an rpm image is its `packages` \
                          and what they require\nhint: remove `bootstrap`, and list the packages"
                    .into(),
            });
        }
        if let (PackageFormat::Rpm, Some(a)) = (format, &raw.architecture) {
            if a.get_ref() != RPM_ARCHITECTURE {
                return Err(at(
                    a.span(),
                    "architecture",
                    format!("rpm images are built for `{RPM_ARCHITECTURE}` only"),
                ));
            }
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
                if !valid_package(name.get_ref(), format) {
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
            format,
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
    span: Range<usize>,
    directory: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    at: &At<'_>,
) -> Result<AptRepository, TreefileError> {
    let missing = |key: &str| at(span.clone(), &format!("repos.{key}"), format!("an apt repository needs `{key}`"));
    let raw_uri = raw.uri.as_ref().ok_or_else(|| missing("uri"))?;
    let uri = http_uri(raw_uri, "repos.uri", env, at)?;
    let word = |s: &Spanned<String>, key: &str| -> Result<String, TreefileError> {
        let value = s.get_ref();
        if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '/' && key != "repos.suite") {
            return Err(at(s.span(), key, format!("`{value}` is not a valid {}", key.trim_start_matches("repos."))));
        }
        Ok(value.clone())
    };
    let raw_suite = raw.suite.as_ref().ok_or_else(|| missing("suite"))?;
    let suite = word(raw_suite, "repos.suite")?;
    let raw_components = raw.components.as_deref().unwrap_or_default();
    if raw_components.is_empty() {
        return Err(at(raw_suite.span(), "repos.components", "a repository needs at least one component".into()));
    }
    let components = raw_components.iter().map(|c| word(c, "repos.components")).collect::<Result<_, _>>()?;
    let architectures =
        raw.architectures.iter().flatten().map(|a| word(a, "repos.architectures")).collect::<Result<_, _>>()?;
    let signed_by = raw.signed_by.as_ref().ok_or_else(|| missing("signed-by"))?;
    let signed_by = key_files(signed_by, "repos.signed-by", directory, at)?;
    if signed_by.is_empty() {
        return Err(missing("signed-by"));
    }
    Ok(AptRepository { uri, suite, components, architectures, signed_by })
}

fn rpm_md_repository(
    raw: &RawRepository,
    span: Range<usize>,
    directory: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    at: &At<'_>,
) -> Result<RpmMdRepository, TreefileError> {
    let missing = |key: &str| at(span.clone(), &format!("repos.{key}"), format!("an rpm-md repository needs `{key}`"));
    let raw_id = raw.id.as_ref().ok_or_else(|| missing("id"))?;
    let id = raw_id.get_ref();
    if id.is_empty() || id.starts_with('.') || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(at(raw_id.span(), "repos.id", format!("`{id}` is not a repository id")));
    }
    let raw_baseurls = raw.baseurl.as_ref().ok_or_else(|| missing("baseurl"))?;
    let mut baseurls = Vec::new();
    for url in raw_baseurls.get_ref().items() {
        let spanned = Spanned::new(raw_baseurls.span(), url.clone());
        baseurls.push(http_uri(&spanned, "repos.baseurl", env, at)?);
    }
    if baseurls.is_empty() {
        return Err(missing("baseurl"));
    }
    let gpgkeys = match &raw.gpgkey {
        Some(keys) => key_files(keys, "repos.gpgkey", directory, at)?,
        None => Vec::new(),
    };
    let gpgcheck = raw.gpgcheck.as_ref().is_none_or(|c| *c.get_ref());
    let repo_gpgcheck = raw.repo_gpgcheck.as_ref().is_some_and(|c| *c.get_ref());
    if (gpgcheck || repo_gpgcheck) && gpgkeys.is_empty() {
        return Err(at(
            span,
            "repos.gpgkey",
            "a repository whose packages or metadata must be signed needs `gpgkey`\nhint: name the key file, \
             or set `gpgcheck = false` for packages nobody signed"
                .into(),
        ));
    }
    Ok(RpmMdRepository { id: id.clone(), baseurls, gpgkeys, gpgcheck, repo_gpgcheck })
}

/// An `http://` or `https://` URI with `${NAME}` substituted, without a
/// trailing slash.
fn http_uri(
    raw: &Spanned<String>,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    at: &At<'_>,
) -> Result<String, TreefileError> {
    let uri = substitute(raw.get_ref(), env).map_err(|m| at(raw.span(), key, m))?;
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(at(raw.span(), key, format!("`{uri}` is not an http:// or https:// URI")));
    }
    Ok(uri.trim_end_matches('/').to_owned())
}

/// Key files, relative to the treefile's directory, each of which exists.
fn key_files(
    raw: &Spanned<OneOrMany>,
    key: &str,
    directory: &Path,
    at: &At<'_>,
) -> Result<Vec<PathBuf>, TreefileError> {
    let mut out = Vec::new();
    for name in raw.get_ref().items() {
        let path = directory.join(name);
        if !path.is_file() {
            return Err(at(raw.span(), key, format!("the key file `{}` is not a file", path.display())));
        }
        out.push(path);
    }
    Ok(out)
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

/// The one architecture rpm images are built for (the rpm resolver's).
pub const RPM_ARCHITECTURE: &str = "x86_64";

/// Debian policy's package names (5.6.7); rpm's also take capitals and
/// `_` (`NetworkManager`, `perl-Data-Dumper`, `python3-typing_extensions`).
fn valid_package(name: &str, format: PackageFormat) -> bool {
    let other = |b: u8| match format {
        PackageFormat::Deb => b.is_ascii_lowercase() || b.is_ascii_digit(),
        PackageFormat::Rpm => b.is_ascii_alphanumeric() || b == b'_',
    };
    name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| other(b) || matches!(b, b'+' | b'-' | b'.'))
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
        let Repository::Apt(apt) = &t.repos[0] else { panic!("an apt repository") };
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

    const RPM: &str = r#"
ref = "test/rpm"
packages = ["filesystem", "NetworkManager"]

[[repos]]
kind = "rpm-md"
id = "test"
baseurl = ["${MIRROR}", "http://second.invalid/"]
gpgkey = "KEY"
repo-gpgcheck = true
"#;

    #[test]
    fn parses_an_rpm_md_treefile() {
        let t = parse(RPM).expect("parses");
        assert_eq!((t.format, t.architecture.as_str()), (PackageFormat::Rpm, "x86_64"));
        let Repository::RpmMd(rpm) = &t.repos[0] else { panic!("an rpm-md repository") };
        assert_eq!(rpm.baseurls, ["http://mirror.invalid/debian", "http://second.invalid"]);
        assert!(rpm.gpgcheck && rpm.repo_gpgcheck);
        assert_eq!(t.packages, ["filesystem", "NetworkManager"]);
    }

    #[test]
    fn rpm_md_errors_name_the_key() {
        let e = parse(&RPM.replace("gpgkey = \"KEY\"", "")).expect_err("no key");
        assert_eq!(e.key.as_deref(), Some("repos.gpgkey"), "{e}");
        let unsigned = RPM.replace("gpgkey = \"KEY\"", "gpgcheck = false").replace("repo-gpgcheck = true", "");
        assert!(!parse(&unsigned).map(|t| matches!(&t.repos[0], Repository::RpmMd(r) if r.gpgcheck)).expect("parses"));
        let e = parse(&RPM.replace("id = \"test\"", "suite = \"x\"")).expect_err("apt key");
        assert_eq!(e.key.as_deref(), Some("repos.suite"), "{e}");
        assert!(e.to_string().contains("an rpm-md repository has no `suite`"), "{e}");
        let e = parse(&RPM.replace("ref = ", "bootstrap = \"minbase\"\nref = ")).expect_err("bootstrap");
        assert_eq!(e.key.as_deref(), Some("bootstrap"), "{e}");
        let mixed = format!(
            "{RPM}\n[[repos]]\nkind = \"apt\"\nuri = \"http://x.invalid\"\nsuite = \"s\"\ncomponents = [\"main\"]\nsigned-by = \"KEY\"\n"
        );
        let e = parse(&mixed).expect_err("mixed");
        assert_eq!((e.line, e.key.as_deref()), (13, Some("repos.kind")), "{e}");
    }
}
