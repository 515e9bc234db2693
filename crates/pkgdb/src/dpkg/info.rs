//! The files dpkg keeps per package under `info/`: `PKG.list` (every path
//! the payload installed, in archive order), `PKG.md5sums`,
//! `PKG.conffiles`, the maintainer scripts and the other control files.
//! `Multi-Arch: same` packages use `PKG:ARCH.*` (info database format 1).

use super::record::InstalledPayload;
use crate::deb::ControlInfo;

/// One file under `info/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoFile {
    /// What follows the last `.`: `list`, `md5sums`, `postinst`, ...
    pub kind: String,
    pub contents: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// `htop.list`, `libc6:amd64.md5sums`: `info_name` is
/// [`StatusEntry::info_name`](super::StatusEntry::info_name).
pub fn info_file_name(info_name: &str, kind: &str) -> String {
    format!("{info_name}.{kind}")
}

/// The kind of `file_name` if it belongs to `info_name`, as dpkg's
/// `pkg_infodb_foreach` decides: the part before the last `.` is the
/// package, so `foo.bar.list` is not a file of `foo`.
pub(crate) fn info_file_kind<'a>(file_name: &'a str, info_name: &str) -> Option<&'a str> {
    if file_name.starts_with('.') {
        return None;
    }
    let (stem, kind) = file_name.rsplit_once('.')?;
    (stem == info_name).then_some(kind)
}

/// The `info/` files that `dpkg --unpack` leaves for a package: every
/// control file without a `.` in its name except `control`, then the
/// `list` and, when the package ships none, a `md5sums` of the payload.
/// `obsolete_conffiles` are listed after the payload, as dpkg keeps them
/// in the list when an upgrade drops them.
pub(crate) fn info_files(
    info: &ControlInfo,
    payload: &InstalledPayload,
    obsolete_conffiles: &[String],
) -> Vec<InfoFile> {
    let file = |kind: &str, contents: Vec<u8>, mode: u32| InfoFile { kind: kind.to_owned(), contents, mode };
    let mut files = Vec::new();

    let mut list = String::new();
    for path in payload.paths() {
        // dpkg names the archive's root `./` as `/.`.
        if path.is_root() {
            list.push_str("/.\n");
        } else {
            list.push('/');
            list.push_str(path.as_str());
            list.push('\n');
        }
    }
    for path in obsolete_conffiles {
        list.push_str(path);
        list.push('\n');
    }
    files.push(file("list", list.into_bytes(), 0o644));

    // The shipped md5sums is kept; without one dpkg writes the digests it
    // computed while unpacking, in archive order.
    let mut md5sums = String::new();
    if info.md5sums.is_empty() {
        for path in payload.paths() {
            if let Some(md5) = payload.md5(path) {
                md5sums.push_str(&format!("{md5}  {}\n", path.as_str()));
            }
        }
    } else {
        for (path, md5) in &info.md5sums {
            md5sums.push_str(&format!("{md5}  {}\n", path.as_str()));
        }
    }
    files.push(file("md5sums", md5sums.into_bytes(), 0o644));

    if !info.conffiles.is_empty() {
        let mut text = String::new();
        for conffile in &info.conffiles {
            if conffile.remove_on_upgrade {
                text.push_str("remove-on-upgrade ");
            }
            text.push_str(&conffile.path.to_absolute());
            text.push('\n');
        }
        files.push(file("conffiles", text.into_bytes(), 0o644));
    }
    for (name, body) in &info.scripts {
        files.push(file(name, body.clone(), 0o755));
    }
    for (name, body) in [
        ("triggers", &info.triggers),
        ("shlibs", &info.shlibs),
        ("symbols", &info.symbols),
        ("templates", &info.templates),
    ] {
        if let Some(body) = body {
            files.push(file(name, body.clone(), 0o644));
        }
    }
    for (name, body) in &info.other {
        // dpkg skips names with a dot, and never installs `control` or a `list`.
        if !name.contains('.') && name != "control" && name != "list" {
            files.push(file(name, body.clone(), 0o644));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_follow_the_last_dot() {
        assert_eq!(info_file_kind("htop.list", "htop"), Some("list"));
        assert_eq!(info_file_kind("libgtk2.0-0.postinst", "libgtk2.0-0"), Some("postinst"));
        assert_eq!(info_file_kind("libc6:amd64.md5sums", "libc6:amd64"), Some("md5sums"));
        assert_eq!(info_file_kind("libc6:amd64.md5sums", "libc6"), None);
        assert_eq!(info_file_kind("foo.bar.list", "foo"), None);
        assert_eq!(info_file_kind(".htop.list", ".htop"), None);
        assert_eq!(info_file_kind("format", "format"), None);
        assert_eq!(info_file_name("libc6:amd64", "list"), "libc6:amd64.list");
    }
}
