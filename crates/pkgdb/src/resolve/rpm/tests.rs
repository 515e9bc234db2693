//! Resolver cases over small hand-written repositories. Packages are
//! written one a line: `name [E:]V-R arch | R: dep, pre:dep | P: cap |
//! C: dep | O: dep | F: /path`, where a dep is `name`, `name OP EVR` or
//! a rich `(...)`; every package also provides `name = EVR`, as rpmbuild
//! makes it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::apt::hex;

use super::{RpmLocal, RpmRepoData, RpmRequest, RpmUniverse};
use crate::resolve::{PackageSource, Plan, ResolveError, ResolveOptions};
use crate::rpm::{Compressor, Dependency, FileFlags, FileKind, PayloadInfo, RichDep, RpmFile, RpmPackage, VersionOp};
use crate::rpmmd::{Evr, Primary};

struct Spec {
    name: String,
    evr: String,
    arch: String,
    /// (kind letter, pre, text)
    deps: Vec<(char, bool, String)>,
    files: Vec<String>,
}

fn spec(line: &str) -> Spec {
    let mut parts = line.split('|').map(str::trim);
    let head: Vec<&str> = parts.next().expect("head").split_whitespace().collect();
    let [name, evr, arch] = head.as_slice() else { panic!("bad head `{line}`") };
    let mut spec = Spec {
        name: name.to_string(),
        evr: evr.to_string(),
        arch: arch.to_string(),
        deps: Vec::new(),
        files: Vec::new(),
    };
    for part in parts {
        let (kind, items) = part.split_once(':').expect("kind");
        let kind = kind.trim().chars().next().expect("kind letter");
        for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if kind == 'F' {
                spec.files.push(item.to_owned());
                continue;
            }
            let (pre, item) = match item.strip_prefix("pre:") {
                Some(rest) => (true, rest),
                None => (false, item),
            };
            spec.deps.push((kind, pre, item.to_owned()));
        }
    }
    spec.deps.push(('P', false, format!("{} = {}", spec.name, spec.evr)));
    spec
}

/// `name`, `op` and `evr` of a plain dependency text.
fn split_dep(text: &str) -> (String, Option<(VersionOp, String)>) {
    if text.starts_with('(') {
        return (text.to_owned(), None);
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [name] => ((*name).to_owned(), None),
        [name, op, evr] => {
            let op = match *op {
                "<" => VersionOp::Lt,
                "<=" => VersionOp::Le,
                "=" => VersionOp::Eq,
                ">=" => VersionOp::Ge,
                ">" => VersionOp::Gt,
                other => panic!("bad operator {other}"),
            };
            ((*name).to_owned(), Some((op, (*evr).to_owned())))
        }
        _ => panic!("bad dependency `{text}`"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn xml_package(spec: &Spec, checksum_type: &str) -> String {
    let evr = Evr::parse(&spec.evr).expect("evr");
    let checksum = match checksum_type {
        "sha256" => hex(&Sha256::digest(format!("{}-{}.{}", spec.name, spec.evr, spec.arch))),
        _ => "0123456789abcdef0123456789abcdef01234567".to_owned(),
    };
    let mut out = format!(
        "<package type=\"rpm\"><name>{}</name><arch>{}</arch><version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>\
         <checksum type=\"{checksum_type}\" pkgid=\"YES\">{checksum}</checksum><summary/>\
         <size package=\"{}\"/><location href=\"Packages/{}-{}.{}.rpm\"/><format>",
        spec.name,
        spec.arch,
        evr.epoch,
        evr.version,
        evr.release.unwrap_or("1"),
        1000 + spec.name.len(),
        spec.name,
        spec.evr.replace(':', "_"),
        spec.arch
    );
    for (letter, element) in [('P', "provides"), ('R', "requires"), ('C', "conflicts"), ('O', "obsoletes")] {
        out.push_str(&format!("<rpm:{element}>"));
        for (_, pre, text) in spec.deps.iter().filter(|(k, _, _)| *k == letter) {
            let (name, version) = split_dep(text);
            out.push_str(&format!("<rpm:entry name=\"{}\"", escape(&name)));
            if let Some((op, evr)) = version {
                let flags = match op {
                    VersionOp::Lt => "LT",
                    VersionOp::Le => "LE",
                    VersionOp::Eq => "EQ",
                    VersionOp::Ge => "GE",
                    VersionOp::Gt => "GT",
                };
                let evr = Evr::parse(&evr).expect("evr");
                out.push_str(&format!(" flags=\"{flags}\" epoch=\"{}\" ver=\"{}\"", evr.epoch, evr.version));
                if let Some(release) = evr.release {
                    out.push_str(&format!(" rel=\"{release}\""));
                }
            }
            if *pre {
                out.push_str(" pre=\"1\"");
            }
            out.push_str("/>");
        }
        out.push_str(&format!("</rpm:{element}>"));
    }
    for file in &spec.files {
        out.push_str(&format!("<file>{}</file>", escape(file)));
    }
    out.push_str("</format></package>\n");
    out
}

fn primary_with(lines: &[&str], checksum_type: &str) -> Primary {
    let mut text = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n",
        lines.len()
    );
    for line in lines {
        text.push_str(&xml_package(&spec(line), checksum_type));
    }
    text.push_str("</metadata>\n");
    Primary::parse(text.as_bytes(), "primary.xml").expect("test primary parses")
}

fn primary(lines: &[&str]) -> Primary {
    primary_with(lines, "sha256")
}

fn dependency(pre: bool, text: &str) -> Dependency {
    let (name, version) = split_dep(text);
    let flags = match version.as_ref().map(|(op, _)| *op) {
        None => 0,
        Some(VersionOp::Lt) => 2,
        Some(VersionOp::Le) => 10,
        Some(VersionOp::Eq) => 8,
        Some(VersionOp::Ge) => 12,
        Some(VersionOp::Gt) => 4,
    } | if pre { 1 << 9 } else { 0 };
    Dependency {
        rich: RichDep::is_rich(&name).then(|| RichDep::parse(&name).expect("rich")),
        op: version.as_ref().map(|(op, _)| *op),
        version: version.map(|(_, v)| v),
        flags,
        when: if pre { vec!["pre"] } else { Vec::new() },
        rpmlib: name.starts_with("rpmlib("),
        name,
    }
}

/// A package as its header says, for the base or a local file.
fn header(line: &str) -> RpmPackage {
    let spec = spec(line);
    let evr = Evr::parse(&spec.evr).expect("evr");
    let deps = |letter: char| -> Vec<Dependency> {
        spec.deps.iter().filter(|(k, _, _)| *k == letter).map(|(_, pre, text)| dependency(*pre, text)).collect()
    };
    let files = spec
        .files
        .iter()
        .map(|path| RpmFile {
            path: crate::entry::normalize_path(path.as_bytes(), true).expect("path"),
            kind: FileKind::File,
            mode: 0o644,
            user: "root".into(),
            group: "root".into(),
            size: 0,
            mtime: 0,
            digest: None,
            link_target: None,
            flags: FileFlags(0),
            caps: None,
            capability_xattr: None,
            hardlink_to: None,
            raw_path: path.clone(),
            payload_size: 0,
        })
        .collect();
    RpmPackage {
        epoch: spec.evr.contains(':').then_some(evr.epoch),
        version: evr.version.to_owned(),
        release: evr.release.unwrap_or("1").to_owned(),
        arch: spec.arch.clone(),
        summary: String::new(),
        license: String::new(),
        installed_size: 0,
        source_package: false,
        signed: false,
        requires: deps('R'),
        provides: deps('P'),
        conflicts: deps('C'),
        obsoletes: deps('O'),
        recommends: Vec::new(),
        suggests: Vec::new(),
        supplements: Vec::new(),
        enhances: Vec::new(),
        scripts: Vec::new(),
        triggers: Vec::new(),
        files,
        payload: PayloadInfo {
            format: "cpio".into(),
            compressor: Compressor::Zstd,
            digest: None,
            archive_size: None,
            stored_size: None,
        },
        name: spec.name,
    }
}

fn headers(lines: &[&str]) -> Vec<RpmPackage> {
    lines.iter().map(|l| header(l)).collect()
}

fn requests(texts: &[&str]) -> Vec<RpmRequest> {
    texts.iter().map(|t| RpmRequest::parse(t).expect("request parses")).collect()
}

fn resolve(
    installed: &[RpmPackage],
    primary: &Primary,
    wanted: &[&str],
    options: &ResolveOptions,
) -> Result<Plan, ResolveError> {
    let repos = [RpmRepoData { primary, filelists: None }];
    RpmUniverse::new("x86_64", installed, &repos, &[]).resolve(&requests(wanted), options)
}

/// `name-version` of each planned package, sorted by name.
fn planned(plan: &Plan) -> Vec<String> {
    plan.install.iter().map(|p| format!("{}-{}", p.name, p.version)).collect()
}

fn unsatisfiable(result: Result<Plan, ResolveError>) -> (String, bool) {
    match result {
        Err(error @ ResolveError::Unsatisfiable { base_conflict, .. }) => (error.to_string(), base_conflict),
        other => panic!("expected an unsatisfiable request, got {other:?}"),
    }
}

fn options() -> ResolveOptions {
    ResolveOptions::default()
}

const REPO: &[&str] = &[
    "app 1.0-1 x86_64 | R: libbar >= 1.5, pre:/bin/sh | F: /usr/bin/app",
    "libbar 1.0-1 x86_64 | P: libbar.so.1()(64bit)",
    "libbar 2.0-1 x86_64 | P: libbar.so.1()(64bit)",
    "libbar 2.0-1 i686",
    "bash 5.2-1 x86_64 | F: /bin/sh, /usr/bin/bash",
    "dash 0.5-1 x86_64 | F: /usr/bin/sh",
];

#[test]
fn picks_highest_version_and_orders_dependencies_first() {
    let primary = primary(REPO);
    let plan = resolve(&[], &primary, &["app"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["app-1.0-1", "bash-5.2-1", "libbar-2.0-1"]);
    let app = plan.get("app").expect("app");
    assert!(app.requested);
    assert!(!plan.get("libbar").expect("libbar").requested);
    assert_eq!(plan.get("libbar").expect("libbar").architecture, "x86_64");
    let PackageSource::Repository { index, record, filename, sha256 } = &app.source else { panic!("from the repo") };
    assert_eq!((*index, *record, filename.as_str()), (0, 0, "Packages/app-1.0-1.x86_64.rpm"));
    assert_eq!(sha256, &hex(&Sha256::digest("app-1.0-1.x86_64")));
    assert_eq!(app.size, 1003);
    assert_eq!(plan.download_size, 1003 + 1004 + 1006);
    assert_eq!(plan.configure_order.last().map(String::as_str), Some("app"));
    assert!(plan.broken_cycles.is_empty());
}

#[test]
fn file_requires_take_exact_paths() {
    // `dash` lists `/usr/bin/sh`, which is not `/bin/sh`.
    let without_bash: Vec<&str> = REPO.iter().copied().filter(|l| !l.starts_with("bash")).collect();
    let primary = primary(&without_bash);
    let (message, base_conflict) = unsatisfiable(resolve(&[], &primary, &["app"], &options()));
    assert!(message.contains("`app-1.0-1.x86_64` requires `/bin/sh`, which no package provides"), "{message}");
    assert!(!base_conflict);
    // A base package that lists it satisfies it.
    let base = headers(&["filesystem 3.18-1 x86_64 | F: /bin/sh"]);
    let plan = resolve(&base, &primary, &["app"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["app-1.0-1", "libbar-2.0-1"]);
}

#[test]
fn base_packages_satisfy_with_their_version_or_not_at_all() {
    let primary = primary(REPO);
    let base = headers(&["libbar 1.8-1 x86_64", "bash 5.1-1 x86_64 | F: /bin/sh"]);
    let plan = resolve(&base, &primary, &["app"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["app-1.0-1"]);
    let old = headers(&["libbar 1.0-1 x86_64", "bash 5.1-1 x86_64 | F: /bin/sh"]);
    let (message, _) = unsatisfiable(resolve(&old, &primary, &["app"], &options()));
    assert!(message.contains("`app` is requested"), "{message}");
    assert!(
        message
            .contains("`app-1.0-1.x86_64` requires `libbar >= 1.5`, but the base has `libbar-1.0-1.x86_64` installed"),
        "{message}"
    );
    // Requesting what the base has changes nothing.
    let plan = resolve(&base, &primary, &["libbar"], &options()).expect("resolves");
    assert!(plan.install.is_empty());
    assert_eq!(plan.satisfied_by_base, ["libbar"]);
}

#[test]
fn versioned_provides_follow_rpm() {
    let primary = primary(&[
        "client 1.0-1 x86_64 | R: api(foo) >= 2, epochal > 1.0",
        "impl-old 1.0-1 x86_64 | P: api(foo) = 1.5",
        "impl-new 1.0-1 noarch | P: api(foo) = 2.1",
        "epochal 1:0.5-1 x86_64",
    ]);
    let plan = resolve(&[], &primary, &["client"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["client-1.0-1", "epochal-1:0.5-1", "impl-new-1.0-1"]);
    assert_eq!(plan.get("impl-new").expect("impl-new").architecture, "noarch");
    // An unversioned provide satisfies a versioned require, as rpmdsCompare says.
    let primary = self::primary(&["client 1.0-1 x86_64 | R: api(foo) >= 2", "impl 1.0-1 x86_64 | P: api(foo)"]);
    let plan = resolve(&[], &primary, &["client"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["client-1.0-1", "impl-1.0-1"]);
    // A require without release matches every release; with a release it compares it.
    let primary = self::primary(&["client 1.0-1 x86_64 | R: lib = 2.0-3", "lib 2.0-2 x86_64"]);
    let (message, _) = unsatisfiable(resolve(&[], &primary, &["client"], &options()));
    assert!(message.contains("requires `lib = 2.0-3`, which no package provides"), "{message}");
}

#[test]
fn requests_by_name_provide_file_and_version() {
    let primary = primary(&[
        "nginx 1.24-1 x86_64 | P: webserver | F: /usr/sbin/nginx",
        "nginx 1.22-1 x86_64 | P: webserver | F: /usr/sbin/nginx",
        "httpd 2.4-1 x86_64 | P: webserver, httpd-mmn = 2",
        "htop 3.3-1 x86_64",
    ]);
    let plan = resolve(&[], &primary, &["httpd-mmn"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["httpd-2.4-1"]);
    assert!(plan.install[0].requested);
    let plan = resolve(&[], &primary, &["/usr/sbin/nginx"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["nginx-1.24-1"]);
    let plan = resolve(&[], &primary, &["nginx=1.22"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["nginx-1.22-1"]);
    let plan = resolve(&[], &primary, &["nginx=0:1.22-1"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["nginx-1.22-1"]);
    match resolve(&[], &primary, &["webserver"], &options()) {
        Err(ResolveError::VirtualRequest { providers, .. }) => assert_eq!(providers, ["httpd", "nginx"]),
        other => panic!("{other:?}"),
    }
    match resolve(&[], &primary, &["htopp"], &options()) {
        Err(ResolveError::NotFound { suggestion, .. }) => assert_eq!(suggestion.as_deref(), Some("htop")),
        other => panic!("{other:?}"),
    }
    match resolve(&[], &primary, &["nginx=1.23"], &options()) {
        Err(ResolveError::VersionNotFound { available, .. }) => assert_eq!(available, ["1.24-1", "1.22-1"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn request_parsing() {
    assert_eq!(RpmRequest::parse("htop").expect("parses"), RpmRequest::Name("htop".into()));
    assert_eq!(RpmRequest::parse("/usr/bin/sh").expect("parses"), RpmRequest::Name("/usr/bin/sh".into()));
    assert_eq!(
        RpmRequest::parse("htop=1:3.3-1.fc40").expect("parses"),
        RpmRequest::Evr { name: "htop".into(), evr: "1:3.3-1.fc40".into() }
    );
    for bad in ["", "=1", "htop=", "htop=x:1", "a b", "htop=1-2-3", "(a or b)", "htop=1-"] {
        assert!(matches!(RpmRequest::parse(bad), Err(ResolveError::BadRequest { .. })), "{bad}");
    }
}

#[test]
fn rich_dependencies() {
    let primary = primary(&[
        "app 1.0-1 x86_64 | R: (a or b), (x if y), (z if y else w)",
        "a 1.0-1 x86_64",
        "b 1.0-1 x86_64",
        "x 1.0-1 x86_64",
        "y 1.0-1 x86_64",
        "z 1.0-1 x86_64",
        "w 1.0-1 x86_64",
        "pick 1.0-1 x86_64 | R: (lib with lib(abi) = 2)",
        "lib 3.0-1 x86_64 | P: lib(abi) = 3",
        "lib 2.5-1 x86_64 | P: lib(abi) = 2",
        "avoid 1.0-1 x86_64 | R: (lib without lib(abi) = 3)",
    ]);
    let plan = resolve(&[], &primary, &["app"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["a-1.0-1", "app-1.0-1", "w-1.0-1"]);
    // With the condition in the base, the consequence comes along.
    let base = headers(&["y 1.0-1 x86_64"]);
    let plan = resolve(&base, &primary, &["app"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["a-1.0-1", "app-1.0-1", "x-1.0-1", "z-1.0-1"]);
    // Or requested alongside.
    let plan = resolve(&[], &primary, &["app", "y"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["a-1.0-1", "app-1.0-1", "x-1.0-1", "y-1.0-1", "z-1.0-1"]);
    // `with` asks one package for both.
    let plan = resolve(&[], &primary, &["pick"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["lib-2.5-1", "pick-1.0-1"]);
    let plan = resolve(&[], &primary, &["avoid"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["avoid-1.0-1", "lib-2.5-1"]);
    // A condition that holds with a consequence nobody provides.
    let primary_missing = self::primary(&["cond 1.0-1 x86_64 | R: (gone if y)", "y 1.0-1 x86_64"]);
    let (message, base_conflict) = unsatisfiable(resolve(&base_with_y(), &primary_missing, &["cond"], &options()));
    assert!(!base_conflict, "{message}");
    assert!(message.contains("`cond-1.0-1.x86_64` requires `(gone if y)`"), "{message}");
    assert!(
        message.contains("that needs no package to provide `y`, but the base has `y-1.0-1.x86_64` installed"),
        "{message}"
    );
    // An `or` whose first choice is impossible takes the second.
    let base = headers(&["blocker 1.0-1 x86_64 | C: a"]);
    let plan = resolve(&base, &primary, &["app"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["app-1.0-1", "b-1.0-1", "w-1.0-1"]);
}

fn base_with_y() -> Vec<RpmPackage> {
    headers(&["y 1.0-1 x86_64"])
}

#[test]
fn foreign_architectures_are_not_candidates() {
    let primary = primary(&["only32 1.0-1 i686", "needs32 1.0-1 x86_64 | R: only32"]);
    assert!(matches!(resolve(&[], &primary, &["only32"], &options()), Err(ResolveError::NotFound { .. })));
    let (message, _) = unsatisfiable(resolve(&[], &primary, &["needs32"], &options()));
    assert!(message.contains("`needs32-1.0-1.x86_64` requires `only32`, which no package provides"), "{message}");
    // A base package of another architecture still provides what it has.
    let base = headers(&["only32 1.0-1 i686"]);
    let plan = resolve(&base, &primary, &["needs32"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["needs32-1.0-1"]);
}

#[test]
fn conflicts_both_ways() {
    let primary = primary(&[
        "newtool 1.0-1 x86_64 | C: oldtool < 2",
        "other 1.0-1 x86_64 | C: newtool",
        "oldtool 1.0-1 x86_64",
        "plain 1.0-1 x86_64",
        "self 1.0-1 x86_64 | P: thing | C: thing",
    ]);
    // New against base: refused, unless allowed.
    let base = headers(&["oldtool 1.5-1 x86_64"]);
    let (message, base_conflict) = unsatisfiable(resolve(&base, &primary, &["newtool"], &options()));
    assert!(base_conflict, "{message}");
    assert!(
        message.contains(
            "`newtool-1.0-1.x86_64` conflicts with `oldtool < 2`, but the base has `oldtool-1.5-1.x86_64` installed"
        ),
        "{message}"
    );
    assert!(message.contains("allow_base_conflicts"), "{message}");
    let allow = ResolveOptions { allow_base_conflicts: true, ..options() };
    let plan = resolve(&base, &primary, &["newtool"], &allow).expect("allowed");
    assert_eq!(planned(&plan), ["newtool-1.0-1"]);
    assert_eq!(plan.forced_conflicts.len(), 1);
    let forced = &plan.forced_conflicts[0];
    assert_eq!(
        (forced.package.as_str(), forced.field.as_str(), forced.relation.as_str(), forced.hits.as_str()),
        ("newtool-1.0-1.x86_64", "Conflicts", "oldtool < 2", "oldtool-1.5-1.x86_64")
    );
    // A newer base version is not hit.
    let newer = headers(&["oldtool 2.0-1 x86_64"]);
    assert!(resolve(&newer, &primary, &["newtool"], &options()).is_ok());
    // Base against new.
    let base = headers(&["guard 1.0-1 x86_64 | C: plain"]);
    let (message, base_conflict) = unsatisfiable(resolve(&base, &primary, &["plain"], &options()));
    assert!(base_conflict, "{message}");
    assert!(message.contains("`guard-1.0-1.x86_64` conflicts with `plain`"), "{message}");
    // New against new.
    let (message, base_conflict) = unsatisfiable(resolve(&[], &primary, &["newtool", "other"], &options()));
    assert!(!base_conflict, "{message}");
    assert!(message.contains("`other-1.0-1.x86_64` conflicts with `newtool`"), "{message}");
    // A package does not conflict with itself.
    assert!(resolve(&[], &primary, &["self"], &options()).is_ok());
}

#[test]
fn obsoletes_by_name_only() {
    let primary = primary(&[
        "replacement 2.0-1 x86_64 | O: legacy < 2 | P: legacy = 2.0",
        "legacy 1.0-1 x86_64",
        "byprovide 1.0-1 x86_64 | O: cap",
        "capper 1.0-1 x86_64 | P: cap",
    ]);
    let base = headers(&["legacy 1.0-1 x86_64"]);
    let (message, base_conflict) = unsatisfiable(resolve(&base, &primary, &["replacement"], &options()));
    assert!(base_conflict);
    assert!(message.contains("`replacement-2.0-1.x86_64` obsoletes `legacy < 2`"), "{message}");
    // Against a candidate: it cannot come along.
    let (message, _) = unsatisfiable(resolve(&[], &primary, &["replacement", "legacy"], &options()));
    assert!(message.contains("obsoletes `legacy < 2`, which `legacy-1.0-1.x86_64` is"), "{message}");
    // Obsoletes do not match provides.
    let plan = resolve(&[], &primary, &["byprovide", "capper"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["byprovide-1.0-1", "capper-1.0-1"]);
}

#[test]
fn removed_base_packages() {
    let primary = primary(REPO);
    let base = headers(&["libbar 2.0-1 x86_64", "bash 5.2-1 x86_64 | F: /bin/sh", "tool 1.0-1 x86_64 | R: libbar"]);
    let removed = ResolveOptions { removed: BTreeSet::from(["bash".to_owned()]), ..options() };
    // The removed package is not reinstalled from the repository...
    let (message, _) = unsatisfiable(resolve(&base, &primary, &["app"], &removed));
    assert!(message.contains("`bash` was removed from the base with `override remove`"), "{message}");
    // ...and a base package that needs a removed one fails.
    let removed = ResolveOptions { removed: BTreeSet::from(["libbar".to_owned()]), ..options() };
    let (message, _) = unsatisfiable(resolve(&base, &primary, &[], &removed));
    assert!(message.contains("the base has `tool-1.0-1.x86_64` installed"), "{message}");
    assert!(message.contains("`tool-1.0-1.x86_64` requires `libbar`, but `libbar` was removed"), "{message}");
    assert!(matches!(resolve(&base, &primary, &["libbar"], &removed), Err(ResolveError::RequestsRemoved { .. })));
    let missing = ResolveOptions { removed: BTreeSet::from(["nothere".to_owned()]), ..options() };
    assert!(matches!(resolve(&base, &primary, &[], &missing), Err(ResolveError::RemovedNotInstalled { .. })));
}

#[test]
fn a_broken_base_stays_as_it_is() {
    // The base already lacks what `tool` requires; layering does not fix it.
    let primary = primary(REPO);
    let base = headers(&["tool 1.0-1 x86_64 | R: gone, /bin/sh", "bash 5.2-1 x86_64 | F: /bin/sh"]);
    let plan = resolve(&base, &primary, &["libbar"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["libbar-2.0-1"]);
}

#[test]
fn local_packages_replace_repository_versions() {
    let primary = primary(REPO);
    let local = vec![
        RpmLocal { package: header("libbar 1.9-1 x86_64"), path: PathBuf::from("/tmp/libbar.rpm") },
        RpmLocal { package: header("foreign 1.0-1 aarch64"), path: PathBuf::from("/tmp/foreign.rpm") },
    ];
    let repos = [RpmRepoData { primary: &primary, filelists: None }];
    let base = headers(&["bash 5.2-1 x86_64 | F: /bin/sh"]);
    let universe = RpmUniverse::new("x86_64", &base, &repos, &local);
    let plan = universe.resolve(&requests(&["app"]), &options()).expect("resolves");
    assert_eq!(planned(&plan), ["app-1.0-1", "libbar-1.9-1"]);
    let libbar = plan.get("libbar").expect("libbar");
    assert_eq!(libbar.source, PackageSource::Local { index: 0, path: PathBuf::from("/tmp/libbar.rpm") });
    assert!(!libbar.requested);
    let plan = universe.resolve(&[RpmRequest::Local(0)], &options()).expect("resolves");
    assert!(plan.install[0].requested);
    assert!(matches!(
        universe.resolve(&[RpmRequest::Local(1)], &options()),
        Err(ResolveError::RpmLocalArchitecture { .. })
    ));
    assert!(matches!(
        universe.resolve(&[RpmRequest::Local(2)], &options()),
        Err(ResolveError::NoSuchLocal { index: 2, count: 2 })
    ));
    // A local file of a base package's name needs `override replace`.
    let base = headers(&["libbar 1.0-1 x86_64"]);
    let universe = RpmUniverse::new("x86_64", &base, &repos, &local);
    let (message, _) = unsatisfiable(universe.resolve(&[RpmRequest::Local(0)], &options()));
    assert!(message.contains("the base has `libbar-1.0-1.x86_64` installed"), "{message}");
    let replace = ResolveOptions {
        removed: BTreeSet::from(["libbar".to_owned()]),
        replaced: BTreeSet::from(["libbar".to_owned()]),
        ..options()
    };
    let plan = universe.resolve(&[RpmRequest::Local(0)], &replace).expect("replaces");
    assert_eq!(planned(&plan), ["libbar-1.9-1"]);
}

#[test]
fn install_order_keeps_pre_requires() {
    let primary = primary(&["a 1.0-1 noarch | R: pre:b", "b 1.0-1 noarch | R: a", "c 1.0-1 noarch | R: a"]);
    let plan = resolve(&[], &primary, &["c"], &options()).expect("resolves");
    assert_eq!(plan.configure_order, ["b", "a", "c"]);
    assert_eq!(plan.broken_cycles.len(), 1);
    assert_eq!((plan.broken_cycles[0].from.as_str(), plan.broken_cycles[0].to.as_str()), ("b", "a"));
    // A cycle of hard links only still gets an order, as rpm gives one.
    let primary = self::primary(&["a 1.0-1 noarch | R: pre:b", "b 1.0-1 noarch | R: pre:a"]);
    let plan = resolve(&[], &primary, &["a"], &options()).expect("resolves");
    assert_eq!(plan.configure_order.len(), 2);
    assert_eq!(plan.broken_cycles.len(), 1);
}

#[test]
fn only_sha256_checksums_are_planned() {
    let primary = primary_with(&["tool 1.0-1 x86_64"], "sha1");
    match resolve(&[], &primary, &["tool"], &options()) {
        Err(error @ ResolveError::PackageChecksum { .. }) => assert!(error.to_string().contains("sha1"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn epochs_show_in_versions_and_repository_order_breaks_ties() {
    let first = primary(&["tool 2:1.0-1 x86_64"]);
    let second = primary(&["tool 2:1.0-1 x86_64", "tool 1:9.0-1 x86_64"]);
    let repos = [RpmRepoData { primary: &second, filelists: None }, RpmRepoData { primary: &first, filelists: None }];
    let plan =
        RpmUniverse::new("x86_64", &[], &repos, &[]).resolve(&requests(&["tool"]), &options()).expect("resolves");
    assert_eq!(planned(&plan), ["tool-2:1.0-1"]);
    let PackageSource::Repository { index, record, .. } = plan.install[0].source else { panic!("repo") };
    assert_eq!((index, record), (0, 0));
}

#[test]
fn provider_preference() {
    let primary = primary(&[
        "mailer 1.0-1 noarch | R: mta",
        "classic 1.0-1 noarch | R: sendmail",
        "postfix 3.8-1 x86_64 | P: mta, sendmail",
        "sendmail 8.17-1 x86_64 | P: mta",
    ]);
    // Among other names, the first by name.
    let plan = resolve(&[], &primary, &["mailer"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["mailer-1.0-1", "postfix-3.8-1"]);
    // The package named like the capability before other providers.
    let plan = resolve(&[], &primary, &["classic"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["classic-1.0-1", "sendmail-8.17-1"]);
    // Whatever the base provides it with.
    let base = headers(&["exim 4.97-1 x86_64 | P: mta"]);
    let plan = resolve(&base, &primary, &["mailer"], &options()).expect("resolves");
    assert_eq!(planned(&plan), ["mailer-1.0-1"]);
}

#[test]
fn one_package_per_name() {
    let primary = primary(&["lib 1.0-1 x86_64", "lib 2.0-1 x86_64", "user 1.0-1 x86_64 | R: lib >= 2"]);
    let (message, _) = unsatisfiable(resolve(&[], &primary, &["lib=1.0", "user"], &options()));
    assert!(
        message.contains(
            "only one package named `lib` can be installed, so `lib-1.0-1.x86_64` and `lib-2.0-1.x86_64` cannot both be"
        ) || message.contains(
            "only one package named `lib` can be installed, so `lib-2.0-1.x86_64` and `lib-1.0-1.x86_64` cannot both be"
        ),
        "{message}"
    );
}
