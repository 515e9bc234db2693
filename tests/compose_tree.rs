//! `layer compose tree`: base images from a treefile, checked with
//! `ostree`, and (live) against `mmdebstrap --variant=minbase` with
//! `dpkg`, `apt-get` and `layer install` in the deployment.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Real packages without maintainer scripts: `ncurses-term` needs
/// `ncurses-base` (`Essential: yes`); `gcc-12-base` is never asked for.
const PACKAGES: [&str; 5] = ["ncurses-term", "ncurses-base", "media-types", "sensible-utils", "gcc-12-base"];

fn init_repo(dir: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    ostree(&[OsStr::new("init"), OsStr::new("--mode=bare"), OsStr::new("--repo"), repo.as_os_str()]).ok();
    repo
}

/// `layer compose tree TREEFILE --repo REPO --cache-dir CACHE EXTRA...`
/// with `vars` in the environment.
fn compose(treefile: &Path, repo: &Path, cache: &Path, extra: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_layer"));
    command
        .args([OsStr::new("compose"), OsStr::new("tree"), treefile.as_os_str(), OsStr::new("--repo")])
        .arg(repo)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra)
        .envs(vars.iter().copied())
        .stdin(std::process::Stdio::null());
    let out = command.output().expect("running layer");
    let run = Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ layer compose tree {} {extra:?}\n  -> exit {}\n{}", treefile.display(), run.status, run.stderr);
    run
}

fn rev_parse(repo: &Path, reference: &str) -> String {
    ostree(&[OsStr::new("rev-parse"), OsStr::new("--repo"), repo.as_os_str(), OsStr::new(reference)])
        .ok()
        .trim()
        .to_owned()
}

fn treefile(dir: &Path, key: &Path, body: &str) -> PathBuf {
    std::fs::copy(key, dir.join("repo-key.gpg")).expect("key next to the treefile");
    let path = dir.join("tree.toml");
    let text = format!(
        "{body}\n[[repos]]\nkind = \"apt\"\nuri = \"${{TEST_REPO}}\"\nsuite = \"test\"\ncomponents = [\"main\"]\n\
         signed-by = \"repo-key.gpg\"\n"
    );
    std::fs::write(&path, text).expect("treefile");
    path
}

#[test]
fn compose_tree_from_a_local_repository() {
    let dir = scratch();
    let served = apt_repo::AptRepo::serve(&dir.path().join("apt"), &apt_repo::debs(&PACKAGES));
    let url = format!("http://127.0.0.1:{}/", served.port);
    let vars = [("TEST_REPO", url.as_str())];
    let cache = dir.path().join("cache");
    let tree = treefile(
        dir.path(),
        &served.dir.join("key.gpg"),
        "ref = \"test/small\"\nversion = \"1.0\"\npackages = [\"ncurses-term\", \"media-types\", \"sensible-utils\"]\n\
         [metadata]\n\"org.example.flavor\" = \"small\"\n",
    );
    let repo = init_repo(dir.path(), "repo");

    // The plan: the requested packages and the dependency, nothing committed.
    let plan = compose(&tree, &repo, &cache, &["--dry-run", "--json"], &vars).ok();
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("plan JSON");
    assert_eq!(plan["essential"], serde_json::Value::Null, "{plan}");
    let mut names: Vec<(String, bool)> = plan["plan"]["install"]
        .as_array()
        .expect("install")
        .iter()
        .map(|p| (p["name"].as_str().expect("name").to_owned(), p["requested"].as_bool().expect("requested")))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("media-types".to_owned(), true),
            ("ncurses-base".to_owned(), false),
            ("ncurses-term".to_owned(), true),
            ("sensible-utils".to_owned(), true)
        ]
    );
    assert!(!repo.join("refs/heads/test/small").exists(), "--dry-run commits nothing");

    let first = compose(&tree, &repo, &cache, &[], &vars).ok().trim().to_owned();
    assert_eq!(first, rev_parse(&repo, "test/small"));
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), repo.as_os_str()]).ok();
    let listing =
        ostree(&[OsStr::new("ls"), OsStr::new("--repo"), repo.as_os_str(), OsStr::new("-R"), OsStr::new("test/small")])
            .ok();
    for line in [
        "/bin -> usr/bin",
        "/lib64 -> usr/lib64",
        "/usr/local -> ../var/usrlocal",
        "/root -> var/roothome",
        "/usr/etc/terminfo",
        "/usr/lib/terminfo/x/xterm-256color",
        "/usr/lib/sysimage/dpkg/status",
        "/usr/lib/tmpfiles.d/layer-image.conf",
    ] {
        assert!(listing.contains(line), "no `{line}` in\n{listing}");
    }
    assert!(!listing.contains(" /etc") && !listing.contains("gcc-12-base"), "{listing}");
    let show = ostree(&[OsStr::new("show"), OsStr::new("--repo"), repo.as_os_str(), OsStr::new("test/small")]).ok();
    assert!(show.contains("Version: 1.0"), "{show}");
    let metadata = |key: &str| {
        ostree(&[
            OsStr::new("show"),
            OsStr::new("--repo"),
            repo.as_os_str(),
            OsStr::new("--print-metadata-key"),
            OsStr::new(key),
            OsStr::new("test/small"),
        ])
        .ok()
    };
    assert_eq!(metadata("org.example.flavor").trim(), "'small'");
    let packages = metadata("layer.packages");
    for name in ["media-types", "ncurses-base", "ncurses-term", "sensible-utils"] {
        assert!(packages.contains(&format!("'{name}'")), "{packages}");
    }
    let status = ostree(&[
        OsStr::new("cat"),
        OsStr::new("--repo"),
        repo.as_os_str(),
        OsStr::new("test/small"),
        OsStr::new("/usr/lib/sysimage/dpkg/status"),
    ])
    .ok();
    assert_eq!(status.matches("Status: install ok installed").count(), 4, "{status}");

    // The same inputs give the same commit, in this repository and in another.
    let again = compose(&tree, &repo, &cache, &[], &vars);
    assert!(again.stderr.contains("No changes"), "{}", again.stderr);
    assert_eq!(again.ok().trim(), first);
    let other = init_repo(dir.path(), "other");
    assert_eq!(compose(&tree, &other, &cache, &[], &vars).ok().trim(), first);

    // The commit's time is the Release's, or SOURCE_DATE_EPOCH.
    let fixed = init_repo(dir.path(), "fixed");
    let vars_dated = [("TEST_REPO", url.as_str()), ("SOURCE_DATE_EPOCH", "86400")];
    compose(&tree, &fixed, &cache, &[], &vars_dated).ok();
    let show = ostree(&[OsStr::new("show"), OsStr::new("--repo"), fixed.as_os_str(), OsStr::new("test/small")]).ok();
    assert!(show.contains("Date:  1970-01-02 00:00:00 +0000"), "{show}");
}

#[test]
fn compose_tree_installs_the_essential_set_first() {
    let dir = scratch();
    let served = apt_repo::AptRepo::serve(&dir.path().join("apt"), &apt_repo::debs(&PACKAGES));
    let url = format!("http://127.0.0.1:{}/", served.port);
    let vars = [("TEST_REPO", url.as_str())];
    let cache = dir.path().join("cache");
    let tree = treefile(
        dir.path(),
        &served.dir.join("key.gpg"),
        "ref = \"test/essential\"\nbootstrap = \"essential\"\npackages = [\"ncurses-term\"]\n",
    );
    let repo = init_repo(dir.path(), "repo");
    let plan = compose(&tree, &repo, &cache, &["--dry-run"], &vars).ok();
    assert!(plan.is_empty(), "the plan goes to stderr without --json: {plan}");
    let run = compose(&tree, &repo, &cache, &[], &vars);
    let stderr = run.stderr.clone();
    run.ok();
    let essential = stderr.find("Essential set, unpacked and configured first: 1 packages\n  ncurses-base 6.4-4 (all)");
    let rest = stderr.find("Then install 1 packages:\n  ncurses-term 6.4-4 (all)\n");
    assert!(essential.is_some() && rest.is_some() && essential < rest, "{stderr}");
    let first = stderr.find("Installing the essential set: 1 packages");
    let then = stderr.find("Installing the packages: 1 packages");
    assert!(first.is_some() && first < then, "{stderr}");
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), repo.as_os_str()]).ok();
    let status = ostree(&[
        OsStr::new("cat"),
        OsStr::new("--repo"),
        repo.as_os_str(),
        OsStr::new("test/essential"),
        OsStr::new("/usr/lib/sysimage/dpkg/status"),
    ])
    .ok();
    assert!(status.contains("Package: ncurses-base\nEssential: yes\nStatus: install ok installed"), "{status}");
    assert!(status.contains("Package: ncurses-term\nStatus: install ok installed"), "{status}");
}

/// A treefile body, the environment, and what the error must say.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_treefiles_are_refused_with_the_line_and_key() {
    let dir = scratch();
    let served = apt_repo::AptRepo::serve(&dir.path().join("apt"), &apt_repo::debs(&PACKAGES));
    let url = format!("http://127.0.0.1:{}/", served.port);
    let vars = [("TEST_REPO", url.as_str())];
    let cache = dir.path().join("cache");
    let repo = init_repo(dir.path(), "repo");
    let key = served.dir.join("key.gpg");
    let cases: [Case<'_>; 6] = [
        ("ref = \"x\"\npackages = [\"media-types\"]\npackage = [\"x\"]\n", &vars, "line 3: unknown field `package`"),
        ("ref = \"x\"\npackages = [\"Media\"]\n", &vars, "line 2, key `packages`: `Media` is not a package name"),
        ("ref = \"x y\"\npackages = [\"media-types\"]\n", &vars, "line 1, key `ref`: `x y` is not a ref name"),
        (
            "ref = \"x\"\npackages = [\"media-types\"]\n",
            &[],
            "key `repos.uri`: the environment variable `TEST_REPO` is not set",
        ),
        ("ref = \"x\"\nbootstrap = \"all\"\n", &vars, "line 2: unknown variant `all`"),
        (
            "ref = \"x\"\npackages = [\"ncurses-term\"]\nexcludes = [\"ncurses-base\"]\n",
            &vars,
            "`ncurses-base` is excluded, but the package set needs it as a dependency",
        ),
    ];
    for (body, vars, expected) in cases {
        let path = treefile(dir.path(), &key, body);
        let run = compose(&path, &repo, &cache, &[], vars);
        assert_eq!(run.status, 1, "{body}\n{}", run.stderr);
        assert!(run.stderr.contains(expected), "{body}\nexpected {expected:?} in\n{}", run.stderr);
        assert!(run.stderr.contains(&path.display().to_string()), "names the file: {}", run.stderr);
    }
    let missing = compose(&dir.path().join("absent.toml"), &repo, &cache, &[], &vars);
    assert_eq!(missing.status, 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("absent.toml"), "{}", missing.stderr);
    let refs = ostree(&[OsStr::new("refs"), OsStr::new("--repo"), repo.as_os_str()]).ok();
    assert!(refs.trim().is_empty(), "nothing committed: {refs}");
}

/// Composes `examples/debian-bookworm-minbase.toml` from the machine's
/// Debian mirror with a postprocess script, deploys it, and compares it
/// with `mmdebstrap --variant=minbase bookworm` from inside.
#[test]
#[ignore = "live: composes bookworm minbase from the Debian archive"]
fn live_debian_archive_compose_minbase() {
    let dir = scratch();
    let mirror = debian_mirror();
    let vars = [("DEBIAN_MIRROR", mirror.as_str())];
    let sysroot = dir.path().join("sysroot");
    layer_at(&sysroot, &["init", "--stateroot", "debian"]).ok();
    let repo = sysroot.join("ostree/repo");
    let cache = workspace().join(".test-cache/compose-tree");
    // The example, plus a postprocess script.
    let example = std::fs::read_to_string(workspace().join("examples/debian-bookworm-minbase.toml")).expect("example");
    let tree = dir.path().join("minbase.toml");
    let script = "postprocess-script = \"post.sh\"\n";
    std::fs::write(
        &tree,
        example.replacen("bootstrap = \"minbase\"\n", &format!("bootstrap = \"minbase\"\n{script}"), 1),
    )
    .expect("treefile");
    std::fs::write(dir.path().join("post.sh"), "echo composed > /etc/layer-composed\necho scratch > /var/scratch\n")
        .expect("script");
    let run = compose(&tree, &repo, &cache, &[], &vars);
    let stderr = run.stderr.clone();
    let commit = run.ok().trim().to_owned();
    assert!(stderr.contains("dropped `var/scratch`"), "{stderr}");
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), repo.as_os_str()]).ok();
    // Again, into another repository: the same commit.
    let other = init_repo(dir.path(), "other");
    assert_eq!(compose(&tree, &other, &cache, &[], &vars).ok().trim(), commit);

    layer_at(&sysroot, &["rebase", "debian/12/x86_64/minbase"]).ok();
    let inside = in_deployment(
        &sysroot,
        0,
        "dpkg -l | tail -n +6 | grep -v '^ii' || true; echo audit:; dpkg --audit; echo check:; apt-get check -q >/dev/null \
         && echo passed; echo list:; dpkg-query -W; cat /etc/layer-composed; readlink /var/lib/dpkg",
    )
    .ok();
    let (head, list) = inside.split_once("list:\n").expect("list");
    assert_eq!(head, "audit:\ncheck:\npassed\n", "every package `ii`, `dpkg --audit` silent, `apt-get check` passes");
    let minbase = minbase();
    let expected = Command::new("chroot").arg(&minbase).args(["dpkg-query", "-W"]).output().expect("dpkg-query");
    let expected = String::from_utf8_lossy(&expected.stdout).into_owned();
    let (ours, rest) = list.split_at(expected.len().min(list.len()));
    assert_eq!(ours, expected, "the package list equals mmdebstrap's");
    assert_eq!(rest, "composed\n../../usr/lib/sysimage/dpkg\n");

    layer_at(&sysroot, &["install", "-y", "htop"]).ok();
    let inside = in_deployment(&sysroot, 0, "htop --version; dpkg -s htop | grep '^Status'; dpkg --audit").ok();
    assert!(inside.contains("htop ") && inside.contains("install ok installed"), "{inside}");
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), repo.as_os_str()]).ok();
}
