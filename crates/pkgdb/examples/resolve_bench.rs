//! `resolve_bench PACKAGES[.xz|.gz] [NAME...]`: reads a `Packages` index,
//! builds the resolver's universe on an empty installed set, resolves each
//! NAME alone (default: htop, git and apache2) and prints the timings of
//! each step on stderr and, per NAME, one line on stdout:
//! `NAME: N packages: name=version ...` (sorted). Used by `bench/run`, which
//! times the whole process against `apt-get -s install` on the same index.

use std::process::ExitCode;
use std::time::Instant;

use pkgdb::resolve::{Request, ResolveOptions, Universe};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: resolve_bench PACKAGES[.xz|.gz] [NAME...]");
        return ExitCode::from(2);
    };
    let mut names: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    if names.is_empty() {
        names = vec!["htop", "git", "apache2"];
    }

    let started = Instant::now();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read `{path}`: {e}");
            return ExitCode::from(2);
        }
    };
    let read = started.elapsed();
    let started = Instant::now();
    let index = match pkgdb::apt::read_packages_compressed(&bytes, path) {
        Ok(index) => index,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let parsed = started.elapsed();
    drop(bytes);

    let started = Instant::now();
    let universe = Universe::new("amd64", &[], &[&index], &[]);
    let built = started.elapsed();
    eprintln!(
        "{} packages; read {:.1} ms, decompressed and parsed {:.1} ms, universe built {:.1} ms",
        index.len(),
        read.as_secs_f64() * 1e3,
        parsed.as_secs_f64() * 1e3,
        built.as_secs_f64() * 1e3
    );

    for name in names {
        let request = match Request::parse(name) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let started = Instant::now();
        let plan = match universe.resolve(&[request], &ResolveOptions::default()) {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("error: {name}: {e}");
                return ExitCode::from(1);
            }
        };
        let solved = started.elapsed();
        eprintln!(
            "{name}: {} packages, {} bytes to download, resolved in {:.1} ms",
            plan.install.len(),
            plan.download_size,
            solved.as_secs_f64() * 1e3
        );
        let mut closure: Vec<String> = plan.install.iter().map(|p| format!("{}={}", p.name, p.version)).collect();
        closure.sort();
        println!("{name}: {} packages: {}", closure.len(), closure.join(" "));
    }
    ExitCode::SUCCESS
}
