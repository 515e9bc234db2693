//! `.repo` files: `ROOT/etc/yum.repos.d/*.repo`, dnf's INI format. Each
//! section is one repository; its values may use `$basearch`,
//! `$releasever` (from the root's `os-release` `VERSION_ID`) and `$arch`,
//! also spelled `${name}`. Defaults for `gpgcheck` and `repo_gpgcheck`
//! come from the root's `/etc/dnf/dnf.conf` (or `/etc/yum.conf`) `[main]`.
//!
//! One deliberate difference from dnf: without any `gpgcheck` setting,
//! packages must be signed (dnf's built-in default is off, but every
//! distribution's `dnf.conf` turns it on).

use std::path::{Path, PathBuf};

use super::RpmmdError;
use super::root::{MAX_CONFIG_FILE, RootDir};

/// The architecture packages are chosen for.
pub const BASEARCH: &str = "x86_64";
/// Where repositories are configured, inside a root.
pub const REPOS_DIR: &str = "/etc/yum.repos.d";
/// dnf's default repository priority.
pub const DEFAULT_PRIORITY: i32 = 99;

/// One repository of a `.repo` file, with variables substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// The section name, such as `fedora`.
    pub id: String,
    /// `name=`, or the id.
    pub name: String,
    /// `baseurl=`: mirrors of one repository, tried in order; without a
    /// trailing slash.
    pub baseurls: Vec<String>,
    /// `metalink=` (not supported: only noted to explain a missing baseurl).
    pub metalink: Option<String>,
    /// `mirrorlist=` (not supported, as `metalink`).
    pub mirrorlist: Option<String>,
    pub enabled: bool,
    /// Packages must be signed by one of [`RepoConfig::gpgkeys`].
    pub gpgcheck: bool,
    /// `repodata/repomd.xml` must be signed (`repomd.xml.asc`) by one of
    /// [`RepoConfig::gpgkeys`].
    pub repo_gpgcheck: bool,
    /// `gpgkey=` URLs, as written (after substitution); only `file:` URLs
    /// are read, inside the root.
    pub gpgkeys: Vec<String>,
    /// Lower is preferred.
    pub priority: i32,
    /// The file, as a path inside the root.
    pub file: PathBuf,
}

/// The values `$name` stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    pub basearch: String,
    /// `None` when the root's `os-release` has no `VERSION_ID`: then
    /// `$releasever` stays as written.
    pub releasever: Option<String>,
}

impl Vars {
    /// `$basearch` is [`BASEARCH`]; `$releasever` is `VERSION_ID` from the
    /// root's `/etc/os-release` (or `/usr/lib/os-release`).
    pub fn for_root(root: &RootDir) -> Result<Vars, RpmmdError> {
        let mut releasever = None;
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            let read = root.read_optional(path, MAX_CONFIG_FILE).map_err(|source| RpmmdError::ReadConfig {
                path: root.path().join(path.trim_start_matches('/')),
                source,
            })?;
            if let Some(bytes) = read {
                releasever = os_release_value(&String::from_utf8_lossy(&bytes), "VERSION_ID");
                break;
            }
        }
        Ok(Vars { basearch: BASEARCH.to_owned(), releasever })
    }

    fn value(&self, name: &str) -> Option<String> {
        match name {
            "basearch" | "arch" => Some(self.basearch.clone()),
            "releasever" => self.releasever.clone(),
            "releasever_major" => self.releasever.as_deref().map(|r| r.split('.').next().unwrap_or(r).to_owned()),
            "releasever_minor" => {
                self.releasever.as_deref().map(|r| r.split_once('.').map_or("", |(_, minor)| minor).to_owned())
            }
            _ => None,
        }
    }

    /// Replaces `$name` and `${name}`; unknown names stay as written.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, consumed) = match after.strip_prefix('{') {
                Some(braced) => match braced.find('}') {
                    Some(end) => (&braced[..end], end + 2),
                    None => ("", 0),
                },
                None => {
                    let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                    (&after[..end], end)
                }
            };
            match self.value(name).filter(|_| !name.is_empty()) {
                Some(value) => {
                    out.push_str(&value);
                    rest = &after[consumed..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// One `KEY=value` of an `os-release` file, unquoted.
fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(key)?.strip_prefix('=')?.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        Some(value.to_owned()).filter(|v| !v.is_empty())
    })
}

/// `gpgcheck` and `repo_gpgcheck` when a repository does not set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub gpgcheck: bool,
    pub repo_gpgcheck: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { gpgcheck: true, repo_gpgcheck: false }
    }
}

impl Defaults {
    /// The `[main]` section of the root's `/etc/dnf/dnf.conf`, or of
    /// `/etc/yum.conf` when there is no `dnf.conf`.
    pub fn for_root(root: &RootDir) -> Result<Defaults, RpmmdError> {
        let mut defaults = Defaults::default();
        for path in ["/etc/dnf/dnf.conf", "/etc/yum.conf"] {
            let file = root.path().join(path.trim_start_matches('/'));
            let read = root
                .read_optional(path, MAX_CONFIG_FILE)
                .map_err(|source| RpmmdError::ReadConfig { path: file.clone(), source })?;
            let Some(bytes) = read else { continue };
            let sections = parse_ini(&String::from_utf8_lossy(&bytes), Path::new(path))?;
            if let Some((_, options)) = sections.iter().find(|(name, _)| name == "main") {
                for (key, value) in options {
                    match key.as_str() {
                        "gpgcheck" => defaults.gpgcheck = parse_bool(value, path, "main", key)?,
                        "repo_gpgcheck" => defaults.repo_gpgcheck = parse_bool(value, path, "main", key)?,
                        _ => {}
                    }
                }
            }
            break;
        }
        Ok(defaults)
    }
}

/// Reads every repository configured in `ROOT/etc/yum.repos.d/*.repo`
/// (files in name order, sections in file order), enabled or not. Files
/// and symlinks resolve inside the root. A repository id defined twice is
/// an error.
pub fn read_repo_files(root: &Path) -> Result<Vec<RepoConfig>, RpmmdError> {
    let root_dir = RootDir::open(root).map_err(|source| RpmmdError::ReadConfig { path: root.to_owned(), source })?;
    let vars = Vars::for_root(&root_dir)?;
    let defaults = Defaults::for_root(&root_dir)?;
    let names = root_dir
        .list_optional(REPOS_DIR)
        .map_err(|source| RpmmdError::ReadConfig { path: root.join(REPOS_DIR.trim_start_matches('/')), source })?;
    let mut repos: Vec<RepoConfig> = Vec::new();
    for name in names.iter().filter(|n| n.ends_with(".repo") && !n.starts_with('.')) {
        let file = Path::new(REPOS_DIR).join(name);
        let inside = file.to_string_lossy().into_owned();
        let bytes = root_dir
            .read_optional(&inside, MAX_CONFIG_FILE)
            .map_err(|source| RpmmdError::ReadConfig { path: root.join(inside.trim_start_matches('/')), source })?;
        let Some(bytes) = bytes else { continue };
        let text = String::from_utf8(bytes).map_err(|_| RpmmdError::BadRepoFile {
            path: file.clone(),
            line: 0,
            reason: "it is not UTF-8".into(),
        })?;
        for repo in parse_repo_file(&text, &file, &vars, defaults)? {
            if let Some(other) = repos.iter().find(|r| r.id == repo.id) {
                return Err(RpmmdError::DuplicateRepo { id: repo.id, first: other.file.clone(), second: file });
            }
            repos.push(repo);
        }
    }
    Ok(repos)
}

/// Parses one `.repo` file; `file` names it in errors and in
/// [`RepoConfig::file`]. A `[main]` section is ignored.
pub fn parse_repo_file(
    text: &str,
    file: &Path,
    vars: &Vars,
    defaults: Defaults,
) -> Result<Vec<RepoConfig>, RpmmdError> {
    let mut repos = Vec::new();
    let what = file.to_string_lossy();
    for (id, options) in parse_ini(text, file)? {
        if id == "main" {
            continue;
        }
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
            return Err(RpmmdError::BadRepoOption {
                path: file.to_owned(),
                repo: id.clone(),
                option: "[id]".into(),
                reason: "a repository id may not be empty or hold spaces, control characters or `/`".into(),
            });
        }
        let mut repo = RepoConfig {
            name: id.clone(),
            id,
            baseurls: Vec::new(),
            metalink: None,
            mirrorlist: None,
            enabled: true,
            gpgcheck: defaults.gpgcheck,
            repo_gpgcheck: defaults.repo_gpgcheck,
            gpgkeys: Vec::new(),
            priority: DEFAULT_PRIORITY,
            file: file.to_owned(),
        };
        for (key, value) in options {
            let value = vars.substitute(&value);
            match key.as_str() {
                "name" => repo.name = value,
                "baseurl" => repo.baseurls = url_list(&value).map(|u| u.trim_end_matches('/').to_owned()).collect(),
                "metalink" => repo.metalink = Some(value).filter(|v| !v.is_empty()),
                "mirrorlist" => repo.mirrorlist = Some(value).filter(|v| !v.is_empty()),
                "enabled" => repo.enabled = parse_bool(&value, &what, &repo.id, &key)?,
                "gpgcheck" => repo.gpgcheck = parse_bool(&value, &what, &repo.id, &key)?,
                "repo_gpgcheck" => repo.repo_gpgcheck = parse_bool(&value, &what, &repo.id, &key)?,
                "gpgkey" => repo.gpgkeys = url_list(&value).map(str::to_owned).collect(),
                "priority" => {
                    repo.priority = value.parse().map_err(|_| RpmmdError::BadRepoOption {
                        path: file.to_owned(),
                        repo: repo.id.clone(),
                        option: key.clone(),
                        reason: format!("`{value}` is not a number"),
                    })?;
                }
                _ => {}
            }
        }
        for url in &repo.baseurls {
            require_repo_url(url, file, &repo.id)?;
        }
        repos.push(repo);
    }
    Ok(repos)
}

/// A baseurl must be http, https or file.
fn require_repo_url(url: &str, file: &Path, repo: &str) -> Result<(), RpmmdError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https" | "file")) && !url.chars().any(char::is_control) {
        return Ok(());
    }
    Err(RpmmdError::BadRepoOption {
        path: file.to_owned(),
        repo: repo.to_owned(),
        option: "baseurl".into(),
        reason: format!("`{url}` is not an http, https or file URL"),
    })
}

/// dnf's lists: separated by whitespace (including continuation lines) or commas.
fn url_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| c.is_whitespace() || c == ',').filter(|u| !u.is_empty())
}

fn parse_bool(value: &str, file: &str, repo: &str, option: &str) -> Result<bool, RpmmdError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err(RpmmdError::BadRepoOption {
            path: PathBuf::from(file),
            repo: repo.to_owned(),
            option: option.to_owned(),
            reason: format!("`{value}` is not a boolean (1/0, yes/no, true/false, on/off)"),
        }),
    }
}

/// Sections in order, each with its options in order (keys lowercased).
type Sections = Vec<(String, Vec<(String, String)>)>;

/// dnf's INI dialect: `[section]`, `key=value` (or `key: value`),
/// comments on lines starting with `#` or `;`, and continuation lines
/// that start with whitespace.
fn parse_ini(text: &str, file: &Path) -> Result<Sections, RpmmdError> {
    let mut sections: Sections = Vec::new();
    let bad =
        |line: usize, reason: &str| RpmmdError::BadRepoFile { path: file.to_owned(), line, reason: reason.to_owned() };
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            let Some((_, value)) = sections.last_mut().and_then(|(_, options)| options.last_mut()) else {
                return Err(bad(number, "a continuation line follows no option"));
            };
            value.push('\n');
            value.push_str(trimmed);
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let Some(name) = header.strip_suffix(']') else {
                return Err(bad(number, "a section header does not end with `]`"));
            };
            sections.push((name.trim().to_owned(), Vec::new()));
            continue;
        }
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err(bad(number, "expected `key=value`"));
        };
        let Some((_, options)) = sections.last_mut() else {
            return Err(bad(number, "an option comes before any `[section]`"));
        };
        let key = trimmed[..at].trim().to_ascii_lowercase();
        let value = trimmed[at + 1..].trim().to_owned();
        // A later value replaces an earlier one, as in dnf.
        options.retain(|(k, _)| *k != key);
        options.push((key, value));
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars { basearch: "x86_64".into(), releasever: Some("40".into()) }
    }

    #[test]
    fn parses_repos() {
        let text = "\
# comment
[main]
gpgcheck=0

[fedora]
name=Fedora $releasever - $basearch
baseurl=http://a.invalid/$releasever/${basearch}/os/
        https://b.invalid/${releasever}/$basearch/os, file:///srv/repo/
enabled = 1
gpgcheck=1
repo_gpgcheck=True
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$releasever-$basearch
 file:///etc/pki/rpm-gpg/other
; another comment
priority=10

[updates-testing]
baseurl=http://a.invalid/testing/$unknown/
enabled=0
";
        let repos =
            parse_repo_file(text, Path::new("/etc/yum.repos.d/f.repo"), &vars(), Defaults::default()).expect("parses");
        assert_eq!(repos.len(), 2);
        let fedora = &repos[0];
        assert_eq!(fedora.id, "fedora");
        assert_eq!(fedora.name, "Fedora 40 - x86_64");
        assert_eq!(
            fedora.baseurls,
            ["http://a.invalid/40/x86_64/os", "https://b.invalid/40/x86_64/os", "file:///srv/repo"]
        );
        assert!(fedora.enabled && fedora.gpgcheck && fedora.repo_gpgcheck);
        assert_eq!(
            fedora.gpgkeys,
            ["file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-40-x86_64", "file:///etc/pki/rpm-gpg/other"]
        );
        assert_eq!(fedora.priority, 10);
        let testing = &repos[1];
        assert_eq!(testing.baseurls, ["http://a.invalid/testing/$unknown"]);
        assert!(!testing.enabled);
        assert!(testing.gpgcheck, "the default");
        assert!(!testing.repo_gpgcheck);
        assert_eq!(testing.priority, DEFAULT_PRIORITY);
    }

    #[test]
    fn refuses_bad_files() {
        let parse = |text: &str| parse_repo_file(text, Path::new("x.repo"), &vars(), Defaults::default());
        for bad in [
            "baseurl=http://a.invalid/\n",
            "[r]\nenabled=maybe\n",
            "[r]\njust words\n",
            "[r\nbaseurl=x\n",
            "[r]\nbaseurl=ftp://a.invalid/\n",
            "[a b]\nbaseurl=http://a.invalid/\n",
            " continued\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("[r]\nbaseurl=http://a.invalid\nfoo: bar\n").is_ok());
    }

    #[test]
    fn substitutes_variables() {
        let vars = Vars { basearch: "x86_64".into(), releasever: Some("9.4".into()) };
        assert_eq!(vars.substitute("$releasever_major/$releasever_minor/$arch"), "9/4/x86_64");
        assert_eq!(vars.substitute("a$b${c}$"), "a$b${c}$");
        assert_eq!(vars.substitute("${basearch"), "${basearch");
        let none = Vars { basearch: "x86_64".into(), releasever: None };
        assert_eq!(none.substitute("$releasever-$basearch"), "$releasever-x86_64");
    }

    #[test]
    fn os_release() {
        assert_eq!(os_release_value("NAME=Fedora\nVERSION_ID=\"40\"\n", "VERSION_ID").as_deref(), Some("40"));
        assert_eq!(os_release_value("VERSION_ID=9.4\n", "VERSION_ID").as_deref(), Some("9.4"));
        assert_eq!(os_release_value("VERSION_ID_X=1\n", "VERSION_ID"), None);
    }
}
