//! Monitor mode: one subscription kept open in the background. Messages, bytes, payload
//! lag and pong misses are counted as they happen; a scrape reads the counters and the
//! age of the last message. The connection is re-opened after any failure with capped
//! exponential backoff and jitter; pings go out every `ping_interval`, and a ping still
//! unanswered at the next one closes the connection as dead.

use super::connect::{Endpoint, TlsFacts, failure};
use super::pointer::Pointer;
use crate::epoch::{epoch_to_ms, now_ms};
use crate::reason::Reason;
use crate::shared::Shared;
use futures_util::{SinkExt, StreamExt};
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickwatch_common::backoff::Backoff;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// How long one connection attempt may take before it counts as a timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The families every monitor updates, registered once.
pub struct MonitorMetrics {
    messages: IntCounterVec,
    bytes: IntCounterVec,
    connected: IntGaugeVec,
    reconnects: IntCounterVec,
    missed_pongs: IntCounterVec,
    errors: IntCounterVec,
    lag: HistogramVec,
}

impl MonitorMetrics {
    pub fn register(shared: &Shared) -> MonitorMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| shared.counter_vec(name, help, labels);
        let connected =
            shared.int_gauge_vec("websocket_connected", "Whether the monitor's subscription is open.", &["target"]);
        let lag = shared.histogram_vec(
            "websocket_payload_lag_seconds",
            "Arrival time minus the exchange time inside each message (timestamp_pointer).",
            vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
            &["target"],
        );
        MonitorMetrics {
            messages: counter("websocket_messages_received_total", "Data messages received.", &["target"]),
            bytes: counter(
                "websocket_received_bytes_total",
                "Payload bytes of the data messages received.",
                &["target"],
            ),
            connected,
            reconnects: counter(
                "websocket_reconnects_total",
                "Times the subscription was opened again after it ended.",
                &["target"],
            ),
            missed_pongs: counter(
                "websocket_missed_pongs_total",
                "Pings not answered before the next one was due.",
                &["target"],
            ),
            errors: counter(
                "websocket_errors_total",
                "Connection failures and closes by reason.",
                &["target", "reason"],
            ),
            lag,
        }
    }
}

/// A monitor's messages for feeds to consume, with its state (a feed reading it is
/// connected while the monitor is).
pub struct Tap {
    pub sender: broadcast::Sender<Bytes>,
    pub monitor: Arc<MonitorState>,
    /// Subscribed before the monitor starts, when a feed of the config reads this tap, so
    /// that feed misses not even the first message; the feed's build takes it.
    pub first: Mutex<Option<broadcast::Receiver<Bytes>>>,
}

/// What the monitor and the scrape share about one target.
pub struct MonitorState {
    /// Unix milliseconds of the last data message, 0 before the first.
    pub last_message_ms: AtomicU64,
    pub connected: IntGauge,
    /// What the last connection's TLS showed (`wss://`).
    pub tls: Mutex<Option<TlsFacts>>,
}

/// The per-message work: counters, last-message time, payload lag. Public so the hot
/// path can be benchmarked on its own.
pub struct MessageRecorder {
    messages: IntCounter,
    bytes: IntCounter,
    lag: Histogram,
    pointer: Option<Pointer>,
    state: Arc<MonitorState>,
}

impl MessageRecorder {
    pub fn new(target: &str, pointer: Option<Pointer>, metrics: &MonitorMetrics) -> MessageRecorder {
        let state = Arc::new(MonitorState {
            last_message_ms: AtomicU64::new(0),
            connected: metrics.connected.with_label_values(&[target]),
            tls: Mutex::new(None),
        });
        MessageRecorder {
            messages: metrics.messages.with_label_values(&[target]),
            bytes: metrics.bytes.with_label_values(&[target]),
            lag: metrics.lag.with_label_values(&[target]),
            pointer,
            state,
        }
    }

    pub fn state(&self) -> &Arc<MonitorState> {
        &self.state
    }

    /// Records one data message that arrived at `now_ms`.
    pub fn record(&self, payload: &[u8], now_ms: f64) {
        self.messages.inc();
        self.bytes.inc_by(payload.len() as u64);
        self.state.last_message_ms.store(now_ms as u64, Ordering::Relaxed);
        if let Some(ts) = self.pointer.as_ref().and_then(|p| p.number(payload)) {
            self.lag.observe(((now_ms - epoch_to_ms(ts)) / 1000.0).max(0.0));
        }
    }
}

/// One monitored gateway.
pub struct Monitor {
    pub target: String,
    pub endpoint: Endpoint,
    pub subscribe: Vec<String>,
    pub ping_interval: Duration,
    pub recorder: MessageRecorder,
    pub metrics: Arc<MonitorMetrics>,
    /// Where data messages go for `[[feed]]`s reading this target (only when one listens).
    pub tap: broadcast::Sender<Bytes>,
}

impl Monitor {
    /// Runs until stopped, reconnecting with capped backoff.
    pub async fn run(&self) {
        let errors = |reason: Reason| self.metrics.errors.with_label_values(&[&self.target, reason.as_str()]).inc();
        let reconnects = self.metrics.reconnects.with_label_values(&[&self.target]);
        let missed_pongs = self.metrics.missed_pongs.with_label_values(&[&self.target]);
        let connected = &self.recorder.state().connected;
        connected.set(0);
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            match tokio::time::timeout(CONNECT_TIMEOUT, self.endpoint.connect()).await {
                Err(_) => errors(Reason::Timeout),
                Ok(Err(e)) => {
                    tracing::debug!(
                        target = self.target,
                        reason = e.reason.as_str(),
                        "websocket connect failed: {}",
                        e.message
                    );
                    errors(e.reason);
                }
                Ok(Ok(open)) => {
                    connected.set(1);
                    backoff.reset();
                    *self.recorder.state().tls.lock().expect("not poisoned") = open.tls;
                    let mut socket = open.socket;
                    let reason = self.read_until_closed(&mut socket, &missed_pongs).await;
                    connected.set(0);
                    errors(reason);
                    reconnects.inc();
                    tracing::info!(
                        target = self.target,
                        reason = reason.as_str(),
                        "websocket subscription ended; reconnecting"
                    );
                }
            }
            backoff.wait().await;
        }
    }

    fn deliver(&self, payload: Bytes) {
        self.recorder.record(&payload, now_ms());
        if self.tap.receiver_count() > 0 {
            // A feed that falls behind loses messages and counts them; it never slows this.
            let _ = self.tap.send(payload);
        }
    }

    /// Reads until the connection ends; returns why it ended.
    async fn read_until_closed(&self, socket: &mut super::connect::Socket, missed_pongs: &IntCounter) -> Reason {
        for text in &self.subscribe {
            if let Err(e) = socket.send(Message::text(text.as_str())).await {
                return failure(e).reason;
            }
        }
        let mut pings = tokio::time::interval(self.ping_interval);
        pings.tick().await;
        let mut awaiting_pong = false;
        loop {
            tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => self.deliver(Bytes::from(text)),
                    Some(Ok(Message::Binary(bytes))) => self.deliver(bytes),
                    Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                    // Pings are answered by the library as it reads.
                    Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_))) | None => return Reason::Closed,
                    Some(Err(e)) => return failure(e).reason,
                },
                _ = pings.tick() => {
                    if awaiting_pong {
                        missed_pongs.inc();
                        return Reason::PingTimeout;
                    }
                    if let Err(e) = socket.send(Message::Ping(Default::default())).await {
                        return failure(e).reason;
                    }
                    awaiting_pong = true;
                }
            }
        }
    }
}
