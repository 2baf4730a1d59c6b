//! State that outlives a scrape and a reload: the registry of long-lived metrics (build
//! info, error counters, background consumers' counters, process metrics), the
//! consumers themselves, and the monitors' taps.

use crate::consumers::Consumers;
use crate::probe::websocket::monitor::Tap;
use prometheus::core::Collector;
use prometheus::proto::{LabelPair, MetricFamily};
use prometheus::{Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;

/// Families also exposed under a peer's name, `(ours, theirs)`: celery-mixin's dashboards
/// query `celery_task_runtime_bucket`. The histogram is observed once and copied at
/// scrape time, so only the exposition carries it twice.
const ALIASES: &[(&str, &str)] = &[("celery_task_runtime_seconds", "celery_task_runtime")];

/// Long-lived metrics, shared by the web server, the probes and background consumers.
pub struct Shared {
    pub registry: Registry,
    /// `tickwatch_probe_errors_total{kind,target,reason}`.
    pub probe_errors: IntCounterVec,
    /// Messages of monitor-mode WebSocket targets, by target name, for feeds to consume.
    pub taps: Mutex<HashMap<String, Tap>>,
    pub consumers: Consumers,
    /// `tickwatch_config_last_reload_successful`.
    pub reload_successful: IntGauge,
    /// `tickwatch_config_last_reload_success_timestamp_seconds`.
    pub reload_success_time: Gauge,
    families: Families,
}

/// Families made so far, by name: a reload that builds a kind again gets the same
/// family (a second registration would fail, and its series would be lost).
struct Families {
    registry: Registry,
    made: Mutex<HashMap<String, Made>>,
}

/// A family made, and the shape (a histogram's buckets) it was made with.
struct Made {
    family: Box<dyn Any + Send>,
    shape: String,
}

impl Families {
    /// The family named `name`, made by `make` and registered the first time only.
    fn get<F: Collector + Clone + Send + 'static>(&self, name: &str, make: impl FnOnce() -> F) -> F {
        self.shaped(name, String::new(), make)
    }

    /// Like [`Families::get`], for families whose `shape` can change with the config: a
    /// family of another shape is unregistered and made again (its series start afresh).
    fn shaped<F: Collector + Clone + Send + 'static>(&self, name: &str, shape: String, make: impl FnOnce() -> F) -> F {
        let mut made = self.made.lock().expect("not poisoned");
        if let Some(old) = made.get(name)
            && let Some(family) = old.family.downcast_ref::<F>()
        {
            if old.shape == shape {
                return family.clone();
            }
            self.registry.unregister(Box::new(family.clone())).expect("registered when made");
        }
        let family = make();
        register(&self.registry, family.clone());
        made.insert(name.to_owned(), Made { family: Box::new(family.clone()), shape });
        family
    }
}

/// Registers a metric; names are fixed in code, so a clash is a programming error.
fn register(registry: &Registry, collector: impl Collector + 'static) {
    registry.register(Box::new(collector)).expect("each metric is registered once");
}

impl Shared {
    /// A registry with build info, the probe error counter, the consumers' and reloads'
    /// metrics, and process metrics.
    pub fn new() -> Shared {
        let registry = Registry::new();
        let build_info = IntGauge::with_opts(
            Opts::new("tickwatch_build_info", "Always 1; the labels say which tickwatch-exporter is running.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build_info.set(1);
        register(&registry, build_info);
        register(&registry, prometheus::process_collector::ProcessCollector::for_self());
        let families = Families { registry: registry.clone(), made: Mutex::new(HashMap::new()) };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            families.get(name, || IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
        };
        let probe_errors = counter(
            "tickwatch_probe_errors_total",
            "Failed probes by kind, target and reason.",
            &["kind", "target", "reason"],
        );
        let consumer_up = families.get("tickwatch_consumer_up", || {
            let help = "Whether the background consumer of the target runs (0 from its death until its restart).";
            IntGaugeVec::new(Opts::new("tickwatch_consumer_up", help), &["kind", "target"]).expect("valid metric")
        });
        let restarts = counter(
            "tickwatch_consumer_restarts_total",
            "Times the background consumer of the target ended or panicked and was started again.",
            &["kind", "target"],
        );
        let reload_successful = families.get("tickwatch_config_last_reload_successful", || {
            let help = "Whether the last config reload worked (1) or not (0).";
            IntGauge::new("tickwatch_config_last_reload_successful", help).expect("valid metric")
        });
        let reload_success_time = families.get("tickwatch_config_last_reload_success_timestamp_seconds", || {
            let help = "When the config was last loaded successfully (at start or a reload), in Unix seconds.";
            Gauge::new("tickwatch_config_last_reload_success_timestamp_seconds", help).expect("valid metric")
        });
        Shared {
            registry,
            probe_errors,
            taps: Mutex::new(HashMap::new()),
            consumers: Consumers::new(consumer_up, restarts),
            reload_successful,
            reload_success_time,
            families,
        }
    }

    /// The long-lived series of `/metrics`: everything but the series of targets (or
    /// feeds) no longer configured, which a reload removed.
    pub fn gather_configured(&self, configured: &dyn Fn(&str) -> bool) -> Vec<MetricFamily> {
        self.gather_where(&|labels| labels.iter().all(|l| !is_target_label(l.name()) || configured(l.value())), true)
    }

    /// The registry's series whose labels `keep` accepts; the `tickwatch_*` families
    /// only when `own`; each family in [`ALIASES`] twice.
    fn gather_where(&self, keep: &LabelFilter<'_>, own: bool) -> Vec<MetricFamily> {
        let mut families = self.registry.gather();
        families.retain_mut(|family| {
            if !own && family.name().starts_with("tickwatch_") {
                return false;
            }
            let metrics: Vec<_> = family.take_metric().into_iter().filter(|m| keep(m.get_label())).collect();
            family.set_metric(metrics);
            !family.get_metric().is_empty()
        });
        let aliases: Vec<MetricFamily> = families
            .iter()
            .filter_map(|family| {
                let (_, theirs) = ALIASES.iter().find(|(ours, _)| *ours == family.name())?;
                let mut copy = family.clone();
                copy.set_name((*theirs).to_owned());
                Some(copy)
            })
            .collect();
        families.extend(aliases);
        families
    }

    /// The long-lived series that belong to target (or feed) `name`, for `/probe`:
    /// those labelled `target` or `feed` = `name`, without the exporter's own
    /// `tickwatch_*` families.
    pub fn gather_target(&self, name: &str) -> Vec<MetricFamily> {
        self.gather_where(&|labels| labels.iter().any(|l| is_target_label(l.name()) && l.value() == name), false)
    }

    /// The counter family `name`, created and registered the first time.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.families.get(name, || IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    /// The integer gauge family `name`, created and registered the first time.
    pub fn int_gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.families.get(name, || IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    /// The gauge family `name`, created and registered the first time.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        self.families.get(name, || GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    /// The histogram family `name`, created and registered the first time, and again
    /// when `buckets` differ from the last time.
    pub fn histogram_vec(&self, name: &str, help: &str, buckets: Vec<f64>, labels: &[&str]) -> HistogramVec {
        self.families.shaped(name, format!("{buckets:?}"), || {
            HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric")
        })
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new()
    }
}

/// Decides from a series' labels whether it is gathered.
type LabelFilter<'a> = dyn Fn(&[LabelPair]) -> bool + 'a;

/// The labels that name a target: `target`, and `feed` for feeds.
fn is_target_label(label: &str) -> bool {
    matches!(label, "target" | "feed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_made_again_with_other_buckets_replaces_the_old_one() {
        let shared = Shared::new();
        let old = shared.histogram_vec("demo_wait", "Wait.", vec![1.0, 2.0], &["target"]);
        old.with_label_values(&["a"]).observe(1.5);
        let same = shared.histogram_vec("demo_wait", "Wait.", vec![1.0, 2.0], &["target"]);
        assert_eq!(same.with_label_values(&["a"]).get_sample_count(), 1, "same buckets: the same family");
        let new = shared.histogram_vec("demo_wait", "Wait.", vec![5.0], &["target"]);
        new.with_label_values(&["a"]).observe(3.0);
        let families = shared.registry.gather();
        let wait = families.iter().find(|f| f.name() == "demo_wait").unwrap();
        let buckets = wait.get_metric()[0].get_histogram().get_bucket();
        assert_eq!(buckets.iter().map(|b| b.upper_bound()).collect::<Vec<_>>(), vec![5.0]);
        assert_eq!(wait.get_metric()[0].get_histogram().get_sample_count(), 1, "started afresh");
    }

    #[test]
    fn aliased_families_are_gathered_under_both_names() {
        let shared = Shared::new();
        let runtime = shared.histogram_vec("celery_task_runtime_seconds", "Runtime.", vec![1.0], &["target"]);
        runtime.with_label_values(&["broker"]).observe(0.5);
        let families = shared.gather_configured(&|_| true);
        let counts: Vec<_> = ["celery_task_runtime_seconds", "celery_task_runtime"]
            .iter()
            .map(|name| {
                families.iter().find(|f| f.name() == *name).unwrap().get_metric()[0].get_histogram().get_sample_count()
            })
            .collect();
        assert_eq!(counts, vec![1, 1]);
    }
}
