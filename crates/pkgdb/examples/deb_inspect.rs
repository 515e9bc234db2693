//! `deb_inspect FILE [--json|--stream]`: prints what `pkgdb::deb` reads
//! from a `.deb`. `--stream` reads every file's data and prints only a
//! summary, for measuring time and memory on large packages.

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: deb_inspect FILE [--json|--stream]");
        return ExitCode::from(2);
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => {
            eprintln!("error: cannot open `{path}`: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.get(1).map(String::as_str) {
        Some("--stream") => stream(file),
        _ => pkgdb::deb::inspect(file).map(|info| {
            println!("{}", serde_json::to_string_pretty(&info).unwrap_or_default());
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn stream(file: impl Read) -> Result<(), pkgdb::deb::DebError> {
    let deb = pkgdb::deb::DebReader::new(file, pkgdb::deb::DebOptions::default())?;
    let package = deb.control().package.clone();
    let mut read = 0u64;
    let summary = deb.for_each_entry(|_entry, content| {
        read += std::io::copy(content, &mut std::io::sink())?;
        Ok::<(), std::io::Error>(())
    })?;
    println!(
        "{package}: {} entries, {} files, {} bytes of file data read ({} in {})",
        summary.entries, summary.files, read, summary.file_bytes, summary.data_member
    );
    Ok(())
}
