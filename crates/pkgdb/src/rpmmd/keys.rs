//! A repository's `gpgkey`s, read inside the image root (never from the
//! host, and never from the network: a key fetched from the repository it
//! is meant to vouch for proves nothing), as [`Keyring`]s for `gpgv`.

use base64::Engine as _;

use super::RpmmdError;
use super::repofile::RepoConfig;
use super::root::{MAX_CONFIG_FILE, RootDir};
use crate::apt::Keyring;
use crate::http::file_url_path;

const BEGIN_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END_KEY: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// The keys `repo.gpgkeys` names, read through `root`. Each must be a
/// `file:` URL naming an existing file inside the root, armored or binary.
pub fn read_keys(root: &RootDir, repo: &RepoConfig) -> Result<Vec<Keyring>, RpmmdError> {
    let mut keys = Vec::new();
    for url in &repo.gpgkeys {
        let unsupported =
            |reason: &'static str| RpmmdError::UnsupportedKeyUrl { repo: repo.id.clone(), key: url.clone(), reason };
        let path = file_url_path(url).map_err(unsupported)?;
        let inside = path.to_string_lossy().into_owned();
        let read = root.read_optional(&inside, MAX_CONFIG_FILE).map_err(|source| RpmmdError::ReadKey {
            repo: repo.id.clone(),
            key: url.clone(),
            source,
        })?;
        let bytes = read.ok_or_else(|| RpmmdError::MissingKey {
            repo: repo.id.clone(),
            key: url.clone(),
            root: root.path().to_owned(),
        })?;
        let what = format!("the key `{inside}` (in `{}`) of the repository `{}`", root.path().display(), repo.id);
        let text = if bytes.trim_ascii_start().starts_with(BEGIN_KEY.as_bytes()) {
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            armor(&bytes)
        };
        keys.push(Keyring::Armored { what, text });
    }
    Ok(keys)
}

/// Wraps binary key packets in ASCII armor (without the optional CRC), so
/// that binary and armored keys travel as one kind of [`Keyring`].
pub fn armor(packets: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(packets);
    let mut text = format!("{BEGIN_KEY}\n\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(END_KEY);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_round_trips() {
        let packets: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = armor(&packets);
        assert_eq!(crate::apt::verify::dearmor(&text, "t").expect("dearmors"), packets);
    }
}
