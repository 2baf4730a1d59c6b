//! What a running load test shows while it runs: Prometheus metrics on
//! `--metrics-address` and a progress line per second.

use super::pace::Tally;
use crate::scenario::Phase;
use indicatif::{ProgressBar, ProgressStyle};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The loadgen's metric families.
pub struct LiveMetrics {
    pub registry: Registry,
    sent: IntCounterVec,
    failed: IntCounterVec,
    latency: HistogramVec,
    phase: IntGaugeVec,
    target_rate: prometheus::GaugeVec,
    observers: ObserverFamilies,
}

/// The `tickwatch_loadgen_observer_*` families, one series per `[[observe]]`.
struct ObserverFamilies {
    /// expected, delivered, lost, duplicated, out_of_order, unexpected, late: in
    /// [`LiveObserver`]'s order.
    counts: [IntCounterVec; 7],
    latency: HistogramVec,
    skew: HistogramVec,
    connections: IntGaugeVec,
    disconnects: IntCounterVec,
}

/// The counters of [`ObserverFamilies::counts`]: name suffix and help.
const OBSERVER_COUNTS: [(&str, &str); 7] = [
    (
        "expected",
        "Deliveries due: each message times each connection subscribed to its symbol, counted at its deadline.",
    ),
    ("delivered", "Deliveries seen within their deadline (counted on arrival)."),
    ("lost", "Deliveries due and not seen within their deadline."),
    ("duplicated", "Deliveries a connection saw again."),
    ("out_of_order", "Deliveries seen after a later message of their symbol on the same connection."),
    ("unexpected", "Messages an observer received that this run did not send to that connection."),
    ("late", "Deliveries seen after their deadline (already counted lost)."),
];

/// Buckets of the observers' latency and skew histograms, seconds.
const OBSERVER_BUCKETS: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl ObserverFamilies {
    fn new() -> ObserverFamilies {
        let counter = |(name, help): (&str, &str)| {
            IntCounterVec::new(Opts::new(format!("tickwatch_loadgen_observer_{name}_total"), help), &["observer"])
                .expect("valid metric")
        };
        let histogram = |name: &str, help: &str| {
            HistogramVec::new(HistogramOpts::new(name, help).buckets(OBSERVER_BUCKETS.to_vec()), &["observer"])
                .expect("valid metric")
        };
        ObserverFamilies {
            counts: OBSERVER_COUNTS.map(counter),
            latency: histogram(
                "tickwatch_loadgen_observer_latency_seconds",
                "From each message's intended send time to its arrival at an observer's connection (coordinated-omission corrected).",
            ),
            skew: histogram(
                "tickwatch_loadgen_observer_skew_seconds",
                "From a message's first to its last arrival across an observer's connections.",
            ),
            connections: IntGaugeVec::new(
                Opts::new("tickwatch_loadgen_observer_connections", "An observer's connections that are up."),
                &["observer"],
            )
            .expect("valid metric"),
            disconnects: IntCounterVec::new(
                Opts::new(
                    "tickwatch_loadgen_observer_disconnects_total",
                    "An observer's connections lost, by reason (closed, error, eof).",
                ),
                &["observer", "reason"],
            )
            .expect("valid metric"),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        let mut all: Vec<Box<dyn prometheus::core::Collector>> =
            self.counts.iter().map(|c| Box::new(c.clone()) as Box<dyn prometheus::core::Collector>).collect();
        all.push(Box::new(self.latency.clone()));
        all.push(Box::new(self.skew.clone()));
        all.push(Box::new(self.connections.clone()));
        all.push(Box::new(self.disconnects.clone()));
        all
    }
}

impl LiveMetrics {
    /// The families of shard `shard` (0 unsharded): every series carries `shard`, so the
    /// shards of one run, scraped apart, can be summed or told apart.
    pub fn new(shard: usize) -> LiveMetrics {
        let labels = std::collections::HashMap::from([("shard".to_owned(), shard.to_string())]);
        let registry = Registry::new_custom(None, Some(labels)).expect("a valid label");
        let sent =
            IntCounterVec::new(Opts::new("tickwatch_loadgen_messages_sent_total", "Messages a sink sent."), &["sink"])
                .expect("valid metric");
        let failed = IntCounterVec::new(
            Opts::new("tickwatch_loadgen_messages_failed_total", "Messages a sink failed to send."),
            &["sink"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "tickwatch_loadgen_send_latency_seconds",
                "From each message's intended send time to the completion of its send (coordinated-omission corrected).",
            )
            .buckets(vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["sink"],
        )
        .expect("valid metric");
        let phase = IntGaugeVec::new(
            Opts::new("tickwatch_loadgen_phase", "1 for the phase a sink is in, 0 for the others."),
            &["sink", "phase"],
        )
        .expect("valid metric");
        let target_rate = prometheus::GaugeVec::new(
            Opts::new(
                "tickwatch_loadgen_target_rate",
                "Messages per second the current phase asks of the sink (start of a ramp).",
            ),
            &["sink"],
        )
        .expect("valid metric");
        let observers = ObserverFamilies::new();
        for c in [
            Box::new(sent.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failed.clone()),
            Box::new(latency.clone()),
            Box::new(phase.clone()),
            Box::new(target_rate.clone()),
        ]
        .into_iter()
        .chain(observers.collectors())
        {
            registry.register(c).expect("registered once");
        }
        LiveMetrics { registry, sent, failed, latency, phase, target_rate, observers }
    }

    /// The handles of one observer.
    pub fn observer(&self, name: &str) -> LiveObserver {
        let f = &self.observers;
        let [expected, delivered, lost, duplicated, out_of_order, unexpected, late] =
            f.counts.each_ref().map(|c| c.with_label_values(&[name]));
        LiveObserver {
            name: name.to_owned(),
            expected,
            delivered,
            lost,
            duplicated,
            out_of_order,
            unexpected,
            late,
            latency: f.latency.with_label_values(&[name]),
            skew: f.skew.with_label_values(&[name]),
            connections: f.connections.with_label_values(&[name]),
            disconnects: f.disconnects.clone(),
        }
    }

    /// The handles of one sink.
    pub fn sink(&self, name: &str, phases: &[Phase]) -> LiveSink {
        for p in phases {
            self.phase.with_label_values(&[name, &p.name]).set(0);
        }
        LiveSink {
            name: name.to_owned(),
            sent: self.sent.with_label_values(&[name]),
            failed: self.failed.with_label_values(&[name]),
            latency: self.latency.with_label_values(&[name]),
            phase: self.phase.clone(),
            target_rate: self.target_rate.with_label_values(&[name]),
            current: std::sync::Mutex::new(String::new()),
            tallies: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// One observer's live handles: the ledger counts into them as it counts its tallies.
#[derive(Clone)]
pub struct LiveObserver {
    name: String,
    pub expected: IntCounter,
    pub delivered: IntCounter,
    pub lost: IntCounter,
    pub duplicated: IntCounter,
    pub out_of_order: IntCounter,
    pub unexpected: IntCounter,
    pub late: IntCounter,
    pub latency: Histogram,
    pub skew: Histogram,
    pub connections: prometheus::IntGauge,
    disconnects: IntCounterVec,
}

impl LiveObserver {
    pub fn disconnected(&self, reason: &str) {
        self.connections.dec();
        self.disconnects.with_label_values(&[&self.name, reason]).inc();
    }
}

/// One sink's live handles.
pub struct LiveSink {
    pub name: String,
    pub sent: IntCounter,
    pub failed: IntCounter,
    latency: Histogram,
    phase: IntGaugeVec,
    target_rate: prometheus::Gauge,
    current: std::sync::Mutex<String>,
    /// The per-phase tallies as of the last second, for `abort_on_fail` thresholds.
    tallies: std::sync::Mutex<Vec<Tally>>,
}

impl LiveSink {
    pub fn set_phase(&self, phase: &Phase) {
        let mut current = self.current.lock().expect("not poisoned");
        if !current.is_empty() {
            self.phase.with_label_values(&[&self.name, &current]).set(0);
        }
        self.phase.with_label_values(&[&self.name, &phase.name]).set(1);
        self.target_rate.set(phase.rate_at(0.0));
        *current = phase.name.clone();
    }

    /// Publishes the per-phase tallies so far (the driver does, once a second).
    pub fn publish(&self, tallies: &[Tally]) {
        *self.tallies.lock().expect("not poisoned") = tallies.to_vec();
    }

    /// The tallies last published.
    pub fn tallies(&self) -> Vec<Tally> {
        self.tallies.lock().expect("not poisoned").clone()
    }

    /// Records a finished batch: its messages' (intended offset, phase) and when it completed.
    pub fn record(&self, ok: bool, due: &[(f64, usize)], done_seconds: f64) {
        let counter = if ok { &self.sent } else { &self.failed };
        counter.inc_by(due.len() as u64);
        for (offset, _) in due {
            self.latency.observe((done_seconds - offset).max(0.0));
        }
    }
}

/// Shows progress until aborted: on a terminal a bar over the run's scheduled length with
/// each sink's live rate and errors; otherwise one plain line per second (for CI logs).
pub fn progress(sinks: Vec<Arc<LiveSink>>, scheduled: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(scheduled.as_millis() as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {elapsed}/{duration} {msg}").expect("a valid template"),
            );
            bar
        });
        let start = Instant::now();
        let mut last: Vec<u64> = vec![0; sinks.len()];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let parts: Vec<String> = sinks
                .iter()
                .zip(last.iter_mut())
                .map(|(s, prev)| {
                    let sent = s.sent.get();
                    let rate = sent - *prev;
                    *prev = sent;
                    let phase = s.current.lock().expect("not poisoned").clone();
                    format!("{} [{phase}] {rate}/s sent {sent} failed {}", s.name, s.failed.get())
                })
                .collect();
            match &bar {
                Some(bar) => {
                    bar.set_position(start.elapsed().as_millis() as u64);
                    bar.set_message(parts.join("  |  "));
                }
                None => eprintln!("{:>5.0}s  {}", start.elapsed().as_secs_f64(), parts.join("  |  ")),
            }
        }
    })
}
