//! `filelists.xml`: every file of every package. It is the largest
//! metadata file (Fedora's is about 1 GiB decompressed), so it is never
//! held in memory: [`read_filelists`] streams it package by package, and
//! callers keep only what they ask for.

use std::io::BufRead;
use std::ops::ControlFlow;

use quick_xml::events::Event;

use super::RpmmdError;
use super::evr::Evr;
use super::primary::{FileKind, PackageFile};
use super::xml::{XmlReader, append_text, attribute, attributes};

/// One package of a filelists file; reused from package to package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileListEntry {
    /// The package's checksum, as in primary's `<checksum>`.
    pub pkgid: String,
    pub name: String,
    pub arch: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    paths: String,
    files: Vec<(u32, u32, FileKind)>,
}

impl FileListEntry {
    pub fn evr(&self) -> Evr<'_> {
        Evr::new(self.epoch, &self.version, Some(&self.release))
    }

    pub fn files(&self) -> impl ExactSizeIterator<Item = PackageFile<'_>> + '_ {
        self.files.iter().map(|&(start, end, kind)| PackageFile {
            path: self.paths.get(start as usize..end as usize).unwrap_or(""),
            kind,
        })
    }

    fn clear(&mut self) {
        self.pkgid.clear();
        self.name.clear();
        self.arch.clear();
        self.epoch = 0;
        self.version.clear();
        self.release.clear();
        self.paths.clear();
        self.files.clear();
    }
}

/// Streams an uncompressed `filelists.xml` (see
/// [`super::compression::decompress`]), calling `f` once per package, until
/// it returns [`ControlFlow::Break`]. `what` names the input in errors.
pub fn read_filelists(
    input: impl BufRead,
    what: &str,
    mut f: impl FnMut(&FileListEntry) -> ControlFlow<()>,
) -> Result<(), RpmmdError> {
    let mut reader = XmlReader::new(input, what);
    let mut buffer = Vec::new();
    let mut entry = FileListEntry::default();
    let mut root_seen = false;
    let mut root_closed = false;
    let mut in_package = false;
    let mut capture: Option<FileKind> = None;
    let mut text = String::new();
    loop {
        let decoder = reader.decoder();
        let event = reader.next(&mut buffer)?;
        match &event {
            Event::Start(element) | Event::Empty(element) => {
                let empty = matches!(event, Event::Empty(_));
                let local = element.local_name();
                let attr = |key: &[u8]| attribute(element, key, decoder).map_err(|e| reader.bad(e));
                match local.as_ref() {
                    b"filelists" if !root_seen => {
                        root_seen = true;
                        root_closed = empty;
                    }
                    _ if !root_seen => return Err(reader.bad("the root element is not `<filelists>`")),
                    _ if capture.is_some() => return Err(reader.bad("an element inside `<file>`")),
                    b"package" if !in_package => {
                        entry.clear();
                        let [pkgid, name, arch] =
                            attributes(element, [b"pkgid", b"name", b"arch"], decoder).map_err(|e| reader.bad(e))?;
                        let pkgid = pkgid.ok_or_else(|| reader.bad("a `<package>` has no `pkgid`"))?;
                        entry.pkgid.push_str(&pkgid.to_ascii_lowercase());
                        entry.name.push_str(&name.unwrap_or_default());
                        entry.arch.push_str(&arch.unwrap_or_default());
                        if empty {
                            if f(&entry).is_break() {
                                return Ok(());
                            }
                        } else {
                            in_package = true;
                        }
                    }
                    b"version" if in_package => {
                        let [epoch, version, release] =
                            attributes(element, [b"epoch", b"ver", b"rel"], decoder).map_err(|e| reader.bad(e))?;
                        entry.epoch = match epoch.as_deref() {
                            None | Some("") => 0,
                            Some(e) => e.parse().map_err(|_| reader.bad(format!("the epoch `{e}` is not a number")))?,
                        };
                        entry.version.push_str(&version.unwrap_or_default());
                        entry.release.push_str(&release.unwrap_or_default());
                    }
                    b"file" if in_package => {
                        let kind = attr(b"type")?;
                        let kind = FileKind::parse(kind.as_deref()).map_err(|e| reader.bad(e))?;
                        text.clear();
                        if empty {
                            return Err(reader.bad("an empty `<file/>`"));
                        }
                        capture = Some(kind);
                    }
                    other => {
                        return Err(reader.bad(format!("unexpected `<{}>`", String::from_utf8_lossy(other))));
                    }
                }
            }
            Event::End(element) => match (element.local_name().as_ref(), capture.take()) {
                (b"file", Some(kind)) => {
                    if !text.starts_with('/') {
                        return Err(reader.bad(format!("the file `{text}` is not an absolute path")));
                    }
                    let start = entry.paths.len();
                    entry.paths.push_str(&text);
                    let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(entry.paths.len())) else {
                        return Err(reader.bad("a package lists more than 4 GiB of paths"));
                    };
                    entry.files.push((start, end, kind));
                }
                (b"package", None) if in_package => {
                    in_package = false;
                    if f(&entry).is_break() {
                        return Ok(());
                    }
                }
                (b"filelists", None) if !in_package => root_closed = true,
                _ => {}
            },
            Event::Eof => break,
            other => {
                if capture.is_some() {
                    append_text(other, &mut text).map_err(|e| reader.bad(e))?;
                }
            }
        }
    }
    if !root_closed {
        return Err(reader.bad("the document ends before `</filelists>`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILELISTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="2">
<package pkgid="AB12" name="hello" arch="x86_64">
  <version epoch="2" ver="1.5" rel="3"/>
  <file>/usr/bin/hello</file>
  <file type="dir">/usr/share/doc/hello</file>
  <file>/usr/share/doc/hello/R&amp;D &lt;notes&gt;</file>
  <file type="ghost">/var/log/hello.log</file>
</package>
<package pkgid="cd34" name="empty" arch="noarch">
  <version epoch="0" ver="1" rel="1"/>
</package>
</filelists>
"#;

    fn collect(text: &str) -> Result<Vec<FileListEntry>, RpmmdError> {
        let mut out = Vec::new();
        read_filelists(text.as_bytes(), "filelists.xml", |entry| {
            out.push(entry.clone());
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    #[test]
    fn streams_packages() {
        let entries = collect(FILELISTS).expect("parses");
        assert_eq!(entries.len(), 2);
        let hello = &entries[0];
        assert_eq!(
            (hello.pkgid.as_str(), hello.name.as_str(), hello.evr().to_string()),
            ("ab12", "hello", "2:1.5-3".into())
        );
        let files: Vec<(&str, FileKind)> = hello.files().map(|f| (f.path, f.kind)).collect();
        assert_eq!(
            files,
            [
                ("/usr/bin/hello", FileKind::File),
                ("/usr/share/doc/hello", FileKind::Dir),
                ("/usr/share/doc/hello/R&D <notes>", FileKind::File),
                ("/var/log/hello.log", FileKind::Ghost),
            ]
        );
        assert_eq!(entries[1].files().len(), 0);

        let mut seen = 0;
        read_filelists(FILELISTS.as_bytes(), "f", |_| {
            seen += 1;
            ControlFlow::Break(())
        })
        .expect("stops early");
        assert_eq!(seen, 1);
    }

    #[test]
    fn refuses_bad_documents() {
        for bad in [
            FILELISTS.replace("</filelists>", ""),
            FILELISTS.replace(" pkgid=\"AB12\"", ""),
            FILELISTS.replace("<file>/usr/bin/hello", "<file>usr/bin/hello"),
            FILELISTS.replace("&amp;", "&bogus;"),
            FILELISTS.replace("epoch=\"2\"", "epoch=\"two\""),
        ] {
            assert!(collect(&bad).is_err(), "{bad}");
        }
    }
}
