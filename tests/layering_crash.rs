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
