//! Where messages go, each kind behind one small trait. A send is a batch of messages
//! due at about the same time; it succeeds or fails as a whole (a batch that fails after
//! the server applied part of it is counted as failed: the report may over-count failures,
//! never hide them). Sinks reconnect by themselves after their server restarts.

mod celery;
mod file;
mod mongodb;
mod redis;
mod resp;
mod websocket_client;
mod websocket_server;

pub use celery::CelerySinkConfig;
pub use file::FileSinkConfig;
pub use mongodb::{MongoSinkConfig, WriteConcernLevel};
pub use redis::{RedisMode, RedisSinkConfig};
pub use websocket_client::WebSocketClientSinkConfig;
pub use websocket_server::{Protocol, WebSocketServerSinkConfig};

use super::source::Outgoing;
use crate::scenario::{SinkConfig, SourceConfig};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use tickwatch_common::tls::TlsConfig;

/// A boxed sink future.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One destination.
pub trait Sink: Send {
    /// Sends a batch of messages.
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a>;
    /// Waits until the sink is ready for the first phase (subscribers connected).
    fn ready(&mut self) -> SendFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    /// Flushes whatever is buffered at the end of the run.
    fn finish(&mut self) -> SendFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    /// What the sink's own subscribers got, once it has finished (a gateway's; None for a
    /// sink whose send is the delivery).
    fn deliveries(&self) -> Option<Deliveries> {
        None
    }
}

/// What a gateway's subscribers got, a delivery being one frame to one subscriber. A
/// message a sink accepted may still never reach a subscriber that is dropped or leaves:
/// every frame a subscriber asked for while it was connected is counted sent (written to
/// its socket) or failed, so attempted = sent + failed holds here too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Clients that connected.
    pub subscribers: u64,
    /// Subscribers disconnected for falling too far behind or stalling.
    pub dropped: u64,
    pub sent: u64,
    pub failed: u64,
    /// The fewest and most frames one subscriber was sent, and failed (None: no subscriber).
    pub per_subscriber_sent: Option<(u64, u64)>,
    pub per_subscriber_failed: Option<(u64, u64)>,
}

impl Deliveries {
    pub fn attempted(&self) -> u64 {
        self.sent + self.failed
    }

    /// Sums `other` (another shard's subscribers) into these.
    pub fn add(&mut self, other: &Deliveries) {
        let spread = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| match (a, b) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        };
        self.subscribers += other.subscribers;
        self.dropped += other.dropped;
        self.sent += other.sent;
        self.failed += other.failed;
        self.per_subscriber_sent = spread(self.per_subscriber_sent, other.per_subscriber_sent);
        self.per_subscriber_failed = spread(self.per_subscriber_failed, other.per_subscriber_failed);
    }
}

/// The kind of a `[[sink]]` (its `kind` key) with that kind's own keys. Adding a sink is
/// its module and one variant here.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SinkKind {
    WebsocketServer(WebSocketServerSinkConfig),
    WebsocketClient(WebSocketClientSinkConfig),
    Redis(RedisSinkConfig),
    Celery(CelerySinkConfig),
    Mongodb(MongoSinkConfig),
    File(FileSinkConfig),
}

impl SinkKind {
    /// The `kind` of the sink in summary.json.
    pub fn report_name(&self) -> &'static str {
        match self {
            SinkKind::WebsocketServer(_) => "websocketserver",
            SinkKind::WebsocketClient(_) => "websocketclient",
            SinkKind::Redis(_) => "redis",
            SinkKind::Celery(_) => "celery",
            SinkKind::Mongodb(_) => "mongodb",
            SinkKind::File(_) => "file",
        }
    }

    /// Whether the sink speaks a protocol that carries trades only (Binance's, Coinbase's).
    pub fn sends_trades_only(&self) -> bool {
        matches!(self, SinkKind::WebsocketServer(c) if matches!(c.protocol, Protocol::Binance | Protocol::Coinbase))
    }

    /// Checks what the types cannot; `key` is the sink's path, e.g. `sink[0]`.
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        match self {
            SinkKind::WebsocketServer(c) => c.validate(key, problems),
            SinkKind::WebsocketClient(c) => c.validate(key, problems),
            SinkKind::Redis(c) => c.validate(key, problems),
            SinkKind::Celery(c) => c.validate(key, problems),
            SinkKind::Mongodb(c) => c.validate(key, problems),
            SinkKind::File(c) => c.validate(key, problems),
        }
    }
}

/// Builds the sink a `[[sink]]` describes, sending the messages of `source` (`seed`
/// makes Celery task ids reproducible).
pub async fn build(config: &SinkConfig, source: &SourceConfig, seed: u64) -> Result<Box<dyn Sink>, String> {
    let name = &config.name;
    let fail = |e: String| format!("sink {name}: {e}");
    Ok(match &config.kind {
        SinkKind::Redis(c) => Box::new(redis::RedisSink::new(c).map_err(fail)?),
        SinkKind::Celery(c) => Box::new(celery::CelerySink::new(c, seed).map_err(fail)?),
        SinkKind::Mongodb(c) => Box::new(mongodb::MongoSink::new(c, config.timeout).await.map_err(fail)?),
        SinkKind::File(c) => Box::new(file::FileSink::new(c).map_err(fail)?),
        SinkKind::WebsocketServer(c) => {
            Box::new(websocket_server::WebSocketServerSink::new(name, c, source).await.map_err(fail)?)
        }
        SinkKind::WebsocketClient(c) => Box::new(websocket_client::WebSocketClientSink::new(c)),
    })
}

/// A problem when a sink of `kind` lacks `field` (the key is optional in the type so that
/// one missing key does not hide the file's other problems).
fn require(problems: &mut Vec<String>, key: &str, kind: &str, field: &str, present: bool) {
    if !present {
        problems.push(format!("{key}.{field}: a {kind} sink needs `{field}`"));
    }
}

/// What is wrong with a client's `tls` table for `url`, as (field under `tls`, why): it
/// needs a TLS URL, and the URL's host is what is verified. Sinks and observers share it.
pub(crate) fn client_tls_problems(tls: &TlsConfig, url: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let scheme = url.split("://").next().unwrap_or_default();
    if matches!(scheme, "ws" | "redis") {
        problems.push((String::new(), format!("is for a TLS URL: this one is {scheme}:// (use {scheme}s://)")));
    }
    if tls.server_name.is_some() {
        problems.push((
            ".server_name".into(),
            "is not supported: the URL's host is verified; use a name the certificate holds".into(),
        ));
    }
    problems.extend(tls.check().into_iter().map(|(field, why)| (format!(".{field}"), why)));
    problems
}

/// [`client_tls_problems`] of a sink's `tls`, named under `key`.
pub(crate) fn check_tls(problems: &mut Vec<String>, key: &str, url: Option<&str>, tls: Option<&TlsConfig>) {
    if let (Some(tls), Some(url)) = (tls, url) {
        problems
            .extend(client_tls_problems(tls, url).into_iter().map(|(field, why)| format!("{key}.tls{field}: {why}")));
    }
}

/// A problem when `url` is not of one of `schemes`.
pub(crate) fn check_scheme(problems: &mut Vec<String>, key: &str, url: Option<&str>, schemes: &[&str]) {
    if let Some(url) = url
        && !schemes.contains(&url.split("://").next().unwrap_or_default())
    {
        problems.push(format!("{key}.url: scheme must be one of {}", schemes.join(", ")));
    }
}
