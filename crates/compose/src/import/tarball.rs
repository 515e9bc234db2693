//! Tar streams read straight into the store: a root tarball, or an OCI
//! image's layers one onto another ([`RootBuilder`]).
//!
//! Every entry is checked before anything is written for it: its path and
//! a hardlink's target are normalized like a package payload's (no `..`,
//! nothing absolute), and no entry may lie under a symlink or a file
//! (SECURITY.md 2, 3, 5). A root's device nodes and FIFOs are left out.
//! Owners, modes and `SCHILY.xattr.*` records are kept as the archive has
//! them, so a tarball of a directory commits to the same tree as the
//! directory. A refused entry fails the whole import; what was staged for
//! it is reclaimed with the transaction.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use pkgdb::entry::{PackagePath, normalize_path};
use store::mtree::{MutableTree, Node, Subdir};
use store::objects::{Checksum, ContentHasher, DirMeta, FileMeta, ObjectType, Xattrs};
use store::transaction::{Content, Transaction};

use super::{ImportError, MOUNT_POINTS, Root};

/// Files up to this size are read into memory and written in one go;
/// larger ones stream through a spool file.
const SMALL_FILE: u64 = 1 << 20;
/// Most bytes accepted after the end-of-archive block (GNU tar pads to its
/// record size, 10 KiB by default).
const MAX_TRAILING: u64 = 16 << 20;
/// Largest PAX global header read.
const MAX_GLOBAL_HEADER: u64 = 1 << 20;
/// Largest dictionary an xz stream may ask for (`xz -9` needs 65 MiB).
const XZ_MEMORY_LIMIT: u64 = 128 << 20;
/// zstd's own default limit, a 128 MiB window; stated so it cannot drift.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    /// The compression of a stream that starts with `head` (its first 512
    /// bytes or all of it): a known magic number, or a tar header's
    /// `ustar` magic for an uncompressed archive.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else if head.get(257..262) == Some(b"ustar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// A decoder over `reader`. Each reads every concatenated stream up to the
/// end of its input, so trailing garbage is an error and every stream's
/// checksum is checked.
pub(crate) fn decoder<'a, R: Read + 'a>(compression: Compression, reader: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, liblzma::stream::CONCATENATED)?;
            Box::new(liblzma::read::XzDecoder::new_stream(reader, stream))
        }
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(reader)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(decoder)
        }
    })
}

/// Reads the root tarball at `path` into the store.
pub(crate) fn read_root(tx: &Transaction<'_>, path: &Path) -> Result<Root, ImportError> {
    let shown = path.display().to_string();
    let archive = format!("`{shown}`");
    let io_error = |source| ImportError::Io { path: shown.clone(), source };
    let mut file = File::open(path).map_err(io_error)?;
    let mut head = Vec::with_capacity(512);
    (&mut file).take(512).read_to_end(&mut head).map_err(io_error)?;
    let compression = Compression::sniff(&head).ok_or_else(|| ImportError::NotATarball { path: shown.clone() })?;
    let stream = io::Cursor::new(head).chain(BufReader::with_capacity(256 * 1024, file));
    let mut decoded =
        decoder(compression, stream).map_err(|source| ImportError::Tar { archive: archive.clone(), source })?;
    let mut builder = RootBuilder::new(tx)?;
    builder.apply(&mut decoded, &archive, Whiteouts::Literal)?;
    Ok(builder.finish())
}

/// What an archive's `.wh.` names mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whiteouts {
    /// Plain files (a root tarball).
    Literal,
    /// OCI whiteouts: `.wh.NAME` hides `NAME` of the layers below, and
    /// `.wh..wh..opq` hides everything the layers below have in its
    /// directory.
    Apply,
}

/// A root tree built from tar streams, one onto another.
pub(crate) struct RootBuilder<'a, 'r> {
    tx: &'a Transaction<'r>,
    tree: MutableTree,
    /// root:root 0755, for directories an archive does not list.
    default_dir: Checksum,
    /// Every symlink object put in the tree, to tell a symlink on the way
    /// from a file.
    symlinks: HashSet<Checksum>,
    skipped: Vec<String>,
}

/// What one layer wrote, so its whiteouts hide only what lies below it
/// (the OCI image spec: a whiteout never applies to its own layer).
#[derive(Default)]
struct Layer {
    /// Paths the layer wrote, and whether each is a directory.
    written: HashMap<String, bool>,
    /// Every ancestor of those paths.
    ancestors: HashSet<String>,
}

enum Kind {
    File,
    Dir,
    Symlink(String),
    Hardlink(PackagePath),
}

/// Where a walk down the tree ended.
enum Walk<'t> {
    Found(&'t mut MutableTree),
    Missing,
    /// `at` is a file or symlink, not a directory.
    Blocked {
        at: String,
        symlink: bool,
    },
}

impl<'a, 'r> RootBuilder<'a, 'r> {
    pub(crate) fn new(tx: &'a Transaction<'r>) -> Result<Self, ImportError> {
        let default_dir = write_dirmeta(tx, &DirMeta { uid: 0, gid: 0, mode: 0o040755, xattrs: Xattrs::default() })?;
        Ok(RootBuilder {
            tx,
            tree: MutableTree::empty(default_dir),
            default_dir,
            symlinks: HashSet::new(),
            skipped: Vec::new(),
        })
    }

    pub(crate) fn finish(self) -> Root {
        Root { tree: self.tree, skipped: self.skipped, manifest: None }
    }

    /// Applies the tar stream `reader` (named `archive` in messages) onto
    /// the tree, then reads it to its end.
    pub(crate) fn apply<R: Read>(&mut self, reader: R, archive: &str, whiteouts: Whiteouts) -> Result<(), ImportError> {
        let tar_error = |source| ImportError::Tar { archive: archive.to_owned(), source };
        let mut tar = tar::Archive::new(EofProbe { inner: reader, eof: false });
        let mut layer = Layer::default();
        for item in tar.entries().map_err(tar_error)? {
            let mut entry = item.map_err(tar_error)?;
            self.entry(&mut entry, &mut layer, archive, whiteouts)?;
        }
        let probe = tar.into_inner();
        if probe.eof {
            let reason = "the tar stream ends without an end-of-archive block; is it cut short?";
            return Err(tar_error(io::Error::new(io::ErrorKind::UnexpectedEof, reason)));
        }
        // The rest is padding; reading it lets the decompressor check its
        // checksum, and a layer's digests cover it.
        let mut rest = probe.inner;
        let trailing = io::copy(&mut (&mut rest).take(MAX_TRAILING + 1), &mut io::sink()).map_err(tar_error)?;
        if trailing > MAX_TRAILING {
            let reason = format!("more than {MAX_TRAILING} bytes follow the end-of-archive block");
            return Err(tar_error(io::Error::new(io::ErrorKind::InvalidData, reason)));
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        layer: &mut Layer,
        archive: &str,
        whiteouts: Whiteouts,
    ) -> Result<(), ImportError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).escape_debug().to_string();
        let bad = |reason: String| ImportError::BadEntry { archive: archive.to_owned(), entry: shown.clone(), reason };
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            return check_global_header(entry).map_err(bad);
        }
        let path = normalize_path(&raw, false).map_err(|e| bad(e.to_string()))?;
        let (xattrs, sparse) = pax_records(entry).map_err(|e| bad(format!("cannot read its PAX records: {e}")))?;
        if sparse {
            return Err(bad("a PAX sparse file, which `layer` does not read".into()));
        }
        // A mount point's content is never committed, whatever it is.
        if path.as_str().contains('/') && path.components().next().is_some_and(|top| MOUNT_POINTS.contains(&top)) {
            return Ok(());
        }
        let kind = match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                if raw.ends_with(b"/") {
                    return Err(bad("a regular file whose name ends in `/`".into()));
                }
                Kind::File
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = String::from_utf8(target.into_owned())
                    .map_err(|_| bad("its symlink target is not UTF-8, which OSTree cannot store".into()))?;
                if target.is_empty() || target.contains('\0') {
                    return Err(bad("a symlink with an empty or invalid target".into()));
                }
                Kind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = normalize_path(&target, false).map_err(|e| bad(format!("a hardlink to {e}")))?;
                Kind::Hardlink(target)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let what = match entry_type {
                    tar::EntryType::Char => "character device",
                    tar::EntryType::Block => "block device",
                    _ => "FIFO",
                };
                self.skipped.push(format!("{path} ({what})"));
                return Ok(());
            }
            other => return Err(bad(format!("a tar entry of type {other:?}, which a root filesystem cannot hold"))),
        };

        if whiteouts == Whiteouts::Apply
            && let Some(hidden) = path.file_name().strip_prefix(".wh.")
        {
            let parent = parent_of(path.as_str());
            if hidden == ".wh..opq" {
                return self.hide_children(layer, parent, &bad);
            }
            if hidden.starts_with(".wh.") {
                // Other `.wh..wh.` names are AUFS bookkeeping, never content.
                return Ok(());
            }
            if hidden.is_empty() {
                return Err(bad("a whiteout that names nothing".into()));
            }
            return self.hide(layer, &join(parent, hidden), &bad);
        }

        let header = entry.header();
        let mode = header.mode().map_err(|_| bad("its mode field is invalid".into()))? & 0o7777;
        let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok()).ok_or_else(|| bad("invalid uid".into()))?;
        let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok()).ok_or_else(|| bad("invalid gid".into()))?;

        if path.is_root() {
            let Kind::Dir = kind else { return Err(bad("the root is not a directory".into())) };
            self.tree.meta = Some(write_dirmeta(self.tx, &DirMeta { uid, gid, mode: 0o040000 | mode, xattrs })?);
            return Ok(());
        }
        let is_dir = matches!(kind, Kind::Dir);
        if let Some(&was_dir) = layer.written.get(path.as_str())
            && !(was_dir && is_dir)
        {
            return Err(bad("it appears twice in the archive".into()));
        }

        // A hardlink names what the tree has now, before this entry lands.
        let linked = match &kind {
            Kind::Hardlink(target) => Some(self.file_at(target.as_str()).map_err(&bad)?.ok_or_else(|| {
                bad(format!("a hardlink to `{target}`, which is not a file earlier in the archive or below it"))
            })?),
            _ => None,
        };
        // The way there is checked before anything is written for the entry.
        let tx = self.tx;
        let dir =
            match walk(&mut self.tree, tx.repo(), parent_of(path.as_str()), Some(self.default_dir), &self.symlinks)
                .map_err(ImportError::store("building the tree"))?
            {
                Walk::Found(dir) => dir,
                Walk::Missing => return Err(bad("its directory could not be made".into())),
                Walk::Blocked { at, symlink } => return Err(bad(blocked(&at, symlink))),
            };
        let name = path.file_name();
        match kind {
            Kind::Dir => {
                let meta = write_dirmeta(tx, &DirMeta { uid, gid, mode: 0o040000 | mode, xattrs })?;
                match dir.dirs.get_mut(name) {
                    // A directory over a directory keeps what is in it.
                    Some(Subdir::Built(existing)) => existing.meta = Some(meta),
                    Some(Subdir::Stored(_, existing)) => *existing = meta,
                    None => dir.insert(name, Node::Dir(Subdir::Built(MutableTree::empty(meta)))),
                }
            }
            Kind::File => {
                let meta = FileMeta { uid, gid, mode: 0o100000 | mode, symlink_target: String::new(), xattrs };
                let checksum = write_file(tx, entry, &meta).map_err(|e| match e {
                    WriteError::Read(e) => bad(format!("cannot read its data: {e}")),
                    WriteError::Import(e) => e,
                })?;
                dir.insert(name, Node::File(checksum));
            }
            Kind::Symlink(target) => {
                let meta = FileMeta { uid, gid, mode: 0o120777, symlink_target: target, xattrs };
                let checksum = ContentHasher::new(&meta).finish();
                tx.write_content_trusted(&checksum, &meta, Content::Symlink)
                    .map_err(ImportError::store("writing a symlink"))?;
                self.symlinks.insert(checksum);
                dir.insert(name, Node::File(checksum));
            }
            Kind::Hardlink(_) => {
                let checksum = linked.ok_or_else(|| bad("a hardlink without a target".into()))?;
                dir.insert(name, Node::File(checksum));
            }
        }
        layer.ancestors.extend(path.ancestors().map(|a| a.as_str().to_owned()));
        layer.written.insert(path.as_str().to_owned(), is_dir);
        Ok(())
    }

    /// The file or symlink object at `path`, following no symlink.
    fn file_at(&mut self, path: &str) -> Result<Option<Checksum>, String> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        match walk(&mut self.tree, self.tx.repo(), parent, None, &self.symlinks).map_err(|e| e.to_string())? {
            Walk::Found(dir) => Ok(dir.files.get(name).copied()),
            Walk::Missing => Ok(None),
            Walk::Blocked { at, symlink } => Err(blocked(&at, symlink)),
        }
    }

    /// Takes `path` out of the tree, except what `layer` itself wrote there.
    fn hide(&mut self, layer: &Layer, path: &str, bad: &dyn Fn(String) -> ImportError) -> Result<(), ImportError> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let dir = match walk(&mut self.tree, self.tx.repo(), parent, None, &self.symlinks)
            .map_err(ImportError::store("building the tree"))?
        {
            Walk::Found(dir) => dir,
            Walk::Missing => return Ok(()),
            Walk::Blocked { at, symlink } => return Err(bad(blocked(&at, symlink))),
        };
        match layer.written.get(path) {
            Some(false) => Ok(()),
            Some(true) => self.hide_children(layer, path, bad),
            None if layer.ancestors.contains(path) => self.hide_children(layer, path, bad),
            None => {
                dir.remove(name);
                Ok(())
            }
        }
    }

    /// Hides what the layers below `layer` have in the directory `path`.
    fn hide_children(
        &mut self,
        layer: &Layer,
        path: &str,
        bad: &dyn Fn(String) -> ImportError,
    ) -> Result<(), ImportError> {
        let dir = match walk(&mut self.tree, self.tx.repo(), path, None, &self.symlinks)
            .map_err(ImportError::store("building the tree"))?
        {
            Walk::Found(dir) => dir,
            Walk::Missing => return Ok(()),
            Walk::Blocked { at, symlink } => return Err(bad(blocked(&at, symlink))),
        };
        let children: Vec<String> = dir.files.keys().chain(dir.dirs.keys()).cloned().collect();
        for child in children {
            self.hide(layer, &join(path, &child), bad)?;
        }
        Ok(())
    }
}

fn write_file<R: Read>(
    tx: &Transaction<'_>,
    entry: &mut tar::Entry<'_, R>,
    meta: &FileMeta,
) -> Result<Checksum, WriteError> {
    let size = entry.size();
    let mut data = ExactReader { inner: entry, remaining: size };
    if size <= SMALL_FILE {
        let mut buf = Vec::with_capacity(size as usize);
        data.read_to_end(&mut buf).map_err(WriteError::Read)?;
        let mut hasher = ContentHasher::new(meta);
        hasher.update(&buf);
        let checksum = hasher.finish();
        tx.write_content_trusted(&checksum, meta, Content::Bytes(&buf))
            .map_err(|e| WriteError::Import(ImportError::store("writing a file")(e)))?;
        return Ok(checksum);
    }
    let checksum = tx
        .write_content_stream(meta, &mut data, None)
        .map_err(|e| WriteError::Import(ImportError::store("writing a file")(e)))?;
    if data.remaining > 0 {
        return Err(WriteError::Read(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends inside it")));
    }
    Ok(checksum)
}

enum WriteError {
    Read(io::Error),
    Import(ImportError),
}

fn write_dirmeta(tx: &Transaction<'_>, meta: &DirMeta) -> Result<Checksum, ImportError> {
    tx.write_metadata(ObjectType::DirMeta, &meta.serialize()).map_err(ImportError::store("writing a directory"))
}

/// Walks down to the directory `path` (`a/b`, empty for the root) without
/// following symlinks, creating missing directories with the dirmeta
/// `create` when given.
fn walk<'t>(
    mut dir: &'t mut MutableTree,
    repo: &store::repo::Repo,
    path: &str,
    create: Option<Checksum>,
    symlinks: &HashSet<Checksum>,
) -> store::Result<Walk<'t>> {
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(part);
        if let Some(checksum) = dir.files.get(part) {
            return Ok(Walk::Blocked { symlink: symlinks.contains(checksum), at });
        }
        if !dir.dirs.contains_key(part) {
            let Some(meta) = create else { return Ok(Walk::Missing) };
            dir.dirs.insert(part.to_owned(), Subdir::Built(MutableTree::empty(meta)));
        }
        dir = match dir.dir_mut(repo, part)? {
            Some(sub) => sub,
            None => return Ok(Walk::Missing),
        };
    }
    Ok(Walk::Found(dir))
}

fn blocked(at: &str, symlink: bool) -> String {
    if symlink {
        format!("it lies under `/{at}`, which is a symlink; an archive may not write through a symlink")
    } else {
        format!("it lies under `/{at}`, which is not a directory")
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}/{name}") }
}

/// The entry's `SCHILY.xattr.*` records (but never overlayfs' own
/// `trusted.overlay.*`, which the directory import leaves out too), and
/// whether it has GNU PAX sparse records, which the `tar` crate would read
/// as plain data.
fn pax_records<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<(Xattrs, bool)> {
    let mut pairs = Vec::new();
    let mut sparse = false;
    if let Some(records) = entry.pax_extensions()? {
        for record in records {
            let record = record?;
            let key = record.key_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if name.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "an xattr record without a name"));
                }
                if !name.starts_with(b"trusted.overlay.") {
                    pairs.push((name.to_vec(), record.value_bytes().to_vec()));
                }
            } else if key.starts_with(b"GNU.sparse.") {
                sparse = true;
            }
        }
    }
    Ok((Xattrs::new(pairs), sparse))
}

/// A PAX global header applies to every later entry; only `git archive`'s
/// `comment` is harmless.
fn check_global_header<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<(), String> {
    if entry.size() > MAX_GLOBAL_HEADER {
        return Err(format!("a PAX global header larger than {MAX_GLOBAL_HEADER} bytes"));
    }
    let mut data = Vec::new();
    entry.read_to_end(&mut data).map_err(|e| format!("cannot read its PAX global header: {e}"))?;
    for record in tar::PaxExtensions::new(&data) {
        let record = record.map_err(|e| format!("a malformed PAX global header: {e}"))?;
        let key = record.key_bytes();
        if key != b"comment" {
            return Err(format!(
                "a PAX global header sets `{}`, which `layer` does not apply",
                String::from_utf8_lossy(key).escape_debug()
            ));
        }
    }
    Ok(())
}

/// Exactly `remaining` bytes: input that ends sooner is an error, not a
/// short file (the `tar` crate's entry reader just stops).
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the tar stream ends {} bytes before the end of this entry", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Remembers whether the `tar` crate hit the end of its input, which it
/// reports the same way as an end-of-archive block.
struct EofProbe<R> {
    inner: R,
    eof: bool,
}

impl<R: Read> Read for EofProbe<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use store::repo::{Repo, RepoMode};
    use tar::EntryType;

    use super::*;

    /// A tar stream written header by header, so that hostile names and
    /// link targets get through as spelled.
    #[derive(Default)]
    pub(crate) struct Archive(Vec<u8>);

    impl Archive {
        fn entry(mut self, name: &str, kind: EntryType, mode: u32, link: &str, data: &[u8]) -> Self {
            let mut header = tar::Header::new_ustar();
            let old = header.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_size(data.len() as u64);
            header.set_cksum();
            self.0.extend_from_slice(header.as_bytes());
            self.0.extend_from_slice(data);
            self.0.resize(self.0.len().div_ceil(512) * 512, 0);
            self
        }

        pub(crate) fn file(self, name: &str, data: &str) -> Self {
            self.entry(name, EntryType::Regular, 0o644, "", data.as_bytes())
        }

        pub(crate) fn dir(self, name: &str, mode: u32) -> Self {
            self.entry(name, EntryType::Directory, mode, "", b"")
        }

        pub(crate) fn symlink(self, name: &str, target: &str) -> Self {
            self.entry(name, EntryType::Symlink, 0o777, target, b"")
        }

        pub(crate) fn hardlink(self, name: &str, target: &str) -> Self {
            self.entry(name, EntryType::Link, 0o644, target, b"")
        }

        fn special(self, name: &str, kind: EntryType) -> Self {
            self.entry(name, kind, 0o644, "", b"")
        }

        /// A PAX header for the next entry.
        fn pax(self, kind: EntryType, records: &[(&str, &[u8])]) -> Self {
            let mut data = Vec::new();
            for (key, value) in records {
                let body_len = key.len() + value.len() + 3;
                let mut length = body_len + 1;
                while length != body_len + length.to_string().len() {
                    length = body_len + length.to_string().len();
                }
                write!(data, "{length} {key}=").expect("write");
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            self.entry("PaxHeader", kind, 0o644, "", &data)
        }

        pub(crate) fn finish(mut self) -> Vec<u8> {
            self.0.extend_from_slice(&[0; 1024]);
            self.0
        }
    }

    pub(crate) fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::init(&dir.path().join("repo"), RepoMode::Bare).expect("repo");
        (dir, repo)
    }

    /// Every path of `tree`: `dir/`, `file` (with its content),
    /// `link -> target`.
    pub(crate) fn listing(tx: &Transaction<'_>, tree: &MutableTree) -> Vec<String> {
        fn walk(tx: &Transaction<'_>, tree: &MutableTree, prefix: &str, out: &mut Vec<String>) {
            for (name, checksum) in &tree.files {
                let mut object = tx.open_content(checksum).expect("object");
                if object.meta.is_symlink() {
                    out.push(format!("{prefix}{name} -> {}", object.meta.symlink_target));
                } else {
                    let mut content = String::new();
                    object.reader.read_to_string(&mut content).expect("content");
                    out.push(format!("{prefix}{name} = {}", content.trim_end()));
                }
            }
            for (name, sub) in &tree.dirs {
                out.push(format!("{prefix}{name}/"));
                let Subdir::Built(sub) = sub else { panic!("a stored directory in a fresh tree") };
                walk(tx, sub, &format!("{prefix}{name}/"), out);
            }
        }
        let mut out = Vec::new();
        walk(tx, tree, "", &mut out);
        out.sort();
        out
    }

    fn apply_all(tx: &Transaction<'_>, layers: &[Vec<u8>], whiteouts: Whiteouts) -> Result<Root, ImportError> {
        let mut builder = RootBuilder::new(tx)?;
        for (i, layer) in layers.iter().enumerate() {
            builder.apply(&layer[..], &format!("layer {}", i + 1), whiteouts)?;
        }
        Ok(builder.finish())
    }

    #[test]
    fn whiteouts_hide_only_what_the_layers_below_have() {
        let (_dir, repo) = repo();
        let tx = repo.begin().expect("tx");
        let one = Archive::default()
            .dir("a/", 0o755)
            .file("a/x", "x")
            .file("a/y", "y")
            .dir("d/", 0o755)
            .file("d/old", "old")
            .dir("d/sub/", 0o755)
            .file("d/sub/deep", "deep")
            .dir("gone/", 0o755)
            .file("gone/inside", "inside")
            .finish();
        // A whiteout of what this same layer wrote leaves it: it applies
        // only below.
        let two = Archive::default()
            .file("a/.wh.x", "")
            .file("a/mine", "mine")
            .file("a/.wh.mine", "")
            .file(".wh.gone", "")
            .file("a/.wh.never-was", "")
            .finish();
        // The opaque marker after some of the layer's own content, and before
        // the rest.
        let three = Archive::default()
            .dir("d/", 0o700)
            .file("d/+early", "early")
            .file("d/.wh..wh..opq", "")
            .file("d/late", "late")
            .dir("d/sub/", 0o755)
            .file("d/sub/new", "new")
            .finish();
        let root = apply_all(&tx, &[one, two, three], Whiteouts::Apply).expect("applies");
        assert_eq!(
            listing(&tx, &root.tree),
            ["a/", "a/mine = mine", "a/y = y", "d/", "d/+early = early", "d/late = late", "d/sub/", "d/sub/new = new"]
        );
        let Some(Subdir::Built(d)) = root.tree.dirs.get("d") else { panic!("d") };
        assert_eq!(tx.read_dirmeta(&d.meta.expect("meta")).expect("dirmeta").mode, 0o040700);

        // In a root tarball, `.wh.` names are plain files.
        let literal = Archive::default().file("a/x", "x").file("a/.wh.x", "").finish();
        let root = apply_all(&tx, &[literal], Whiteouts::Literal).expect("applies");
        assert_eq!(listing(&tx, &root.tree), ["a/", "a/.wh.x = ", "a/x = x"]);
    }

    #[test]
    fn upper_layers_replace_files_and_directories() {
        let (_dir, repo) = repo();
        let tx = repo.begin().expect("tx");
        let one = Archive::default().file("f", "file").dir("d/", 0o755).file("d/x", "x").file("h", "h1").finish();
        let two = Archive::default()
            .dir("f/", 0o755)
            .file("f/in", "in")
            .file("d", "now a file")
            .hardlink("h2", "h")
            .file("h", "h2")
            .finish();
        let root = apply_all(&tx, &[one, two], Whiteouts::Apply).expect("applies");
        // A hardlink names the file as it was when the link was read.
        assert_eq!(listing(&tx, &root.tree), ["d = now a file", "f/", "f/in = in", "h = h2", "h2 = h1"]);
    }

    fn refused(layers: &[Vec<u8>], whiteouts: Whiteouts) -> String {
        let (_dir, repo) = repo();
        let tx = repo.begin().expect("tx");
        match apply_all(&tx, layers, whiteouts) {
            Ok(root) => panic!("accepted: {:?}", listing(&tx, &root.tree)),
            Err(e) => {
                let mut text = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                text
            }
        }
    }

    #[test]
    fn hostile_entries_are_refused_by_name() {
        let one = |archive: Archive| vec![archive.finish()];
        let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
            (one(Archive::default().file("../x", "x")), "`../x` in layer 1: path `../x` contains `..`"),
            (one(Archive::default().file("./a/../../x", "x")), "`./a/../../x` in layer 1"),
            (one(Archive::default().file("/etc/cron.d/x", "x")), "`/etc/cron.d/x` in layer 1: absolute path"),
            (
                one(Archive::default().symlink("usr/lib/x", "/etc").file("usr/lib/x/shadow", "x")),
                "`usr/lib/x/shadow` in layer 1: it lies under `/usr/lib/x`, which is a symlink",
            ),
            (
                one(Archive::default().symlink("s", "..").file("s/exploit/foo", "x")),
                "`s/exploit/foo` in layer 1: it lies under `/s`, which is a symlink",
            ),
            (
                one(Archive::default().dir("d/", 0o755).symlink("d", "/etc").file("d/f", "x")),
                "`d` in layer 1: it appears twice",
            ),
            (one(Archive::default().symlink("f", "/etc/shadow").file("f", "x")), "`f` in layer 1: it appears twice"),
            (one(Archive::default().file("f", "x").file("f/g", "x")), "which is not a directory"),
            (
                one(Archive::default().hardlink("h", "missing")),
                "`h` in layer 1: a hardlink to `/missing`, which is not",
            ),
            (
                one(Archive::default().hardlink("h", "../etc/shadow")),
                "`h` in layer 1: a hardlink to path `../etc/shadow`",
            ),
            (one(Archive::default().hardlink("h", "/etc/shadow")), "`h` in layer 1: a hardlink to absolute path"),
            (one(Archive::default().dir("d/", 0o755).hardlink("h", "d")), "a hardlink to `/d`, which is not"),
            (one(Archive::default().hardlink("h", "f").file("f", "x")), "a hardlink to `/f`, which is not"),
            (one(Archive::default().symlink("l", "")), "`l` in layer 1: a symlink with an empty or invalid target"),
            (one(Archive::default().file("d/", "")), "a regular file whose name ends in `/`"),
            (
                one(Archive::default().pax(EntryType::XGlobalHeader, &[("path", b"x")]).file("f", "x")),
                "a PAX global header sets `path`",
            ),
            (
                one(Archive::default().pax(EntryType::XHeader, &[("GNU.sparse.size", b"99")]).file("f", "x")),
                "a PAX sparse file",
            ),
            // A symlink from a layer below is no way through either.
            (
                vec![
                    Archive::default().symlink("x", "/etc").finish(),
                    Archive::default().file("x/passwd", "x").finish(),
                ],
                "`x/passwd` in layer 2: it lies under `/x`, which is a symlink",
            ),
            (
                vec![
                    Archive::default().symlink("x", "/etc").finish(),
                    Archive::default().file("x/.wh.passwd", "").finish(),
                ],
                "`x/.wh.passwd` in layer 2: it lies under `/x`, which is a symlink",
            ),
        ];
        for (layers, expected) in cases {
            let text = refused(&layers, Whiteouts::Apply);
            assert!(text.contains(expected), "expected {expected:?} in {text:?}");
        }
    }

    #[test]
    fn cut_or_padded_streams() {
        let whole = Archive::default().file("a", &"a".repeat(2000)).file("b", "b").finish();
        // Cut inside a file's data, between entries, and in a header.
        for cut in [700, 512 * 5, 512 * 5 + 100] {
            let text = refused(&[whole[..cut].to_vec()], Whiteouts::Literal);
            assert!(text.contains("layer 1"), "{cut}: {text}");
        }
        let mut padded = whole.clone();
        padded.extend(vec![0u8; 1 << 20]);
        let (_dir, repo) = repo();
        let tx = repo.begin().expect("tx");
        apply_all(&tx, &[padded.clone()], Whiteouts::Literal).expect("padding is fine");
        padded.extend(vec![0u8; 16 << 20]);
        assert!(refused(&[padded], Whiteouts::Literal).contains("follow the end-of-archive block"));
    }

    #[test]
    fn owners_modes_xattrs_kept_devices_and_mount_points_left_out() {
        let (_dir, repo) = repo();
        let tx = repo.begin().expect("tx");
        let mut owned = Archive::default().entry("usr/bin/su", EntryType::Regular, 0o4755, "", b"su");
        // Owners in the header's own fields.
        let at = owned.0.len() - 1024;
        let mut header = tar::Header::new_ustar();
        header.as_mut_bytes().copy_from_slice(&owned.0[at..at + 512]);
        header.set_uid(1234);
        header.set_gid(5678);
        header.set_cksum();
        owned.0[at..at + 512].copy_from_slice(header.as_bytes());
        let archive = owned
            .pax(
                EntryType::XHeader,
                &[
                    // cap_net_raw+ep, as `setcap` writes it.
                    ("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02\x00\x20\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0"),
                    ("SCHILY.xattr.user.note", b"hello"),
                    ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                ],
            )
            .file("usr/bin/ping", "ping")
            .dir("./", 0o755)
            .dir("dev/", 0o755)
            .special("dev/null", EntryType::Char)
            .dir("dev/pts/", 0o755)
            .file("tmp/junk", "junk")
            .file("proc/1/status", "x")
            .special("usr/fifo", EntryType::Fifo)
            .special("usr/sda", EntryType::Block)
            .finish();
        let root = apply_all(&tx, &[archive], Whiteouts::Literal).expect("applies");
        assert_eq!(root.skipped, ["/usr/fifo (FIFO)", "/usr/sda (block device)"]);
        let Some(Subdir::Built(dev)) = root.tree.dirs.get("dev") else { panic!("dev") };
        assert!(dev.files.is_empty() && dev.dirs.is_empty());
        assert!(!root.tree.dirs.contains_key("tmp") && !root.tree.dirs.contains_key("proc"));

        let Some(Subdir::Built(usr)) = root.tree.dirs.get("usr") else { panic!("usr") };
        let Some(Subdir::Built(bin)) = usr.dirs.get("bin") else { panic!("usr/bin") };
        let su = tx.read_file_meta(&bin.files["su"]).expect("su");
        assert_eq!((su.uid, su.gid, su.mode), (1234, 5678, 0o104755));
        let ping = tx.read_file_meta(&bin.files["ping"]).expect("ping");
        let names: Vec<&[u8]> = ping.xattrs.iter().map(|(n, _)| n).collect();
        assert_eq!(names, [&b"security.capability"[..], b"user.note"]);
    }

    #[test]
    fn compressions_are_recognised_by_content() {
        let tar = Archive::default().file("a", "a").finish();
        assert_eq!(Compression::sniff(&tar), Some(Compression::None));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(Compression::sniff(&gz), Some(Compression::Gzip));
        let zst = zstd::encode_all(&tar[..], 1).expect("zstd");
        assert_eq!(Compression::sniff(&zst), Some(Compression::Zstd));
        assert_eq!(Compression::sniff(b"\xfd7zXZ\x00rest"), Some(Compression::Xz));
        assert_eq!(Compression::sniff(b"PK\x03\x04 a zip"), None);
        // Garbage after a gzip stream is an error, not ignored.
        let mut trailing = gz.clone();
        trailing.extend_from_slice(b"garbage");
        let mut out = Vec::new();
        assert!(decoder(Compression::Gzip, &trailing[..]).expect("decoder").read_to_end(&mut out).is_err());
    }
}
