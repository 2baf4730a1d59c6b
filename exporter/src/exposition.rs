//! Samples gathered during one scrape, and their encoding into the Prometheus text format.
//!
//! Probes describe what they read as plain samples of statically declared families; the
//! scrape merges every target's samples with the long-lived metrics of the registry
//! (counters fed by background consumers, process metrics) and encodes them once, so a
//! family that several targets report appears once with all their series.

use prometheus::Registry;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::collections::BTreeMap;

/// Whether a family's value only goes up (a counter read from the target) or moves
/// freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A metric family's name, help text and kind, declared once as a `static`.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

impl Family {
    pub const fn gauge(name: &'static str, help: &'static str) -> Family {
        Family { name, help, kind: Kind::Gauge }
    }

    pub const fn counter(name: &'static str, help: &'static str) -> Family {
        Family { name, help, kind: Kind::Counter }
    }
}

/// One series' value.
#[derive(Debug)]
pub struct Sample {
    pub family: &'static Family,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// The samples of one scrape (or one target's share of it).
#[derive(Debug, Default)]
pub struct Samples {
    items: Vec<Sample>,
}

impl Samples {
    pub fn new() -> Samples {
        Samples::default()
    }

    /// Adds one series.
    pub fn add(&mut self, family: &'static Family, labels: &[(&'static str, &str)], value: f64) {
        let labels = labels.iter().map(|&(k, v)| (k, v.to_owned())).collect();
        self.items.push(Sample { family, labels, value });
    }

    /// Moves every sample of `other` into this set.
    pub fn append(&mut self, other: Samples) {
        self.items.extend(other.items);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The samples, for tests and benches that inspect them.
    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        self.items.iter()
    }

    /// The value of the series of `family` whose labels include all of `labels`.
    pub fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.items
            .iter()
            .find(|s| {
                s.family.name == family
                    && labels.iter().all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
    }
}

/// Encodes `samples` together with everything `registry` holds, as the text format.
pub fn encode(samples: Samples, registry: &Registry) -> String {
    let mut families: BTreeMap<&'static str, MetricFamily> = BTreeMap::new();
    for sample in samples.items {
        let family = families.entry(sample.family.name).or_insert_with(|| {
            let mut f = MetricFamily::default();
            f.set_name(sample.family.name.to_owned());
            f.set_help(sample.family.help.to_owned());
            f.set_field_type(match sample.family.kind {
                Kind::Gauge => MetricType::GAUGE,
                Kind::Counter => MetricType::COUNTER,
            });
            f
        });
        let mut metric = Metric::default();
        metric.set_label(
            sample
                .labels
                .into_iter()
                .map(|(k, v)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(k.to_owned());
                    pair.set_value(v);
                    pair
                })
                .collect(),
        );
        match sample.family.kind {
            Kind::Gauge => {
                let mut g = Gauge::default();
                g.set_value(sample.value);
                metric.set_gauge(g);
            }
            Kind::Counter => {
                let mut c = Counter::default();
                c.set_value(sample.value);
                metric.set_counter(c);
            }
        }
        family.mut_metric().push(metric);
    }
    let mut all: Vec<MetricFamily> = families.into_values().collect();
    all.extend(registry.gather());
    let mut text = String::with_capacity(all.iter().map(|f| f.get_metric().len() * 96).sum());
    prometheus::TextEncoder::new()
        .encode_utf8(&all, &mut text)
        .expect("families built here always have a name, a type and at least one metric");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    static UP: Family = Family::gauge("demo_up", "Whether the demo target answered.");
    static HITS: Family = Family::counter("demo_hits_total", "Hits.");

    #[test]
    fn families_from_several_targets_are_encoded_once() {
        let mut samples = Samples::new();
        samples.add(&UP, &[("target", "a")], 1.0);
        samples.add(&HITS, &[("target", "a")], 5.0);
        samples.add(&UP, &[("target", "b")], 0.0);
        let text = encode(samples, &Registry::new());
        assert_eq!(text.matches("# TYPE demo_up gauge").count(), 1, "{text}");
        assert!(text.contains("demo_up{target=\"a\"} 1\n") && text.contains("demo_up{target=\"b\"} 0\n"), "{text}");
        assert!(text.contains("# TYPE demo_hits_total counter\ndemo_hits_total{target=\"a\"} 5\n"), "{text}");
    }
}
