//! Layering on an rpm base image, end to end: a small rpm distribution
//! built in the test with the real `rpmbuild`, served on 127.0.0.1 as an
//! rpm-md repository (`createrepo_c`, `repomd.xml` and packages signed
//! with a throwaway key), a base composed from it with `layer compose
//! tree` (and checked against the same packages installed by the real
//! `rpm` and imported), and every result checked with the real `rpm`
//! against the deployment: `-qa`, `-V`, `--whatprovides`.

mod common;
#[path = "../crates/pkgdb/tests/rpm_support/mod.rs"]
mod rpm_support;

use std::path::{Path, PathBuf};

use common::*;
use rpm_support::{CpioRecord, Rpm, TYPE_STRING, TYPE_STRING_ARRAY};

/// One made-up package: its spec's header lines, `%install` script and
/// `%files` list, plus scriptlets.
struct Spec<'a> {
    name: &'a str,
    version: &'a str,
    /// `noarch` unless it ships busybox.
    arch: &'a str,
    header: &'a str,
    install: &'a str,
    files: &'a str,
    scripts: &'a str,
}

const BASE: &[&str] = &["filesystem", "busybox", "libalpha"];

fn specs() -> Vec<Spec<'static>> {
    vec![
        Spec {
            name: "filesystem",
            version: "1",
            arch: "noarch",
            header: "",
            install: "mkdir -p usr/bin usr/sbin usr/lib usr/lib64 usr/share etc var/lib tmp root usr/lib/sysimage/rpm proc sys dev run
                ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64
                echo 'root:x:0:0:root:/root:/bin/sh' > etc/passwd
                echo 'root:x:0:' > etc/group",
            files: "/bin\n/sbin\n/lib\n/lib64\n%dir /usr\n%dir /usr/bin\n%dir /usr/sbin\n%dir /usr/lib\n%dir /usr/lib64\n\
                %dir /usr/share\n%dir /etc\n%dir /var\n%dir /var/lib\n%dir /usr/lib/sysimage\n%dir /usr/lib/sysimage/rpm\n\
                %attr(1777,root,root) %dir /tmp\n%dir /proc\n%dir /sys\n%dir /dev\n%dir /run\n%attr(0550,root,root) %dir /root\n\
                %config(noreplace) /etc/passwd\n%config(noreplace) /etc/group",
            scripts: "",
        },
        Spec {
            name: "busybox",
            version: "1.35",
            arch: "x86_64",
            header: "Requires: filesystem\nProvides: /bin/sh",
            install: "mkdir -p usr/bin && cp /bin/busybox usr/bin/busybox
                for l in sh cat echo grep ls mkdir; do ln -s busybox usr/bin/$l; done",
            files: "/usr/bin/*",
            scripts: "",
        },
        Spec {
            name: "libalpha",
            version: "1",
            arch: "noarch",
            header: "Provides: alpha-api = 1",
            install: "mkdir -p usr/share/alpha && echo alpha%{version} > usr/share/alpha/version",
            files: "/usr/share/alpha",
            scripts: "",
        },
        // A virtual provide, a versioned require, a rich dependency, a
        // file require and a Requires(post); its %post writes into /etc.
        Spec {
            name: "hello",
            version: "2",
            arch: "noarch",
            header: "Requires: /usr/bin/busybox\nRequires: alpha-api >= 1\nRequires: (libgreet or libother)\n\
                Requires(post): busybox\nProvides: greeter",
            install: "mkdir -p usr/bin && printf '#!/bin/sh\\necho hello\\n' > usr/bin/hello",
            files: "%attr(0755,root,root) /usr/bin/hello",
            scripts: "%post\necho configured > /etc/hello-post.conf\n%posttrans\necho done > /usr/share/hello-posttrans",
        },
        Spec {
            name: "libgreet",
            version: "1",
            arch: "noarch",
            header: "Conflicts: libother",
            install: "mkdir -p usr/share/greet && echo hi > usr/share/greet/words",
            files: "/usr/share/greet",
            scripts: "",
        },
        // A system user made by %pre, owning files in /usr and in /var.
        Spec {
            name: "daemon",
            version: "1",
            arch: "noarch",
            header: "Requires(pre): busybox",
            install: "mkdir -p usr/share/daemon var/lib/daemon && echo secret > usr/share/daemon/key",
            files: "%attr(0640,daemond,daemond) /usr/share/daemon/key\n%attr(0750,daemond,daemond) %dir /var/lib/daemon\n\
                %dir /usr/share/daemon",
            scripts: "%pre\ngrep -q '^daemond:' /etc/group || echo 'daemond:x:990:' >> /etc/group\n\
                grep -q '^daemond:' /etc/passwd || echo 'daemond:x:990:990::/var/lib/daemon:/bin/sh' >> /etc/passwd",
        },
        // Obsoletes a base package: refused unless forced.
        Spec {
            name: "alpha-ng",
            version: "1",
            arch: "noarch",
            header: "Obsoletes: libalpha\nProvides: alpha-api = 2",
            install: "mkdir -p usr/share/alpha-ng && echo ng > usr/share/alpha-ng/v",
            files: "/usr/share/alpha-ng",
            scripts: "",
        },
        // Built, never published: installed from its file.
        Spec {
            name: "localtool",
            version: "1",
            arch: "noarch",
            header: "Requires: busybox",
            install: "mkdir -p usr/bin && printf '#!/bin/sh\\necho local\\n' > usr/bin/localtool",
            files: "%attr(0755,root,root) /usr/bin/localtool",
            scripts: "",
        },
        // Published without a signature.
        Spec {
            name: "unsigned",
            version: "1",
            arch: "noarch",
            header: "",
            install: "mkdir -p usr/share/unsigned && echo x > usr/share/unsigned/x",
            files: "/usr/share/unsigned",
            scripts: "",
        },
        Spec {
            name: "luapkg",
            version: "1",
            arch: "noarch",
            header: "",
            install: "mkdir -p usr/share/lua-pkg && echo x > usr/share/lua-pkg/x",
            files: "/usr/share/lua-pkg",
            scripts: "%post -p <lua>\nprint(\"hi\")",
        },
    ]
}

/// Writes `spec` as a spec file and builds it with `rpmbuild` in `dir`.
fn build(dir: &Path, spec: &Spec<'_>, version: &str) -> PathBuf {
    let text = format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name}\nLicense: MIT\n{arch}{header}\n\
         %description\n{name}, made up by a test.\n%install\ncd %{{buildroot}}\n{install}\n{scripts}\n%files\n{files}\n",
        name = spec.name,
        arch = if spec.arch == "noarch" { "BuildArch: noarch\n" } else { "" },
        header = spec.header,
        install = spec.install,
        scripts = spec.scripts,
        files = spec.files,
    );
    let specs = dir.join("SPECS");
    std::fs::create_dir_all(&specs).expect("SPECS");
    let path = specs.join(format!("{}-{version}.spec", spec.name));
    std::fs::write(&path, text).expect("spec");
    sh(&format!(
        "rpmbuild --quiet --define '_topdir {d}' --define '__os_install_post %{{nil}}' --define '_build_id_links none' \
         --define 'debug_package %{{nil}}' -bb '{s}'",
        d = dir.display(),
        s = path.display()
    ))
    .ok();
    dir.join(format!("RPMS/{a}/{n}-{version}-1.{a}.rpm", a = spec.arch, n = spec.name))
}

/// A served rpm-md repository with `repomd.xml` and its packages signed by
/// a throwaway key.
struct RpmRepo {
    dir: PathBuf,
    server: std::process::Child,
    port: u16,
}

impl Drop for RpmRepo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.join("gnupg"))
            .args(["--kill", "all"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl RpmRepo {
    fn serve(dir: &Path) -> RpmRepo {
        std::fs::create_dir_all(dir.join("www")).expect("www");
        sh(&format!(
            r#"
            set -e
            cd "{d}"
            mkdir -p -m 700 gnupg
            export GNUPGHOME="$PWD/gnupg"
            gpg --batch --quiet --passphrase '' --quick-gen-key 'layer rpm test <rpm@example.invalid>' rsa2048 sign never
            gpg --batch --armor --export > key.asc
            "#,
            d = dir.display()
        ))
        .ok();
        let (server, port) = serve_dir(&dir.join("www"));
        RpmRepo { dir: dir.to_owned(), server, port }
    }

    /// Signs `rpms`, copies them in, and (re)writes and signs the metadata.
    fn publish(&self, rpms: &[PathBuf], sign: bool) {
        for rpm in rpms {
            let dest = self.dir.join("www").join(rpm.file_name().expect("name"));
            std::fs::copy(rpm, &dest).expect("copy rpm");
            if sign {
                sh(&format!(
                    "GNUPGHOME='{g}' rpmsign --quiet --define '__gpg /usr/bin/gpg' --define '_gpg_name layer rpm test' --addsign '{f}' </dev/null",
                    g = self.dir.join("gnupg").display(),
                    f = dest.display()
                ))
                .ok();
            }
        }
        sh(&format!(
            "set -e; cd '{w}'; createrepo_c -q --update .; rm -f repodata/repomd.xml.asc
             GNUPGHOME='{g}' gpg --batch --yes --detach-sign --armor repodata/repomd.xml",
            w = self.dir.join("www").display(),
            g = self.dir.join("gnupg").display()
        ))
        .ok();
    }

    /// Points `etc` (a deployment's) at this repository only.
    fn configure(&self, etc: &Path, gpgcheck: bool) {
        sh(&format!(
            "set -e; mkdir -p '{e}/yum.repos.d' '{e}/pki/rpm-gpg'; rm -f '{e}/yum.repos.d/'*
             cp '{k}' '{e}/pki/rpm-gpg/RPM-GPG-KEY-test'
             printf '[test]\\nname=test\\nbaseurl=http://127.0.0.1:{p}/\\ngpgcheck={c}\\nrepo_gpgcheck=1\\n\
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-test\\n' > '{e}/yum.repos.d/test.repo'",
            e = etc.display(),
            k = self.dir.join("key.asc").display(),
            p = self.port,
            c = u8::from(gpgcheck)
        ))
        .ok();
    }
}

/// Installs `rpms` into a fresh `root` with the real rpm, its database in
/// `/usr/lib/sysimage/rpm` as Fedora keeps it.
fn rpm_install_root(root: &Path, rpms: &[PathBuf]) {
    let list: Vec<String> = rpms.iter().map(|p| format!("'{}'", p.display())).collect();
    sh(&format!(
        "set -e; mkdir -p '{r}'; rpm --root '{r}' --dbpath /usr/lib/sysimage/rpm --initdb
         rpm --root '{r}' --dbpath /usr/lib/sysimage/rpm -i --nosignature {l}",
        r = root.display(),
        l = list.join(" ")
    ))
    .ok();
}

/// `rpm ARGS` on deployment `index`, with its stateroot's `/var` in place.
fn rpm_in(sysroot: &Path, index: usize, args: &str) -> Run {
    let dir = deployment_dir(sysroot, index);
    let stateroot = status(sysroot)["deployments"][index]["stateroot"].as_str().expect("stateroot").to_owned();
    let var = sysroot.join(format!("ostree/deploy/{stateroot}/var"));
    sh(&format!(
        "unshare -m sh -c \"mount --bind '{v}' '{d}/var' && rpm --root '{d}' --dbpath /usr/lib/sysimage/rpm {args}\"",
        v = var.display(),
        d = dir.display()
    ))
}

/// `rpm -qa`, sorted, one NEVRA a line.
fn qa(sysroot: &Path, index: usize) -> Vec<String> {
    let out = rpm_in(sysroot, index, "-qa --qf '%{NAME}-%{VERSION}-%{RELEASE}\\n'").ok();
    let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
    names.sort();
    names
}

/// `rpm -V --nomtime` of every package of a deployment, with what the
/// image policy changes taken out: `/root` is a link into `/var`. ostree
/// keeps no modification times, hence `--nomtime`.
fn verify(sysroot: &Path, index: usize) -> String {
    let out = rpm_in(sysroot, index, "-Va --nomtime");
    out.stdout.lines().filter(|l| !l.ends_with(" /root")).map(|l| format!("{l}\n")).collect()
}

struct Setup {
    dir: tempfile::TempDir,
    repo: RpmRepo,
    rpms: std::collections::BTreeMap<String, PathBuf>,
    sysroot: PathBuf,
}

/// Composes `ref` in the sysroot's repository from the served repository
/// with `layer compose tree`: `packages` and what they require.
fn compose_tree(dir: &Path, repo: &RpmRepo, sysroot: &Path, reference: &str, packages: &[&str]) -> Run {
    let list: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
    let treefile = dir.join(format!("{}.toml", reference.replace('/', "-")));
    std::fs::write(
        &treefile,
        format!(
            "ref = \"{reference}\"\nversion = \"1\"\npackages = [{}]\n\n[[repos]]\nkind = \"rpm-md\"\nid = \"test\"\n\
             baseurl = \"http://127.0.0.1:{}/\"\ngpgkey = \"{}\"\nrepo-gpgcheck = true\n",
            list.join(", "),
            repo.port,
            repo.dir.join("key.asc").display()
        ),
    )
    .expect("treefile");
    let repo_path = sysroot.join("ostree/repo");
    let cache = dir.join("compose-cache");
    layer(&[
        "compose",
        "tree",
        &treefile.display().to_string(),
        "--repo",
        &repo_path.display().to_string(),
        "--cache-dir",
        &cache.display().to_string(),
    ])
}

/// Builds the distribution, serves it, composes the base from it,
/// deploys it and points the deployment at the repository.
fn setup() -> Setup {
    let dir = scratch();
    let build_dir = dir.path().join("build");
    let rpms: std::collections::BTreeMap<String, PathBuf> =
        specs().iter().map(|s| (s.name.to_owned(), build(&build_dir, s, s.version))).collect();
    let sysroot = dir.path().join("sysroot");
    layer_at(&sysroot, &["init", "--stateroot", "rpmos"]).ok();
    let repo = RpmRepo::serve(&dir.path().join("repo"));
    let unpublished = ["localtool", "unsigned"];
    let published: Vec<PathBuf> =
        rpms.iter().filter(|(n, _)| !unpublished.contains(&n.as_str())).map(|(_, p)| p.clone()).collect();
    repo.publish(&published, true);
    repo.publish(&[rpms["unsigned"].clone()], false);
    compose_tree(dir.path(), &repo, &sysroot, "rpmos/base", BASE).ok();
    layer_at(&sysroot, &["rebase", "rpmos/base"]).ok();
    repo.configure(&deployment_dir(&sysroot, 0).join("etc"), true);
    Setup { dir, repo, rpms, sysroot }
}

#[test]
fn install_uninstall_and_rebuild_on_an_rpm_base() {
    let Setup { dir, repo, rpms, sysroot } = setup();
    let base_qa = qa(&sysroot, 0);
    assert_eq!(base_qa, ["busybox-1.35-1", "filesystem-1-1", "libalpha-1-1"]);
    let base_verify = verify(&sysroot, 0);

    // The composed base holds what the real rpm installs from the same
    // packages, imported: the same files, modes and owners, and the same
    // packages in its rpmdb (whose sqlite bytes differ).
    let root = dir.path().join("root");
    rpm_install_root(&root, &BASE.iter().map(|n| rpms[*n].clone()).collect::<Vec<_>>());
    let repo_path = sysroot.join("ostree/repo");
    let (root_s, repo_s) = (root.display().to_string(), repo_path.display().to_string());
    layer(&["compose", "import", &root_s, "--repo", &repo_s, "--ref", "rpmos/by-rpm"]).ok();
    // What the empty tree brings that this small `filesystem` lacks, and
    // the tmpfiles lines (compose names its file after the packages).
    let skeleton = ["/boot", "/home", "/mnt", "/opt", "/srv", "/usr/local", "/usr/lib/tmpfiles.d/layer-"];
    let listing = |reference: &str| -> String {
        let out = ostree(&[&format!("--repo={repo_s}"), "ls", "-R", reference]).ok();
        out.lines()
            .map(|l| {
                // MODE UID GID SIZE PATH [-> TARGET]: a directory's size varies.
                let fields: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {} {}", fields[0], fields[1], fields[2], fields[4..].join(" "))
            })
            .filter(|l| {
                !l.contains(" /usr/lib/sysimage/rpm/") && !skeleton.iter().any(|s| l.contains(&format!(" {s}")))
            })
            .map(|l| l + "\n")
            .collect()
    };
    let (composed, installed) = (listing("rpmos/base"), listing("rpmos/by-rpm"));
    // Composing again from the same repository gives the same commit.
    let again = compose_tree(dir.path(), &repo, &sysroot, "rpmos/base", BASE);
    assert!(again.stderr.contains("No changes"), "{}", again.stderr);
    assert_eq!(again.ok().trim(), ostree(&[&format!("--repo={repo_s}"), "rev-parse", "rpmos/base"]).ok().trim());

    // Each /var directory is made once, the rpmdb linked from /var/lib/rpm.
    let tmpfiles =
        ostree(&[&format!("--repo={repo_s}"), "cat", "rpmos/base", "/usr/lib/tmpfiles.d/layer-packages.conf"]);
    let image =
        ostree(&[&format!("--repo={repo_s}"), "cat", "rpmos/base", "/usr/lib/tmpfiles.d/layer-image.conf"]).ok();
    let mut made: Vec<&str> = image.lines().chain(tmpfiles.stdout.lines()).filter(|l| l.starts_with("d ")).collect();
    let all = made.len();
    made.sort_by_key(|l| l.split(' ').nth(1));
    made.dedup_by_key(|l| l.split(' ').nth(1));
    assert_eq!(made.len(), all, "{image}{}", tmpfiles.stdout);
    assert!(image.contains("L /var/lib/rpm - - - - ../../usr/lib/sysimage/rpm"), "{image}");
    assert_eq!(composed, installed, "compose tree and rpm -i + import differ");

    // The rich dependency pulls libgreet; the %post, %posttrans and %pre ran.
    let out = layer_at(&sysroot, &["install", "-y", "hello", "daemon"]);
    let stderr = out.stderr.clone();
    out.ok();
    assert!(stderr.contains("libgreet"), "the plan names the dependency: {stderr}");
    assert_eq!(
        qa(&sysroot, 0),
        ["busybox-1.35-1", "daemon-1-1", "filesystem-1-1", "hello-2-1", "libalpha-1-1", "libgreet-1-1"]
    );
    assert_eq!(qa(&sysroot, 1), base_qa, "the old deployment's rpmdb is unchanged");
    let provides = rpm_in(&sysroot, 0, "-q --whatprovides /bin/sh --qf '%{NAME}\\n'").ok();
    assert_eq!(provides.trim(), "busybox");
    let inside = in_deployment(&sysroot, 0, "hello; cat /etc/hello-post.conf /usr/share/hello-posttrans; grep daemond /etc/passwd; stat -c '%U %G %a' /usr/share/daemon/key /var/lib/daemon").ok();
    assert!(inside.contains("hello\nconfigured\ndone\ndaemond:x:990"), "{inside}");
    assert!(inside.contains("daemond daemond 640\ndaemond daemond 750"), "owners mapped by name: {inside}");
    let old =
        in_deployment(&sysroot, 1, "cat /etc/hello-post.conf 2>&1 || true; grep -c daemond /etc/passwd || true").ok();
    assert!(old.contains("No such file") && old.trim_end().ends_with('0'), "{old}");

    // rpm -V: the layered deployment agrees with its rpmdb as the base
    // does, except the account files the %pre edited (configuration).
    let layered_verify = verify(&sysroot, 0);
    let expected: String = base_verify
        .lines()
        .filter(|l| !l.contains("/etc/group") && !l.contains("/etc/passwd"))
        .map(|l| format!("{l}\n"))
        .collect();
    let got: String = layered_verify
        .lines()
        .filter(|l| !l.contains("/etc/group") && !l.contains("/etc/passwd"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, expected, "rpm -V of the layered deployment:\n{layered_verify}");
    assert!(base_verify.trim().is_empty(), "the base verifies clean: {base_verify}");
    let repo_path = sysroot.join("ostree/repo");
    ostree(&["fsck", &format!("--repo={}", repo_path.display())]).ok();
    let diff = layer_at(&sysroot, &["db", "diff"]).ok();
    let mut lines: Vec<&str> = diff.lines().collect();
    lines.sort();
    assert_eq!(lines, ["+ daemon 1-1", "+ hello 2-1", "+ libgreet 1-1"]);

    let _ = (&dir, &repo, &rpms);
    layer_at(&sysroot, &["uninstall", "-y", "hello", "daemon"]).ok();
    assert_eq!(qa(&sysroot, 0), base_qa);
}

/// The spec named `name`.
fn spec(name: &str) -> Spec<'static> {
    specs().into_iter().find(|s| s.name == name).expect("a spec of that name")
}

#[test]
fn local_files_overrides_rebase_and_upgrade() {
    let Setup { dir, repo, rpms, sysroot } = setup();
    let build_dir = dir.path().join("build");
    let p = |path: &Path| path.display().to_string();

    // A local file, pinned by sha256, with its dependency from the base.
    layer_at(&sysroot, &["install", "-y", &p(&rpms["localtool"]), "hello"]).ok();
    let inside = in_deployment(&sysroot, 0, "localtool; hello").ok();
    assert_eq!(inside, "local\nhello\n");
    assert!(qa(&sysroot, 0).contains(&"localtool-1-1".to_owned()));

    // override replace: a newer libalpha from a file takes the base's place.
    let alpha2 = build(&build_dir, &spec("libalpha"), "2");
    layer_at(&sysroot, &["override", "replace", "-y", &p(&alpha2)]).ok();
    let listed = qa(&sysroot, 0);
    assert!(listed.contains(&"libalpha-2-1".to_owned()) && !listed.contains(&"libalpha-1-1".to_owned()), "{listed:?}");
    assert_eq!(verify(&sysroot, 0).lines().filter(|l| !l.contains("/etc/")).count(), 0, "{}", verify(&sysroot, 0));
    layer_at(&sysroot, &["override", "reset", "-y", "libalpha"]).ok();
    assert!(qa(&sysroot, 0).contains(&"libalpha-1-1".to_owned()));

    // override remove: libalpha goes; hello still needs `alpha-api`, which
    // alpha-ng provides, so it comes in, as dnf would have it.
    let out = layer_at(&sysroot, &["override", "remove", "-y", "libalpha"]);
    let stderr = out.stderr.clone();
    out.ok();
    assert!(stderr.contains("alpha-ng 1-1 (noarch) (dependency)"), "{stderr}");
    let listed = qa(&sysroot, 0);
    assert!(
        !listed.iter().any(|n| n.starts_with("libalpha")) && listed.contains(&"alpha-ng-1-1".to_owned()),
        "{listed:?}"
    );
    let gone = in_deployment(&sysroot, 0, "test ! -e /usr/share/alpha/version && cat /usr/share/alpha-ng/v").ok();
    assert_eq!(gone, "ng\n");
    layer_at(&sysroot, &["override", "reset", "-y", "--all"]).ok();
    assert!(qa(&sysroot, 0).contains(&"libalpha-1-1".to_owned()));

    // Rebase onto a second base with a newer libalpha: the requests stay,
    // resolved again.
    // The repository gains it, and a second base is composed.
    repo.publish(std::slice::from_ref(&alpha2), true);
    compose_tree(dir.path(), &repo, &sysroot, "rpmos/base2", BASE).ok();
    let repo_path = sysroot.join("ostree/repo");
    layer_at(&sysroot, &["rebase", "rpmos/base2"]).ok();
    let listed = qa(&sysroot, 0);
    for name in ["libalpha-2-1", "hello-2-1", "libgreet-1-1", "localtool-1-1"] {
        assert!(listed.contains(&name.to_owned()), "{name} after the rebase: {listed:?}");
    }
    let inside = in_deployment(&sysroot, 0, "cat /usr/share/alpha/version /etc/hello-post.conf").ok();
    assert_eq!(inside, "alpha2\nconfigured\n");

    // upgrade: the repository gains hello 3.
    let check = layer_at(&sysroot, &["upgrade", "--check"]);
    assert_eq!(check.status, 0);
    let hello3 = build(&build_dir, &spec("hello"), "3");
    repo.publish(&[hello3], true);
    let check = layer_at(&sysroot, &["upgrade", "--check"]).ok();
    assert!(check.contains("hello 2-1") && check.contains("3-1"), "{check}");
    layer_at(&sysroot, &["upgrade", "-y"]).ok();
    assert!(qa(&sysroot, 0).contains(&"hello-3-1".to_owned()));
    let diff = layer_at(&sysroot, &["db", "diff"]).ok();
    assert!(diff.contains("hello"), "{diff}");
    ostree(&["fsck", &format!("--repo={}", repo_path.display())]).ok();
}

#[test]
fn refusals_name_the_package_and_deploy_nothing() {
    let Setup { dir: _dir, repo: _repo, rpms: _, sysroot } = setup();
    let before = deployed(&sysroot);
    let refused = |args: &[&str], needle: &str| {
        let mut all = vec!["install", "-y"];
        all.extend_from_slice(args);
        let out = layer_at(&sysroot, &all);
        assert_ne!(out.status, 0, "{args:?} was refused");
        assert!(out.stderr.contains(needle), "{args:?}: the error names `{needle}`:\n{}", out.stderr);
        assert_eq!(deployed(&sysroot), before, "{args:?}: nothing deployed");
    };
    // A Lua scriptlet cannot run outside rpm.
    refused(&["luapkg"], "luapkg");
    refused(&["luapkg"], "Lua %post");
    // Obsoleting a base package would remove it.
    refused(&["alpha-ng"], "libalpha");
    // gpgcheck=1: an unsigned package is refused.
    refused(&["unsigned"], "cannot be verified");
    // Real packages built elsewhere: they need what this base lacks.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/rpms/real");
    for name in ["rpm-feature-coverage-2.3.4-5.el8.x86_64.rpm", "monkeysphere-0.37-1.el7.noarch.rpm"] {
        let path = fixtures.join(name).display().to_string();
        let out = layer_at(&sysroot, &["install", "-y", &path]);
        assert_ne!(out.status, 0, "{name} needs more than this base has");
        assert!(out.stderr.contains("requires"), "{name}: the unmet dependency is named:\n{}", out.stderr);
        assert_eq!(deployed(&sysroot), before);
    }
    let repo_path = sysroot.join("ostree/repo");
    ostree(&["fsck", &format!("--repo={}", repo_path.display())]).ok();
}

// ---------------------------------------------------------------------------
// SECURITY.md 18 (and 1) through `layer install` of a local file: the
// reader's reconciliation of the cpio payload with the header (tested on
// its own in `crates/pkgdb/tests/rpm_hostile.rs`) is what refuses these.

/// Writes `rpm` (with a gzip payload) to `out` with its cpio records
/// changed by `change`, and each `(from, to)` string of the main header
/// replaced (whole strings). Every digest and size a builder writes is recomputed
/// (`rpm_support::Rpm::fix_digests`), so `rpm -K` finds the package intact,
/// and only its file list can disagree with its payload.
fn rewrite_rpm(rpm: &Path, out: &Path, header_edits: &[(&str, &str)], change: impl FnOnce(&mut Vec<CpioRecord>)) {
    let mut package = Rpm::read(rpm);
    for (from, to) in header_edits {
        let (from, to) = (format!("{from}\0").into_bytes(), format!("{to}\0").into_bytes());
        let mut found = 0;
        for item in package.main.iter_mut().filter(|i| [TYPE_STRING, TYPE_STRING_ARRAY].contains(&i.ty)) {
            let mut strings: Vec<&[u8]> = item.data.split_inclusive(|&b| b == 0).collect();
            for string in strings.iter_mut().filter(|s| **s == from.as_slice()) {
                *string = &to;
                found += 1;
            }
            item.data = strings.concat();
        }
        assert_eq!(found, 1, "`{}` once in the header", String::from_utf8_lossy(&from));
    }
    let mut records = package.cpio();
    change(&mut records);
    package.set_cpio(&records);
    package.fix_digests();
    std::fs::write(out, package.to_bytes()).expect("write rpm");
    let checked = sh(&format!("rpm -K '{}'", out.display())).ok();
    assert!(checked.contains("digests OK"), "rpm -K: {checked}");
}

/// The paths under `dir` whose name contains `needle`.
fn names_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(needle) {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found
}

/// Every object file of the store, by path under `objects/`.
fn objects_of(store: &Path) -> Vec<String> {
    let mut out: Vec<String> = names_containing(&store.join("objects"), ".")
        .iter()
        .map(|p| p.strip_prefix(store).expect("under the store").display().to_string())
        .collect();
    out.sort();
    out
}

/// SECURITY.md 18, and an escaping payload path (1), through `layer
/// install -y ./FILE.rpm` on the composed rpm base: a cpio holding a file
/// the header does not list, a cpio missing a file the header lists, a
/// cpio entry `../../etc/evil`, and a header whose directory climbs out
/// with `..` (cpio renamed to match). Each package is a real `rpmbuild`
/// package rewritten with every digest recomputed (`rpm -K` passes), so
/// only the reconciliation can refuse it; the same rewrite with no change
/// installs, as the control.
///
/// Each refusal: exit 1, an error naming the package (`hostile-1-1…`, from
/// its header) and the path; the deployments, `status --json`, the refs,
/// the objects under `objects/`, `repo/tmp` and the old deployment's files
/// unchanged; `ostree fsck` clean; no file with `evil` in its name under
/// the scratch directory, and no `/etc/evil` on the host.
#[test]
fn payloads_that_disagree_with_the_header_are_refused_by_install() {
    let Setup { dir, repo: _repo, rpms: _, sysroot } = setup();
    let store = sysroot.join("ostree/repo");
    // Directory `/usr/lib/hostile/` is as long as `/../../../../etc/`, and
    // `nice` as `evil`, so the header can be changed in place.
    let hostile = Spec {
        name: "hostile",
        version: "1",
        arch: "noarch",
        header: "%global _binary_payload w9.gzdio",
        install: "mkdir -p usr/lib/hostile && echo a > usr/lib/hostile/a && echo nice > usr/lib/hostile/nice",
        files: "/usr/lib/hostile",
        scripts: "",
    };
    let built = build(&dir.path().join("build"), &hostile, "1");
    let inputs = dir.path().join("inputs");
    std::fs::create_dir_all(&inputs).expect("inputs");
    assert!(!Path::new("/etc/evil").exists(), "the host has no /etc/evil to begin with");

    let sneaked = |name: &str| CpioRecord {
        name: name.to_owned(),
        fields: [0, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        data: b"sneaked in\n".to_vec(),
    };
    type Change = Box<dyn FnOnce(&mut Vec<CpioRecord>)>;
    /// The case's name, its header edits, its payload change and the path its error names.
    type Case = (&'static str, &'static [(&'static str, &'static str)], Change, &'static str);
    let cases: Vec<Case> = vec![
        (
            "extra",
            &[],
            Box::new(move |r: &mut Vec<CpioRecord>| r.insert(1, sneaked("./usr/lib/hostile/extra"))),
            "the payload holds `./usr/lib/hostile/extra`, which the header does not list",
        ),
        (
            "missing",
            &[],
            Box::new(|r: &mut Vec<CpioRecord>| r.retain(|x| x.name != "./usr/lib/hostile/a")),
            "the header lists `/usr/lib/hostile/a`, but the payload does not hold it",
        ),
        (
            "cpio-dotdot",
            &[],
            Box::new(move |r: &mut Vec<CpioRecord>| r.insert(0, sneaked("../../etc/evil"))),
            "the payload holds `../../etc/evil`, which the header does not list",
        ),
        (
            "header-dotdot",
            &[("/usr/lib/hostile/", "/../../../../etc/"), ("nice", "evil")],
            Box::new(|r: &mut Vec<CpioRecord>| {
                for record in r.iter_mut() {
                    record.name = record.name.replace("./usr/lib/hostile/nice", "./../../../../etc/evil");
                }
            }),
            // The first file under the directory is refused, before the payload is read.
            "bad file path `/../../../../etc/a`: path `/../../../../etc/a` contains `..`",
        ),
    ];

    let before = status(&sysroot);
    let old_dir = deployment_dir(&sysroot, 0);
    let old_files = snapshot(&old_dir);
    let refs = || ostree(&["refs", &format!("--repo={}", store.display())]).ok();
    let (refs_before, objects_before) = (refs(), objects_of(&store));
    let tmp_before = names_containing(&store.join("tmp"), "");
    for (what, edits, change, needle) in cases {
        let started = std::time::Instant::now();
        let path = inputs.join(format!("hostile-{what}.rpm"));
        rewrite_rpm(&built, &path, edits, change);
        let out = layer_at(&sysroot, &["install", "-y", &path.display().to_string()]);
        assert_eq!(out.status, 1, "{what}: refused as bad input\n{}", out.stderr);
        // The error itself, past the command's own context (which repeats the file name).
        let message = out.stderr.split_once("cannot read the package").map_or("", |(_, m)| m);
        assert!(message.contains("`hostile-1-1"), "{what}: the package is named from its header\n{}", out.stderr);
        assert!(message.contains(needle), "{what}: the error names the path `{needle}`\n{}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);

        assert_eq!(status(&sysroot), before, "{what}: the deployments are unchanged");
        assert_eq!(refs(), refs_before, "{what}: the refs are unchanged");
        assert_eq!(objects_of(&store), objects_before, "{what}: no object was added or removed");
        assert_eq!(names_containing(&store.join("tmp"), ""), tmp_before, "{what}: no staging was left");
        assert!(snapshot(&old_dir) == old_files, "{what}: the deployment's files changed");
        ostree(&["fsck", &format!("--repo={}", store.display())]).ok();
        let evil: Vec<PathBuf> = names_containing(dir.path(), "evil");
        assert!(evil.is_empty(), "{what}: written: {evil:?}");
        assert!(!Path::new("/etc/evil").exists(), "{what}: /etc/evil was written on the host");
        eprintln!("{what}: refused in {:?}", started.elapsed());
    }

    // The control: rewritten without a change, the package installs.
    let same = inputs.join("hostile-unchanged.rpm");
    rewrite_rpm(&built, &same, &[], |_| {});
    layer_at(&sysroot, &["install", "-y", &same.display().to_string()]).ok();
    let inside = in_deployment(&sysroot, 0, "cat /usr/lib/hostile/a /usr/lib/hostile/nice").ok();
    assert_eq!(inside, "a\nnice\n");
    ostree(&["fsck", &format!("--repo={}", store.display())]).ok();
}
