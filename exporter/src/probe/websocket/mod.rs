//! The WebSocket gateway probe.
//!
//! - `probe` mode, blackbox-style: at scrape time connect (resolve, TCP, TLS, the upgrade
//!   with the configured headers), send the subscribe messages, wait for the first data
//!   message (and check it against `expect`), close; report how long each phase took.
//! - `monitor` mode: a subscription kept open in the background (see `monitor`); the
//!   scrape reports whether it is connected and how old the last message is.
//!
//! Every read is bounded: frames and messages over `max_message_bytes` end the connection
//! (`too_large`), and the scrape's budget bounds a server that never completes the
//! handshake or drips bytes.

mod config;
mod connect;
pub mod monitor;
pub mod pointer;

pub use config::{WebSocketMode, WebSocketTarget};

use crate::config::{Config, Target};
use crate::exposition::{Samples, families};
use crate::probe::feed::FeedTarget;
use crate::probe::trace::step;
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::reason::Reason;
use crate::shared::Shared;
use connect::{Endpoint, PHASES, TlsFacts, failure};
use futures_util::{FutureExt, SinkExt, StreamExt};
use monitor::{MessageRecorder, Monitor, MonitorMetrics, MonitorState, Tap};
use pointer::Pointer;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

families! {
    CONNECT: gauge "websocket_connect_duration_seconds", "Probe mode: time to open the connection (TCP, TLS and the upgrade).";
    FIRST_MESSAGE: gauge "websocket_first_message_duration_seconds", "Probe mode: time from sending the subscribe message (or connecting) to the first data message.";
    DURATION: gauge "websocket_duration_seconds", "Probe mode: seconds each phase took (resolve, connect, tls, upgrade, first_message).";
    CERT_EXPIRY: gauge "websocket_tls_earliest_cert_expiry_timestamp_seconds", "wss://: the earliest notAfter of the certificates the gateway presented, in Unix seconds.";
    TLS_VERSION: gauge "websocket_tls_version_info", "wss://: always 1; `version` is the TLS version the gateway negotiated.";
    LAST_MESSAGE_AGE: gauge "websocket_last_message_age_seconds", "Monitor mode: seconds since the last data message (absent before the first).";
    STALE_AFTER: gauge "websocket_stale_after_seconds", "Monitor mode: the target's stale_after, how long it may be silent before WebSocketFeedStale fires.";
}

/// Messages a feed may fall behind a monitor before it loses the oldest.
const TAP_CAPACITY: usize = 65_536;

/// Builds one probe per `[[websocket]]` target and starts the monitors.
pub fn build(
    targets: &[WebSocketTarget],
    config: &Config,
    shared: &Arc<Shared>,
) -> Vec<Result<Arc<dyn Probe>, String>> {
    let metrics =
        targets.iter().any(|t| t.mode == WebSocketMode::Monitor).then(|| Arc::new(MonitorMetrics::register(shared)));
    targets
        .iter()
        .map(|target| {
            let tapped =
                config.targets::<FeedTarget>().iter().any(|f| f.references().contains(&("websocket", &target.name)));
            build_one(target, Endpoint::new(target)?, metrics.as_ref(), tapped, shared)
        })
        .collect()
}

/// Starts a monitor-mode target's monitor (`tapped`: a feed reads it); either mode's probe.
fn build_one(
    target: &WebSocketTarget,
    endpoint: Endpoint,
    metrics: Option<&Arc<MonitorMetrics>>,
    tapped: bool,
    shared: &Shared,
) -> Result<Arc<dyn Probe>, String> {
    match (&target.mode, metrics) {
        (WebSocketMode::Monitor, Some(metrics)) => {
            let pointer = target.timestamp_pointer.as_deref().and_then(Pointer::parse);
            let recorder = MessageRecorder::new(&target.name, pointer, metrics);
            let state = Arc::clone(recorder.state());
            let (tap, first) = tokio::sync::broadcast::channel(TAP_CAPACITY);
            let first = Mutex::new(tapped.then_some(first));
            let entry = Tap { sender: tap.clone(), monitor: Arc::clone(&state), first };
            shared.taps.lock().expect("not poisoned").insert(target.name.clone(), entry);
            let monitor = Arc::new(Monitor {
                target: target.name.clone(),
                endpoint,
                subscribe: target.subscribe.clone(),
                ping_interval: target.ping_interval,
                recorder,
                metrics: Arc::clone(metrics),
                tap,
            });
            let start = move || {
                let monitor = Arc::clone(&monitor);
                async move { monitor.run().await }.boxed()
            };
            shared.consumers.spawn("websocket", &target.name, Box::new(start));
            Ok(Arc::new(MonitorProbe {
                name: target.name.clone(),
                state,
                stale_after: target.stale_after.as_secs_f64(),
            }))
        }
        _ => Ok(Arc::new(ConnectProbe::new(target, endpoint)?)),
    }
}

/// Probe mode.
pub struct ConnectProbe {
    name: String,
    endpoint: Endpoint,
    subscribe: Vec<String>,
    expect: Option<regex::Regex>,
}

impl ConnectProbe {
    fn new(target: &WebSocketTarget, endpoint: Endpoint) -> Result<ConnectProbe, String> {
        let expect = target.expect.as_deref().map(regex::Regex::new).transpose().map_err(|e| format!("expect: {e}"))?;
        Ok(ConnectProbe { name: target.name.clone(), endpoint, subscribe: target.subscribe.clone(), expect })
    }

    async fn read(&self) -> ProbeResult {
        let t = ("target", self.name.as_str());
        let mut out = Samples::new();
        let start = Instant::now();
        let connected = self.endpoint.connect().await?;
        out.add(&CONNECT, &[t], start.elapsed().as_secs_f64());
        for (phase, seconds) in PHASES.iter().zip(connected.phases) {
            out.add(&DURATION, &[t, ("phase", phase)], seconds);
        }
        if let Some(tls) = &connected.tls {
            add_tls(&mut out, &self.name, tls);
        }
        let mut socket = connected.socket;
        let sent = Instant::now();
        for text in &self.subscribe {
            socket.send(Message::text(text.as_str())).await.map_err(failure)?;
            step(|| format!("sent {} bytes: {text}", text.len()));
        }
        let first = loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => break text.as_str().to_owned(),
                Some(Ok(Message::Binary(bytes))) => break String::from_utf8_lossy(&bytes).into_owned(),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    step(|| format!("the server closed: {frame:?}"));
                    return Err(ProbeError::new(Reason::Closed, "the server closed before sending a message"));
                }
                None => return Err(ProbeError::new(Reason::Closed, "the server closed before sending a message")),
                Some(Err(e)) => return Err(failure(e)),
            }
        };
        let waited = sent.elapsed().as_secs_f64();
        step(|| format!("first data message after {waited:.6}s: {}", shortened(&first)));
        out.add(&FIRST_MESSAGE, &[t], waited);
        out.add(&DURATION, &[t, ("phase", "first_message")], waited);
        // A polite close, but never waiting long for the server's answer.
        let _ = tokio::time::timeout(Duration::from_millis(200), socket.close(None)).await;
        if let Some(expect) = &self.expect
            && !expect.is_match(&first)
        {
            let message = format!("the first data message does not match expect `{expect}`: {}", shortened(&first));
            return Err(ProbeError::new(Reason::ExpectMismatch, message).with_samples(out));
        }
        Ok(out)
    }
}

/// The TLS families of one connection.
fn add_tls(out: &mut Samples, target: &str, tls: &TlsFacts) {
    out.add(&TLS_VERSION, &[("target", target), ("version", &tls.version)], 1.0);
    if let Some(expiry) = tls.earliest_expiry {
        out.add(&CERT_EXPIRY, &[("target", target)], expiry);
    }
}

/// At most the first 200 characters of a message, for logs and debug output.
fn shortened(message: &str) -> String {
    match message.char_indices().nth(200) {
        Some((end, _)) => format!("{}... ({} bytes)", &message[..end], message.len()),
        None => message.to_owned(),
    }
}

impl Probe for ConnectProbe {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(self.read())
    }
}

/// Monitor mode, as seen by a scrape.
pub struct MonitorProbe {
    name: String,
    state: Arc<MonitorState>,
    /// `stale_after`, in seconds.
    stale_after: f64,
}

impl Probe for MonitorProbe {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let mut out = Samples::new();
            out.add(&STALE_AFTER, &[("target", &self.name)], self.stale_after);
            let last = self.state.last_message_ms.load(Ordering::Relaxed);
            if last > 0 {
                let age = (crate::epoch::now_ms() - last as f64) / 1000.0;
                out.add(&LAST_MESSAGE_AGE, &[("target", &self.name)], age.max(0.0));
            }
            if let Some(tls) = self.state.tls.lock().expect("not poisoned").as_ref() {
                add_tls(&mut out, &self.name, tls);
            }
            if self.state.connected.get() == 1 {
                Ok(out)
            } else {
                // The age goes on growing while the gateway is away: WebSocketFeedStale
                // and the panel need it most then.
                Err(ProbeError::new(Reason::Disconnected, "the monitor's subscription is not open").with_samples(out))
            }
        })
    }
}
