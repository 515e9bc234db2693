//! The stable JSON shape of `layer pkg inspect` for an rpm.

use serde::Serialize;

use super::package::RpmPackage;

/// A package's header information for display. Serialized, it is the
/// package's fields plus `format`, `kind` and `nevra`:
///
/// ```json
/// {"format": 1, "kind": "rpm", "nevra": "htop-3.2.2-1.fc39.x86_64",
///  "name": "htop", "epoch": null, "version": "3.2.2", ...,
///  "requires": [{"name": "libc.so.6()(64bit)", "flags": 16384}, ...],
///  "scripts": [{"kind": "post", "interpreter": {"program": ["/bin/sh"]}, "body": "...", "flags": 0}],
///  "files": [{"path": "/usr/bin/htop", "kind": "file", "mode": 493, "user": "root",
///             "group": "root", "size": 354600, "digest": "sha256:...", "flags": [], ...}]}
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct PackageInfo {
    /// Version of this shape.
    pub format: u32,
    pub kind: &'static str,
    pub nevra: String,
    #[serde(flatten)]
    pub package: RpmPackage,
}

impl PackageInfo {
    pub fn new(package: RpmPackage) -> PackageInfo {
        PackageInfo { format: 1, kind: "rpm", nevra: package.nevra(), package }
    }
}
