//! The rpmdb's secondary indexes: one table per tag (rpm 4.18's `dbiTags`
//! in `lib/rpmdb.c`), each row `(key, hnum, idx)`, filled as rpm's
//! `tag2index` fills them: one row per value, with the value's position
//! as `idx` (the trigger index for file triggers); install-only
//! requirements are left out; duplicate trigger names are listed once;
//! `Group` defaults to `Unknown`; a rich dependency is listed whole and
//! then by each package name in it (`updateRichDep`).

use super::header::{InstalledHeader, TagType};
use super::tags::*;
use crate::rpm::RichDep;

/// One index table of the rpmdb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Name,
    Basenames,
    Group,
    Requirename,
    Providename,
    Conflictname,
    Obsoletename,
    Triggername,
    Dirnames,
    Installtid,
    Sigmd5,
    Sha1header,
    Filetriggername,
    Transfiletriggername,
    Recommendname,
    Suggestname,
    Supplementname,
    Enhancename,
}

impl Index {
    /// Every index, in the order rpm creates and fills them.
    pub const ALL: [Index; 18] = [
        Index::Name,
        Index::Basenames,
        Index::Group,
        Index::Requirename,
        Index::Providename,
        Index::Conflictname,
        Index::Obsoletename,
        Index::Triggername,
        Index::Dirnames,
        Index::Installtid,
        Index::Sigmd5,
        Index::Sha1header,
        Index::Filetriggername,
        Index::Transfiletriggername,
        Index::Recommendname,
        Index::Suggestname,
        Index::Supplementname,
        Index::Enhancename,
    ];

    /// The table's name: rpm's tag name, capitalized.
    pub fn table(self) -> &'static str {
        match self {
            Index::Name => "Name",
            Index::Basenames => "Basenames",
            Index::Group => "Group",
            Index::Requirename => "Requirename",
            Index::Providename => "Providename",
            Index::Conflictname => "Conflictname",
            Index::Obsoletename => "Obsoletename",
            Index::Triggername => "Triggername",
            Index::Dirnames => "Dirnames",
            Index::Installtid => "Installtid",
            Index::Sigmd5 => "Sigmd5",
            Index::Sha1header => "Sha1header",
            Index::Filetriggername => "Filetriggername",
            Index::Transfiletriggername => "Transfiletriggername",
            Index::Recommendname => "Recommendname",
            Index::Suggestname => "Suggestname",
            Index::Supplementname => "Supplementname",
            Index::Enhancename => "Enhancename",
        }
    }

    pub fn tag(self) -> u32 {
        match self {
            Index::Name => NAME,
            Index::Basenames => BASENAMES,
            Index::Group => GROUP,
            Index::Requirename => REQUIRENAME,
            Index::Providename => PROVIDENAME,
            Index::Conflictname => CONFLICTNAME,
            Index::Obsoletename => OBSOLETENAME,
            Index::Triggername => TRIGGERNAME,
            Index::Dirnames => DIRNAMES,
            Index::Installtid => INSTALLTID,
            Index::Sigmd5 => SIGMD5,
            Index::Sha1header => SHA1HEADER,
            Index::Filetriggername => FILETRIGGERNAME,
            Index::Transfiletriggername => TRANSFILETRIGGERNAME,
            Index::Recommendname => RECOMMENDNAME,
            Index::Suggestname => SUGGESTNAME,
            Index::Supplementname => SUPPLEMENTNAME,
            Index::Enhancename => ENHANCENAME,
        }
    }

    /// Keys of string tags are TEXT, the others (an INT32, a BIN) BLOB.
    pub fn text_keys(self) -> bool {
        !matches!(self, Index::Installtid | Index::Sigmd5)
    }

    /// Whether the tag is an array, so that rows are also indexed by `hnum`.
    pub(super) fn is_array(self) -> bool {
        !matches!(self, Index::Name | Index::Group | Index::Installtid | Index::Sigmd5 | Index::Sha1header)
    }

    /// Rich dependencies are expanded in these (not in provides or obsoletes).
    fn expands_rich(self) -> bool {
        matches!(
            self,
            Index::Requirename
                | Index::Conflictname
                | Index::Suggestname
                | Index::Supplementname
                | Index::Recommendname
                | Index::Enhancename
        )
    }
}

/// Byte order of integer keys: rpm keys `Installtid` by the tid in the
/// byte order of the machine that wrote the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    pub fn native() -> ByteOrder {
        if cfg!(target_endian = "big") { ByteOrder::Big } else { ByteOrder::Little }
    }

    /// The byte order of a machine architecture (not a package's, which may be `noarch`).
    pub fn of_arch(machine_arch: &str) -> ByteOrder {
        let big = machine_arch.starts_with("s390")
            || matches!(machine_arch, "ppc" | "ppc64" | "ppc64p7" | "ppc64pseries" | "ppc64iseries" | "m68k")
            || machine_arch.starts_with("sparc")
            || matches!(machine_arch, "mips" | "mips64" | "mipsr6" | "mips64r6" | "armv4b");
        if big { ByteOrder::Big } else { ByteOrder::Little }
    }
}

/// One row of an index table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexRow {
    /// The key's bytes: a string without its NUL, or the binary value.
    pub key: Vec<u8>,
    pub hnum: u32,
    pub idx: u32,
}

/// `isTransientReq`: requirements needed only while installing
/// (scriptlet, rpmlib and pre/posttrans ones, not also needed on erase,
/// not `meta`), which rpm leaves out of `Requirename`.
fn is_transient_requirement(flags: u32) -> bool {
    const PREREQ: u32 = 1 << 6;
    const POSTTRANS: u32 = 1 << 5;
    const PRETRANS: u32 = 1 << 7;
    const SCRIPT_PRE: u32 = 1 << 9;
    const SCRIPT_POST: u32 = 1 << 10;
    const SCRIPT_PREUN: u32 = 1 << 11;
    const SCRIPT_POSTUN: u32 = 1 << 12;
    const RPMLIB: u32 = 1 << 24;
    const KEYRING: u32 = 1 << 26;
    const META: u32 = 1 << 29;
    let install_only = (SCRIPT_PRE | SCRIPT_POST | RPMLIB | KEYRING | PRETRANS | POSTTRANS) & !PREREQ;
    let erase_only = (SCRIPT_PREUN | SCRIPT_POSTUN) & !PREREQ;
    flags & install_only != 0 && flags & erase_only == 0 && flags & META == 0
}

/// The rows rpm adds to `index` for the header stored as `hnum`.
pub fn index_rows(index: Index, header: &InstalledHeader, hnum: u32, order: ByteOrder) -> Vec<IndexRow> {
    let row = |key: Vec<u8>, idx: u32| IndexRow { key, hnum, idx };
    let Some(entry) = header.get(index.tag()) else {
        // rpm keeps an unset group as `Unknown`.
        return match index {
            Index::Group => vec![row(b"Unknown".to_vec(), 0)],
            _ => Vec::new(),
        };
    };
    match entry.ty {
        TagType::Bin => return vec![row(entry.data.to_vec(), 0)],
        TagType::Int32 => {
            let values = entry.u32s().unwrap_or_default();
            return values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let key = match order {
                        ByteOrder::Little => v.to_le_bytes(),
                        ByteOrder::Big => v.to_be_bytes(),
                    };
                    row(key.to_vec(), i as u32)
                })
                .collect();
        }
        TagType::String | TagType::StringArray | TagType::I18nString => {}
        // No index tag has another type in a sane header; rpm would key
        // them by their raw items, which nothing looks up.
        _ => return Vec::new(),
    }
    let mut names = entry.strings().unwrap_or_default();
    // An I18NSTRING is looked up in the C locale: one string.
    if entry.ty != TagType::StringArray {
        names.truncate(1);
    }
    let requirement_flags = match index {
        Index::Requirename => header.u32s(REQUIREFLAGS),
        _ => None,
    };
    let trigger_index = match index {
        Index::Filetriggername => Some(header.u32s(FILETRIGGERINDEX).unwrap_or_default()),
        Index::Transfiletriggername => Some(header.u32s(TRANSFILETRIGGERINDEX).unwrap_or_default()),
        _ => None,
    };
    let mut rows = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let idx = match &trigger_index {
            // rpm reads past a short trigger index; stop there instead.
            Some(indexes) => match indexes.get(i) {
                Some(&t) => t,
                None => break,
            },
            None => i as u32,
        };
        if let Some(flags) = requirement_flags.as_ref().and_then(|f| f.get(i))
            && is_transient_requirement(*flags)
        {
            continue;
        }
        if index == Index::Triggername && names[..i].contains(name) {
            continue;
        }
        rows.push(row(name.to_vec(), idx));
        if index.expands_rich() && entry.ty == TagType::StringArray && name.first() == Some(&b'(') {
            for part in rich_index_names(name) {
                rows.push(row(part, idx));
            }
        }
    }
    rows
}

/// `updateRichDep`: the package names in a rich dependency, sorted and
/// without duplicates; names in a condition (`if`/`unless`) get a `!`
/// prefix, and an `else` branch repeats the condition's names inverted.
/// Empty when the expression does not parse, as in rpm.
pub fn rich_index_names(dependency: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(dependency) else { return Vec::new() };
    let Ok(tree) = RichDep::parse(text) else { return Vec::new() };
    let mut walk = RichWalk { names: Vec::new(), negated: false };
    walk.group(&tree);
    let mut names = walk.names;
    // rpm's argvSort: strcmp order, so ` name` sorts before `!name`.
    names.sort();
    names.dedup();
    names.into_iter().map(|n| if n.first() == Some(&b' ') { n[1..].to_vec() } else { n }).collect()
}

/// Replays the callbacks of rpm's `rpmrichParse` on a parsed tree:
/// every `(...)` group enters and leaves, operands come in order with
/// their operators between them.
struct RichWalk {
    /// Names prefixed with ` ` or `!`.
    names: Vec<Vec<u8>>,
    negated: bool,
}

impl RichWalk {
    fn simple(&mut self, name: &str) {
        if name.is_empty() || (name.len() > 7 && name.starts_with("rpmlib(")) {
            return;
        }
        let mut out = vec![if self.negated { b'!' } else { b' ' }];
        out.extend_from_slice(name.as_bytes());
        self.names.push(out);
    }

    fn operand(&mut self, dep: &RichDep) {
        match dep {
            RichDep::Atom(atom) => self.simple(&atom.name),
            group => self.group(group),
        }
    }

    /// One parenthesized group. `saved` is where the current condition's
    /// names start (rpm's `nargv_level` for this level).
    fn group(&mut self, dep: &RichDep) {
        match dep {
            RichDep::Atom(atom) => self.simple(&atom.name),
            RichDep::And { args } | RichDep::Or { args } | RichDep::With { args } => {
                for arg in args {
                    self.operand(arg);
                }
            }
            RichDep::Without { left, right } => {
                self.operand(left);
                self.operand(right);
            }
            RichDep::If { then, condition, otherwise } | RichDep::Unless { then, condition, otherwise } => {
                self.operand(then);
                // The `if`/`unless` operator.
                let saved = self.names.len();
                self.negated = !self.negated;
                self.operand(condition);
                if let Some(otherwise) = otherwise {
                    // `else`: the condition's names again, inverted.
                    let inverted: Vec<Vec<u8>> = self.names[saved..]
                        .iter()
                        .map(|n| {
                            let mut n = n.clone();
                            n[0] = if n[0] == b'!' { b' ' } else { b'!' };
                            n
                        })
                        .collect();
                    self.names.extend(inverted);
                    self.negated = !self.negated;
                    self.operand(otherwise);
                }
                // Leaving a group whose first operator is `if`/`unless`
                // flips the sign once more (even after an `else`), as rpm does.
                self.negated = !self.negated;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dep: &str) -> Vec<String> {
        rich_index_names(dep.as_bytes()).into_iter().map(|n| String::from_utf8_lossy(&n).into_owned()).collect()
    }

    /// Rows rpm 4.18 wrote for these dependencies (read back from its database).
    #[test]
    fn rich_dependencies_expand_as_rpm_does() {
        assert_eq!(names("((pkgS or pkgT) and pkgU)"), ["pkgS", "pkgT", "pkgU"]);
        assert_eq!(names("(pkgBB >= 2.0 or pkgCC >= 3.0)"), ["pkgBB", "pkgCC"]);
        assert_eq!(names("(pkgE if pkgF)"), ["pkgE", "!pkgF"]);
        assert_eq!(names("(pkgG if pkgH else pkgI)"), ["pkgG", "pkgH", "pkgI", "!pkgH"]);
        assert_eq!(names("(pkgQ without pkgR)"), ["pkgQ", "pkgR"]);
        assert_eq!(
            names("(bobloblaw >= 1.1 if maritimelaw else anyone < 0.5.1-2)"),
            ["anyone", "bobloblaw", "maritimelaw", "!maritimelaw"]
        );
        assert_eq!(
            names("((hiding and illusion) unless alliance-of-magicians)"),
            ["hiding", "illusion", "!alliance-of-magicians"]
        );
        assert_eq!(names("(pkgL unless pkgM else pkgN)"), ["pkgL", "pkgM", "pkgN", "!pkgM"]);
        assert_eq!(names("(foo or rpmlib(RichDependencies))"), ["foo"]);
        assert!(names("(broken").is_empty());
        // After an if-else group rpm leaves the sign flipped for what follows.
        assert_eq!(names("((a if b else c) and d)"), ["a", "b", "c", "!b", "!d"]);
    }

    #[test]
    fn transient_requirements() {
        assert!(is_transient_requirement(1 << 24)); // rpmlib
        assert!(is_transient_requirement(1 << 10)); // post
        assert!(!is_transient_requirement((1 << 10) | (1 << 12))); // post and postun
        assert!(!is_transient_requirement(0));
        assert!(!is_transient_requirement(1 << 6)); // legacy prereq
        assert!(!is_transient_requirement((1 << 9) | (1 << 29))); // pre, meta
    }
}
