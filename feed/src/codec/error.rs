use std::fmt;
use std::path::PathBuf;

/// A record that could not be read, with where it was and which field was wrong.
#[derive(Debug, thiserror::Error)]
pub struct DecodeError {
    /// The file it came from, when it came from a file.
    pub file: Option<PathBuf>,
    /// 1-based line number, when the input has lines.
    pub line: Option<u64>,
    /// Path of the offending field (`price`, `rows[3].call.bid`), when one can be named.
    pub field: Option<String>,
    /// What was wrong, in the parser's words.
    pub message: String,
}

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DecodeError { file: None, line: None, field: None, message: message.into() }
    }

    pub(crate) fn at(mut self, file: Option<&PathBuf>, line: u64) -> Self {
        self.file = file.cloned();
        self.line = Some(line);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(line)) => write!(f, "line {line}: ",)?,
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}
