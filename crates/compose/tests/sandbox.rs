//! The script sandbox against hostile and ordinary scripts (SECURITY.md
//! cases 31 and 32), in a hardlinked copy of a Debian minbase root.
//!
//! This binary is its own test runner (`harness = false`): the sandbox
//! re-executes it as its init, so `main` must call `init_main` before
//! anything else. Pass test names (substrings) as arguments to run a few.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compose::sandbox::{
    Change, ChangeKind, EntryKind, OutputStream, SCRIPT_PATH, Sandbox, SandboxConfig, SandboxError, Script,
};

const MINBASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.test-cache/minbase-bookworm");

type Test = fn(&Fixture);

const TESTS: &[(&str, Test)] = &[
    ("output_status_and_environment_are_returned", output_status_and_environment_are_returned),
    ("append_to_hardlinked_file_changes_only_the_tree", append_to_hardlinked_file_changes_only_the_tree),
    ("rm_rf_root_leaves_the_tree_and_host_alone", rm_rf_root_leaves_the_tree_and_host_alone),
    ("proc_dev_sys_and_capabilities_are_minimal", proc_dev_sys_and_capabilities_are_minimal),
    ("network_is_unreachable", network_is_unreachable),
    ("host_tmp_is_invisible", host_tmp_is_invisible),
    ("fork_bomb_is_killed_by_the_timeout", fork_bomb_is_killed_by_the_timeout),
    ("endless_loop_times_out_with_a_clear_error", endless_loop_times_out_with_a_clear_error),
    ("whiteouts_and_opaque_dirs_apply_as_the_overlay_showed", whiteouts_and_opaque_dirs_apply_as_the_overlay_showed),
    ("missing_program_is_a_clear_error", missing_program_is_a_clear_error),
    ("start_errors_are_clear", start_errors_are_clear),
    ("drop_without_finish_removes_the_scratch_dir", drop_without_finish_removes_the_scratch_dir),
    ("killing_the_caller_leaves_nothing_behind", killing_the_caller_leaves_nothing_behind),
];

fn main() {
    compose::sandbox::init_main();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__hold-sandbox") {
        hold_sandbox(&args[1..]);
        return;
    }
    if !rustix_is_root() {
        println!("sandbox tests skipped: they need root");
        return;
    }
    if !Path::new(MINBASE).join("usr/bin/sh").exists() {
        println!("sandbox tests skipped: no minbase root at `{MINBASE}`");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let selected: Vec<&(&str, Test)> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|filter| name.contains(filter.as_str())))
        .collect();
    let fixture = Fixture::new();
    println!("running {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in selected {
        let mounts_before = mountinfo();
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| test(&fixture)));
        let leaked: Vec<String> = mountinfo()
            .difference(&mounts_before)
            .filter(|line| line.contains(fixture.base.path().to_string_lossy().as_ref()))
            .cloned()
            .collect();
        let ok = result.is_ok() && leaked.is_empty();
        println!("test {name} ... {} ({:.1}s)", if ok { "ok" } else { "FAILED" }, started.elapsed().as_secs_f64());
        if !leaked.is_empty() {
            println!("  mounts left in the host's namespace: {leaked:#?}");
        }
        if !ok {
            failed.push(*name);
        }
    }
    // Before `exit`, which runs no destructors: the copy is large.
    drop(fixture);
    if failed.is_empty() {
        println!("test result: ok");
    } else {
        println!("test result: FAILED: {failed:?}");
        std::process::exit(1);
    }
}

fn rustix_is_root() -> bool {
    fs::metadata("/proc/self").map(|metadata| metadata.uid() == 0).unwrap_or(false)
}

fn mountinfo() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo").lines().map(str::to_owned).collect()
}

/// A private copy of the minbase root (so that a broken sandbox could not
/// damage the shared cache), from which each test hardlinks its tree: the
/// copy stands in for the store, the tree for a hardlink checkout.
struct Fixture {
    base: tempfile::TempDir,
    store: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let base =
            tempfile::Builder::new().prefix("layer-sandbox-test-").tempdir().expect("creating the test directory");
        let store = base.path().join("store");
        run_host(Command::new("cp").arg("-a").arg(MINBASE).arg(&store));
        Self { base, store }
    }

    fn tree(&self) -> Tree {
        let dir =
            tempfile::Builder::new().prefix("tree-").tempdir_in(self.base.path()).expect("creating a tree directory");
        let root = dir.path().join("root");
        run_host(Command::new("cp").arg("-al").arg(&self.store).arg(&root));
        let scratch = dir.path().join("scratch");
        fs::create_dir(&scratch).expect("creating the scratch parent");
        Tree { dir, root, scratch }
    }
}

struct Tree {
    dir: tempfile::TempDir,
    root: PathBuf,
    scratch: PathBuf,
}

impl Tree {
    fn config(&self) -> SandboxConfig {
        SandboxConfig::new(&self.root, &self.scratch)
    }

    fn start(&self) -> Sandbox {
        Sandbox::start(&self.config()).expect("starting the sandbox")
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }
}

fn run_host(command: &mut Command) -> String {
    let output = command.output().expect("running a host command");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A shell script with the environment dpkg gives maintainer scripts.
fn sh(name: &str, script: &str) -> Script {
    Script::new(name, "/bin/sh")
        .arg("-c")
        .arg(script)
        .arg(name)
        .env("PATH", SCRIPT_PATH)
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DPKG_MAINTSCRIPT_PACKAGE", "test")
        .env("DPKG_MAINTSCRIPT_NAME", name.rsplit('.').next().unwrap_or(name))
        .env("DPKG_ROOT", "")
        .timeout(Duration::from_secs(60))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_ok(sandbox: &mut Sandbox, script: &Script) -> String {
    let output = sandbox.run(script).expect("running a script");
    assert!(
        output.status.success(),
        "script `{}` failed with {}: {}",
        script.name(),
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn has_change(changes: &[Change], path: &str, kind: ChangeKind, entry: EntryKind) -> bool {
    changes.iter().any(|change| change.path == Path::new(path) && change.kind == kind && change.entry == entry)
}

fn output_status_and_environment_are_returned(fixture: &Fixture) {
    let tree = fixture.tree();
    let mut sandbox = tree.start();
    let mut lines = Vec::new();
    let output = sandbox
        .run_with_output(&sh("a.postinst", "echo out; echo err >&2; printf partial; exit 3"), &mut |stream, line| {
            lines.push((stream, text(line)))
        })
        .expect("running");
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(text(&output.stdout), "out\npartial");
    assert_eq!(text(&output.stderr), "err\n");
    assert!(lines.contains(&(OutputStream::Stdout, "out".to_owned())));
    assert!(lines.contains(&(OutputStream::Stderr, "err".to_owned())));
    assert!(lines.contains(&(OutputStream::Stdout, "partial".to_owned())));
    assert!(matches!(
        output.require_success(),
        Err(SandboxError::ScriptFailed { ref name, .. }) if name == "a.postinst"
    ));

    let killed = sandbox.run(&sh("b.postinst", "kill -9 $$")).expect("running");
    assert_eq!(killed.status.signal(), Some(9));

    // Only what the caller set, plus what the shell adds itself.
    let env = run_ok(&mut sandbox, &sh("c.preinst", "env"));
    let names: BTreeSet<&str> = env.lines().filter_map(|line| line.split('=').next()).collect();
    let expected: BTreeSet<&str> =
        ["PATH", "LANG", "DEBIAN_FRONTEND", "DPKG_MAINTSCRIPT_PACKAGE", "DPKG_MAINTSCRIPT_NAME", "DPKG_ROOT", "PWD"]
            .into();
    assert_eq!(names, expected, "environment: {env}");
    assert!(env.contains("DPKG_MAINTSCRIPT_NAME=preinst\n"));
    assert_eq!(run_ok(&mut sandbox, &sh("d", "pwd")), "/\n");
    let in_dir = sh("e", "pwd").current_dir("/etc");
    assert_eq!(run_ok(&mut sandbox, &in_dir), "/etc\n");
    drop(sandbox);
}

fn append_to_hardlinked_file_changes_only_the_tree(fixture: &Fixture) {
    let tree = fixture.tree();
    let object = tree.dir.path().join("object");
    fs::write(&object, "original\n").expect("writing the object");
    fs::hard_link(&object, tree.path("/etc/appendme")).expect("linking the object into the tree");
    let object_inode = fs::metadata(&object).expect("stat").ino();

    let mut sandbox = tree.start();
    run_ok(&mut sandbox, &sh("a.preinst", "echo appended >> /etc/appendme"));
    // A later command of the session sees the change.
    assert_eq!(run_ok(&mut sandbox, &sh("a.postinst", "cat /etc/appendme")), "original\nappended\n");
    // The tree is untouched while the session runs.
    assert_eq!(fs::read_to_string(tree.path("/etc/appendme")).expect("read"), "original\n");
    let upper = sandbox.finish().expect("finishing");
    let planned = upper.plan().expect("planning");
    assert_eq!(
        planned,
        vec![Change { path: "/etc/appendme".into(), kind: ChangeKind::Modified, entry: EntryKind::File }]
    );
    let applied = upper.apply().expect("applying");
    assert_eq!(applied, planned);

    // The store object is as it was; the tree has a new inode.
    assert_eq!(fs::read_to_string(&object).expect("read"), "original\n");
    let object_metadata = fs::metadata(&object).expect("stat");
    assert_eq!(object_metadata.ino(), object_inode);
    assert_eq!(object_metadata.nlink(), 1, "the tree's hardlink was replaced, not written");
    let tree_file = tree.path("/etc/appendme");
    assert_eq!(fs::read_to_string(&tree_file).expect("read"), "original\nappended\n");
    assert_ne!(fs::metadata(&tree_file).expect("stat").ino(), object_inode);
    assert_no_overlay_xattrs(&tree_file);
    assert!(fs::read_dir(&tree.scratch).expect("listing").next().is_none(), "the scratch directory is removed");
}

fn assert_no_overlay_xattrs(path: &Path) {
    let output = Command::new("getfattr")
        .args(["-R", "-h", "-d", "-m", "^trusted\\.overlay\\.", "--absolute-names"])
        .arg(path)
        .output()
        .expect("running getfattr");
    assert!(output.stdout.is_empty(), "overlay xattrs left: {}", text(&output.stdout));
}

fn listing(root: &Path) -> String {
    run_host(
        Command::new("find").arg(".").arg("-printf").arg("%p %y %i %n %m %s %l\n").current_dir(root).env("LC_ALL", "C"),
    )
    .lines()
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect::<Vec<_>>()
    .join("\n")
}

fn rm_rf_root_leaves_the_tree_and_host_alone(fixture: &Fixture) {
    let tree = fixture.tree();
    let host_marker = tree.dir.path().join("host-marker");
    fs::write(&host_marker, "host").expect("writing the marker");
    let before = listing(&tree.root);

    let mut sandbox = tree.start();
    let output = sandbox
        .run(&sh("evil.postinst", "rm -rf --no-preserve-root / 2>&1 | tail -3; ls / 2>&1; true"))
        .expect("running");
    assert!(output.status.success());
    let upper = sandbox.finish().expect("finishing");
    let planned = upper.plan().expect("planning");
    // The upper dir holds the deletions: applying would empty the tree.
    assert!(has_change(&planned, "/usr/bin/bash", ChangeKind::Removed, EntryKind::File));
    assert!(has_change(&planned, "/etc/passwd", ChangeKind::Removed, EntryKind::File));
    drop(upper);

    assert_eq!(listing(&tree.root), before, "the lower tree changed");
    assert_eq!(fs::read_to_string(&host_marker).expect("read"), "host");
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml").exists());
    assert!(fixture.store.join("usr/bin/bash").exists());
}

fn proc_dev_sys_and_capabilities_are_minimal(fixture: &Fixture) {
    let tree = fixture.tree();
    let mut config = tree.config();
    config.hostname = Some("layer-sandbox".to_owned());
    let mut sandbox = Sandbox::start(&config).expect("starting");

    // `h` only prints help to the kernel log, should the write get through.
    // Kernels without CONFIG_MAGIC_SYSRQ have no such file at all.
    let sysrq = sandbox.run(&sh("sysrq", "echo h > /proc/sysrq-trigger")).expect("running");
    assert!(!sysrq.status.success());
    let stderr = text(&sysrq.stderr);
    assert!(stderr.contains("Read-only file system") || stderr.contains("nonexistent"), "{stderr}");
    // Every file of /proc is read-only, sysctls and the process's own files.
    for file in ["/proc/sys/vm/drop_caches", "/proc/self/oom_score_adj"] {
        let write = sandbox.run(&sh("proc-write", &format!("echo 0 > {file}"))).expect("running");
        assert!(!write.status.success(), "writing {file} succeeded");
        assert!(text(&write.stderr).contains("Read-only file system"), "{}", text(&write.stderr));
    }

    for target in ["/root/sda", "/dev/sda", "/tmp/sda"] {
        let mknod = sandbox.run(&sh("mknod", &format!("mknod {target} b 8 0"))).expect("running");
        assert!(!mknod.status.success(), "mknod {target} succeeded");
        assert!(text(&mknod.stderr).contains("Operation not permitted"), "{}", text(&mknod.stderr));
    }

    // Only the command's own processes; pid 1 is the sandbox's.
    let pids = run_ok(&mut sandbox, &sh("ps", "ls /proc | grep -c '^[0-9]'"));
    assert!(pids.trim().parse::<u32>().expect("a count") <= 4, "processes: {pids}");
    let caps = run_ok(&mut sandbox, &sh("caps", "grep CapBnd /proc/self/status"));
    let bounding = u64::from_str_radix(caps.trim().rsplit('\t').next().expect("a mask"), 16).expect("hex");
    for (capability, bit) in
        [("CAP_SYS_ADMIN", 21), ("CAP_MKNOD", 27), ("CAP_DAC_READ_SEARCH", 2), ("CAP_SYS_MODULE", 16)]
    {
        assert_eq!(bounding & (1 << bit), 0, "{capability} kept");
    }
    assert_ne!(bounding & 1, 0, "CAP_CHOWN dropped");

    let dev = run_ok(&mut sandbox, &sh("dev", "ls -A /dev | tr '\\n' ' '"));
    assert_eq!(dev.trim(), "fd full null random shm stderr stdin stdout tty urandom zero");
    run_ok(
        &mut sandbox,
        &sh(
            "devices",
            "set -e; echo x > /dev/null; test \"$(head -c 4 /dev/urandom | wc -c)\" = 4; \
             test \"$(head -c 3 /dev/zero | wc -c)\" = 3; echo x > /dev/shm/x; ls /proc/self/fd/ >/dev/null",
        ),
    );
    assert_eq!(run_ok(&mut sandbox, &sh("sys", "ls -A /sys | wc -l")).trim(), "0");
    assert!(!sandbox.run(&sh("sys-write", "touch /sys/x")).expect("running").status.success());
    assert_eq!(run_ok(&mut sandbox, &sh("uts", "cat /proc/sys/kernel/hostname")), "layer-sandbox\n");
    // No terminal of the caller's to reach.
    assert!(!sandbox.run(&sh("tty", "echo x > /dev/tty")).expect("running").status.success());
    // Nothing of the host's filesystem.
    run_ok(
        &mut sandbox,
        &sh("host", "test ! -e /work && test ! -e /.test-cache && ! grep -q ' /work' /proc/self/mountinfo"),
    );

    let upper = sandbox.finish().expect("finishing");
    let planned = upper.plan().expect("planning");
    assert!(planned.is_empty(), "{planned:?}");
}

fn network_is_unreachable(fixture: &Fixture) {
    let tree = fixture.tree();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listening");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let mut sandbox = tree.start();
    let connect = sandbox
        .run(&Script::new("net", "/bin/bash").arg("-c").arg(format!("echo hi > /dev/tcp/127.0.0.1/{port}")))
        .expect("running");
    assert!(!connect.status.success());
    assert!(text(&connect.stderr).contains("Network is unreachable"), "{}", text(&connect.stderr));
    match listener.accept() {
        Err(error) if error.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's listener saw a connection: {other:?}"),
    }
    let interfaces = run_ok(&mut sandbox, &sh("interfaces", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"));
    assert_eq!(interfaces, "lo\n");
}

fn host_tmp_is_invisible(fixture: &Fixture) {
    let tree = fixture.tree();
    let marker = PathBuf::from(format!("/tmp/layer-sandbox-marker-{}", std::process::id()));
    fs::write(&marker, "secret").expect("writing the marker");
    let mut sandbox = tree.start();
    let result = sandbox.run(&sh(
        "tmp",
        &format!("test ! -e {} && test -z \"$(ls -A /tmp)\" && echo t > /tmp/x && echo r > /run/x", marker.display()),
    ));
    fs::remove_file(&marker).expect("removing the marker");
    assert!(result.expect("running").status.success());
    // Another command of the session sees the session's /tmp.
    assert_eq!(run_ok(&mut sandbox, &sh("tmp2", "cat /tmp/x /run/x")), "t\nr\n");
    let upper = sandbox.finish().expect("finishing");
    assert!(upper.plan().expect("planning").is_empty());
}

fn processes_named(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            let cmdline = text(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!("{}: {cmdline}", name.to_string_lossy()));
            }
        }
    }
    found
}

fn wait_until_no_process(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_named(marker);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left: {left:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kernel_limits_pids_per_namespace() -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|part| part.parse::<u32>().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) >= (6, 14)
}

fn fork_bomb_is_killed_by_the_timeout(fixture: &Fixture) {
    if !kernel_limits_pids_per_namespace() {
        // Without a per-namespace pid_max, the bomb would exhaust the
        // machine's pids before the timeout strikes.
        println!("  skipped: the kernel has no per-namespace pid_max");
        return;
    }
    let tree = fixture.tree();
    let marker = format!("layer-forkbomb-{}", std::process::id());
    let mut sandbox = tree.start();
    // The classic bomb: the script itself returns at once, and the bomb
    // dies with the namespace when it does.
    let bomb = Script::new("bomb.preinst", "/bin/bash")
        .arg("-c")
        .arg(":(){ :|:& };:")
        .arg(&marker)
        .timeout(Duration::from_secs(3));
    let output = sandbox.run(&bomb).expect("running");
    assert!(output.status.success());
    wait_until_no_process(&marker);
    // A bomb whose script stays: the timeout kills the whole tree.
    let bomb = Script::new("bomb.postinst", "/bin/bash")
        .arg("-c")
        .arg(":(){ :|:& };: ; while :; do sleep 1; done")
        .arg(&marker)
        .timeout(Duration::from_secs(3));
    let started = Instant::now();
    let result = sandbox.run(&bomb);
    assert!(matches!(result, Err(SandboxError::TimedOut { ref name, .. }) if name == "bomb.postinst"), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    wait_until_no_process(&marker);
    // The session survives its command's namespace.
    run_ok(&mut sandbox, &sh("after", "true"));
}

fn endless_loop_times_out_with_a_clear_error(fixture: &Fixture) {
    let tree = fixture.tree();
    let marker = format!("layer-loop-{}", std::process::id());
    let mut sandbox = tree.start();
    let looping = sh("loop.postinst", "while :; do :; done").arg(&marker).timeout(Duration::from_secs(1));
    // A child that ignores SIGTERM and would outlive its parent.
    let daemon = sh("daemon.postinst", "trap '' TERM; (sleep 1000; true) & while :; do sleep 1; done")
        .arg(&marker)
        .timeout(Duration::from_secs(1));
    for script in [looping, daemon] {
        let started = Instant::now();
        let error = sandbox.run(&script).expect_err("times out");
        let message = error.to_string();
        assert!(message.starts_with(&format!("script `{}` timed out after 1.0s", script.name())), "{message}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    wait_until_no_process(&marker);
    run_ok(&mut sandbox, &sh("after", "true"));
}

const MERGED_LISTING: &str = "cd / && find etc usr/share var -xdev \\( -type d -printf '%p %y %m %U %G\\n' \\) -o \
                              -printf '%p %y %m %U %G %s %l\\n' | LC_ALL=C sort && \
                              find etc var usr/share/replace-dir -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum";

fn whiteouts_and_opaque_dirs_apply_as_the_overlay_showed(fixture: &Fixture) {
    let tree = fixture.tree();
    let setup = [
        ("/etc/deleteme", Some("delete me")),
        ("/usr/share/replace-dir/old1", Some("old")),
        ("/usr/share/replace-dir/sub/old2", Some("old")),
        ("/etc/modedir/inside", Some("inside")),
        ("/etc/dir-to-file/inside", Some("inside")),
        ("/etc/file-to-dir", Some("file")),
        ("/etc/file-to-symlink", Some("file")),
        ("/etc/renamed-dir/inside", Some("inside")),
    ];
    for (path, content) in setup {
        let path = tree.path(path);
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        if let Some(content) = content {
            fs::write(&path, content).expect("write");
        }
    }
    fs::set_permissions(tree.path("/etc/modedir"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let hostname_inode = fs::metadata(tree.path("/etc/hostname")).expect("stat").ino();

    let mut sandbox = tree.start();
    run_ok(
        &mut sandbox,
        &sh(
            "changes.postinst",
            "set -e
             rm /etc/deleteme
             rm -rf /usr/share/replace-dir && mkdir /usr/share/replace-dir && echo new > /usr/share/replace-dir/new
             chmod 0700 /etc/modedir
             chmod 0600 /etc/hostname
             ln -s target /etc/newlink
             rm -rf /etc/dir-to-file && echo file > /etc/dir-to-file
             rm /etc/file-to-dir && mkdir /etc/file-to-dir && echo in > /etc/file-to-dir/f
             ln -sf /etc/hostname /etc/file-to-symlink
             mv /etc/renamed-dir /etc/moved-dir
             mkdir -p /var/lib/newdir && echo x > /var/lib/newdir/f
             echo t > /tmp/discard; echo r > /run/discard; echo s > /dev/shm/discard",
        ),
    );
    let merged = run_ok(&mut sandbox, &sh("listing", MERGED_LISTING));
    let upper = sandbox.finish().expect("finishing");
    let planned = upper.plan().expect("planning");
    let applied = upper.apply().expect("applying");
    assert_eq!(applied, planned);

    use ChangeKind::{Added, Modified, Removed};
    use EntryKind::{Directory, File, Symlink};
    let expected = [
        ("/etc/deleteme", Removed, File),
        ("/usr/share/replace-dir", Modified, Directory),
        ("/usr/share/replace-dir/old1", Removed, File),
        ("/usr/share/replace-dir/sub", Removed, Directory),
        ("/usr/share/replace-dir/sub/old2", Removed, File),
        ("/usr/share/replace-dir/new", Added, File),
        ("/etc/modedir", Modified, Directory),
        ("/etc/hostname", Modified, File),
        ("/etc/newlink", Added, Symlink),
        ("/etc/dir-to-file", Modified, File),
        ("/etc/dir-to-file/inside", Removed, File),
        ("/etc/file-to-dir", Modified, Directory),
        ("/etc/file-to-dir/f", Added, File),
        ("/etc/file-to-symlink", Modified, Symlink),
        ("/etc/renamed-dir", Removed, Directory),
        ("/etc/renamed-dir/inside", Removed, File),
        ("/etc/moved-dir", Added, Directory),
        ("/etc/moved-dir/inside", Added, File),
        ("/var/lib/newdir", Added, Directory),
        ("/var/lib/newdir/f", Added, File),
    ];
    for (path, kind, entry) in expected {
        assert!(has_change(&applied, path, kind, entry), "missing {kind:?} {entry:?} `{path}` in {applied:#?}");
    }
    for change in &applied {
        for discarded in ["/tmp", "/run", "/dev", "/proc", "/sys"] {
            assert!(!change.path.starts_with(discarded), "{change:?}");
        }
    }
    assert_eq!(fs::metadata(tree.path("/etc/modedir")).expect("stat").permissions().mode() & 0o7777, 0o700);
    assert_ne!(fs::metadata(tree.path("/etc/hostname")).expect("stat").ino(), hostname_inode);
    assert_eq!(fs::read_link(tree.path("/etc/newlink")).expect("readlink"), Path::new("target"));
    for path in ["/etc", "/var", "/usr/share/replace-dir"] {
        assert_no_overlay_xattrs(&tree.path(path));
    }
    assert!(!tree.path("/tmp/discard").exists() && !tree.path("/run/discard").exists());

    // A fresh session over the applied tree shows what the first one did.
    let mut again = tree.start();
    let applied_listing = run_ok(&mut again, &sh("listing", MERGED_LISTING));
    assert_eq!(applied_listing, merged);
    let upper = again.finish().expect("finishing");
    assert!(upper.plan().expect("planning").is_empty());
}

fn missing_program_is_a_clear_error(fixture: &Fixture) {
    let tree = fixture.tree();
    let mut sandbox = tree.start();
    let error = sandbox.run(&Script::new("ghost.postinst", "/no/such/program")).expect_err("fails");
    assert!(matches!(error, SandboxError::ScriptStart { ref name, .. } if name == "ghost.postinst"));
    assert!(error.to_string().contains("`/no/such/program`"), "{error}");
    let source = std::error::Error::source(&error).expect("a source").to_string();
    assert!(source.contains("No such file"), "{source}");
    run_ok(&mut sandbox, &sh("after", "true"));
}

fn start_errors_are_clear(fixture: &Fixture) {
    let tree = fixture.tree();
    for program in ["/bin/echo", "/bin/true"] {
        let mut config = tree.config();
        config.init_program = program.into();
        let error = Sandbox::start(&config).expect_err("fails");
        assert!(matches!(error, SandboxError::InitNotStarted { .. }), "{error:?}");
        assert!(error.to_string().contains("hint: call `compose::sandbox::init_main()`"));
    }
    let mut config = tree.config();
    config.scratch_parent = "/dev/shm".into();
    if Path::new("/dev/shm").is_dir() {
        let error = Sandbox::start(&config).expect_err("fails");
        assert!(matches!(error, SandboxError::DifferentFilesystem { .. }), "{error:?}");
    }
    assert!(fs::read_dir(&tree.scratch).expect("listing").next().is_none());
    // A scratch directory inside the tree would show up in the sandbox.
    let error = Sandbox::start(&SandboxConfig::new(&tree.root, tree.path("/var/tmp"))).expect_err("fails");
    assert!(matches!(error, SandboxError::ScratchInsideTree { .. }), "{error:?}");
    assert!(fs::read_dir(tree.path("/var/tmp")).expect("listing").next().is_none());
    // A tree whose `/dev` is a file cannot get a `/dev`.
    fs::remove_dir_all(tree.path("/dev")).expect("removing /dev");
    fs::write(tree.path("/dev"), "not a directory").expect("writing /dev");
    let error = Sandbox::start(&tree.config()).expect_err("fails");
    assert!(matches!(error, SandboxError::Setup { .. }), "{error:?}");
    assert_eq!(error.to_string(), "cannot set up the sandbox: opening `/dev` in the tree");
    let source = std::error::Error::source(&error).expect("a source").to_string();
    assert!(source.contains("Not a directory"), "{source}");
    assert!(fs::read_dir(&tree.scratch).expect("listing").next().is_none());
    let error = Sandbox::start(&SandboxConfig::new(tree.path("/etc/hostname"), &tree.scratch)).expect_err("fails");
    assert!(matches!(error, SandboxError::OpenTree { .. }), "{error:?}");
}

fn drop_without_finish_removes_the_scratch_dir(fixture: &Fixture) {
    let tree = fixture.tree();
    let mut sandbox = tree.start();
    run_ok(&mut sandbox, &sh("write", "echo x > /etc/x"));
    let upper = sandbox.upper_dir();
    assert!(upper.join("etc/x").exists());
    drop(sandbox);
    assert!(fs::read_dir(&tree.scratch).expect("listing").next().is_none());
    assert!(!tree.path("/etc/x").exists());
}

/// The helper side of `killing_the_caller_leaves_nothing_behind`: start a
/// session, report when the script runs, and block until killed.
fn hold_sandbox(args: &[String]) {
    let [root, scratch, marker] = args else {
        panic!("usage: __hold-sandbox ROOT SCRATCH MARKER");
    };
    let mut sandbox = Sandbox::start(&SandboxConfig::new(root, scratch)).expect("starting");
    let script = sh("hold", "echo started; sleep 1000").arg(marker);
    let _ = sandbox.run_with_output(&script, &mut |_, line| {
        println!("{}", text(line));
    });
}

fn killing_the_caller_leaves_nothing_behind(fixture: &Fixture) {
    let tree = fixture.tree();
    let marker = format!("layer-hold-{}", std::process::id());
    let mut helper = Command::new(std::env::current_exe().expect("our path"))
        .arg("__hold-sandbox")
        .args([tree.root.as_os_str(), tree.scratch.as_os_str(), OsStr::new(&marker)])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the helper");
    let mut line = String::new();
    BufReader::new(helper.stdout.take().expect("a pipe")).read_line(&mut line).expect("reading");
    assert_eq!(line, "started\n");
    assert!(!processes_named(&marker).is_empty());
    helper.kill().expect("killing the helper");
    helper.wait().expect("reaping the helper");
    // The init sees its control pipe close and takes everything down.
    wait_until_no_process(&marker);
    wait_until_no_process(&tree.scratch.to_string_lossy());
    let scratch = tree.scratch.to_string_lossy().into_owned();
    assert!(mountinfo().iter().all(|line| !line.contains(&scratch)));
}
