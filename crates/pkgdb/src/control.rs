//! deb822 paragraphs: the format of a package's `DEBIAN/control`, of apt's
//! `Packages` and `Release` indexes and of dpkg's `status` database.
//!
//! Fields keep their order and their spelling; lookups ignore ASCII case,
//! as dpkg's and apt's do. A value keeps its continuation lines verbatim
//! (each still starting with its space or tab), so folded fields such as
//! `Depends` and multiline ones such as `Description` both round-trip.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// One `Name: value` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// The fields of one paragraph, in file order; no name appears twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<Field>,
}

impl Paragraph {
    /// The value of `name`, compared without regard to ASCII case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| f.value.as_str())
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Serialized as a JSON object whose keys keep the file's order.
impl Serialize for Paragraph {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for f in &self.fields {
            map.serialize_entry(&f.name, &f.value)?;
        }
        map.end()
    }
}

impl fmt::Display for Paragraph {
    /// The paragraph in deb822 form, each field on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for field in &self.fields {
            if field.value.starts_with('\n') {
                writeln!(f, "{}:{}", field.name, field.value)?;
            } else {
                writeln!(f, "{}: {}", field.name, field.value)?;
            }
        }
        Ok(())
    }
}

/// Which deb822 dialect a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `DEBIAN/control`, `Packages`, `Release`, dpkg `status`: no comments.
    Strict,
    /// Hand-written files such as `debian/control`: lines starting with `#` are skipped.
    AllowComments,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("the text is not UTF-8")]
    NotUtf8,
    #[error("line {line}: a continuation line comes before any field")]
    ContinuationFirst { line: usize },
    #[error("line {line}: `{text}` is not a `Name: value` field")]
    MissingColon { line: usize, text: String },
    #[error("line {line}: `{name}` is not a valid field name")]
    BadFieldName { line: usize, name: String },
    #[error("line {line}: field `{name}` appears twice in one paragraph")]
    DuplicateField { line: usize, name: String },
    #[error("line {line}: comments are not allowed here")]
    Comment { line: usize },
    #[error("there is no paragraph")]
    Empty,
    #[error("line {line}: a second paragraph starts where only one is allowed")]
    SeveralParagraphs { line: usize },
}

/// Parses text that must hold exactly one paragraph (blank lines around it
/// are allowed), such as a binary package's `DEBIAN/control`.
pub fn parse_paragraph(text: &[u8], syntax: Syntax) -> Result<Paragraph, ControlError> {
    let mut parser = Parser::new(text, syntax)?;
    let paragraph = parser.next_paragraph()?.ok_or(ControlError::Empty)?;
    match parser.next_paragraph()? {
        Some(_) => Err(ControlError::SeveralParagraphs { line: parser.paragraph_start }),
        None => Ok(paragraph),
    }
}

/// Parses every paragraph of a file such as `Packages` or dpkg's `status`.
pub fn parse_paragraphs(text: &[u8], syntax: Syntax) -> Result<Vec<Paragraph>, ControlError> {
    let mut parser = Parser::new(text, syntax)?;
    let mut all = Vec::new();
    while let Some(p) = parser.next_paragraph()? {
        all.push(p);
    }
    Ok(all)
}

struct Parser<'a> {
    lines: std::iter::Enumerate<std::str::Split<'a, char>>,
    syntax: Syntax,
    /// 1-based line where the last paragraph returned started.
    paragraph_start: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a [u8], syntax: Syntax) -> Result<Self, ControlError> {
        let text = std::str::from_utf8(text).map_err(|_| ControlError::NotUtf8)?;
        Ok(Parser { lines: text.split('\n').enumerate(), syntax, paragraph_start: 0 })
    }

    fn next_paragraph(&mut self) -> Result<Option<Paragraph>, ControlError> {
        let mut fields: Vec<Field> = Vec::new();
        for (index, line) in self.lines.by_ref() {
            let number = index + 1;
            if line.starts_with('#') {
                match self.syntax {
                    Syntax::AllowComments => continue,
                    Syntax::Strict => return Err(ControlError::Comment { line: number }),
                }
            }
            if line.chars().all(|c| c == ' ' || c == '\t') {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                let last = fields.last_mut().ok_or(ControlError::ContinuationFirst { line: number })?;
                last.value.push('\n');
                last.value.push_str(line.trim_end());
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| ControlError::MissingColon { line: number, text: line.escape_debug().to_string() })?;
            if !valid_field_name(name) {
                return Err(ControlError::BadFieldName { line: number, name: name.escape_debug().to_string() });
            }
            if fields.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
                return Err(ControlError::DuplicateField { line: number, name: name.to_owned() });
            }
            if fields.is_empty() {
                self.paragraph_start = number;
            }
            fields.push(Field { name: name.to_owned(), value: value.trim().to_owned() });
        }
        Ok((!fields.is_empty()).then_some(Paragraph { fields }))
    }
}

/// deb822(5): printable US-ASCII except space and colon, not starting with
/// `#` or `-`.
fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with(['#', '-']) && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_order_case_and_continuations() {
        let text = b"Package: htop\nversion: 3.2.2-2\nDepends: libc6 (>= 2.34),\n libncursesw6\nDescription: viewer\n Long\n .\n more\n";
        let p = parse_paragraph(text, Syntax::Strict).expect("parses");
        let names: Vec<&str> = p.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Package", "version", "Depends", "Description"]);
        assert_eq!(p.get("VERSION"), Some("3.2.2-2"));
        assert_eq!(p.get("depends"), Some("libc6 (>= 2.34),\n libncursesw6"));
        assert_eq!(p.get("Description"), Some("viewer\n Long\n .\n more"));
        assert_eq!(p.get("Missing"), None);
        let again = parse_paragraph(p.to_string().as_bytes(), Syntax::Strict).expect("round trip");
        assert_eq!(again, p);
    }

    #[test]
    fn empty_first_line_value() {
        let p = parse_paragraph(b"Conffiles:\n /etc/a 0123\n /etc/b 4567\n", Syntax::Strict).expect("parses");
        assert_eq!(p.get("Conffiles"), Some("\n /etc/a 0123\n /etc/b 4567"));
        assert_eq!(parse_paragraph(p.to_string().as_bytes(), Syntax::Strict).expect("round trip"), p);
    }

    #[test]
    fn several_paragraphs() {
        let text = b"\n\nPackage: a\n\n \t\nPackage: b\nVersion: 1\n\n";
        let all = parse_paragraphs(text, Syntax::Strict).expect("parses");
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].get("version"), Some("1"));
        assert_eq!(parse_paragraph(text, Syntax::Strict), Err(ControlError::SeveralParagraphs { line: 6 }));
        assert_eq!(parse_paragraphs(b"", Syntax::Strict).expect("empty"), vec![]);
        assert_eq!(parse_paragraph(b"\n\n", Syntax::Strict), Err(ControlError::Empty));
    }

    #[test]
    fn comments_only_where_allowed() {
        let text = b"# a comment\nPackage: a\n#another\nVersion: 1\n";
        assert_eq!(parse_paragraph(text, Syntax::Strict), Err(ControlError::Comment { line: 1 }));
        let p = parse_paragraph(text, Syntax::AllowComments).expect("comments skipped");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn malformed_input_is_refused() {
        let bad: &[(&[u8], ControlError)] = &[
            (b" leading: x\n", ControlError::ContinuationFirst { line: 1 }),
            (b"Package: a\nno colon here\n", ControlError::MissingColon { line: 2, text: "no colon here".into() }),
            (b"Package: a\npackage: b\n", ControlError::DuplicateField { line: 2, name: "package".into() }),
            (b"Pack age: a\n", ControlError::BadFieldName { line: 1, name: "Pack age".into() }),
            (b"-Package: a\n", ControlError::BadFieldName { line: 1, name: "-Package".into() }),
            (b": a\n", ControlError::BadFieldName { line: 1, name: "".into() }),
            (b"Package: \xff\n", ControlError::NotUtf8),
        ];
        for (text, expected) in bad {
            assert_eq!(parse_paragraph(text, Syntax::Strict).as_ref(), Err(expected), "{}", text.escape_ascii());
        }
    }

    #[test]
    fn serializes_in_order() {
        let p = parse_paragraph(b"Zeta: 1\nAlpha: 2\n", Syntax::Strict).expect("parses");
        assert_eq!(serde_json::to_string(&p).expect("json"), r#"{"Zeta":"1","Alpha":"2"}"#);
    }
}
