//! The report of a run: `summary.json` (counts, achieved rates and latency percentiles per
//! sink and phase, in milliseconds with microsecond precision), an HdrHistogram interval
//! log per sink (`<sink>.hlog`, one histogram per second, readable by HdrHistogram's log
//! tools), and `report.html` with the rate over time and the latency percentile spectrum.

use super::charts::{self, Chart, Line};
use super::intervals::Intervals;
use super::observe::{DeliveryTally, ObserverReport};
use super::pace::{SinkRun, Tally};
use super::sinks::Deliveries;
use crate::scenario::Scenario;
use crate::verdict::Verdict;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The tag of a phase's whole histogram in a sink's interval log (`phase:steady`): the
/// per-second histograms are untagged, so log tools read them as before, and `merge`
/// adds each phase's histograms of every shard.
pub const PHASE_TAG: &str = "phase:";

/// Which run a report is of: what `merge` checks before it puts shards together.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `I/N` for a shard (`0/1` unsharded), `all/N` for a merged report.
    pub shard: String,
    /// When the schedule started (`--start-at`, or when the sinks were ready).
    pub started: SystemTime,
    pub ended: SystemTime,
    pub duration_scale: f64,
}

/// One sink's name, kind and results.
pub struct SinkReport<'a> {
    pub name: &'a str,
    pub kind: String,
    pub run: &'a SinkRun,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Percentiles of a histogram of microseconds, in milliseconds (null when empty).
fn percentiles_ms(h: &Histogram<u64>, quantiles: &[(&str, f64)]) -> Value {
    let mut out = serde_json::Map::new();
    for (name, q) in quantiles {
        out.insert((*name).to_owned(), if h.is_empty() { Value::Null } else { json!(ms(h.value_at_quantile(*q))) });
    }
    out.insert("max".to_owned(), if h.is_empty() { Value::Null } else { json!(ms(h.max())) });
    Value::Object(out)
}

const LATENCY_QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

fn delivery_json(t: &DeliveryTally) -> Value {
    json!({
        "expected": t.expected,
        "delivered": t.delivered,
        "lost": t.lost,
        "duplicated": t.duplicated,
        "out_of_order": t.out_of_order,
        "unexpected": t.unexpected,
        "late": t.late,
        "latency_ms": percentiles_ms(&t.latency, &LATENCY_QUANTILES),
        "send_latency_ms": percentiles_ms(&t.send_latency, &LATENCY_QUANTILES),
        "skew_ms": percentiles_ms(&t.skew, &[("p50", 0.5), ("p99", 0.99)]),
    })
}

/// One observer: its totals, per phase, per connection and its connections' history.
fn observer_json(scenario: &Scenario, o: &ObserverReport) -> Value {
    let r = &o.result;
    let mut entry = delivery_json(&r.total);
    let phases: serde_json::Map<String, Value> =
        scenario.phase.iter().zip(&r.phases).map(|(p, t)| (p.name.clone(), delivery_json(t))).collect();
    entry["kind"] = json!(o.kind);
    entry["source"] = json!(o.source);
    entry["connections"] = json!(o.connections);
    entry["phases"] = Value::Object(phases);
    entry["per_connection"] = json!({
        "delivered": {"min": r.per_connection_delivered.0, "max": r.per_connection_delivered.1},
        "lost": {"min": r.per_connection_lost.0, "max": r.per_connection_lost.1},
    });
    entry["connects"] = json!(o.stats.connects);
    entry["disconnects"] = json!(o.stats.disconnects);
    entry["connect_ms"] = percentiles_ms(&o.stats.connect_time, &[("p50", 0.5), ("p99", 0.99)]);
    entry["first_error"] = json!(o.stats.first_error);
    entry
}

/// A gateway's deliveries to its subscribers (`sinks.<name>.deliveries`).
fn deliveries_json(d: &Deliveries) -> Value {
    let spread = |s: Option<(u64, u64)>| json!({"min": s.map(|s| s.0), "max": s.map(|s| s.1)});
    json!({
        "subscribers": d.subscribers,
        "dropped_subscribers": d.dropped,
        "attempted": d.attempted(),
        "sent": d.sent,
        "failed": d.failed,
        "per_subscriber": {"sent": spread(d.per_subscriber_sent), "failed": spread(d.per_subscriber_failed)},
    })
}

/// [`deliveries_json`] read back (for `merge`); None when the sink has none.
pub fn deliveries_from_json(v: &Value) -> Option<Deliveries> {
    let count = |key: &str| v[key].as_u64().unwrap_or(0);
    let spread = |key: &str| {
        let s = &v["per_subscriber"][key];
        s["min"].as_u64().zip(s["max"].as_u64())
    };
    v.is_object().then(|| Deliveries {
        subscribers: count("subscribers"),
        dropped: count("dropped_subscribers"),
        sent: count("sent"),
        failed: count("failed"),
        per_subscriber_sent: spread("sent"),
        per_subscriber_failed: spread("failed"),
    })
}

fn tally_json(t: &Tally) -> Value {
    json!({
        "attempted": t.attempted,
        "sent": t.sent,
        "failed": t.failed,
        "achieved_rate": if t.wall_seconds > 0.0 { t.sent as f64 / t.wall_seconds } else { 0.0 },
        "scheduled_rate": if t.seconds > 0.0 { t.sent as f64 / t.seconds } else { 0.0 },
        "seconds": t.seconds,
        "wall_seconds": t.wall_seconds,
        "latency_ms": percentiles_ms(&t.latency, &LATENCY_QUANTILES),
    })
}

/// The summary as JSON.
pub fn summary(
    scenario: &Scenario,
    info: &RunInfo,
    sinks: &[SinkReport],
    observers: &[ObserverReport],
    verdict: &Verdict,
) -> Value {
    let mut out = serde_json::Map::new();
    for s in sinks {
        let mut entry = tally_json(&s.run.total);
        let phases: serde_json::Map<String, Value> =
            scenario.phase.iter().zip(&s.run.phases).map(|(p, t)| (p.name.clone(), tally_json(t))).collect();
        entry["kind"] = json!(s.kind);
        entry["phases"] = Value::Object(phases);
        entry["first_error"] = json!(s.run.first_error);
        entry["sent_per_second"] = json!(s.run.sent_per_second);
        if let Some(d) = &s.run.deliveries {
            entry["deliveries"] = deliveries_json(d);
        }
        out.insert(s.name.to_owned(), entry);
    }
    json!({
        "scenario": scenario.name,
        "seed": scenario.seed,
        "shard": info.shard,
        "started_at": format_time(info.started),
        "ended_at": format_time(info.ended),
        "duration_scale": info.duration_scale,
        "sinks": out,
        "observers": observers.iter().map(|o| (o.name.clone(), observer_json(scenario, o))).collect::<serde_json::Map<_, _>>(),
        "verdict": verdict,
    })
}

/// RFC 3339 with nanoseconds, so shards started at one `--start-at` compare equal.
fn format_time(t: SystemTime) -> String {
    OffsetDateTime::from(t).format(&Rfc3339).unwrap_or_default()
}

/// A time written by [`format_time`] (or any RFC 3339 time).
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
}

/// Writes summary.json, the interval logs and report.html into `dir`.
pub fn write(
    dir: &Path,
    scenario: &Scenario,
    info: &RunInfo,
    sinks: &[SinkReport],
    observers: &[ObserverReport],
    verdict: &Verdict,
) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{}: cannot write {what}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("the folder", &e))?;
    let summary = summary(scenario, info, sinks, observers, verdict);
    let started = info.started;
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&summary).expect("JSON"))
        .map_err(|e| fail("summary.json", &e))?;
    for s in sinks {
        let mut file = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment(&format!("tickwatch-loadgen {} sink {} latency in microseconds", scenario.name, s.name))
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut file, &mut serializer)
            .map_err(|e| fail("an interval log", &e))?;
        for (second, h) in s.run.intervals.histograms().enumerate() {
            log.write_histogram(&h, Duration::from_secs(second as u64), Duration::from_secs(1), None)
                .map_err(|e| fail("an interval log", &e))?;
        }
        for ((at, name), (phase, tally)) in phase_starts(scenario).iter().zip(scenario.phase.iter().zip(&s.run.phases))
        {
            let tag = format!("{PHASE_TAG}{name}");
            log.write_histogram(&tally.latency, Duration::from_secs_f64(*at), phase.duration, Tag::new(&tag))
                .map_err(|e| fail("an interval log", &e))?;
        }
        std::fs::write(dir.join(format!("{}.hlog", s.name)), file).map_err(|e| fail("an interval log", &e))?;
    }
    for o in observers {
        let file = observer_log(scenario, info, o).map_err(|e| fail("an observer's interval log", &e))?;
        std::fs::write(dir.join(format!("observer-{}.hlog", o.name)), file)
            .map_err(|e| fail("an observer's interval log", &e))?;
    }
    std::fs::write(dir.join("report.html"), html(scenario, &summary, sinks, observers, verdict))
        .map_err(|e| fail("report.html", &e))?;
    Ok(())
}

/// An observer's end-to-end latency (from the intended send time) as an HdrHistogram log:
/// one histogram per phase tagged `phase:NAME`, and the whole run's untagged.
fn observer_log(scenario: &Scenario, info: &RunInfo, o: &ObserverReport) -> Result<Vec<u8>, String> {
    let mut file = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "tickwatch-loadgen {} observer {} end-to-end latency in microseconds",
            scenario.name, o.name
        ))
        .with_start_time(info.started)
        .with_base_time(info.started)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut file, &mut serializer)
        .map_err(|e| e.to_string())?;
    let run: Duration = scenario.phase.iter().map(|p| p.duration).sum();
    log.write_histogram(&o.result.total.latency, Duration::ZERO, run, None).map_err(|e| e.to_string())?;
    for ((at, name), (phase, tally)) in phase_starts(scenario).iter().zip(scenario.phase.iter().zip(&o.result.phases)) {
        let tag = format!("{PHASE_TAG}{name}");
        log.write_histogram(&tally.latency, Duration::from_secs_f64(*at), phase.duration, Tag::new(&tag))
            .map_err(|e| e.to_string())?;
    }
    drop(log);
    Ok(file)
}

/// Per observer, a row per phase and one for the whole run.
fn observer_tables(scenario: &Scenario, observers: &[ObserverReport]) -> String {
    let mut out = String::new();
    for o in observers {
        let _ = write!(
            out,
            "<h3>{} ({}, {} connections, source {})</h3>\n<table><tr><th>phase</th><th>expected</th><th>delivered</th>\
             <th>lost</th><th>duplicated</th><th>out of order</th><th>unexpected</th><th>late</th><th>e2e p50 ms</th>\
             <th>e2e p99 ms</th><th>e2e max ms</th><th>skew p99 ms</th></tr>\n",
            escape(&o.name),
            o.kind,
            o.connections,
            escape(&o.source)
        );
        let rows = scenario.phase.iter().map(|p| p.name.as_str()).zip(&o.result.phases);
        for (name, t) in rows.chain(std::iter::once(("whole run", &o.result.total))) {
            let q = |h: &Histogram<u64>, p: f64| {
                if h.is_empty() { "–".to_owned() } else { format!("{:.3}", ms(h.value_at_quantile(p))) }
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(name),
                t.expected,
                t.delivered,
                t.lost,
                t.duplicated,
                t.out_of_order,
                t.unexpected,
                t.late,
                q(&t.latency, 0.5),
                q(&t.latency, 0.99),
                q(&t.latency, 1.0),
                q(&t.skew, 0.99)
            );
        }
        out.push_str("</table>\n");
    }
    out
}

/// x of the percentile spectrum: log10(1 / (1 - q)), so the tail gets room (HdrHistogram's
/// classic plot); 1 is p90, 2 is p99, 3 is p99.9.
fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=60).map(|i| i as f64 / 12.0).map(|x| (x, ms(h.value_at_quantile(1.0 - 10f64.powf(-x))))).collect()
}

/// Where each phase starts, in seconds from the run's start.
fn phase_starts(scenario: &Scenario) -> Vec<(f64, String)> {
    let mut start = 0.0;
    scenario
        .phase
        .iter()
        .map(|p| {
            let at = start;
            start += p.duration.as_secs_f64();
            (at, p.name.clone())
        })
        .collect()
}

/// The target rate at every second of the run.
fn target_rate(scenario: &Scenario) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut start = 0.0;
    for phase in &scenario.phase {
        let seconds = phase.duration.as_secs_f64();
        let steps = seconds.ceil() as usize;
        points.extend((0..=steps).map(|i| (start + (i as f64).min(seconds), phase.rate_at((i as f64).min(seconds)))));
        start += seconds;
    }
    points
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The verdict as an HTML table (nothing when there is nothing to judge).
fn verdict_table(verdict: &Verdict) -> String {
    if verdict.checks.is_empty() && verdict.not_checked.is_empty() {
        return String::new();
    }
    let mut rows = String::new();
    for c in &verdict.checks {
        let (color, result) = if c.passed { ("#2ca02c", "passed") } else { ("#d62728", "FAILED") };
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td style=\"color:{color}\">{result}</td></tr>",
            escape(&c.name),
            escape(&c.expected),
            escape(&c.observed)
        );
    }
    for what in &verdict.not_checked {
        let _ = writeln!(rows, "<tr><td>{}</td><td></td><td></td><td>not checked</td></tr>", escape(what));
    }
    format!(
        "<h2>Verdict: {}</h2>\n<table><tr><th>check</th><th>expected</th><th>observed</th><th>result</th></tr>\n{rows}</table>\n",
        if verdict.passed { "passed" } else { "FAILED" }
    )
}

/// Per sink, a row per phase and one for the whole run.
fn sink_tables(scenario: &Scenario, sinks: &[SinkReport]) -> String {
    let mut out = String::new();
    for s in sinks {
        let _ = write!(
            out,
            "<h3>{} ({})</h3>\n<table><tr><th>phase</th><th>attempted</th><th>sent</th><th>failed</th>\
             <th>achieved/s</th><th>target/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>\n",
            escape(s.name),
            escape(&s.kind)
        );
        let targets = scenario.phase.iter().map(|p| Some(p.mean_rate()));
        let rows = scenario.phase.iter().map(|p| p.name.as_str()).zip(&s.run.phases).zip(targets);
        for ((name, t), target) in rows.chain(std::iter::once((("whole run", &s.run.total), None))) {
            let q = |p: f64| {
                if t.latency.is_empty() {
                    "–".to_owned()
                } else {
                    format!("{:.3}", ms(t.latency.value_at_quantile(p)))
                }
            };
            let max = if t.latency.is_empty() { "–".to_owned() } else { format!("{:.3}", ms(t.latency.max())) };
            let achieved = if t.wall_seconds > 0.0 { t.sent as f64 / t.wall_seconds } else { 0.0 };
            let target = target.map(|r| format!("{r:.1}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{achieved:.1}</td><td>{target}</td><td>{}</td><td>{}</td><td>{}</td><td>{max}</td></tr>",
                escape(name),
                t.attempted,
                t.sent,
                t.failed,
                q(0.5),
                q(0.99),
                q(0.999)
            );
        }
        out.push_str("</table>\n");
        if let Some(d) = &s.run.deliveries {
            let _ = writeln!(
                out,
                "<p>To subscribers (a delivery is one frame to one subscriber): {} subscriber(s), {} dropped as \
                 too slow; deliveries attempted {}, sent {}, failed {}.</p>",
                d.subscribers,
                d.dropped,
                d.attempted(),
                d.sent,
                d.failed
            );
        }
    }
    out
}

/// Latency quantile `q` of every second that sent something, in ms.
fn per_second(intervals: &Intervals, q: f64) -> Vec<(f64, f64)> {
    intervals
        .histograms()
        .enumerate()
        .filter(|(_, h)| !h.is_empty())
        .map(|(t, h)| (t as f64, ms(h.value_at_quantile(q))))
        .collect()
}

fn html(
    scenario: &Scenario,
    summary: &Value,
    sinks: &[SinkReport],
    observers: &[ObserverReport],
    verdict: &Verdict,
) -> String {
    let markers = phase_starts(scenario);
    let mut rate_lines: Vec<Line> = sinks
        .iter()
        .map(|s| Line {
            label: s.name.to_owned(),
            points: s.run.sent_per_second.iter().enumerate().map(|(t, n)| (t as f64 + 0.5, *n as f64)).collect(),
            reference: false,
        })
        .collect();
    rate_lines.push(Line { label: "target".into(), points: target_rate(scenario), reference: true });
    let rates = Chart {
        title: "Messages sent per second (each second at its middle)",
        x_label: "seconds since start",
        y_label: "messages/s",
        lines: rate_lines,
        markers: markers.clone(),
        x_format: charts::plain,
        x_labels: 12,
    };
    let over_time = Chart {
        title: "Latency per second (from intended send time)",
        x_label: "seconds since start",
        y_label: "ms",
        lines: sinks
            .iter()
            .flat_map(|s| {
                [(0.5, "p50"), (0.99, "p99")].map(|(q, name)| Line {
                    label: format!("{} {name}", s.name),
                    points: per_second(&s.run.intervals, q),
                    reference: false,
                })
            })
            .collect(),
        markers,
        x_format: charts::plain,
        x_labels: 12,
    };
    let spectrum = Chart {
        title: "Latency by percentile (whole run)",
        x_label: "percentile",
        y_label: "ms",
        lines: sinks
            .iter()
            .map(|s| Line { label: s.name.to_owned(), points: spectrum(&s.run.total.latency), reference: false })
            .collect(),
        markers: Vec::new(),
        x_format: charts::percentile,
        // p0, p90, p99, p99.9, p99.99, p99.999
        x_labels: 6,
    };
    let observed = match observers.is_empty() {
        true => String::new(),
        false => {
            let e2e = Chart {
                title: "End-to-end latency by percentile (whole run, from intended send time)",
                x_label: "percentile",
                y_label: "ms",
                lines: observers
                    .iter()
                    .map(|o| Line {
                        label: o.name.clone(),
                        points: self::spectrum(&o.result.total.latency),
                        reference: false,
                    })
                    .collect(),
                markers: Vec::new(),
                x_format: charts::percentile,
                x_labels: 6,
            };
            format!("<h2>Observers</h2>\n{}\n{}\n", observer_tables(scenario, observers), e2e.svg())
        }
    };
    let name = escape(&scenario.name);
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>tickwatch-loadgen: {name}</title>\n\
         <style>body{{font-family:sans-serif;max-width:800px;margin:auto}} table{{border-collapse:collapse}} \
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} td:first-child,th:first-child{{text-align:left}}</style>\n\
         </head>\n<body>\n<h1>{name}</h1>\n<p>seed {}, shard {}</p>\n{}<h2>Sinks</h2>\n{}\n{}\n{}\n{}\n{}\
         <details><summary>summary.json</summary><pre>{}</pre></details>\n</body></html>\n",
        scenario.seed,
        escape(summary["shard"].as_str().unwrap_or("0/1")),
        verdict_table(verdict),
        sink_tables(scenario, sinks),
        rates.svg(),
        over_time.svg(),
        spectrum.svg(),
        observed,
        escape(&serde_json::to_string_pretty(summary).expect("JSON"))
    )
}
