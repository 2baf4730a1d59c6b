//! `[[observe]]`: receivers on the platform's outputs. Each observer subscribes to what
//! the platform delivers (WebSocket clients, Redis pub/sub subscribers, Redis stream
//! readers, MongoDB pollers) and matches every
//! arrival to the message this run sent ([`ledger`]): delivered, lost, duplicated, out of
//! order, unexpected, and the end-to-end latency from each message's intended send time
//! (corrected for coordinated omission) and from its actual send.

pub mod ledger;
mod mongodb;
mod redis_pubsub;
mod redis_stream;
mod websocket;

use crate::run::live::{LiveMetrics, LiveObserver};
use crate::run::pace;
use crate::run::sinks::{check_scheme, client_tls_problems};
use crate::scenario::{Phase, Scenario, SourceConfig};
use hdrhistogram::Histogram;
use ledger::{Ledger, ObserverId, ObserverResult, Subscription};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickwatch_common::tls::TlsConfig;
use tickwatch_common::{default, duration};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

/// `[[observe]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveConfig {
    pub name: String,
    /// The `[[source]]` whose messages are expected here.
    pub source: String,
    pub kind: ObserverKind,
    /// `ws://`/`wss://` for a WebSocket observer, `redis://`/`rediss://` for Redis,
    /// `mongodb://` for MongoDB.
    pub url: String,
    /// WebSocket: the text each connection sends once connected; with `{symbol}` one
    /// message per symbol, the source's symbols spread over the connections.
    pub subscribe: Option<String>,
    /// Redis pub/sub: the channel, or a pattern (`*`, `?`, `[`) to PSUBSCRIBE.
    pub channel: Option<String>,
    /// Redis stream: the stream each connection XREADs.
    pub key: Option<String>,
    /// Redis stream: a consumer group the connections join (XREADGROUP, XACK): each
    /// message is then owed once to the group, and one two consumers both get is
    /// duplicated.
    pub group: Option<String>,
    /// Redis stream: the entry field holding the message. Default `data` (the Redis
    /// sink's).
    #[serde(default = "default_field")]
    pub field: String,
    /// MongoDB: the database and collection polled.
    pub db: Option<String>,
    pub collection: Option<String>,
    /// MongoDB: the field documents are polled by (newer than the newest seen). Default
    /// `ts_ns`.
    #[serde(default = "default_time_field")]
    pub time_field: String,
    /// MongoDB: pause between polls. Default `100ms`.
    #[serde(default = "default_poll_interval", deserialize_with = "duration::deserialize")]
    pub poll_interval: Duration,
    /// Simulated clients. Default 1.
    #[serde(default = "default::usize::<1>")]
    pub connections: usize,
    /// New connections per second. Default 200.
    #[serde(default = "default_connect_rate")]
    pub connect_rate: f64,
    /// WebSocket: headers of the upgrade request (`Authorization = "Bearer ${TOKEN}"`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// What the messages are: `tickwatch` (canonical JSON trades, the default) or
    /// `mapped` (any JSON, with `fields`).
    #[serde(default)]
    pub format: ObserveFormat,
    /// `mapped`: JSON pointers to the symbol and the sequence number (a number or a
    /// decimal string), e.g. `{ symbol = "/s", seq = "/t" }`.
    pub fields: Option<ObserveFields>,
    /// A message not seen by then (after its send) counts as lost. Default `5s`.
    #[serde(default = "default::secs::<5>", deserialize_with = "duration::deserialize")]
    pub deadline: Duration,
    /// This share of the connections reads slowly, pausing `read_delay` between reads.
    #[serde(default)]
    pub slow_fraction: f64,
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub read_delay: Duration,
    /// wss, rediss or MongoDB TLS: `{ ca_file, cert_file, key_file, insecure_skip_verify }`
    /// (the exporter's `tls_config` names), for a platform behind a private CA.
    pub tls: Option<TlsConfig>,
}

fn default_connect_rate() -> f64 {
    200.0
}

fn default_field() -> String {
    "data".to_owned()
}

fn default_time_field() -> String {
    "ts_ns".to_owned()
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(100)
}

/// Where an observer listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObserverKind {
    Websocket,
    RedisPubsub,
    RedisStream,
    Mongodb,
}

impl ObserverKind {
    fn report_name(self) -> &'static str {
        match self {
            ObserverKind::Websocket => "websocket",
            ObserverKind::RedisPubsub => "redis-pubsub",
            ObserverKind::RedisStream => "redis-stream",
            ObserverKind::Mongodb => "mongodb",
        }
    }

    /// The URL schemes, and the keys only this kind takes.
    fn schemes_and_keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            ObserverKind::Websocket => (&["ws", "wss"], &["subscribe", "headers"]),
            ObserverKind::RedisPubsub => (&["redis", "rediss"], &["channel"]),
            ObserverKind::RedisStream => (&["redis", "rediss"], &["key", "field", "group"]),
            ObserverKind::Mongodb => (&["mongodb"], &["db", "collection", "time_field", "poll_interval"]),
        }
    }
}

/// How an observer reads a message's key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObserveFormat {
    /// Canonical JSON trades: `symbol` and `seq` identify the message.
    #[default]
    Tickwatch,
    /// Any JSON message, its symbol and sequence number where `fields` point.
    Mapped,
}

/// Where a mapped message's key is. The exporter's `[[feed]]` `fields` table is taken as
/// it is (its price, qty, ts and ts_unit are not needed here and are left unread).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveFields {
    pub symbol: String,
    pub seq: String,
    #[serde(default, rename = "price")]
    _price: Option<String>,
    #[serde(default, rename = "qty")]
    _qty: Option<String>,
    #[serde(default, rename = "ts")]
    _ts: Option<String>,
    #[serde(default, rename = "ts_unit")]
    _ts_unit: Option<String>,
}

impl ObserveFields {
    /// The symbol and sequence number of `message`.
    fn key(&self, message: &[u8]) -> Option<(String, u64)> {
        let doc: serde_json::Value = serde_json::from_slice(message).ok()?;
        let symbol = doc.pointer(&self.symbol)?.as_str()?.to_owned();
        let seq = doc.pointer(&self.seq)?;
        let seq = seq.as_u64().or_else(|| seq.as_str().and_then(|s| s.trim().parse().ok()))?;
        Some((symbol, seq))
    }
}

impl ObserveConfig {
    /// Checks what the types cannot; `key` is the observer's path, e.g. `observe[0]`.
    pub fn validate(&self, key: &str, source: Option<&SourceConfig>, problems: &mut Vec<String>) {
        let mut p = |field: &str, why: String| problems.push(format!("{key}.{field}: {why}"));
        match source {
            None => p("source", format!("no [[source]] is named `{}`", self.source)),
            Some(s) if s.kind == crate::scenario::SourceKind::SyntheticChains => p(
                "source",
                format!("observers match trades by symbol and seq; source `{}` makes option chains", s.name),
            ),
            Some(_) => {}
        }
        if self.subscribe.as_deref().is_some_and(|s| s.contains("{symbol}"))
            && source.is_some_and(|s| s.symbols.is_empty())
        {
            p("subscribe", "{symbol} spreads the source's symbols, and this source names none (a replay)".into());
        }
        let (schemes, own_keys) = self.kind.schemes_and_keys();
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                p(&format!("headers.{name}"), "is not an HTTP header name".into());
            }
            if HeaderValue::from_str(value).is_err() {
                p(
                    &format!("headers.{name}"),
                    "the value is not a valid HTTP header value (control characters?)".into(),
                );
            }
        }
        let set = [
            ("subscribe", self.subscribe.is_some()),
            ("headers", !self.headers.is_empty()),
            ("channel", self.channel.is_some()),
            ("key", self.key.is_some()),
            ("group", self.group.is_some()),
            ("field", self.field != default_field()),
            ("db", self.db.is_some()),
            ("collection", self.collection.is_some()),
            ("time_field", self.time_field != default_time_field()),
            ("poll_interval", self.poll_interval != default_poll_interval()),
        ];
        for (field, _) in set.iter().filter(|(field, set)| *set && !own_keys.contains(field)) {
            p(field, format!("is not a key of kind = \"{}\"", self.kind.report_name()));
        }
        let required: &[(&str, bool)] = match self.kind {
            ObserverKind::Websocket => &[],
            ObserverKind::RedisPubsub => &[("channel", self.channel.is_some())],
            ObserverKind::RedisStream => &[("key", self.key.is_some())],
            ObserverKind::Mongodb => &[("db", self.db.is_some()), ("collection", self.collection.is_some())],
        };
        for (field, _) in required.iter().filter(|(_, present)| !present) {
            p(field, format!("a {} observer needs `{field}`", self.kind.report_name()));
        }
        if let Some(tls) = &self.tls {
            for (field, why) in client_tls_problems(tls, &self.url) {
                p(&format!("tls{field}"), why);
            }
        }
        match (self.format, &self.fields) {
            (ObserveFormat::Mapped, None) => {
                p("fields", "format = \"mapped\" needs fields = { symbol = \"/...\", seq = \"/...\" }".into())
            }
            (ObserveFormat::Tickwatch, Some(_)) => p("fields", "is for format = \"mapped\"".into()),
            (ObserveFormat::Mapped, Some(f)) => {
                for (field, pointer) in [("symbol", &f.symbol), ("seq", &f.seq)] {
                    if !pointer.starts_with('/') {
                        p(&format!("fields.{field}"), format!("`{pointer}` is not a JSON pointer (starts with /)"));
                    }
                }
            }
            (ObserveFormat::Tickwatch, None) => {}
        }
        if self.connections == 0 {
            p("connections", "must be at least 1".into());
        }
        if !(self.connect_rate > 0.0 && self.connect_rate.is_finite()) {
            p("connect_rate", "must be more than zero connections per second".into());
        }
        if self.deadline.is_zero() {
            p("deadline", "must be more than zero".into());
        }
        if !(0.0..=1.0).contains(&self.slow_fraction) {
            p("slow_fraction", "is a share of the connections, from 0 to 1".into());
        }
        if self.slow_fraction > 0.0 && self.read_delay.is_zero() {
            p("read_delay", "slow connections need a read_delay, e.g. \"50ms\"".into());
        }
        check_scheme(problems, key, Some(&self.url), schemes);
    }

    /// Each connection's subscription: with `{symbol}` in `subscribe`, connection `i`
    /// gets the symbols whose position is `i` modulo the connections (modulo the symbols
    /// when there are more connections than symbols); otherwise every symbol. A stream's
    /// consumer group is one subscription, whatever its consumers.
    fn subscriptions(&self, symbols: &[String]) -> Vec<Subscription> {
        if self.group.is_some() {
            // The consumers of a group are one subscriber.
            return vec![None];
        }
        let spread = self.subscribe.as_deref().is_some_and(|s| s.contains("{symbol}")) && !symbols.is_empty();
        (0..self.connections)
            .map(|i| {
                spread.then(|| {
                    if self.connections >= symbols.len() {
                        vec![symbols[i % symbols.len()].clone()]
                    } else {
                        symbols.iter().skip(i).step_by(self.connections).cloned().collect()
                    }
                })
            })
            .collect()
    }
}

/// Counts of one observer, per phase or for the whole run.
#[derive(Debug, Clone)]
pub struct DeliveryTally {
    /// Deliveries due: a message times each connection subscribed to its symbol.
    pub expected: u64,
    pub delivered: u64,
    /// Not seen within the deadline.
    pub lost: u64,
    /// Seen again by a connection that had it already.
    pub duplicated: u64,
    /// Seen after a later message of its symbol on the same connection.
    pub out_of_order: u64,
    /// Not a message this run sent (to this connection).
    pub unexpected: u64,
    /// Seen after its deadline (already counted lost).
    pub late: u64,
    /// Microseconds from the intended send time to arrival.
    pub latency: Histogram<u64>,
    /// Microseconds from the actual send to arrival.
    pub send_latency: Histogram<u64>,
    /// Microseconds between a message's first and last arrival across connections.
    pub skew: Histogram<u64>,
}

impl DeliveryTally {
    /// The sum of `tallies` (the whole run's, from its phases').
    pub fn sum(tallies: &[DeliveryTally]) -> DeliveryTally {
        let mut sum = DeliveryTally::default();
        for t in tallies {
            sum.expected += t.expected;
            sum.delivered += t.delivered;
            sum.lost += t.lost;
            sum.duplicated += t.duplicated;
            sum.out_of_order += t.out_of_order;
            sum.unexpected += t.unexpected;
            sum.late += t.late;
            // Every tally has the same bounds (pace::histogram), so adding cannot fail.
            let _ = sum.latency.add(&t.latency);
            let _ = sum.send_latency.add(&t.send_latency);
            let _ = sum.skew.add(&t.skew);
        }
        sum
    }
}

impl Default for DeliveryTally {
    fn default() -> Self {
        DeliveryTally {
            expected: 0,
            delivered: 0,
            lost: 0,
            duplicated: 0,
            out_of_order: 0,
            unexpected: 0,
            late: 0,
            latency: pace::histogram(),
            send_latency: pace::histogram(),
            skew: pace::histogram(),
        }
    }
}

/// Connects, disconnects by reason and connect times of one observer's connections.
pub struct ConnectionStats {
    pub connects: u64,
    /// Connections that have connected at least once.
    pub up_once: u64,
    pub disconnects: BTreeMap<String, u64>,
    /// Microseconds from starting to connect to subscribed.
    pub connect_time: Histogram<u64>,
    /// The first failure to connect, for the error when the connections never came up.
    pub first_error: Option<String>,
    live: LiveObserver,
}

impl ConnectionStats {
    fn new(live: LiveObserver) -> ConnectionStats {
        ConnectionStats {
            connects: 0,
            up_once: 0,
            disconnects: BTreeMap::new(),
            connect_time: pace::histogram(),
            first_error: None,
            live,
        }
    }

    /// A connection is up (for the first time: `first`), `took` after it began.
    fn connected(&mut self, took: Duration, first: bool) {
        self.connects += 1;
        self.up_once += u64::from(first);
        self.live.connections.inc();
        self.connect_time.saturating_record(took.as_micros() as u64);
    }

    fn disconnected(&mut self, reason: &str) {
        *self.disconnects.entry(reason.to_owned()).or_default() += 1;
        self.live.disconnected(reason);
    }

    /// A connection closed because the run ended.
    fn closed(&mut self) {
        self.live.connections.dec();
    }

    fn failed(&mut self, why: String) {
        self.first_error.get_or_insert(why);
    }
}

/// The symbol and seq of a canonical JSON trade, borrowed from `message` (no allocation
/// unless the symbol holds escapes).
pub fn canonical_key(message: &[u8]) -> Option<(Cow<'_, str>, u64)> {
    #[derive(Deserialize)]
    struct Key<'a> {
        #[serde(borrow)]
        symbol: Cow<'a, str>,
        seq: u64,
    }
    serde_json::from_slice::<Key>(message).ok().map(|k| (k.symbol, k.seq))
}

/// Pause before a connection tries again after a disconnect or a failed attempt.
const RECONNECT_AFTER: Duration = Duration::from_millis(200);

/// What one connection task needs.
struct Receiver {
    ledger: Arc<Ledger>,
    observer: ObserverId,
    connection: usize,
    stats: Arc<Mutex<ConnectionStats>>,
    /// Pause between reads (a slow client).
    read_delay: Option<Duration>,
    /// `format = "mapped"`: where the key is.
    fields: Option<Arc<ObserveFields>>,
    /// Whether this connection has been up before (a reconnect is not a first connect).
    ever_connected: bool,
    cancel: watch::Receiver<bool>,
}

impl Receiver {
    /// Matches one message's bytes: a canonical trade's symbol and seq, or a mapped
    /// message's (anything else is unexpected).
    fn message(&self, bytes: &[u8]) {
        if let Some(fields) = &self.fields {
            return match fields.key(bytes) {
                Some((symbol, seq)) => self.key(&symbol, seq),
                None => self.key("", 0),
            };
        }
        match canonical_key(bytes) {
            Some((symbol, seq)) => self.key(&symbol, seq),
            None => self.key("", 0),
        }
    }

    /// Matches the message of `symbol` with `seq`, arrived now.
    fn key(&self, symbol: &str, seq: u64) {
        if let Some(now) = self.ledger.now() {
            self.ledger.arrived(self.observer, self.connection, symbol, seq, now);
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, ConnectionStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// One attempt to connect: `attempt`'s connection, counted with its connect time;
    /// `None` (the failure noted, after a pause) when it failed.
    async fn connect<T>(&mut self, attempt: impl std::future::Future<Output = Result<T, String>>) -> Option<T> {
        let began = Instant::now();
        match attempt.await {
            Ok(connection) => {
                self.stats().connected(began.elapsed(), !self.ever_connected);
                self.ever_connected = true;
                Some(connection)
            }
            Err(e) => {
                self.stats().failed(e);
                self.pause().await;
                None
            }
        }
    }

    /// Waits before connecting again after a disconnect or a failed attempt.
    async fn pause(&mut self) {
        self.wait(RECONNECT_AFTER).await;
    }

    /// Waits `interval`, or until the run ends.
    async fn wait(&mut self, interval: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = self.cancel.changed() => {}
        }
    }
}

/// One observer while the run goes on.
struct Running {
    config: ObserveConfig,
    ledger: Arc<Ledger>,
    id: ObserverId,
    stats: Arc<Mutex<ConnectionStats>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Reads the observers' figures while the run goes on (abort thresholds).
#[derive(Clone, Default)]
pub struct ObserverWatch(Vec<(String, Arc<Ledger>, ObserverId)>);

impl ObserverWatch {
    /// Each observer's name and its tallies so far, per phase.
    pub fn snapshots(&self) -> Vec<(&str, Vec<DeliveryTally>)> {
        self.0.iter().map(|(name, ledger, id)| (name.as_str(), ledger.snapshot(*id))).collect()
    }
}

/// One observer's figures for the report.
pub struct ObserverReport {
    pub name: String,
    pub kind: &'static str,
    pub source: String,
    pub connections: usize,
    pub result: ObserverResult,
    pub stats: ConnectionStats,
}

/// Every observer of a run, connected.
pub struct Observers {
    running: Vec<Running>,
    ledgers: HashMap<String, Arc<Ledger>>,
    cancel: watch::Sender<bool>,
    judge: Option<tokio::task::JoinHandle<()>>,
}

/// Longest wait for every connection of every observer before the first phase: the
/// connections' own pacing plus this.
const CONNECT_GRACE: Duration = Duration::from_secs(10);

impl Observers {
    /// Connects every observer of `scenario` (a bounded wait; one that cannot connect is
    /// an error naming it).
    pub async fn connect(scenario: &Scenario, phases: &[Phase], live: &LiveMetrics) -> Result<Observers, String> {
        let (cancel, cancelled) = watch::channel(false);
        let mut observers = Observers { running: Vec::new(), ledgers: HashMap::new(), cancel, judge: None };
        for config in &scenario.observe {
            let source = scenario.source.iter().find(|s| s.name == config.source).expect("validated");
            let ledger = observers
                .ledgers
                .entry(source.name.clone())
                .or_insert_with(|| Arc::new(Ledger::new(&source.symbols, phases)))
                .clone();
            let subscriptions = config.subscriptions(&source.symbols);
            let live = live.observer(&config.name);
            let id = ledger.observer(config.deadline.as_secs_f64(), &subscriptions, live.clone());
            let stats = Arc::new(Mutex::new(ConnectionStats::new(live)));
            let slow = (config.connections as f64 * config.slow_fraction).round() as usize;
            let fields = config.fields.clone().map(Arc::new);
            let connector = match config.kind {
                ObserverKind::Websocket => {
                    websocket::connector(config).map_err(|e| format!("observer {}: {e}", config.name))?
                }
                _ => None,
            };
            let mut tasks = Vec::new();
            for i in 0..config.connections {
                let subscription = subscriptions.get(i).cloned().flatten();
                let receiver = Receiver {
                    ledger: Arc::clone(&ledger),
                    observer: id,
                    // The consumers of a group count as one connection.
                    connection: i.min(subscriptions.len() - 1),
                    stats: Arc::clone(&stats),
                    read_delay: (i < slow).then_some(config.read_delay),
                    fields: fields.clone(),
                    ever_connected: false,
                    cancel: cancelled.clone(),
                };
                let delay = Duration::from_secs_f64(i as f64 / config.connect_rate);
                tasks.push(match config.kind {
                    ObserverKind::Websocket => tokio::spawn(websocket::receive(
                        config.clone(),
                        connector.clone(),
                        subscription,
                        receiver,
                        delay,
                    )),
                    ObserverKind::RedisPubsub => tokio::spawn(redis_pubsub::receive(config.clone(), receiver, delay)),
                    ObserverKind::RedisStream => {
                        tokio::spawn(redis_stream::receive(config.clone(), receiver, delay, i))
                    }
                    ObserverKind::Mongodb => tokio::spawn(mongodb::receive(config.clone(), receiver, delay)),
                });
            }
            observers.running.push(Running { config: config.clone(), ledger, id, stats, tasks });
        }
        observers.wait_connected().await?;
        Ok(observers)
    }

    /// Waits until every connection has connected once.
    async fn wait_connected(&self) -> Result<(), String> {
        for r in &self.running {
            let pacing = Duration::from_secs_f64(r.config.connections as f64 / r.config.connect_rate);
            let until = Instant::now() + pacing + CONNECT_GRACE;
            loop {
                let (connects, error) = {
                    let stats = r.stats.lock().unwrap_or_else(|p| p.into_inner());
                    (stats.up_once, stats.first_error.clone())
                };
                if connects >= r.config.connections as u64 {
                    break;
                }
                if Instant::now() >= until {
                    let _ = self.cancel.send(true);
                    return Err(format!(
                        "observer {}: {connects} of {} connections to {} came up within {:.0?}{}",
                        r.config.name,
                        r.config.connections,
                        tickwatch_common::redact::redact_url(&r.config.url),
                        pacing + CONNECT_GRACE,
                        error.map(|e| format!(" (first error: {e})")).unwrap_or_default()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// The ledger the sinks of `source` write to, if anything observes it.
    pub fn ledger(&self, source: &str) -> Option<Arc<Ledger>> {
        self.ledgers.get(source).cloned()
    }

    /// The schedule starts at `start`: arrivals count from now, and messages past their
    /// deadline are judged every 100 ms.
    pub fn begin(&mut self, start: Instant) {
        let ledgers: Vec<Arc<Ledger>> = self.ledgers.values().cloned().collect();
        for l in &ledgers {
            l.begin(start);
        }
        self.judge = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                for l in &ledgers {
                    if let Some(now) = l.now() {
                        l.judge(now);
                    }
                }
            }
        }));
    }

    /// A handle that reads every observer's figures while the run goes on.
    pub fn watch(&self) -> ObserverWatch {
        ObserverWatch(self.running.iter().map(|r| (r.config.name.clone(), Arc::clone(&r.ledger), r.id)).collect())
    }

    /// After the last send: waits out the longest deadline so every message can arrive,
    /// judges everything, closes the connections and returns each observer's figures.
    pub async fn finish(mut self) -> Vec<ObserverReport> {
        let wait = self.ledgers.values().map(|l| l.longest_deadline()).fold(0.0, f64::max);
        if wait > 0.0 {
            eprintln!("\nwaiting {wait:.1} s (the observers' deadline) for messages still on their way");
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        if let Some(judge) = self.judge.take() {
            judge.abort();
        }
        let _ = self.cancel.send(true);
        for l in self.ledgers.values() {
            l.judge(f64::INFINITY);
        }
        let mut reports = Vec::new();
        for r in self.running {
            for task in r.tasks {
                task.abort();
            }
            let stats = {
                let mut stats = r.stats.lock().unwrap_or_else(|p| p.into_inner());
                let live = stats.live.clone();
                std::mem::replace(&mut *stats, ConnectionStats::new(live))
            };
            reports.push(ObserverReport {
                name: r.config.name.clone(),
                kind: r.config.kind.report_name(),
                source: r.config.source.clone(),
                connections: r.config.connections,
                result: r.ledger.result(r.id),
                stats,
            });
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario;

    fn problems(observers: &str) -> String {
        let text = format!(
            "name = \"t\"\n[[source]]\nname = \"trades\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\"]\n\
             [[source]]\nname = \"chains\"\nkind = \"synthetic-chains\"\nsymbols = [\"NIFTY\"]\n\
             [[sink]]\nname = \"f\"\nsource = \"trades\"\nkind = \"file\"\npath = \"/dev/null\"\n{observers}\
             [[phase]]\nname = \"p\"\nduration = \"1s\"\nrate = 1\n"
        );
        match scenario::parse(&text, "t.toml") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn mistakes_in_an_observer_are_named_by_key() {
        let ws = "[[observe]]\nname = \"o\"\nsource = \"trades\"\nkind = \"websocket\"\nurl = \"ws://h/\"\n";
        assert_eq!(problems(ws), "");
        let all = problems(
            "[[observe]]\nname = \"o\"\nsource = \"chains\"\nkind = \"websocket\"\nurl = \"redis://h\"\nchannel = \"c\"\n\
             connections = 0\nslow_fraction = 2.0\nheaders = { \"bad name\" = \"x\" }\n\
             [[observe]]\nname = \"o\"\nsource = \"nope\"\nkind = \"redis-pubsub\"\nurl = \"redis://h\"\n\
             tls = { ca_file = \"/no/such/ca.pem\", server_name = \"x\" }\n\
             [[observe]]\nname = \"m\"\nsource = \"trades\"\nkind = \"mongodb\"\nurl = \"mongodb://h\"\nkey = \"k\"\n",
        );
        for expected in [
            "observe[0].source: observers match trades by symbol and seq; source `chains` makes option chains",
            "observe[0].url: scheme must be one of ws, wss",
            "observe[0].channel: is not a key of kind = \"websocket\"",
            "observe[0].connections: must be at least 1",
            "observe[0].slow_fraction: is a share of the connections, from 0 to 1",
            "observe[0].headers.bad name: is not an HTTP header name",
            "observe[1].name: `o` is used twice",
            "observe[1].source: no [[source]] is named `nope`",
            "observe[1].channel: a redis-pubsub observer needs `channel`",
            "observe[1].tls: is for a TLS URL: this one is redis:// (use rediss://)",
            "observe[1].tls.server_name: is not supported",
            "observe[1].tls.ca_file: ",
            "observe[2].key: is not a key of kind = \"mongodb\"",
            "observe[2].db: a mongodb observer needs `db`",
            "observe[2].collection: a mongodb observer needs `collection`",
        ] {
            assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
        }
    }
}
