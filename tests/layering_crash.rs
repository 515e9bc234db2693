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

/// `layer --sysroot SYSROOT COMMAND` under strace, killed by SIGKILL at
/// the `n`th call of `syscall` (counted per tracee, as strace injects).
fn killed_at_call(syscall: &str, n: usize, sysroot: &std::path::Path, command: &[&str]) -> std::process::Output {
    std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={syscall}")])
        .args(["-e", &format!("inject={syscall}:signal=KILL:when={n}"), env!("CARGO_BIN_EXE_layer")])
        .arg("--sysroot")
        .arg(sysroot)
        .args(command)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("strace")
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

/// A copy of the tiny machine with tinypost layered, whose base ref has a
/// new commit: a changed `/usr/etc/motd` (the deployment's `/etc/motd` is
/// a local edit, which must win) and a new file. `layer rebase
/// debian/base` then rebuilds the layered deployment on it, with the
/// packages in the store already: the build, its scripts and the
/// deployment.
fn layered_with_new_base(machine: &TinyMachine) -> std::path::PathBuf {
    let layered = machine.copy("layered");
    layer_at(&layered, &["install", "-y", "tinypost"]).ok();
    let store = layered.join("ostree/repo");
    let co = machine.dir.path().join("co");
    let (store, co_s) = (store.display().to_string(), co.display().to_string());
    layer(&["repo", "checkout", "--repo", &store, "debian/base", &co_s]).ok();
    sh(&format!("cd '{co_s}' && rm usr/etc/motd && echo v2 > usr/etc/motd && echo new > usr/bin/v2-tool")).ok();
    layer(&["repo", "commit", "--repo", &store, "--branch", "debian/base", "--link-checkout-speedup", &co_s]).ok();
    layered
}

/// As `crash_at_every_rename_and_sync_of_install`, for `layer rebase` of
/// the layered deployment onto a new base version, at every N of each
/// syscall.
#[test]
fn crash_at_every_rename_and_sync_of_layered_rebase() {
    let machine = tiny_machine();
    let layered = layered_with_new_base(&machine);
    sweep_renames_and_syncs(&machine, &layered, &["rebase", "debian/base"], 1);
}

/// SIGKILL at every named step (failpoint) of `layer rebase` of the
/// layered deployment onto a new base version, with the checks of
/// `crash_at_every_rename_and_sync_of_install`. A step the rebase does
/// not reach (it fetches nothing) lets it complete, which is checked the
/// same way.
#[test]
fn crash_at_every_failpoint_of_layered_rebase() {
    let machine = tiny_machine();
    let template = layered_with_new_base(&machine);
    let command = ["rebase", "debian/base"];
    let copy = |name: &str| copy_sysroot(&template, &machine.dir.path().join(name));
    let counting = copy("uninterrupted");
    let old = deployed(&counting)[0].clone();
    layer_at(&counting, &command).ok();
    let reference = root_tree(&counting.join("ostree/repo"), &deployed(&counting)[0]);
    assert_ne!(reference, root_tree(&counting.join("ostree/repo"), &old), "the rebase changes the tree");
    let before = snapshot(&deployment_dir(&counting, 1));

    let mut killed = 0;
    let points = layer::layering::FAILPOINTS.iter().chain(compose::failpoint::ALL).chain(deploy::failpoint::ALL);
    for point in points {
        let sysroot = copy("run");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_layer"))
            .arg("--sysroot")
            .arg(&sysroot)
            .args(command)
            .env("FAILPOINTS", format!("{point}=return"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("layer");
        if let Outcome::Killed = check_crash_and_rerun(&sysroot, &command, &out, point, &old, &reference, &before) {
            killed += 1;
        }
    }
    assert!(killed >= 10, "the rebase reaches most failpoints: {killed} kills");
}

/// Runs `command` on copies of `template` under strace, killed at the Nth
/// call of each syscall for N = 1, 1 + stride, ..., with the checks of
/// `crash_at_every_rename_and_sync_of_install`.
fn sweep_renames_and_syncs(machine: &TinyMachine, template: &std::path::Path, command: &[&str], stride: usize) {
    let started = std::time::Instant::now();
    let syscalls = ["renameat", "renameat2", "fsync", "syncfs"];
    let copy = |name: &str| copy_sysroot(template, &machine.dir.path().join(name));

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
            let out = killed_at_call(syscall, n, &sysroot, command);
            match check_crash_and_rerun(&sysroot, command, &out, &what, &old, &reference, &before) {
                Outcome::Killed => killed += 1,
                Outcome::Failed => failed += 1,
                Outcome::Completed => completed += 1,
            }
        }
    }
    eprintln!("{killed} killed, {failed} failed cleanly, {completed} completed in {:?}", started.elapsed());
    assert!(killed >= 10, "the sweep kills the command: {killed} kills");
}

/// How a crashed (or not) run ended.
enum Outcome {
    Killed,
    /// A process of its sandbox was killed: a clean failure.
    Failed,
    /// The kill point was not reached.
    Completed,
}

/// The checks after each crash of `layer --sysroot SYSROOT COMMAND` (which
/// ended as `out`): the default is `old` or a deployment of exactly the
/// uninterrupted run's `reference` tree, `ostree admin status` agrees,
/// the old deployment's files are still `before`, `layer repo fsck` and
/// `ostree fsck` pass; then the rerun succeeds with the `reference`
/// tree, the old deployment as rollback if the crash came before the
/// swap, the local `/etc/motd` edit and tinypost's postinst output in its
/// `/etc`, and no build left in `repo/tmp`.
fn check_crash_and_rerun(
    sysroot: &std::path::Path,
    command: &[&str],
    out: &std::process::Output,
    what: &str,
    old: &str,
    reference: &str,
    before: &std::collections::BTreeMap<String, Node>,
) -> Outcome {
    let store = sysroot.join("ostree/repo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let outcome =
        if std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(9) || out.status.code() == Some(137) {
            Outcome::Killed
        } else if out.status.success() {
            Outcome::Completed
        } else {
            assert!(stderr.contains("error"), "{what}: a failure says why\n{stderr}");
            Outcome::Failed
        };
    let listed = deployed(sysroot);
    let old_index = listed.iter().position(|d| d == old).expect("the old deployment is kept");
    assert!(
        listed[0] == old || root_tree(&store, &listed[0]) == reference,
        "{what}: the default is the old tree or the whole new one: {listed:?}"
    );
    assert_eq!(ostree_deployed(sysroot), listed, "{what}: ostree agrees");
    assert!(*before == snapshot(&deployment_dir(sysroot, old_index)), "{what}: the old deployment changed");
    layer(&[OsStr::new("repo"), OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();
    ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();

    // Rerun: it succeeds, and the tree is the uninterrupted run's.
    let mut rerun = command.to_vec();
    if command[0] == "install" {
        rerun.insert(1, "--idempotent");
    }
    layer_at(sysroot, &rerun).ok();
    let now = deployed(sysroot);
    assert_eq!(root_tree(&store, &now[0]), reference, "{what}: the rerun's tree");
    if listed[0] == old {
        assert_eq!(now.get(1).map(String::as_str), Some(old), "{what}: the old deployment is the rollback");
    }
    let etc = deployment_dir(sysroot, 0).join("etc");
    let read = |name: &str| std::fs::read_to_string(etc.join(name)).unwrap_or_default();
    assert_eq!(read("motd"), "edited\n", "{what}: the /etc edit survives");
    assert_eq!(read("tinypost.state"), "configured configure\n", "{what}: the postinst ran");
    let tmp: Vec<_> = std::fs::read_dir(store.join("tmp")).expect("tmp").flatten().map(|e| e.file_name()).collect();
    assert!(tmp.iter().all(|n| !n.to_string_lossy().starts_with("layer-build-")), "{what}: {tmp:?}");
    outcome
}

/// A `.deb` (built with `dpkg-deb --root-owner-group`) with a setuid-root
/// `/usr/bin/suidtool` (4755), a setgid `/usr/bin/sgidtool` (2755), a plain
/// file, and a postinst, so the build checks the tree out and runs it.
fn setuid_deb(dir: &std::path::Path) -> std::path::PathBuf {
    let tree = dir.join("suidpkg");
    let deb = dir.join("suidpkg_1.0_amd64.deb");
    sh(&format!(
        r#"
        t="{t}"
        rm -rf "$t" && mkdir -p "$t/DEBIAN" "$t/usr/bin" "$t/usr/share/suidpkg"
        printf 'Package: suidpkg\nVersion: 1.0\nArchitecture: amd64\nMaintainer: layer tests <test@example.invalid>\nDescription: setuid and setgid files\n' > "$t/DEBIAN/control"
        printf '#!/bin/sh\nset -e\necho configured > /etc/suidpkg.state\n' > "$t/DEBIAN/postinst"
        printf '#!/bin/sh\necho suid\n' > "$t/usr/bin/suidtool"
        printf '#!/bin/sh\necho sgid\n' > "$t/usr/bin/sgidtool"
        echo data > "$t/usr/share/suidpkg/data"
        find "$t" -type d -exec chmod 0755 {{}} +
        chmod 0755 "$t/DEBIAN/postinst" && chmod 0644 "$t/usr/share/suidpkg/data"
        chmod 4755 "$t/usr/bin/suidtool" && chmod 2755 "$t/usr/bin/sgidtool"
        dpkg-deb --root-owner-group -Zgzip --build "$t" "{deb}" >/dev/null
        "#,
        t = tree.display(),
        deb = deb.display()
    ))
    .ok();
    deb
}

/// The content checksum `ostree checksum` computes for `path` (its bytes,
/// owner, mode and xattrs): an object's name, if the object is whole.
fn ostree_checksum(path: &std::path::Path) -> String {
    ostree(&[OsStr::new("checksum"), path.as_os_str()]).ok().trim().to_owned()
}

/// Every setuid or setgid file under `sysroot` must be a whole object:
/// in `objects/`, an object whose name is its checksum (`ostree
/// checksum`); anywhere else (the deployments, a build's checkout in
/// `repo/tmp`), a hardlink of such an object; in a transaction's staging
/// directory, a complete object whose name is its checksum (setuid bits
/// are set last) in a directory only root can enter. Returns how many were
/// staged.
#[track_caller]
fn require_whole_setuid_objects(sysroot: &std::path::Path, what: &str) -> usize {
    use std::os::unix::fs::MetadataExt;
    let out = sh(&format!("find '{}' -type f -perm /6000", sysroot.display())).ok();
    let store = sysroot.join("ostree/repo");
    let mut objects = std::collections::BTreeSet::new();
    let mut elsewhere = Vec::new();
    let mut staged = 0;
    for path in out.lines().map(std::path::PathBuf::from) {
        let md = std::fs::symlink_metadata(&path).expect("stat");
        let name_of = |p: &std::path::Path| {
            let file = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".file"));
            let prefix = p.parent().and_then(|d| d.file_name()).and_then(|n| n.to_str());
            file.zip(prefix).map(|(f, d)| format!("{d}{f}"))
        };
        if let Ok(rel) = path.strip_prefix(store.join("objects")) {
            let name = name_of(rel).unwrap_or_else(|| panic!("{what}: a setuid file in objects/: {}", path.display()));
            assert_eq!(ostree_checksum(&path), name, "{what}: the setuid object {} is whole", path.display());
            objects.insert((md.dev(), md.ino()));
        } else if let Ok(rel) = path.strip_prefix(store.join("tmp")) {
            let staging = rel.components().next().expect("a directory of tmp").as_os_str().to_string_lossy();
            if staging.starts_with("staging-") {
                let dir = std::fs::metadata(store.join("tmp").join(&*staging)).expect("staging dir");
                assert_eq!((dir.mode() & 0o7777, dir.uid()), (0o700, 0), "{what}: {staging} is root's alone");
                let name = name_of(&path).unwrap_or_else(|| panic!("{what}: a staged setuid file {}", path.display()));
                assert_eq!(ostree_checksum(&path), name, "{what}: the staged setuid file {} is whole", path.display());
                staged += 1;
            } else {
                elsewhere.push((path, md));
            }
        } else {
            elsewhere.push((path, md));
        }
    }
    for (path, md) in elsewhere {
        assert!(
            objects.contains(&(md.dev(), md.ino())),
            "{what}: the setuid/setgid file {} is not a hardlink of a whole object",
            path.display()
        );
    }
    staged
}

/// SECURITY.md 10: setuid/setgid files are only ever whole objects. A
/// local `.deb` with a setuid-root and a setgid file (and a postinst) is
/// installed on a tiny base under strace, killed (SIGKILL) at the Nth
/// call of each syscall that writes an object after creating it:
/// `copy_file_range` (its bytes), `fsetxattr` (none here: a `.deb` has no
/// xattrs), `fchmod` (the setuid bit, set last) and `utimensat` (the time,
/// after the bit) at every N up to the most calls one thread makes; and
/// `fchown`, `renameat2` (publishing into `objects/`) and `linkat` (the
/// build's checkout) at every second N (about 80 runs, 40 s when the
/// machine is idle).
///
/// After each kill, every setuid or setgid file anywhere in the sysroot
/// is a whole object (see `require_whole_setuid_objects`); the default is
/// the old deployment or the uninterrupted run's tree, the old one is
/// unchanged, and `ostree fsck` passes. The rerun succeeds with the
/// uninterrupted run's tree, `suidtool` is 4755 and `sgidtool` 2755,
/// root:root, in the new deployment, and no staging or build is left.
#[test]
fn crash_while_writing_setuid_objects_leaves_only_whole_ones() {
    use std::os::unix::fs::MetadataExt;
    let started = std::time::Instant::now();
    let machine = tiny_machine();
    let deb = setuid_deb(machine.dir.path());
    let deb_s = deb.display().to_string();
    let command = ["install", "-y", deb_s.as_str()];
    // Every N for the calls that write an object's bytes and metadata;
    // every second N for those that publish or link it (and chown the
    // checkouts' directories), whose every N the rename sweep above and
    // the deploy tests cover without setuid files.
    let strides = [
        ("copy_file_range", 1),
        ("fsetxattr", 1),
        ("fchmod", 1),
        ("utimensat", 1),
        ("fchown", 2),
        ("renameat2", 2),
        ("linkat", 2),
    ];
    let syscalls: Vec<&str> = strides.iter().map(|(s, _)| *s).collect();

    let counting = machine.copy("counting");
    let old = deployed(&counting)[0].clone();
    let counts = max_calls_per_tracee(&syscalls, &counting, &command);
    let reference = root_tree(&counting.join("ostree/repo"), &deployed(&counting)[0]);
    eprintln!("calls to sweep: {counts:?}");
    assert!(counts.iter().any(|(s, n)| s == "fchmod" && *n >= 2), "the setuid bits are set: {counts:?}");
    let modes = in_deployment(&counting, 0, "stat -c '%a %u %g' /usr/bin/suidtool /usr/bin/sgidtool").ok();
    assert_eq!(modes, "4755 0 0\n2755 0 0\n", "the uninterrupted install");
    let before = snapshot(&deployment_dir(&counting, 1));

    let (mut killed, mut failed, mut completed, mut staged) = (0, 0, 0, 0);
    for ((syscall, count), (_, stride)) in counts.iter().zip(strides) {
        for n in (1..=*count).step_by(stride) {
            let what = format!("{syscall} #{n}");
            let sysroot = machine.copy("run");
            let store = sysroot.join("ostree/repo");
            let old_dir = deployment_dir(&sysroot, 0);
            let out = killed_at_call(syscall, n, &sysroot, &command);
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
            staged += require_whole_setuid_objects(&sysroot, &what);
            let listed = deployed(&sysroot);
            assert!(
                listed[0] == old || root_tree(&store, &listed[0]) == reference,
                "{what}: the default is the old tree or the whole new one: {listed:?}"
            );
            assert!(before == snapshot(&old_dir), "{what}: the old deployment changed");
            ostree(&[OsStr::new("fsck"), OsStr::new("--repo"), store.as_os_str()]).ok();

            // Rerun: it succeeds, with whole setuid and setgid files.
            layer_at(&sysroot, &["install", "-y", "--idempotent", &deb_s]).ok();
            assert_eq!(root_tree(&store, &deployed(&sysroot)[0]), reference, "{what}: the rerun's tree");
            let file = |name: &str| {
                let md = std::fs::symlink_metadata(deployment_dir(&sysroot, 0).join(name)).expect("installed");
                (md.mode() & 0o7777, md.uid(), md.gid())
            };
            assert_eq!(file("usr/bin/suidtool"), (0o4755, 0, 0), "{what}: suidtool");
            assert_eq!(file("usr/bin/sgidtool"), (0o2755, 0, 0), "{what}: sgidtool");
            assert_eq!(require_whole_setuid_objects(&sysroot, &what), 0, "{what}: no staging after the rerun");
            let tmp: Vec<_> =
                std::fs::read_dir(store.join("tmp")).expect("tmp").flatten().map(|e| e.file_name()).collect();
            assert!(
                tmp.iter().all(|n| !n.to_string_lossy().starts_with("layer-build-")
                    && !n.to_string_lossy().starts_with("staging-")),
                "{what}: {tmp:?}"
            );
        }
    }
    eprintln!(
        "{killed} killed, {failed} failed cleanly, {completed} completed, {staged} whole setuid objects left staged, in {:?}",
        started.elapsed()
    );
    assert!(killed >= 10, "the sweep kills the command: {killed} kills");
}
