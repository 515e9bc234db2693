//! What the headers of an rpm say: identity, dependencies, scriptlets,
//! triggers; the file list is in [`super::files`].

use std::fmt;

use serde::Serialize;

use super::error::{RpmErrorKind, Tag};
use super::files::{RpmFile, files};
use super::header::Header;
use super::richdep::{RichDep, VersionOp};
use super::tags::*;

/// A package as its headers describe it.
#[derive(Debug, Clone, Serialize)]
pub struct RpmPackage {
    pub name: String,
    /// `None` when the package has no EPOCH tag (which rpm compares as 0).
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    pub license: String,
    /// The header's installed size (LONGSIZE or SIZE), in bytes.
    pub installed_size: u64,
    /// A source rpm, which is never installed.
    pub source_package: bool,
    /// Whether the signature header carries an OpenPGP signature (not verified here).
    pub signed: bool,
    pub requires: Vec<Dependency>,
    pub provides: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    pub scripts: Vec<Scriptlet>,
    pub triggers: Vec<Trigger>,
    /// Every file the header lists, in header order, ghosts included.
    pub files: Vec<RpmFile>,
    pub payload: PayloadInfo,
}

impl RpmPackage {
    /// `name-[epoch:]version-release.arch`.
    pub fn nevra(&self) -> String {
        match self.epoch {
            Some(e) => format!("{}-{e}:{}-{}.{}", self.name, self.version, self.release, self.arch),
            None => format!("{}-{}-{}.{}", self.name, self.version, self.release, self.arch),
        }
    }

    /// Whether any scriptlet or trigger runs in Lua, which we cannot run.
    pub fn has_lua_scripts(&self) -> bool {
        self.scripts.iter().any(|s| s.interpreter.is_lua()) || self.triggers.iter().any(|t| t.interpreter.is_lua())
    }
}

/// How the payload is stored, from the main header.
#[derive(Debug, Clone, Serialize)]
pub struct PayloadInfo {
    pub format: String,
    pub compressor: Compressor,
    /// `sha256:HEX` of the payload as stored (PAYLOADDIGEST), when recorded.
    pub digest: Option<String>,
    /// Uncompressed size of the cpio archive, when recorded.
    pub archive_size: Option<u64>,
    /// Size of the payload as stored, when recorded (rpm v6, or derived from
    /// the signature header's SIZE).
    pub stored_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compressor {
    /// No PAYLOADCOMPRESSOR tag: rpm reads it as gzip, and zlib passes
    /// plain data through, so the payload is sniffed.
    Unspecified,
    Gzip,
    Bzip2,
    Xz,
    Lzma,
    Zstd,
}

impl Compressor {
    pub fn as_str(self) -> &'static str {
        match self {
            Compressor::Unspecified => "unspecified",
            Compressor::Gzip => "gzip",
            Compressor::Bzip2 => "bzip2",
            Compressor::Xz => "xz",
            Compressor::Lzma => "lzma",
            Compressor::Zstd => "zstd",
        }
    }
}

/// One dependency. For a rich dependency, `name` is the whole expression
/// (as rpm stores it) and `rich` its parsed tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<VersionOp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// rpm's RPMSENSE bits, as stored.
    pub flags: u32,
    /// When the dependency is needed, from the flags: `pre`, `post`,
    /// `preun`, `postun`, `pretrans`, `posttrans`, `preuntrans`,
    /// `postuntrans`, `verify`, `interp`, `prereq`; empty for a plain one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<&'static str>,
    /// `rpmlib(...)` feature requirement.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rpmlib: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rich: Option<RichDep>,
}

/// RPMSENSE bits that say when a Requires is needed.
const SENSE_PHASES: &[(u32, &str)] = &[
    (1 << 5, "posttrans"),
    (1 << 6, "prereq"),
    (1 << 7, "pretrans"),
    (1 << 8, "interp"),
    (1 << 9, "pre"),
    (1 << 10, "post"),
    (1 << 11, "preun"),
    (1 << 12, "postun"),
    (1 << 13, "verify"),
    (1 << 20, "preuntrans"),
    (1 << 21, "postuntrans"),
];
const SENSE_RPMLIB: u32 = 1 << 24;

/// Prints like `rpm -q --requires`: `name`, or `name op version`.
impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let (Some(op), Some(version)) = (self.op, &self.version) {
            write!(f, " {op} {version}")?;
        }
        Ok(())
    }
}

/// The program that runs a scriptlet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpreter {
    /// rpm's embedded Lua (`<lua>`), which we cannot run.
    Lua,
    /// A program and its arguments; `/bin/sh` when the package names none.
    Program(Vec<String>),
}

impl Interpreter {
    pub fn is_lua(&self) -> bool {
        matches!(self, Interpreter::Lua)
    }
}

impl fmt::Display for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interpreter::Lua => f.write_str("<lua>"),
            Interpreter::Program(argv) => f.write_str(&argv.join(" ")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptKind {
    PreTrans,
    Pre,
    Post,
    PreUn,
    PostUn,
    PostTrans,
    PreUnTrans,
    PostUnTrans,
    Verify,
}

impl ScriptKind {
    /// The spec file's name for it: `%pre` is `pre`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::PreTrans => "pretrans",
            ScriptKind::Pre => "pre",
            ScriptKind::Post => "post",
            ScriptKind::PreUn => "preun",
            ScriptKind::PostUn => "postun",
            ScriptKind::PostTrans => "posttrans",
            ScriptKind::PreUnTrans => "preuntrans",
            ScriptKind::PostUnTrans => "postuntrans",
            ScriptKind::Verify => "verify",
        }
    }
}

/// A scriptlet: which one, what runs it, and its body (none for
/// `%post -p /sbin/ldconfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scriptlet {
    pub kind: ScriptKind,
    pub interpreter: Interpreter,
    pub body: Option<String>,
    /// RPMSCRIPT flags (1 = macro-expand, 2 = query-format, 4 = critical).
    pub flags: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerClass {
    /// `%triggerin -- bash`: fires on other packages.
    Package,
    /// `%filetriggerin -- /usr/lib`: fires on paths.
    File,
    /// `%transfiletriggerin`: fires once per transaction on paths.
    TransactionFile,
}

/// One trigger scriptlet with the conditions that fire it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    pub class: TriggerClass,
    /// `prein`, `in`, `un` or `postun`.
    pub event: &'static str,
    pub interpreter: Interpreter,
    pub body: Option<String>,
    pub conditions: Vec<Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

pub(super) fn missing(tag: u32) -> RpmErrorKind {
    RpmErrorKind::MissingTag { tag: Tag::main(tag) }
}

fn required_utf8(h: &Header, tag: u32) -> Result<String, RpmErrorKind> {
    h.utf8(tag)?.map(str::to_owned).ok_or_else(|| missing(tag))
}

/// Reads everything but the file list and payload info from the main header.
pub fn read_package(sig: &Header, h: &Header) -> Result<RpmPackage, RpmErrorKind> {
    let name = required_utf8(h, NAME)?;
    let version = required_utf8(h, VERSION)?;
    let release = required_utf8(h, RELEASE)?;
    let arch = required_utf8(h, ARCH)?;
    for (tag, value) in [(NAME, &name), (VERSION, &version), (RELEASE, &release), (ARCH, &arch)] {
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
            return Err(RpmErrorKind::TagValue {
                tag: Tag::main(tag),
                reason: format!("`{value}` is not a valid value"),
            });
        }
    }
    let installed_size = match h.u64_one(LONGSIZE)? {
        Some(size) => size,
        None => h.u32_one(SIZE)?.map(u64::from).unwrap_or(0),
    };
    let signed = [SIG_RSA, SIG_DSA, SIG_PGP, SIG_GPG, SIG_OPENPGP].iter().any(|&t| sig.has(t));
    let deps = |names, flags, versions| dependencies(h, names, flags, versions);
    Ok(RpmPackage {
        epoch: h.u32_one(EPOCH)?,
        summary: h.text(SUMMARY)?.unwrap_or_default(),
        license: h.text(LICENSE)?.unwrap_or_default(),
        installed_size,
        source_package: h.has(SOURCEPACKAGE) || !h.has(SOURCERPM),
        signed,
        requires: deps(REQUIRENAME, REQUIREFLAGS, REQUIREVERSION)?,
        provides: deps(PROVIDENAME, PROVIDEFLAGS, PROVIDEVERSION)?,
        conflicts: deps(CONFLICTNAME, CONFLICTFLAGS, CONFLICTVERSION)?,
        obsoletes: deps(OBSOLETENAME, OBSOLETEFLAGS, OBSOLETEVERSION)?,
        recommends: deps(RECOMMENDNAME, RECOMMENDFLAGS, RECOMMENDVERSION)?,
        suggests: deps(SUGGESTNAME, SUGGESTFLAGS, SUGGESTVERSION)?,
        supplements: deps(SUPPLEMENTNAME, SUPPLEMENTFLAGS, SUPPLEMENTVERSION)?,
        enhances: deps(ENHANCENAME, ENHANCEFLAGS, ENHANCEVERSION)?,
        scripts: scriptlets(h)?,
        triggers: triggers(h)?,
        files: files(h)?,
        payload: payload_info(sig, h)?,
        name,
        version,
        release,
        arch,
    })
}

pub(super) fn count_mismatch(tag: u32, expected: usize, found: usize) -> RpmErrorKind {
    RpmErrorKind::TagCount { tag: Tag::main(tag), expected, found }
}

fn dependency(name: &str, flags: u32, version: &str) -> Result<Dependency, RpmErrorKind> {
    let bad = |reason: String| RpmErrorKind::Dependency { name: name.to_owned(), reason };
    if name.is_empty() {
        return Err(bad("empty name".into()));
    }
    let op = VersionOp::from_sense(flags).map_err(|e| bad(e.into()))?;
    let (op, version) = match (op, version) {
        (Some(op), v) if !v.is_empty() => (Some(op), Some(v.to_owned())),
        (Some(_), _) => return Err(bad("a version comparison without a version".into())),
        // rpm ignores a version without a comparison.
        (None, _) => (None, None),
    };
    let rich = if RichDep::is_rich(name) {
        Some(
            RichDep::parse(name)
                .map_err(|source| RpmErrorKind::RichDependency { dependency: name.to_owned(), source })?,
        )
    } else {
        None
    };
    Ok(Dependency {
        name: name.to_owned(),
        op,
        version,
        flags,
        when: SENSE_PHASES.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, n)| *n).collect(),
        rpmlib: flags & SENSE_RPMLIB != 0,
        rich,
    })
}

fn dependencies(
    h: &Header,
    names_tag: u32,
    flags_tag: u32,
    versions_tag: u32,
) -> Result<Vec<Dependency>, RpmErrorKind> {
    let Some(names) = h.utf8_strings(names_tag)? else {
        if h.has(flags_tag) || h.has(versions_tag) {
            return Err(missing(names_tag));
        }
        return Ok(Vec::new());
    };
    let flags = h.u32s(flags_tag)?.unwrap_or_else(|| vec![0; names.len()]);
    let versions = h.utf8_strings(versions_tag)?.unwrap_or_else(|| vec![""; names.len()]);
    if flags.len() != names.len() {
        return Err(count_mismatch(flags_tag, names.len(), flags.len()));
    }
    if versions.len() != names.len() {
        return Err(count_mismatch(versions_tag, names.len(), versions.len()));
    }
    names.iter().zip(flags).zip(versions).map(|((name, flags), version)| dependency(name, flags, version)).collect()
}

fn interpreter(h: &Header, prog_tag: u32, what: &str) -> Result<Interpreter, RpmErrorKind> {
    let Some(argv) = h.utf8_strings(prog_tag)? else {
        return Ok(Interpreter::Program(vec!["/bin/sh".to_owned()]));
    };
    program(&argv, what)
}

fn program(argv: &[&str], what: &str) -> Result<Interpreter, RpmErrorKind> {
    match argv.first() {
        Some(&"<lua>") => Ok(Interpreter::Lua),
        Some(p) if p.starts_with('/') => Ok(Interpreter::Program(argv.iter().map(|s| s.to_string()).collect())),
        _ => Err(RpmErrorKind::Scriptlet {
            what: what.to_owned(),
            reason: format!("interpreter `{}` is not an absolute path", argv.join(" ")),
        }),
    }
}

fn scriptlets(h: &Header) -> Result<Vec<Scriptlet>, RpmErrorKind> {
    const TABLE: &[(ScriptKind, u32, u32, u32)] = &[
        (ScriptKind::PreTrans, PRETRANS, PRETRANSPROG, PRETRANSFLAGS),
        (ScriptKind::Pre, PREIN, PREINPROG, PREINFLAGS),
        (ScriptKind::Post, POSTIN, POSTINPROG, POSTINFLAGS),
        (ScriptKind::PreUn, PREUN, PREUNPROG, PREUNFLAGS),
        (ScriptKind::PostUn, POSTUN, POSTUNPROG, POSTUNFLAGS),
        (ScriptKind::PostTrans, POSTTRANS, POSTTRANSPROG, POSTTRANSFLAGS),
        (ScriptKind::PreUnTrans, PREUNTRANS, PREUNTRANSPROG, PREUNTRANSFLAGS),
        (ScriptKind::PostUnTrans, POSTUNTRANS, POSTUNTRANSPROG, POSTUNTRANSFLAGS),
        (ScriptKind::Verify, VERIFYSCRIPT, VERIFYSCRIPTPROG, VERIFYSCRIPTFLAGS),
    ];
    let mut out = Vec::new();
    for &(kind, script_tag, prog_tag, flags_tag) in TABLE {
        if !h.has(script_tag) && !h.has(prog_tag) {
            continue;
        }
        out.push(Scriptlet {
            kind,
            interpreter: interpreter(h, prog_tag, kind.as_str())?,
            body: h.text(script_tag)?,
            flags: h.u32_one(flags_tag)?.unwrap_or(0),
        });
    }
    Ok(out)
}

struct TriggerTags {
    class: TriggerClass,
    scripts: u32,
    progs: u32,
    names: u32,
    versions: u32,
    flags: u32,
    index: u32,
    priorities: Option<u32>,
}

fn triggers(h: &Header) -> Result<Vec<Trigger>, RpmErrorKind> {
    let sets = [
        TriggerTags {
            class: TriggerClass::Package,
            scripts: TRIGGERSCRIPTS,
            progs: TRIGGERSCRIPTPROG,
            names: TRIGGERNAME,
            versions: TRIGGERVERSION,
            flags: TRIGGERFLAGS,
            index: TRIGGERINDEX,
            priorities: None,
        },
        TriggerTags {
            class: TriggerClass::File,
            scripts: FILETRIGGERSCRIPTS,
            progs: FILETRIGGERSCRIPTPROG,
            names: FILETRIGGERNAME,
            versions: FILETRIGGERVERSION,
            flags: FILETRIGGERFLAGS,
            index: FILETRIGGERINDEX,
            priorities: Some(FILETRIGGERPRIORITIES),
        },
        TriggerTags {
            class: TriggerClass::TransactionFile,
            scripts: TRANSFILETRIGGERSCRIPTS,
            progs: TRANSFILETRIGGERSCRIPTPROG,
            names: TRANSFILETRIGGERNAME,
            versions: TRANSFILETRIGGERVERSION,
            flags: TRANSFILETRIGGERFLAGS,
            index: TRANSFILETRIGGERINDEX,
            priorities: Some(TRANSFILETRIGGERPRIORITIES),
        },
    ];
    let mut out = Vec::new();
    for t in sets {
        let Some(names) = h.utf8_strings(t.names)? else { continue };
        let n = names.len();
        let scripts = h.strings(t.scripts)?.unwrap_or_default();
        let progs = h.utf8_strings(t.progs)?.unwrap_or_default();
        let flags = h.u32s(t.flags)?.ok_or_else(|| missing(t.flags))?;
        let versions = h.utf8_strings(t.versions)?.unwrap_or_else(|| vec![""; n]);
        let index = h.u32s(t.index)?.ok_or_else(|| missing(t.index))?;
        for (tag, len) in [(t.flags, flags.len()), (t.versions, versions.len()), (t.index, index.len())] {
            if len != n {
                return Err(count_mismatch(tag, n, len));
            }
        }
        if progs.len() != scripts.len() {
            return Err(count_mismatch(t.progs, scripts.len(), progs.len()));
        }
        let priorities = match t.priorities {
            Some(tag) => h.u32s(tag)?.filter(|p| p.len() == scripts.len()),
            None => None,
        };
        let mut triggers: Vec<Option<Trigger>> = vec![None; scripts.len()];
        for i in 0..n {
            let script = index[i] as usize;
            if script >= scripts.len() {
                return Err(RpmErrorKind::TagValue {
                    tag: Tag::main(t.index),
                    reason: format!("script {script} of {}", scripts.len()),
                });
            }
            let event = match flags[i] {
                f if f & (1 << 25) != 0 => "prein",
                f if f & (1 << 16) != 0 => "in",
                f if f & (1 << 17) != 0 => "un",
                f if f & (1 << 18) != 0 => "postun",
                _ => return Err(RpmErrorKind::TagValue { tag: Tag::main(t.flags), reason: "no trigger event".into() }),
            };
            let condition = dependency(names[i], flags[i], versions[i])?;
            match &mut triggers[script] {
                Some(existing) if existing.event == event => existing.conditions.push(condition),
                Some(_) => {
                    return Err(RpmErrorKind::TagValue {
                        tag: Tag::main(t.flags),
                        reason: "one trigger script with two events".into(),
                    });
                }
                slot @ None => {
                    let body = String::from_utf8_lossy(scripts[script]).into_owned();
                    *slot = Some(Trigger {
                        class: t.class,
                        event,
                        interpreter: program(&[progs[script]], "trigger")?,
                        body: (!body.is_empty()).then_some(body),
                        conditions: vec![condition],
                        priority: priorities.as_ref().map(|p| p[script]),
                    });
                }
            }
        }
        out.extend(triggers.into_iter().flatten());
    }
    Ok(out)
}

fn payload_info(sig: &Header, h: &Header) -> Result<PayloadInfo, RpmErrorKind> {
    let format = h.utf8(PAYLOADFORMAT)?.unwrap_or("cpio").to_owned();
    if format != "cpio" {
        return Err(RpmErrorKind::UnsupportedPayloadFormat { name: format });
    }
    let compressor = match h.utf8(PAYLOADCOMPRESSOR)? {
        None => Compressor::Unspecified,
        Some("gzip") => Compressor::Gzip,
        Some("bzip2") => Compressor::Bzip2,
        Some("xz") => Compressor::Xz,
        Some("lzma") => Compressor::Lzma,
        Some("zstd") => Compressor::Zstd,
        Some(other) => return Err(RpmErrorKind::UnsupportedCompressor { name: other.to_owned() }),
    };
    let digest = match h.string(PAYLOADDIGEST)? {
        None => None,
        Some(value) => {
            // rpm only ever writes sha256 here (PGPHASHALGO 8).
            let algorithm = h.u32_one(PAYLOADDIGESTALGO)?.unwrap_or(8);
            if algorithm != 8 {
                return Err(RpmErrorKind::UnsupportedDigest { what: "payload", algorithm });
            }
            if value.len() != 64 || !value.iter().all(u8::is_ascii_hexdigit) {
                return Err(RpmErrorKind::TagValue {
                    tag: Tag::main(PAYLOADDIGEST),
                    reason: "not a sha256 digest".into(),
                });
            }
            Some(format!("sha256:{}", String::from_utf8_lossy(value).to_ascii_lowercase()))
        }
    };
    let archive_size = match (sig.u64_one(SIG_LONGARCHIVESIZE)?, sig.u32_one(SIG_PAYLOADSIZE)?) {
        (Some(n), _) => Some(n),
        (None, Some(n)) => Some(u64::from(n)),
        (None, None) => h.u64_one(PAYLOADSIZEALT)?,
    };
    let header_len = h.raw.len() as u64;
    let total = match (sig.u64_one(SIG_LONGSIZE)?, sig.u32_one(SIG_SIZE)?) {
        (Some(n), _) => Some(n),
        (None, Some(n)) => Some(u64::from(n)),
        (None, None) => None,
    };
    let from_total = match total {
        Some(t) => Some(t.checked_sub(header_len).ok_or(RpmErrorKind::SizeMismatch {
            what: "main header",
            expected: t,
            actual: header_len,
        })?),
        None => None,
    };
    let stored_size = match (from_total, h.u64_one(PAYLOADSIZE)?) {
        (Some(a), Some(b)) if a != b => {
            return Err(RpmErrorKind::SizeMismatch { what: "stored payload", expected: b, actual: a });
        }
        (a, b) => a.or(b),
    };
    Ok(PayloadInfo { format, compressor, digest, archive_size, stored_size })
}
