//! `layer pkg inspect FILE`: what is inside a `.deb` or `.rpm`, as
//! `dpkg-deb -I -c` and `rpm -qpil --dump` show it, after the package has
//! been read and checked the way an install would read it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use fn_error_context::context;
use serde_json::{Value, json};

use crate::cli::UserError;

#[derive(Debug, Subcommand)]
pub enum PkgCommand {
    /// Show a package's name, version, dependencies, scripts and files.
    Inspect(InspectOpts),
}

#[derive(Debug, Args)]
pub struct InspectOpts {
    /// A `.deb` or `.rpm` file.
    file: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: &PkgCommand) -> anyhow::Result<i32> {
    match cmd {
        PkgCommand::Inspect(o) => inspect(o),
    }
}

enum Format {
    Deb,
    Rpm,
}

fn sniff(file: &mut File) -> anyhow::Result<Format> {
    let mut magic = [0u8; 8];
    let n = file.read(&mut magic)?;
    match &magic[..n] {
        [b'!', b'<', b'a', b'r', b'c', b'h', b'>', b'\n'] => Ok(Format::Deb),
        [0xed, 0xab, 0xee, 0xdb, ..] => Ok(Format::Rpm),
        _ => Err(UserError("not a .deb (ar archive) or an .rpm (no rpm lead)".into()).into()),
    }
}

#[context("Inspecting `{}`", o.file.display())]
fn inspect(o: &InspectOpts) -> anyhow::Result<i32> {
    let open = || File::open(&o.file).with_context(|| format!("opening `{}`", o.file.display()));
    let mut file = open()?;
    let info = match sniff(&mut file)? {
        Format::Deb => {
            // Reads the whole package: every entry is validated.
            let info = pkgdb::deb::inspect(open()?).map_err(|e| UserError(format!("{:#}", anyhow::Error::from(e))))?;
            let mut v = serde_json::to_value(&info)?;
            v["kind"] = json!("deb");
            v
        }
        Format::Rpm => {
            let info = pkgdb::rpm::inspect(open()?).map_err(|e| UserError(format!("{:#}", anyhow::Error::from(e))))?;
            // The header describes the files; the payload must match it.
            pkgdb::rpm::verify(open()?, &pkgdb::rpm::ReadOptions::default())
                .map_err(|e| UserError(format!("{:#}", anyhow::Error::from(e))))?;
            serde_json::to_value(&info)?
        }
    };
    let mut out = std::io::stdout().lock();
    if o.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json!({ "version": 1, "package": info }))?)?;
    } else {
        print_text(&mut out, &info)?;
    }
    Ok(0)
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// rpm dependencies as `name op version`, joined like a Debian field.
fn rpm_deps(v: &Value) -> String {
    v.as_array()
        .map(|deps| {
            deps.iter()
                .map(|d| {
                    let mut s = str_of(&d["name"]);
                    if let (Some(op), Some(ver)) = (d["op"].as_str(), d["version"].as_str()) {
                        s = format!("{s} {op} {ver}");
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn print_text(out: &mut impl Write, info: &Value) -> std::io::Result<()> {
    let rpm = info["kind"] == "rpm";
    let p = info;
    if rpm {
        writeln!(out, "Package: {} ({})", str_of(&p["name"]), str_of(&info["nevra"]))?;
        writeln!(out, "Version: {}-{}", str_of(&p["version"]), str_of(&p["release"]))?;
        writeln!(out, "Architecture: {}", str_of(&p["arch"]))?;
        writeln!(out, "Summary: {}", str_of(&p["summary"]))?;
        for (label, key) in
            [("Requires", "requires"), ("Provides", "provides"), ("Conflicts", "conflicts"), ("Obsoletes", "obsoletes")]
        {
            let deps = rpm_deps(&p[key]);
            if !deps.is_empty() {
                writeln!(out, "{label}: {deps}")?;
            }
        }
    } else {
        writeln!(out, "Package: {}", str_of(&p["package"]))?;
        writeln!(out, "Version: {}", str_of(&p["version"]))?;
        writeln!(out, "Architecture: {}", str_of(&p["architecture"]))?;
        for (label, key) in [
            ("Pre-Depends", "pre_depends"),
            ("Depends", "depends"),
            ("Recommends", "recommends"),
            ("Conflicts", "conflicts"),
            ("Breaks", "breaks"),
            ("Provides", "provides"),
        ] {
            if let Some(v) = p[key].as_str() {
                writeln!(out, "{label}: {v}")?;
            }
        }
    }
    let scripts = p["scripts"].as_array().cloned().unwrap_or_default();
    if !scripts.is_empty() {
        writeln!(out, "Scripts:")?;
        for s in scripts {
            let name = if rpm { str_of(&s["kind"]) } else { str_of(&s["name"]) };
            // rpm: {"program": [argv]} or "lua"; deb: the shebang's program.
            let interpreter = match &s["interpreter"]["program"] {
                Value::Array(argv) => argv.iter().map(str_of).collect::<Vec<_>>().join(" "),
                _ => str_of(&s["interpreter"]),
            };
            writeln!(out, "  {name} ({interpreter})")?;
        }
    }
    writeln!(out, "Files:")?;
    for f in p["files"].as_array().cloned().unwrap_or_default() {
        let kind = if rpm { str_of(&f["kind"]) } else { str_of(&f["type"]) };
        let mode = if rpm { format!("{:04o}", f["mode"].as_u64().unwrap_or(0)) } else { str_of(&f["mode"]) };
        let owner = format!("{}/{}", str_of(&f["user"]), str_of(&f["group"]));
        let path = str_of(&f["path"]);
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        let target = f["link_target"].as_str().map(|t| format!(" -> {t}")).unwrap_or_default();
        writeln!(out, "  {kind:<8} {mode} {owner:<14} {:>10} {path}{target}", f["size"].as_u64().unwrap_or(0))?;
    }
    Ok(())
}
