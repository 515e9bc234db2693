//! Streams the payload: decompress, walk the cpio records, and reconcile
//! them with the header's file list (SECURITY.md 18) while each entry is
//! validated and handed to the caller. Nothing is buffered beyond one
//! record header; file content goes straight from the decompressor to the
//! caller, hashed on the way.
//!
//! Digests over the whole payload (PAYLOADDIGEST, the signature header's
//! MD5) and its declared sizes are only known at the end, so a caller must
//! treat everything it received as provisional until this returns `Ok`.

use std::collections::HashMap;
use std::io::{self, BufReader, Cursor, Read};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::ReadOptions;
use super::cpio::{CpioFail, CpioReader, Record};
use super::error::RpmErrorKind;
use super::files::{FileKind, RpmFile, UNMAPPED_ID};
use super::header::hex;
use super::package::{Compressor, RpmPackage};
use crate::entry::{Entry, EntryKind, PackagePath, Validator};

/// Memory liblzma may use for one xz/lzma stream. rpm's own xz reader
/// allows 100 MiB; `xz -9e` needs 65 MiB.
const XZ_MEMLIMIT: u64 = 128 << 20;
/// Zeros accepted after the cpio trailer when the header declares no size.
const MAX_TRAILING_ZEROS: u64 = 511;
/// Stored bytes accepted after the compressed stream when no size is declared.
const MAX_TRAILING_STORED: u64 = 64 << 10;

/// The payload as stored: counted and hashed for PAYLOADDIGEST and the
/// signature header's MD5 (which also covers the main header).
struct StoredReader<R> {
    inner: R,
    count: u64,
    sha256: Option<Sha256>,
    md5: Option<Md5>,
}

impl<R: Read> Read for StoredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// A file digest being computed, by rpm's algorithm names.
enum FileHasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl FileHasher {
    /// For a digest recorded as `algo:hex`.
    fn for_digest(digest: &str) -> Option<FileHasher> {
        Some(match digest.split_once(':')?.0 {
            "md5" => FileHasher::Md5(Md5::new()),
            "sha1" => FileHasher::Sha1(Sha1::new()),
            "sha224" => FileHasher::Sha224(Sha224::new()),
            "sha256" => FileHasher::Sha256(Sha256::new()),
            "sha384" => FileHasher::Sha384(Sha384::new()),
            "sha512" => FileHasher::Sha512(Sha512::new()),
            _ => return None,
        })
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            FileHasher::Md5(h) => h.update(data),
            FileHasher::Sha1(h) => h.update(data),
            FileHasher::Sha224(h) => h.update(data),
            FileHasher::Sha256(h) => h.update(data),
            FileHasher::Sha384(h) => h.update(data),
            FileHasher::Sha512(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        let (name, bytes) = match self {
            FileHasher::Md5(h) => ("md5", h.finalize().to_vec()),
            FileHasher::Sha1(h) => ("sha1", h.finalize().to_vec()),
            FileHasher::Sha224(h) => ("sha224", h.finalize().to_vec()),
            FileHasher::Sha256(h) => ("sha256", h.finalize().to_vec()),
            FileHasher::Sha384(h) => ("sha384", h.finalize().to_vec()),
            FileHasher::Sha512(h) => ("sha512", h.finalize().to_vec()),
        };
        format!("{name}:{}", hex(&bytes))
    }
}

/// One file's content: bounded to its size, hashed as it is read.
struct Content<'a, R> {
    inner: io::Take<&'a mut R>,
    hasher: Option<FileHasher>,
}

impl<R: Read> Read for Content<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// What the payload check needs besides the package.
pub struct PayloadExpectations {
    /// MD5 over the main header and the stored payload, from the signature
    /// header, with an MD5 state already fed the main header.
    pub md5: Option<([u8; 16], Md5)>,
}

fn read_fail(compressor: &'static str, offset: u64) -> impl Fn(CpioFail) -> RpmErrorKind {
    move |fail| match fail {
        CpioFail::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => RpmErrorKind::Truncated { part: "payload" },
        CpioFail::Io(e) => RpmErrorKind::Decompress { compressor, source: e },
        CpioFail::Malformed(reason) => RpmErrorKind::Cpio { offset, reason },
    }
}

fn decoder<'a, R: Read + 'a>(
    compressor: Compressor,
    stored: &'a mut StoredReader<R>,
) -> Result<(Box<dyn Read + 'a>, &'static str), RpmErrorKind> {
    let lzma_error =
        |e: liblzma::stream::Error| RpmErrorKind::Decompress { compressor: "xz", source: io::Error::other(e) };
    Ok(match compressor {
        Compressor::Unspecified => {
            let mut magic = [0u8; 2];
            let mut got = 0;
            while got < magic.len() {
                match stored.read(&mut magic[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(RpmErrorKind::Read(e)),
                }
            }
            let chained = Cursor::new(magic[..got].to_vec()).chain(stored);
            if magic[..got] == [0x1f, 0x8b] {
                (Box::new(flate2::read::MultiGzDecoder::new(chained)), "gzip")
            } else {
                (Box::new(chained), "uncompressed")
            }
        }
        Compressor::Gzip => (Box::new(flate2::read::MultiGzDecoder::new(stored)), "gzip"),
        Compressor::Bzip2 => (Box::new(bzip2::read::MultiBzDecoder::new(stored)), "bzip2"),
        Compressor::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0).map_err(lzma_error)?;
            (Box::new(liblzma::read::XzDecoder::new_stream(stored, stream)), "xz")
        }
        Compressor::Lzma => {
            let stream = liblzma::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT).map_err(lzma_error)?;
            (Box::new(liblzma::read::XzDecoder::new_stream(stored, stream)), "lzma")
        }
        Compressor::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(stored)
                .map_err(|source| RpmErrorKind::Decompress { compressor: "zstd", source })?;
            (Box::new(decoder), "zstd")
        }
    })
}

/// The entry the caller sees for a header file.
fn entry(file: &RpmFile, kind: EntryKind) -> Entry {
    let id = |name: &str| if name == "root" { 0 } else { UNMAPPED_ID };
    let xattrs = match &file.capability_xattr {
        Some(value) => vec![("security.capability".to_owned(), value.clone())],
        None => Vec::new(),
    };
    Entry {
        path: file.path.clone(),
        kind,
        mode: file.mode,
        uid: id(&file.user),
        gid: id(&file.group),
        user: Some(file.user.clone()),
        group: Some(file.group.clone()),
        mtime: i64::from(file.mtime),
        xattrs,
        digest: file.digest.clone(),
    }
}

struct Delivery<'f, F> {
    validator: Validator,
    callback: &'f mut F,
    entries: usize,
}

impl<F, E> Delivery<'_, F>
where
    F: FnMut(&Entry, &mut dyn Read) -> Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Validates `entry` against everything delivered before, then hands it over.
    fn deliver(&mut self, entry: &Entry, content: &mut dyn Read) -> Result<(), RpmErrorKind> {
        self.validator.check(entry).map_err(RpmErrorKind::Entry)?;
        (self.callback)(entry, content)
            .map_err(|e| RpmErrorKind::Callback { path: entry.path.to_absolute(), source: e.into() })?;
        self.entries += 1;
        Ok(())
    }
}

/// Counts of what the payload held.
pub struct PayloadStats {
    pub entries: usize,
    pub content_bytes: u64,
    pub file_digests_checked: usize,
}

/// Streams the payload after the headers; see the module docs.
pub fn stream<R, F, E>(
    reader: R,
    package: &RpmPackage,
    expect: PayloadExpectations,
    opts: &ReadOptions,
    mut callback: F,
) -> Result<PayloadStats, RpmErrorKind>
where
    R: Read,
    F: FnMut(&Entry, &mut dyn Read) -> Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let files = &package.files;
    if files.len() > opts.max_entries {
        return Err(RpmErrorKind::TooManyEntries { count: files.len(), limit: opts.max_entries });
    }
    let declared = files.iter().try_fold(0u64, |sum, f| sum.checked_add(f.payload_size)).unwrap_or(u64::MAX);
    if declared > opts.max_unpacked_bytes {
        return Err(RpmErrorKind::TooLarge { declared, limit: opts.max_unpacked_bytes });
    }

    let (md5_expected, md5) = match expect.md5 {
        Some((digest, state)) => (Some(digest), Some(state)),
        None => (None, None),
    };
    let mut stored =
        StoredReader { inner: reader, count: 0, sha256: package.payload.digest.as_ref().map(|_| Sha256::new()), md5 };
    let by_path: HashMap<&str, usize> = files.iter().enumerate().map(|(i, f)| (f.raw_path.as_str(), i)).collect();
    let by_normalized: HashMap<&PackagePath, usize> = files.iter().enumerate().map(|(i, f)| (&f.path, i)).collect();
    let mut seen = vec![false; files.len()];
    let mut delivered = vec![false; files.len()];
    // Hardlink members seen before the member that carries the content.
    let mut waiting: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut delivery = Delivery { validator: Validator::new(opts.max_entries), callback: &mut callback, entries: 0 };
    let mut content_bytes = 0u64;
    let mut digests_checked = 0usize;

    let (decoder, compressor) = decoder(package.payload.compressor, &mut stored)?;
    let mut cpio = CpioReader::new(BufReader::with_capacity(64 << 10, decoder));
    loop {
        let record = cpio.next_record().map_err(read_fail(compressor, cpio.offset))?;
        let (index, newc) = match record {
            Record::Trailer => break,
            Record::Stripped { index } => {
                let index = index as usize;
                if index >= files.len() {
                    return Err(RpmErrorKind::Cpio {
                        offset: cpio.offset,
                        reason: format!("file index {index}, but the header lists {}", files.len()),
                    });
                }
                (index, None)
            }
            Record::Newc { name, mode, size } => {
                // Payload names are the header's paths with a `./` prefix.
                let key = name.strip_prefix(b".").filter(|rest| rest.starts_with(b"/")).unwrap_or(&name);
                let index = std::str::from_utf8(key).ok().and_then(|k| by_path.get(k)).copied();
                let Some(index) = index else {
                    return Err(RpmErrorKind::UnlistedFile { path: String::from_utf8_lossy(&name).into_owned() });
                };
                (index, Some((mode, size)))
            }
        };
        let file = &files[index];
        let shown = || file.path.to_absolute();
        if std::mem::replace(&mut seen[index], true) {
            return Err(RpmErrorKind::DuplicatePayloadFile { path: shown() });
        }
        let offset = cpio.offset;
        let fail = read_fail(compressor, offset);
        if file.flags.ghost() {
            // rpm before 4.11 put %ghost files in the payload; rpm skips them.
            let Some((_, size)) = newc else {
                return Err(RpmErrorKind::Cpio { offset, reason: format!("ghost file `{}` in the payload", shown()) });
            };
            if size > file.size {
                return Err(RpmErrorKind::PayloadFileSize { path: shown(), header: file.size, payload: size });
            }
            let skipped =
                io::copy(&mut (&mut cpio.inner).take(size), &mut io::sink()).map_err(CpioFail::Io).map_err(&fail)?;
            if skipped != size {
                return Err(RpmErrorKind::Truncated { part: "payload" });
            }
            cpio.offset += size;
            cpio.skip_padding(size).map_err(&fail)?;
            continue;
        }
        if let Some((mode, size)) = newc {
            if FileKind::from_mode_bits(mode) != Some(file.kind) {
                return Err(RpmErrorKind::PayloadFileType { path: shown() });
            }
            if size != file.payload_size {
                return Err(RpmErrorKind::PayloadFileSize { path: shown(), header: file.payload_size, payload: size });
            }
        }
        let size = file.payload_size;
        match file.kind {
            FileKind::Dir => delivery.deliver(&entry(file, EntryKind::Dir), &mut io::empty())?,
            FileKind::Symlink => {
                let mut target = vec![0u8; size as usize];
                cpio.inner.read_exact(&mut target).map_err(CpioFail::Io).map_err(&fail)?;
                cpio.offset += size;
                cpio.skip_padding(size).map_err(&fail)?;
                let expected = file.link_target.as_deref().unwrap_or_default();
                if target != expected.as_bytes() {
                    return Err(RpmErrorKind::SymlinkMismatch { path: shown() });
                }
                delivery.deliver(&entry(file, EntryKind::Symlink { target: expected.to_owned() }), &mut io::empty())?;
            }
            FileKind::File => {
                if let Some(target) = &file.hardlink_to {
                    // A member without content: linked once its content has been delivered.
                    let Some(&content) = by_normalized.get(target) else {
                        return Err(RpmErrorKind::FileList {
                            reason: format!("`{}` links to an unlisted file", shown()),
                        });
                    };
                    if delivered[content] {
                        let link = entry(file, EntryKind::Hardlink { target: target.clone() });
                        delivery.deliver(&link, &mut io::empty())?;
                    } else {
                        waiting.entry(content).or_default().push(index);
                    }
                    continue;
                }
                let mut content = Content {
                    inner: (&mut cpio.inner).take(size),
                    hasher: file.digest.as_deref().and_then(FileHasher::for_digest),
                };
                delivery.deliver(&entry(file, EntryKind::File { size }), &mut content)?;
                // Whatever the caller left unread still counts toward the digest.
                io::copy(&mut content, &mut io::sink()).map_err(CpioFail::Io).map_err(&fail)?;
                if content.inner.limit() != 0 {
                    return Err(RpmErrorKind::Truncated { part: "payload" });
                }
                if let (Some(hasher), Some(expected)) = (content.hasher, &file.digest) {
                    let actual = hasher.finish();
                    if &actual != expected {
                        return Err(RpmErrorKind::FileDigest { path: shown(), expected: expected.clone(), actual });
                    }
                    digests_checked += 1;
                }
                cpio.offset += size;
                cpio.skip_padding(size).map_err(&fail)?;
                content_bytes += size;
                delivered[index] = true;
                for member in waiting.remove(&index).unwrap_or_default() {
                    let link = entry(&files[member], EntryKind::Hardlink { target: file.path.clone() });
                    delivery.deliver(&link, &mut io::empty())?;
                }
            }
            kind => return Err(RpmErrorKind::SpecialFile { path: shown(), kind: kind.as_str() }),
        }
    }

    // After the trailer: nothing but zeros, within the declared size.
    let trailer_end = cpio.offset;
    let allowed = match package.payload.archive_size {
        Some(size) => size.saturating_sub(trailer_end),
        None => MAX_TRAILING_ZEROS,
    };
    let mut rest = Vec::new();
    (&mut cpio.inner)
        .take(allowed + 1)
        .read_to_end(&mut rest)
        .map_err(CpioFail::Io)
        .map_err(read_fail(compressor, trailer_end))?;
    if rest.len() as u64 > allowed || rest.iter().any(|&b| b != 0) {
        return Err(RpmErrorKind::Cpio { offset: trailer_end, reason: "data after the trailer".into() });
    }
    let archive_len = trailer_end + rest.len() as u64;
    drop(cpio);

    // The stored stream may end after the compressed data does.
    let allowed = match package.payload.stored_size {
        Some(size) => size.saturating_sub(stored.count),
        None => MAX_TRAILING_STORED,
    };
    let trailing = io::copy(&mut (&mut stored).take(allowed + 1), &mut io::sink()).map_err(RpmErrorKind::Read)?;
    if trailing > allowed && package.payload.stored_size.is_none() {
        return Err(RpmErrorKind::TrailingData { after: "compressed payload" });
    }

    if let Some(size) = package.payload.stored_size
        && stored.count != size
    {
        return Err(RpmErrorKind::SizeMismatch { what: "stored payload", expected: size, actual: stored.count });
    }
    if let (Some(expected), Some(hasher)) = (&package.payload.digest, stored.sha256.take()) {
        let actual = format!("sha256:{}", hex(&hasher.finalize()));
        if &actual != expected {
            return Err(RpmErrorKind::Digest { what: "payload (PAYLOADDIGEST)", expected: expected.clone(), actual });
        }
    }
    if let (Some(expected), Some(hasher)) = (md5_expected, stored.md5.take()) {
        let actual = hasher.finalize();
        if actual[..] != expected[..] {
            return Err(RpmErrorKind::Digest {
                what: "header and payload (signature MD5)",
                expected: format!("md5:{}", hex(&expected)),
                actual: format!("md5:{}", hex(&actual)),
            });
        }
    }
    if let Some(size) = package.payload.archive_size
        && archive_len != size
    {
        return Err(RpmErrorKind::SizeMismatch { what: "uncompressed payload", expected: size, actual: archive_len });
    }
    if let Some(i) = (0..files.len()).find(|&i| !seen[i] && !files[i].flags.ghost()) {
        return Err(RpmErrorKind::MissingFile { path: files[i].path.to_absolute() });
    }

    Ok(PayloadStats { entries: delivery.entries, content_bytes, file_digests_checked: digests_checked })
}
