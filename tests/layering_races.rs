//! Concurrent writers on one sysroot (SECURITY.md 37): a `layer install`
//! holds the sysroot lock from before it reads the deployments until it
//! has deployed, so a second install, a `layer cleanup` and a `layer
//! rollback` started meanwhile wait for it (saying so) and then act on
//! its result, and with `--no-wait` they fail at once saying that the
//! sysroot is locked. Each race runs on a copy of `tiny_machine`'s
//! sysroot, with the concurrent command started while the install's
//! postinst sleeps: after its package and its assembled tree were written
//! to the store, and before the commit that uses them exists.
//!
//! Afterwards: both commands succeeded, `ostree fsck` and `layer repo
//! fsck` pass, every ref from before still names the same commit (the
//! `ostree/B/S/N` deployment refs, which ostree rewrites with each
//! deployment list, name exactly the deployed commits), `ostree admin
//! status` agrees with `layer status`, nothing is left in `repo/tmp`, and
//! the install's deployment runs its program and holds its postinst's
//! output.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::apt_repo::{self, Deb};
use common::*;

const LOCKED: &str = "the sysroot is locked by another process";
const WAITING: &str = "Waiting for the sysroot lock";

/// A local package whose postinst sleeps, holding the install (and the
/// sysroot lock) in the middle of its build.
fn slow_deb(dir: &Path) -> PathBuf {
    let built = dir.join("slow-built");
    std::fs::create_dir_all(&built).expect("built dir");
    apt_repo::build_deb(
        &built,
        &Deb {
            name: "slowpost",
            control: &[(
                "postinst",
                "#!/bin/sh\nset -e\n/bin/busybox sleep 5\necho \"configured $1\" > /etc/slowpost.state\n",
            )],
            files: &[("usr/bin/slowtool", "#!/bin/sh\necho slow\n")],
            ..Default::default()
        },
    )
}

/// `layer --sysroot S ARGS...`, started and left running.
fn start(sysroot: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_layer"))
        .arg("--sysroot")
        .arg(sysroot)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting layer")
}

fn finish(child: Child, shown: &str) -> Run {
    let out = child.wait_with_output().expect("waiting for layer");
    let run = Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ layer {shown}\n  -> exit {}\n{}", run.status, run.stderr);
    run
}

fn in_tmp(store: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(store.join("tmp"))
        .expect("repo tmp")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Waits until `install` is running its maintainer scripts: its build's
/// checkout exists in `repo/tmp`, after its package tree and assembled
/// tree were published.
fn wait_for_scripts(install: &mut Child, store: &Path) {
    let started = Instant::now();
    while in_tmp(store, "layer-build-").is_empty() {
        if let Some(status) = install.try_wait().expect("polling the install") {
            panic!("the install ended ({status}) before its scripts ran");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the install never reached its scripts");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `concurrent` twice while an install of `deb` is in its postinst:
/// with `--no-wait`, which must fail at once saying the sysroot is locked
/// (while the install still runs), and as is, which must wait for the
/// install and then succeed. Checks the store and the refs afterwards.
fn race(sysroot: &Path, deb: &Path, concurrent: &[&str]) -> (Run, Run) {
    let store = sysroot.join("ostree/repo");
    let refs_before = store_refs(&store);
    let deb_s = deb.display().to_string();
    let shown = concurrent.join(" ");

    let mut install = start(sysroot, &["install", "-y", &deb_s]);
    wait_for_scripts(&mut install, &store);

    let mut no_wait = concurrent.to_vec();
    no_wait.push("--no-wait");
    let refused = finish(start(sysroot, &no_wait), &format!("{shown} --no-wait"));
    assert!(install.try_wait().expect("polling").is_none(), "the install still holds the lock");
    assert_eq!(refused.status, 1, "{shown} --no-wait fails\n{}", refused.stderr);
    assert!(refused.stderr.contains(LOCKED), "{shown} --no-wait says the sysroot is locked\n{}", refused.stderr);

    let waiting = start(sysroot, concurrent);
    let install = finish(install, &format!("install -y {deb_s}"));
    let concurrent_run = finish(waiting, &shown);
    assert_eq!(install.status, 0, "the install succeeds\n{}", install.stderr);
    assert_eq!(concurrent_run.status, 0, "{shown} succeeds\n{}", concurrent_run.stderr);
    assert!(concurrent_run.stderr.contains(WAITING), "{shown} waited for the install\n{}", concurrent_run.stderr);

    // The store is whole; no ref from before is lost.
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();
    layer(&[OsStr::new("repo"), OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();
    let refs_after = store_refs(&store);
    for (name, commit) in refs_before.iter().filter(|(n, _)| !n.starts_with("ostree/")) {
        assert_eq!(refs_after.get(name), Some(commit), "{shown}: the ref `{name}` is kept");
    }
    let listed = deployed(sysroot);
    let mut deployment_refs: Vec<&String> =
        refs_after.iter().filter(|(n, _)| n.starts_with("ostree/")).map(|(_, c)| c).collect();
    deployment_refs.sort();
    let mut expected: Vec<&String> = listed.iter().collect();
    expected.sort();
    assert_eq!(deployment_refs, expected, "{shown}: each deployment's commit has its ref");
    assert_eq!(ostree_deployed(sysroot), listed, "{shown}: ostree agrees");
    let left: Vec<String> = [in_tmp(&store, "layer-build-"), in_tmp(&store, "staging-")].concat();
    assert!(left.is_empty(), "{shown}: left in repo/tmp: {left:?}");
    (install, concurrent_run)
}

/// The index of the deployment whose request holds the local `slowpost`.
fn slow_deployment(sysroot: &Path) -> usize {
    let status = status(sysroot);
    let list = status["deployments"].as_array().expect("deployments");
    let found: Vec<usize> = (0..list.len())
        .filter(|&i| {
            list[i]["requested_local_packages"]
                .as_array()
                .is_some_and(|l| l.iter().any(|p| p.as_str().is_some_and(|p| p.contains("slowpost"))))
        })
        .collect();
    assert_eq!(found.len(), 1, "one deployment has slowpost: {status}");
    found[0]
}

/// A second `layer install` while the first is in its postinst waits,
/// then builds on the first one's deployment: the new default has both
/// packages, and the first's deployment is the rollback.
#[test]
fn a_second_install_waits_for_the_first() {
    let machine = tiny_machine();
    let deb = slow_deb(machine.dir.path());
    let sysroot = machine.copy("two-installs");
    race(&sysroot, &deb, &["install", "-y", "tinypost"]);
    let inside = in_deployment(&sysroot, 0, "slowtool; tinydata; cat /etc/slowpost.state /etc/tinypost.state").ok();
    assert_eq!(inside, "slow\ntiny\nconfigured configure\nconfigured configure\n");
    let status = status(&sysroot);
    let requested = |i: usize, key: &str| status["deployments"][i][key].to_string();
    assert_eq!(requested(0, "requested_packages"), r#"["tinypost"]"#, "{status}");
    assert_eq!(requested(1, "requested_packages"), "[]", "the first install's deployment is the rollback: {status}");
    for i in 0..2 {
        assert!(requested(i, "requested_local_packages").contains("slowpost"), "{status}");
    }
    let first = in_deployment(&sysroot, 1, "slowtool; test ! -e /usr/bin/tinydata && echo alone").ok();
    assert_eq!(first, "slow\nalone\n");
}

/// `layer cleanup` during an install waits, then prunes nothing the
/// install wrote that its deployment uses: the package tree's ref stays,
/// and both deployments (the new and the old) check out whole.
#[test]
fn cleanup_waits_for_an_install() {
    let machine = tiny_machine();
    let deb = slow_deb(machine.dir.path());
    let sysroot = machine.copy("cleanup");
    let old = deployed(&sysroot)[0].clone();
    let (_, cleanup) = race(&sysroot, &deb, &["cleanup"]);
    assert!(cleanup.stderr.contains("Removed 0 deployments"), "{}", cleanup.stderr);
    let listed = deployed(&sysroot);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], old, "the old deployment is the rollback");
    assert_eq!(slow_deployment(&sysroot), 0);
    let inside = in_deployment(&sysroot, 0, "slowtool; cat /etc/slowpost.state").ok();
    assert_eq!(inside, "slow\nconfigured configure\n");
    let store = sysroot.join("ostree/repo");
    let package_refs: Vec<String> = store_refs(&store).into_keys().filter(|n| n.starts_with("layer/pkg/")).collect();
    assert_eq!(package_refs, ["layer/pkg/deb/slowpost/1.0_amd64"], "the package tree in use is kept");
    // The objects the install wrote and its deployment uses were spared:
    // `ostree fsck` (in `race`) walked both deployments' commits, and the
    // new one runs.
}

/// `layer rollback` during an install (on a machine with two
/// deployments) waits, then rolls back from the install's result: the
/// deployment the install built on is the default again, and the
/// install's own is kept as the rollback.
#[test]
fn rollback_waits_for_an_install() {
    let machine = tiny_machine();
    let deb = slow_deb(machine.dir.path());
    let sysroot = machine.copy("rollback");
    layer_at(&sysroot, &["install", "-y", "tinydata"]).ok();
    let previous = deployed(&sysroot);
    assert_eq!(previous.len(), 2);
    race(&sysroot, &deb, &["rollback"]);
    let listed = deployed(&sysroot);
    assert_eq!(listed[0], previous[0], "rolled back to the deployment the install started from");
    assert_eq!(slow_deployment(&sysroot), 1, "the install's deployment is the rollback");
    let inside = in_deployment(&sysroot, 1, "slowtool; tinydata; cat /etc/slowpost.state").ok();
    assert_eq!(inside, "slow\ntiny\nconfigured configure\n");
    let default = in_deployment(&sysroot, 0, "tinydata; test ! -e /usr/bin/slowtool && echo without").ok();
    assert_eq!(default, "tiny\nwithout\n");
}
