//! `.deb` package trees: cached under `layer/pkg/deb/...`, with the
//! control archive's files and the payload's paths in archive order in the
//! commit's metadata, as dpkg's database needs them.

use std::collections::BTreeMap;
use std::path::Path;

use pkgdb::deb::{ControlInfo, DebOptions, DebReader};
use pkgdb::entry::Entry;
use store::gvariant::{Type, Value};
use store::objects::Commit;
use store::repo::Repo;

use super::{
    DebMeta, Format, Imported, Importer, KEY_FORMAT, PackageFile, PackageTree, TreeSink, import_all, open_file,
};
use crate::error::{Error, Result};

const KEY_CONTROL: &str = "layer.pkg.control";
const KEY_PATHS: &str = "layer.pkg.paths";

/// Imports every `.deb` of `files` not cached yet, in parallel and in one
/// transaction, and returns all their trees in the order given.
pub fn import_debs(repo: &Repo, files: &[PackageFile<'_>]) -> Result<Vec<PackageTree>> {
    import_all::<Deb>(repo, files)
}

/// The ref of a `.deb`'s tree.
pub fn reference(name: &str, version: &str, architecture: &str) -> String {
    super::reference("deb", name, version, architecture)
}

struct Deb(DebReader<std::io::BufReader<std::fs::File>>);

impl Importer for Deb {
    fn open(path: &Path) -> Result<Deb> {
        DebReader::new(open_file(path)?, DebOptions::default())
            .map(Deb)
            .map_err(|source| Error::Package { package: path.display().to_string(), source: source.into() })
    }

    fn reference(&self) -> String {
        let control = self.0.control();
        reference(&control.package, &control.version, &control.architecture)
    }

    fn import(self, path: &Path, sink: &mut TreeSink<'_, '_>) -> Result<Imported> {
        let reader = self.0;
        let control = reader.control().clone();
        let control_files = reader.control_files().clone();
        let mut paths = Vec::new();
        reader
            .for_each_entry(|entry: &Entry, content: &mut dyn std::io::Read| -> Result<()> {
                let path = entry.path.as_str();
                paths.push(if entry.path.is_root() { "/.".to_owned() } else { format!("/{path}") });
                sink.add(entry, content)
            })
            .map_err(|source| Error::Package { package: path.display().to_string(), source: source.into() })?;
        let metadata = vec![
            (KEY_FORMAT.to_owned(), Value::String("deb".into())),
            (KEY_CONTROL.to_owned(), control_value(&control_files)),
            (KEY_PATHS.to_owned(), Value::Array(Type::String, paths.iter().cloned().map(Value::String).collect())),
        ];
        let subject = format!("{} {} ({})", control.package, control.version, control.architecture);
        Ok(Imported { format: Format::Deb(DebMeta { control, control_files, paths }), metadata, subject })
    }
}

fn control_value(files: &BTreeMap<String, Vec<u8>>) -> Value {
    let entry_type = Type::DictEntry(Box::new(Type::String), Box::new(Type::Array(Box::new(Type::Byte))));
    let items = files
        .iter()
        .map(|(name, data)| {
            Value::DictEntry(Box::new(Value::String(name.clone())), Box::new(Value::Bytes(data.clone())))
        })
        .collect();
    Value::Array(entry_type, items)
}

/// The control files and paths of a cached `.deb` tree.
pub(super) fn load_meta(reference: &str, object: &Commit) -> Result<DebMeta> {
    let bad = |reason: &str| Error::BadPackageTree { reference: reference.to_owned(), reason: reason.to_owned() };
    let Some(Value::Array(_, items)) = object.metadata_value(KEY_CONTROL) else { return Err(bad("no control files")) };
    let mut control_files = BTreeMap::new();
    for item in items {
        let Value::DictEntry(name, data) = item else { return Err(bad("malformed control files")) };
        let (Some(name), Some(data)) = (name.as_str(), data.as_bytes()) else {
            return Err(bad("malformed control files"));
        };
        control_files.insert(name.to_owned(), data.to_vec());
    }
    let Some(Value::Array(_, items)) = object.metadata_value(KEY_PATHS) else { return Err(bad("no path list")) };
    let paths = items.iter().map(|p| p.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>();
    let paths = paths.ok_or_else(|| bad("malformed path list"))?;
    let control = ControlInfo::from_files("control.tar".to_owned(), control_files.clone())
        .map_err(|source| Error::Package { package: reference.to_owned(), source: source.into() })?;
    Ok(DebMeta { control, control_files, paths })
}
