//! The compressions a `.deb` member may use, and their decoders, each with
//! bounded memory (SECURITY.md 13).

use std::io::{self, Read};

/// Largest dictionary an xz or lzma stream may ask for (`xz -9` needs 65 MiB).
const XZ_MEMORY_LIMIT: u64 = 128 << 20;
/// zstd's own default limit, a 128 MiB window; stated so it cannot drift.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
    Lzma,
}

impl Compression {
    /// The compression of `name` if it is `stem` plus a suffix in `allowed`;
    /// `None` for an unknown suffix.
    pub(crate) fn from_member_name(name: &str, stem: &str, allowed: &[Compression]) -> Option<Compression> {
        let suffix = name.strip_prefix(stem)?;
        allowed.iter().copied().find(|c| c.suffix() == suffix)
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
            Compression::Bzip2 => ".bz2",
            Compression::Lzma => ".lzma",
        }
    }

    /// deb(5): what `control.tar` may use (dpkg 1.21.18 added zstd).
    pub(crate) const CONTROL: &'static [Compression] =
        &[Compression::None, Compression::Gzip, Compression::Xz, Compression::Zstd];
    /// deb(5): what `data.tar` may use.
    pub(crate) const DATA: &'static [Compression] = &[
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Zstd,
        Compression::Bzip2,
        Compression::Lzma,
    ];
}

/// A decoder over `reader`. Each reads every concatenated stream up to the
/// end of its input, so that trailing garbage is an error and every
/// stream's checksum is checked.
pub(crate) fn decoder<'a, R: Read + 'a>(compression: Compression, reader: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, liblzma::stream::CONCATENATED)?;
            Box::new(liblzma::read::XzDecoder::new_stream(reader, stream))
        }
        Compression::Lzma => {
            let stream = liblzma::stream::Stream::new_lzma_decoder(XZ_MEMORY_LIMIT)?;
            Box::new(liblzma::read::XzDecoder::new_stream(reader, stream))
        }
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(reader)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(decoder)
        }
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
    })
}
