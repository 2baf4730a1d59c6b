//! The exporter's one TOML file: what to listen on, default timeouts, and the targets.
//!
//! Loading collects every problem it can find (file, key, why) instead of stopping at
//! the first, so `--check-config` shows a reviewer the whole list at once. `${VAR}` in
//! any string is replaced from the environment (for passwords); URLs are only ever shown
//! with their credentials masked.

mod env;
mod load;
mod model;
mod redact;

pub use load::{check_url, keys_of, load, parse, read};
pub use model::{Config, Defaults, Target, Targets, WebConfig};
pub use redact::redact_url;

use std::fmt;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the offending key (`redis[0].url`), or empty for the whole file.
    pub key: String,
    pub why: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() { f.write_str(&self.why) } else { write!(f, "{}: {}", self.key, self.why) }
    }
}

/// Every problem of one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {p}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
