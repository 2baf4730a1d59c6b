//! `[[redis]]`: the Redis probe's targets.

use crate::config::{Config, Target, TargetProblems, check_redis, tls_context};
use serde::Deserialize;
use tickwatch_common::tls::TlsConfig;

/// `[[redis]]`: one Redis server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTarget {
    /// Unique target name: the `target` label and the `/probe?target=` value.
    pub name: String,
    /// `redis://[user:password@]host:port/db` or `rediss://...` (TLS); an ACL user is
    /// `rediss://user:password@host:port`.
    pub url: String,
    /// TLS for `rediss://`: `{ ca_file, cert_file, key_file, insecure_skip_verify }`
    /// (Prometheus's names; `server_name` is not supported: the driver verifies the URL's
    /// host). Without it the public web roots are trusted.
    pub tls_config: Option<TlsConfig>,
    /// Glob patterns (Redis MATCH syntax) of streams to report length and last-entry age for.
    #[serde(default)]
    pub streams: Vec<String>,
    /// Glob patterns of pub/sub channels to report subscribers for.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Also report each consumer of the matched streams' consumer groups (pending
    /// entries, idle seconds): one series per consumer, so off by default.
    #[serde(default)]
    pub stream_consumers: bool,
}

impl Target for RedisTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, _config: &Config, problems: &mut TargetProblems) {
        check_redis(&self.url, "url", self.tls_config.as_ref(), problems);
    }

    fn tls_context(&self) -> Option<String> {
        tls_context(&self.url, self.tls_config.as_ref(), &["rediss"])
    }
}
