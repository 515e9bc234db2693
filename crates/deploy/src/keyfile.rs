//! GLib key files (`[group]` then `key=value`), as origin files use them.
//! Comments, order and unknown keys survive a rewrite, so a tool that
//! adds its own keys to an origin does not lose them to us.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFile {
    /// Lines before the first group (comments, blank lines).
    preamble: Vec<String>,
    groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    name: String,
    /// `Some((key, value))` for entries, `None` for a comment or blank line
    /// kept verbatim in `raw`.
    lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Entry(String, String),
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
}

impl KeyFile {
    pub fn parse(text: &str) -> Result<KeyFile, ParseError> {
        let mut kf = KeyFile::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(name) = line.strip_prefix('[') {
                let name =
                    name.strip_suffix(']').ok_or(ParseError { line: i + 1, reason: "unterminated group name" })?;
                kf.groups.push(Group { name: name.to_owned(), lines: Vec::new() });
            } else if line.is_empty() || line.starts_with('#') {
                match kf.groups.last_mut() {
                    Some(g) => g.lines.push(Line::Other(raw.to_owned())),
                    None => kf.preamble.push(raw.to_owned()),
                }
            } else {
                let (k, v) = line.split_once('=').ok_or(ParseError { line: i + 1, reason: "expected key=value" })?;
                let group = kf.groups.last_mut().ok_or(ParseError { line: i + 1, reason: "key outside a group" })?;
                group.lines.push(Line::Entry(k.trim().to_owned(), v.trim_start().to_owned()));
            }
        }
        Ok(kf)
    }

    pub fn get(&self, group: &str, key: &str) -> Option<&str> {
        self.groups.iter().filter(|g| g.name == group).flat_map(|g| g.lines.iter()).rev().find_map(|l| match l {
            Line::Entry(k, v) if k == key => Some(v.as_str()),
            _ => None,
        })
    }

    /// A `;`-separated list, as GLib writes string lists.
    pub fn get_list(&self, group: &str, key: &str) -> Vec<String> {
        self.get(group, key)
            .map(|v| v.split(';').filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    pub fn get_bool(&self, group: &str, key: &str) -> bool {
        self.get(group, key) == Some("true")
    }

    pub fn set(&mut self, group: &str, key: &str, value: &str) {
        let g = match self.groups.iter_mut().position(|g| g.name == group) {
            Some(i) => &mut self.groups[i],
            None => {
                self.groups.push(Group { name: group.to_owned(), lines: Vec::new() });
                self.groups.last_mut().expect("just pushed")
            }
        };
        for line in &mut g.lines {
            if let Line::Entry(k, v) = line
                && k == key
            {
                *v = value.to_owned();
                return;
            }
        }
        g.lines.push(Line::Entry(key.to_owned(), value.to_owned()));
    }

    pub fn set_list(&mut self, group: &str, key: &str, values: &[String]) {
        if values.is_empty() {
            self.remove(group, key);
        } else {
            let mut v = values.join(";");
            v.push(';');
            self.set(group, key, &v);
        }
    }

    pub fn remove(&mut self, group: &str, key: &str) {
        for g in self.groups.iter_mut().filter(|g| g.name == group) {
            g.lines.retain(|l| !matches!(l, Line::Entry(k, _) if k == key));
        }
        self.groups.retain(|g| !g.lines.is_empty() || g.name != group);
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for l in &self.preamble {
            out.push_str(l);
            out.push('\n');
        }
        for g in &self.groups {
            out.push_str(&format!("[{}]\n", g.name));
            for l in &g.lines {
                match l {
                    Line::Entry(k, v) => out.push_str(&format!("{k}={v}\n")),
                    Line::Other(raw) => {
                        out.push_str(raw);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_comments_survive() {
        let text = "# made by hand\n[origin]\nrefspec=debian/12\ncustom-key=keep me\n\n[rpmostree]\nfoo=bar\n";
        let mut kf = KeyFile::parse(text).expect("parses");
        assert_eq!(kf.get("origin", "refspec"), Some("debian/12"));
        kf.set("origin", "refspec", "debian/13");
        kf.set_list("packages", "requested", &["htop".into(), "git".into()]);
        let out = kf.to_text();
        assert!(
            out.contains("custom-key=keep me")
                && out.contains("# made by hand")
                && out.contains("[rpmostree]\nfoo=bar")
        );
        let again = KeyFile::parse(&out).expect("reparses");
        assert_eq!(again.get_list("packages", "requested"), ["htop", "git"]);
        assert_eq!(again.get("origin", "refspec"), Some("debian/13"));
        assert!(KeyFile::parse("key=value").is_err());
        assert!(KeyFile::parse("[unterminated").is_err());
    }
}
