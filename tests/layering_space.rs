//! A full disk and a corrupt store under `layer install`, `layer rebase`
//! and `layer deploy` (SECURITY.md 35 and 38), on the tiny base of
//! `tiny_machine`: each failure is a clean error that names what failed,
//! deploys nothing, leaves the old default and `/etc` as they were, and
//! the same command succeeds once space is freed or the object repaired.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

/// Unmounts a tmpfs when the test ends, passed or not.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let st = rustix::fs::statvfs(path).expect("statvfs");
    st.f_bavail * st.f_frsize
}

/// Names in `dir` (empty if it does not exist).
fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// `len` bytes of text that gzip cannot shrink much (6 bits a byte).
fn incompressible_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x >> 58) as usize] as char
        })
        .collect()
}

/// Installs `tinypost` on `sysroot` (on the tmpfs `mnt`) with a filler
/// file leaving `free_kib` KiB free, for each value in turn, until one
/// succeeds. Checks each failure (see `install_out_of_space_is_a_clean_error`)
/// and returns their messages.
fn install_while_full(mnt: &Path, sysroot: &Path, levels: &[u64]) -> Vec<String> {
    let store = sysroot.join("ostree/repo");
    let old = deployed(sysroot);
    let old_dir = deployment_dir(sysroot, 0);
    let before = snapshot(&old_dir);
    let refs_before = store_refs(&store);
    let filler = mnt.join("filler");
    let mut failures = Vec::new();
    let mut done = false;
    for free_kib in levels {
        let _ = std::fs::remove_file(&filler);
        let fill = free_bytes(mnt).saturating_sub(free_kib << 10);
        sh(&format!("fallocate -l {fill} {}", p(&filler))).ok();
        let run = layer_at(sysroot, &["install", "-y", "tinypost"]);
        if run.status == 0 {
            done = true;
            break;
        }
        let what = format!("{free_kib} KiB free");
        // 2 would be right (the machine failed, not the request), but an
        // ENOSPC while a package is read into the store is reported as a
        // bad package, 1; either is an error, not a crash.
        assert!([1, 2].contains(&run.status), "{what}: an error, not a crash\n{}", run.stderr);
        assert!(run.stderr.contains("No space left on device"), "{what}: {}", run.stderr);
        // The message says which step and which file: "<action> `<path>`".
        let error = run.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default().to_owned();
        assert!(error.contains('`'), "{what}: names the path\n{}", run.stderr);
        assert_eq!(deployed(sysroot), old, "{what}: nothing deployed");
        assert_eq!(ostree_deployed(sysroot), old, "{what}: ostree agrees");
        assert!(before == snapshot(&old_dir), "{what}: the old deployment changed");
        // Every ref is unchanged. A failure after the deployment was
        // staged may leave `ostree/B/S/i` refs for the boot version that was
        // never swapped in (GC roots of the unlisted deployment, written
        // before the swap as ostree does); the next cleanup drops them.
        let now = store_refs(&store);
        for (name, commit) in &refs_before {
            assert_eq!(now.get(name), Some(commit), "{what}: ref {name} unchanged");
        }
        let added: Vec<_> = now.keys().filter(|n| !refs_before.contains_key(*n)).collect();
        assert!(added.iter().all(|n| n.starts_with("ostree/")), "{what}: refs added: {added:?}");
        layer(&["repo", "fsck", "--repo", p(&store)]).ok();
        ostree(&["fsck", &format!("--repo={}", p(&store))]).ok();
        let tmp = names(&store.join("tmp"));
        assert!(
            tmp.iter().all(|n| !n.starts_with("staging-") && !n.starts_with("layer-build-")),
            "{what}: staging reclaimed: {tmp:?}"
        );
        let partial = names(&sysroot.join("ostree/deploy/debian/var/cache/layer/packages/tmp"));
        assert!(partial.is_empty(), "{what}: no partial download: {partial:?}");
        failures.push(format!("{what}: {error}"));
    }
    let _ = std::fs::remove_file(&filler);
    if !done {
        layer_at(sysroot, &["install", "-y", "tinypost"]).ok();
    }
    let now = deployed(sysroot);
    assert_eq!(now[1], old[0], "the old default is the rollback");
    failures
}

/// ENOSPC at every stage of an install: the sysroot sits on a tmpfs that
/// a filler file leaves a little more space each time, so that the
/// install runs out of it in a different step each time. First with a
/// 3 MiB file in a dependency, which fills the disk while downloading,
/// spooling and importing the package into the store; then, with the
/// packages imported and uninstalled again, from 16 KiB free up, which
/// fills it in the build and the deployment. Each attempt is a clean
/// error saying what it was writing when the disk was full, deploys
/// nothing, leaves the old default, its files and the refs unchanged and
/// both fscks clean, and leaves no staging: no `staging-*` or
/// `layer-build-*` in `repo/tmp`, no partial download. With the filler
/// gone, the install succeeds, with the tree an install with room to
/// spare makes.
#[test]
fn install_out_of_space_is_a_clean_error() {
    let machine = tiny_machine_with(&incompressible_text(3 << 20));
    let roomy = machine.copy("roomy");
    layer_at(&roomy, &["install", "-y", "tinypost"]).ok();
    let reference = root_tree(&roomy.join("ostree/repo"), &deployed(&roomy)[0]);
    std::fs::remove_dir_all(&roomy).expect("rm");

    let mnt = machine.dir.path().join("small");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    sh(&format!("mount -t tmpfs -o size=32m tmpfs {}", p(&mnt))).ok();
    let _guard = Unmount(mnt.clone());
    let sysroot = machine.copy_to(&mnt.join("sysroot"));
    let store = sysroot.join("ostree/repo");

    let importing = install_while_full(&mnt, &sysroot, &[128, 1024, 2048, 3072, 4096, 5120, 6144, 8192, 12288]);
    eprintln!("failures while importing:\n{}", importing.join("\n"));
    assert_eq!(root_tree(&store, &deployed(&sysroot)[0]), reference, "the tree of a roomy install");
    for step in ["package cache", "spooling", "writing object"] {
        assert!(importing.iter().any(|f| f.contains(step)), "out of space at `{step}`: {importing:#?}");
    }

    layer_at(&sysroot, &["uninstall", "-y", "tinypost"]).ok();
    let levels: Vec<u64> = (1..=64).map(|i| 16 * i).collect();
    let building = install_while_full(&mnt, &sysroot, &levels);
    eprintln!("failures while building and deploying:\n{}", building.join("\n"));
    assert!(building.len() >= 2, "out of space in the build and the deployment: {building:#?}");
    assert_eq!(root_tree(&store, &deployed(&sysroot)[0]), reference, "the tree of a roomy install");
    layer(&["repo", "fsck", "--repo", p(&store)]).ok();
    ostree(&["fsck", &format!("--repo={}", p(&store))]).ok();

    // What the failed attempts left in the deploy directory, cleanup
    // reclaims: one directory and one origin per deployment remain.
    layer_at(&sysroot, &["cleanup"]).ok();
    let left = names(&sysroot.join("ostree/deploy/debian/deploy"));
    assert_eq!(left.len(), 2 * deployed(&sysroot).len(), "only the deployments remain: {left:?}");
    let roots: Vec<String> = store_refs(&store).into_keys().filter(|n| n.starts_with("ostree/")).collect();
    assert_eq!(roots.len(), deployed(&sysroot).len(), "one GC root per deployment: {roots:?}");
}

/// The content object of `path` in `commit`, and its file under `objects/`.
fn object_of(store: &Path, commit: &str, path: &str) -> (String, PathBuf) {
    let out = ostree(&["ls", &format!("--repo={}", p(store)), "-C", commit, path]).ok();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.len(), 6, "ostree ls -C: {out}");
    let csum = words[4].to_owned();
    let file = store.join(format!("objects/{}/{}.file", &csum[..2], &csum[2..]));
    assert!(file.is_file(), "{}", file.display());
    (csum, file)
}

/// How an object is damaged, and how the test puts it back.
#[derive(Clone, Copy, Debug)]
enum Damage {
    FlipByte,
    Truncate,
    /// A mode change through a hardlinked checkout of the object.
    ChangeMode,
}

/// Damages the object `file` (or, for a mode change, `link`, a hardlink
/// of it in a deployment) and returns how to undo it.
fn damage(how: Damage, file: &Path, link: &Path) -> impl FnOnce() {
    let original = std::fs::read(file).expect("read object");
    let mode = std::fs::metadata(file).expect("stat").permissions().mode();
    match how {
        Damage::FlipByte => {
            let mut bytes = original.clone();
            bytes[0] ^= 0x20;
            // In place: the object keeps its inode and its other links.
            std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
                .expect("write object");
        }
        Damage::Truncate => {
            std::fs::OpenOptions::new().write(true).open(file).and_then(|f| f.set_len(1)).expect("truncate");
        }
        Damage::ChangeMode => {
            assert_eq!(
                std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(link).expect("stat")),
                std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(file).expect("stat")),
                "{} is a hardlink of the object",
                link.display()
            );
            std::fs::set_permissions(link, std::fs::Permissions::from_mode(0o4777)).expect("chmod");
        }
    }
    let file = file.to_owned();
    move || {
        std::fs::write(&file, &original).expect("restore object");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("restore mode");
    }
}

/// Checks a refused deploy: a clean error naming the object, nothing
/// deployed, and fsck naming the same object (and only it).
#[track_caller]
fn assert_refused(run: &Run, what: &str, sysroot: &Path, old: &[String], csum: &str) {
    assert_eq!(run.status, 2, "{what}: refused\n{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("file object {csum} is corrupt")),
        "{what}: the error names the object\n{}",
        run.stderr
    );
    assert_eq!(deployed(sysroot), old, "{what}: nothing deployed");
    assert_eq!(ostree_deployed(sysroot), old, "{what}: ostree agrees");
    let store = sysroot.join("ostree/repo");
    let fsck = layer(&["repo", "fsck", "--repo", p(&store)]);
    assert_ne!(fsck.status, 0, "{what}: fsck sees the damage");
    let bad: Vec<&str> = fsck.stdout.lines().filter(|l| l.starts_with("corrupt")).collect();
    assert!(bad.len() == 1 && bad[0].contains(csum), "{what}: fsck names the object, and only it: {}", fsck.stdout);
    let tmp = names(&store.join("tmp"));
    assert!(tmp.iter().all(|n| !n.starts_with("staging-") && !n.starts_with("layer-build-")), "{what}: {tmp:?}");
}

/// `layer rebase` to a commit with a flipped byte in an object, a
/// truncated object, or an object whose mode was changed through a
/// hardlinked checkout, and `layer deploy COMMIT` to it, are refused with
/// an error naming the object; nothing is deployed, and once the object
/// is repaired both succeed.
#[test]
fn deploying_a_corrupt_commit_is_refused() {
    let machine = tiny_machine();
    for how in [Damage::FlipByte, Damage::Truncate, Damage::ChangeMode] {
        for verb in ["rebase", "deploy"] {
            let what = format!("{verb} with {how:?}");
            let sysroot = machine.copy("run");
            let store = sysroot.join("ostree/repo");
            let old = deployed(&sysroot);
            // v2 of the base: a changed motd (an object only v2 has) and
            // the rest shared with v1, whose deployment hardlinks it.
            let co = machine.dir.path().join("co");
            let _ = std::fs::remove_dir_all(&co);
            layer(&["repo", "checkout", "--repo", p(&store), "debian/base", p(&co)]).ok();
            sh(&format!("rm {c}/usr/etc/motd && echo v2 > {c}/usr/etc/motd", c = p(&co))).ok();
            let v2 = commit(&store, "debian/base", &co, &["--link-checkout-speedup"]);
            let (path, link) = match how {
                Damage::ChangeMode => ("/usr/etc/os-release", deployment_dir(&sysroot, 0).join("usr/etc/os-release")),
                _ => ("/usr/etc/motd", PathBuf::new()),
            };
            let (csum, file) = object_of(&store, &v2, path);
            let before = snapshot(&deployment_dir(&sysroot, 0));
            let repair = damage(how, &file, &link);
            let damaged = snapshot(&deployment_dir(&sysroot, 0));
            let args: Vec<&str> = match verb {
                "rebase" => vec!["rebase", "debian/base"],
                _ => vec!["deploy", "-y", &v2],
            };
            let run = layer_at(&sysroot, &args);
            assert_refused(&run, &what, &sysroot, &old, &csum);
            assert!(damaged == snapshot(&deployment_dir(&sysroot, 0)), "{what}: the old deployment changed");
            repair();
            assert!(before == snapshot(&deployment_dir(&sysroot, 0)), "{what}: repaired");
            layer_at(&sysroot, &args).ok();
            assert_eq!(deployed(&sysroot)[0], v2, "{what}: deployed once repaired");
            let motd = deployment_dir(&sysroot, 0).join("usr/etc/motd");
            assert_eq!(std::fs::read_to_string(motd).expect("motd"), "v2\n");
            layer(&["repo", "fsck", "--repo", p(&store)]).ok();
            ostree(&["fsck", &format!("--repo={}", p(&store))]).ok();
        }
    }
}

/// A layered install onto a base with a corrupt object (a flipped byte in
/// a base file that the new tree keeps) is refused with an error naming
/// the object, and deploys nothing; repaired, the install succeeds.
#[test]
fn installing_onto_a_corrupt_base_is_refused() {
    let machine = tiny_machine();
    let sysroot = machine.copy("run");
    let store = sysroot.join("ostree/repo");
    let old = deployed(&sysroot);
    let (csum, file) = object_of(&store, &old[0], "/usr/etc/os-release");
    let repair = damage(Damage::FlipByte, &file, Path::new(""));
    let run = layer_at(&sysroot, &["install", "-y", "tinypost"]);
    assert_refused(&run, "install", &sysroot, &old, &csum);
    repair();
    layer_at(&sysroot, &["install", "-y", "tinypost"]).ok();
    let now = deployed(&sysroot);
    assert_eq!(now[1..], old[..]);
    let state = deployment_dir(&sysroot, 0).join("etc/tinypost.state");
    assert_eq!(std::fs::read_to_string(state).expect("state"), "configured configure\n");
    layer(&["repo", "fsck", "--repo", p(&store)]).ok();
    ostree(&["fsck", &format!("--repo={}", p(&store))]).ok();
}
