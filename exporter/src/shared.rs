//! State that outlives a scrape: the registry of long-lived metrics (build info, error
//! counters, background consumers' counters, process metrics).

use crate::probe::websocket::monitor::Tap;
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::collections::HashMap;
use std::sync::Mutex;

/// Long-lived metrics, shared by the web server, the probes and background consumers.
pub struct Shared {
    pub registry: Registry,
    /// `tickwatch_probe_errors_total{kind,target,reason}`.
    pub probe_errors: IntCounterVec,
    /// Messages of monitor-mode WebSocket targets, by target name, for feeds to consume.
    pub taps: Mutex<HashMap<String, Tap>>,
}

impl Shared {
    /// A registry with build info, the probe error counter and process metrics.
    pub fn new() -> Shared {
        let registry = Registry::new();
        let build_info = IntGauge::with_opts(
            Opts::new("tickwatch_build_info", "Always 1; the labels say which tickwatch-exporter is running.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build_info.set(1);
        let probe_errors = IntCounterVec::new(
            Opts::new("tickwatch_probe_errors_total", "Failed probes by kind, target and reason."),
            &["kind", "target", "reason"],
        )
        .expect("valid metric");
        registry.register(Box::new(build_info)).expect("registered once");
        registry.register(Box::new(probe_errors.clone())).expect("registered once");
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("registered once");
        Shared { registry, probe_errors, taps: Mutex::new(HashMap::new()) }
    }

    /// The long-lived series that belong to target (or feed) `name`, for `/probe`:
    /// those labelled `target` or `feed` = `name`, without the exporter's own
    /// `tickwatch_*` families.
    pub fn gather_target(&self, name: &str) -> Vec<MetricFamily> {
        let mut families = self.registry.gather();
        families.retain_mut(|family| {
            if family.name().starts_with("tickwatch_") {
                return false;
            }
            let metrics: Vec<_> = family
                .take_metric()
                .into_iter()
                .filter(|m| m.get_label().iter().any(|l| matches!(l.name(), "target" | "feed") && l.value() == name))
                .collect();
            family.set_metric(metrics);
            !family.get_metric().is_empty()
        });
        families
    }

    /// Registers a background consumer's metric; names are fixed in code, so a clash is
    /// a programming error.
    pub fn register(&self, collector: impl prometheus::core::Collector + Clone + 'static) {
        self.registry.register(Box::new(collector)).expect("each metric is registered once");
    }

    /// Creates and registers a counter family.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let family = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
        self.register(family.clone());
        family
    }

    /// Creates and registers an integer gauge family.
    pub fn int_gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let family = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
        self.register(family.clone());
        family
    }

    /// Creates and registers a gauge family.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        let family = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
        self.register(family.clone());
        family
    }

    /// Creates and registers a histogram family.
    pub fn histogram_vec(&self, name: &str, help: &str, buckets: Vec<f64>, labels: &[&str]) -> HistogramVec {
        let family = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric");
        self.register(family.clone());
        family
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new()
    }
}
