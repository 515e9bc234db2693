//! Versions and relation fields as dpkg writes them back: dpkg parses
//! these fields and prints its own form, so `0:1.0` becomes `1.0` and a
//! folded `Depends` becomes one line with `, ` and ` | ` between terms.

use crate::deb::relation::{RelationError, parse_relations};

/// A version as dpkg's `varbufversion(..., vdew_nonambig)` prints it: the
/// epoch only when it is not zero or when the rest holds a colon.
pub(crate) fn normalize_version(version: &str) -> String {
    let version = version.trim_matches([' ', '\t']);
    let Some((epoch, rest)) = version.split_once(':') else {
        return version.to_owned();
    };
    let epoch = epoch.trim_start_matches('0');
    if epoch.is_empty() && !rest.contains(':') {
        rest.to_owned()
    } else {
        format!("{}:{rest}", if epoch.is_empty() { "0" } else { epoch })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationFormatError {
    #[error("cannot parse the relation")]
    Parse(#[source] RelationError),
    #[error("`{name}` has an architecture or build-profile restriction, which only source packages may use")]
    Restriction { name: String },
}

/// A binary package's relation field as dpkg's `w_dependency` prints it.
pub(crate) fn normalize_relations(text: &str) -> Result<String, RelationFormatError> {
    let groups = parse_relations(text).map_err(RelationFormatError::Parse)?;
    let mut out = String::new();
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for (j, relation) in group.iter().enumerate() {
            if !relation.architectures.is_empty() || !relation.profiles.is_empty() {
                return Err(RelationFormatError::Restriction { name: relation.name.clone() });
            }
            if j > 0 {
                out.push_str(" | ");
            }
            out.push_str(&relation.name);
            if let Some(arch) = &relation.arch_qualifier {
                out.push(':');
                out.push_str(arch);
            }
            if let Some(constraint) = &relation.version {
                out.push_str(" (");
                out.push_str(constraint.op.as_str());
                out.push(' ');
                out.push_str(&normalize_version(&constraint.version));
                out.push(')');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_print_as_dpkg_does() {
        for (given, printed) in [
            ("1.0-1", "1.0-1"),
            ("0:1.0-1", "1.0-1"),
            ("00:1.0", "1.0"),
            ("1:2.0", "1:2.0"),
            ("01:2.0", "1:2.0"),
            ("0:1:2-3", "0:1:2-3"),
            (" 2.0 ", "2.0"),
        ] {
            assert_eq!(normalize_version(given), printed, "{given}");
        }
    }

    #[test]
    fn relations_print_as_dpkg_does() {
        let text = "libc6 (>= 2.34),\n libfoo(<<0:1.0) |libbar:any, python3:any (> 3.11), , x (=1:2)";
        assert_eq!(
            normalize_relations(text).expect("parses"),
            "libc6 (>= 2.34), libfoo (<< 1.0) | libbar:any, python3:any (>= 3.11), x (= 1:2)"
        );
        assert!(matches!(normalize_relations("a [amd64]"), Err(RelationFormatError::Restriction { .. })));
        assert!(matches!(normalize_relations("a (>= "), Err(RelationFormatError::Parse(_))));
    }
}
