//! Samples gathered during one scrape, and their encoding into the Prometheus text format.
//!
//! Probes describe what they read as plain samples of statically declared families; the
//! scrape merges every target's samples with the long-lived metrics of the registry
//! (counters fed by background consumers, process metrics) and encodes them once, so a
//! family that several targets report appears once with all their series.

use prometheus::proto::MetricFamily;
use std::borrow::Cow;
use std::fmt::Write;

/// Declares metric families as statics, one line each, so a module's families read as a
/// table: `families! { UP: gauge "redis_up", "Whether the server answered."; }`.
macro_rules! families {
    ($($vis:vis $ident:ident: $kind:ident $name:literal, $help:literal;)*) => {
        $($vis static $ident: $crate::exposition::Family = $crate::exposition::Family::$kind($name, $help);)*
    };
}
pub(crate) use families;

/// Whether a family's value only goes up (a counter read from the target), moves freely,
/// or is a distribution the target already summed up (a summary's quantiles or a
/// histogram's buckets, each with `_sum` and `_count` series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Summary,
    Histogram,
}

impl Kind {
    fn type_name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }
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

    pub const fn summary(name: &'static str, help: &'static str) -> Family {
        Family { name, help, kind: Kind::Summary }
    }

    pub const fn histogram(name: &'static str, help: &'static str) -> Family {
        Family { name, help, kind: Kind::Histogram }
    }
}

/// One series' value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub family: &'static Family,
    /// What follows the family name in the series name: empty, or `_bucket`, `_sum`,
    /// `_count` for a summary's or histogram's parts.
    pub suffix: &'static str,
    /// The label pairs as the text format writes them between the braces, values escaped
    /// (`target="a",le="1"`): one allocation per series (a scrape of 100,000 queues holds
    /// 100,000 of them), written out as they are.
    pub labels: String,
    pub value: f64,
}

/// The samples of one scrape (or one target's share of it).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    items: Vec<Sample>,
}

impl Samples {
    pub fn new() -> Samples {
        Samples::default()
    }

    /// Adds one series.
    pub fn add(&mut self, family: &'static Family, labels: &[(&'static str, &str)], value: f64) {
        self.add_part(family, "", labels, value);
    }

    /// Adds one series of a summary or histogram: `suffix` is `""` (a quantile),
    /// `_bucket`, `_sum` or `_count`. Add a series' parts in that order.
    pub fn add_part(
        &mut self,
        family: &'static Family,
        suffix: &'static str,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        let mut rendered = String::with_capacity(labels.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
        for (i, (name, value)) in labels.iter().enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            let _ = write!(rendered, "{name}=\"{}\"", escape(value, true));
        }
        self.items.push(Sample { family, suffix, labels: rendered, value });
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

    /// The value of the series of `family` whose labels include all of `labels`.
    #[cfg(test)]
    pub fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let has = |rendered: &str, (name, value): &(&str, &str)| {
            let pair = format!("{name}=\"{}\"", escape(value, true));
            rendered.split_inclusive("\",").any(|p| p.strip_suffix(',').unwrap_or(p) == pair)
        };
        self.items.iter().find(|s| s.family.name == family && labels.iter().all(|l| has(&s.labels, l))).map(|s| s.value)
    }
}

/// Encodes `samples` together with the long-lived `families` (gathered from the
/// registry), as the text format.
///
/// The scrape's own samples are written straight to text: going through the prometheus
/// crate's `MetricFamily` structs would copy every series once more, and at 10,000 queue
/// series that copy was most of the exporter's memory. The long-lived registry metrics
/// (few series) go through the crate's `TextEncoder`. The test below holds the two
/// writers to the same bytes.
pub fn encode(samples: Samples, families: &[MetricFamily]) -> String {
    let mut items = samples.items;
    // Stable: series of one family keep the order the targets were probed in.
    items.sort_by(|a, b| a.family.name.cmp(b.family.name));
    let mut text = String::with_capacity(items.len() * 80 + 8 * 1024);
    let mut current = "";
    for sample in &items {
        let family = sample.family;
        if family.name != current {
            current = family.name;
            let _ = writeln!(text, "# HELP {} {}", family.name, escape(family.help, false));
            let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind.type_name());
        }
        text.push_str(family.name);
        text.push_str(sample.suffix);
        if !sample.labels.is_empty() {
            text.push('{');
            text.push_str(&sample.labels);
            text.push('}');
        }
        let _ = writeln!(text, " {}", sample.value);
    }
    prometheus::TextEncoder::new()
        .encode_utf8(families, &mut text)
        .expect("registered metrics always have a name, a type and at least one series");
    text
}

/// Escapes a label value (backslash, quote, newline) or help text (backslash, newline).
fn escape(text: &str, quote: bool) -> Cow<'_, str> {
    if !text.contains(['\\', '\n', '"']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    families! {
        UP: gauge "demo_up", "Whether the demo target answered.";
        HITS: counter "demo_hits_total", "Hits.";
        LATENCY: histogram "demo_latency_usec", "Latency.";
    }

    #[test]
    fn families_from_several_targets_are_encoded_once() {
        let mut samples = Samples::new();
        samples.add(&UP, &[("target", "a")], 1.0);
        samples.add(&HITS, &[("target", "a")], 5.0);
        samples.add(&UP, &[("target", "b")], 0.0);
        let text = encode(samples, &[]);
        assert_eq!(text.matches("# TYPE demo_up gauge").count(), 1, "{text}");
        assert!(text.contains("demo_up{target=\"a\"} 1\n") && text.contains("demo_up{target=\"b\"} 0\n"), "{text}");
        assert!(text.contains("# TYPE demo_hits_total counter\ndemo_hits_total{target=\"a\"} 5\n"), "{text}");
    }

    #[test]
    fn writes_the_same_bytes_as_the_prometheus_crate() {
        use prometheus::{CounterVec, GaugeVec, Opts, Registry};
        let odd = "q\"uo\\te\nd";
        let registry = Registry::new();
        let up = GaugeVec::new(Opts::new("demo_up", "Whether the demo target answered."), &["target"]).unwrap();
        let hits = CounterVec::new(Opts::new("demo_hits_total", "Hits."), &["target"]).unwrap();
        registry.register(Box::new(up.clone())).unwrap();
        registry.register(Box::new(hits.clone())).unwrap();
        let mut samples = Samples::new();
        for (target, value) in [("a", 1.0), ("c", 1e-9), (odd, 0.25)] {
            up.with_label_values(&[target]).set(value);
            samples.add(&UP, &[("target", target)], value);
        }
        hits.with_label_values(&["a"]).inc_by(12345678.0);
        samples.add(&HITS, &[("target", "a")], 12345678.0);
        let buckets = vec![1.0, 2.0, 4.0];
        let latency = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("demo_latency_usec", "Latency.").buckets(buckets),
            &["cmd"],
        )
        .unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        for observed in [0.5, 3.0, 3.0, 9.0] {
            latency.with_label_values(&["get"]).observe(observed);
        }
        for (le, count) in [("1", 1.0), ("2", 1.0), ("4", 3.0), ("+Inf", 4.0)] {
            samples.add_part(&LATENCY, "_bucket", &[("cmd", "get"), ("le", le)], count);
        }
        samples.add_part(&LATENCY, "_sum", &[("cmd", "get")], 15.5);
        samples.add_part(&LATENCY, "_count", &[("cmd", "get")], 4.0);
        let ours = encode(samples, &[]);
        let theirs = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
        assert_eq!(ours, theirs);
    }
}
