//! A streaming reader for `ar` archives, the container of a `.deb`.
//!
//! Every header field is checked, including those dpkg ignores (mtime,
//! uid, gid, mode): a damaged header is an error rather than a guess, and a
//! member size that is negative, not a number or past the end of the input
//! never turns into an allocation or a seek (SECURITY.md 15). GNU (`//`
//! table, `/N`) and BSD (`#1/N`) long names are understood, and a long name
//! that points past its table or its member is an error.

use std::io::{self, Read};

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LEN: usize = 60;
/// Longest long name accepted, and largest GNU name table.
const MAX_LONG_NAME: u64 = 4096;
const MAX_NAME_TABLE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ArError {
    #[error("cannot read the ar archive")]
    Read(#[source] io::Error),
    #[error("not an ar archive: it does not start with `!<arch>`")]
    NotAr,
    #[error("the ar archive ends inside {0}")]
    Truncated(String),
    #[error("ar header at byte {offset}: the {field} field `{value}` is invalid")]
    BadField { offset: u64, field: &'static str, value: String },
    #[error("ar member `{name}` at byte {offset}: {reason}")]
    BadLongName { offset: u64, name: String, reason: &'static str },
    #[error("ar member `{name}` is not followed by the `\\n` padding byte")]
    BadPadding { name: String },
}

/// One member's header, with its name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHeader {
    pub name: String,
    /// Bytes of data, after a BSD long name.
    pub size: u64,
    /// Where its header starts in the archive.
    pub offset: u64,
}

pub struct ArReader<R> {
    inner: R,
    /// Bytes read so far.
    position: u64,
    /// Data of the current member not read yet.
    remaining: u64,
    /// Whether the current member is followed by a padding byte.
    pad: bool,
    current: String,
    gnu_names: Option<Vec<u8>>,
}

impl<R: Read> ArReader<R> {
    /// Reads and checks the global header.
    pub fn new(mut inner: R) -> Result<Self, ArError> {
        let mut magic = [0u8; 8];
        read_exact_or(&mut inner, &mut magic, || ArError::NotAr)?;
        if &magic != MAGIC {
            return Err(ArError::NotAr);
        }
        Ok(ArReader { inner, position: 8, remaining: 0, pad: false, current: String::new(), gnu_names: None })
    }

    /// Skips whatever is left of the current member and reads the next
    /// header; `None` at the clean end of the archive.
    pub fn next_member(&mut self) -> Result<Option<MemberHeader>, ArError> {
        loop {
            self.finish_member()?;
            let offset = self.position;
            let mut header = [0u8; HEADER_LEN];
            let mut filled = 0;
            while filled < HEADER_LEN {
                match self.inner.read(&mut header[filled..]) {
                    Ok(0) if filled == 0 => return Ok(None),
                    Ok(0) => return Err(ArError::Truncated(format!("the member header at byte {offset}"))),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(ArError::Read(e)),
                }
            }
            self.position += HEADER_LEN as u64;
            let member = self.parse_header(&header, offset)?;
            if let Some(member) = member {
                return Ok(Some(member));
            }
        }
    }

    /// The current member's data. Reading past its end returns 0; input
    /// that ends before the member does is an `UnexpectedEof` error.
    pub fn member(&mut self) -> MemberReader<'_, R> {
        MemberReader { ar: self }
    }

    /// Data of the current member not read yet.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    fn finish_member(&mut self) -> Result<(), ArError> {
        let name = std::mem::take(&mut self.current);
        let copied = io::copy(&mut self.member(), &mut io::sink());
        match copied {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(ArError::Truncated(format!("member `{name}`")));
            }
            Err(e) => return Err(ArError::Read(e)),
        }
        if self.pad {
            self.pad = false;
            let mut byte = [0u8; 1];
            read_exact_or(&mut self.inner, &mut byte, || ArError::Truncated(format!("the padding of `{name}`")))?;
            self.position += 1;
            if byte[0] != b'\n' {
                return Err(ArError::BadPadding { name });
            }
        }
        Ok(())
    }

    /// `None` for the GNU name table, which is read and kept.
    fn parse_header(&mut self, h: &[u8; HEADER_LEN], offset: u64) -> Result<Option<MemberHeader>, ArError> {
        let bad = |field: &'static str, raw: &[u8]| ArError::BadField {
            offset,
            field,
            value: String::from_utf8_lossy(raw).escape_debug().to_string(),
        };
        if &h[58..60] != b"`\n" {
            return Err(bad("terminator", &h[58..60]));
        }
        let raw_name = &h[0..16];
        if !raw_name.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(bad("name", raw_name));
        }
        number(&h[16..28], 10).ok_or_else(|| bad("mtime", &h[16..28]))?;
        number(&h[28..34], 10).ok_or_else(|| bad("uid", &h[28..34]))?;
        number(&h[34..40], 10).ok_or_else(|| bad("gid", &h[34..40]))?;
        number(&h[40..48], 8).ok_or_else(|| bad("mode", &h[40..48]))?;
        let size = number(&h[48..58], 10).flatten().ok_or_else(|| bad("size", &h[48..58]))?;
        self.remaining = size;
        self.pad = size % 2 == 1;

        // ASCII checked above.
        let trimmed = String::from_utf8_lossy(raw_name).trim_end_matches(' ').to_owned();
        let long = |reason| ArError::BadLongName { offset, name: trimmed.clone(), reason };
        let name = if trimmed == "//" {
            if size > MAX_NAME_TABLE {
                return Err(long("the long-name table is larger than 1 MiB"));
            }
            if self.gnu_names.is_some() {
                return Err(long("a second long-name table"));
            }
            let mut table = Vec::new();
            self.current = trimmed.clone();
            self.member().read_to_end(&mut table).map_err(|e| self.member_error(e))?;
            self.gnu_names = Some(table);
            return Ok(None);
        } else if let Some(length) = trimmed.strip_prefix("#1/") {
            let length: u64 = length.parse().map_err(|_| long("the BSD name length is not a number"))?;
            if length > size {
                return Err(long("the BSD long name runs past the member"));
            }
            if length > MAX_LONG_NAME {
                return Err(long("the BSD long name is longer than 4096 bytes"));
            }
            let mut name = Vec::new();
            self.current = trimmed.clone();
            self.member().take(length).read_to_end(&mut name).map_err(|e| self.member_error(e))?;
            // BSD pads the name with NULs to a multiple of 4 or 8.
            let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
            name.truncate(end);
            String::from_utf8(name).map_err(|_| long("the BSD long name is not UTF-8"))?
        } else if let Some(index) = trimmed.strip_prefix('/').filter(|i| !i.is_empty() && *i != "SYM64/") {
            let index: usize = index.parse().map_err(|_| long("the GNU long-name index is not a number"))?;
            let table = self.gnu_names.as_deref().ok_or_else(|| long("a GNU long name without a name table"))?;
            let rest = table
                .get(index..)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| long("the GNU long-name index is past the name table"))?;
            let end =
                rest.windows(2).position(|w| w == b"/\n").ok_or_else(|| long("the GNU long name is not terminated"))?;
            String::from_utf8(rest[..end].to_vec()).map_err(|_| long("the GNU long name is not UTF-8"))?
        } else if trimmed.len() > 1 {
            // GNU ar ends short names with `/`; dpkg accepts both forms.
            trimmed.strip_suffix('/').unwrap_or(&trimmed).to_owned()
        } else {
            trimmed
        };
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(ArError::BadLongName {
                offset,
                name: name.escape_debug().to_string(),
                reason: "the name is empty or has control characters",
            });
        }
        self.current = name.clone();
        Ok(Some(MemberHeader { name, size: self.remaining, offset }))
    }

    fn member_error(&self, e: io::Error) -> ArError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ArError::Truncated(format!("member `{}`", self.current))
        } else {
            ArError::Read(e)
        }
    }
}

/// Reads one member's data; see [`ArReader::member`].
pub struct MemberReader<'a, R> {
    ar: &'a mut ArReader<R>,
}

impl<R: Read> Read for MemberReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let ar = &mut *self.ar;
        if ar.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(ar.remaining).unwrap_or(usize::MAX));
        let n = ar.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the ar archive ends {} bytes before the end of member `{}`", ar.remaining, ar.current),
            ));
        }
        ar.remaining -= n as u64;
        ar.position += n as u64;
        Ok(n)
    }
}

/// A header number: optional leading spaces, digits in `radix`, then
/// spaces to the end of the field. `Some(None)` for an all-blank field,
/// which writers use for fields they do not fill; `None` for anything else
/// (a sign, another character, or a value that overflows).
fn number(field: &[u8], radix: u32) -> Option<Option<u64>> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_start_matches(' ').trim_end_matches(' ');
    if digits.is_empty() {
        return Some(None);
    }
    if !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().map(Some)
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], on_eof: impl FnOnce() -> ArError) -> Result<(), ArError> {
    r.read_exact(buf).map_err(|e| if e.kind() == io::ErrorKind::UnexpectedEof { on_eof() } else { ArError::Read(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: &str) -> Vec<u8> {
        format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", "0", "0", "0", "100644").into_bytes()
    }

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (name, data) in members {
            out.extend(header(name, &data.len().to_string()));
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    fn names(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArError> {
        let mut ar = ArReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(m) = ar.next_member()? {
            let mut data = Vec::new();
            ar.member().read_to_end(&mut data).map_err(ArError::Read)?;
            assert_eq!(data.len() as u64, m.size);
            out.push((m.name, data));
        }
        Ok(out)
    }

    #[test]
    fn short_gnu_and_bsd_names() {
        let table = b"a-very-long-member-name.tar.xz/\nsecond-long-member-name-here/\n";
        let bytes = archive(&[
            ("debian-binary/", b"2.0\n"),
            ("odd", b"abc"),
            ("//", table),
            ("/0", b"x"),
            ("/32", b"yy"),
            ("#1/20", b"bsd-name-of-20-bytesdata"),
        ]);
        let got = names(&bytes).expect("parses");
        let shown: Vec<(&str, &[u8])> = got.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        assert_eq!(
            shown,
            [
                ("debian-binary", &b"2.0\n"[..]),
                ("odd", b"abc"),
                ("a-very-long-member-name.tar.xz", b"x"),
                ("second-long-member-name-here", b"yy"),
                ("bsd-name-of-20-bytes", b"data"),
            ]
        );
    }

    #[test]
    fn hostile_headers_are_errors() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for size in ["-1", "99999999999", "12a", "0x10", "+5", "1 2", "\u{0}"] {
            let mut b = MAGIC.to_vec();
            let mut h = header("m", "0");
            let field = size.as_bytes();
            h[48..48 + field.len().min(12)].copy_from_slice(&field[..field.len().min(12)]);
            b.extend(h);
            cases.push(b);
        }
        // A size that runs past the input.
        let mut b = MAGIC.to_vec();
        b.extend(header("m", "9999999999"));
        b.extend(b"short");
        cases.push(b);
        // Long names past their member, table or input.
        cases.push(archive(&[("#1/50", b"too short")]));
        cases.push(archive(&[("#1/x", b"abc")]));
        cases.push(archive(&[("//", b"name/\n"), ("/6", b"x")]));
        cases.push(archive(&[("//", b"name-without-end"), ("/0", b"x")]));
        cases.push(archive(&[("/0", b"x")]));
        cases.push(archive(&[("//", b"a/\n"), ("//", b"b/\n")]));
        // Odd member without its padding, wrong padding, bad terminator, not ar.
        cases.push([MAGIC.as_slice(), &header("odd", "3"), b"abc"].concat());
        cases.push([MAGIC.as_slice(), &header("odd", "3"), b"abcX"].concat());
        let mut h = header("m", "0");
        h[58] = b'x';
        cases.push([MAGIC.as_slice(), &h].concat());
        cases.push(b"!<thin>\n".to_vec());
        cases.push(MAGIC[..5].to_vec());
        // A header cut short.
        cases.push([MAGIC.as_slice(), &header("m", "0")[..30]].concat());
        for (i, c) in cases.iter().enumerate() {
            assert!(names(c).is_err(), "case {i} accepted: {}", c.escape_ascii());
        }
    }

    #[test]
    fn errors_name_the_field() {
        let mut b = MAGIC.to_vec();
        b.extend(header("m", "-1"));
        let e = names(&b).expect_err("refused");
        assert_eq!(e.to_string(), "ar header at byte 8: the size field `-1        ` is invalid");
        let e = names(&archive(&[("#1/50", b"too short")])).expect_err("refused");
        assert_eq!(e.to_string(), "ar member `#1/50` at byte 8: the BSD long name runs past the member");
    }
}
