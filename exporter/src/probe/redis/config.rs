//! `[[redis]]`: the Redis probe's targets.

use crate::config::{Config, Target, TargetProblems, check_url};
use serde::Deserialize;

/// `[[redis]]`: one Redis server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTarget {
    /// Unique target name: the `target` label and the `/probe?target=` value.
    pub name: String,
    /// `redis://[user:password@]host:port/db` or `rediss://...`.
    pub url: String,
    /// Glob patterns (Redis MATCH syntax) of streams to report length and last-entry age for.
    #[serde(default)]
    pub streams: Vec<String>,
    /// Glob patterns of pub/sub channels to report subscribers for.
    #[serde(default)]
    pub channels: Vec<String>,
}

impl Target for RedisTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, _config: &Config, problems: &mut TargetProblems) {
        if let Err(why) = check_url(&self.url, &["redis", "rediss"]) {
            problems.at("url", why);
        }
    }
}
