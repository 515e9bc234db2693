//! Verifying a repository: every commit object, and every object those
//! commits reach, is read and re-hashed. A bad object is reported with the
//! commits that reach it, so the damage can be judged.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;

use rayon::prelude::*;

use crate::error::{Result, io_err};
use crate::fsutil;
use crate::objects::{Checksum, Commit, ContentHasher, DirMeta, DirTree, ObjectType};
use crate::repo::Repo;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub kind: ObjectType,
    pub checksum: Checksum,
    pub reason: String,
    /// Commits whose trees reach the object (the commit itself for a bad commit).
    pub commits: BTreeSet<Checksum>,
}

#[derive(Debug, Default)]
pub struct FsckReport {
    pub commits: usize,
    pub objects: usize,
    pub problems: Vec<Problem>,
    /// Refs that point at a commit the repository does not have.
    pub dangling_refs: Vec<(String, Checksum)>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.dangling_refs.is_empty()
    }
}

impl Repo {
    /// All objects of one kind present under `objects/`.
    pub fn list_objects(&self, kind: Option<ObjectType>) -> Result<Vec<(ObjectType, Checksum)>> {
        let mut out = Vec::new();
        for (prefix, _, _) in
            fsutil::read_names(&self.objects).map_err(io_err("listing", self.path.join("objects").display()))?
        {
            if prefix.len() != 2 {
                continue;
            }
            let prefix = String::from_utf8_lossy(&prefix).into_owned();
            let Ok(dir) = fsutil::open_dir(&self.objects, prefix.as_str()) else { continue };
            for (name, _, _) in fsutil::read_names(&dir).map_err(io_err("listing", &prefix))? {
                let name = String::from_utf8_lossy(&name);
                let Some((rest, ext)) = name.split_once('.') else { continue };
                let Some(k) = ObjectType::from_extension(ext) else { continue };
                if kind.is_some_and(|want| want != k) {
                    continue;
                }
                if let Ok(c) = format!("{prefix}{rest}").parse() {
                    out.push((k, c));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn verify_metadata(&self, kind: ObjectType, checksum: &Checksum) -> std::result::Result<Vec<u8>, String> {
        let data = self.read_metadata_bytes(kind, checksum).map_err(|e| format!("{e:#}"))?;
        let actual = Checksum::of(&data);
        if actual != *checksum {
            return Err(format!("content hashes to {actual}"));
        }
        Ok(data)
    }

    fn verify_content(&self, checksum: &Checksum) -> std::result::Result<(), String> {
        let mut content = self.open_content(checksum).map_err(|e| error_chain(&e))?;
        let mut hasher = ContentHasher::new(&content.meta);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = content.reader.read(&mut buf).map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let actual = hasher.finish();
        if actual != *checksum {
            return Err(format!("content and metadata hash to {actual}"));
        }
        Ok(())
    }

    pub fn fsck(&self) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let mut bad: BTreeMap<(ObjectType, Checksum), String> = BTreeMap::new();
        let commits = self.list_objects(Some(ObjectType::Commit))?;
        let mut commit_roots = Vec::new();
        for (_, c) in &commits {
            report.commits += 1;
            match self
                .verify_metadata(ObjectType::Commit, c)
                .and_then(|d| Commit::parse(&d).map_err(|e| error_chain(&e)))
            {
                Ok(commit) => commit_roots.push((*c, commit)),
                Err(reason) => {
                    bad.insert((ObjectType::Commit, *c), reason);
                }
            }
        }
        for (name, c) in self.refs().list()? {
            if !self.has_object(ObjectType::Commit, &c)? {
                report.dangling_refs.push((name, c));
            }
        }
        // Walk every tree once, verifying metadata objects as we go.
        let mut seen_trees = HashSet::new();
        let mut seen_metas = HashSet::new();
        let mut contents = BTreeSet::new();
        let mut stack: Vec<(Checksum, Checksum)> =
            commit_roots.iter().map(|(_, c)| (c.root_tree, c.root_meta)).collect();
        while let Some((tree, meta)) = stack.pop() {
            if seen_metas.insert(meta) {
                if let Err(reason) = self
                    .verify_metadata(ObjectType::DirMeta, &meta)
                    .and_then(|d| DirMeta::parse(&d).map(|_| ()).map_err(|e| error_chain(&e)))
                {
                    bad.insert((ObjectType::DirMeta, meta), reason);
                }
            }
            if !seen_trees.insert(tree) {
                continue;
            }
            match self
                .verify_metadata(ObjectType::DirTree, &tree)
                .and_then(|d| DirTree::parse(&d).map_err(|e| error_chain(&e)))
            {
                Ok(t) => {
                    contents.extend(t.files.iter().map(|(_, c)| *c));
                    stack.extend(t.dirs.iter().map(|(_, t, m)| (*t, *m)));
                }
                Err(reason) => {
                    bad.insert((ObjectType::DirTree, tree), reason);
                }
            }
        }
        let contents: Vec<Checksum> = contents.into_iter().collect();
        let content_problems: Vec<(Checksum, String)> =
            contents.par_iter().filter_map(|c| self.verify_content(c).err().map(|reason| (*c, reason))).collect();
        for (c, reason) in content_problems {
            bad.insert((ObjectType::File, c), reason);
        }
        report.objects = report.commits + seen_trees.len() + seen_metas.len() + contents.len();
        if !bad.is_empty() {
            let reached = self.commits_reaching(&commit_roots, &bad.keys().copied().collect())?;
            report.problems = bad
                .into_iter()
                .map(|((kind, checksum), reason)| {
                    let mut commits = reached.get(&(kind, checksum)).cloned().unwrap_or_default();
                    if kind == ObjectType::Commit {
                        commits.insert(checksum);
                    }
                    Problem { kind, checksum, reason, commits }
                })
                .collect();
        }
        Ok(report)
    }

    /// For each bad object, the commits whose trees contain it. Only run
    /// when something is bad, so the clean path walks each tree once.
    fn commits_reaching(
        &self,
        commits: &[(Checksum, Commit)],
        bad: &HashSet<(ObjectType, Checksum)>,
    ) -> Result<BTreeMap<(ObjectType, Checksum), BTreeSet<Checksum>>> {
        let mut out: BTreeMap<_, BTreeSet<Checksum>> = BTreeMap::new();
        for (id, commit) in commits {
            let mut seen = HashSet::new();
            let mut stack = vec![(commit.root_tree, commit.root_meta)];
            while let Some((tree, meta)) = stack.pop() {
                for key in [(ObjectType::DirTree, tree), (ObjectType::DirMeta, meta)] {
                    if bad.contains(&key) {
                        out.entry(key).or_default().insert(*id);
                    }
                }
                if !seen.insert(tree) {
                    continue;
                }
                let Ok(t) = self.read_dirtree(&tree) else { continue };
                for (_, c) in &t.files {
                    if bad.contains(&(ObjectType::File, *c)) {
                        out.entry((ObjectType::File, *c)).or_default().insert(*id);
                    }
                }
                stack.extend(t.dirs.iter().map(|(_, t, m)| (*t, *m)));
            }
        }
        Ok(out)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
