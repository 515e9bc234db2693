//! Streaming a large real package (`libllvm14`, 21.8 MB compressed,
//! 110 MB of file data with one 100 MB file) keeps memory bounded: the
//! reader never holds a member or a file in memory (SECURITY.md 13).
//!
//! Alone in its own test binary, so the process's peak RSS is this test's.

use std::path::{Path, PathBuf};
use std::process::Command;

use md5::{Digest, Md5};
use pkgdb::deb::{DebOptions, DebReader};
use pkgdb::entry::EntryKind;

fn cached_deb(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.test-cache/debs");
    std::fs::create_dir_all(&dir).expect("cache dir");
    let script =
        format!("ls {name}_*.deb >/dev/null 2>&1 || apt-get download -q {name} >&2; ls {name}_*.deb | tail -n 1");
    let out = Command::new("flock")
        .args([".download.lock", "sh", "-c", &script])
        .current_dir(&dir)
        .output()
        .expect("run flock and apt-get");
    assert!(out.status.success(), "apt-get download {name} failed: {}", String::from_utf8_lossy(&out.stderr));
    dir.join(String::from_utf8(out.stdout).expect("utf8").trim())
}

/// Peak resident set size of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
}

#[test]
fn a_large_package_streams_in_bounded_memory() {
    let path = cached_deb("libllvm14");
    let compressed = std::fs::metadata(&path).expect("stat").len();
    assert!(compressed > 20 << 20, "the package is over 20 MB");
    let file = std::fs::File::open(&path).expect("open");
    let deb = DebReader::new(file, DebOptions::default()).expect("control reads");
    assert_eq!(deb.control().package, "libllvm14");

    let mut largest = 0;
    let mut buffer = vec![0u8; 64 << 10];
    let summary = deb
        .for_each_entry(|entry, content| {
            if let EntryKind::File { size } = entry.kind {
                largest = largest.max(size);
                let mut hasher = Md5::new();
                loop {
                    let n = content.read(&mut buffer)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buffer[..n]);
                }
                let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(entry.digest.as_deref(), Some(format!("md5:{hex}").as_str()), "{}", entry.path);
            }
            Ok::<(), std::io::Error>(())
        })
        .expect("payload reads");
    assert!(summary.file_bytes > 100 << 20);
    assert!(largest > 64 << 20, "one file alone is larger than the memory bound below");

    // The xz decoder's dictionary (8 MiB at dpkg's level) plus buffers.
    let peak = peak_rss_kib();
    eprintln!("peak RSS {peak} KiB for {} bytes of file data", summary.file_bytes);
    assert!(peak < 64 << 10, "peak RSS {peak} KiB");
}
