//! The lead and the two headers of an rpm, read strictly: every index
//! entry is checked against the store (bounds, alignment, overlap, the
//! region trailer) before any value is looked at, following rpm's own
//! `hdrblobVerifyInfo`/`hdrblobVerifyRegion`, plus two checks rpm lacks:
//! tags must be unique and ascending, and the signature header may carry
//! only known signature tags of the right type and count.

use std::collections::HashSet;
use std::io::{self, Read};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::error::{HeaderKind, RpmErrorKind, Tag};
use super::tags::{self, *};

pub const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
const ENTRY_SIZE: usize = 16;
/// rpm's limits (`hdrblobVerifyLengths`): 32 tags in a signature header,
/// 65535 in a main header, and no array longer than 0xfffff items.
const SIGNATURE_MAX_TAGS: usize = 32;
const MAIN_MAX_TAGS: usize = 0xffff;
const ARRAY_MAX: usize = 0xfffff;
/// Bytes of tag data we accept in one header. rpm allows 256 MiB; real
/// headers are a few MiB even with per-file signatures, and this bounds
/// what a hostile header can make us allocate.
pub const MAX_HEADER_DATA: usize = 64 << 20;

/// The 96-byte lead. Only its magic, version and signature type matter;
/// its name is used to label errors until the header is read.
pub struct Lead {
    pub name: String,
}

pub fn read_lead(reader: &mut impl Read) -> Result<Lead, RpmErrorKind> {
    let mut lead = [0u8; LEAD_SIZE];
    let got = read_full(reader, &mut lead)?;
    if got >= 4 && lead[..4] != LEAD_MAGIC {
        return Err(RpmErrorKind::NotRpm);
    }
    if got < LEAD_SIZE {
        return Err(RpmErrorKind::Truncated { part: "lead" });
    }
    // rpm 4 reads major versions 3 and 4 (rpm 6 packages keep a v4 lead).
    if !(3..=4).contains(&lead[4]) {
        return Err(RpmErrorKind::Lead { reason: "unsupported format version" });
    }
    // Signature type 5: a header-style signature follows.
    if u16::from_be_bytes([lead[78], lead[79]]) != 5 {
        return Err(RpmErrorKind::Lead { reason: "no header-style signature" });
    }
    let name = &lead[10..76];
    let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
    Ok(Lead { name: String::from_utf8_lossy(name).into_owned() })
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, RpmErrorKind> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(RpmErrorKind::Read(e)),
        }
    }
    Ok(got)
}

/// One index entry after validation: `offset..offset + len` lies inside the store.
#[derive(Debug, Clone, Copy)]
pub struct IndexEntry {
    pub tag: u32,
    pub ty: u32,
    pub count: usize,
    offset: usize,
    len: usize,
}

/// A validated header, kept as the bytes read (for digests) plus its index.
pub struct Header {
    pub kind: HeaderKind,
    /// The header exactly as stored: magic, counts, index and store.
    pub raw: Vec<u8>,
    store_start: usize,
    /// Entries after the region tag, in ascending tag order.
    entries: Vec<IndexEntry>,
}

fn structure(kind: HeaderKind, reason: impl Into<String>) -> RpmErrorKind {
    RpmErrorKind::HeaderStructure { header: kind, reason: reason.into() }
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from_slice(s);
    }
    u32::from_be_bytes(v)
}

impl Header {
    /// Reads one header (and, for the signature header, its padding to 8 bytes).
    pub fn read(reader: &mut impl Read, kind: HeaderKind) -> Result<Header, RpmErrorKind> {
        let part = match kind {
            HeaderKind::Signature => "signature header",
            HeaderKind::Main => "main header",
        };
        let mut intro = [0u8; 16];
        if read_full(reader, &mut intro)? < intro.len() {
            return Err(RpmErrorKind::Truncated { part });
        }
        if intro[..8] != HEADER_MAGIC {
            return Err(structure(kind, "bad header magic"));
        }
        let il = be32(&intro, 8) as usize;
        let dl = be32(&intro, 12) as usize;
        let max_tags = match kind {
            HeaderKind::Signature => SIGNATURE_MAX_TAGS,
            HeaderKind::Main => MAIN_MAX_TAGS,
        };
        if il > max_tags {
            return Err(structure(kind, format!("{il} tags, more than the limit of {max_tags}")));
        }
        if dl > MAX_HEADER_DATA {
            return Err(structure(kind, format!("{dl} bytes of data, more than the limit of {MAX_HEADER_DATA}")));
        }
        let rest = il * ENTRY_SIZE + dl;
        // Grow the buffer as data arrives, so a short file claiming a big
        // header costs no more than its real size.
        let mut raw = Vec::with_capacity(16 + rest.min(1 << 20));
        raw.extend_from_slice(&intro);
        reader.take(rest as u64).read_to_end(&mut raw).map_err(RpmErrorKind::Read)?;
        if raw.len() < 16 + rest {
            return Err(RpmErrorKind::Truncated { part });
        }
        if kind == HeaderKind::Signature {
            let pad = (8 - (16 + rest) % 8) % 8;
            let mut padding = [0u8; 8];
            if read_full(reader, &mut padding[..pad])? < pad {
                return Err(RpmErrorKind::Truncated { part });
            }
        }
        let entries = parse_index(kind, &raw, il, dl)?;
        let header = Header { kind, raw, store_start: 16 + il * ENTRY_SIZE, entries };
        if kind == HeaderKind::Signature {
            header.check_signature_tags()?;
        }
        Ok(header)
    }

    /// Only known signature tags, each with its type, count and digest length.
    fn check_signature_tags(&self) -> Result<(), RpmErrorKind> {
        for e in &self.entries {
            let Some(rule) = tags::signature_tag_rule(e.tag) else {
                return Err(RpmErrorKind::ForeignSignatureTag { tag: e.tag });
            };
            let tag = Tag::signature(e.tag);
            if e.ty != rule.ty {
                return Err(RpmErrorKind::TagType { tag, expected: type_name(rule.ty), found: type_name(e.ty) });
            }
            if let Some(count) = rule.count
                && e.count != count
            {
                return Err(RpmErrorKind::TagCount { tag, expected: count, found: e.count });
            }
            if let Some(hex_len) = rule.hex_len {
                let value = self.data(e).strip_suffix(b"\0").unwrap_or_default();
                if value.len() != hex_len || !value.iter().all(u8::is_ascii_hexdigit) {
                    return Err(RpmErrorKind::TagValue { tag, reason: format!("not a {hex_len}-digit hex digest") });
                }
            }
        }
        Ok(())
    }

    fn tag(&self, number: u32) -> Tag {
        Tag { header: self.kind, number }
    }

    fn find(&self, tag: u32) -> Option<&IndexEntry> {
        self.entries.binary_search_by_key(&tag, |e| e.tag).ok().map(|i| &self.entries[i])
    }

    pub fn has(&self, tag: u32) -> bool {
        self.find(tag).is_some()
    }

    fn data(&self, e: &IndexEntry) -> &[u8] {
        let start = self.store_start + e.offset;
        self.raw.get(start..start + e.len).unwrap_or_default()
    }

    fn typed(&self, tag: u32, allowed: &[u32], expected: &'static str) -> Result<Option<&IndexEntry>, RpmErrorKind> {
        match self.find(tag) {
            None => Ok(None),
            Some(e) if allowed.contains(&e.ty) => Ok(Some(e)),
            Some(e) => Err(RpmErrorKind::TagType { tag: self.tag(tag), expected, found: type_name(e.ty) }),
        }
    }

    /// A string array (a single STRING counts as an array of one).
    pub fn strings(&self, tag: u32) -> Result<Option<Vec<&[u8]>>, RpmErrorKind> {
        let allowed = [TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING];
        let Some(e) = self.typed(tag, &allowed, "STRING_ARRAY")? else { return Ok(None) };
        let data = self.data(e);
        let data = data.strip_suffix(b"\0").unwrap_or(data);
        let items: Vec<&[u8]> = data.split(|&b| b == 0).collect();
        if items.len() != e.count {
            return Err(structure(self.kind, format!("{} has a bad string count", self.tag(tag))));
        }
        Ok(Some(items))
    }

    /// A single string: a STRING, the first (C locale) string of an
    /// I18NSTRING, or a STRING_ARRAY of exactly one.
    pub fn string(&self, tag: u32) -> Result<Option<&[u8]>, RpmErrorKind> {
        let Some(items) = self.strings(tag)? else { return Ok(None) };
        let ty = self.find(tag).map(|e| e.ty).unwrap_or(TYPE_STRING);
        if ty == TYPE_STRING_ARRAY && items.len() != 1 {
            return Err(RpmErrorKind::TagCount { tag: self.tag(tag), expected: 1, found: items.len() });
        }
        Ok(items.first().copied())
    }

    /// A single UTF-8 string.
    pub fn utf8(&self, tag: u32) -> Result<Option<&str>, RpmErrorKind> {
        match self.string(tag)? {
            None => Ok(None),
            Some(s) => std::str::from_utf8(s)
                .map(Some)
                .map_err(|_| RpmErrorKind::TagValue { tag: self.tag(tag), reason: "not UTF-8".into() }),
        }
    }

    /// A single string of free text; invalid UTF-8 (old Latin-1 headers) is replaced.
    pub fn text(&self, tag: u32) -> Result<Option<String>, RpmErrorKind> {
        Ok(self.string(tag)?.map(|s| String::from_utf8_lossy(s).into_owned()))
    }

    /// A string array whose items must all be UTF-8.
    pub fn utf8_strings(&self, tag: u32) -> Result<Option<Vec<&str>>, RpmErrorKind> {
        let Some(items) = self.strings(tag)? else { return Ok(None) };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(
                std::str::from_utf8(item)
                    .map_err(|_| RpmErrorKind::TagValue { tag: self.tag(tag), reason: "not UTF-8".into() })?,
            );
        }
        Ok(Some(out))
    }

    fn numbers<const N: usize>(&self, tag: u32, ty: u32) -> Result<Option<Vec<[u8; N]>>, RpmErrorKind> {
        let Some(e) = self.typed(tag, &[ty], type_name(ty))? else { return Ok(None) };
        Ok(Some(
            self.data(e)
                .chunks_exact(N)
                .map(|c| {
                    let mut v = [0u8; N];
                    v.copy_from_slice(c);
                    v
                })
                .collect(),
        ))
    }

    pub fn u16s(&self, tag: u32) -> Result<Option<Vec<u16>>, RpmErrorKind> {
        Ok(self.numbers::<2>(tag, TYPE_INT16)?.map(|v| v.into_iter().map(u16::from_be_bytes).collect()))
    }

    pub fn u32s(&self, tag: u32) -> Result<Option<Vec<u32>>, RpmErrorKind> {
        Ok(self.numbers::<4>(tag, TYPE_INT32)?.map(|v| v.into_iter().map(u32::from_be_bytes).collect()))
    }

    pub fn u64s(&self, tag: u32) -> Result<Option<Vec<u64>>, RpmErrorKind> {
        Ok(self.numbers::<8>(tag, TYPE_INT64)?.map(|v| v.into_iter().map(u64::from_be_bytes).collect()))
    }

    fn one<T: Copy>(&self, tag: u32, values: Option<Vec<T>>) -> Result<Option<T>, RpmErrorKind> {
        match values {
            None => Ok(None),
            Some(v) if v.len() == 1 => Ok(Some(v[0])),
            Some(v) => Err(RpmErrorKind::TagCount { tag: self.tag(tag), expected: 1, found: v.len() }),
        }
    }

    pub fn u32_one(&self, tag: u32) -> Result<Option<u32>, RpmErrorKind> {
        let values = self.u32s(tag)?;
        self.one(tag, values)
    }

    pub fn u64_one(&self, tag: u32) -> Result<Option<u64>, RpmErrorKind> {
        let values = self.u64s(tag)?;
        self.one(tag, values)
    }

    pub fn bin(&self, tag: u32) -> Result<Option<&[u8]>, RpmErrorKind> {
        Ok(self.typed(tag, &[TYPE_BIN], "BIN")?.map(|e| self.data(e)))
    }

    pub fn sha256_hex(&self) -> String {
        hex(&Sha256::digest(&self.raw))
    }

    pub fn sha1_hex(&self) -> String {
        hex(&Sha1::digest(&self.raw))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

struct RawEntry {
    tag: u32,
    ty: u32,
    offset: i32,
    count: u32,
}

fn raw_entry(index: &[u8], i: usize) -> RawEntry {
    let at = i * ENTRY_SIZE;
    RawEntry {
        tag: be32(index, at),
        ty: be32(index, at + 4),
        offset: be32(index, at + 8) as i32,
        count: be32(index, at + 12),
    }
}

fn type_size(ty: u32) -> Option<usize> {
    match ty {
        TYPE_CHAR | TYPE_INT8 | TYPE_BIN => Some(1),
        TYPE_INT16 => Some(2),
        TYPE_INT32 => Some(4),
        TYPE_INT64 => Some(8),
        _ => None,
    }
}

/// Checks the index against the store and returns the entries after the region tag.
fn parse_index(kind: HeaderKind, raw: &[u8], il: usize, dl: usize) -> Result<Vec<IndexEntry>, RpmErrorKind> {
    let err = |reason: String| structure(kind, reason);
    let index = raw.get(16..16 + il * ENTRY_SIZE).unwrap_or_default();
    let store = raw.get(16 + il * ENTRY_SIZE..).unwrap_or_default();
    if il == 0 {
        return Err(err("no tags".into()));
    }

    // The region tag: its data is a trailer entry whose negative offset
    // says how many index entries the (signed) region covers.
    let region_tag = match kind {
        HeaderKind::Signature => HEADER_SIGNATURES,
        HeaderKind::Main => HEADER_IMMUTABLE,
    };
    let region = raw_entry(index, 0);
    if region.tag != region_tag {
        return Err(err(format!("the first tag is {}, not the region tag {region_tag}", region.tag)));
    }
    if region.ty != TYPE_BIN || region.count as usize != ENTRY_SIZE || region.offset < 0 {
        return Err(err("bad region tag".into()));
    }
    let trailer_at = region.offset as usize;
    let rdl = trailer_at + ENTRY_SIZE;
    let trailer = store.get(trailer_at..rdl).ok_or_else(|| err("region trailer outside the store".into()))?;
    let trailer = raw_entry(trailer, 0);
    // Some old packages put HEADERIMAGE in the signature region trailer; rpm accepts it.
    let trailer_tag_ok =
        trailer.tag == region_tag || (kind == HeaderKind::Signature && trailer.tag == tags::HEADER_IMAGE);
    if !trailer_tag_ok || trailer.ty != TYPE_BIN || trailer.count as usize != ENTRY_SIZE {
        return Err(err("bad region trailer".into()));
    }
    let region_bytes = trailer.offset.checked_neg().filter(|&o| o > 0).map(|o| o as usize);
    let ril = match region_bytes {
        Some(n) if n % ENTRY_SIZE == 0 && n / ENTRY_SIZE <= il => n / ENTRY_SIZE,
        _ => return Err(err("bad region size".into())),
    };
    // In a package the main header's region covers it whole (rpm's exact_size).
    if kind == HeaderKind::Main && (ril != il || rdl != dl) {
        return Err(err(format!("the signed region covers {ril} of {il} tags and {rdl} of {dl} bytes")));
    }

    let mut entries = Vec::with_capacity(il - 1);
    let mut seen = HashSet::with_capacity(il);
    let mut end = 0usize;
    for i in 1..il {
        let e = raw_entry(index, i);
        let at = |reason: &str| err(format!("tag {} (entry {i}): {reason}", e.tag));
        if e.tag < HEADER_I18NTABLE {
            return Err(at("reserved tag number"));
        }
        if !seen.insert(e.tag) {
            return Err(RpmErrorKind::DuplicateTag { tag: Tag { header: kind, number: e.tag } });
        }
        if entries.last().is_some_and(|p: &IndexEntry| p.tag > e.tag) {
            return Err(at("tags out of order"));
        }
        if !(TYPE_CHAR..=TYPE_I18NSTRING).contains(&e.ty) {
            return Err(at("unknown data type"));
        }
        let count = e.count as usize;
        if count == 0 || count > dl {
            return Err(at("bad count"));
        }
        if e.ty != TYPE_BIN && count > ARRAY_MAX {
            return Err(at("array too long"));
        }
        if e.offset < 0 || e.offset as usize > dl {
            return Err(at("offset outside the store"));
        }
        let offset = e.offset as usize;
        if let Some(size) = type_size(e.ty)
            && offset % size.min(8) != 0
        {
            return Err(at("misaligned data"));
        }
        // rpm requires the data of consecutive entries not to overlap.
        if offset < end {
            return Err(at("data overlaps the previous tag"));
        }
        let rest = store.get(offset..dl).unwrap_or_default();
        let len = match (e.ty, type_size(e.ty)) {
            (TYPE_STRING, _) if count != 1 => return Err(at("a STRING must have count 1")),
            (_, Some(size)) => size.checked_mul(count).filter(|&n| n <= rest.len()),
            (_, None) => strings_len(rest, count),
        };
        let Some(len) = len else { return Err(at("data runs past the store")) };
        end = offset + len;
        if end > rdl - ENTRY_SIZE && offset < rdl {
            return Err(at("data overlaps the region trailer"));
        }
        entries.push(IndexEntry { tag: e.tag, ty: e.ty, count, offset, len });
    }
    Ok(entries)
}

/// Length of `count` NUL-terminated strings at the start of `data`.
fn strings_len(data: &[u8], count: usize) -> Option<usize> {
    let mut len = 0;
    for _ in 0..count {
        let nul = data.get(len..)?.iter().position(|&b| b == 0)?;
        len += nul + 1;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a header from (tag, type, count, data) items, with a region.
    fn build(region: u32, items: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut store = Vec::new();
        let mut index = Vec::new();
        for (tag, ty, count, data) in items {
            let align = type_size(*ty).unwrap_or(1).min(8);
            while store.len() % align != 0 {
                store.push(0);
            }
            index.push((*tag, *ty, store.len() as u32, *count));
            store.extend_from_slice(data);
        }
        let trailer_at = store.len() as u32;
        let il = items.len() as u32 + 1;
        for v in [region, TYPE_BIN, (-(il as i32 * 16)) as u32, 16] {
            store.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = HEADER_MAGIC.to_vec();
        out.extend_from_slice(&il.to_be_bytes());
        out.extend_from_slice(&(store.len() as u32).to_be_bytes());
        for v in [region, TYPE_BIN, trailer_at, 16] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for (tag, ty, offset, count) in index {
            for v in [tag, ty, offset, count] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out.extend_from_slice(&store);
        out
    }

    fn read(kind: HeaderKind, bytes: &[u8]) -> Result<Header, RpmErrorKind> {
        let mut bytes = bytes.to_vec();
        if kind == HeaderKind::Signature {
            bytes.resize(bytes.len().div_ceil(8) * 8, 0);
        }
        Header::read(&mut &bytes[..], kind)
    }

    #[test]
    fn accessors_read_typed_values() {
        let bytes = build(
            HEADER_IMMUTABLE,
            &[
                (NAME, TYPE_STRING, 1, b"foo\0".to_vec()),
                (FILESIZES, TYPE_INT32, 2, [1u32.to_be_bytes(), 2u32.to_be_bytes()].concat()),
                (FILEMODES, TYPE_INT16, 2, [0o100644u16.to_be_bytes(), 0o40755u16.to_be_bytes()].concat()),
                (BASENAMES, TYPE_STRING_ARRAY, 2, b"a\0b\0".to_vec()),
                (LONGSIZE, TYPE_INT64, 1, 7u64.to_be_bytes().to_vec()),
            ],
        );
        let h = read(HeaderKind::Main, &bytes).expect("valid header");
        assert_eq!(h.utf8(NAME).expect("name"), Some("foo"));
        assert_eq!(h.u32s(FILESIZES).expect("sizes"), Some(vec![1, 2]));
        assert_eq!(h.u16s(FILEMODES).expect("modes"), Some(vec![0o100644, 0o40755]));
        assert_eq!(h.utf8_strings(BASENAMES).expect("names"), Some(vec!["a", "b"]));
        assert_eq!(h.u64_one(LONGSIZE).expect("size"), Some(7));
        assert!(matches!(h.u32s(NAME), Err(RpmErrorKind::TagType { .. })));
        assert_eq!(h.u32s(ARCH).expect("absent"), None);
    }

    #[test]
    fn structural_errors_are_refused() {
        let good = build(HEADER_IMMUTABLE, &[(NAME, TYPE_STRING, 1, b"foo\0".to_vec())]);
        read(HeaderKind::Main, &good).expect("valid");
        // Duplicate and unordered tags.
        let dup = build(
            HEADER_IMMUTABLE,
            &[(NAME, TYPE_STRING, 1, b"a\0".to_vec()), (NAME, TYPE_STRING, 1, b"b\0".to_vec())],
        );
        assert!(matches!(read(HeaderKind::Main, &dup), Err(RpmErrorKind::DuplicateTag { .. })));
        let unordered = build(
            HEADER_IMMUTABLE,
            &[(VERSION, TYPE_STRING, 1, b"a\0".to_vec()), (NAME, TYPE_STRING, 1, b"b\0".to_vec())],
        );
        assert!(read(HeaderKind::Main, &unordered).is_err());
        // A string without its NUL runs into the trailer.
        let unterminated = build(HEADER_IMMUTABLE, &[(NAME, TYPE_STRING, 1, b"foo".to_vec())]);
        assert!(read(HeaderKind::Main, &unterminated).is_err());
        // Count past the store.
        let long = build(HEADER_IMMUTABLE, &[(FILESIZES, TYPE_INT32, 1000, vec![0; 8])]);
        assert!(read(HeaderKind::Main, &long).is_err());
        // Offsets past the store, negative offsets.
        for offset in [0x7fff_0000u32, 0xffff_fff0] {
            let mut bad = good.clone();
            bad[16 + 16 + 8..16 + 16 + 12].copy_from_slice(&offset.to_be_bytes());
            assert!(read(HeaderKind::Main, &bad).is_err(), "{offset:#x}");
        }
        // Wrong region tag.
        let sig_region = build(HEADER_SIGNATURES, &[(NAME, TYPE_STRING, 1, b"foo\0".to_vec())]);
        assert!(read(HeaderKind::Main, &sig_region).is_err());
        // Huge claimed sizes are refused before anything is allocated.
        let mut huge = good.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(read(HeaderKind::Main, &huge).is_err());
        // Truncation anywhere.
        for n in 0..good.len() {
            assert!(read(HeaderKind::Main, &good[..n]).is_err(), "truncated at {n}");
        }
    }

    #[test]
    fn signature_tags_are_checked() {
        let sha = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\0".to_vec();
        let ok = build(
            HEADER_SIGNATURES,
            &[(SIG_SHA256, TYPE_STRING, 1, sha.clone()), (SIG_SIZE, TYPE_INT32, 1, 5u32.to_be_bytes().to_vec())],
        );
        read(HeaderKind::Signature, &ok).expect("valid signature header");
        let cases = [
            // A main-header tag (NAME is 1000 = SIZE; use ARCH).
            build(HEADER_SIGNATURES, &[(ARCH, TYPE_STRING, 1, b"x86_64\0".to_vec())]),
            // Wrong type.
            build(HEADER_SIGNATURES, &[(SIG_SIZE, TYPE_INT64, 1, 5u64.to_be_bytes().to_vec())]),
            // Wrong count.
            build(HEADER_SIGNATURES, &[(SIG_MD5, TYPE_BIN, 15, vec![0; 15])]),
            // A digest that is not hex of the right length.
            build(HEADER_SIGNATURES, &[(SIG_SHA256, TYPE_STRING, 1, b"zz\0".to_vec())]),
            // Duplicates.
            build(
                HEADER_SIGNATURES,
                &[(SIG_SHA256, TYPE_STRING, 1, sha.clone()), (SIG_SHA256, TYPE_STRING, 1, sha.clone())],
            ),
        ];
        for (i, case) in cases.iter().enumerate() {
            assert!(read(HeaderKind::Signature, case).is_err(), "case {i} accepted");
        }
    }
}
