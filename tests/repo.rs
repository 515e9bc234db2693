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

/// A union checkout lays one tree over another; with whiteouts, `.wh.NAME`
/// deletes NAME below and `.wh..wh..opq` hides the lower directory.
#[test]
fn union_checkout_with_whiteouts() {
    let dir = scratch();
    let lower = dir.path().join("lower");
    let upper = dir.path().join("upper");
    sh(&format!(
        "mkdir -p {l}/d {l}/o {l}/gone-dir/sub && echo a > {l}/d/a && echo old > {l}/d/b && echo x > {l}/x \
         && echo p > {l}/o/p && echo deep > {l}/gone-dir/sub/f \
         && mkdir -p {u}/d {u}/o && echo new > {u}/d/b && echo c > {u}/d/c && : > {u}/.wh.x && : > {u}/.wh.gone-dir \
         && : > {u}/o/.wh..wh..opq && echo n > {u}/o/new",
        l = p(&lower),
        u = p(&upper)
    ))
    .ok();
    let repo = dir.path().join("repo");
    layer(&["repo", "init", "--repo", p(&repo), "--mode", "bare"]).ok();
    commit(&repo, "lower", &lower, &[]);
    commit(&repo, "upper", &upper, &[]);
    let dest = dir.path().join("dest");
    layer(&["repo", "checkout", "--repo", p(&repo), "lower", p(&dest)]).ok();
    // Without --union an existing destination is refused.
    let refused = layer(&["repo", "checkout", "--repo", p(&repo), "upper", p(&dest)]);
    assert_eq!(refused.status, 1);
    assert!(refused.stderr.contains("already exists") && refused.stderr.contains("hint:"), "{}", refused.stderr);
    layer(&["repo", "checkout", "--repo", p(&repo), "--union", "--whiteouts", "upper", p(&dest)]).ok();
    let got: Vec<String> = snapshot(&dest).keys().cloned().collect();
    assert_eq!(got, ["/", "/d", "/d/a", "/d/b", "/d/c", "/o", "/o/new"], "union result");
    assert_eq!(std::fs::read_to_string(dest.join("d/b")).expect("read"), "new\n");
    // The object store is untouched by the replacement.
    layer(&["repo", "fsck", "--repo", p(&repo)]).ok();
    // Without --whiteouts, whiteout files are ordinary files.
    let plain = dir.path().join("plain");
    layer(&["repo", "checkout", "--repo", p(&repo), "upper", p(&plain)]).ok();
    assert!(plain.join(".wh.x").exists() && plain.join("o/.wh..wh..opq").exists());
}

fn small_tree(root: &Path, tag: &str) {
    sh(&format!(
        "mkdir -p {r}/usr/bin {r}/etc && echo shared > {r}/usr/bin/shared && echo {tag} > {r}/etc/tag && chmod 755 {r}/usr/bin/shared",
        r = p(root)
    ))
    .ok();
}

/// Corruption is named by our fsck: the object and the commits reaching it.
#[test]
fn fsck_names_corrupt_objects_and_their_commits() {
    let dir = scratch();
    for case in ["flipped-byte", "truncated", "chmod-through-checkout", "dirtree"] {
        let repo = dir.path().join(format!("repo-{case}"));
        layer(&["repo", "init", "--repo", p(&repo), "--mode", "bare"]).ok();
        let (one, two) = (dir.path().join(format!("{case}-1")), dir.path().join(format!("{case}-2")));
        small_tree(&one, "one");
        small_tree(&two, "two");
        let c1 = commit(&repo, "a", &one, &[]);
        let c2 = commit(&repo, "b", &two, &[]);
        // /usr/bin/shared is one object reached from both commits.
        let ls = layer(&["repo", "ls", "--repo", p(&repo), "-C", "a", "/usr/bin/shared"]).ok();
        let shared = ls.split_whitespace().nth(4).expect("checksum column").to_owned();
        let object = repo.join(format!("objects/{}/{}.file", &shared[..2], &shared[2..]));
        let bad = match case {
            "flipped-byte" => {
                sh(&format!("printf 'X' | dd of={} bs=1 seek=0 conv=notrunc 2>/dev/null", p(&object))).ok();
                shared.clone()
            }
            "truncated" => {
                sh(&format!("truncate -s 2 {}", p(&object))).ok();
                shared.clone()
            }
            "chmod-through-checkout" => {
                let co = dir.path().join("co");
                layer(&["repo", "checkout", "--repo", p(&repo), "a", p(&co)]).ok();
                sh(&format!("chmod 4777 {}/usr/bin/shared", p(&co))).ok();
                shared.clone()
            }
            _ => {
                let tree = layer(&["repo", "ls", "--repo", p(&repo), "-C", "a", "/usr/bin"]).ok();
                let tree = tree.split_whitespace().nth(4).expect("dirtree column").to_owned();
                let file = repo.join(format!("objects/{}/{}.dirtree", &tree[..2], &tree[2..]));
                sh(&format!("printf 'Z' | dd of={} bs=1 seek=3 conv=notrunc 2>/dev/null", p(&file))).ok();
                tree
            }
        };
        let run = layer(&["repo", "fsck", "--repo", p(&repo)]);
        assert_eq!(run.status, 1, "{case}: fsck fails\n{}", run.stdout);
        assert!(run.stdout.contains(&bad), "{case}: names the object {bad}\n{}", run.stdout);
        assert!(run.stdout.contains(&c1) && run.stdout.contains(&c2), "{case}: names both commits\n{}", run.stdout);
        let json = layer(&["repo", "fsck", "--repo", p(&repo), "--json"]);
        let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("fsck --json");
        assert_eq!(json["problems"].as_array().map(Vec::len), Some(1), "{case}: {json}");
        // The real ostree agrees that the repository is damaged.
        assert_ne!(ostree(&["fsck", &format!("--repo={}", p(&repo))]).status, 0, "{case}: ostree fsck also fails");
    }
}

/// Prune deletes what no ref reaches, keeps what they do, and honours a
/// history depth; the result is clean for ostree.
#[test]
fn prune_keeps_exactly_what_refs_reach() {
    let dir = scratch();
    let repo = dir.path().join("repo");
    layer(&["repo", "init", "--repo", p(&repo), "--mode", "bare"]).ok();
    let mut commits = Vec::new();
    for i in 0..3 {
        let tree = dir.path().join(format!("t{i}"));
        small_tree(&tree, &format!("version-{i}"));
        commits.push(commit(&repo, "main", &tree, &[]));
    }
    let other = dir.path().join("other");
    small_tree(&other, "other");
    sh(&format!("echo only-here > {}/usr/bin/unique", p(&other))).ok();
    commit(&repo, "other", &other, &[]);
    let count = || layer(&["repo", "prune", "--repo", p(&repo), "--dry-run"]).ok();
    assert!(count().starts_with("Would delete 0 objects"), "{}", count());
    layer(&["repo", "refs", "--repo", p(&repo), "--delete", "other"]).ok();
    let deleted = layer(&["repo", "prune", "--repo", p(&repo)]).ok();
    assert!(!deleted.starts_with("Deleted 0 "), "{deleted}");
    ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
    let log = layer(&["repo", "log", "--repo", p(&repo), "--json", "main"]).ok();
    let log: serde_json::Value = serde_json::from_str(&log).expect("json");
    assert_eq!(log["commits"].as_array().map(Vec::len), Some(3), "full history kept by default");
    layer(&["repo", "prune", "--repo", p(&repo), "--depth", "0"]).ok();
    ostree(&["fsck", &format!("--repo={}", p(&repo))]).ok();
    layer(&["repo", "fsck", "--repo", p(&repo)]).ok();
    let log = layer(&["repo", "log", "--repo", p(&repo), "main"]).ok();
    assert!(log.contains(&commits[2]) && !log.contains(&format!("commit {}", commits[1])), "{log}");
    assert!(log.contains("History beyond this commit not fetched"), "{log}");
    let cat = layer(&["repo", "cat", "--repo", p(&repo), "main", "/etc/tag"]).ok();
    assert_eq!(cat, "version-2\n");
}

/// A static HTTP server on 127.0.0.1 (Python's), killed when dropped.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    fn serve(dir: &Path) -> Server {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0", "--directory", p(dir)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting python3 -m http.server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("server banner");
        // "Serving HTTP on 127.0.0.1 port 41235 (http://127.0.0.1:41235/) ..."
        let port = line.split_whitespace().nth(5).expect("port in banner").to_owned();
        Server { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ostree pull` takes what we serve, and we pull what ostree serves.
#[test]
fn pull_between_ostree_and_layer() {
    let dir = scratch();
    let tree = rich_tree();
    // ostree pulls from our archive repository.
    let ours = dir.path().join("ours-archive");
    layer(&["repo", "init", "--repo", p(&ours), "--mode", "archive"]).ok();
    commit(&ours, "os/base", &tree, &[]);
    let server = Server::serve(&ours);
    let client = dir.path().join("ostree-client");
    let repo_arg = format!("--repo={}", p(&client));
    ostree(&["init", &repo_arg, "--mode=bare"]).ok();
    ostree(&["remote", "add", &repo_arg, "--no-gpg-verify", "origin", &server.url]).ok();
    ostree(&["pull", &repo_arg, "origin", "os/base"]).ok();
    ostree(&["fsck", &repo_arg]).ok();
    let a = ostree(&["ls", "-R", "-C", &repo_arg, "origin:os/base"]).ok();
    let b = ostree(&["ls", "-R", "-C", &format!("--repo={}", p(&ours)), "os/base"]).ok();
    assert!(a == b, "ostree's pull of our repository lists differently");
    drop(server);
    // We pull from ostree's archive repository.
    let theirs = dir.path().join("theirs-archive");
    ostree(&["init", &format!("--repo={}", p(&theirs)), "--mode=archive"]).ok();
    ostree(&["commit", &format!("--repo={}", p(&theirs)), "-b", "os/base", p(&tree)]).ok();
    let server = Server::serve(&theirs);
    let local = dir.path().join("layer-client");
    layer(&["repo", "init", "--repo", p(&local), "--mode", "bare"]).ok();
    let pulled = layer(&["repo", "pull", "--repo", p(&local), "--remote", "origin", &server.url, "os/base"]).ok();
    assert!(pulled.starts_with("origin:os/base "), "{pulled}");
    ostree(&["fsck", &format!("--repo={}", p(&local))]).ok();
    let a = ostree(&["ls", "-R", "-C", &format!("--repo={}", p(&local)), "origin:os/base"]).ok();
    let b = ostree(&["ls", "-R", "-C", &format!("--repo={}", p(&theirs)), "os/base"]).ok();
    assert!(a == b, "our pull of ostree's repository lists differently");
    let co = dir.path().join("co");
    layer(&["repo", "checkout", "--repo", p(&local), "origin:os/base", p(&co)]).ok();
    assert_same_tree(&tree, &co);
    // A second pull has nothing to fetch.
    let again =
        layer(&["repo", "pull", "--repo", p(&local), "--remote", "origin", "--json", &server.url, "os/base"]).ok();
    let again: serde_json::Value = serde_json::from_str(&again).expect("json");
    assert_eq!(again["fetched_objects"], 0);
}

/// Mistakes are exit code 1 with a message naming what was wrong.
#[test]
fn user_errors_are_clear() {
    let dir = scratch();
    let repo = dir.path().join("repo");
    let missing = layer(&["repo", "fsck", "--repo", p(&repo)]);
    assert_eq!(missing.status, 1);
    assert!(missing.stderr.contains(p(&repo)), "{}", missing.stderr);
    layer(&["repo", "init", "--repo", p(&repo), "--mode", "bare-user"]).ok();
    let tree = dir.path().join("tree");
    small_tree(&tree, "t");
    commit(&repo, "main", &tree, &[]);
    let no_ref = layer(&["repo", "checkout", "--repo", p(&repo), "nope", p(&dir.path().join("x"))]);
    assert_eq!(no_ref.status, 1);
    assert!(no_ref.stderr.contains("`nope`"), "{}", no_ref.stderr);
    let bad_ref = layer(&["repo", "commit", "--repo", p(&repo), "--branch", "../evil", p(&tree)]);
    assert_eq!(bad_ref.status, 1);
    assert!(bad_ref.stderr.contains("invalid ref name `../evil`"), "{}", bad_ref.stderr);
    let no_path = layer(&["repo", "cat", "--repo", p(&repo), "main", "/etc/missing"]);
    assert_eq!(no_path.status, 1);
    assert!(no_path.stderr.contains("/etc/missing"), "{}", no_path.stderr);
    sh(&format!("mkfifo {}/etc/fifo", p(&tree))).ok();
    let fifo = layer(&["repo", "commit", "--repo", p(&repo), "--branch", "main", p(&tree)]);
    assert_eq!(fifo.status, 1);
    assert!(fifo.stderr.contains("etc/fifo"), "{}", fifo.stderr);
    let refs = layer(&["repo", "refs", "--repo", p(&repo), "--json"]).ok();
    let refs: serde_json::Value = serde_json::from_str(&refs).expect("json");
    assert_eq!(refs["refs"].as_object().map(|m| m.len()), Some(1), "a failed commit moves no ref");
}
