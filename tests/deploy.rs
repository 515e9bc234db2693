//! Sysroots and deployments, checked with the real `ostree admin` where it
//! can read what we write.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

fn deployment_dir(sysroot: &Path, index: usize) -> PathBuf {
    let s = status(sysroot);
    let d = &s["deployments"][index];
    sysroot.join(format!(
        "ostree/deploy/{}/deploy/{}.{}",
        d["stateroot"].as_str().expect("stateroot"),
        d["checksum"].as_str().expect("checksum"),
        d["deployserial"]
    ))
}

/// Commits a new version of the base: a hardlinked checkout of the old
/// one, changed by `script` (run in it), recommitted on the same ref. The
/// script must replace files (rm, then write), as tar and dpkg do: writing
/// into a hardlinked file would write into the store.
fn new_base_version(sysroot: &Path, work: &Path, version: &str, script: &str) -> String {
    let repo = sysroot.join("ostree/repo");
    let co = work.join(format!("co-{version}"));
    layer(&["repo", "checkout", "--repo", p(&repo), "testos/base", p(&co)]).ok();
    sh(&format!("cd {} && {script}", p(&co))).ok();
    commit(
        &repo,
        "testos/base",
        &co,
        &["--link-checkout-speedup", "--add-metadata-string", &format!("version={version}")],
    )
}

/// The main flow on the Debian minbase root: first deployment, user edits
/// in /etc, a new base that changes files the user did and did not edit,
/// rebase; the old deployment is untouched and ostree agrees on the order.
#[test]
fn rebase_keeps_etc_edits_on_minbase() {
    let dir = scratch();
    let sysroot = dir.path().join("sysroot");
    layer_at(&sysroot, &["init", "--stateroot", "debian"]).ok();
    let tree = dir.path().join("tree");
    sh(&format!(
        "cp -al {} {t} && mkdir -p {t}/usr/lib/modules/6.1.0-test && echo k > {t}/usr/lib/modules/6.1.0-test/vmlinuz",
        p(&rich_tree()),
        t = p(&tree)
    ))
    .ok();
    let repo = sysroot.join("ostree/repo");
    let v1 = commit(&repo, "debian/12", &tree, &["--add-metadata-string", "version=12.1"]);
    layer_at(&sysroot, &["rebase", "debian/12"]).ok();
    assert_eq!(deployed(&sysroot), std::slice::from_ref(&v1));
    let d1 = deployment_dir(&sysroot, 0);
    // The compat move: the tree's /etc became /usr/etc, and /etc is a copy.
    assert!(d1.join("usr/etc/passwd").is_file() && d1.join("etc/passwd").is_file());
    let shadow_mode = std::fs::metadata(d1.join("usr/etc/shadow"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
        .expect("shadow");
    // /var went to the stateroot.
    assert!(sysroot.join("ostree/deploy/debian/var/lib/dpkg/status").is_file());
    // The user edits /etc the way editors and tools do (replace, add, delete).
    sh(&format!(
        "cd {e} && rm hostname && echo mine > hostname && echo added > my-new-file && rm issue && mkdir -p my/dir && chmod 750 my",
        e = p(&d1.join("etc"))
    ))
    .ok();
    let before = snapshot(&d1);
    let v2 = {
        let co = dir.path().join("co");
        layer(&["repo", "checkout", "--repo", p(&repo), "debian/12", p(&co)]).ok();
        sh(&format!(
            "cd {c} && rm etc/hostname etc/motd && echo image-host > etc/hostname && echo new-motd > etc/motd && rm usr/bin/dpkg-split",
            c = p(&co)
        ))
        .ok();
        commit(&repo, "debian/12", &co, &["--link-checkout-speedup", "--add-metadata-string", "version=12.2"])
    };
    let out = layer_at(&sysroot, &["rebase", "debian/12"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Changes from the previous deployment"), "{}", out.stderr);
    assert_eq!(deployed(&sysroot), [v2.clone(), v1.clone()], "new default first, the old one as rollback");
    assert_eq!(ostree_deployed(&sysroot), deployed(&sysroot), "ostree admin status lists the same order");
    let d2 = deployment_dir(&sysroot, 0);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(read(&d2.join("etc/hostname")), "mine\n", "the user's edit wins");
    assert_eq!(read(&d2.join("etc/motd")), "new-motd\n", "an untouched file follows the image");
    assert_eq!(read(&d2.join("etc/my-new-file")), "added\n");
    assert!(!d2.join("etc/issue").exists(), "a deletion is kept");
    assert!(d2.join("etc/my/dir").is_dir());
    let mode =
        |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).expect("stat").permissions()) & 0o7777;
    assert_eq!(mode(&d2.join("etc/my")), 0o750);
    assert_eq!(mode(&d2.join("etc/shadow")), shadow_mode, "/etc/shadow keeps its mode");
    assert!(!d2.join("usr/bin/dpkg-split").exists());
    // The old deployment is byte for byte what it was.
    let after = snapshot(&d1);
    assert!(before == after, "the previous deployment changed");
    layer(&["repo", "fsck", "--repo", p(&repo)]).ok();
    ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
    // The deployment runs: its dynamic loader and dpkg work in a chroot.
    let dpkg = sh(&format!("chroot {} /usr/bin/dpkg-query -W -f '${{Package}}\\n' dpkg", p(&d2))).ok();
    assert_eq!(dpkg.trim(), "dpkg");
}

/// The corner cases of ostree's test-admin-deploy-etcmerge-cornercases.sh.
#[test]
fn etc_merge_corner_cases() {
    let dir = scratch();
    let sysroot = small_sysroot(dir.path());
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let etc = deployment_dir(&sysroot, 0).join("etc");
    sh(&format!(
        "cd {e} && rm NetworkManager/nm.conf && echo 'a modified config file' > NetworkManager/nm.conf \
         && mkdir -p a/long/dir/chain a/long/dir/forking && chmod 700 a && chmod 770 a/long && chmod 777 a/long/dir \
         && chmod 707 a/long/dir/chain && chmod 700 a/long/dir/forking && ln -s no-such-file a/link-to-no-such-file \
         && mkfifo fifo-to-ignore && rm -rf testdirectory",
        e = p(&etc)
    ))
    .ok();
    new_base_version(&sysroot, dir.path(), "2", "echo v2 > usr/bin/app2");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let root = deployment_dir(&sysroot, 0);
    let new = root.join("etc");
    let read = |p: &Path| std::fs::read_to_string(p).expect("read");
    assert_eq!(read(&root.join("usr/etc/NetworkManager/nm.conf")), "a default daemon file\n");
    assert_eq!(read(&new.join("NetworkManager/nm.conf")), "a modified config file\n");
    assert!(!new.join("fifo-to-ignore").exists(), "FIFOs are not copied");
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::symlink_metadata(p).expect("stat").permissions()) & 0o777
    };
    for (path, m) in [
        ("a", 0o700),
        ("a/long", 0o770),
        ("a/long/dir", 0o777),
        ("a/long/dir/chain", 0o707),
        ("a/long/dir/forking", 0o700),
    ] {
        assert_eq!(mode(&new.join(path)), m, "{path}");
    }
    assert!(new.join("a/link-to-no-such-file").symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()));
    assert!(root.join("usr/etc/testdirectory").is_dir() && !new.join("testdirectory").exists());

    // A directory the image adds while empty, then fills.
    new_base_version(&sysroot, dir.path(), "3", "mkdir -p usr/etc/initially-empty");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    assert!(deployment_dir(&sysroot, 0).join("etc/initially-empty").is_dir());
    new_base_version(&sysroot, dir.path(), "4", "touch usr/etc/initially-empty/afile usr/etc/initially-empty/bfile");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let etc4 = deployment_dir(&sysroot, 0).join("etc");
    assert!(etc4.join("initially-empty/afile").is_file() && etc4.join("initially-empty/bfile").is_file());

    // A file the user created where the new image puts a directory.
    new_base_version(&sysroot, dir.path(), "5", "mkdir usr/etc/somenewdir");
    sh(&format!("echo 'some content blah' > {}", p(&etc4.join("somenewdir")))).ok();
    let before = deployed(&sysroot);
    let refused = layer_at(&sysroot, &["rebase", "testos/base"]);
    assert_eq!(refused.status, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("somenewdir") && refused.stderr.contains("directory"), "{}", refused.stderr);
    assert_eq!(deployed(&sysroot), before, "a failed merge deploys nothing");
    std::fs::remove_file(etc4.join("somenewdir")).expect("rm");

    // The image drops a directory the user put a file into: the file stays.
    sh(&format!("touch {}", p(&etc4.join("initially-empty/mynewfile")))).ok();
    new_base_version(&sysroot, dir.path(), "6", "rm -rf usr/etc/initially-empty");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let root6 = deployment_dir(&sysroot, 0);
    assert!(!root6.join("usr/etc/initially-empty").exists());
    assert!(root6.join("etc/initially-empty/mynewfile").is_file());
    assert_eq!(mode(&root6.join("etc/shadow")), 0, "/etc/shadow keeps mode 0");
    // /var: filled once from v1, then only tmpfiles.d entries add to it.
    let var = sysroot.join("ostree/deploy/testos/var");
    assert_eq!(std::fs::read_to_string(var.join("lib/app/state")).expect("state"), "state\n");
    assert_eq!(mode(&var.join("lib/app-v1")), 0o750);
    assert_eq!(std::fs::read_link(var.join("usrlocal")).expect("link"), Path::new("../usr/local"));
}

/// Rollback swaps the first two; undeploy and pins; cleanup removes what
/// is not listed; ostree agrees on the order throughout.
#[test]
fn rollback_pins_and_cleanup() {
    let dir = scratch();
    let sysroot = small_sysroot(dir.path());
    let rollback = layer_at(&sysroot, &["rollback"]);
    assert_eq!(rollback.status, 1);
    assert!(rollback.stderr.contains("no deployment"), "{}", rollback.stderr);
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let v1 = deployed(&sysroot)[0].clone();
    let v2 = new_base_version(&sysroot, dir.path(), "2", "rm usr/bin/app && echo 2 > usr/bin/app");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    assert_eq!(deployed(&sysroot), [v2.clone(), v1.clone()]);
    layer_at(&sysroot, &["rollback"]).ok();
    assert_eq!(deployed(&sysroot), [v1.clone(), v2.clone()]);
    assert_eq!(ostree_deployed(&sysroot), [v1.clone(), v2.clone()]);
    let s = status(&sysroot);
    assert_eq!(s["deployments"][0]["default"], true);
    assert_eq!(s["deployments"][1]["rollback"], true);
    layer_at(&sysroot, &["rollback"]).ok();
    assert_eq!(deployed(&sysroot), [v2.clone(), v1.clone()]);

    // Pin the rollback; two more deploys keep it, and drop the unpinned.
    layer_at(&sysroot, &["pin", "1"]).ok();
    assert_eq!(status(&sysroot)["deployments"][1]["pinned"], true);
    let v3 = new_base_version(&sysroot, dir.path(), "3", "rm usr/bin/app && echo 3 > usr/bin/app");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let v4 = new_base_version(&sysroot, dir.path(), "4", "rm usr/bin/app && echo 4 > usr/bin/app");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    assert_eq!(deployed(&sysroot), [v4.clone(), v3.clone(), v1.clone()], "v2 dropped, pinned v1 kept");
    assert_eq!(ostree_deployed(&sysroot), deployed(&sysroot));
    assert!(!sysroot.join(format!("ostree/deploy/testos/deploy/{v2}.0")).exists(), "v2's directory is gone");
    let pinned = status(&sysroot)["deployments"][2]["pinned"].clone();
    assert_eq!(pinned, true);
    layer_at(&sysroot, &["pin", "2", "--unpin"]).ok();
    layer_at(&sysroot, &["undeploy", "2"]).ok();
    assert_eq!(deployed(&sysroot), [v4.clone(), v3.clone()]);
    assert_eq!(layer_at(&sysroot, &["undeploy", "7"]).status, 1);
    // A directory a crash left behind is removed by cleanup.
    let stray = sysroot.join(format!("ostree/deploy/testos/deploy/{v1}.9"));
    std::fs::create_dir_all(stray.join("usr")).expect("stray dir");
    let out = layer_at(&sysroot, &["cleanup"]).ok();
    assert!(!stray.exists(), "{out}");
    let repo = sysroot.join("ostree/repo");
    layer(&["repo", "fsck", "--repo", p(&repo)]).ok();
    ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
    // Pruned: v1's unique content is gone, the deployed commits are whole.
    let log = layer(&["repo", "show", "--repo", p(&repo), &v1]);
    assert_ne!(log.status, 0, "v1 was pruned");
}

/// A second writer waits for the lock, or with --no-wait fails at once.
/// The lock is the one ostree takes, held here by a POSIX lock as
/// ostree's fallback takes it.
#[test]
fn second_writer_waits_or_fails() {
    let dir = scratch();
    let sysroot = small_sysroot(dir.path());
    let lockfile = sysroot.join("ostree/lock");
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(3)",
            p(&lockfile),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().expect("stdout")), &mut line)
        .expect("read");
    assert_eq!(line.trim(), "locked");
    let fail = layer_at(&sysroot, &["rebase", "--no-wait", "testos/base"]);
    assert_eq!(fail.status, 1);
    assert!(fail.stderr.contains("locked"), "{}", fail.stderr);
    let started = std::time::Instant::now();
    let waited = layer_at(&sysroot, &["rebase", "testos/base"]);
    assert_eq!(waited.status, 0, "{}", waited.stderr);
    assert!(waited.stderr.contains("Waiting for the sysroot lock"), "{}", waited.stderr);
    assert!(started.elapsed() >= std::time::Duration::from_millis(500), "it waited for the holder");
    let _ = holder.wait();
    assert_eq!(deployed(&sysroot).len(), 1);
}

/// `layer status` reads a sysroot that `ostree admin deploy` made, and
/// deploys onto it; ostree then lists both in our order.
#[test]
fn reads_and_extends_a_sysroot_made_by_ostree() {
    let dir = scratch();
    let sysroot = dir.path().join("sysroot");
    let s = format!("--sysroot={}", p(&sysroot));
    std::fs::create_dir_all(&sysroot).expect("mkdir");
    ostree(&["admin", "init-fs", p(&sysroot)]).ok();
    ostree(&["admin", "os-init", &s, "testos"]).ok();
    let tree = dir.path().join("tree");
    small_os(&tree, "v1");
    let repo = format!("--repo={}", p(&sysroot.join("ostree/repo")));
    let v1 = ostree(&["commit", &repo, "-b", "testos/base", p(&tree)]).ok().trim().to_owned();
    ostree(&["admin", "deploy", &s, "--os=testos", "testos/base"]).ok();
    let st = status(&sysroot);
    assert_eq!(st["deployments"][0]["checksum"], v1.as_str());
    assert_eq!(st["deployments"][0]["refspec"], "testos/base");
    let v2 = new_base_version(&sysroot, dir.path(), "2", "rm usr/bin/app && echo 2 > usr/bin/app");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    assert_eq!(deployed(&sysroot), [v2.clone(), v1.clone()]);
    assert_eq!(ostree_deployed(&sysroot), [v2, v1]);
    ostree(&["admin", "status", &s]).ok();
    // ostree marks its deployment roots immutable; let the scratch dir go.
    sh(&format!("chattr -i {}/ostree/deploy/testos/deploy/*.0 || true", p(&sysroot))).ok();
}

/// For the crash sweeps: a tiny sysroot with v1 deployed, an /etc edit in
/// it, and v2 committed.
fn sweep_setup(dir: &Path) -> (PathBuf, String, String) {
    let sysroot = sysroot_with(dir, tiny_os);
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let v1 = deployed(&sysroot)[0].clone();
    sh(&format!("rm {e}/motd && echo edited > {e}/motd", e = p(&deployment_dir(&sysroot, 0).join("etc")))).ok();
    let v2 = new_base_version(
        &sysroot,
        dir,
        "2",
        "rm usr/bin/app && echo 2 > usr/bin/app && echo new > usr/etc/new-default",
    );
    (sysroot, v1, v2)
}

/// SIGKILL at every failpoint of a rebase leaves the old default or the
/// new one, fsck clean, nothing half-written listed, the old deployment
/// untouched; rerunning succeeds.
#[cfg(feature = "failpoints")]
#[test]
fn crash_at_every_failpoint() {
    for point in deploy::failpoint::ALL {
        let dir = scratch();
        let (sysroot, v1, v2) = sweep_setup(dir.path());
        let old = deployment_dir(&sysroot, 0);
        let before = snapshot(&old);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_layer"))
            .args(["--sysroot", p(&sysroot), "rebase", "testos/base"])
            .env("FAILPOINTS", format!("{point}=return"))
            .output()
            .expect("layer");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "{point}: killed at the failpoint"
        );
        let listed = deployed(&sysroot);
        assert!(listed[0] == v1 || listed[0] == v2, "{point}: default is old or new: {listed:?}");
        assert_eq!(ostree_deployed(&sysroot), listed, "{point}: ostree agrees");
        for i in 0..listed.len() {
            assert!(deployment_dir(&sysroot, i).join("etc/motd").is_file(), "{point}: deployment {i} is whole");
        }
        assert!(before == snapshot(&old), "{point}: the old deployment changed");
        let repo = sysroot.join("ostree/repo");
        layer(&["repo", "fsck", "--repo", p(&repo)]).ok();
        ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
        layer_at(&sysroot, &["rebase", "testos/base"]).ok();
        assert_eq!(deployed(&sysroot)[0], v2, "{point}: rerun deploys the new base");
        let motd = std::fs::read_to_string(deployment_dir(&sysroot, 0).join("etc/motd")).expect("motd");
        assert_eq!(motd, "edited\n", "{point}: /etc edits survive the crash and the rerun");
    }
}

/// A full disk during a deploy is a clean error: nothing is swapped, and
/// the next run reclaims what was left.
#[test]
fn disk_full_is_a_clean_error() {
    let dir = scratch();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    sh(&format!("mount -t tmpfs -o size=6m tmpfs {}", p(&mnt))).ok();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let sysroot = mnt.join("sysroot");
    layer_at(&sysroot, &["init", "--stateroot", "testos"]).ok();
    let tree = dir.path().join("tree");
    sh(&format!(
        "mkdir -p {t}/usr/etc {t}/usr/bin && echo 'ID=tiny' > {t}/usr/etc/os-release && echo app > {t}/usr/bin/app",
        t = p(&tree)
    ))
    .ok();
    // A 2.5 MiB config file: the object fits, and so does one copy in /etc,
    // but not the second deployment's copy next to the first.
    sh(&format!("head -c 2621440 /dev/urandom > {}/usr/etc/big.conf", p(&tree))).ok();
    commit(&sysroot.join("ostree/repo"), "testos/base", &tree, &[]);
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    let before = deployed(&sysroot);
    let full = layer_at(&sysroot, &["rebase", "testos/base"]);
    assert_eq!(full.status, 2, "{}", full.stderr);
    assert!(full.stderr.contains("No space left on device"), "{}", full.stderr);
    assert_eq!(deployed(&sysroot), before, "nothing was swapped");
    layer(&["repo", "fsck", "--repo", p(&sysroot.join("ostree/repo"))]).ok();
    // The half-made deployment is reclaimed by cleanup.
    layer_at(&sysroot, &["cleanup"]).ok();
    let dirs = std::fs::read_dir(sysroot.join("ostree/deploy/testos/deploy")).expect("ls").count();
    assert_eq!(dirs, 2, "one deployment and its origin remain");
}

/// EIO from syncfs before the swap fails the deploy, and nothing is swapped.
#[test]
fn eio_on_sync_is_a_clean_error() {
    let dir = scratch();
    let sysroot = small_sysroot(dir.path());
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    new_base_version(&sysroot, dir.path(), "2", "rm usr/bin/app && echo 2 > usr/bin/app");
    let before = deployed(&sysroot);
    let out = std::process::Command::new("strace")
        .args([
            "-f",
            "-o",
            "/dev/null",
            "-e",
            "trace=syncfs",
            "-e",
            "inject=syncfs:error=EIO",
            env!("CARGO_BIN_EXE_layer"),
        ])
        .args(["--sysroot", p(&sysroot), "rebase", "testos/base"])
        .output()
        .expect("strace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Input/output error"), "{stderr}");
    assert_eq!(deployed(&sysroot), before, "nothing was swapped");
    layer_at(&sysroot, &["rebase", "testos/base"]).ok();
    assert_eq!(deployed(&sysroot).len(), 2);
}

/// How often `args` (run as `layer ARGS`) calls `syscall`, counted with strace.
fn count_syscalls(syscall: &str, args: &[&str]) -> usize {
    let log = tempfile::NamedTempFile::new().expect("temp file");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", &format!("trace={syscall}"), "-o", p(log.path()), env!("CARGO_BIN_EXE_layer")])
        .args(args)
        .output()
        .expect("strace");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(log.path()).expect("strace log");
    text.lines().filter(|l| l.contains(&format!("{syscall}("))).count()
}

/// SIGKILL at the Nth rename, fsync and syncfs of a rebase, for every N
/// the rebase reaches (strace fault injection): the default is the old or
/// the new deployment, ostree agrees, both fscks pass, and a rerun
/// succeeds with the same result as an uninterrupted run.
#[test]
fn crash_at_every_rename_and_sync_of_rebase() {
    let counting = scratch();
    let (sysroot, _, _) = sweep_setup(counting.path());
    let args = ["--sysroot", p(&sysroot), "rebase", "testos/base"];
    let counts: Vec<(&str, usize)> =
        ["renameat", "renameat2", "fsync", "syncfs"].into_iter().map(|s| (s, count_syscalls(s, &args))).collect();
    assert!(counts.iter().map(|c| c.1).sum::<usize>() >= 8, "the rebase renames and syncs: {counts:?}");
    let mut crashes = 0;
    for (syscall, count) in counts {
        for n in 1..=count {
            let dir = scratch();
            let (sysroot, v1, v2) = sweep_setup(dir.path());
            let old = deployment_dir(&sysroot, 0);
            let before = snapshot(&old);
            let out = std::process::Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={syscall}")])
                .args(["-e", &format!("inject={syscall}:signal=KILL:when={n}"), env!("CARGO_BIN_EXE_layer")])
                .args(["--sysroot", p(&sysroot), "rebase", "testos/base"])
                .output()
                .expect("strace");
            let killed =
                std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(9) || out.status.code() == Some(137);
            assert!(killed, "{syscall} #{n}: killed ({:?})", out.status);
            crashes += 1;
            let listed = deployed(&sysroot);
            assert!(listed[0] == v1 || listed[0] == v2, "{syscall} #{n}: old or new default: {listed:?}");
            assert_eq!(ostree_deployed(&sysroot), listed, "{syscall} #{n}: ostree agrees");
            assert!(before == snapshot(&old), "{syscall} #{n}: the old deployment changed");
            let repo = sysroot.join("ostree/repo");
            layer(&["repo", "fsck", "--repo", p(&repo)]).ok();
            ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
            layer_at(&sysroot, &["rebase", "testos/base"]).ok();
            assert_eq!(deployed(&sysroot)[0], v2, "{syscall} #{n}: rerun deploys the new base");
            let motd = std::fs::read_to_string(deployment_dir(&sysroot, 0).join("etc/motd")).expect("motd");
            assert_eq!(motd, "edited\n", "{syscall} #{n}: the /etc edit survives");
        }
    }
    assert!(crashes >= 8);
}

/// SIGKILL at the Nth rename and fsync of a commit into the sysroot's
/// repository: the ref is the old commit or the new one, fsck passes, and
/// rerunning the commit succeeds.
#[test]
fn crash_at_every_rename_and_sync_of_commit() {
    let counting = scratch();
    let sysroot = sysroot_with(counting.path(), tiny_os);
    let tree = counting.path().join("tree-v2");
    tiny_os(&tree, "v2");
    let repo = sysroot.join("ostree/repo");
    // A fixed timestamp and no parent: a commit that completed before the
    // kill is then the very commit the rerun makes.
    let args =
        ["repo", "commit", "--repo", p(&repo), "--branch", "testos/base", "--timestamp", "1", "--orphan", p(&tree)];
    let counts: Vec<(&str, usize)> =
        ["renameat", "renameat2", "fsync", "syncfs"].into_iter().map(|s| (s, count_syscalls(s, &args))).collect();
    for (syscall, count) in counts {
        for n in 1..=count {
            let dir = scratch();
            let sysroot = sysroot_with(dir.path(), tiny_os);
            let repo = sysroot.join("ostree/repo");
            let old = layer(&["repo", "refs", "--repo", p(&repo), "--json"]).ok();
            let tree = dir.path().join("tree-v2");
            tiny_os(&tree, "v2");
            let out = std::process::Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={syscall}")])
                .args(["-e", &format!("inject={syscall}:signal=KILL:when={n}"), env!("CARGO_BIN_EXE_layer")])
                .args([
                    "repo",
                    "commit",
                    "--repo",
                    p(&repo),
                    "--branch",
                    "testos/base",
                    "--timestamp",
                    "1",
                    "--orphan",
                    p(&tree),
                ])
                .output()
                .expect("strace");
            assert!(!out.status.success(), "{syscall} #{n}: killed");
            let now = layer(&["repo", "refs", "--repo", p(&repo), "--json"]).ok();
            let fsck = layer(&["repo", "fsck", "--repo", p(&repo)]);
            assert_eq!(fsck.status, 0, "{syscall} #{n}: fsck after the crash\n{}", fsck.stdout);
            ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
            let new = commit(&repo, "testos/base", &tree, &["--timestamp", "1", "--orphan"]);
            let after: serde_json::Value =
                serde_json::from_str(&layer(&["repo", "refs", "--repo", p(&repo), "--json"]).ok()).expect("json");
            assert_eq!(after["refs"]["testos/base"], new.as_str(), "{syscall} #{n}: rerun moves the ref");
            // The ref seen right after the crash was the old commit or the new one.
            let now: serde_json::Value = serde_json::from_str(&now).expect("json");
            let old: serde_json::Value = serde_json::from_str(&old).expect("json");
            assert!(
                now["refs"]["testos/base"] == old["refs"]["testos/base"] || now["refs"]["testos/base"] == new.as_str()
            );
            // No staging is left once a transaction ran again.
            let tmp: Vec<_> =
                std::fs::read_dir(repo.join("tmp")).expect("tmp").flatten().map(|e| e.file_name()).collect();
            assert!(tmp.iter().all(|n| !n.to_string_lossy().starts_with("staging-")), "{syscall} #{n}: {tmp:?}");
        }
    }
}
