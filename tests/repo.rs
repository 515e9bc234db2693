//! `layer repo`: the object store, checked against the real `ostree` CLI.

mod common;

use std::path::Path;

use common::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

/// Our commit of the rich minbase tree lists exactly as ostree's own
/// commit of the same tree (`ls -R -C` shows every checksum), and
/// `ostree fsck` accepts our repository, in each mode.
#[test]
fn commit_matches_ostree_in_each_mode() {
    let dir = scratch();
    let tree = rich_tree();
    for mode in ["bare", "bare-user", "archive"] {
        let ours = dir.path().join(format!("ours-{mode}"));
        let theirs = dir.path().join(format!("theirs-{mode}"));
        layer(&["repo", "init", "--repo", p(&ours), "--mode", mode]).ok();
        let checksum = commit(&ours, "test/base", &tree, &["--subject", "rich tree"]);
        assert_eq!(checksum.len(), 64, "commit prints a checksum: {checksum:?}");
        ostree(&["fsck", &format!("--repo={}", p(&ours))]).ok();
        ostree(&["init", &format!("--repo={}", p(&theirs)), &format!("--mode={mode}")]).ok();
        ostree(&["commit", &format!("--repo={}", p(&theirs)), "-b", "test/base", p(&tree)]).ok();
        let ls_ours = ostree(&["ls", "-R", "-C", &format!("--repo={}", p(&ours)), "test/base"]).ok();
        let ls_theirs = ostree(&["ls", "-R", "-C", &format!("--repo={}", p(&theirs)), "test/base"]).ok();
        assert!(ls_ours.lines().count() > 8000, "the whole tree is listed");
        assert!(ls_ours == ls_theirs, "{mode}: ostree ls -R -C differs between our commit and ostree's");
        // Our own reader agrees with ostree about our commit.
        let our_ls = layer(&["repo", "ls", "--repo", p(&ours), "-R", "-C", "test/base"]).ok();
        assert_eq!(our_ls, ls_theirs, "{mode}: `layer repo ls -R -C` differs from `ostree ls -R -C`");
        layer(&["repo", "fsck", "--repo", p(&ours)]).ok();
    }
}

/// We read and check out commits written by `ostree commit`; the checkout
/// equals the source tree.
#[test]
fn checks_out_ostree_commits() {
    let dir = scratch();
    let tree = rich_tree();
    for mode in ["bare", "bare-user", "archive"] {
        let theirs = dir.path().join(format!("theirs-{mode}"));
        ostree(&["init", &format!("--repo={}", p(&theirs)), &format!("--mode={mode}")]).ok();
        ostree(&["commit", &format!("--repo={}", p(&theirs)), "-b", "main", p(&tree)]).ok();
        layer(&["repo", "fsck", "--repo", p(&theirs)]).ok();
        let dest = dir.path().join(format!("checkout-{mode}"));
        layer(&["repo", "checkout", "--repo", p(&theirs), "main", p(&dest)]).ok();
        assert_same_tree(&tree, &dest);
    }
    // A bare checkout is a hardlink farm: files share the object's inode.
    let bare = dir.path().join("checkout-bare/usr/bin/dpkg");
    assert!(std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(bare).expect("stat")) >= 2);
    // --copy gives independent files with the same content.
    let copy = dir.path().join("copy");
    layer(&["repo", "checkout", "--repo", p(&dir.path().join("theirs-bare")), "--copy", "main", p(&copy)]).ok();
    assert_same_tree(&tree, &copy);
}

/// ostree reads and checks out what we commit.
#[test]
fn ostree_checks_out_our_commits() {
    let dir = scratch();
    let tree = rich_tree();
    let ours = dir.path().join("ours");
    layer(&["repo", "init", "--repo", p(&ours), "--mode", "bare"]).ok();
    commit(&ours, "main", &tree, &[]);
    let dest = dir.path().join("checkout");
    ostree(&["checkout", &format!("--repo={}", p(&ours)), "main", p(&dest)]).ok();
    assert_same_tree(&tree, &dest);
}

/// A hardlinked checkout, changed and recommitted with the device/inode
/// cache, gives the commit ostree makes of the same directory.
#[test]
fn recommit_of_hardlinked_checkout() {
    let dir = scratch();
    let tree = rich_tree();
    let repo = dir.path().join("repo");
    layer(&["repo", "init", "--repo", p(&repo), "--mode", "bare"]).ok();
    let first = commit(&repo, "main", &tree, &[]);
    let co = dir.path().join("co");
    layer(&["repo", "checkout", "--repo", p(&repo), "main", p(&co)]).ok();
    sh(&format!(
        "cd {co} && mkdir usr/share/added && for i in $(seq 1 50); do echo $i > usr/share/added/f$i; done && rm usr/bin/dpkg && rm etc/hostname && echo changed > etc/hostname",
        co = p(&co)
    ))
    .ok();
    let second = commit(&repo, "main", &co, &["--link-checkout-speedup"]);
    assert_ne!(first, second);
    let show = layer(&["repo", "show", "--repo", p(&repo), "--json", "main"]).ok();
    let show: serde_json::Value = serde_json::from_str(&show).expect("json");
    assert_eq!(show["commit"]["parent"], first.as_str(), "the new commit's parent is the ref's old commit");
    let theirs = dir.path().join("theirs");
    ostree(&["init", &format!("--repo={}", p(&theirs)), "--mode=bare"]).ok();
    ostree(&["commit", &format!("--repo={}", p(&theirs)), "-b", "main", p(&co)]).ok();
    let a = ostree(&["ls", "-R", "-C", &format!("--repo={}", p(&repo)), "main"]).ok();
    let b = ostree(&["ls", "-R", "-C", &format!("--repo={}", p(&theirs)), "main"]).ok();
    assert!(a == b, "recommit differs from ostree's commit of the same directory");
    ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
    let diff = layer(&["repo", "diff", "--repo", p(&repo), &first, &second]).ok();
    assert!(diff.contains("A    /usr/share/added\n"), "{diff}");
    assert!(diff.contains("D    /usr/bin/dpkg\n"), "{diff}");
    assert!(diff.contains("M    /etc/hostname\n"), "{diff}");
    let sorted = |s: &str| {
        let mut lines: Vec<String> = s.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let oracle = ostree(&["diff", &format!("--repo={}", p(&repo)), &first, &second]).ok();
    assert_eq!(sorted(&diff), sorted(&oracle), "`layer repo diff` differs from `ostree diff`");
}
