//! A strict, streaming reading of a tar stream, shared by `control.tar`
//! and `data.tar`.
//!
//! The `tar` crate reads headers and data in raw mode; the GNU long-name
//! (`L`, `K`) and PAX (`x`) records are applied here, the way GNU tar
//! applies them, so that nothing the crate and GNU tar would read
//! differently gets through (SECURITY.md 12): numeric fields are parsed
//! strictly and must match the crate's reading, a PAX record is parsed by
//! its length prefix and may appear once, a PAX `size` must equal the
//! header's, and a PAX key that GNU tar acts on but we don't is refused
//! rather than ignored. Extension records are size-checked before they are
//! read, so a hostile header cannot make us allocate more than about 1 MiB.

use std::io::{self, Read};

use crate::entry::MAX_PATH;

const BLOCK: u64 = 512;
/// Largest GNU long name or long link accepted (a path plus its NUL).
const MAX_LONG_NAME: u64 = MAX_PATH as u64 + 1;
/// Largest PAX extended header accepted.
const MAX_PAX: u64 = 1 << 20;
/// Most bytes of extension headers (long names, PAX, global PAX) before
/// one entry: room for one of each, so that a stream of global headers
/// cannot spin forever without reaching an entry that is counted.
const MAX_EXTENSIONS: u64 = 4 << 20;
/// Most bytes accepted after the end-of-archive block (GNU tar pads the
/// archive to its record size, 10 KiB by default).
const MAX_TRAILING: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarKind {
    File { size: u64 },
    Dir,
    Symlink { target: Vec<u8> },
    Hardlink { target: Vec<u8> },
}

/// One tar entry with its extension records applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarMember {
    /// As the archive spells it: `./usr/bin/htop`.
    pub path: Vec<u8>,
    pub kind: TarKind,
    /// Permission bits only.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    pub mtime: i64,
    /// `SCHILY.xattr.NAME` records, sorted by name, before any allowlist.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Archive bytes spent on this entry's headers and extension records.
    pub header_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("cannot read the tar stream")]
    Read(#[source] io::Error),
    #[error("cannot read the data of `{path}`")]
    Data {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("`{path}`: the {field} field of its header is invalid")]
    BadNumber { path: String, field: &'static str },
    #[error("`{path}`: {reason}")]
    Malformed { path: String, reason: &'static str },
    #[error("`{path}`: malformed PAX record: {reason}")]
    BadPax { path: String, reason: &'static str },
    #[error("`{path}`: the PAX record `{key}` appears twice")]
    DuplicatePax { path: String, key: String },
    #[error("`{path}`: the PAX record `{key}` is not supported")]
    UnsupportedPax { path: String, key: String },
    #[error("`{path}`: the PAX size {pax} disagrees with the header size {header}")]
    PaxSizeMismatch { path: String, pax: u64, header: u64 },
    #[error("`{path}` is a {kind}, which packages may not contain")]
    UnsupportedType { path: String, kind: String },
    #[error("`{path}`: its {what} of {size} bytes is larger than {limit}")]
    TooLarge { path: String, what: &'static str, size: u64, limit: u64 },
    #[error("the tar stream ends without an end-of-archive block")]
    MissingEnd,
    #[error("extension headers at the end of the tar stream describe no entry")]
    DanglingExtension,
    #[error("more than {limit} bytes follow the end-of-archive block")]
    TrailingData { limit: u64 },
}

/// Why [`walk`] stopped: the stream, or the visitor.
#[derive(Debug)]
pub enum Walk<E> {
    Tar(TarError),
    Visit(E),
}

impl<E> From<TarError> for Walk<E> {
    fn from(e: TarError) -> Self {
        Walk::Tar(e)
    }
}

/// Reads every entry of a tar stream and hands it to `visit` with a reader
/// over its data (empty for non-files). The visitor need not read the data.
/// Reading stops at the end-of-archive block; what follows (record
/// padding, at most 16 MiB) is read and discarded so that the caller's
/// decompressor reaches its end and checks its checksum.
pub fn walk<R, E>(reader: R, mut visit: impl FnMut(TarMember, &mut dyn Read) -> Result<(), E>) -> Result<(), Walk<E>>
where
    R: Read,
{
    let mut archive = tar::Archive::new(EofProbe { inner: reader, eof: false });
    let mut pending = Pending::default();
    {
        let entries = archive.entries().map_err(TarError::Read)?.raw(true);
        for item in entries {
            let mut entry = item.map_err(TarError::Read)?;
            let header = entry.header().clone();
            // Only for messages, so only made when needed: this runs per entry.
            let shown = || show(&header.path_bytes());
            if header.as_ustar().is_none() && header.as_gnu().is_none() {
                return Err(TarError::Malformed { path: shown(), reason: "not a ustar or GNU tar header" }.into());
            }
            let old = header.as_old();
            let size = number(&old.size).ok_or_else(|| TarError::BadNumber { path: shown(), field: "size" })?;
            if size != entry.size() {
                return Err(TarError::BadNumber { path: shown(), field: "size" }.into());
            }
            pending.header_bytes += BLOCK;
            if pending.header_bytes > MAX_EXTENSIONS {
                return Err(TarError::TooLarge {
                    path: shown(),
                    what: "run of extension headers",
                    size: pending.header_bytes,
                    limit: MAX_EXTENSIONS,
                }
                .into());
            }
            let typeflag = old.linkflag[0];
            match typeflag {
                b'L' | b'K' => {
                    let shown = shown();
                    let (slot, what) = match typeflag {
                        b'L' => (&mut pending.long_name, "GNU long name"),
                        _ => (&mut pending.long_link, "GNU long link"),
                    };
                    if slot.is_some() {
                        return Err(
                            TarError::Malformed { path: shown, reason: "two GNU long names for one entry" }.into()
                        );
                    }
                    let data = read_record(&mut entry, size, MAX_LONG_NAME, &shown, what)?;
                    // GNU tar reads the name as a C string.
                    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                    *slot = Some(data[..end].to_vec());
                    pending.header_bytes += padded(size);
                }
                b'x' => {
                    let shown = shown();
                    if pending.pax.is_some() {
                        return Err(TarError::Malformed { path: shown, reason: "two PAX headers for one entry" }.into());
                    }
                    let data = read_record(&mut entry, size, MAX_PAX, &shown, "PAX header")?;
                    pending.pax = Some(parse_pax(&data, &shown)?);
                    pending.header_bytes += padded(size);
                }
                b'g' => {
                    let shown = shown();
                    let data = read_record(&mut entry, size, MAX_PAX, &shown, "PAX global header")?;
                    // `git archive` writes a global `comment`; anything else would
                    // apply to every later entry, which we do not do.
                    if let Some((key, _)) = parse_pax(&data, &shown)?.into_iter().find(|(k, _)| k != "comment") {
                        return Err(TarError::UnsupportedPax { path: shown, key: format!("global {key}") }.into());
                    }
                    pending.header_bytes += padded(size);
                }
                _ => {
                    let member = pending.take().apply(&header, typeflag, size)?;
                    let mut data = ExactReader { inner: &mut entry, remaining: size };
                    visit(member, &mut data).map_err(Walk::Visit)?;
                    if data.remaining > 0 {
                        io::copy(&mut data, &mut io::sink())
                            .map_err(|source| TarError::Data { path: shown(), source })?;
                    }
                }
            }
        }
    }
    if !pending.is_empty() {
        return Err(TarError::DanglingExtension.into());
    }
    let probe = archive.into_inner();
    if probe.eof {
        return Err(TarError::MissingEnd.into());
    }
    let trailing = io::copy(&mut probe.take(MAX_TRAILING + 1), &mut io::sink()).map_err(TarError::Read)?;
    if trailing > MAX_TRAILING {
        return Err(TarError::TrailingData { limit: MAX_TRAILING }.into());
    }
    Ok(())
}

/// Extension records waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<(String, Vec<u8>)>>,
    header_bytes: u64,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }

    fn take(&mut self) -> Pending {
        std::mem::take(self)
    }

    fn apply(self, header: &tar::Header, typeflag: u8, size: u64) -> Result<TarMember, TarError> {
        let old = header.as_old();
        let pax = self.pax.unwrap_or_default();
        let record = |key: &str| pax.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice());

        let path = match (self.long_name, record("path")) {
            (Some(_), Some(_)) => {
                let path = show(&header.path_bytes());
                return Err(TarError::Malformed { path, reason: "both a GNU long name and a PAX path" });
            }
            (Some(long), None) => long,
            (None, Some(p)) => p.to_vec(),
            (None, None) => header.path_bytes().into_owned(),
        };
        let shown = || show(&path);
        let bad_number = |field| TarError::BadNumber { path: shown(), field };
        let bad_pax = |reason| TarError::BadPax { path: shown(), reason };

        if let Some(value) = record("size") {
            let pax = decimal(value).ok_or_else(|| bad_pax("`size` is not a number"))?;
            if pax != size {
                return Err(TarError::PaxSizeMismatch { path: shown(), pax, header: size });
            }
        }
        let link = match (self.long_link, record("linkpath")) {
            (Some(_), Some(_)) => {
                return Err(TarError::Malformed { path: shown(), reason: "both a GNU long link and a PAX linkpath" });
            }
            (Some(long), None) => Some(long),
            (None, Some(l)) => Some(l.to_vec()),
            (None, None) => None,
        };
        let linked = |link: Option<Vec<u8>>| -> Result<Vec<u8>, TarError> {
            if size != 0 {
                return Err(TarError::Malformed { path: shown(), reason: "a link or directory with data" });
            }
            Ok(link.unwrap_or_else(|| header.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default()))
        };
        let kind = match typeflag {
            b'0' | b'\0' if path.ends_with(b"/") => {
                // Old tars mark directories this way, and GNU tar follows them.
                return Err(TarError::Malformed { path: shown(), reason: "a regular file whose name ends in `/`" });
            }
            b'0' | b'\0' => TarKind::File { size },
            b'1' => TarKind::Hardlink { target: linked(link.clone())? },
            b'2' => TarKind::Symlink { target: linked(link.clone())? },
            b'5' => {
                linked(None)?;
                TarKind::Dir
            }
            other => {
                let kind = match other {
                    b'3' => "character device".to_owned(),
                    b'4' => "block device".to_owned(),
                    b'6' => "FIFO".to_owned(),
                    b'7' => "contiguous file".to_owned(),
                    b'S' => "GNU sparse file".to_owned(),
                    b'D' => "GNU dump directory".to_owned(),
                    b'M' => "GNU multi-volume continuation".to_owned(),
                    b'V' => "GNU volume header".to_owned(),
                    b'N' => "GNU old-style long name".to_owned(),
                    c => format!("tar entry of unknown type `{}`", c.escape_ascii()),
                };
                return Err(TarError::UnsupportedType { path: shown(), kind });
            }
        };
        if link.is_some() && !matches!(kind, TarKind::Hardlink { .. } | TarKind::Symlink { .. }) {
            return Err(TarError::Malformed { path: shown(), reason: "a link target on an entry that is no link" });
        }

        let mode = number(&old.mode).ok_or_else(|| bad_number("mode"))?;
        let mut uid = number(&old.uid).ok_or_else(|| bad_number("uid"))?;
        let mut gid = number(&old.gid).ok_or_else(|| bad_number("gid"))?;
        let mut mtime = number(&old.mtime).and_then(|m| i64::try_from(m).ok()).ok_or_else(|| bad_number("mtime"))?;
        if let Some(v) = record("uid") {
            uid = decimal(v).ok_or_else(|| bad_pax("`uid` is not a number"))?;
        }
        if let Some(v) = record("gid") {
            gid = decimal(v).ok_or_else(|| bad_pax("`gid` is not a number"))?;
        }
        if let Some(v) = record("mtime") {
            mtime = pax_time(v).ok_or_else(|| bad_pax("`mtime` is not a time"))?;
        }
        let name = |pax_key: &str, field: Option<&[u8]>, what: &'static str| -> Result<Option<String>, TarError> {
            let raw = record(pax_key).or(field).unwrap_or_default();
            let text = std::str::from_utf8(raw).map_err(|_| bad_number(what))?;
            Ok((!text.is_empty()).then(|| text.to_owned()))
        };
        let user = name("uname", header.username_bytes(), "uname")?;
        let group = name("gname", header.groupname_bytes(), "gname")?;
        let mut xattrs = pax
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("SCHILY.xattr.").map(|n| (n.to_owned(), v.clone())))
            .collect::<Vec<_>>();
        if xattrs.iter().any(|(n, _)| n.is_empty()) {
            return Err(bad_pax("an xattr record without a name"));
        }
        xattrs.sort();
        let uid = u32::try_from(uid).map_err(|_| bad_number("uid"))?;
        let gid = u32::try_from(gid).map_err(|_| bad_number("gid"))?;
        Ok(TarMember {
            path,
            kind,
            mode: (mode & 0o7777) as u32,
            uid,
            gid,
            user,
            group,
            mtime,
            xattrs,
            header_bytes: self.header_bytes,
        })
    }
}

/// PAX keys read here, or known to be informational to GNU tar too.
fn pax_key_supported(key: &str) -> bool {
    matches!(
        key,
        "path"
            | "linkpath"
            | "size"
            | "uid"
            | "gid"
            | "uname"
            | "gname"
            | "mtime"
            | "atime"
            | "ctime"
            | "comment"
            | "charset"
            | "hdrcharset"
            | "SCHILY.dev"
            | "SCHILY.ino"
            | "SCHILY.nlink"
    ) || key.starts_with("SCHILY.xattr.")
}

/// PAX records, `LEN key=value\n` each, split by their length prefix as
/// GNU tar does (a value may contain a newline). Every key must be known
/// and appear once.
fn parse_pax(mut data: &[u8], shown: &str) -> Result<Vec<(String, Vec<u8>)>, TarError> {
    let bad = |reason| TarError::BadPax { path: shown.to_owned(), reason };
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    while !data.is_empty() {
        let space = data.iter().take(20).position(|b| *b == b' ').ok_or_else(|| bad("missing length"))?;
        let length = std::str::from_utf8(&data[..space])
            .ok()
            .filter(|l| l.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|l| l.parse::<usize>().ok())
            .ok_or_else(|| bad("the length is not a number"))?;
        if length <= space + 1 || length > data.len() {
            return Err(bad("the length is out of range"));
        }
        let (record, rest) = data.split_at(length);
        let body = record[space + 1..].strip_suffix(b"\n").ok_or_else(|| bad("missing newline"))?;
        let equals = body.iter().position(|b| *b == b'=').ok_or_else(|| bad("missing `=`"))?;
        let key = std::str::from_utf8(&body[..equals]).map_err(|_| bad("the key is not UTF-8"))?;
        if key.is_empty() {
            return Err(bad("empty key"));
        }
        if !pax_key_supported(key) {
            return Err(TarError::UnsupportedPax { path: shown.to_owned(), key: key.escape_debug().to_string() });
        }
        if records.iter().any(|(k, _)| k == key) {
            return Err(TarError::DuplicatePax { path: shown.to_owned(), key: key.to_owned() });
        }
        let value = &body[equals + 1..];
        if value.is_empty() && matches!(key, "path" | "linkpath" | "size" | "uid" | "gid" | "mtime") {
            return Err(bad("an empty value"));
        }
        records.push((key.to_owned(), value.to_vec()));
        data = rest;
    }
    Ok(records)
}

/// A tar numeric field, as GNU tar and the `tar` crate both read it:
/// leading spaces, octal digits, then only spaces or NULs; or base-256
/// with a first byte of exactly 0x80 and a value that fits in 64 bits.
/// Anything the two could read differently (a sign, a leading NUL,
/// negative base-256, digits after a space) is `None`.
fn number(field: &[u8]) -> Option<u64> {
    // Plain loops: this runs five times per entry, also in debug builds.
    let first = *field.first()?;
    if first == 0x80 {
        let low = field.len().saturating_sub(8).max(1);
        if field[1..low].iter().any(|b| *b != 0) {
            return None;
        }
        return Some(field[low..].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)));
    }
    if first & 0x80 != 0 {
        return None;
    }
    let mut i = 0;
    while i < field.len() && field[i] == b' ' {
        i += 1;
    }
    let start = i;
    let mut value: u64 = 0;
    while i < field.len() && matches!(field[i], b'0'..=b'7') {
        value = value.checked_mul(8)?.checked_add(u64::from(field[i] - b'0'))?;
        i += 1;
    }
    if i == start || field[i..].iter().any(|b| *b != b' ' && *b != 0) {
        return None;
    }
    Some(value)
}

fn decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(|b| b.is_ascii_digit()) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// `1700000000`, `1700000000.123456789` or `-5`: whole seconds.
fn pax_time(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (negative, digits) = match whole.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, whole),
    };
    let seconds = i64::try_from(decimal(digits.as_bytes())?).ok()?;
    Some(if negative { -seconds } else { seconds })
}

fn read_record<R: Read>(
    entry: &mut R,
    size: u64,
    limit: u64,
    shown: &str,
    what: &'static str,
) -> Result<Vec<u8>, TarError> {
    if size > limit {
        return Err(TarError::TooLarge { path: shown.to_owned(), what, size, limit });
    }
    let mut data = Vec::with_capacity(size as usize);
    ExactReader { inner: entry, remaining: size }
        .read_to_end(&mut data)
        .map_err(|source| TarError::Data { path: shown.to_owned(), source })?;
    Ok(data)
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

/// A path from the archive, for messages.
pub fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).escape_debug().to_string()
}

/// Exactly `remaining` bytes: input that ends sooner is an error, not a
/// short file.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the tar stream ends {} bytes before the end of this entry", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Remembers whether the tar crate hit the end of its input, which it
/// reports the same way as an end-of-archive block.
struct EofProbe<R> {
    inner: R,
    eof: bool,
}

impl<R: Read> Read for EofProbe<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).expect("path");
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size);
        h.set_cksum();
        h
    }

    fn members(stream: &[u8]) -> Result<Vec<TarMember>, TarError> {
        let mut out = Vec::new();
        walk(stream, |m, _| {
            out.push(m);
            Ok::<(), ()>(())
        })
        .map_err(|e| match e {
            Walk::Tar(t) => t,
            Walk::Visit(()) => unreachable!("the visitor never fails"),
        })?;
        Ok(out)
    }

    #[test]
    fn stream_ends_and_extension_bounds() {
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("a", tar::EntryType::Regular, 3), &b"abc"[..]).expect("append");
        let complete = b.into_inner().expect("finish");
        let got = members(&complete).expect("reads");
        assert_eq!((got[0].path.as_slice(), &got[0].kind), (&b"a"[..], &TarKind::File { size: 3 }));

        // No end-of-archive block: refused, as is a cut inside the data.
        let no_end = &complete[..1024];
        assert!(matches!(members(no_end), Err(TarError::MissingEnd)));
        assert!(matches!(members(&complete[..514]), Err(TarError::Data { .. })));
        assert!(matches!(members(&complete[..600]), Err(TarError::Read(_))));
        // Padding after the end is read and discarded, up to a bound.
        let mut padded = complete.clone();
        padded.extend(vec![0u8; 1 << 20]);
        members(&padded).expect("padding is fine");
        padded.extend(vec![0u8; 16 << 20]);
        assert!(matches!(members(&padded), Err(TarError::TrailingData { .. })));

        // A long name larger than a path is refused from its header alone.
        let mut big = header("././@LongLink", tar::EntryType::GNULongName, 1 << 30).as_bytes().to_vec();
        big.extend(vec![b'a'; 4096]);
        assert!(matches!(members(&big), Err(TarError::TooLarge { size: 1_073_741_824, .. })));

        // Extension headers with no entry after them.
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("././@LongLink", tar::EntryType::GNULongName, 2), &b"x\0"[..]).expect("append");
        let dangling = b.into_inner().expect("finish");
        assert!(matches!(members(&dangling), Err(TarError::DanglingExtension)));

        // A directory, a link or a symlink with data.
        for kind in [tar::EntryType::Directory, tar::EntryType::Symlink, tar::EntryType::Link] {
            let mut b = tar::Builder::new(Vec::new());
            b.append(&header("d", kind, 1), &b"x"[..]).expect("append");
            let stream = b.into_inner().expect("finish");
            assert!(matches!(members(&stream), Err(TarError::Malformed { .. })), "{kind:?}");
        }
        // A regular file spelled like a directory.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header("d", tar::EntryType::Regular, 0);
        h.as_old_mut().name[..2].copy_from_slice(b"d/");
        h.set_cksum();
        b.append(&h, &b""[..]).expect("append");
        assert!(matches!(members(&b.into_inner().expect("finish")), Err(TarError::Malformed { .. })));
        // A v7 header with no magic.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_old();
        h.set_path("a").expect("path");
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &b""[..]).expect("append");
        assert!(matches!(members(&b.into_inner().expect("finish")), Err(TarError::Malformed { .. })));
    }

    #[test]
    fn numeric_fields() {
        assert_eq!(number(b"0000644\0"), Some(0o644));
        assert_eq!(number(b"   644 \0"), Some(0o644));
        assert_eq!(number(b"00000001750\0"), Some(1000));
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 5]), Some(5));
        for bad in [
            &b"+644\0\0\0\0"[..],
            b"\x00644",
            b"-1\0",
            b"64 4\0",
            b"0x1f\0",
            b"        ",
            b"\0\0\0\0",
            b"9\0",
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0x81, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(number(bad), None, "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn pax_records() {
        let data = b"30 mtime=1700000000.123456789\n14 path=a\nb/c\n19 SCHILY.xattr.a=\n";
        let records = parse_pax(data, "x").expect("parses");
        assert_eq!(records[1], ("path".to_owned(), b"a\nb/c".to_vec()));
        assert_eq!(records[2], ("SCHILY.xattr.a".to_owned(), vec![]));
        assert_eq!(pax_time(b"1700000000.123456789"), Some(1_700_000_000));
        assert_eq!(pax_time(b"-5"), Some(-5));
        assert_eq!(pax_time(b"1e5"), None);
        for bad in [
            &b"10 path=a\n10 path=b\n"[..],
            b"12 path=a\n",
            b"10 path=ab",
            b"8 patha\n",
            b"x path=a\n",
            b"0 \n",
            b"20 GNU.sparse.map=1\n",
            b"22 GNU.sparse.size=99\n",
            b"26 RHT.security.selinux=x\n",
            b"29 LIBARCHIVE.xattr.dXNlcg=x\n",
            b"8 path=\n",
            b"10 path=a\n\0\0",
        ] {
            assert!(parse_pax(bad, "x").is_err(), "{}", bad.escape_ascii());
        }
    }
}
