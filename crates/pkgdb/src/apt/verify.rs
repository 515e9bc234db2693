//! Signature checks of `InRelease` and `Release` + `Release.gpg`.
//!
//! The OpenPGP stack is the system's `gpgv`, as apt itself uses: it is on
//! every Debian-family machine, it is what the archive's signatures are
//! tested against, and it keeps OpenPGP parsing out of this process. `gpgv`
//! sees only the keyrings named by the source's `Signed-By` (armored keys
//! are dearmored here first), in a scratch home directory, so no key the
//! user trusts elsewhere can vouch for a repository.
//!
//! Acceptance is decided from `gpgv`'s machine-readable status lines, not
//! from its exit code alone, and the signed text is taken from `gpgv
//! --output`, never from the input file: whatever we parse is exactly what
//! was verified.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;

use super::AptError;
use super::sources::SignedBy;

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";
const BEGIN_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END_KEY: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// One source of trusted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyring {
    /// A keyring file, binary or armored.
    File(PathBuf),
    /// Armored key text (an inline `Signed-By`); `what` names where it came from.
    Armored { what: String, text: String },
}

impl Keyring {
    /// The keyrings of a source's `Signed-By`.
    pub fn from_signed_by(signed_by: &SignedBy, what: &str) -> Vec<Keyring> {
        match signed_by {
            SignedBy::Keyrings(paths) => paths.iter().cloned().map(Keyring::File).collect(),
            SignedBy::Inline(text) => {
                vec![Keyring::Armored { what: format!("the inline Signed-By of {what}"), text: text.clone() }]
            }
        }
    }

    /// The key material in the binary form `gpgv --keyring` reads.
    fn binary(&self) -> Result<Vec<u8>, AptError> {
        match self {
            Keyring::File(path) => {
                let bytes =
                    std::fs::read(path).map_err(|source| AptError::ReadKeyring { path: path.clone(), source })?;
                if bytes.trim_ascii_start().starts_with(BEGIN_KEY.as_bytes()) {
                    dearmor(&String::from_utf8_lossy(&bytes), &format!("`{}`", path.display()))
                } else {
                    Ok(bytes)
                }
            }
            Keyring::Armored { what, text } => dearmor(text, what),
        }
    }
}

/// What a good signature vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed text, as `gpgv` extracted it.
    pub signed_text: Vec<u8>,
    /// The fingerprints of the keys whose signatures were valid.
    pub fingerprints: Vec<String>,
}

/// Verifies a clearsigned `InRelease`; `what` names it (a URL or path) in errors.
pub fn verify_inrelease(inrelease: &[u8], what: &str, keyrings: &[Keyring]) -> Result<Verified, AptError> {
    require_single_clearsigned(inrelease, what)?;
    let scratch = Scratch::new(keyrings)?;
    let input = scratch.write("InRelease", inrelease)?;
    let output = scratch.dir.path().join("signed-text");
    let mut command = scratch.gpgv();
    command.arg("--output").arg(&output).arg(&input);
    let status = run_gpgv(command)?;
    let fingerprints = check_status(&status, what)?;
    let signed_text = std::fs::read(&output).map_err(|source| AptError::GpgvScratch { source })?;
    Ok(Verified { signed_text, fingerprints })
}

/// Verifies a `Release` against its detached `Release.gpg`.
pub fn verify_detached(
    release: &[u8],
    signature: &[u8],
    what: &str,
    keyrings: &[Keyring],
) -> Result<Verified, AptError> {
    let scratch = Scratch::new(keyrings)?;
    let data = scratch.write("Release", release)?;
    let detached = scratch.write("Release.gpg", signature)?;
    let mut command = scratch.gpgv();
    command.arg(&detached).arg(&data);
    let status = run_gpgv(command)?;
    let fingerprints = check_status(&status, what)?;
    Ok(Verified { signed_text: release.to_vec(), fingerprints })
}

/// Refuses anything but exactly one clearsigned message: nothing before its
/// first line, nothing but whitespace after its signature, no second message
/// or stray armor line inside (signed lines starting with `-` are
/// dash-escaped, so an armor line can only be structure).
pub fn require_single_clearsigned(data: &[u8], what: &str) -> Result<(), AptError> {
    let refuse = |reason| Err(AptError::NotClearsigned { what: what.to_owned(), reason });
    if !data.starts_with(BEGIN_MESSAGE.as_bytes()) {
        return refuse("it does not start with `-----BEGIN PGP SIGNED MESSAGE-----`");
    }
    let mut state = 0u8; // 0 in message, 1 in signature, 2 after the end
    let mut offset = 0usize;
    for (index, line) in data.split(|&b| b == b'\n').enumerate() {
        let line_end = offset + line.len();
        offset = line_end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if index == 0 {
            if line != BEGIN_MESSAGE.as_bytes() {
                return refuse("its first line is not exactly the armor header");
            }
            continue;
        }
        if !line.starts_with(b"-----") {
            continue;
        }
        match (state, line) {
            (0, l) if l == BEGIN_SIGNATURE.as_bytes() => state = 1,
            (1, l) if l == END_SIGNATURE.as_bytes() => {
                state = 2;
                let rest = data.get(line_end..).unwrap_or_default();
                if !rest.iter().all(u8::is_ascii_whitespace) {
                    return refuse("there is content after the signature");
                }
                break;
            }
            _ => return refuse("it holds an unexpected armor line (a second message or signature)"),
        }
    }
    if state != 2 {
        return refuse("the signature block is missing or unterminated");
    }
    Ok(())
}

/// Decides from `gpgv --status-fd` lines. Returns the fingerprints of the
/// valid signatures.
pub fn check_status(status: &str, what: &str) -> Result<Vec<String>, AptError> {
    let refuse = |reason: String| Err(AptError::SignatureRefused { what: what.to_owned(), reason });
    let lines: Vec<(&str, Vec<&str>, &str)> = status
        .lines()
        .filter_map(|line| line.strip_prefix("[GNUPG:] "))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            (words.next().unwrap_or(""), words.collect(), rest)
        })
        .collect();
    // gpgv writes ERRSIG before NO_PUBKEY for a key it lacks; name the
    // specific cause first.
    const REFUSALS: [(&str, &str); 7] = [
        ("NO_PUBKEY", "it is signed by a key outside `Signed-By`"),
        ("BADSIG", "a signature is bad"),
        ("EXPKEYSIG", "the signing key has expired"),
        ("REVKEYSIG", "the signing key was revoked"),
        ("EXPSIG", "the signature has expired"),
        ("ERRSIG", "a signature cannot be checked"),
        ("NODATA", "there is no signature"),
    ];
    for (keyword, reason) in REFUSALS {
        if let Some((_, _, rest)) = lines.iter().find(|(k, _, _)| *k == keyword) {
            return refuse(format!("{reason} (`{rest}`)"));
        }
    }
    let good = lines.iter().any(|(keyword, _, _)| *keyword == "GOODSIG");
    let mut fingerprints = Vec::new();
    for (_, arguments, rest) in lines.iter().filter(|(keyword, _, _)| *keyword == "VALIDSIG") {
        match arguments.get(7).and_then(|a| a.parse::<u32>().ok()) {
            Some(algorithm @ (1 | 2)) => return Err(AptError::WeakDigest { what: what.to_owned(), algorithm }),
            Some(_) => {}
            None => return refuse(format!("`gpgv` wrote a malformed status line `{rest}`")),
        }
        if let Some(fingerprint) = arguments.first() {
            fingerprints.push((*fingerprint).to_owned());
        }
    }
    if !good || fingerprints.is_empty() {
        return refuse("`gpgv` reported no good, valid signature".to_owned());
    }
    Ok(fingerprints)
}

/// Converts armored public key blocks to their binary packets. Every block in
/// `text` is decoded; its CRC-24 checksum, when present, must match.
pub fn dearmor(text: &str, what: &str) -> Result<Vec<u8>, AptError> {
    let fail = |reason| AptError::Dearmor { what: what.to_owned(), reason };
    let mut out = Vec::new();
    let mut lines = text.lines().map(str::trim);
    let mut blocks = 0;
    while lines.by_ref().any(|l| l == BEGIN_KEY) {
        // Armor headers (`Comment: ...`) end at the first blank line.
        if !lines.by_ref().any(str::is_empty) {
            return Err(fail("the armor headers never end"));
        }
        let mut body = String::new();
        let mut checksum = None;
        let mut ended = false;
        for line in lines.by_ref() {
            if line == END_KEY {
                ended = true;
                break;
            }
            if let Some(sum) = line.strip_prefix('=') {
                checksum = Some(sum.to_owned());
            } else {
                body.push_str(line);
            }
        }
        if !ended {
            return Err(fail("there is no END line"));
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| fail("invalid base64"))?;
        if let Some(sum) = checksum {
            let expected =
                base64::engine::general_purpose::STANDARD.decode(sum).map_err(|_| fail("invalid checksum"))?;
            let actual = crc24(&decoded).to_be_bytes();
            if expected.as_slice() != &actual[1..] {
                return Err(fail("the CRC-24 checksum does not match"));
            }
        }
        out.extend_from_slice(&decoded);
        blocks += 1;
    }
    if blocks == 0 {
        return Err(fail("there is no `-----BEGIN PGP PUBLIC KEY BLOCK-----`"));
    }
    Ok(out)
}

/// RFC 4880 section 6.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00b7_04ce;
    for &byte in data {
        crc ^= u32::from(byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4cfb;
            }
        }
    }
    crc & 0x00ff_ffff
}

/// A private scratch directory holding the keyrings and inputs of one `gpgv` run.
struct Scratch {
    dir: tempfile::TempDir,
    keyrings: Vec<PathBuf>,
}

impl Scratch {
    fn new(keyrings: &[Keyring]) -> Result<Self, AptError> {
        let dir = tempfile::Builder::new()
            .prefix("layer-gpgv-")
            .tempdir()
            .map_err(|source| AptError::GpgvScratch { source })?;
        let mut scratch = Scratch { dir, keyrings: Vec::new() };
        for (index, keyring) in keyrings.iter().enumerate() {
            let path = scratch.write(&format!("keyring-{index}.gpg"), &keyring.binary()?)?;
            scratch.keyrings.push(path);
        }
        Ok(scratch)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, AptError> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).map_err(|source| AptError::GpgvScratch { source })?;
        Ok(path)
    }

    fn gpgv(&self) -> Command {
        let mut command = Command::new("gpgv");
        command.env("LC_ALL", "C").arg("--homedir").arg(self.dir.path()).arg("--status-fd").arg("1");
        for keyring in &self.keyrings {
            command.arg("--keyring").arg(keyring);
        }
        command
    }
}

/// Runs `gpgv` and returns its status lines. Its exit code is not the verdict:
/// [`check_status`] is.
fn run_gpgv(mut command: Command) -> Result<String, AptError> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| AptError::RunGpgv { source })?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: x\n- -----dashed\n-----BEGIN PGP SIGNATURE-----\n\nAAAA\n=abcd\n-----END PGP SIGNATURE-----\n";

    #[test]
    fn clearsigned_shape() {
        require_single_clearsigned(SIGNED.as_bytes(), "t").expect("good shape");
        require_single_clearsigned(format!("{SIGNED}\n  \n").as_bytes(), "t").expect("trailing whitespace");
        let refused = [
            format!("junk\n{SIGNED}"),
            format!("{SIGNED}Origin: evil\n"),
            format!("{SIGNED}{SIGNED}"),
            SIGNED.replace("-----END PGP SIGNATURE-----\n", ""),
            SIGNED.replace("- -----dashed", "-----BEGIN PGP SIGNATURE-----"),
            "Origin: unsigned\n".to_owned(),
        ];
        for text in refused {
            assert!(
                matches!(require_single_clearsigned(text.as_bytes(), "t"), Err(AptError::NotClearsigned { .. })),
                "accepted {text:?}"
            );
        }
    }

    const GOOD: &str = "[GNUPG:] NEWSIG\n[GNUPG:] KEY_CONSIDERED ABCD 0\n[GNUPG:] SIG_ID x 2024-01-01 1\n[GNUPG:] GOODSIG 1234 Test <t@example.invalid>\n[GNUPG:] VALIDSIG ABCDEF 2024-01-01 1704067200 0 4 0 1 8 01 ABCDEF\n";

    #[test]
    fn status_lines() {
        assert_eq!(check_status(GOOD, "t").expect("good"), ["ABCDEF"]);
        // Captured from `gpg --clearsign --digest-algo SHA1` verified by gpgv 2.2.40.
        let sha1 = GOOD.replace(" 1 8 01 ", " 1 2 01 ");
        assert!(matches!(check_status(&sha1, "t"), Err(AptError::WeakDigest { algorithm: 2, .. })));
        let md5 = GOOD.replace(" 1 8 01 ", " 1 1 01 ");
        assert!(matches!(check_status(&md5, "t"), Err(AptError::WeakDigest { algorithm: 1, .. })));
        for bad in ["BADSIG 1234 x", "ERRSIG 1234 1 8 01 0 9", "NO_PUBKEY 1234", "EXPKEYSIG 1 x", "REVKEYSIG 1 x"] {
            let status = format!("{GOOD}[GNUPG:] {bad}\n");
            assert!(matches!(check_status(&status, "t"), Err(AptError::SignatureRefused { .. })), "{bad}");
        }
        assert!(check_status("[GNUPG:] GOODSIG 1234 x\n", "t").is_err(), "GOODSIG without VALIDSIG");
        assert!(check_status("", "t").is_err());
    }

    #[test]
    fn dearmor_checks_crc() {
        // "hello" with its CRC-24 (computed by `gpg --enarmor`-compatible code).
        let crc = crc24(b"hello").to_be_bytes();
        let sum = base64::engine::general_purpose::STANDARD.encode(&crc[1..]);
        let text = format!("{BEGIN_KEY}\nComment: x\n\naGVs\nbG8=\n={sum}\n{END_KEY}\n");
        assert_eq!(dearmor(&text, "t").expect("decodes"), b"hello");
        let bad = text.replace(&format!("={sum}"), "=AAAA");
        assert!(dearmor(&bad, "t").is_err());
        assert!(dearmor("nothing", "t").is_err());
        assert_eq!(crc24(b""), 0x00b7_04ce);
    }
}
