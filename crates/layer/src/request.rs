//! What the user asked for, kept in each deployment's origin file with
//! rpm-ostree's keys: the base (`[origin] refspec`), the requested packages
//! (`[packages] requested`), local package files (`[packages]
//! requested-local`, each `SHA256:REF` of its cached package tree) and
//! removed base packages (`[overrides] remove`), and the packages
//! installed with `--force-replace` (`[packages] force-replace`, our own
//! key), whose replacing of base files later rebuilds allow again. Every
//! change rebuilds from the base and this whole set, so no state drifts.

use deploy::KeyFile;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub refspec: String,
    /// `htop` or `htop=3.2.2-2`, sorted.
    pub packages: Vec<String>,
    pub local: Vec<LocalPackage>,
    pub removed: Vec<String>,
    /// Base packages replaced by a local file (`override replace`).
    pub replaced: Vec<LocalPackage>,
    /// A commit of the base ref to stay on (`layer deploy COMMIT`), as
    /// rpm-ostree's `override-commit`; `upgrade` and `rebase` drop it.
    pub override_commit: Option<String>,
    /// Names of requested packages installed with `--force-replace`:
    /// while any is requested, every rebuild lets layered packages replace
    /// base files, as the install that needed it did.
    pub forced: Vec<String>,
}

/// A package file the user installed by path: pinned by its sha256, kept
/// in the store as a package tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalPackage {
    pub sha256: String,
    pub reference: String,
}

impl LocalPackage {
    fn parse(text: &str) -> Option<LocalPackage> {
        let (sha256, reference) = text.split_once(':')?;
        (sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| LocalPackage { sha256: sha256.to_owned(), reference: reference.to_owned() })
    }

    /// The package name, from its tree's ref (`layer/pkg/deb/NAME/...`).
    pub fn name(&self) -> String {
        let escaped = self.reference.split('/').nth(3).unwrap_or("");
        unescape(escaped)
    }
}

/// Reverses `compose::package_tree::reference`'s escaping.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            if bytes.get(i + 1) == Some(&b'_') {
                out.push(b'_');
                i += 2;
                continue;
            }
            if let Some(value) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Request {
    pub fn from_origin(origin: &KeyFile) -> Request {
        let mut request = Request {
            refspec: origin.get("origin", "refspec").unwrap_or_default().to_owned(),
            packages: origin.get_list("packages", "requested"),
            local: origin
                .get_list("packages", "requested-local")
                .iter()
                .filter_map(|t| LocalPackage::parse(t))
                .collect(),
            removed: origin.get_list("overrides", "remove"),
            replaced: origin
                .get_list("overrides", "replace-local")
                .iter()
                .filter_map(|t| LocalPackage::parse(t))
                .collect(),
            override_commit: origin.get("origin", "override-commit").map(str::to_owned),
            forced: origin.get_list("packages", "force-replace"),
        };
        request.normalize();
        request
    }

    /// Writes the request into `origin`, keeping its other keys.
    pub fn write_to(&self, origin: &mut KeyFile) {
        origin.set("origin", "refspec", &self.refspec);
        match &self.override_commit {
            Some(commit) => origin.set("origin", "override-commit", commit),
            None => origin.remove("origin", "override-commit"),
        }
        let show = |list: &[LocalPackage]| -> Vec<String> {
            list.iter().map(|l| format!("{}:{}", l.sha256, l.reference)).collect()
        };
        let (local, replaced) = (show(&self.local), show(&self.replaced));
        for (group, key, values) in [
            ("packages", "requested", &self.packages),
            ("packages", "requested-local", &local),
            ("overrides", "remove", &self.removed),
            ("overrides", "replace-local", &replaced),
            ("packages", "force-replace", &self.forced),
        ] {
            if values.is_empty() {
                origin.remove(group, key);
            } else {
                origin.set_list(group, key, values);
            }
        }
    }

    pub fn normalize(&mut self) {
        self.packages.sort();
        self.packages.dedup();
        self.local.sort();
        self.local.dedup();
        self.removed.sort();
        self.removed.dedup();
        self.replaced.sort();
        self.replaced.dedup();
        let requested = self.requested_names();
        self.forced.retain(|name| requested.contains(name));
        self.forced.sort();
        self.forced.dedup();
    }

    /// True if a rebuild of this request may replace base files: a package
    /// installed with `--force-replace` is still requested.
    pub fn forces_replace(&self) -> bool {
        !self.forced.is_empty()
    }

    /// True if the request is the bare base image.
    pub fn is_base_only(&self) -> bool {
        self.packages.is_empty() && self.local.is_empty() && self.removed.is_empty() && self.replaced.is_empty()
    }

    /// The name part of each requested package (`htop=1.0` is `htop`).
    pub fn requested_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.packages.iter().map(|p| p.split_once('=').map_or(p.as_str(), |(n, _)| n).to_owned()).collect();
        names.extend(self.local.iter().map(LocalPackage::name));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_an_origin() {
        let mut origin = KeyFile::parse("[origin]\nrefspec=os/base\n[other]\nkeep=1\n").expect("parse");
        let request = Request {
            refspec: "os/base".into(),
            packages: vec!["htop".into(), "nano=7.2-1".into()],
            local: vec![LocalPackage { sha256: "a".repeat(64), reference: "layer/pkg/deb/lib_5Fx/1_amd64".into() }],
            removed: vec!["vim-tiny".into()],
            replaced: vec![],
            override_commit: Some("c".repeat(64)),
            forced: vec!["lib_x".into()],
        };
        request.write_to(&mut origin);
        assert_eq!(origin.get("packages", "force-replace"), Some("lib_x;"));
        assert_eq!(Request::from_origin(&origin), request);
        assert_eq!(origin.get("other", "keep"), Some("1"));
        assert_eq!(request.requested_names(), ["htop", "nano", "lib_x"]);
        let mut empty = request.clone();
        empty.packages.clear();
        empty.local.clear();
        empty.removed.clear();
        empty.normalize();
        assert!(empty.forced.is_empty(), "a forced package no longer requested is dropped");
        empty.write_to(&mut origin);
        assert!(Request::from_origin(&origin).is_base_only());
        assert_eq!(origin.get("packages", "requested"), None);
        assert_eq!(origin.get("packages", "force-replace"), None);
    }
}
