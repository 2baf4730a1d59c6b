//! The config file's shape. Every struct rejects unknown keys, so a typo is an error and
//! not a silently ignored setting. Doc comments here are the user documentation.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub defaults: Defaults,
    /// Redis servers to probe.
    #[serde(default)]
    pub redis: Vec<RedisTarget>,
    /// Celery brokers whose queues (and, on Redis, task events) to watch.
    #[serde(default)]
    pub celery: Vec<CeleryTarget>,
}

/// `[web]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address to serve HTTP on. Default `0.0.0.0:10089` (the 9100-9999 range of
    /// Prometheus's default port allocations is exhausted; see the README).
    #[serde(default = "default_listen_address")]
    pub listen_address: String,
}

pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:10089";

fn default_listen_address() -> String {
    DEFAULT_LISTEN_ADDRESS.to_owned()
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { listen_address: default_listen_address() }
    }
}

/// `[defaults]`: settings every target inherits unless it sets its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Probe timeout when the scrape carries no `X-Prometheus-Scrape-Timeout-Seconds`
    /// header (with the header, the header less half a second wins). Default `5s`.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// How often keys are rediscovered (stream patterns, Kombu bindings); between
    /// discoveries the list is cached, so scrapes stay cheap. Default `30s`.
    #[serde(default = "default_discovery_interval", deserialize_with = "duration")]
    pub discovery_interval: Duration,
    /// Most keys one discovery may return (streams, channels, queues); more is reported
    /// by `tickwatch_discovery_truncated`. Default 10000.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_discovery_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_max_keys() -> usize {
    10_000
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: default_timeout(),
            discovery_interval: default_discovery_interval(),
            max_keys: default_max_keys(),
        }
    }
}

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

/// `[[celery]]`: one Celery broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeleryTarget {
    /// Unique target name.
    pub name: String,
    /// `redis://...` or `amqp://...` (RabbitMQ).
    pub broker: String,
    /// Queues to report.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Also find queues from Kombu's bindings (Redis brokers only).
    #[serde(default)]
    pub discover: bool,
    /// Consume the Celery event stream for task counters, runtimes and worker liveness
    /// (Redis brokers only; workers must run with `-E`).
    #[serde(default)]
    pub events: bool,
    /// Kombu priority steps whose sub-queues count toward a queue's length. Default
    /// every step 0-9, which is right whatever the app configured; Kombu's own default
    /// is `[0, 3, 6, 9]` and narrowing to it saves round trips.
    #[serde(default = "all_priority_steps")]
    pub priority_steps: Vec<u8>,
    /// Most distinct task names tracked; later names are counted as `other`. Default 500.
    #[serde(default = "default_max_task_names")]
    pub max_task_names: usize,
    /// Most workers tracked. Default 500.
    #[serde(default = "default_max_workers")]
    pub max_workers: usize,
    /// A worker with no heartbeat for this long is down (`celery_worker_up 0`).
    /// Default `10s` (workers beat every 2 s).
    #[serde(default = "default_worker_timeout", deserialize_with = "duration")]
    pub worker_timeout: Duration,
    /// A worker down for this long is forgotten: its series go away. Default `10m`.
    #[serde(default = "default_worker_forget_after", deserialize_with = "duration")]
    pub worker_forget_after: Duration,
}

fn all_priority_steps() -> Vec<u8> {
    (0..=9).collect()
}

fn default_max_task_names() -> usize {
    500
}

fn default_max_workers() -> usize {
    500
}

fn default_worker_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_worker_forget_after() -> Duration {
    Duration::from_secs(600)
}

/// Reads `"5s"`, `"250ms"`, `"1m 30s"`.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!("`{text}` is not a duration ({e}); write e.g. \"5s\" or \"250ms\""))
    })
}
