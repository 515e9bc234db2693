//! A signed apt repository of real Debian packages, built in the test with
//! `apt-ftparchive` and a throwaway `gpg` key and served on 127.0.0.1, and
//! the Debian packages it holds, downloaded once into `.test-cache/debs`
//! with the machine's own apt configuration.

use std::io::{BufRead, BufReader};
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
        let mut server = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(dir.join("www"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
        let port = line.split_whitespace().skip_while(|w| *w != "port").nth(1).and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("no port in {line:?}"));
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
