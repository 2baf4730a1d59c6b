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

/// The series of one scrape (or one target's share of it), written as text lines as they
/// are added, one buffer per family: a series costs its line and nothing else (a struct
/// and a label string per series were most of the exporter's memory at 100,000 queues).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    families: Vec<Lines>,
}

/// One family's series, in the order they were added.
#[derive(Debug, Clone)]
struct Lines {
    family: &'static Family,
    text: String,
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
        let text = self.lines_of(family);
        text.push_str(family.name);
        text.push_str(suffix);
        for (i, (name, label_value)) in labels.iter().enumerate() {
            text.push(if i == 0 { '{' } else { ',' });
            text.push_str(name);
            text.push_str("=\"");
            text.push_str(&escape(label_value, true));
            text.push('"');
        }
        if !labels.is_empty() {
            text.push('}');
        }
        let _ = writeln!(text, " {value}");
    }

    /// The text of `family`'s series, started empty on its first series.
    fn lines_of(&mut self, family: &'static Family) -> &mut String {
        // From the end: a probe adds a family's series one after another.
        let at = match self.families.iter().rposition(|lines| lines.family.name == family.name) {
            Some(at) => at,
            None => {
                self.families.push(Lines { family, text: String::new() });
                self.families.len() - 1
            }
        };
        &mut self.families[at].text
    }

    /// Moves every series of `other` into this set, after the series already here.
    pub fn append(&mut self, other: Samples) {
        for lines in other.families {
            match self.families.iter_mut().find(|mine| mine.family.name == lines.family.name) {
                Some(mine) => mine.text.push_str(&lines.text),
                // A family new here is moved, not copied: a scrape takes a big target's
                // queue series as they are.
                None => self.families.push(lines),
            }
        }
    }

    /// How many series there are.
    pub fn len(&self) -> usize {
        self.families.iter().map(|lines| lines.text.matches('\n').count()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// The value of the series of `family` whose labels include all of `labels`.
    #[cfg(test)]
    pub fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let has = |line: &str, (name, value): &(&str, &str)| {
            let pair = format!("{name}=\"{}\"", escape(value, true));
            ['{', ','].iter().any(|open| ['}', ','].iter().any(|close| line.contains(&format!("{open}{pair}{close}"))))
        };
        let mut lines = self.families.iter().filter(|l| l.family.name == family).flat_map(|l| l.text.lines());
        let line = lines.find(|line| labels.iter().all(|label| has(line, label)))?;
        line.rsplit_once(' ')?.1.parse().ok()
    }
}

/// An encoded exposition, in the pieces it was written in, so a scrape goes out without
/// first being copied into one string (at 100,000 queues that copy was 6 MB).
#[derive(Debug)]
pub struct Exposition {
    pieces: Vec<String>,
}

impl Exposition {
    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(String::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces, in order.
    pub fn into_pieces(self) -> Vec<String> {
        self.pieces
    }
}

impl std::fmt::Display for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.pieces.iter().try_for_each(|piece| f.write_str(piece))
    }
}

/// Encodes `samples` together with the long-lived `families` (gathered from the
/// registry), as the text format.
///
/// The scrape's own series are already text: going through the prometheus crate's
/// `MetricFamily` structs would copy every series once more, and at 10,000 queue series
/// that copy was most of the exporter's memory. The long-lived registry metrics (few
/// series) go through the crate's `TextEncoder`. The test below holds the two writers to
/// the same bytes.
pub fn encode(samples: Samples, families: &[MetricFamily]) -> Exposition {
    let mut scraped = samples.families;
    // Stable: what the targets wrote keeps the order they were probed in.
    scraped.sort_by(|a, b| a.family.name.cmp(b.family.name));
    let mut pieces = Vec::with_capacity(scraped.len() * 2 + 1);
    for Lines { family, text } in scraped {
        pieces.push(format!(
            "# HELP {} {}\n# TYPE {} {}\n",
            family.name,
            escape(family.help, false),
            family.name,
            family.kind.type_name()
        ));
        pieces.push(text);
    }
    let mut registry = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(families, &mut registry)
        .expect("registered metrics always have a name, a type and at least one series");
    pieces.push(registry);
    Exposition { pieces }
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
        let text = encode(samples, &[]).to_string();
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
        let ours = encode(samples, &[]).to_string();
        let theirs = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
        assert_eq!(ours, theirs);
    }
}
