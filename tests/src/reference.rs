//! Checks that a reference config (an example file) documents every key.

/// What a reference config (an example file meant to document every key) leaves out.
pub struct Reference<'a> {
    text: &'a str,
    missing: Vec<String>,
}

impl<'a> Reference<'a> {
    pub fn new(text: &'a str) -> Reference<'a> {
        Reference { text, missing: Vec::new() }
    }

    /// Requires every one of `keys` of `section` to be set or documented: `key = ...`
    /// (possibly behind `#`), `{ key = ... }` inline, or for a table its header (`[key]`,
    /// `[[key]]`). Panics when `keys` is empty: the type was not read.
    pub fn require(&mut self, section: &str, keys: Vec<String>) -> &mut Self {
        assert!(!keys.is_empty(), "no keys found for {section}");
        let missing: Vec<String> =
            keys.into_iter().filter(|k| !self.documents(k)).map(|k| format!("{section}.{k}")).collect();
        self.missing.extend(missing);
        self
    }

    /// Requires `text` to appear somewhere (a kind's name, a fault's name).
    pub fn mention(&mut self, what: &str, text: &str) -> &mut Self {
        if !self.text.contains(text) {
            self.missing.push(format!("{what} {text}"));
        }
        self
    }

    fn documents(&self, key: &str) -> bool {
        self.text.contains(&format!("[{key}]"))
            || self.text.lines().any(|line| {
                let line = line.trim_start_matches(['#', ' ']);
                line.starts_with(&format!("{key} ="))
                    || line.contains(&format!("{{ {key} ="))
                    || line.contains(&format!(", {key} ="))
            })
    }

    /// Everything required and not there, as `section.key` (or `what text`).
    pub fn missing(&self) -> &[String] {
        &self.missing
    }
}
