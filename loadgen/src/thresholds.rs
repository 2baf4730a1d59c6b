//! Pass/fail criteria of a run in k6's grammar. `[thresholds]` maps a metric, narrowed to
//! a sink and/or a phase if wanted (`latency{sink:gateway,phase:steady}`), to conditions
//! such as `p(99) < 5`; they are judged on the run's tallies when it ends. A condition
//! written `{ threshold = "p(99) < 5", abort_on_fail = true, delay_abort_eval = "10s" }`
//! is also judged every second while the run goes on (after the delay), and a crossing
//! stops the run there, report and all (k6's abortOnFail).
//!
//! | metric | what | aggregations |
//! |---|---|---|
//! | `latency` | ms from each message's intended send time to the end of its send | `avg`, `min`, `med`, `max`, `p(N)` |
//! | `failed` | messages whose send failed or timed out | `rate` (failed / attempted), `count` |
//! | `achieved` | messages sent per wall-clock second over the phases' target rate | `ratio` |
//! | `e2e_latency` | ms from each message's intended send time to its arrival at an observer's connection | `avg`, `min`, `med`, `max`, `p(N)` |
//! | `lost` | deliveries an observer expected and did not see within its deadline | `rate` (lost / expected), `count` |
//! | `duplicated` | deliveries an observer's connection saw again | `rate` (duplicated / expected), `count` |
//! | `skew` | ms between a message's first and last arrival across an observer's connections | `avg`, `min`, `med`, `max`, `p(N)` |
//!
//! Sink metrics select `sink:NAME`, observer metrics (`[[observe]]`) `observer:NAME`.

use crate::run::observe::DeliveryTally;
use crate::run::pace::Tally;
use crate::verdict::Check;
use hdrhistogram::Histogram;
use std::time::Duration;

/// The metrics a threshold can read, with their aggregations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Latency,
    Failed,
    Achieved,
    E2eLatency,
    Lost,
    Duplicated,
    Skew,
}

impl Metric {
    const ALL: [(Metric, &'static str, &'static str); 7] = [
        (Metric::Latency, "latency", HISTOGRAM),
        (Metric::Failed, "failed", "rate, count"),
        (Metric::Achieved, "achieved", "ratio"),
        (Metric::E2eLatency, "e2e_latency", HISTOGRAM),
        (Metric::Lost, "lost", "rate, count"),
        (Metric::Duplicated, "duplicated", "rate, count"),
        (Metric::Skew, "skew", HISTOGRAM),
    ];

    /// Whether the metric is an observer's (selected by `observer:NAME`) or a sink's.
    fn of_observers(self) -> bool {
        matches!(self, Metric::E2eLatency | Metric::Lost | Metric::Duplicated | Metric::Skew)
    }

    fn is_histogram(self) -> bool {
        matches!(self, Metric::Latency | Metric::E2eLatency | Metric::Skew)
    }

    fn named(name: &str) -> Option<Metric> {
        Metric::ALL.iter().find(|(_, n, _)| *n == name).map(|(m, ..)| *m)
    }

    fn aggregations(self) -> &'static str {
        Metric::ALL.iter().find(|(m, ..)| *m == self).map(|(.., a)| *a).expect("listed")
    }
}

/// How a metric's observations become the one number a condition compares.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregation {
    Avg,
    Min,
    Med,
    Max,
    /// The percentile, 0 to 100.
    Percentile(f64),
    Rate,
    Count,
    Ratio,
}

impl Aggregation {
    fn parse(text: &str, metric: Metric) -> Result<Aggregation, String> {
        let aggregation = match text {
            "avg" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "med" => Aggregation::Med,
            "max" => Aggregation::Max,
            "rate" => Aggregation::Rate,
            "count" => Aggregation::Count,
            "ratio" => Aggregation::Ratio,
            _ => match text.strip_prefix("p(").and_then(|r| r.strip_suffix(')')).map(|n| n.trim().parse::<f64>()) {
                Some(Ok(p)) if (0.0..=100.0).contains(&p) => Aggregation::Percentile(p),
                Some(_) => return Err(format!("`{text}`: the percentile must be a number from 0 to 100")),
                None => return Err(format!("`{text}` is not an aggregation of {}", metric.aggregations())),
            },
        };
        let fits = match metric {
            _ if metric.is_histogram() => {
                matches!(aggregation, Aggregation::Avg | Aggregation::Min | Aggregation::Med | Aggregation::Max)
                    || matches!(aggregation, Aggregation::Percentile(_))
            }
            Metric::Achieved => aggregation == Aggregation::Ratio,
            _ => matches!(aggregation, Aggregation::Rate | Aggregation::Count),
        };
        if fits { Ok(aggregation) } else { Err(format!("`{text}` is not an aggregation of {}", metric.aggregations())) }
    }
}

/// The aggregations of the histogram metrics.
const HISTOGRAM: &str = "avg, min, med, max, p(N)";

/// A comparison, as k6 writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    /// Longest first, so `<=` is not read as `<`.
    const ALL: [(Op, &'static str); 6] =
        [(Op::Le, "<="), (Op::Ge, ">="), (Op::Eq, "=="), (Op::Ne, "!="), (Op::Lt, "<"), (Op::Gt, ">")];

    fn holds(self, observed: f64, bound: f64) -> bool {
        match self {
            Op::Lt => observed < bound,
            Op::Le => observed <= bound,
            Op::Gt => observed > bound,
            Op::Ge => observed >= bound,
            Op::Eq => observed == bound,
            Op::Ne => observed != bound,
        }
    }
}

/// One condition, such as `p(99) < 5`.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    text: String,
    aggregation: Aggregation,
    op: Op,
    bound: f64,
    /// With `abort_on_fail`: judged while the run goes on, from this long after its start.
    abort_after: Option<Duration>,
}

impl Condition {
    /// A condition as written: a string, or a table with `threshold`, `abort_on_fail` and
    /// `delay_abort_eval`.
    fn read(entry: &toml::Value, metric: Metric) -> Result<Condition, String> {
        let table = match entry {
            toml::Value::String(text) => return Condition::parse(text, metric),
            toml::Value::Table(table) => table,
            other => return Err(format!("`{other}`: a condition is a string or a table {{ threshold = \"...\" }}")),
        };
        if let Some(key) =
            table.keys().find(|k| !["threshold", "abort_on_fail", "delay_abort_eval"].contains(&k.as_str()))
        {
            return Err(format!(
                "unknown key `{key}`; a condition table has threshold, abort_on_fail, delay_abort_eval"
            ));
        }
        let text = table
            .get("threshold")
            .and_then(toml::Value::as_str)
            .ok_or("a condition table needs threshold = \"AGGREGATION OP NUMBER\"")?;
        let mut condition = Condition::parse(text, metric)?;
        let abort = match table.get("abort_on_fail") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err(format!("`{text}`: abort_on_fail is true or false")),
        };
        let delay = match table.get("delay_abort_eval") {
            None => Duration::ZERO,
            Some(toml::Value::String(d)) => {
                humantime::parse_duration(d).map_err(|e| format!("`{text}`: delay_abort_eval `{d}`: {e}"))?
            }
            Some(_) => return Err(format!("`{text}`: delay_abort_eval is a duration such as \"10s\"")),
        };
        if !abort && table.contains_key("delay_abort_eval") {
            return Err(format!("`{text}`: delay_abort_eval needs abort_on_fail = true"));
        }
        condition.abort_after = abort.then_some(delay);
        Ok(condition)
    }

    fn parse(text: &str, metric: Metric) -> Result<Condition, String> {
        let (op, at, len) = Op::ALL
            .iter()
            .find_map(|(op, symbol)| text.find(symbol).map(|at| (*op, at, symbol.len())))
            .ok_or_else(|| format!("`{text}`: expected AGGREGATION OP NUMBER, e.g. `p(99) < 5`"))?;
        let aggregation = Aggregation::parse(text[..at].trim(), metric)?;
        let bound = text[at + len..].trim();
        let bound = bound.parse::<f64>().map_err(|_| format!("`{text}`: `{bound}` is not a number"))?;
        Ok(Condition { text: text.trim().to_owned(), aggregation, op, bound, abort_after: None })
    }
}

/// One `[thresholds]` entry: a metric, the tallies it reads, and its conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The key as written, e.g. `latency{sink:gateway}`.
    pub key: String,
    metric: Metric,
    /// The sink (sink metrics) or observer (observer metrics) selected.
    target: Option<String>,
    phase: Option<String>,
    conditions: Vec<Condition>,
}

/// The names a threshold's selector may use.
pub struct Names<'a> {
    pub sinks: &'a [&'a str],
    pub observers: &'a [&'a str],
    pub phases: &'a [&'a str],
}

impl Threshold {
    /// Parses one entry of a scenario with these sinks, observers and phases; the error
    /// lists every problem.
    pub fn parse(key: &str, conditions: &[toml::Value], names: &Names) -> Result<Threshold, Vec<String>> {
        let Names { sinks, observers, phases } = *names;
        let mut problems = Vec::new();
        let (name, selector) = match key.split_once('{') {
            Some((name, rest)) => match rest.strip_suffix('}') {
                Some(selector) => (name.trim(), selector),
                None => return Err(vec![format!("`{key}`: a selector ends with `}}`")]),
            },
            None => (key.trim(), ""),
        };
        let Some(metric) = Metric::named(name) else {
            let known: Vec<&str> = Metric::ALL.iter().map(|(_, n, _)| *n).collect();
            return Err(vec![format!("`{name}` is not a metric; metrics are {}", known.join(", "))]);
        };
        let (mut selected, mut phase) = (None, None);
        let (target, targets) = if metric.of_observers() { ("observer", observers) } else { ("sink", sinks) };
        for tag in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match tag.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some((k, v)) if k == target && targets.contains(&v) => selected = Some(v.to_owned()),
                Some(("phase", v)) if phases.contains(&v) => phase = Some(v.to_owned()),
                Some((k, v)) if k == target => {
                    let article = if target == "observer" { "an" } else { "a" };
                    problems.push(format!("`{v}` is not {article} {target}; {target}s are {}", targets.join(", ")))
                }
                Some(("phase", v)) => problems.push(format!("`{v}` is not a phase; phases are {}", phases.join(", "))),
                _ => problems.push(format!("`{tag}`: a selector of `{name}` is {target}:NAME and/or phase:NAME")),
            }
        }
        if conditions.is_empty() {
            problems.push("needs at least one condition, e.g. \"p(99) < 5\"".to_owned());
        }
        let conditions: Vec<Condition> =
            conditions.iter().filter_map(|c| Condition::read(c, metric).map_err(|e| problems.push(e)).ok()).collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Threshold { key: key.to_owned(), metric, target: selected, phase, conditions })
    }

    /// Judges every condition on the tallies this threshold selects.
    pub fn judge(&self, tallies: &Tallies) -> Vec<Check> {
        self.conditions.iter().map(|condition| self.check(condition, tallies)).collect()
    }

    /// Each condition's check name (`KEY CONDITION`), as the verdict lists it.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.conditions.iter().map(|c| self.check_name(c))
    }

    fn check_name(&self, condition: &Condition) -> String {
        format!("{} {}", self.key, condition.text)
    }

    /// Whether it reads observers' tallies (`[[observe]]`) rather than sinks'.
    pub fn reads_observers(&self) -> bool {
        self.metric.of_observers()
    }

    /// Whether any condition is judged while the run goes on.
    pub fn aborts(&self) -> bool {
        self.conditions.iter().any(|c| c.abort_after.is_some())
    }

    /// The `abort_on_fail` conditions crossed on the tallies so far, `elapsed` into the
    /// run (each only once past its `delay_abort_eval`). Nothing sent yet is no crossing.
    pub fn crossed(&self, tallies: &Tallies, elapsed: Duration) -> Vec<Check> {
        self.conditions
            .iter()
            .filter(|c| c.abort_after.is_some_and(|delay| elapsed >= delay))
            .map(|condition| self.check(condition, tallies))
            .filter(|check| !check.passed && check.observed != NO_MESSAGES)
            .collect()
    }

    fn check(&self, condition: &Condition, tallies: &Tallies) -> Check {
        let selects = |name: &str, phase: &str| {
            self.target.as_deref().is_none_or(|s| s == name) && self.phase.as_deref().is_none_or(|p| p == phase)
        };
        let value = if self.metric.of_observers() {
            let selected: Vec<&Delivered> = tallies.observers.iter().filter(|d| selects(d.observer, d.phase)).collect();
            observe_deliveries(self.metric, condition.aggregation, &selected)
        } else {
            let selected: Vec<&Observed> = tallies.sinks.iter().filter(|o| selects(o.sink, o.phase)).collect();
            observe(condition.aggregation, &selected)
        };
        let observed = match value {
            Some(v) => (format_value(v), condition.op.holds(v, condition.bound)),
            None => (NO_MESSAGES.to_owned(), false),
        };
        Check::new(self.check_name(condition), &condition.text, Ok(observed))
    }
}

/// What a condition observes before its tallies hold anything.
const NO_MESSAGES: &str = "no messages";

/// An abort condition's crossing: the check, and when in the run.
pub fn abort_check(crossed: &Check, at: Duration) -> Check {
    let observed = format!("crossed {} s into the run ({}): the run was stopped", at.as_secs(), crossed.observed);
    Check::new(format!("{} (abort_on_fail)", crossed.name), "holds for the whole run", Ok((observed, false)))
}

/// One sink's tally of one phase, with the rate it was meant to send at.
pub struct Observed<'a> {
    pub sink: &'a str,
    pub phase: &'a str,
    pub tally: &'a Tally,
    /// The phase's mean target rate, messages per second.
    pub target_rate: f64,
}

/// One observer's tally of one phase.
pub struct Delivered<'a> {
    pub observer: &'a str,
    pub phase: &'a str,
    pub tally: &'a DeliveryTally,
}

/// Everything thresholds are judged on: the sinks' tallies and the observers'.
pub struct Tallies<'a> {
    pub sinks: Vec<Observed<'a>>,
    pub observers: Vec<Delivered<'a>>,
}

/// Merges `histograms` (microseconds) and aggregates them in milliseconds; `None` when
/// they hold nothing.
fn aggregate_histograms<'h>(
    aggregation: Aggregation,
    histograms: impl Iterator<Item = &'h Histogram<u64>>,
) -> Option<f64> {
    let mut merged: Option<Histogram<u64>> = None;
    for h in histograms {
        match &mut merged {
            None => merged = Some(h.clone()),
            Some(m) => m.add(h).ok()?,
        }
    }
    let h = merged.filter(|m| !m.is_empty())?;
    let ms = |us: u64| us as f64 / 1000.0;
    match aggregation {
        Aggregation::Avg => Some(h.mean() / 1000.0),
        Aggregation::Min => Some(ms(h.min())),
        Aggregation::Med => Some(ms(h.value_at_quantile(0.5))),
        Aggregation::Max => Some(ms(h.max())),
        Aggregation::Percentile(p) => Some(ms(h.value_at_quantile(p / 100.0))),
        Aggregation::Rate | Aggregation::Count | Aggregation::Ratio => None,
    }
}

/// An observer metric's aggregation over `selected`.
fn observe_deliveries(metric: Metric, aggregation: Aggregation, selected: &[&Delivered]) -> Option<f64> {
    let expected: u64 = selected.iter().map(|d| d.tally.expected).sum();
    let count: u64 =
        selected.iter().map(|d| if metric == Metric::Lost { d.tally.lost } else { d.tally.duplicated }).sum();
    match (metric, aggregation) {
        (Metric::Skew, _) => aggregate_histograms(aggregation, selected.iter().map(|d| &d.tally.skew)),
        (_, Aggregation::Rate) => (expected > 0).then(|| count as f64 / expected as f64),
        (_, Aggregation::Count) => Some(count as f64),
        _ => aggregate_histograms(aggregation, selected.iter().map(|d| &d.tally.latency)),
    }
}

/// The aggregation over `selected`; `None` when there is nothing to aggregate.
fn observe(aggregation: Aggregation, selected: &[&Observed]) -> Option<f64> {
    let attempted: u64 = selected.iter().map(|o| o.tally.attempted).sum();
    let failed: u64 = selected.iter().map(|o| o.tally.failed).sum();
    match aggregation {
        Aggregation::Avg | Aggregation::Min | Aggregation::Med | Aggregation::Max | Aggregation::Percentile(_) => {
            aggregate_histograms(aggregation, selected.iter().map(|o| &o.tally.latency))
        }
        Aggregation::Rate => (attempted > 0).then(|| failed as f64 / attempted as f64),
        Aggregation::Count => Some(failed as f64),
        Aggregation::Ratio => {
            let sent: u64 = selected.iter().map(|o| o.tally.sent).sum();
            let intended: f64 = selected.iter().map(|o| o.target_rate * o.tally.wall_seconds).sum();
            (intended > 0.0).then(|| sent as f64 / intended)
        }
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.4}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(latencies_us: &[u64], failed: u64, wall_seconds: f64) -> Tally {
        let mut t = Tally::default();
        for &l in latencies_us {
            t.latency.record(l).unwrap();
        }
        t.sent = latencies_us.len() as u64;
        t.failed = failed;
        t.attempted = t.sent + failed;
        t.wall_seconds = wall_seconds;
        t.seconds = wall_seconds;
        t
    }

    fn sinks(sinks: Vec<Observed>) -> Tallies {
        Tallies { sinks, observers: Vec::new() }
    }

    #[test]
    fn observer_metrics_are_judged_on_the_observers_tallies() {
        let mut steady = DeliveryTally { expected: 100, delivered: 97, lost: 3, duplicated: 2, ..Default::default() };
        for us in [2_000, 4_000, 9_000] {
            steady.latency.record(us).unwrap();
            steady.skew.record(us / 2).unwrap();
        }
        let faults = DeliveryTally { expected: 100, delivered: 100, ..Default::default() };
        let tallies = Tallies {
            sinks: Vec::new(),
            observers: vec![
                Delivered { observer: "browsers", phase: "steady", tally: &steady },
                Delivered { observer: "browsers", phase: "faults", tally: &faults },
            ],
        };
        let lost = parse("lost{observer:browsers}", &["count == 3", "rate < 0.01"]).unwrap().judge(&tallies);
        assert_eq!((lost[0].passed, lost[1].passed, lost[1].observed.as_str()), (true, false, "0.0150"));
        let in_faults = parse("lost{phase:faults}", &["count == 0"]).unwrap().judge(&tallies);
        assert!(in_faults[0].passed, "{in_faults:?}");
        let duplicated = parse("duplicated", &["count < 1"]).unwrap().judge(&tallies);
        assert_eq!((duplicated[0].passed, duplicated[0].observed.as_str()), (false, "2"));
        let latency = parse("e2e_latency", &["max < 5"]).unwrap().judge(&tallies);
        assert!(!latency[0].passed && latency[0].observed.starts_with("9.0"), "{latency:?}");
        let skew = parse("skew{observer:browsers}", &["p(50) < 2.5"]).unwrap().judge(&tallies);
        assert!(skew[0].passed, "{skew:?}");
        let problems = |key, c: &[&str]| parse(key, c).unwrap_err().join("; ");
        assert!(problems("lost{sink:gateway}", &["count == 0"]).contains("observer:NAME and/or phase:NAME"));
        assert!(
            problems("lost{observer:x}", &["count == 0"]).contains("`x` is not an observer; observers are browsers")
        );
        assert!(problems("skew", &["rate < 1"]).contains("not an aggregation of avg, min, med, max, p(N)"));
    }

    fn parse(key: &str, conditions: &[&str]) -> Result<Threshold, Vec<String>> {
        let conditions: Vec<toml::Value> = conditions.iter().map(|c| toml::Value::String(c.to_string())).collect();
        let names = Names { sinks: &["gateway", "store"], observers: &["browsers"], phases: &["steady", "faults"] };
        Threshold::parse(key, &conditions, &names)
    }

    #[test]
    fn conditions_are_judged_on_the_selected_tallies() {
        let (fast, slow) = (tally(&[1_000, 2_000, 3_000], 0, 1.0), tally(&[40_000], 1, 1.0));
        let observed = sinks(vec![
            Observed { sink: "gateway", phase: "steady", tally: &fast, target_rate: 3.0 },
            Observed { sink: "store", phase: "steady", tally: &slow, target_rate: 4.0 },
        ]);
        let gateway = parse("latency{sink:gateway}", &["max < 5", "p(50) <= 2", "avg < 2.01"]).unwrap();
        let checks = gateway.judge(&observed);
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        // HdrHistogram keeps 3 significant digits: 3000 us reads back as 3.001 ms.
        assert!(checks[0].observed.starts_with("3.00"), "{checks:?}");
        let all = parse("latency", &["max < 5"]).unwrap().judge(&observed);
        assert!(!all[0].passed && all[0].observed.starts_with("40.0"), "{all:?}");
        let failed = parse("failed{phase:steady}", &["rate < 0.1", "count == 1"]).unwrap().judge(&observed);
        assert_eq!((failed[0].passed, failed[1].passed), (false, true), "{failed:?}");
        let achieved = parse("achieved{sink:store}", &["ratio >= 0.99"]).unwrap().judge(&observed);
        assert_eq!(achieved[0].observed, "0.2500");
        assert!(!achieved[0].passed);
    }

    #[test]
    fn abort_conditions_are_judged_after_their_delay_and_only_on_messages() {
        let table: toml::Value = toml::from_str::<toml::Table>(
            "c = { threshold = \"max < 5\", abort_on_fail = true, delay_abort_eval = \"10s\" }",
        )
        .unwrap()["c"]
            .clone();
        let names = Names { sinks: &["gateway"], observers: &[], phases: &["steady"] };
        let threshold = Threshold::parse("latency", &[table], &names).unwrap();
        assert!(threshold.aborts());
        let (slow, empty) = (tally(&[40_000], 0, 1.0), tally(&[], 0, 1.0));
        let observed = sinks(vec![Observed { sink: "gateway", phase: "steady", tally: &slow, target_rate: 1.0 }]);
        assert!(threshold.crossed(&observed, Duration::from_secs(9)).is_empty(), "not before its delay");
        assert_eq!(threshold.crossed(&observed, Duration::from_secs(10)).len(), 1);
        let nothing = sinks(vec![Observed { sink: "gateway", phase: "steady", tally: &empty, target_rate: 1.0 }]);
        assert!(threshold.crossed(&nothing, Duration::from_secs(60)).is_empty(), "nothing sent is no crossing");
        assert!(!parse("latency", &["max < 5"]).unwrap().aborts());
    }

    #[test]
    fn nothing_to_judge_fails() {
        let empty = tally(&[], 0, 1.0);
        let observed = sinks(vec![Observed { sink: "gateway", phase: "steady", tally: &empty, target_rate: 0.0 }]);
        let checks = parse("latency", &["p(99) < 5"]).unwrap().judge(&observed);
        assert_eq!((checks[0].passed, checks[0].observed.as_str()), (false, "no messages"));
    }

    #[test]
    fn bad_entries_name_what_is_wrong() {
        let problems = |key, c: &[&str]| parse(key, c).unwrap_err().join("; ");
        assert!(problems("latancy", &["max < 5"]).contains("`latancy` is not a metric"));
        assert!(
            problems("latency{sink:nope}", &["max < 5"]).contains("`nope` is not a sink; sinks are gateway, store")
        );
        assert!(problems("latency{phase:x}", &["max < 5"]).contains("`x` is not a phase"));
        assert!(problems("latency{host:x}", &["max < 5"]).contains("sink:NAME and/or phase:NAME"));
        assert!(problems("latency", &["rate < 5"]).contains("not an aggregation of avg, min, med, max, p(N)"));
        assert!(problems("failed", &["p(99) < 5"]).contains("not an aggregation of rate, count"));
        assert!(problems("latency", &["p(101) < 5"]).contains("from 0 to 100"));
        assert!(problems("latency", &["max 5"]).contains("expected AGGREGATION OP NUMBER"));
        assert!(problems("latency", &["max < five"]).contains("`five` is not a number"));
        assert!(problems("latency", &[]).contains("at least one condition"));
    }
}
