//! A signed apt repository of real Debian packages, built in the test with
//! `apt-ftparchive` and a throwaway `gpg` key and served on 127.0.0.1, and
//! the Debian packages it holds, downloaded once into `.test-cache/debs`
//! with the machine's own apt configuration.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{sh, workspace};

/// The `.deb` of each package, downloaded on first use.
pub fn debs(names: &[&str]) -> Vec<PathBuf> {
    let cache = workspace().join(".test-cache/debs");
    std::fs::create_dir_all(&cache).expect("deb cache");
    let wanted = names.join(" ");
    // Several test binaries may ask at once; flock serializes the downloads.
    let script = format!(
        "for n in {wanted}; do ls ${{n}}_*.deb >/dev/null 2>&1 || apt-get download -q $n >/dev/null || exit 1; done"
    );
    let status = Command::new("flock")
        .current_dir(&cache)
        .args([".download.lock", "sh", "-c", &script])
        .stdin(Stdio::null())
        .status()
        .expect("run flock and apt-get");
    assert!(status.success(), "apt-get download {wanted} failed (needs the Debian archive)");
    names
        .iter()
        .map(|name| {
            let prefix = format!("{name}_");
            std::fs::read_dir(&cache)
                .expect("deb cache")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix)))
                .unwrap_or_else(|| panic!("{name} downloaded"))
        })
        .collect()
}

/// A served, signed repository: suite `test`, component `main`.
pub struct AptRepo {
    pub dir: PathBuf,
    server: Child,
    pub port: u16,
}

impl Drop for AptRepo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.join("gnupg"))
            .args(["--kill", "all"])
            .stderr(Stdio::null())
            .status();
    }
}

impl AptRepo {
    /// Builds the repository in `dir` from `debs`, signs its `InRelease`
    /// with a new key, and serves it.
    pub fn serve(dir: &Path, debs: &[PathBuf]) -> AptRepo {
        std::fs::create_dir_all(dir.join("www/pool")).expect("pool");
        for deb in debs {
            std::fs::copy(deb, dir.join("www/pool").join(deb.file_name().expect("name"))).expect("copy deb");
        }
        sh(&format!(
            r#"
            set -e
            cd "{d}"
            mkdir -p -m 700 gnupg
            export GNUPGHOME="$PWD/gnupg"
            gpg --batch --quiet --passphrase '' --quick-gen-key 'layer test <test@example.invalid>' rsa2048 sign never
            gpg --batch --export > key.gpg
            cd www
            mkdir -p dists/test/main/binary-amd64
            apt-ftparchive packages pool > dists/test/main/binary-amd64/Packages
            xz -k dists/test/main/binary-amd64/Packages
            apt-ftparchive -o APT::FTPArchive::Release::Suite=test -o APT::FTPArchive::Release::Codename=test \
                -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main \
                release dists/test > dists/test/Release
            gpg --batch --yes --clearsign -o dists/test/InRelease dists/test/Release
            "#,
            d = dir.display()
        ))
        .ok();
        let (server, port) = super::serve_dir(&dir.join("www"));
        AptRepo { dir: dir.to_owned(), server, port }
    }

    /// Makes `root` (an image tree, `/etc` in `usr/etc` or `etc`) use only
    /// this repository, with its key in `/etc/apt/keyrings`.
    pub fn configure(&self, root: &Path) {
        let etc = if root.join("usr/etc/apt").is_dir() { root.join("usr/etc") } else { root.join("etc") };
        sh(&format!(
            r#"
            set -e
            cd "{etc}/apt"
            rm -f sources.list sources.list.d/*
            mkdir -p keyrings
            rm -f keyrings/layer-test.gpg
            cp "{key}" keyrings/layer-test.gpg
            printf 'Types: deb\nURIs: http://127.0.0.1:{port}/\nSuites: test\nComponents: main\nSigned-By: /etc/apt/keyrings/layer-test.gpg\n' > sources.list.d/test.sources
            "#,
            etc = etc.display(),
            key = self.dir.join("key.gpg").display(),
            port = self.port
        ))
        .ok();
    }
}

/// A package a test makes up: `build_deb` writes it with `dpkg-deb`.
#[derive(Debug, Clone, Default)]
pub struct Deb<'a> {
    pub name: &'a str,
    /// Extra control fields, one `Field: value` a line (`Conflicts: dpkg`).
    pub fields: &'a str,
    /// Control-archive members: (`postinst`, script text). Scripts are made
    /// executable; anything else (`triggers`, `conffiles`) is a plain file.
    pub control: &'a [(&'a str, &'a str)],
    /// Payload entries, relative to `/`: a name ending in `/` is a
    /// directory, a content starting with `->` a symlink to the rest,
    /// anything else a regular file (mode 0755 if the content starts with
    /// `#!`, else 0644) with that content.
    pub files: &'a [(&'a str, &'a str)],
}

/// Builds `deb` (version 1.0, amd64, owned by root) into `dir` with
/// `dpkg-deb --build --root-owner-group` and returns the file's path.
pub fn build_deb(dir: &Path, deb: &Deb<'_>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let tree = dir.join(format!("{}.tree", deb.name));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("DEBIAN")).expect("package tree");
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    mode(&tree, 0o755);
    mode(&tree.join("DEBIAN"), 0o755);
    let fields = deb.fields.trim_end();
    // `fields` may set its own `Version:`; 1.0 otherwise.
    let version = if fields.lines().any(|l| l.starts_with("Version:")) { "" } else { "Version: 1.0\n" };
    let control = format!(
        "Package: {}\n{version}Architecture: amd64\nMaintainer: layer tests <test@example.invalid>\n\
         {fields}{}Description: a package made up by a test\n",
        deb.name,
        if fields.is_empty() { "" } else { "\n" }
    );
    std::fs::write(tree.join("DEBIAN/control"), control).expect("control");
    for (name, text) in deb.control {
        let path = tree.join("DEBIAN").join(name);
        std::fs::write(&path, text).expect("control member");
        let script = ["preinst", "postinst", "prerm", "postrm", "config"].contains(name);
        mode(&path, if script { 0o755 } else { 0o644 });
    }
    for (name, content) in deb.files {
        let path = tree.join(name.trim_end_matches('/'));
        let parent = path.parent().expect("parent");
        std::fs::create_dir_all(parent).expect("payload directory");
        if name.ends_with('/') {
            std::fs::create_dir_all(&path).expect("payload directory");
        } else if let Some(target) = content.strip_prefix("->") {
            std::os::unix::fs::symlink(target, &path).expect("payload symlink");
        } else {
            std::fs::write(&path, content).expect("payload file");
            mode(&path, if content.starts_with("#!") { 0o755 } else { 0o644 });
        }
    }
    // Directories dpkg-deb made for the entries above: 0755, whatever the umask.
    sh(&format!("find '{}' -type d -exec chmod 0755 {{}} +", tree.display())).ok();
    let out = dir.join(format!("{}_1.0_amd64.deb", deb.name));
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&tree)
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("run dpkg-deb");
    assert!(status.success(), "dpkg-deb --build {} failed", deb.name);
    out
}
