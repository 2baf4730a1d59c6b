//! The exporter's one TOML file: what to listen on, default timeouts, and the targets.
//!
//! Loading collects every problem it can find (file, key, why) instead of stopping at
//! the first, so `--check-config` shows a reviewer the whole list at once. `${VAR}` in
//! any string is replaced from the environment (for passwords); URLs are only ever shown
//! with their credentials masked.

mod load;
mod model;

pub use load::{check_redis, check_tls, check_url, load, parse, read, tls_context};
pub use model::{Config, Defaults, Target, Targets, WebConfig};
pub use tickwatch_common::redact::redact_url;

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

/// Where a target's checks report their problems: every problem names the key inside
/// the target (`redis[0].url`), so no check builds key paths by hand.
pub struct TargetProblems<'a> {
    key: String,
    problems: &'a mut Vec<Problem>,
}

impl<'a> TargetProblems<'a> {
    /// Problems of the target at `key` (e.g. `redis[0]`), added to `problems`.
    pub fn new(key: &str, problems: &'a mut Vec<Problem>) -> TargetProblems<'a> {
        TargetProblems { key: key.to_owned(), problems }
    }

    /// The problems of the table at `field` inside the target (e.g. `source`), so shared
    /// checks name their keys inside it.
    pub fn within(&mut self, field: &str) -> TargetProblems<'_> {
        TargetProblems { key: format!("{}.{field}", self.key), problems: self.problems }
    }

    /// A problem with the target's `field` (a dotted path inside it, e.g. `source.url`).
    pub fn at(&mut self, field: &str, why: impl Into<String>) {
        self.problems.push(Problem { key: format!("{}.{field}", self.key), why: why.into() });
    }

    /// How many problems the whole file has so far.
    pub fn count(&self) -> usize {
        self.problems.len()
    }

    /// A problem with the target as a whole.
    pub fn whole(&mut self, why: impl Into<String>) {
        self.problems.push(Problem { key: self.key.clone(), why: why.into() });
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
