//! Decompressing metadata files: the format is sniffed from the magic
//! bytes (gzip, xz, zstd, bzip2, or plain XML), never trusted from the
//! name, and the decompressed stream stops with an error at a limit, so a
//! small signed file cannot expand without bound.

use std::io::{self, BufRead, Read};

/// Decompressed metadata larger than this is refused whatever `repomd.xml`
/// declares (Fedora's filelists are about 1 GiB).
pub const MAX_OPEN_SIZE: u64 = 8 << 30;

/// The formats rpm-md repositories compress metadata with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
}

impl Compression {
    /// The format `head` (the first bytes of a file) starts with.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::Plain
        }
    }
}

/// The error a [`decompress`]ed stream fails with past its limit.
#[derive(Debug, thiserror::Error)]
#[error("the decompressed data runs past its limit of {limit} bytes")]
pub struct LimitExceeded {
    pub limit: u64,
}

/// The limit `error` reports, if it is a [`LimitExceeded`].
pub fn exceeded_limit(error: &io::Error) -> Option<u64> {
    error.get_ref().and_then(|e| e.downcast_ref::<LimitExceeded>()).map(|e| e.limit)
}

/// Decompresses `input` (by its magic bytes) as a stream that fails with
/// [`LimitExceeded`] after `limit` bytes.
pub fn decompress<'a>(mut input: impl BufRead + 'a, limit: u64) -> io::Result<Box<dyn Read + 'a>> {
    let head = input.fill_buf()?;
    let head = &head[..head.len().min(6)];
    let reader: Box<dyn Read + 'a> = match Compression::sniff(head) {
        Compression::Plain => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
    };
    Ok(Box::new(Limited { inner: reader, remaining: limit, limit }))
}

struct Limited<R> {
    inner: R,
    remaining: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is asked for, to tell "exactly the limit"
        // from "more".
        let room = buf.len().min(usize::try_from(self.remaining.saturating_add(1)).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..room])?;
        if read as u64 > self.remaining {
            return Err(io::Error::other(LimitExceeded { limit: self.limit }));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn read_all(data: &[u8], limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompress(data, limit)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn sniffs_and_limits() {
        let text = b"<?xml version=\"1.0\"?><metadata/>".repeat(10);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).expect("gz");
        let gz = gz.finish().expect("gz");
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&text).expect("xz");
        let xz = xz.finish().expect("xz");
        let zst = zstd::stream::encode_all(&text[..], 3).expect("zstd");
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&text).expect("bz2");
        let bz = bz.finish().expect("bz2");
        for data in [&text[..], &gz, &xz, &zst, &bz] {
            assert_eq!(read_all(data, text.len() as u64).expect("decompresses"), text);
            let error = read_all(data, text.len() as u64 - 1).expect_err("over the limit");
            assert_eq!(exceeded_limit(&error), Some(text.len() as u64 - 1));
        }
        assert!(read_all(&gz[..gz.len() - 9], 1 << 20).is_err(), "truncated");
    }
}
