//! An OCI image layout (`oci:DIR[:TAG]`) read into the store: the image
//! for this machine's platform is found through `index.json` (peeling one
//! image index), its layers apply in order with their whiteouts
//! ([`super::tarball::RootBuilder`]), and every blob is checked against
//! its digest: manifests and configs before they are parsed, each layer's
//! compressed digest and its uncompressed `diff_id` as it streams. A layer
//! that fails its digest fails the import after it was read, which is
//! early enough: nothing is committed until every layer passed.
//!
//! The layout is opened through a directory handle (`cap-std`, via
//! `ocidir`), so a blob that is a symlink cannot lead a read outside it.

use std::io::{self, Read};
use std::path::Path;

use ocidir::cap_std::ambient_authority;
use ocidir::cap_std::fs::Dir;
use ocidir::oci_spec::image::{
    Arch, Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType, Os, Platform,
};
use ocidir::{OciDir, OciRead};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use store::transaction::Transaction;

use super::tarball::{Compression, RootBuilder, Whiteouts, decoder};
use super::{ImportError, Root};

/// Largest manifest, index or config read.
const MAX_JSON: u64 = 4 << 20;
/// The annotation that names an image in `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Reads the image `tag` (or the only image) of the layout `layout`.
pub(crate) fn read_root(tx: &Transaction<'_>, layout: &Path, tag: Option<&str>) -> Result<Root, ImportError> {
    let image = Image::open(layout)?;
    let (descriptor, manifest) = image.select(tag)?;
    let config: ImageConfiguration = image.read_json(manifest.config(), "image configuration")?;
    let rootfs = config.rootfs();
    if rootfs.typ() != "layers" {
        return Err(image.error(format!("the configuration's `rootfs.type` is `{}`, not `layers`", rootfs.typ())));
    }
    let diff_ids = rootfs.diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(image.error(format!(
            "the manifest lists {} layers but the configuration {} `diff_ids`",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut builder = RootBuilder::new(tx)?;
    for (i, (layer, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
        image.apply_layer(&mut builder, i + 1, layer, diff_id)?;
    }
    let mut root = builder.finish();
    root.manifest = Some(descriptor.digest().to_string());
    Ok(root)
}

struct Image {
    oci: OciDir,
    shown: String,
}

impl Image {
    fn open(layout: &Path) -> Result<Image, ImportError> {
        let shown = layout.display().to_string();
        let dir = Dir::open_ambient_dir(layout, ambient_authority())
            .map_err(|source| ImportError::Io { path: shown.clone(), source })?;
        let image_layout = match dir.read("oci-layout") {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let reason = "it has no `oci-layout` file, so it is no OCI image layout\nhint: make one with `skopeo copy docker://IMAGE oci:DIR:TAG` or `umoci init`".into();
                return Err(ImportError::Oci { layout: shown, reason });
            }
            Err(source) => return Err(ImportError::Io { path: format!("{shown}/oci-layout"), source }),
        };
        let version = serde_json::from_slice::<serde_json::Value>(&image_layout)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion").and_then(|v| v.as_str()).map(str::to_owned));
        match version {
            Some(v) if v.starts_with("1.") => {}
            other => {
                let reason = format!(
                    "its `oci-layout` names the layout version {}, and `layer` reads 1.x",
                    other.as_deref().map_or("(none)".to_owned(), |v| format!("`{v}`"))
                );
                return Err(ImportError::Oci { layout: shown, reason });
            }
        }
        let oci = OciDir::open(dir).map_err(|source| ImportError::OciRead {
            layout: shown.clone(),
            what: "opening `blobs/sha256`".into(),
            source,
        })?;
        Ok(Image { oci, shown })
    }

    fn error(&self, reason: String) -> ImportError {
        ImportError::Oci { layout: self.shown.clone(), reason }
    }

    fn read_error(&self, what: String) -> impl FnOnce(ocidir::Error) -> ImportError + '_ {
        move |source| ImportError::OciRead { layout: self.shown.clone(), what, source }
    }

    /// The manifest of the image to import: the one tagged `tag`, or the
    /// only one, for this machine's platform.
    fn select(&self, tag: Option<&str>) -> Result<(Descriptor, ImageManifest), ImportError> {
        let index = self.oci.read_index().map_err(self.read_error("reading `index.json`".into()))?;
        let tags: Vec<&str> = index
            .manifests()
            .iter()
            .filter_map(|d| d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).map(String::as_str))
            .collect();
        let tag_list = || if tags.is_empty() { "none".to_owned() } else { format!("`{}`", tags.join("`, `")) };
        let candidates: Vec<&Descriptor> = match tag {
            Some(tag) => index
                .manifests()
                .iter()
                .filter(|d| d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).is_some_and(|t| t == tag))
                .collect(),
            None => index.manifests().iter().collect(),
        };
        if candidates.is_empty() {
            return Err(self.error(match tag {
                Some(tag) => format!("no image is tagged `{tag}`; its tags: {}", tag_list()),
                None => "`index.json` lists no image".to_owned(),
            }));
        }
        let native = NativePlatform { os: Os::default(), architecture: Arch::default() };
        let mut found: Vec<Descriptor> = Vec::new();
        for descriptor in candidates {
            if is_manifest(descriptor.media_type()) {
                if descriptor.platform().as_ref().is_none_or(|p| native.matches(p)) {
                    found.push(descriptor.clone());
                }
            } else if is_index(descriptor.media_type()) {
                let nested: ImageIndex = self.read_json(descriptor, "image index")?;
                found.extend(
                    nested
                        .manifests()
                        .iter()
                        .filter(|d| is_manifest(d.media_type()))
                        .filter(|d| d.platform().as_ref().is_none_or(|p| native.matches(p)))
                        .cloned(),
                );
            }
        }
        let descriptor = match found.len() {
            0 => {
                return Err(self.error(format!(
                    "it has no image for {}/{}{}",
                    native.os,
                    native.architecture,
                    tag.map(|t| format!(" tagged `{t}`")).unwrap_or_default()
                )));
            }
            1 => found.remove(0),
            n if tag.is_none() => {
                return Err(self.error(format!(
                    "it holds {n} images; name one as `oci:{}:TAG`\nhint: its tags: {}",
                    self.shown,
                    tag_list()
                )));
            }
            n => return Err(self.error(format!("{n} images for this platform are tagged `{}`", tag.unwrap_or("")))),
        };
        let manifest: ImageManifest = self.read_json(&descriptor, "image manifest")?;
        Ok((descriptor, manifest))
    }

    /// Reads a JSON blob after checking its digest.
    fn read_json<T: DeserializeOwned>(&self, descriptor: &Descriptor, what: &str) -> Result<T, ImportError> {
        let digest = descriptor.digest().to_string();
        let expected = self.sha256_of(descriptor)?;
        if descriptor.size() > MAX_JSON {
            return Err(self.error(format!("the {what} `{digest}` is larger than {MAX_JSON} bytes")));
        }
        let blob = self.oci.read_blob(descriptor).map_err(self.read_error(format!("reading the {what} `{digest}`")))?;
        let mut data = Vec::new();
        blob.take(MAX_JSON)
            .read_to_end(&mut data)
            .map_err(|source| ImportError::Io { path: format!("{}/blobs/sha256/{expected}", self.shown), source })?;
        let actual = hex(&Sha256::digest(&data));
        if actual != expected {
            return Err(
                self.error(format!("the {what} `{digest}` is damaged: its content hashes to `sha256:{actual}`"))
            );
        }
        serde_json::from_slice(&data).map_err(|e| self.error(format!("the {what} `{digest}` is malformed: {e}")))
    }

    fn sha256_of<'d>(&self, descriptor: &'d Descriptor) -> Result<&'d str, ImportError> {
        descriptor.as_digest_sha256().ok_or_else(|| {
            self.error(format!("the blob `{}` is named by a digest other than sha256", descriptor.digest()))
        })
    }

    /// Streams layer number `number` onto `builder`, checking both digests.
    fn apply_layer(
        &self,
        builder: &mut RootBuilder<'_, '_>,
        number: usize,
        layer: &Descriptor,
        diff_id: &str,
    ) -> Result<(), ImportError> {
        let digest = layer.digest().to_string();
        let expected = self.sha256_of(layer)?;
        let compression = layer_compression(layer.media_type()).ok_or_else(|| {
            self.error(format!(
                "layer {number} (`{digest}`) has the media type `{}`, which `layer` does not read",
                layer.media_type()
            ))
        })?;
        let name = format!("layer {number} (`{digest}`) of `{}`", self.shown);
        let blob =
            self.oci.read_blob(layer).map_err(self.read_error(format!("reading layer {number} (`{digest}`)")))?;
        let mut compressed = HashingReader::new(blob);
        let uncompressed = {
            let decoded = decoder(compression, &mut compressed)
                .map_err(|source| ImportError::Tar { archive: name.clone(), source })?;
            let mut uncompressed = HashingReader::new(decoded);
            builder.apply(&mut uncompressed, &name, Whiteouts::Apply)?;
            uncompressed.finish()
        };
        io::copy(&mut compressed, &mut io::sink())
            .map_err(|source| ImportError::Tar { archive: name.clone(), source })?;
        let actual = compressed.finish();
        if actual != expected {
            return Err(self.error(format!("{name} is damaged: its content hashes to `sha256:{actual}`")));
        }
        if diff_id != format!("sha256:{uncompressed}") {
            return Err(self.error(format!(
                "layer {number} (`{digest}`) unpacks to `sha256:{uncompressed}`, but the configuration's `diff_id` is `{diff_id}`"
            )));
        }
        Ok(())
    }
}

fn is_manifest(media_type: &MediaType) -> bool {
    match media_type {
        MediaType::ImageManifest => true,
        MediaType::Other(other) => other == DOCKER_MANIFEST,
        _ => false,
    }
}

fn is_index(media_type: &MediaType) -> bool {
    match media_type {
        MediaType::ImageIndex => true,
        MediaType::Other(other) => other == DOCKER_MANIFEST_LIST,
        _ => false,
    }
}

fn layer_compression(media_type: &MediaType) -> Option<Compression> {
    match media_type {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Some(Compression::None),
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => Some(Compression::Gzip),
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => Some(Compression::Zstd),
        MediaType::Other(other) if other == DOCKER_LAYER_GZIP => Some(Compression::Gzip),
        _ => None,
    }
}

/// This machine's OS and architecture, as OCI names them.
struct NativePlatform {
    os: Os,
    architecture: Arch,
}

impl NativePlatform {
    fn matches(&self, platform: &Platform) -> bool {
        *platform.os() == self.os && *platform.architecture() == self.architecture
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new() }
    }

    /// The sha256 of everything read, in hex.
    fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;
    use crate::import::tarball::tests::{Archive, listing, repo};

    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

    fn blob(layout: &Path, media_type: &str, data: &[u8]) -> Value {
        let digest = hex(&Sha256::digest(data));
        std::fs::create_dir_all(layout.join("blobs/sha256")).expect("blobs");
        std::fs::write(layout.join("blobs/sha256").join(&digest), data).expect("blob");
        json!({ "mediaType": media_type, "digest": format!("sha256:{digest}"), "size": data.len() })
    }

    /// An image of uncompressed `layers`; returns its manifest's descriptor.
    fn image(layout: &Path, layers: &[Vec<u8>], architecture: &str, diff_ids: Option<Vec<String>>) -> Value {
        let diff_ids =
            diff_ids.unwrap_or_else(|| layers.iter().map(|l| format!("sha256:{}", hex(&Sha256::digest(l)))).collect());
        let config = json!({ "architecture": architecture, "os": "linux", "rootfs": { "type": "layers", "diff_ids": diff_ids } });
        let config = blob(layout, "application/vnd.oci.image.config.v1+json", config.to_string().as_bytes());
        let layers: Vec<Value> = layers.iter().map(|l| blob(layout, LAYER, l)).collect();
        let manifest = json!({ "schemaVersion": 2, "config": config, "layers": layers });
        let mut descriptor =
            blob(layout, "application/vnd.oci.image.manifest.v1+json", manifest.to_string().as_bytes());
        descriptor["platform"] = json!({ "architecture": architecture, "os": "linux" });
        descriptor
    }

    fn layout(dir: &Path, name: &str, manifests: Vec<Value>) -> PathBuf {
        let layout = dir.join(name);
        std::fs::create_dir_all(&layout).expect("layout");
        std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        std::fs::write(layout.join("index.json"), json!({ "schemaVersion": 2, "manifests": manifests }).to_string())
            .expect("index.json");
        layout
    }

    fn tagged(mut descriptor: Value, tag: &str) -> Value {
        descriptor["annotations"] = json!({ REF_NAME: tag });
        descriptor
    }

    fn native() -> String {
        Arch::default().to_string()
    }

    fn error_text(result: Result<Root, ImportError>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
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
    fn the_image_for_this_platform_is_found_through_an_index() {
        let (dir, repo) = repo();
        let tx = repo.begin().expect("tx");
        let staging = dir.path().join("blobs-src");
        let ours = Archive::default().file("which", "ours").finish();
        let theirs = Archive::default().file("which", "theirs").finish();
        let ours = image(&staging, &[ours], &native(), None);
        let theirs = image(&staging, &[theirs], "s390x", None);
        let nested = json!({ "schemaVersion": 2, "manifests": [theirs, ours] });
        let layout_dir = layout(dir.path(), "layout", vec![]);
        sh_copy(&staging, &layout_dir);
        let index = blob(&layout_dir, "application/vnd.oci.image.index.v1+json", nested.to_string().as_bytes());
        std::fs::write(
            layout_dir.join("index.json"),
            json!({ "schemaVersion": 2, "manifests": [tagged(index, "v1")] }).to_string(),
        )
        .expect("index.json");
        for tag in [None, Some("v1")] {
            let root = read_root(&tx, &layout_dir, tag).expect("reads");
            assert_eq!(listing(&tx, &root.tree), ["which = ours"]);
            assert_eq!(root.manifest.as_deref(), ours["digest"].as_str());
        }
        assert!(
            error_text(read_root(&tx, &layout_dir, Some("v2"))).contains("no image is tagged `v2`; its tags: `v1`")
        );

        // Two images and no tag: the user must choose.
        let one = image(&layout_dir, &[Archive::default().file("a", "a").finish()], &native(), None);
        let two = image(&layout_dir, &[Archive::default().file("b", "b").finish()], &native(), None);
        let two_images = layout(dir.path(), "two", vec![tagged(one, "a"), tagged(two, "b")]);
        sh_copy(&layout_dir, &two_images);
        let text = error_text(read_root(&tx, &two_images, None));
        assert!(text.contains("it holds 2 images; name one as `oci:") && text.contains("`a`, `b`"), "{text}");
        let root = read_root(&tx, &two_images, Some("b")).expect("reads");
        assert_eq!(listing(&tx, &root.tree), ["b = b"]);
    }

    /// Copies the blobs of `from` into `to`.
    fn sh_copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to.join("blobs/sha256")).expect("blobs");
        for entry in std::fs::read_dir(from.join("blobs/sha256")).expect("blobs") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join("blobs/sha256").join(entry.file_name())).expect("copy");
        }
    }

    #[test]
    fn blobs_that_fail_their_digests_are_refused() {
        let (dir, repo) = repo();
        let tx = repo.begin().expect("tx");
        let layer = Archive::default().file("usr/file", "content").finish();

        // A layer whose bytes changed but not its size.
        let good = image(&dir.path().join("damaged"), std::slice::from_ref(&layer), &native(), None);
        let damaged = layout(dir.path(), "damaged", vec![good]);
        let digest = hex(&Sha256::digest(&layer));
        let path = damaged.join("blobs/sha256").join(&digest);
        let mut bytes = std::fs::read(&path).expect("layer");
        let at = bytes.windows(7).position(|w| w == b"content").expect("content");
        bytes[at] = b'C';
        std::fs::write(&path, bytes).expect("damaging");
        let text = error_text(read_root(&tx, &damaged, None));
        assert!(text.contains(&format!("layer 1 (`sha256:{digest}`)")) && text.contains("is damaged"), "{text}");

        // A diff_id that the layer does not unpack to.
        let wrong = vec![format!("sha256:{}", "0".repeat(64))];
        let manifest = image(&dir.path().join("diff"), std::slice::from_ref(&layer), &native(), Some(wrong));
        let text = error_text(read_root(&tx, &layout(dir.path(), "diff", vec![manifest]), None));
        assert!(text.contains("but the configuration's `diff_id` is `sha256:000"), "{text}");

        // A manifest that is not what its digest says.
        let manifest = image(&dir.path().join("manifest"), std::slice::from_ref(&layer), &native(), None);
        let manifest_layout = layout(dir.path(), "manifest", vec![manifest.clone()]);
        let name = manifest["digest"].as_str().expect("digest").trim_start_matches("sha256:");
        let path = manifest_layout.join("blobs/sha256").join(name);
        let text = std::fs::read_to_string(&path).expect("manifest").replacen("schemaVersion", "schemaVersiom", 1);
        std::fs::write(&path, text).expect("damaging");
        let text = error_text(read_root(&tx, &manifest_layout, None));
        assert!(text.contains("the image manifest `sha256:") && text.contains("is damaged"), "{text}");

        // A layer the layout lacks.
        let missing = image(&dir.path().join("missing"), std::slice::from_ref(&layer), &native(), None);
        let missing = layout(dir.path(), "missing", vec![missing]);
        std::fs::remove_file(missing.join("blobs/sha256").join(&digest)).expect("removing");
        let text = error_text(read_root(&tx, &missing, None));
        assert!(text.contains(&format!("reading layer 1 (`sha256:{digest}`)")), "{text}");

        // Not a layout at all.
        std::fs::create_dir_all(dir.path().join("empty")).expect("empty");
        let text = error_text(read_root(&tx, &dir.path().join("empty"), None));
        assert!(text.contains("no `oci-layout` file"), "{text}");
    }

    #[test]
    fn sources_parse() {
        use crate::import::Source;
        let dir = tempfile::tempdir().expect("tempdir");
        let colon = dir.path().join("with:colon");
        std::fs::create_dir(&colon).expect("dir");
        let parse = |s: &str| Source::parse(s).expect("parses");
        assert_eq!(
            parse("oci:/images/debian:12"),
            Source::Oci { layout: "/images/debian".into(), tag: Some("12".into()) }
        );
        assert_eq!(parse("oci:/images/debian"), Source::Oci { layout: "/images/debian".into(), tag: None });
        let whole = format!("oci:{}", colon.display());
        assert_eq!(parse(&whole), Source::Oci { layout: colon.clone(), tag: None });
        assert_eq!(parse(dir.path().to_str().expect("utf8")), Source::Directory(dir.path().to_owned()));
        let file = dir.path().join("root.tar");
        std::fs::write(&file, b"").expect("file");
        assert_eq!(parse(file.to_str().expect("utf8")), Source::Tarball(file));
        assert!(Source::parse("/does/not/exist").is_err());
        assert!(Source::parse("oci:").is_err());
    }
}
