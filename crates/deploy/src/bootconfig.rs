//! Boot Loader Specification entries (`boot/loader.N/entries/*.conf`):
//! one `key value` per line. OSTree keeps its list of deployments here,
//! ordered by the `version` key, so these files are the sysroot's state.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootConfig {
    entries: Vec<(String, String)>,
}

impl BootConfig {
    pub fn parse(text: &str) -> BootConfig {
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.split_once(char::is_whitespace) {
                Some((k, v)) => (k.to_owned(), v.trim().to_owned()),
                None => (l.to_owned(), String::new()),
            })
            .collect();
        BootConfig { entries }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.entries.push((key.to_owned(), value)),
        }
    }

    pub fn to_text(&self) -> String {
        self.entries.iter().map(|(k, v)| format!("{k} {v}\n")).collect()
    }

    /// The value of `name=` among the kernel arguments in `options`.
    pub fn karg(&self, name: &str) -> Option<&str> {
        self.get("options")?.split_whitespace().find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
    }
}

/// Orders entries as OSTree does: by `version`, highest first, compared
/// like `strverscmp` for the plain numbers OSTree writes.
pub fn compare_for_listing(a: &BootConfig, b: &BootConfig) -> std::cmp::Ordering {
    let key = |c: &BootConfig| c.get("version").map(|v| (v.len(), v.to_owned()));
    match (key(a), key(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        let a = BootConfig::parse(
            "title Debian (ostree:0)\nversion 2\noptions root=x ostree=/ostree/boot.1/debian/abc/0 quiet\n",
        );
        let b = BootConfig::parse("version 10\n");
        assert_eq!(a.karg("ostree"), Some("/ostree/boot.1/debian/abc/0"));
        assert_eq!(compare_for_listing(&a, &b), std::cmp::Ordering::Greater, "10 sorts before 2");
        assert_eq!(BootConfig::parse(&a.to_text()), a);
    }
}
