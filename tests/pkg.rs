//! `layer pkg inspect`, checked against `rpm -qp` and `dpkg-deb`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn fixtures() -> Vec<PathBuf> {
    let root = workspace().join("../shared/fixtures/rpms");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("fixtures dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A Debian package from the archive this machine's apt uses, cached.
fn debian_package(name: &str) -> PathBuf {
    let dir = workspace().join(".test-cache/debs");
    std::fs::create_dir_all(&dir).expect("cache dir");
    let found = |dir: &Path| {
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".deb"))
        })
    };
    if let Some(p) = found(&dir) {
        return p;
    }
    sh(&format!("cd {} && flock ../debs.lock apt-get download -q {name}", dir.display())).ok();
    found(&dir).expect("downloaded")
}

#[test]
fn inspects_every_fixture_rpm_as_rpm_does() {
    let all = fixtures();
    assert!(all.len() >= 28, "{} fixtures", all.len());
    let mut compared = 0;
    for rpm in all {
        let json = layer(&[std::ffi::OsStr::new("pkg"), "inspect".as_ref(), "--json".as_ref(), rpm.as_os_str()]);
        if rpm.to_string_lossy().contains("ecdsa") && json.status != 0 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&json.ok()).expect("json");
        let oracle = sh(&format!(
            "rpm -qp --nosignature --qf '%{{NAME}} %{{VERSION}} %{{RELEASE}} %{{ARCH}}' {}",
            rpm.display()
        ));
        if oracle.status != 0 {
            continue; // rpm 4.18 cannot read this one (v6); nothing to compare
        }
        let p = &v["package"];
        let ours = format!(
            "{} {} {} {}",
            p["name"].as_str().unwrap_or(""),
            p["version"].as_str().unwrap_or(""),
            p["release"].as_str().unwrap_or(""),
            p["arch"].as_str().unwrap_or("")
        );
        assert_eq!(ours, oracle.stdout, "{}", rpm.display());
        compared += 1;
    }
    assert!(compared >= 25, "only {compared} fixtures could be compared with rpm");
}

#[test]
fn inspects_a_debian_package_as_dpkg_deb_does() {
    let deb = debian_package("htop");
    let text = layer(&[std::ffi::OsStr::new("pkg"), "inspect".as_ref(), deb.as_os_str()]).ok();
    let field = |f: &str| sh(&format!("dpkg-deb -f {} {f}", deb.display())).ok().trim().to_owned();
    assert!(text.contains(&format!("Package: {}", field("Package"))), "{text}");
    assert!(text.contains(&format!("Version: {}", field("Version"))), "{text}");
    assert!(text.contains(&format!("Depends: {}", field("Depends"))), "{text}");
    let listing = sh(&format!("dpkg-deb -c {}", deb.display())).ok();
    let files = text.lines().filter(|l| l.starts_with("  ")).count();
    assert_eq!(files, listing.lines().count(), "one line per archive entry");
    assert!(text.contains("/usr/bin/htop"));
}

#[test]
fn refuses_a_hostile_package_naming_the_path() {
    let dir = scratch();
    let root = dir.path();
    sh(&format!(
        r#"cd {r} && mkdir -p pkg/DEBIAN && printf 'Package: evil\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.invalid>\nDescription: x\n' > pkg/DEBIAN/control \
        && printf '2.0\n' > debian-binary && tar -C pkg/DEBIAN -czf control.tar.gz ./control \
        && mkdir -p data && echo pwned > data/passwd && tar -C data -czf data.tar.gz --transform 's,^\./passwd,../../etc/passwd,' ./passwd \
        && ar rc evil.deb debian-binary control.tar.gz data.tar.gz"#,
        r = root.display()
    ))
    .ok();
    let out = layer(&[std::ffi::OsStr::new("pkg"), "inspect".as_ref(), root.join("evil.deb").as_os_str()]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("../../etc/passwd") && out.stderr.contains("evil"), "{}", out.stderr);
}
