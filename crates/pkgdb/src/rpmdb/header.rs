//! Header blobs as the rpmdb stores them: rpm's `headerExport` format,
//! a header without its 8-byte magic. An installed header is the package's
//! main header unchanged (its immutable region, which the header digests
//! and signatures cover) followed by the tags rpm adds at install time,
//! which lie outside the region ("dribbles" in rpm's words).
//!
//! [`InstalledHeader::parse`] checks a blob the way rpm's
//! `hdrblobVerifyRegion`/`hdrblobVerifyInfo` do (bounds, alignment,
//! overlap, the region trailer) before any value is looked at.
//! [`export_with_dribbles`] appends tags the way rpm's `doExport` lays
//! them out, so the blob is byte for byte what rpm writes.

use std::fmt;

use super::tags::*;

const ENTRY_SIZE: usize = 16;
/// rpm's limits (`hdrblobVerifyLengths`): 65535 tags, 256 MiB of data,
/// and no array longer than 0xfffff items.
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;
const ARRAY_MAX: usize = 0xfffff;
/// The magic that starts a header in a package file; blobs in the rpmdb go without it.
pub const HEADER_MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];

/// Why a header blob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed header: {reason}")]
pub struct HeaderError {
    pub reason: String,
}

fn bad(reason: impl Into<String>) -> HeaderError {
    HeaderError { reason: reason.into() }
}

/// The data type of a header entry (rpm's `rpmTagType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagType {
    Char,
    Int8,
    Int16,
    Int32,
    Int64,
    String,
    Bin,
    StringArray,
    I18nString,
}

impl TagType {
    fn from_raw(ty: u32) -> Option<TagType> {
        Some(match ty {
            TYPE_CHAR => TagType::Char,
            TYPE_INT8 => TagType::Int8,
            TYPE_INT16 => TagType::Int16,
            TYPE_INT32 => TagType::Int32,
            TYPE_INT64 => TagType::Int64,
            TYPE_STRING => TagType::String,
            TYPE_BIN => TagType::Bin,
            TYPE_STRING_ARRAY => TagType::StringArray,
            TYPE_I18NSTRING => TagType::I18nString,
            _ => return None,
        })
    }

    pub fn raw(self) -> u32 {
        match self {
            TagType::Char => TYPE_CHAR,
            TagType::Int8 => TYPE_INT8,
            TagType::Int16 => TYPE_INT16,
            TagType::Int32 => TYPE_INT32,
            TagType::Int64 => TYPE_INT64,
            TagType::String => TYPE_STRING,
            TagType::Bin => TYPE_BIN,
            TagType::StringArray => TYPE_STRING_ARRAY,
            TagType::I18nString => TYPE_I18NSTRING,
        }
    }

    /// Size of one item, `None` for the string types.
    fn item_size(self) -> Option<usize> {
        match self {
            TagType::Char | TagType::Int8 | TagType::Bin => Some(1),
            TagType::Int16 => Some(2),
            TagType::Int32 => Some(4),
            TagType::Int64 => Some(8),
            TagType::String | TagType::StringArray | TagType::I18nString => None,
        }
    }

    /// rpm aligns integer data to its size (`alignDiff`).
    fn alignment(self) -> usize {
        self.item_size().unwrap_or(1)
    }
}

/// A decoded tag value. Integers are in host order; strings are raw bytes
/// (rpm does not promise UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagValue<'a> {
    Char(&'a [u8]),
    Int8(&'a [u8]),
    Int16(Vec<u16>),
    Int32(Vec<u32>),
    Int64(Vec<u64>),
    String(&'a [u8]),
    Bin(&'a [u8]),
    StringArray(Vec<&'a [u8]>),
    /// One string per locale of `HEADERI18NTABLE`; the first is the C locale.
    I18nString(Vec<&'a [u8]>),
}

/// One tag of a header, its data as stored (big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEntry<'a> {
    pub tag: u32,
    pub ty: TagType,
    pub count: u32,
    pub data: &'a [u8],
    /// Whether the tag lies in the immutable region (it came with the package).
    pub immutable: bool,
}

impl<'a> HeaderEntry<'a> {
    pub fn value(&self) -> TagValue<'a> {
        let data = self.data;
        match self.ty {
            TagType::Char => TagValue::Char(data),
            TagType::Int8 => TagValue::Int8(data),
            TagType::Int16 => TagValue::Int16(data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()),
            TagType::Int32 => TagValue::Int32(data.chunks_exact(4).map(be32).collect()),
            TagType::Int64 => TagValue::Int64(
                data.chunks_exact(8)
                    .map(|c| {
                        let mut v = [0u8; 8];
                        v.copy_from_slice(c);
                        u64::from_be_bytes(v)
                    })
                    .collect(),
            ),
            TagType::String => TagValue::String(split_strings(data).first().copied().unwrap_or_default()),
            TagType::Bin => TagValue::Bin(data),
            TagType::StringArray => TagValue::StringArray(split_strings(data)),
            TagType::I18nString => TagValue::I18nString(split_strings(data)),
        }
    }

    /// The strings of a string-typed entry (a STRING is one).
    pub fn strings(&self) -> Option<Vec<&'a [u8]>> {
        match self.ty {
            TagType::String | TagType::StringArray | TagType::I18nString => Some(split_strings(self.data)),
            _ => None,
        }
    }

    /// The values of an INT32 entry.
    pub fn u32s(&self) -> Option<Vec<u32>> {
        (self.ty == TagType::Int32).then(|| self.data.chunks_exact(4).map(be32).collect())
    }
}

fn be32(b: &[u8]) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(..4) {
        v.copy_from_slice(s);
    }
    u32::from_be_bytes(v)
}

fn split_strings(data: &[u8]) -> Vec<&[u8]> {
    let data = data.strip_suffix(b"\0").unwrap_or(data);
    data.split(|&b| b == 0).collect()
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    ty: TagType,
    count: u32,
    offset: usize,
    len: usize,
    immutable: bool,
}

/// The immutable region: how many index entries and data bytes it covers.
#[derive(Debug, Clone, Copy)]
struct Region {
    tag: u32,
    il: usize,
    dl: usize,
}

/// A header blob from the rpmdb, checked and indexed.
#[derive(Clone)]
pub struct InstalledHeader {
    blob: Vec<u8>,
    store_start: usize,
    region: Option<Region>,
    /// Every tag but the region tag, sorted by tag; a tag outside the
    /// region replaces the same tag inside it, as in rpm's `headerImport`.
    entries: Vec<Entry>,
}

impl fmt::Debug for InstalledHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstalledHeader").field("bytes", &self.blob.len()).field("tags", &self.entries.len()).finish()
    }
}

struct RawEntry {
    tag: u32,
    ty: u32,
    offset: i32,
    count: u32,
}

fn raw_entry(index: &[u8], i: usize) -> RawEntry {
    let at = i * ENTRY_SIZE;
    let word = |k: usize| be32(index.get(at + 4 * k..).unwrap_or_default());
    RawEntry { tag: word(0), ty: word(1), offset: word(2) as i32, count: word(3) }
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

impl InstalledHeader {
    /// Checks and indexes a blob (without the header magic).
    pub fn parse(blob: Vec<u8>) -> Result<InstalledHeader, HeaderError> {
        if blob.len() < 8 {
            return Err(bad("shorter than its intro"));
        }
        let il = be32(&blob[0..4]) as usize;
        let dl = be32(&blob[4..8]) as usize;
        if il == 0 || il > MAX_TAGS {
            return Err(bad(format!("{il} tags")));
        }
        if dl > MAX_DATA {
            return Err(bad(format!("{dl} bytes of data")));
        }
        let store_start = 8 + il * ENTRY_SIZE;
        if blob.len() != store_start + dl {
            return Err(bad(format!("{} bytes, but its intro says {}", blob.len(), store_start + dl)));
        }
        let index = &blob[8..store_start];
        let store = &blob[store_start..];
        let region = parse_region(index, store, il, dl)?;
        let first = usize::from(region.is_some());
        let mut entries: Vec<Entry> = Vec::with_capacity(il - first);
        let mut end = 0usize;
        for i in first..il {
            let e = raw_entry(index, i);
            let at = |reason: &str| bad(format!("tag {} (entry {i}): {reason}", e.tag));
            let immutable = region.is_some_and(|r| i < r.il);
            if e.tag < HEADER_I18NTABLE {
                return Err(at("reserved tag number"));
            }
            let Some(ty) = TagType::from_raw(e.ty) else { return Err(at("unknown data type")) };
            let count = e.count as usize;
            if count == 0 || count > dl {
                return Err(at("bad count"));
            }
            if ty != TagType::Bin && count > ARRAY_MAX {
                return Err(at("array too long"));
            }
            if e.offset < 0 || e.offset as usize > dl {
                return Err(at("offset outside the store"));
            }
            let offset = e.offset as usize;
            if offset % ty.alignment() != 0 {
                return Err(at("misaligned data"));
            }
            if offset < end {
                return Err(at("data overlaps the previous tag"));
            }
            let rest = &store[offset..];
            let len = match ty.item_size() {
                Some(size) => size.checked_mul(count).filter(|&n| n <= rest.len()),
                None if ty == TagType::String && count != 1 => return Err(at("a STRING must have count 1")),
                None => strings_len(rest, count),
            };
            let Some(len) = len else { return Err(at("data runs past the store")) };
            end = offset + len;
            if let Some(r) = region {
                let trailer = r.dl - ENTRY_SIZE;
                if end > trailer && offset < r.dl {
                    return Err(at("data overlaps the region trailer"));
                }
                if immutable && end > trailer {
                    return Err(at("an immutable tag's data lies outside its region"));
                }
            }
            entries.push(Entry { tag: e.tag, ty, count: e.count, offset, len, immutable });
        }
        // Dribbles replace region tags of the same number; duplicates
        // within one part are refused.
        entries.sort_by_key(|e| (e.tag, !e.immutable));
        let mut unique: Vec<Entry> = Vec::with_capacity(entries.len());
        for e in entries {
            match unique.last_mut() {
                Some(last) if last.tag == e.tag && last.immutable && !e.immutable => *last = e,
                Some(last) if last.tag == e.tag => return Err(bad(format!("tag {} appears twice", e.tag))),
                _ => unique.push(e),
            }
        }
        Ok(InstalledHeader { blob, store_start, region, entries: unique })
    }

    /// The blob as stored in the rpmdb.
    pub fn as_bytes(&self) -> &[u8] {
        &self.blob
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.blob
    }

    fn entry(&self, e: &Entry) -> HeaderEntry<'_> {
        let start = self.store_start + e.offset;
        HeaderEntry {
            tag: e.tag,
            ty: e.ty,
            count: e.count,
            data: self.blob.get(start..start + e.len).unwrap_or_default(),
            immutable: e.immutable,
        }
    }

    /// Every tag but the region tag, in tag order.
    pub fn tags(&self) -> impl Iterator<Item = HeaderEntry<'_>> {
        self.entries.iter().map(|e| self.entry(e))
    }

    pub fn get(&self, tag: u32) -> Option<HeaderEntry<'_>> {
        self.entries.binary_search_by_key(&tag, |e| e.tag).ok().map(|i| self.entry(&self.entries[i]))
    }

    pub fn has(&self, tag: u32) -> bool {
        self.get(tag).is_some()
    }

    /// A single string: a STRING, the C-locale string of an I18NSTRING,
    /// or the first of a STRING_ARRAY.
    pub fn string(&self, tag: u32) -> Option<&[u8]> {
        self.get(tag)?.strings()?.first().copied()
    }

    /// A string array (a STRING counts as an array of one).
    pub fn strings(&self, tag: u32) -> Option<Vec<&[u8]>> {
        self.get(tag)?.strings()
    }

    pub fn u32s(&self, tag: u32) -> Option<Vec<u32>> {
        self.get(tag)?.u32s()
    }

    pub fn u32_one(&self, tag: u32) -> Option<u32> {
        self.u32s(tag)?.first().copied()
    }

    pub fn bin(&self, tag: u32) -> Option<&[u8]> {
        self.get(tag).filter(|e| e.ty == TagType::Bin).map(|e| e.data)
    }

    /// The package's main header exactly as it was signed: magic, the
    /// region's index entries and data. Its digests are the installed
    /// `SHA1HEADER`/`SHA256HEADER`; `None` for a header without a region.
    pub fn immutable_header(&self) -> Option<Vec<u8>> {
        let region = self.region.filter(|r| r.tag == HEADER_IMMUTABLE)?;
        let index = self.blob.get(8..8 + region.il * ENTRY_SIZE)?;
        let data = self.blob.get(self.store_start..self.store_start + region.dl)?;
        let mut out = Vec::with_capacity(16 + index.len() + data.len());
        out.extend_from_slice(&HEADER_MAGIC);
        out.extend_from_slice(&(region.il as u32).to_be_bytes());
        out.extend_from_slice(&(region.dl as u32).to_be_bytes());
        out.extend_from_slice(index);
        out.extend_from_slice(data);
        Some(out)
    }

    /// Whether every tag lies in the immutable region (true of a package's
    /// main header as built).
    pub fn is_all_immutable(&self) -> bool {
        self.region.is_some() && self.entries.iter().all(|e| e.immutable)
    }
}

/// Checks the region tag and its trailer (rpm's `hdrblobVerifyRegion`,
/// without `exact_size`); `None` for a header without a region.
fn parse_region(index: &[u8], store: &[u8], il: usize, dl: usize) -> Result<Option<Region>, HeaderError> {
    let first = raw_entry(index, 0);
    if ![HEADER_IMAGE, HEADER_SIGNATURES, HEADER_IMMUTABLE].contains(&first.tag) {
        return Ok(None);
    }
    let tag = first.tag;
    if first.ty != TYPE_BIN || first.count as usize != ENTRY_SIZE || first.offset < 0 {
        return Err(bad("bad region tag"));
    }
    let trailer_at = first.offset as usize;
    let rdl = trailer_at + ENTRY_SIZE;
    let trailer = store.get(trailer_at..rdl).ok_or_else(|| bad("region trailer outside the data"))?;
    let trailer = raw_entry(trailer, 0);
    let trailer_tag_ok = trailer.tag == tag || (tag == HEADER_SIGNATURES && trailer.tag == HEADER_IMAGE);
    if !trailer_tag_ok || trailer.ty != TYPE_BIN || trailer.count as usize != ENTRY_SIZE {
        return Err(bad("bad region trailer"));
    }
    let ril = match trailer.offset.checked_neg().filter(|&o| o > 0).map(|o| o as usize) {
        Some(n) if n % ENTRY_SIZE == 0 && n / ENTRY_SIZE <= il && rdl <= dl => n / ENTRY_SIZE,
        _ => return Err(bad("bad region size")),
    };
    Ok(Some(Region { tag, il: ril, dl: rdl }))
}

/// A tag to append to a header: its data as stored (big-endian, strings
/// NUL-terminated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Dribble {
    pub tag: u32,
    pub ty: TagType,
    pub count: u32,
    pub data: Vec<u8>,
}

impl Dribble {
    pub(super) fn u32s(tag: u32, values: &[u32]) -> Dribble {
        Dribble {
            tag,
            ty: TagType::Int32,
            count: values.len() as u32,
            data: values.iter().flat_map(|v| v.to_be_bytes()).collect(),
        }
    }

    pub(super) fn chars(tag: u32, values: &[u8]) -> Dribble {
        Dribble { tag, ty: TagType::Char, count: values.len() as u32, data: values.to_vec() }
    }

    pub(super) fn copy_of(tag: u32, entry: &HeaderEntry<'_>) -> Dribble {
        Dribble { tag, ty: entry.ty, count: entry.count, data: entry.data.to_vec() }
    }
}

/// rpm's `doExport` for a header read from a package plus tags added with
/// `headerPut`: the header's index and data as they are, then the added
/// tags in tag order, each aligned to its item size from the data start.
/// `header` is a blob without magic whose region covers it whole.
pub(super) fn export_with_dribbles(
    header: &InstalledHeader,
    mut dribbles: Vec<Dribble>,
) -> Result<Vec<u8>, HeaderError> {
    if !header.is_all_immutable() {
        return Err(bad("the header has tags outside its immutable region"));
    }
    dribbles.sort_by_key(|d| d.tag);
    if let Some(pair) = dribbles.windows(2).find(|w| w[0].tag == w[1].tag) {
        return Err(bad(format!("tag {} added twice", pair[0].tag)));
    }
    if let Some(d) = dribbles.iter().find(|d| header.has(d.tag)) {
        return Err(bad(format!("tag {} is already in the header", d.tag)));
    }
    let blob = header.as_bytes();
    let il = be32(&blob[0..4]) as usize;
    let index = &blob[8..header.store_start];
    let mut store = blob[header.store_start..].to_vec();
    let mut added = Vec::with_capacity(dribbles.len() * ENTRY_SIZE);
    for d in &dribbles {
        while store.len() % d.ty.alignment() != 0 {
            store.push(0);
        }
        for word in [d.tag, d.ty.raw(), store.len() as u32, d.count] {
            added.extend_from_slice(&word.to_be_bytes());
        }
        store.extend_from_slice(&d.data);
    }
    let il = il + dribbles.len();
    if il > MAX_TAGS || store.len() > MAX_DATA {
        return Err(bad("the installed header would be too large"));
    }
    let mut out = Vec::with_capacity(8 + index.len() + added.len() + store.len());
    out.extend_from_slice(&(il as u32).to_be_bytes());
    out.extend_from_slice(&(store.len() as u32).to_be_bytes());
    out.extend_from_slice(index);
    out.extend_from_slice(&added);
    out.extend_from_slice(&store);
    Ok(out)
}

/// A package-style header (magic included) whose region, tagged
/// `region_tag`, covers every item; items must be in ascending tag order.
pub(super) fn write_header(region_tag: u32, items: &[Dribble]) -> Vec<u8> {
    let mut store = Vec::new();
    let mut index = Vec::with_capacity((items.len() + 1) * ENTRY_SIZE);
    for item in items {
        while store.len() % item.ty.alignment() != 0 {
            store.push(0);
        }
        for word in [item.tag, item.ty.raw(), store.len() as u32, item.count] {
            index.extend_from_slice(&word.to_be_bytes());
        }
        store.extend_from_slice(&item.data);
    }
    let il = items.len() as u32 + 1;
    let trailer_at = store.len() as u32;
    for word in [region_tag, TYPE_BIN, (il * ENTRY_SIZE as u32).wrapping_neg(), ENTRY_SIZE as u32] {
        store.extend_from_slice(&word.to_be_bytes());
    }
    let mut out = HEADER_MAGIC.to_vec();
    out.extend_from_slice(&il.to_be_bytes());
    out.extend_from_slice(&(store.len() as u32).to_be_bytes());
    for word in [region_tag, TYPE_BIN, trailer_at, ENTRY_SIZE as u32] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&index);
    out.extend_from_slice(&store);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob (no magic) from (tag, type, count, data), with a region over all of it.
    fn build(items: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut store = Vec::new();
        let mut index = Vec::new();
        for (tag, ty, count, data) in items {
            let align = TagType::from_raw(*ty).map_or(1, TagType::alignment);
            while store.len() % align != 0 {
                store.push(0);
            }
            index.push([*tag, *ty, store.len() as u32, *count]);
            store.extend_from_slice(data);
        }
        let trailer_at = store.len() as u32;
        let il = items.len() as u32 + 1;
        for v in [HEADER_IMMUTABLE, TYPE_BIN, (-(il as i32 * 16)) as u32, 16] {
            store.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = Vec::new();
        out.extend_from_slice(&il.to_be_bytes());
        out.extend_from_slice(&(store.len() as u32).to_be_bytes());
        for v in [HEADER_IMMUTABLE, TYPE_BIN, trailer_at, 16] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for entry in index {
            for v in entry {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out.extend_from_slice(&store);
        out
    }

    fn sample() -> InstalledHeader {
        InstalledHeader::parse(build(&[
            (NAME, TYPE_STRING, 1, b"foo\0".to_vec()),
            (GROUP, TYPE_I18NSTRING, 1, b"Tools\0".to_vec()),
            (BASENAMES, TYPE_STRING_ARRAY, 2, b"a\0b\0".to_vec()),
        ]))
        .expect("valid")
    }

    #[test]
    fn dribbles_follow_the_region_aligned() {
        let header = sample();
        let blob = export_with_dribbles(
            &header,
            vec![
                Dribble::u32s(INSTALLTID, &[7]),
                Dribble::chars(FILESTATES, &[0, 0]),
                Dribble { tag: SIGMD5, ty: TagType::Bin, count: 3, data: vec![1, 2, 3] },
            ],
        )
        .expect("export");
        // The original index and data come first, unchanged.
        let original = header.as_bytes();
        assert_eq!(&blob[8..8 + 4 * 16], &original[8..8 + 4 * 16]);
        let installed = InstalledHeader::parse(blob).expect("reparse");
        assert_eq!(installed.u32_one(INSTALLTID), Some(7));
        assert_eq!(installed.bin(SIGMD5), Some(&[1u8, 2, 3][..]));
        assert_eq!(installed.get(FILESTATES).map(|e| e.data.to_vec()), Some(vec![0, 0]));
        assert!(!installed.get(INSTALLTID).expect("tid").immutable);
        assert!(installed.get(NAME).expect("name").immutable);
        assert_eq!(installed.string(GROUP), Some(&b"Tools"[..]));
        // The signed header comes back out byte for byte.
        let mut signed = HEADER_MAGIC.to_vec();
        signed.extend_from_slice(original);
        assert_eq!(installed.immutable_header(), Some(signed));
        // Installed headers cannot be exported again.
        assert!(export_with_dribbles(&installed, vec![]).is_err());
    }

    #[test]
    fn exporting_refuses_duplicates() {
        let header = sample();
        assert!(export_with_dribbles(&header, vec![Dribble::u32s(NAME, &[1])]).is_err());
        let twice = vec![Dribble::u32s(INSTALLTID, &[1]), Dribble::u32s(INSTALLTID, &[2])];
        assert!(export_with_dribbles(&header, twice).is_err());
    }

    #[test]
    fn malformed_blobs_are_refused() {
        let good = sample().into_bytes();
        for n in 0..good.len() {
            assert!(InstalledHeader::parse(good[..n].to_vec()).is_err(), "truncated at {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(InstalledHeader::parse(long).is_err());
        // An offset past the data.
        let mut bad_offset = good.clone();
        bad_offset[8 + 16 + 8..8 + 16 + 12].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
        assert!(InstalledHeader::parse(bad_offset).is_err());
        // A count that runs past the data.
        let mut bad_count = good.clone();
        bad_count[8 + 3 * 16 + 12..8 + 3 * 16 + 16].copy_from_slice(&9u32.to_be_bytes());
        assert!(InstalledHeader::parse(bad_count).is_err());
        // Huge claimed sizes.
        let mut huge = good;
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(InstalledHeader::parse(huge).is_err());
    }

    #[test]
    fn values_decode() {
        let header = InstalledHeader::parse(build(&[
            (1028, TYPE_INT32, 2, [1u32.to_be_bytes(), 2u32.to_be_bytes()].concat()),
            (1030, TYPE_INT16, 1, 0o644u16.to_be_bytes().to_vec()),
            (5009, TYPE_INT64, 1, 9u64.to_be_bytes().to_vec()),
        ]))
        .expect("valid");
        let values: Vec<TagValue<'_>> = header.tags().map(|e| e.value()).collect();
        assert_eq!(values, vec![TagValue::Int32(vec![1, 2]), TagValue::Int16(vec![0o644]), TagValue::Int64(vec![9])]);
    }
}
