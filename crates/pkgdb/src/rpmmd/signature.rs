//! The signature policy for packages (`gpgcheck=1`, SECURITY.md 27): a
//! package must carry an OpenPGP signature that the system `gpgv` accepts
//! with one of its repository's keys and nothing else, over exactly the
//! bytes rpm signs.
//!
//! The headers are first read and checked by [`crate::rpm`] (structure,
//! tag rules, the header digests). Then, as rpm does:
//! - a header signature (`RSAHEADER`, `DSAHEADER`, or rpm 6's `OPENPGP`)
//!   covers the main header as stored, magic included; the header records
//!   the payload's sha256 (`PAYLOADDIGEST`), which is checked against the
//!   rest of the file, so the signature covers the payload too;
//! - without a payload digest (packages built before rpm 4.14), only a
//!   legacy header+payload signature (`SIGPGP`, `SIGGPG`) will do.
//!
//! `gpgv` 2.2 knows OpenPGP v4 keys and signatures (RSA, DSA, ECDSA,
//! EdDSA), not the v6 ones of rpm 6's PQC and v6-key signatures: a package
//! signed only that way cannot be verified here.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{Repository, RpmmdError};
use crate::apt::{AptError, Keyring, hex, verify_detached};
use crate::rpm::RpmReader;

// Signature header tags (rpm's `rpmtag.h`).
const SIG_DSA: u32 = 267;
const SIG_RSA: u32 = 268;
const SIG_OPENPGP: u32 = 278;
const SIG_PGP: u32 = 1002;
const SIG_GPG: u32 = 1005;
const TYPE_BIN: u32 = 7;
const TYPE_STRING_ARRAY: u32 = 8;
const LEAD_SIZE: usize = 96;

/// What a good package signature covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSignature {
    /// The package's `name-[epoch:]version-release.arch`.
    pub nevra: String,
    /// The fingerprints of the keys whose signatures were valid.
    pub fingerprints: Vec<String>,
    /// Which signature was accepted.
    pub kind: SignatureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// A header signature, with the payload checked against the signed
    /// header's payload digest.
    Header,
    /// A legacy signature over header and payload.
    HeaderAndPayload,
}

/// Applies `repo`'s `gpgcheck`: `Ok(None)` when it is off, else the
/// signature of the package at `path` as [`verify_package_signature`]
/// checks it.
pub fn require_package_signature(repo: &Repository, path: &Path) -> Result<Option<PackageSignature>, RpmmdError> {
    if !repo.config.gpgcheck {
        return Ok(None);
    }
    verify_package_signature(path, &repo.keys).map(Some)
}

/// Verifies that the package at `path` is signed by one of `keys` (see the
/// module docs). An unsigned package, one signed only by other keys, or
/// one whose payload differs from what its signed header records, is
/// [`RpmmdError::PackageNotVerified`] ("cannot be verified").
pub fn verify_package_signature(path: &Path, keys: &[Keyring]) -> Result<PackageSignature, RpmmdError> {
    let file = File::open(path).map_err(|source| RpmmdError::OpenPackage { path: path.to_owned(), source })?;
    let mut recorder = Recorder { inner: BufReader::new(file), recorded: Vec::new() };
    let package = RpmReader::new(&mut recorder)
        .map_err(|source| RpmmdError::ReadPackage { path: path.to_owned(), source: Box::new(source) })?
        .into_package();
    let nevra = package.nevra();
    let Recorder { inner: mut payload, recorded } = recorder;
    let refuse = |reason: &str, source: Option<AptError>| RpmmdError::PackageNotVerified {
        package: nevra.clone(),
        reason: reason.to_owned(),
        source: source.map(Box::new),
    };
    let headers = split_headers(&recorded).ok_or_else(|| refuse("its headers cannot be located", None))?;
    if headers.header_signatures.is_empty() && headers.legacy_signatures.is_empty() {
        return Err(refuse("it is not signed", None));
    }
    if keys.is_empty() {
        return Err(refuse("the repository names no key (`gpgkey`)", None));
    }
    let what = format!("the package `{nevra}` (`{}`)", path.display());
    let mut first_error = None;
    let mut header_verified = None;
    for signature in &headers.header_signatures {
        match verify_detached(headers.main, signature, &what, keys) {
            Ok(verified) => {
                header_verified = Some(verified.fingerprints);
                break;
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    let read_error = |source| RpmmdError::OpenPackage { path: path.to_owned(), source };
    if let (Some(fingerprints), Some(digest)) = (&header_verified, &package.payload.digest) {
        let mut hasher = Sha256::new();
        io::copy(&mut payload, &mut HashWriter(&mut hasher)).map_err(read_error)?;
        let actual = format!("sha256:{}", hex(&hasher.finalize()));
        if actual != *digest {
            return Err(refuse("its payload differs from the digest its signed header records", None));
        }
        return Ok(PackageSignature { nevra, fingerprints: fingerprints.clone(), kind: SignatureKind::Header });
    }
    if !headers.legacy_signatures.is_empty() {
        let mut signed = headers.main.to_vec();
        payload.read_to_end(&mut signed).map_err(read_error)?;
        for signature in &headers.legacy_signatures {
            match verify_detached(&signed, signature, &what, keys) {
                Ok(verified) => {
                    return Ok(PackageSignature {
                        nevra,
                        fingerprints: verified.fingerprints,
                        kind: SignatureKind::HeaderAndPayload,
                    });
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
    }
    if header_verified.is_some() {
        return Err(refuse("its signature covers only the header, which records no payload digest", None));
    }
    let reason = match &first_error {
        Some(AptError::SignatureRefused { reason, .. }) if reason.contains("outside") => {
            "it is signed by a key the repository does not list"
        }
        _ => "no signature on it verifies with the repository's keys",
    };
    Err(refuse(reason, first_error))
}

/// Keeps a copy of everything read through it (the lead and headers).
struct Recorder<R> {
    inner: R,
    recorded: Vec<u8>,
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.recorded.extend_from_slice(&buf[..read]);
        Ok(read)
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The parts of a package's lead and headers that signatures cover.
struct Headers<'a> {
    /// The main header as stored, magic included.
    main: &'a [u8],
    /// OpenPGP signature packets over `main`.
    header_signatures: Vec<Vec<u8>>,
    /// OpenPGP signature packets over `main` and the payload.
    legacy_signatures: Vec<Vec<u8>>,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// Splits the bytes [`crate::rpm::RpmReader::new`] consumed (lead,
/// signature header, padding, main header) and collects the signature
/// tags. That reader has checked the structure already; everything is
/// bounds-checked again here all the same.
fn split_headers(recorded: &[u8]) -> Option<Headers<'_>> {
    let index_count = be32(recorded, LEAD_SIZE + 8)? as usize;
    let data_size = be32(recorded, LEAD_SIZE + 12)? as usize;
    let store_start = LEAD_SIZE.checked_add(16)?.checked_add(index_count.checked_mul(16)?)?;
    let store = recorded.get(store_start..store_start.checked_add(data_size)?)?;
    let signature_end = store_start + data_size;
    let main_start = signature_end + (8 - signature_end % 8) % 8;
    let main = recorded.get(main_start..)?;
    let mut headers = Headers { main, header_signatures: Vec::new(), legacy_signatures: Vec::new() };
    for entry in 0..index_count {
        let at = LEAD_SIZE + 16 + entry * 16;
        let (tag, kind, offset, count) =
            (be32(recorded, at)?, be32(recorded, at + 4)?, be32(recorded, at + 8)? as usize, be32(recorded, at + 12)?);
        match (tag, kind) {
            (SIG_RSA | SIG_DSA | SIG_PGP | SIG_GPG, TYPE_BIN) => {
                let packet = store.get(offset..offset.checked_add(count as usize)?)?.to_vec();
                if matches!(tag, SIG_RSA | SIG_DSA) {
                    headers.header_signatures.push(packet);
                } else {
                    headers.legacy_signatures.push(packet);
                }
            }
            (SIG_OPENPGP, TYPE_STRING_ARRAY) => {
                let mut strings = store.get(offset..)?.split(|&b| b == 0);
                for _ in 0..count {
                    let text = strings.next()?;
                    // A signature that is not valid base64 is one that cannot verify; skip it.
                    if let Ok(packet) = base64::engine::general_purpose::STANDARD.decode(text) {
                        headers.header_signatures.push(packet);
                    }
                }
            }
            _ => {}
        }
    }
    Some(headers)
}
