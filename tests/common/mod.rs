//! Shared helpers for the end-to-end tests: running `layer` and the real
//! clients, the cached Debian minbase root, and comparing trees.
#![allow(dead_code)]

pub mod apt_repo;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

/// A scratch directory on the same filesystem as the test cache, so
/// hardlinks between repositories and checkouts work.
pub fn scratch() -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).expect("target tmpdir");
    tempfile::Builder::new().prefix("e2e-").tempdir_in(base).expect("scratch dir")
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(cmd: &str, out: Output) -> Run {
        let run = Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!("$ {cmd}\n  -> exit {}\n{}", run.status, indent(&run.stderr));
        run
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.status, 0, "command failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self.stdout
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  | {l}\n")).collect()
}

fn run(program: &str, args: &[&OsStr]) -> Run {
    let shown = format!("{program} {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    Run::from(&shown, out)
}

/// Runs the `layer` binary under test.
pub fn layer<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    run(env!("CARGO_BIN_EXE_layer"), &args)
}

/// Runs the real `ostree` CLI.
pub fn ostree<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    run("ostree", &args)
}

pub fn sh(script: &str) -> Run {
    run("sh", &[OsStr::new("-ec"), OsStr::new(script)])
}

/// The URI of the Debian archive this machine's apt uses, read at run time.
pub fn debian_mirror() -> String {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension() == Some(OsStr::new("sources"))) {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for line in text.lines() {
                if let Some(uris) = line.trim().strip_prefix("URIs:") {
                    candidates.extend(uris.split_whitespace().map(str::to_owned));
                }
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() == Some("deb") {
                if let Some(uri) = words.find(|w| !w.starts_with('[')) {
                    candidates.push(uri.to_owned());
                }
            }
        }
    }
    candidates
        .into_iter()
        .find(|u| !u.contains("security"))
        .expect("no Debian archive configured in /etc/apt (sources.list or sources.list.d/*.sources)")
}

/// A pristine `mmdebstrap --variant=minbase bookworm` root, built once and
/// cached under the ignored `.test-cache/`.
pub fn minbase() -> PathBuf {
    let cache = workspace().join(".test-cache");
    std::fs::create_dir_all(&cache).expect("test cache dir");
    let root = cache.join("minbase-bookworm");
    let lock = std::fs::File::create(cache.join("minbase.lock")).expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("locking the minbase cache");
    if !root.join("usr/bin/dpkg").exists() {
        let tmp = cache.join(format!("minbase-bookworm.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mirror = debian_mirror();
        run(
            "mmdebstrap",
            &[
                OsStr::new("--variant=minbase"),
                OsStr::new("--mode=root"),
                OsStr::new("--quiet"),
                OsStr::new("bookworm"),
                tmp.as_os_str(),
                OsStr::new(&mirror),
            ],
        )
        .ok();
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&tmp, &root).expect("moving the minbase root into place");
    }
    root
}

/// A copy of the minbase root that can be committed, plus what it lacks
/// for a thorough test: setuid and setgid files, hardlinks, xattrs and a
/// file capability, empty files, odd owners, long names, deep directories.
/// Device nodes are removed from `/dev` (ostree refuses them too).
/// Built once and cached; tests must not modify it.
pub fn rich_tree() -> PathBuf {
    let src = minbase();
    let cache = workspace().join(".test-cache");
    let dest = cache.join("rich-tree");
    let lock = std::fs::File::create(cache.join("rich-tree.lock")).expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("locking the rich tree cache");
    if cache.join("rich-tree.complete").exists() {
        return dest;
    }
    let _ = std::fs::remove_dir_all(&dest);
    sh(&format!(
        r#"
        cp -a "{src}" "{dest}"
        find "{dest}/dev" -mindepth 1 -delete
        cd "{dest}"
        mkdir -p usr/local/bin usr/share/rich
        cp usr/bin/true usr/local/bin/suid && chmod 4755 usr/local/bin/suid
        cp usr/bin/true usr/local/bin/sgid && chmod 2755 usr/local/bin/sgid
        cp usr/bin/true usr/local/bin/capable && setcap cap_net_raw+ep usr/local/bin/capable
        ln usr/bin/dpkg usr/local/bin/dpkg-hardlink
        : > usr/share/rich/empty
        echo data > usr/share/rich/owned && chown 1234:4321 usr/share/rich/owned && chmod 0640 usr/share/rich/owned
        echo secret > usr/share/rich/mode0 && chmod 0 usr/share/rich/mode0
        setfattr -n user.layer.test -v hello usr/share/rich/owned
        setfattr -n user.layer.dir -v 0x00ff00 usr/share/rich
        ln -s owned usr/share/rich/link
        setfattr -h -n trusted.layer.link -v onlink usr/share/rich/link
        name=$(printf 'n%.0s' $(seq 1 255))
        echo long > "usr/share/rich/$name"
        p=usr/share/rich/deep
        for i in $(seq 1 40); do p="$p/d$i"; done
        mkdir -p "$p" && echo bottom > "$p/file"
        "#,
        src = src.display(),
        dest = dest.display()
    ))
    .ok();
    // Beside the tree, so it is not part of what tests commit.
    std::fs::write(cache.join("rich-tree.complete"), b"").expect("marking the rich tree complete");
    dest
}

/// Everything about one path that a checkout must reproduce.
#[derive(Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: Vec<u8>,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 64 * 1024];
    let n = rustix::fs::llistxattr(path, names.as_mut_slice()).unwrap_or(0);
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut value = vec![0u8; 64 * 1024];
        let len = rustix::fs::lgetxattr(path, name.as_str(), value.as_mut_slice()).unwrap_or(0);
        value.truncate(len);
        out.push((name, value));
    }
    out.sort();
    out
}

/// The refs of the repository `store` (`layer repo refs --json`): name to
/// commit.
pub fn store_refs(store: &Path) -> BTreeMap<String, String> {
    let json: serde_json::Value = serde_json::from_str(
        &layer(&[
            OsStr::new("repo"),
            OsStr::new("refs"),
            OsStr::new("--repo"),
            store.as_os_str(),
            OsStr::new("--json"),
        ])
        .ok(),
    )
    .expect("refs --json");
    json["refs"]
        .as_object()
        .expect("refs")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("checksum").to_owned()))
        .collect()
}

/// A fresh copy (`cp -a`) of the sysroot `template` at `sysroot`.
pub fn copy_sysroot(template: &Path, sysroot: &Path) -> PathBuf {
    sh(&format!("rm -rf '{s}' && cp -a '{t}' '{s}'", s = sysroot.display(), t = template.display())).ok();
    sysroot.to_owned()
}

/// Reads a whole tree into a map of relative path to node (mtimes ignored).
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<String, Node>) {
        let path = root.join(rel);
        let md = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ft = md.file_type();
        let (kind, content) = if ft.is_dir() {
            ("dir", Vec::new())
        } else if ft.is_symlink() {
            ("symlink", std::fs::read_link(&path).expect("readlink").into_os_string().into_encoded_bytes())
        } else if ft.is_file() {
            ("file", std::fs::read(&path).expect("read"))
        } else if ft.is_char_device() || ft.is_block_device() {
            ("device", Vec::new())
        } else {
            ("other", Vec::new())
        };
        let key = format!("/{}", rel.display());
        out.insert(
            key,
            Node { kind, mode: md.mode() & 0o7777, uid: md.uid(), gid: md.gid(), content, xattrs: xattrs(&path) },
        );
        if ft.is_dir() {
            let mut names: Vec<_> =
                std::fs::read_dir(&path).expect("read_dir").flatten().map(|e| e.file_name()).collect();
            names.sort();
            for n in names {
                walk(root, &rel.join(n), out);
            }
        }
    }
    walk(root, Path::new(""), &mut out);
    out
}

/// Asserts that two trees are equal in content, modes, owners, xattrs and
/// symlink targets, naming the first paths that differ.
#[track_caller]
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let a = snapshot(expected);
    let b = snapshot(actual);
    let mut problems = Vec::new();
    for (path, node) in &a {
        match b.get(path) {
            None => problems.push(format!("missing {path}")),
            Some(other) if other != node => problems.push(format!(
                "differs {path}: expected {} {:o} {}:{} xattrs {:?}, got {} {:o} {}:{} xattrs {:?}",
                node.kind,
                node.mode,
                node.uid,
                node.gid,
                node.xattrs,
                other.kind,
                other.mode,
                other.uid,
                other.gid,
                other.xattrs
            )),
            Some(_) => {}
        }
    }
    problems.extend(b.keys().filter(|p| !a.contains_key(*p)).map(|p| format!("unexpected {p}")));
    assert!(
        problems.is_empty(),
        "{} differences, first ones:\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
}

/// Checksum printed by `layer repo commit`.
pub fn commit(repo: &Path, branch: &str, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["repo", "commit", "--repo", repo.to_str().expect("utf8"), "--branch", branch];
    args.extend_from_slice(extra);
    args.push(dir.to_str().expect("utf8"));
    layer(&args).ok().trim().to_owned()
}

/// An OS tree in image form: the Debian minbase root (via the cached
/// rich tree, hardlinked) with `/etc` moved to `/usr/etc`, a kernel in
/// `/usr/lib/modules`, and a few files the deploy tests look at. `version`
/// changes `/usr/etc/motd`, `/usr/bin/app` and a tmpfiles.d entry. Every
/// file is replaced, never written into: the copy shares inodes with the
/// cache.
pub fn small_os(dest: &Path, version: &str) {
    sh(&format!(
        r#"
        d="{d}"
        cp -al "{base}" "$d"
        mv "$d/etc" "$d/usr/etc"
        mkdir -p "$d/usr/etc/NetworkManager" "$d/usr/etc/testdirectory" "$d/usr/lib/modules/6.1.0-test" "$d/var/lib/app" "$d/usr/lib/tmpfiles.d"
        put() {{ rm -f "$d/$1"; printf "$2" > "$d/$1"; }}
        put usr/etc/os-release 'PRETTY_NAME="Test OS {version}"\nID=testos\n'
        put usr/etc/NetworkManager/nm.conf 'a default daemon file\n'
        put usr/etc/testdirectory/file 'in a directory\n'
        put usr/etc/motd 'welcome to {version}\n'
        put usr/etc/hostname 'testhost\n'
        put usr/etc/shadow 'root:*:19000:0:99999:7:::\n' && chmod 0 "$d/usr/etc/shadow"
        put usr/bin/app 'app {version}\n' && chmod 755 "$d/usr/bin/app"
        put usr/lib/modules/6.1.0-test/vmlinuz 'kernel\n'
        put var/lib/app/state 'state\n'
        put usr/lib/tmpfiles.d/app.conf 'd /var/lib/app-{version} 0750 root root -\nL /var/usrlocal - - - - ../usr/local\n'
        "#,
        d = dest.display(),
        base = rich_tree().display()
    ))
    .ok();
}

/// A tiny OS tree in image form (a few files in `/usr/etc`, `/usr/bin`,
/// a kernel, `/var`, a tmpfiles.d entry), for the crash sweeps, which run
/// a deploy dozens of times: a crash's effect does not depend on the size
/// of the tree, and the minbase tree would make them take minutes.
pub fn tiny_os(dest: &Path, version: &str) {
    sh(&format!(
        r#"
        d="{d}"
        mkdir -p "$d/usr/bin" "$d/usr/etc" "$d/usr/lib/modules/6.1.0-test" "$d/var/lib/app" "$d/usr/lib/tmpfiles.d"
        printf 'PRETTY_NAME="Tiny OS {version}"\nID=tiny\n' > "$d/usr/etc/os-release"
        echo "welcome to {version}" > "$d/usr/etc/motd"
        echo "root:x:0:0:root:/root:/bin/sh" > "$d/usr/etc/passwd"
        echo "app {version}" > "$d/usr/bin/app" && chmod 755 "$d/usr/bin/app"
        echo "kernel" > "$d/usr/lib/modules/6.1.0-test/vmlinuz"
        echo "state" > "$d/var/lib/app/state"
        echo "d /var/lib/app-{version} 0750 root root -" > "$d/usr/lib/tmpfiles.d/app.conf"
        "#,
        d = dest.display()
    ))
    .ok();
}

/// A sysroot with stateroot `testos` and an OS tree (`small_os` on the
/// minbase root, or `tiny_os`) version `v1` committed on `testos/base`.
pub fn sysroot_with(dir: &Path, make_tree: fn(&Path, &str)) -> PathBuf {
    let sysroot = dir.join("sysroot");
    layer(&[
        OsStr::new("--sysroot"),
        sysroot.as_os_str(),
        OsStr::new("init"),
        OsStr::new("--stateroot"),
        OsStr::new("testos"),
    ])
    .ok();
    let tree = dir.join("tree-v1");
    make_tree(&tree, "v1");
    commit(&sysroot.join("ostree/repo"), "testos/base", &tree, &["--add-metadata-string", "version=1"]);
    sysroot
}

/// A sysroot built from the Debian minbase root; see `small_os`.
pub fn small_sysroot(dir: &Path) -> PathBuf {
    sysroot_with(dir, small_os)
}

/// `layer --sysroot S ARGS...`
pub fn layer_at<S: AsRef<OsStr>>(sysroot: &Path, args: &[S]) -> Run {
    let mut all: Vec<&OsStr> = vec![OsStr::new("--sysroot"), sysroot.as_os_str()];
    all.extend(args.iter().map(|a| a.as_ref()));
    layer(&all)
}

/// `layer status --json` parsed.
pub fn status(sysroot: &Path) -> serde_json::Value {
    serde_json::from_str(&layer_at(sysroot, &["status", "--json"]).ok()).expect("status --json")
}

/// The checksums of the deployments, default first.
pub fn deployed(sysroot: &Path) -> Vec<String> {
    status(sysroot)["deployments"]
        .as_array()
        .expect("deployments")
        .iter()
        .map(|d| d["checksum"].as_str().expect("checksum").to_owned())
        .collect()
}

/// The checksums `ostree admin status` lists, in its order.
pub fn ostree_deployed(sysroot: &Path) -> Vec<String> {
    let out = ostree(&[OsStr::new("admin"), OsStr::new("status"), OsStr::new("--sysroot"), sysroot.as_os_str()]).ok();
    out.lines()
        .filter_map(|l| {
            let l = l.trim_start_matches(['*', ' ']);
            let mut words = l.split_whitespace();
            let _stateroot = words.next()?;
            let csum = words.next()?;
            csum.split_once('.').map(|(c, _)| c.to_owned()).filter(|c| c.len() == 64)
        })
        .collect()
}

/// The directory of deployment `index` (as `layer status` numbers them).
pub fn deployment_dir(sysroot: &Path, index: usize) -> PathBuf {
    let status = status(sysroot);
    let d = &status["deployments"][index];
    sysroot.join(format!(
        "ostree/deploy/{}/deploy/{}.{}",
        d["stateroot"].as_str().expect("stateroot"),
        d["checksum"].as_str().expect("checksum"),
        d["deployserial"].as_u64().expect("serial")
    ))
}

/// Runs `script` with `sh` chrooted into deployment `index`, with the
/// stateroot's `/var` mounted on its `/var` as at boot, in a private mount
/// namespace.
pub fn in_deployment(sysroot: &Path, index: usize, script: &str) -> Run {
    let dir = deployment_dir(sysroot, index);
    let stateroot = status(sysroot)["deployments"][index]["stateroot"].as_str().expect("stateroot").to_owned();
    let var = sysroot.join(format!("ostree/deploy/{stateroot}/var"));
    run(
        "unshare",
        &[
            OsStr::new("-m"),
            OsStr::new("sh"),
            OsStr::new("-ec"),
            OsStr::new(
                r#"mount --bind "$1" "$0/var"; mount -t proc proc "$0/proc"; exec chroot "$0" /bin/sh -ec "$2""#,
            ),
            dir.as_os_str(),
            var.as_os_str(),
            OsStr::new(script),
        ],
    )
}

/// A sysroot (stateroot `debian`) whose default deployment is `root`
/// imported with `layer compose import` on `debian/base`.
pub fn imported_sysroot(dir: &Path, root: &Path) -> PathBuf {
    let sysroot = dir.join("sysroot");
    layer_at(&sysroot, &["init", "--stateroot", "debian"]).ok();
    let repo = sysroot.join("ostree/repo");
    layer(&[
        OsStr::new("compose"),
        OsStr::new("import"),
        root.as_os_str(),
        OsStr::new("--repo"),
        repo.as_os_str(),
        OsStr::new("--ref"),
        OsStr::new("debian/base"),
        OsStr::new("--add-version"),
        OsStr::new("1"),
    ])
    .ok();
    layer_at(&sysroot, &["rebase", "debian/base"]).ok();
    sysroot
}

/// The smallest Debian root that `layer install` works on, for the
/// install crash, space and corruption tests that run an install dozens
/// of times: Debian's static busybox as `/bin/busybox` (and `/bin/sh`,
/// for maintainer scripts), a dpkg database that lists it, a kernel, an
/// `/etc/apt` for `AptRepo::configure`, and the usual mount points.
pub fn tiny_debian_root(dest: &Path) {
    sh(&format!(
        r#"
        r="{r}"
        mkdir -p "$r/bin" "$r/etc/apt/sources.list.d" "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" \
            "$r/usr/lib/modules/6.1.0-tiny" "$r/usr/bin" "$r/usr/sbin" "$r/tmp" "$r/root" \
            "$r/dev" "$r/proc" "$r/run" "$r/sys"
        cp /bin/busybox "$r/bin/busybox"
        ln -s busybox "$r/bin/sh"
        echo kernel > "$r/usr/lib/modules/6.1.0-tiny/vmlinuz"
        printf 'PRETTY_NAME="Tiny Debian"\nID=debian\n' > "$r/etc/os-release"
        echo "root:x:0:0:root:/root:/bin/sh" > "$r/etc/passwd"
        echo "root:x:0:" > "$r/etc/group"
        echo "welcome" > "$r/etc/motd"
        printf 'Package: busybox-static\nStatus: install ok installed\nPriority: optional\nSection: shells\nInstalled-Size: 2000\nMaintainer: test <test@example.invalid>\nArchitecture: amd64\nVersion: 1:1.35.0-4\nDescription: static busybox\n\n' \
            > "$r/var/lib/dpkg/status"
        echo /bin/busybox > "$r/var/lib/dpkg/info/busybox-static.list"
        : > "$r/var/lib/dpkg/available"
        "#,
        r = dest.display()
    ))
    .ok();
}

/// A tiny base (`tiny_debian_root`) whose apt uses a served repository
/// of two made-up packages: `tinypost` (a postinst, so the build runs the
/// script sandbox) and `tinydata`, which it depends on.
pub struct TinyMachine {
    // Declared first: the server stops before the directory goes.
    _repo: self::apt_repo::AptRepo,
    pub dir: tempfile::TempDir,
    /// A sysroot with the base deployed and an /etc edit, copied (`cp -a`)
    /// for each run so that every run starts from the very same state.
    pub template: PathBuf,
}

pub fn tiny_machine() -> TinyMachine {
    tiny_machine_with("")
}

/// As [`tiny_machine`], with `big` (if not empty) as the content of
/// `/usr/share/tinydata/big.txt` in `tinydata`.
pub fn tiny_machine_with(big: &str) -> TinyMachine {
    let dir = scratch();
    let mut data = vec![("usr/share/tinydata/a.txt", "alpha\n"), ("usr/bin/tinydata", "#!/bin/sh\necho tiny\n")];
    if !big.is_empty() {
        data.push(("usr/share/tinydata/big.txt", big));
    }
    let built = dir.path().join("built");
    std::fs::create_dir_all(&built).expect("built dir");
    let debs = [
        self::apt_repo::build_deb(
            &built,
            &self::apt_repo::Deb { name: "tinydata", files: &data, ..Default::default() },
        ),
        self::apt_repo::build_deb(
            &built,
            &self::apt_repo::Deb {
                name: "tinypost",
                fields: "Depends: tinydata",
                control: &[("postinst", "#!/bin/sh\nset -e\necho \"configured $1\" > /etc/tinypost.state\n")],
                files: &[("usr/share/tinypost/b.txt", "beta\n")],
            },
        ),
    ];
    let repo = self::apt_repo::AptRepo::serve(&dir.path().join("repo"), &debs);
    let root = dir.path().join("root");
    tiny_debian_root(&root);
    repo.configure(&root);
    let template = imported_sysroot(&dir.path().join("template"), &root);
    let etc = deployment_dir(&template, 0).join("etc");
    sh(&format!("rm '{e}/motd' && echo edited > '{e}/motd'", e = etc.display())).ok();
    TinyMachine { _repo: repo, dir, template }
}

impl TinyMachine {
    /// A fresh copy of the template sysroot, hardlinks kept.
    pub fn copy(&self, name: &str) -> PathBuf {
        self.copy_to(&self.dir.path().join(name))
    }

    /// A fresh copy of the template sysroot at `sysroot`.
    pub fn copy_to(&self, sysroot: &Path) -> PathBuf {
        copy_sysroot(&self.template, sysroot)
    }
}

/// The checksums of the root dirtree and dirmeta of `commit`: equal iff
/// the two trees are identical in every path, content, mode, owner and
/// xattr (ostree's Merkle tree), whatever the commits' timestamps.
pub fn root_tree(store: &Path, commit: &str) -> String {
    let out = ostree(&[
        OsStr::new("ls"),
        OsStr::new("--repo"),
        store.as_os_str(),
        OsStr::new("-C"),
        OsStr::new("-d"),
        OsStr::new(commit),
        OsStr::new("/"),
    ])
    .ok();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.len(), 7, "ostree ls -C -d: {out}");
    format!("{} {}", words[4], words[5])
}

/// A python3 static file server for `dir` on 127.0.0.1, and its port.
pub fn serve_dir(dir: &Path) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut server = Command::new("python3")
        .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    let port = line.split_whitespace().skip_while(|w| *w != "port").nth(1).and_then(|p| p.parse().ok());
    (server, port.unwrap_or_else(|| panic!("no port in {line:?}")))
}
