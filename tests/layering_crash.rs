//! SIGKILL at every named step of `layer install` (SECURITY.md 34): before
//! and after resolving, fetching and importing, through the build
//! (assembly, checkout, database, scripts, commit) and the deploy. After
//! each crash the default deployment is the old one or the new one, the
//! old one is untouched, the store is sound, and rerunning the install
//! succeeds with the same tree as an uninterrupted run.

mod common;

use std::ffi::OsStr;

use common::*;

#[test]
fn crash_at_every_failpoint_of_install() {
    let dir = scratch();
    let repo = apt_repo::AptRepo::serve(
        &dir.path().join("repo"),
        &apt_repo::debs(&["htop", "libnl-3-200", "libnl-genl-3-200", "libncursesw6"]),
    );
    let root = dir.path().join("root");
    sh(&format!("cp -al '{}' '{}'", minbase().display(), root.display())).ok();
    repo.configure(&root);
    let sysroot = imported_sysroot(dir.path(), &root);
    let store = sysroot.join("ostree/repo");

    // The uninterrupted run, pinned so cleanup keeps its commit to compare with.
    layer_at(&sysroot, &["install", "-y", "htop"]).ok();
    let reference = deployed(&sysroot)[0].clone();
    layer_at(&sysroot, &["pin", "0"]).ok();
    layer_at(&sysroot, &["uninstall", "-y", "htop"]).ok();

    let points = layer::layering::FAILPOINTS.iter().chain(compose::failpoint::ALL).chain(deploy::failpoint::ALL);
    for point in points {
        let old = deployed(&sysroot)[0].clone();
        let old_dir = deployment_dir(&sysroot, 0);
        let before = snapshot(&old_dir);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_layer"))
            .arg("--sysroot")
            .arg(&sysroot)
            .args(["install", "-y", "htop"])
            .env("FAILPOINTS", format!("{point}=return"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("layer");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "{point}: killed\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = deployed(&sysroot);
        let new_default = listed[0] != old;
        if new_default {
            let diff = layer(&[
                OsStr::new("repo"),
                OsStr::new("diff"),
                OsStr::new("--repo"),
                store.as_os_str(),
                OsStr::new(&reference),
                OsStr::new(&listed[0]),
            ])
            .ok();
            assert!(diff.is_empty(), "{point}: the new default is the whole new tree: {diff}");
        }
        assert_eq!(ostree_deployed(&sysroot), listed, "{point}: ostree agrees");
        assert!(before == snapshot(&old_dir), "{point}: the old deployment changed");
        layer(&[OsStr::new("repo"), OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();

        // Rerun: it succeeds, and the tree is the uninterrupted run's.
        layer_at(&sysroot, &["install", "-y", "--idempotent", "htop"]).ok();
        let now = deployed(&sysroot)[0].clone();
        let diff = layer(&[
            OsStr::new("repo"),
            OsStr::new("diff"),
            OsStr::new("--repo"),
            store.as_os_str(),
            OsStr::new(&reference),
            OsStr::new(&now),
        ])
        .ok();
        assert!(diff.is_empty(), "{point}: the rerun differs from the uninterrupted run: {diff}");
        layer_at(&sysroot, &["uninstall", "-y", "htop"]).ok();
    }
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();
    let tmp: Vec<_> =
        std::fs::read_dir(store.join("tmp")).expect("tmp").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(tmp.iter().all(|n| !n.to_string_lossy().starts_with("layer-build-")), "builds reclaimed: {tmp:?}");
}

/// For each syscall, the most calls one thread or process of
/// `layer --sysroot S ARGS` makes (strace's injection counts per tracee).
fn max_calls_per_tracee(syscalls: &[&str], sysroot: &std::path::Path, args: &[&str]) -> Vec<(String, usize)> {
    let log = dir_file("strace-count");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", &format!("trace={}", syscalls.join(",")), "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_layer"))
        .arg("--sysroot")
        .arg(sysroot)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("strace");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&log).expect("strace log");
    let _ = std::fs::remove_file(&log);
    let mut counts = std::collections::BTreeMap::<(String, String), usize>::new();
    for line in text.lines() {
        let mut words = line.splitn(2, ' ');
        let (Some(pid), Some(rest)) = (words.next(), words.next()) else { continue };
        let rest = rest.trim_start().trim_start_matches("<... ");
        if let Some(call) = syscalls.iter().find(|s| rest.starts_with(&format!("{s}("))) {
            *counts.entry((call.to_string(), pid.to_owned())).or_default() += 1;
        }
    }
    syscalls
        .iter()
        .map(|s| {
            let max = counts.iter().filter(|((c, _), _)| c == s).map(|(_, n)| *n).max().unwrap_or(0);
            (s.to_string(), max)
        })
        .collect()
}

fn dir_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()))
}

/// SIGKILL at the Nth `renameat`, `renameat2`, `fsync` and `syncfs` of a
/// whole `layer install` (strace fault injection), on a tiny base with a
/// two-package local repository: resolve, fetch, verify, import into the
/// store, assembly, the script sandbox, the commit, the deployment and the
/// swap. Injection counts per thread and per process, so the Nth call of
/// every thread is hit, in `layer` and in the sandbox's processes alike
/// (a sandbox process killed makes the install fail cleanly instead);
/// every N up to the most calls any one of them makes is swept (about 110
/// runs, a minute when the machine is idle).
///
/// After each crash: the default is the old deployment or a deployment of
/// exactly the uninterrupted run's tree, `ostree admin status` agrees, the
/// old deployment is unchanged, `layer repo fsck` and `ostree fsck` pass,
/// and rerunning the install succeeds with the uninterrupted run's tree
/// (same root dirtree and dirmeta checksums, which cover every path,
/// content, mode, owner and xattr), the script's output and the local
/// `/etc` edit in its `/etc`, the old deployment as rollback if the crash
/// came before the swap, and no build left in `repo/tmp`.
#[test]
fn crash_at_every_rename_and_sync_of_install() {
    let machine = tiny_machine();
    sweep_renames_and_syncs(&machine, &machine.template, &["install", "-y", "tinypost"], 1);
}

/// As `crash_at_every_rename_and_sync_of_install`, for `layer rebase` of
/// the layered deployment onto a new base version (the packages are in
/// the store already: the build, its scripts and the deployment), every
/// second N of each syscall (about 35 runs, half a minute when the machine
/// is idle). The stride keeps the suite's time down; it can miss a call
/// that only an even N reaches. The full install sweep above goes through
/// the same build and deployment code at every N.
#[test]
fn crash_at_every_other_rename_and_sync_of_layered_rebase() {
    let machine = tiny_machine();
    let layered = machine.copy("layered");
    layer_at(&layered, &["install", "-y", "tinypost"]).ok();
    let store = layered.join("ostree/repo");
    // Base v2: a changed /usr/etc/motd (the deployment's /etc/motd is a
    // local edit, which must win) and a new file.
    let co = machine.dir.path().join("co");
    let (store, co_s) = (store.display().to_string(), co.display().to_string());
    layer(&["repo", "checkout", "--repo", &store, "debian/base", &co_s]).ok();
    sh(&format!("cd '{co_s}' && rm usr/etc/motd && echo v2 > usr/etc/motd && echo new > usr/bin/v2-tool")).ok();
    layer(&["repo", "commit", "--repo", &store, "--branch", "debian/base", "--link-checkout-speedup", &co_s]).ok();
    sweep_renames_and_syncs(&machine, &layered, &["rebase", "debian/base"], 2);
}

/// Runs `command` on copies of `template` under strace, killed at the Nth
/// call of each syscall for N = 1, 1 + stride, ..., with the checks of
/// `crash_at_every_rename_and_sync_of_install`.
fn sweep_renames_and_syncs(machine: &TinyMachine, template: &std::path::Path, command: &[&str], stride: usize) {
    let started = std::time::Instant::now();
    let syscalls = ["renameat", "renameat2", "fsync", "syncfs"];
    let copy = |name: &str| {
        let sysroot = machine.dir.path().join(name);
        sh(&format!("rm -rf '{s}' && cp -a '{t}' '{s}'", s = sysroot.display(), t = template.display())).ok();
        sysroot
    };

    // The uninterrupted run, which also counts the calls.
    let counting = copy("counting");
    let old = deployed(&counting)[0].clone();
    let counts = max_calls_per_tracee(&syscalls, &counting, command);
    let reference = root_tree(&counting.join("ostree/repo"), &deployed(&counting)[0]);
    assert_ne!(reference, root_tree(&counting.join("ostree/repo"), &old), "the command changes the tree");
    assert!(counts.iter().map(|c| c.1).sum::<usize>() >= 10, "the command renames and syncs: {counts:?}");
    eprintln!("calls to sweep: {counts:?}");
    let before = snapshot(&deployment_dir(&counting, 1));

    let (mut killed, mut failed, mut completed) = (0, 0, 0);
    for (syscall, count) in &counts {
        for n in (1..=*count).step_by(stride) {
            let what = format!("{syscall} #{n}");
            let sysroot = copy("run");
            let store = sysroot.join("ostree/repo");
            let old_dir = deployment_dir(&sysroot, 0);
            let out = std::process::Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={syscall}")])
                .args(["-e", &format!("inject={syscall}:signal=KILL:when={n}"), env!("CARGO_BIN_EXE_layer")])
                .arg("--sysroot")
                .arg(&sysroot)
                .args(command)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("strace");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(9) || out.status.code() == Some(137) {
                killed += 1;
            } else if out.status.success() {
                completed += 1;
            } else {
                // A sandbox process was killed: a clean failure.
                assert!(stderr.contains("error"), "{what}: a failure says why\n{stderr}");
                failed += 1;
            }
            let listed = deployed(&sysroot);
            assert!(
                listed[0] == old || root_tree(&store, &listed[0]) == reference,
                "{what}: the default is the old tree or the whole new one: {listed:?}"
            );
            assert_eq!(ostree_deployed(&sysroot), listed, "{what}: ostree agrees");
            assert!(before == snapshot(&old_dir), "{what}: the old deployment changed");
            layer(&[OsStr::new("repo"), OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();
            ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();

            // Rerun: it succeeds, and the tree is the uninterrupted run's.
            let mut rerun = command.to_vec();
            if command[0] == "install" {
                rerun.insert(1, "--idempotent");
            }
            layer_at(&sysroot, &rerun).ok();
            let now = deployed(&sysroot);
            assert_eq!(root_tree(&store, &now[0]), reference, "{what}: the rerun's tree");
            if listed[0] == old {
                assert_eq!(now.get(1), Some(&old), "{what}: the old deployment is the rollback");
            }
            let etc = deployment_dir(&sysroot, 0).join("etc");
            let read = |name: &str| std::fs::read_to_string(etc.join(name)).unwrap_or_default();
            assert_eq!(read("motd"), "edited\n", "{what}: the /etc edit survives");
            assert_eq!(read("tinypost.state"), "configured configure\n", "{what}: the postinst ran");
            let tmp: Vec<_> =
                std::fs::read_dir(store.join("tmp")).expect("tmp").flatten().map(|e| e.file_name()).collect();
            assert!(tmp.iter().all(|n| !n.to_string_lossy().starts_with("layer-build-")), "{what}: {tmp:?}");
        }
    }
    eprintln!("{killed} killed, {failed} failed cleanly, {completed} completed in {:?}", started.elapsed());
    assert!(killed >= 10, "the sweep kills the command: {killed} kills");
}
