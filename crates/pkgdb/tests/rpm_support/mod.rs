//! Test support for the rpm reader: building packages with the real
//! `rpmbuild`, and a small independent rpm writer to take them apart and
//! put them back together with hostile changes (headers, cpio records)
//! and, where a test wants it, correct digests and sizes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const TYPE_INT32: u32 = 4;
pub const TYPE_INT64: u32 = 5;
pub const TYPE_STRING: u32 = 6;
pub const TYPE_BIN: u32 = 7;
pub const TYPE_STRING_ARRAY: u32 = 8;

/// Fails with a hint when a tool the tests need is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map(|o| o.status.success());
    assert!(
        found.unwrap_or(false),
        "`{tool}` is not installed; these tests compare against it\nhint: apt-get install -y {package}"
    );
}

/// Builds a binary rpm from a spec with the real rpmbuild.
/// `payload` is rpm's `_binary_payload`, e.g. `w9.gzdio`.
pub fn rpmbuild(dir: &Path, spec: &str, payload: &str) -> PathBuf {
    require_tool("rpmbuild", "rpm");
    let top = dir.join("top");
    let spec_path = dir.join("test.spec");
    std::fs::write(&spec_path, spec).expect("write spec");
    let out = Command::new("rpmbuild")
        .arg("-bb")
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_binary_payload {payload}"))
        .arg(&spec_path)
        .output()
        .expect("run rpmbuild");
    assert!(out.status.success(), "rpmbuild failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let mut found = Vec::new();
    for arch in std::fs::read_dir(top.join("RPMS")).expect("RPMS") {
        for rpm in std::fs::read_dir(arch.expect("entry").path()).expect("arch dir") {
            found.push(rpm.expect("entry").path());
        }
    }
    assert_eq!(found.len(), 1, "expected one rpm, got {found:?}");
    found.remove(0)
}

/// One header entry with its raw (big-endian) data.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub tag: u32,
    pub ty: u32,
    pub count: u32,
    pub data: Vec<u8>,
}

impl Item {
    pub fn string(tag: u32, s: &str) -> Item {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        Item { tag, ty: TYPE_STRING, count: 1, data }
    }

    pub fn strings(tag: u32, items: &[String]) -> Item {
        let mut data = Vec::new();
        for s in items {
            data.extend_from_slice(s.as_bytes());
            data.push(0);
        }
        Item { tag, ty: TYPE_STRING_ARRAY, count: items.len() as u32, data }
    }

    pub fn int32(tag: u32, values: &[u32]) -> Item {
        Item {
            tag,
            ty: TYPE_INT32,
            count: values.len() as u32,
            data: values.iter().flat_map(|v| v.to_be_bytes()).collect(),
        }
    }

    pub fn bin(tag: u32, data: &[u8]) -> Item {
        Item { tag, ty: TYPE_BIN, count: data.len() as u32, data: data.to_vec() }
    }

    pub fn as_strings(&self) -> Vec<String> {
        let data = self.data.strip_suffix(b"\0").unwrap_or(&self.data);
        data.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }

    pub fn as_u32s(&self) -> Vec<u32> {
        self.data.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn type_size(ty: u32) -> usize {
    match ty {
        1 | 2 | 7 => 1,
        3 => 2,
        4 => 4,
        5 => 8,
        _ => 0,
    }
}

/// Parses a header at `at`; returns its entries (without the region tag) and its end.
fn parse_header(b: &[u8], at: usize) -> (Vec<Item>, usize) {
    let il = be32(b, at + 8) as usize;
    let dl = be32(b, at + 12) as usize;
    let index = at + 16;
    let store = index + il * 16;
    let mut items = Vec::new();
    for i in 1..il {
        let e = index + i * 16;
        let (tag, ty, offset, count) = (be32(b, e), be32(b, e + 4), be32(b, e + 8) as usize, be32(b, e + 12));
        let start = store + offset;
        let len = match type_size(ty) {
            0 => {
                let mut len = 0;
                for _ in 0..count {
                    len += b[start + len..].iter().position(|&c| c == 0).expect("NUL") + 1;
                }
                len
            }
            size => size * count as usize,
        };
        items.push(Item { tag, ty, count, data: b[start..start + len].to_vec() });
    }
    (items, store + dl)
}

/// Writes a header with a region tag covering every entry.
pub fn write_header(region: u32, items: &[Item]) -> Vec<u8> {
    let mut store = Vec::new();
    let mut index = Vec::new();
    for item in items {
        let align = type_size(item.ty).max(1);
        while store.len() % align != 0 {
            store.push(0);
        }
        index.push((item.tag, item.ty, store.len() as u32, item.count));
        store.extend_from_slice(&item.data);
    }
    let trailer_at = store.len() as u32;
    let il = items.len() as u32 + 1;
    for v in [region, TYPE_BIN, (-(il as i32 * 16)) as u32, 16] {
        store.extend_from_slice(&v.to_be_bytes());
    }
    let mut out = vec![0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
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

/// A package taken apart.
#[derive(Debug, Clone)]
pub struct Rpm {
    pub lead: Vec<u8>,
    pub sig: Vec<Item>,
    pub main: Vec<Item>,
    pub payload: Vec<u8>,
}

impl Rpm {
    pub fn parse(b: &[u8]) -> Rpm {
        let lead = b[..96].to_vec();
        let (sig, end) = parse_header(b, 96);
        let main_at = end.div_ceil(8) * 8;
        let (main, end) = parse_header(b, main_at);
        Rpm { lead, sig, main, payload: b[end..].to_vec() }
    }

    pub fn read(path: &Path) -> Rpm {
        Rpm::parse(&std::fs::read(path).expect("read rpm"))
    }

    pub fn main_header(&self) -> Vec<u8> {
        write_header(63, &self.main)
    }

    /// The package as bytes; the signature header is written as is.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.lead.clone();
        out.extend_from_slice(&write_header(62, &self.sig));
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&self.main_header());
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn main_item(&self, tag: u32) -> Option<&Item> {
        self.main.iter().find(|i| i.tag == tag)
    }

    /// Replaces (or adds, in tag order) a main-header entry.
    pub fn set_main(&mut self, item: Item) {
        set(&mut self.main, item);
    }

    pub fn set_sig(&mut self, item: Item) {
        set(&mut self.sig, item);
    }

    /// Decompresses the (gzip) payload into cpio records.
    pub fn cpio(&self) -> Vec<CpioRecord> {
        let mut raw = Vec::new();
        flate2::read::MultiGzDecoder::new(&self.payload[..]).read_to_end(&mut raw).expect("gunzip payload");
        parse_cpio(&raw)
    }

    /// Replaces the payload with these records, gzip-compressed. Digests
    /// and sizes are left stale until [`Rpm::fix_digests`].
    pub fn set_cpio(&mut self, records: &[CpioRecord]) {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&write_cpio(records)).expect("gzip");
        self.payload = gz.finish().expect("gzip");
    }

    /// Recomputes what a builder would: PAYLOADDIGEST (of the compressed
    /// payload) and PAYLOADDIGESTALT (of the cpio) in the main header,
    /// then the signature header's header digests, MD5 and sizes.
    pub fn fix_digests(&mut self) {
        if self.main_item(5092).is_some() {
            let digest = hex(&Sha256::digest(&self.payload));
            self.set_main(Item::strings(5092, &[digest]));
        }
        if self.main_item(5097).is_some() {
            let mut raw = Vec::new();
            flate2::read::MultiGzDecoder::new(&self.payload[..]).read_to_end(&mut raw).expect("gunzip payload");
            self.set_main(Item::strings(5097, &[hex(&Sha256::digest(&raw))]));
        }
        self.fix_signature(true);
    }

    /// Recomputes only the signature header's sizes, leaving every digest
    /// stale, so that only a digest check can notice a change.
    pub fn fix_sizes(&mut self) {
        self.fix_signature(false);
    }

    fn fix_signature(&mut self, digests: bool) {
        let header = self.main_header();
        let mut md5 = Md5::new();
        md5.update(&header);
        md5.update(&self.payload);
        let uncompressed = {
            let mut raw = Vec::new();
            flate2::read::MultiGzDecoder::new(&self.payload[..]).read_to_end(&mut raw).expect("gunzip");
            raw.len() as u32
        };
        let updates = [
            (273, Item::string(273, &hex(&Sha256::digest(&header)))),
            (269, Item::string(269, &hex(&Sha1::digest(&header)))),
            (1004, Item::bin(1004, &md5.finalize())),
            (1000, Item::int32(1000, &[(header.len() + self.payload.len()) as u32])),
            (1007, Item::int32(1007, &[uncompressed])),
        ];
        for (tag, item) in updates {
            if !digests && [273, 269, 1004].contains(&tag) {
                continue;
            }
            if self.sig.iter().any(|i| i.tag == tag) {
                self.set_sig(item);
            }
        }
    }
}

fn set(items: &mut Vec<Item>, item: Item) {
    match items.iter().position(|i| i.tag >= item.tag) {
        Some(p) if items[p].tag == item.tag => items[p] = item,
        Some(p) => items.insert(p, item),
        None => items.push(item),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A newc cpio record: the 13 header fields (ino, mode, uid, gid, nlink,
/// mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize,
/// check), its name and its data. Sizes are recomputed when written.
#[derive(Debug, Clone)]
pub struct CpioRecord {
    pub name: String,
    pub fields: [u32; 13],
    pub data: Vec<u8>,
}

impl CpioRecord {
    pub fn file(name: &str, mode: u32, data: &[u8]) -> CpioRecord {
        let mut fields = [0u32; 13];
        fields[1] = mode;
        fields[4] = 1;
        CpioRecord { name: name.to_owned(), fields, data: data.to_vec() }
    }
}

fn pad4(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

pub fn parse_cpio(raw: &[u8]) -> Vec<CpioRecord> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        assert_eq!(&raw[at..at + 6], b"070701", "newc magic at {at}");
        let mut fields = [0u32; 13];
        for (i, f) in fields.iter_mut().enumerate() {
            let s = std::str::from_utf8(&raw[at + 6 + i * 8..at + 14 + i * 8]).expect("hex");
            *f = u32::from_str_radix(s, 16).expect("hex");
        }
        let name_size = fields[11] as usize;
        let name = String::from_utf8(raw[at + 110..at + 110 + name_size - 1].to_vec()).expect("name");
        at = (at + 110 + name_size).div_ceil(4) * 4;
        let size = fields[6] as usize;
        let data = raw[at..at + size].to_vec();
        at = (at + size).div_ceil(4) * 4;
        if name == "TRAILER!!!" {
            return out;
        }
        out.push(CpioRecord { name, fields, data });
    }
}

pub fn write_cpio(records: &[CpioRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer =
        CpioRecord { name: "TRAILER!!!".into(), fields: [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], data: vec![] };
    for r in records.iter().chain([&trailer]) {
        let mut fields = r.fields;
        fields[6] = r.data.len() as u32;
        fields[11] = r.name.len() as u32 + 1;
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(r.name.as_bytes());
        out.push(0);
        pad4(&mut out);
        out.extend_from_slice(&r.data);
        pad4(&mut out);
    }
    out
}
