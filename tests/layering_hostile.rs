//! SECURITY.md cases 28–33 against `layer install`: hostile packages,
//! built in each test with `dpkg-deb` and served from a signed apt
//! repository on 127.0.0.1, installed onto an imported minbase base.
//!
//! Besides its own case, every test checks the invariant at the top of
//! SECURITY.md after each install that must fail: the exit code, a message
//! that names the package and the path or field, the same default
//! deployment, `status --json`, refs and old deployment files, a clean
//! `ostree fsck`, no leftover staging, and no marker written on the host.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::apt_repo::{self, AptRepo, Deb};
use common::*;

/// A base imported from minbase, whose apt uses a served repository of
/// made-up packages (and, where a test needs them, real ones).
struct Machine {
    // Declared first: the server stops before the directory goes.
    _repo: AptRepo,
    _dir: tempfile::TempDir,
    sysroot: PathBuf,
}

impl Machine {
    fn new(debs: &[Deb<'_>], real: &[&str]) -> Machine {
        let dir = scratch();
        let built = dir.path().join("built");
        std::fs::create_dir_all(&built).expect("built dir");
        let mut files: Vec<PathBuf> = debs.iter().map(|d| apt_repo::build_deb(&built, d)).collect();
        if !real.is_empty() {
            files.extend(apt_repo::debs(real));
        }
        let repo = AptRepo::serve(&dir.path().join("repo"), &files);
        let root = dir.path().join("root");
        sh(&format!("cp -al '{}' '{}'", minbase().display(), root.display())).ok();
        repo.configure(&root);
        let sysroot = imported_sysroot(dir.path(), &root);
        Machine { _repo: repo, _dir: dir, sysroot }
    }

    fn repo(&self) -> PathBuf {
        self.sysroot.join("ostree/repo")
    }

    /// `layer --sysroot S install -y ARGS...`, with `env` set.
    fn install(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_layer"));
        command.arg("--sysroot").arg(&self.sysroot).args(["install", "-y"]).args(args);
        command.envs(env.iter().copied()).stdin(std::process::Stdio::null());
        let out = command.output().expect("running layer");
        let run = Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!("$ layer install -y {} {env:?}\n  -> exit {}\n{}", args.join(" "), run.status, run.stderr);
        run
    }

    /// `ostree ARGS... --repo REPO`.
    fn ostree(&self, args: &[&str]) -> String {
        let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let repo = format!("--repo={}", self.repo().display());
        all.push(OsStr::new(&repo));
        ostree(&all).ok()
    }

    /// The checksum of the default deployment.
    fn default_commit(&self) -> String {
        deployed(&self.sysroot)[0].clone()
    }
}

/// The refs of the store, without the package tree cache (`layer/pkg/`),
/// which a failed install may fill as a download cache would.
fn refs(repo: &Path) -> Vec<String> {
    let out = ostree(&[OsStr::new("refs"), OsStr::new("--repo"), repo.as_os_str()]).ok();
    let mut refs: Vec<String> = out.lines().filter(|r| !r.starts_with("layer/pkg/")).map(str::to_owned).collect();
    refs.sort();
    refs
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// What a failed install must leave as it was.
struct Unchanged {
    status: serde_json::Value,
    refs: Vec<String>,
    deployment: PathBuf,
    files: BTreeMap<String, Node>,
    deploy_dirs: Vec<String>,
    repo_tmp: Vec<String>,
}

impl Unchanged {
    fn capture(sysroot: &Path) -> Unchanged {
        let deployment = deployment_dir(sysroot, 0);
        Unchanged {
            status: status(sysroot),
            refs: refs(&sysroot.join("ostree/repo")),
            files: snapshot(&deployment),
            deployment,
            deploy_dirs: names_in(&sysroot.join("ostree/deploy/debian/deploy")),
            repo_tmp: names_in(&sysroot.join("ostree/repo/tmp")),
        }
    }

    #[track_caller]
    fn check(&self, sysroot: &Path) {
        assert_eq!(status(sysroot), self.status, "`layer status --json` changed");
        assert_eq!(refs(&sysroot.join("ostree/repo")), self.refs, "the refs changed");
        assert_eq!(deployment_dir(sysroot, 0), self.deployment, "the default deployment changed");
        assert_eq!(
            names_in(&sysroot.join("ostree/deploy/debian/deploy")),
            self.deploy_dirs,
            "a deployment was added or removed"
        );
        assert_eq!(names_in(&sysroot.join("ostree/repo/tmp")), self.repo_tmp, "staging was left in the repo's tmp");
        assert!(snapshot(&self.deployment) == self.files, "the old deployment's files changed");
        fsck(sysroot);
    }
}

#[track_caller]
fn fsck(sysroot: &Path) {
    let repo = sysroot.join("ostree/repo");
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), repo.as_os_str()]).ok();
}

/// Asserts that `run` exited with `code` and that its stderr names each
/// of `needles`; returns stderr.
#[track_caller]
fn failed(run: Run, code: i32, needles: &[&str]) -> String {
    assert_eq!(run.status, code, "expected exit {code}\nstderr:\n{}", run.stderr);
    // The error itself must name them, not only the request it is about
    // (`error: Installing NAMES: ...`), and not only a script's output.
    let message: String = run
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("error: "))
        .map(|l| match l.strip_prefix("error: Installing ").and_then(|rest| rest.split_once(": ")) {
            Some((_, rest)) => format!("error: {rest}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    for needle in needles {
        assert!(message.contains(needle), "the message does not name `{needle}`:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.stderr
}

/// A path on the host a hostile script tries to write, named for this
/// process and `what`; removed when dropped.
struct Marker(PathBuf);

impl Marker {
    fn new(dir: &str, what: &str) -> Marker {
        let path = PathBuf::from(format!("{dir}/layer-hostile-{}-{what}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Marker(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf8")
    }

    #[track_caller]
    fn absent(&self) {
        assert!(!self.0.exists(), "a script wrote `{}` on the host", self.0.display());
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The paths of a commit, from `ostree ls -R`.
fn commit_paths(machine: &Machine, commit: &str) -> Vec<String> {
    machine
        .ostree(&["ls", "-R", commit])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .collect()
}

// ---------------------------------------------------------------------------
// 28: collisions with the base, and Conflicts/Breaks against base packages.

#[test]
fn collisions_and_conflicts_with_the_base_are_refused_unless_forced() {
    let machine = Machine::new(
        &[
            Deb {
                name: "clobber-bin",
                files: &[("usr/bin/dpkg-query", "#!/bin/sh\necho clobbered\n")],
                ..Deb::default()
            },
            Deb { name: "clobber-etc", files: &[("etc/hostname", "clobbered\n")], ..Deb::default() },
            Deb { name: "file-over-dir", files: &[("usr/share/base-files", "a file\n")], ..Deb::default() },
            Deb { name: "dir-over-file", files: &[("etc/debian_version/", "")], ..Deb::default() },
            Deb {
                name: "conflicts-dpkg",
                fields: "Conflicts: dpkg",
                files: &[("usr/share/conflicts-dpkg/here", "here\n")],
                ..Deb::default()
            },
            Deb { name: "breaks-base", fields: "Breaks: base-files (<< 99)", ..Deb::default() },
            // The same bytes as the base's file: nothing is replaced.
            Deb {
                name: "same-file",
                files: &[(
                    "usr/share/base-files/motd",
                    &std::fs::read_to_string(minbase().join("usr/share/base-files/motd")).expect("motd"),
                )],
                ..Deb::default()
            },
        ],
        &[],
    );
    let sysroot = &machine.sysroot;
    let before = Unchanged::capture(sysroot);

    let stderr = failed(
        machine.install(&["clobber-bin"], &[]),
        1,
        &["clobber-bin", "/usr/bin/dpkg-query", "the base image", "--force-replace"],
    );
    assert!(!stderr.contains("Deployed"), "{stderr}");
    before.check(sysroot);
    failed(machine.install(&["clobber-etc"], &[]), 1, &["clobber-etc", "/etc/hostname", "the base image"]);
    before.check(sysroot);
    failed(machine.install(&["file-over-dir"], &[]), 1, &["file-over-dir", "/usr/share/base-files"]);
    before.check(sysroot);
    failed(machine.install(&["dir-over-file"], &[]), 1, &["dir-over-file", "/etc/debian_version"]);
    before.check(sysroot);
    failed(machine.install(&["conflicts-dpkg"], &[]), 1, &["conflicts-dpkg", "dpkg", "--force-replace"]);
    before.check(sysroot);
    failed(machine.install(&["breaks-base"], &[]), 1, &["breaks-base", "base-files", "--force-replace"]);
    before.check(sysroot);
    // Two at once: the first refusal stops everything.
    failed(machine.install(&["clobber-etc", "clobber-bin"], &[]), 1, &["the base image"]);
    before.check(sysroot);

    // An identical file is no collision.
    machine.install(&["same-file"], &[]).ok();
    let old = deployment_dir(sysroot, 1);
    assert_eq!(old, before.deployment);

    // Forced: the conflict is a warning, both packages are installed.
    let out = machine.install(&["--force-replace", "conflicts-dpkg"], &[]);
    let stderr = out.stderr.clone();
    out.ok();
    assert!(stderr.contains("warning: conflicts-dpkg 1.0 Conflicts dpkg (forced)"), "{stderr}");
    let inside =
        in_deployment(sysroot, 0, "dpkg -s conflicts-dpkg dpkg | grep ^Status; cat /usr/share/conflicts-dpkg/here")
            .ok();
    assert_eq!(inside.matches("Status: install ok installed").count(), 2, "{inside}");

    // Forced: the base file is replaced, with a warning naming it.
    let out = machine.install(&["--force-replace", "clobber-bin", "clobber-etc"], &[]);
    let stderr = out.stderr.clone();
    out.ok();
    assert!(stderr.contains("warning: replaced: clobber-bin: /usr/bin/dpkg-query (was the base image)"), "{stderr}");
    assert!(stderr.contains("clobber-etc: /usr/etc/hostname"), "{stderr}");
    let inside = in_deployment(sysroot, 0, "dpkg-query; cat /usr/etc/hostname").ok();
    assert_eq!(inside, "clobbered\nclobbered\n");
    // The older deployments (the base one, while it is kept) and the store
    // are as they were.
    if before.deployment.exists() {
        assert!(snapshot(&before.deployment) == before.files, "the base deployment changed");
    }
    let real = in_deployment(sysroot, 1, "dpkg-query -W dpkg").ok();
    assert!(real.starts_with("dpkg\t"), "{real}");

    // The origin remembers what was forced: a later change rebuilds the
    // whole request without the flag, and the replacements stay. (`dpkg
    // -s` would run the clobbered dpkg-query: the database is read by hand.)
    let origin =
        |i: usize| std::fs::read_to_string(format!("{}.origin", deployment_dir(sysroot, i).display())).expect("origin");
    assert!(origin(0).contains("force-replace=clobber-bin;clobber-etc;conflicts-dpkg;"), "{}", origin(0));
    layer_at(sysroot, &["uninstall", "-y", "same-file"]).ok();
    let inside = in_deployment(
        sysroot,
        0,
        "dpkg-query; cat /usr/etc/hostname; grep -qx \"Package: same-file\" /var/lib/dpkg/status || echo gone",
    );
    assert_eq!(inside.ok(), "clobbered\nclobbered\ngone\n");
    // Uninstalling the forced packages drops them from the origin, and the
    // base's files come back.
    layer_at(sysroot, &["uninstall", "-y", "clobber-bin", "clobber-etc", "conflicts-dpkg"]).ok();
    assert!(!origin(0).contains("force-replace"), "{}", origin(0));
    let real = in_deployment(sysroot, 0, "dpkg-query -W dpkg").ok();
    assert!(real.starts_with("dpkg\t"), "{real}");
    fsck(sysroot);
}

// ---------------------------------------------------------------------------
// 29: /var, /usr/local, /home, /run, /tmp and /opt follow the image policy.

#[test]
fn state_and_runtime_paths_follow_the_image_policy() {
    let machine = Machine::new(
        &[Deb {
            name: "statefull",
            files: &[
                ("var/lib/statefull/state", "factory state\n"),
                ("var/lib/statefull/dir/", ""),
                ("var/lib/statefull/link", "->state"),
                ("usr/local/bin/x", "#!/bin/sh\necho local x\n"),
                ("home/x", "a home file\n"),
                ("root/.statefullrc", "rc\n"),
                ("run/x", "run\n"),
                ("tmp/x", "tmp\n"),
                ("opt/statefull/bin/tool", "#!/bin/sh\necho opt tool\n"),
                ("usr/bin/statefull", "#!/bin/sh\necho statefull\n"),
            ],
            ..Deb::default()
        }],
        &[],
    );
    let sysroot = &machine.sysroot;
    let base_commit = machine.default_commit();
    let old = deployment_dir(sysroot, 0);
    let old_files = snapshot(&old);

    let out = machine.install(&["statefull"], &[]);
    let stderr = out.stderr.clone();
    out.ok();
    assert!(stderr.contains("statefull: /run/x") && stderr.contains("statefull: /tmp/x"), "{stderr}");
    let commit = machine.default_commit();
    assert_ne!(commit, base_commit);

    // Nothing under /var, /run, /tmp, /home or /usr/local is content.
    let state = |paths: Vec<String>| -> Vec<String> {
        paths
            .into_iter()
            .filter(|p| {
                ["/var/", "/run/", "/tmp/", "/home/", "/root/", "/usr/local/", "/opt/"].iter().any(|d| p.starts_with(d))
            })
            .collect()
    };
    assert_eq!(state(commit_paths(&machine, &commit)), state(commit_paths(&machine, &base_commit)));
    let paths = commit_paths(&machine, &commit);
    for wanted in [
        "/usr/share/factory/var/lib/statefull/state",
        "/usr/share/factory/var/usrlocal/bin/x",
        "/usr/share/factory/var/home/x",
        "/usr/lib/opt/statefull/bin/tool",
        "/usr/bin/statefull",
    ] {
        assert!(paths.iter().any(|p| p == wanted), "{wanted} is not in the commit");
    }
    assert!(!paths.iter().any(|p| p.ends_with("/run/x") || p.ends_with("/tmp/x")), "dropped content was committed");

    let conf = machine.ostree(&["cat", &commit, "/usr/lib/tmpfiles.d/layer-packages.conf"]);
    for line in [
        "C /var/lib/statefull/state - - - - /usr/share/factory/var/lib/statefull/state",
        "d /var/lib/statefull/dir 0755 0 0 -",
        "L /var/lib/statefull/link - - - - state",
        "C /var/usrlocal/bin/x - - - - /usr/share/factory/var/usrlocal/bin/x",
        "C /var/home/x - - - - /usr/share/factory/var/home/x",
        "C /var/roothome/.statefullrc - - - - /usr/share/factory/var/roothome/.statefullrc",
        "L /var/opt/statefull - - - - /usr/lib/opt/statefull",
    ] {
        assert!(conf.lines().any(|l| l == line), "no `{line}` in\n{conf}");
    }

    // After the deploy, the stateroot's /var holds the state, copied.
    let var = sysroot.join("ostree/deploy/debian/var");
    assert_eq!(std::fs::read_to_string(var.join("lib/statefull/state")).expect("state"), "factory state\n");
    assert!(var.join("lib/statefull/dir").is_dir());
    let inside = in_deployment(
        sysroot,
        0,
        "readlink -f /opt/statefull; /opt/statefull/bin/tool; /usr/local/bin/x; cat /home/x /var/lib/statefull/link; \
         test -d /var/lib/statefull/dir; test ! -e /run/x; test ! -e /tmp/x; statefull",
    )
    .ok();
    assert_eq!(inside, "/usr/lib/opt/statefull\nopt tool\nlocal x\na home file\nfactory state\nstatefull\n");

    // The base deployment is as it was, and the store is sound.
    assert_eq!(deployment_dir(sysroot, 1), old);
    assert!(snapshot(&old) == old_files, "the old deployment changed");
    fsck(sysroot);
}

/// A package's `/var` entries become `tmpfiles.d` lines, applied to the
/// stateroot's `/var` at deploy (and to the build's `/var` before scripts):
/// they must say exactly what the package shipped, and stay inside `/var`.
#[test]
fn var_entries_stay_inside_var() {
    let outside = Marker::new("/tmp", "outside");
    std::fs::create_dir_all(&outside.0).expect("a directory on the host");
    let link = format!("->{}", outside.path());
    let machine = Machine::new(
        &[
            // An absolute symlink under /var is fine: at boot it points into
            // the machine's own tree.
            Deb { name: "var-link", files: &[("var/lib/out", &link)], ..Deb::default() },
            Deb {
                name: "var-under-link",
                files: &[("var/lib/out/pwned/", ""), ("var/lib/out/pwned-file", "pwned\n")],
                ..Deb::default()
            },
            Deb {
                name: "var-inject",
                files: &[("var/lib/inject", "->x\nd /var/lib/injected 0755 0 0 -")],
                ..Deb::default()
            },
            Deb { name: "var-space", files: &[("var/lib/with space/", "")], ..Deb::default() },
            Deb {
                name: "script-inject",
                control: &[(
                    "postinst",
                    "#!/bin/sh\nset -e\nln -s \"$(printf 'x\\nd /var/lib/injected 0755 0 0 -')\" /var/lib/script-inject\n",
                )],
                ..Deb::default()
            },
        ],
        &[],
    );
    let sysroot = &machine.sysroot;
    let var = sysroot.join("ostree/deploy/debian/var");
    let untouched = || assert_eq!(names_in(&outside.0), Vec::<String>::new(), "something was written outside /var");
    let before = Unchanged::capture(sysroot);

    failed(machine.install(&["var-inject"], &[]), 1, &["var-inject", "/var/lib/inject", "line break"]);
    before.check(sysroot);
    failed(machine.install(&["script-inject"], &[]), 1, &["/var/lib/script-inject", "line break"]);
    before.check(sysroot);
    assert!(!var.join("lib/injected").exists());
    failed(machine.install(&["var-space"], &[]), 1, &["var-space", "/var/lib/with space"]);
    before.check(sysroot);
    failed(machine.install(&["var-link", "var-under-link"], &[]), 1, &["var-under-link", "/var/lib/out", "var-link"]);
    before.check(sysroot);
    untouched();

    machine.install(&["var-link"], &[]).ok();
    assert_eq!(std::fs::read_link(var.join("lib/out")).expect("the link"), outside.0);
    untouched();
    failed(machine.install(&["var-under-link"], &[]), 1, &["var-under-link", "/var/lib/out", "var-link"]);
    untouched();
    fsck(sysroot);
}

/// A package may ship its own `tmpfiles.d` file. Applying it, at the build
/// (before scripts) or at deploy, must not follow a symlink out of `/var`.
#[test]
fn a_package_tmpfiles_d_file_cannot_write_outside_var() {
    let outside = Marker::new("/tmp", "outside-own");
    std::fs::create_dir_all(&outside.0).expect("a directory on the host");
    let own = format!("L /var/lib/own - - - - {0}\nd /var/lib/own/pwned 0755 0 0 -\n", outside.path());
    let machine = Machine::new(
        &[
            Deb { name: "tmpfiles-own", files: &[("usr/lib/tmpfiles.d/own.conf", &own)], ..Deb::default() },
            // A script, so that the build applies tmpfiles.d before it runs.
            Deb { name: "has-script", control: &[("postinst", "#!/bin/sh\nexit 0\n")], ..Deb::default() },
        ],
        &[],
    );
    let run = machine.install(&["tmpfiles-own", "has-script"], &[]);
    assert_eq!(names_in(&outside.0), Vec::<String>::new(), "written outside the sysroot; exit {}", run.status);
    fsck(&machine.sysroot);
}

// ---------------------------------------------------------------------------
// 30: failing preinst and postinst.

#[test]
fn a_failing_preinst_or_postinst_deploys_nothing() {
    let host = Marker::new("/tmp", "failing-script");
    let root = Marker::new("", "failing-script");
    let script = |what: &str| {
        format!(
            "#!/bin/sh\necho \"{what} says no\" >&2\ntouch {} {} /usr/share/{what}-was-here\nexit 1\n",
            host.path(),
            root.path()
        )
    };
    let (preinst, postinst) = (script("preinst"), script("postinst"));
    let machine = Machine::new(
        &[
            Deb {
                name: "fail-preinst",
                control: &[("preinst", &preinst)],
                files: &[("usr/share/fail-preinst/f", "f\n")],
                ..Deb::default()
            },
            Deb {
                name: "fail-postinst",
                control: &[("postinst", &postinst)],
                files: &[("usr/share/fail-postinst/f", "f\n")],
                ..Deb::default()
            },
        ],
        &[],
    );
    let sysroot = &machine.sysroot;
    let before = Unchanged::capture(sysroot);

    let stderr = failed(machine.install(&["fail-preinst"], &[]), 1, &["fail-preinst", "preinst"]);
    assert!(stderr.contains("preinst says no"), "the script's output is shown: {stderr}");
    before.check(sysroot);
    host.absent();
    root.absent();

    let stderr = failed(machine.install(&["fail-postinst"], &[]), 1, &["fail-postinst", "postinst"]);
    assert!(stderr.contains("postinst says no"), "the script's output is shown: {stderr}");
    before.check(sysroot);
    host.absent();
    root.absent();

    // The failures left nothing behind that stops a good install.
    let out = machine.install(&["fail-preinst", "fail-postinst"], &[]);
    failed(out, 1, &["fail-preinst", "preinst"]);
    before.check(sysroot);
}

// ---------------------------------------------------------------------------
// 31: hostile scripts leave the host alone, and a timeout kills them all.

#[test]
fn hostile_scripts_cannot_reach_the_host_and_are_killed_at_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let secret = Marker::new("/tmp", "secret");
    std::fs::write(&secret.0, "host secret\n").expect("secret");
    let victim = Marker::new("/tmp", "victim");
    std::fs::write(&victim.0, "victim\n").expect("victim");
    let written = Marker::new("/tmp", "written");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let pid = std::process::id();

    let rm_rf = "#!/bin/sh\nrm -rf --no-preserve-root /\n".to_owned();
    let rm_rf_quiet = "#!/bin/sh\nrm -rf --no-preserve-root / 2>/dev/null\nexit 0\n".to_owned();
    let probe = format!(
        r#"#!/bin/bash
out=/usr/share/hostile-probe
mkdir -p $out
say() {{ echo "$1" >> $out/results; }}
if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then say "net: connected"; else say "net: unreachable"; fi
if (echo h > /proc/sysrq-trigger) 2>/dev/null; then say "sysrq: written"; else say "sysrq: refused"; fi
if mknod $out/disk b 8 0 2>/dev/null; then say "mknod: made"; rm -f $out/disk; else say "mknod: refused"; fi
if cat {secret} 2>/dev/null; then say "host tmp: read"; else say "host tmp: hidden"; fi
if mount -t tmpfs none /mnt 2>/dev/null; then say "mount: done"; else say "mount: refused"; fi
if hostname hostile-{pid} 2>/dev/null; then say "hostname: set"; else say "hostname: refused"; fi
if echo x > {written} 2>/dev/null; then say "tmp write: done"; fi
rm -f {victim} 2>/dev/null || true
exit 0
"#,
        secret = secret.path(),
        written = written.path(),
        victim = victim.path(),
    );
    // A process tree and an endless loop: the timeout must end them all.
    let forever = format!(
        "#!/bin/sh\nfor i in 1 2 3 4 5; do (sleep 86{pid:06} &) ; done\nsh -c 'sleep 87{pid:06}' &\nwhile :; do :; done\n"
    );
    let machine = Machine::new(
        &[
            Deb { name: "hostile-rm", control: &[("postinst", &rm_rf)], ..Deb::default() },
            Deb { name: "hostile-rm-quiet", control: &[("postinst", &rm_rf_quiet)], ..Deb::default() },
            Deb { name: "hostile-probe", control: &[("postinst", &probe)], ..Deb::default() },
            Deb { name: "hostile-forever", control: &[("preinst", &forever)], ..Deb::default() },
        ],
        &[],
    );
    let sysroot = &machine.sysroot;
    let before = Unchanged::capture(sysroot);
    let minbase_dpkg = std::fs::read(minbase().join("usr/bin/dpkg")).expect("dpkg");

    let host_intact = || {
        assert_eq!(std::fs::read_to_string(&victim.0).expect("the victim is still there"), "victim\n");
        assert_eq!(std::fs::read(minbase().join("usr/bin/dpkg")).expect("dpkg"), minbase_dpkg);
        assert!(Path::new("/usr/bin/dpkg").is_file() && Path::new("/etc/passwd").is_file());
        written.absent();
        assert!(listener.accept().is_err(), "a script connected to the host");
        assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"), hostname);
    };

    // `rm -rf /` fails on the sandbox's read-only and mounted filesystems:
    // the script fails, and nothing is deployed.
    failed(machine.install(&["hostile-rm"], &[]), 1, &["hostile-rm", "postinst"]);
    before.check(sysroot);
    host_intact();

    // Quietly, and claiming success: the tree it leaves is no system, and
    // is refused, naming the package.
    failed(machine.install(&["hostile-rm-quiet"], &[]), 1, &["hostile-rm-quiet", "postinst", "removed"]);
    before.check(sysroot);
    host_intact();

    // The timeout kills the loop and every process it started.
    let started = std::time::Instant::now();
    failed(
        machine.install(&["hostile-forever"], &[("LAYER_SCRIPT_TIMEOUT", "3")]),
        1,
        &["hostile-forever", "preinst", "timed out after 3"],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "the timeout did not hold");
    before.check(sysroot);
    let leftover = || sh(&format!("pgrep -f '8[67]{pid:06}' || true")).ok();
    for _ in 0..50 {
        if leftover().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(leftover(), "", "processes of the script survived the timeout");
    failed(machine.install(&["hostile-forever"], &[("LAYER_SCRIPT_TIMEOUT", "soon")]), 1, &["LAYER_SCRIPT_TIMEOUT"]);

    // Probes that fail inside the sandbox: the script itself succeeds.
    machine.install(&["hostile-probe"], &[]).ok();
    host_intact();
    let results = in_deployment(sysroot, 0, "cat /usr/share/hostile-probe/results").ok();
    assert_eq!(
        results,
        "net: unreachable\nsysrq: refused\nmknod: refused\nhost tmp: hidden\nmount: refused\nhostname: refused\n\
         tmp write: done\n"
    );
    assert_eq!(deployment_dir(sysroot, 1), before.deployment);
    assert!(snapshot(&before.deployment) == before.files, "the old deployment changed");
    fsck(sysroot);
}

// ---------------------------------------------------------------------------
// 32: a script that writes into base files changes only the new commit.

#[test]
fn scripts_that_write_into_base_files_change_only_the_new_commit() {
    let postinst = "#!/bin/sh\nset -e\n\
        echo appended-by-postinst >> /usr/share/base-files/motd\n\
        echo appended-by-postinst >> /etc/issue\n\
        chmod 0600 /usr/share/base-files/profile\n\
        chown 1:1 /usr/share/base-files/dot.bashrc\n\
        : > /usr/share/base-files/info.dir\n\
        touch /usr/share/base-files/dot.profile\n\
        dd if=/dev/zero of=/usr/bin/dpkg-split bs=1 count=4 conv=notrunc 2>/dev/null\n";
    let machine = Machine::new(&[Deb { name: "appender", control: &[("postinst", postinst)], ..Deb::default() }], &[]);
    let sysroot = &machine.sysroot;
    let base_commit = machine.default_commit();
    let old = deployment_dir(sysroot, 0);
    let old_files = snapshot(&old);
    let files = [
        "usr/share/base-files/motd",
        "usr/share/base-files/profile",
        "usr/share/base-files/dot.bashrc",
        "usr/share/base-files/info.dir",
        "usr/bin/dpkg-split",
    ];
    let cached: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(minbase().join(f)).expect("minbase file")).collect();
    let issue = std::fs::read_to_string(minbase().join("etc/issue")).expect("issue");

    machine.install(&["appender"], &[]).ok();
    let inside = in_deployment(
        sysroot,
        0,
        "tail -1 /usr/share/base-files/motd; tail -1 /etc/issue; stat -c '%a %u:%g %s' /usr/share/base-files/profile \
         /usr/share/base-files/dot.bashrc /usr/share/base-files/info.dir; head -c 4 /usr/bin/dpkg-split | od -An -tx1",
    )
    .ok();
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines[0], "appended-by-postinst");
    assert_eq!(lines[1], "appended-by-postinst");
    assert!(lines[2].starts_with("600 0:0"), "{inside}");
    assert!(lines[3].starts_with("644 1:1"), "{inside}");
    assert!(lines[4].ends_with(" 0"), "{inside}");
    assert_eq!(lines[5].trim(), "00 00 00 00");

    // The old deployment, the base commit and the cached root are as they were.
    assert_eq!(deployment_dir(sysroot, 1), old);
    assert!(snapshot(&old) == old_files, "the old deployment changed");
    for (file, content) in files.iter().zip(&cached) {
        assert_eq!(&std::fs::read(old.join(file)).expect("old file"), content, "{file} of the old deployment");
        assert_eq!(&std::fs::read(minbase().join(file)).expect("minbase file"), content, "{file} of minbase");
        let text = machine.ostree(&["cat", &base_commit, &format!("/{file}")]);
        if let Ok(content) = std::str::from_utf8(content) {
            assert_eq!(text, content, "{file} of the base commit");
        }
    }
    assert_eq!(machine.ostree(&["cat", &base_commit, "/usr/etc/issue"]), issue);
    fsck(sysroot);
}

// ---------------------------------------------------------------------------
// 33: /etc/shadow and /etc/gshadow keep their mode; local /etc edits stay.

#[test]
fn shadow_files_keep_their_mode_and_local_etc_edits_survive() {
    let postinst = "#!/bin/sh\nset -e\nadduser --system --group --no-create-home --home /nonexistent layerd\n";
    let postinst2 = "#!/bin/sh\nset -e\nadduser --system --group --no-create-home --home /nonexistent layerd2\n";
    let machine = Machine::new(
        &[
            Deb { name: "adds-user", control: &[("postinst", postinst)], ..Deb::default() },
            Deb { name: "adds-user2", control: &[("postinst", postinst2)], ..Deb::default() },
        ],
        &[],
    );
    let sysroot = &machine.sysroot;
    let stat = "stat -c '%n %a %U:%G' /etc/shadow /etc/gshadow";
    let expected = sh(&format!("cd '{}' && stat -c '/%n %a %U:%G' etc/shadow etc/gshadow", minbase().display())).ok();
    // Owners by name, as the deployment itself maps them.
    let base_modes = in_deployment(sysroot, 0, stat).ok();
    assert_eq!(base_modes.replace("root:shadow", "root:42"), expected.replace("root:shadow", "root:42"));

    // Local edits: a changed file, a deleted one, an added one.
    let etc = deployment_dir(sysroot, 0).join("etc");
    sh(&format!(
        "cd '{}' && rm -f motd && echo edited > motd && rm issue.net && echo mine > local-added",
        etc.display()
    ))
    .ok();
    let old = deployment_dir(sysroot, 0);
    let old_files = snapshot(&old);

    machine.install(&["adds-user"], &[]).ok();
    let inside = in_deployment(
        sysroot,
        0,
        &format!("{stat}; getent passwd layerd | cut -d: -f1; grep -c '^layerd:' /etc/shadow /etc/gshadow; cat /etc/motd /etc/local-added; test ! -e /etc/issue.net && echo deleted"),
    )
    .ok();
    assert!(inside.starts_with(&base_modes), "{inside}");
    assert!(inside.contains("\nlayerd\n/etc/shadow:1\n/etc/gshadow:1\nedited\nmine\ndeleted\n"), "{inside}");
    // The image's own copies in /usr/etc keep the mode too.
    let commit = machine.default_commit();
    let listing = machine.ostree(&["ls", &commit, "/usr/etc/shadow", "/usr/etc/gshadow"]);
    let base_listing = machine.ostree(&["ls", &deployed(sysroot)[1], "/usr/etc/shadow", "/usr/etc/gshadow"]);
    let modes =
        |l: &str| l.lines().map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).collect::<Vec<_>>();
    assert_eq!(modes(&listing), modes(&base_listing), "{listing}");

    // The old deployment did not see any of it.
    assert_eq!(deployment_dir(sysroot, 1), old);
    assert!(snapshot(&old) == old_files, "the old deployment changed");
    let old_inside = in_deployment(sysroot, 1, &format!("{stat}; getent passwd layerd || echo none")).ok();
    assert_eq!(old_inside, format!("{base_modes}none\n"));
    fsck(sysroot);

    // A user added locally (a local edit of the account files), then a
    // layered package that adds one too.
    in_deployment(sysroot, 0, "useradd -M -r localuser").ok();
    machine.install(&["adds-user2"], &[]).ok();
    let inside = in_deployment(
        sysroot,
        0,
        &format!("{stat}; for u in localuser layerd layerd2; do getent passwd $u | cut -d: -f1 || echo no $u; done; grep -c '^layerd2:' /etc/shadow /etc/gshadow || true"),
    )
    .ok();
    assert!(inside.starts_with(&base_modes), "{inside}");
    // The account files merge by entry: the local user and both system
    // users are there.
    assert!(inside.contains("\nlocaluser\nlayerd\nlayerd2\n/etc/shadow:1\n/etc/gshadow:1\n"), "{inside}");
}

// ---------------------------------------------------------------------------
// 8: on a merged-/usr base, package paths resolve inside the tree.

#[test]
fn merged_usr_paths_resolve_inside_the_tree() {
    let machine = Machine::new(
        &[Deb {
            name: "old-layout",
            files: &[
                ("bin/old-layout", "#!/bin/sh\necho old-layout runs\n"),
                ("lib/old-layout/data", "data\n"),
                ("sbin/old-layout-admin", "#!/bin/sh\necho admin\n"),
            ],
            ..Deb::default()
        }],
        &[],
    );
    machine.install(&["old-layout"], &[]).ok();
    // The base's links stay links, and the files land behind them.
    let listing = machine.ostree(&["ls", &machine.default_commit(), "/bin", "/lib", "/sbin", "/usr/bin/old-layout"]);
    assert!(listing.contains("/bin -> usr/bin") && listing.contains("/lib -> usr/lib"), "{listing}");
    assert!(listing.contains("/sbin -> usr/sbin") && listing.contains("/usr/bin/old-layout"), "{listing}");
    let inside = in_deployment(
        &machine.sysroot,
        0,
        "old-layout; /usr/sbin/old-layout-admin; cat /usr/lib/old-layout/data; ls /usr/bin/sh",
    )
    .ok();
    assert!(inside.contains("old-layout runs") && inside.contains("admin") && inside.contains("data"), "{inside}");
    // dpkg lists the paths as shipped, and finds the files through the links.
    let listed = in_deployment(&machine.sysroot, 0, "dpkg -L old-layout; dpkg -V old-layout; echo verified").ok();
    assert!(listed.contains("/bin/old-layout") && listed.trim_end().ends_with("verified"), "{listed}");
    fsck(&machine.sysroot);
}
