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
    /// MongoDB servers (or replica-set members) to probe.
    #[serde(default)]
    pub mongodb: Vec<MongoTarget>,
    /// WebSocket gateways to probe or to keep a subscription to.
    #[serde(default)]
    pub websocket: Vec<WebSocketTarget>,
    /// Market-data feeds whose quality to score.
    #[serde(default)]
    pub feed: Vec<FeedTarget>,
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

/// `[[mongodb]]`: one MongoDB deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoTarget {
    /// Unique target name.
    pub name: String,
    /// `mongodb://[user:password@]host:port/?options` (`mongodb+srv://` is not supported:
    /// the exporter is built without a DNS resolver).
    pub uri: String,
    /// Databases to report `dbStats` for.
    #[serde(default)]
    pub databases: Vec<String>,
    /// Collections to report count, size and freshness for.
    #[serde(default)]
    pub collections: Vec<CollectionRef>,
}

/// One collection of a `[[mongodb]]` target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionRef {
    pub db: String,
    pub name: String,
    /// Field holding each document's time (a BSON date, epoch seconds/ms/us/ns, or an
    /// RFC 3339 string): the newest document's age says whether writers are alive; when
    /// the field is indexed, documents written in the last minute are counted too.
    pub time_field: Option<String>,
}

/// How a `[[websocket]]` target is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebSocketMode {
    /// At scrape time: connect, subscribe, wait for the first message, close.
    #[default]
    Probe,
    /// One subscription kept open in the background; scrapes read its counters.
    Monitor,
}

/// `[[websocket]]`: one WebSocket gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketTarget {
    /// Unique target name.
    pub name: String,
    /// `ws://` or `wss://` URL.
    pub url: String,
    #[serde(default)]
    pub mode: WebSocketMode,
    /// Text message sent right after connecting, e.g. a subscription request.
    pub subscribe: Option<String>,
    /// JSON pointer to the exchange time in each message (e.g. `/ts`, `/data/T`); its
    /// unit (s, ms, us, ns) is inferred from its size. Enables the payload lag histogram.
    pub timestamp_pointer: Option<String>,
    /// A frame or message larger than this closes the connection and counts an error.
    /// Default 1 MiB.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// PEM file with the CA certificates to trust for `wss://` instead of the public web
    /// roots (which are trusted when this is not set).
    pub ca_file: Option<String>,
    /// Accept any server certificate (testing only: the connection is then not
    /// authenticated).
    #[serde(default)]
    pub insecure: bool,
    /// Monitor mode: how often to send a ping; a ping unanswered by the next one counts
    /// as a missed pong. Default `10s`.
    #[serde(default = "default_ping_interval", deserialize_with = "duration")]
    pub ping_interval: Duration,
}

fn default_max_message_bytes() -> usize {
    1 << 20
}

fn default_ping_interval() -> Duration {
    Duration::from_secs(10)
}

/// What a feed carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    Trade,
    OptionChain,
}

/// How a feed's messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// tickwatch's canonical JSON (`tickwatch-loadgen gen` writes it).
    #[default]
    Tickwatch,
    /// Any JSON trade message, with `fields` saying where each field is.
    Mapped,
}

/// Where a feed's messages come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FeedSource {
    /// A Redis pub/sub channel, or a pattern when it holds `*`, `?` or `[`.
    RedisPubsub { url: String, channel: String },
    /// A Redis stream read from now on (XREAD), or as a consumer group when `group` is
    /// set (XREADGROUP, acknowledged). The message is the JSON in the entry's `field`.
    RedisStream {
        url: String,
        stream: String,
        group: Option<String>,
        #[serde(default = "default_stream_field")]
        field: String,
    },
    /// The messages of a `[[websocket]]` target in monitor mode.
    Websocket { target: String },
    /// Documents of a MongoDB collection, polled by `time_field`.
    Mongodb {
        target: String,
        db: String,
        collection: String,
        time_field: String,
        #[serde(default = "default_poll_interval", deserialize_with = "duration")]
        poll_interval: Duration,
    },
}

fn default_stream_field() -> String {
    "data".to_owned()
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}

/// Where each trade field is in a `mapped` message (JSON pointers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    pub symbol: String,
    /// Sequence number; without it the `gap` check does not run.
    pub seq: Option<String>,
    pub price: String,
    pub qty: String,
    /// Exchange time.
    pub ts: String,
    /// Unit of `ts`: `s`, `ms`, `us` or `ns`; inferred from its size when absent.
    pub ts_unit: Option<String>,
}

/// `[[feed]]`: one market-data feed to score.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedTarget {
    /// Unique name: the `feed` label.
    pub name: String,
    pub kind: FeedKind,
    pub source: FeedSource,
    #[serde(default)]
    pub format: FeedFormat,
    /// Required with `format = "mapped"`.
    pub fields: Option<FieldMap>,
    /// A symbol with no message for this long is `stale`. Default `10s`.
    #[serde(default = "default_stale_after", deserialize_with = "duration")]
    pub stale_after: Duration,
    /// Messages per symbol the score looks back over. Default 1000.
    #[serde(default = "default_score_window")]
    pub score_window: usize,
    /// Weight of each check in the score (check name to weight); unnamed checks weigh 1.
    #[serde(default)]
    pub weights: std::collections::BTreeMap<String, f64>,
    /// Most symbols (or underlyings) tracked; messages of further symbols are rejected
    /// with reason `symbol_cap`. Default 1000.
    #[serde(default = "default_max_symbols")]
    pub max_symbols: usize,
    /// Trades: median absolute deviations from the rolling median that make a spike.
    /// Default 10.
    #[serde(default = "default_spike_mads")]
    pub spike_mads: f64,
    /// Trades: least relative distance from the median that can be a spike. Default 0.02.
    #[serde(default = "default_spike_min_fraction")]
    pub spike_min_fraction: f64,
    /// Trades: largest tolerated gap between exchange and arrival time. Default `5s`.
    #[serde(default = "default_max_clock_drift", deserialize_with = "duration")]
    pub max_clock_drift: Duration,
    /// Chains: implied volatility above this fails `iv_bounds`. Default 5.0.
    #[serde(default = "default_iv_max")]
    pub iv_max: f64,
}

fn default_stale_after() -> Duration {
    Duration::from_secs(10)
}

fn default_score_window() -> usize {
    1000
}

fn default_max_symbols() -> usize {
    1000
}

fn default_spike_mads() -> f64 {
    10.0
}

fn default_spike_min_fraction() -> f64 {
    0.02
}

fn default_max_clock_drift() -> Duration {
    Duration::from_secs(5)
}

fn default_iv_max() -> f64 {
    5.0
}
