//! The report of a run: `summary.json` (counts, achieved rates and latency percentiles per
//! sink and phase, in milliseconds with microsecond precision), an HdrHistogram interval
//! log per sink (`<sink>.hlog`, one histogram per second, readable by HdrHistogram's log
//! tools), and `report.html` with the rate over time and the latency percentile spectrum.

use super::pace::{SinkRun, Tally};
use crate::scenario::Scenario;
use crate::verdict::Verdict;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// One sink's name, kind and results.
pub struct SinkReport<'a> {
    pub name: &'a str,
    pub kind: String,
    pub run: &'a SinkRun,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn tally_json(t: &Tally) -> Value {
    let h = &t.latency;
    let q = |p: f64| if h.is_empty() { Value::Null } else { json!(ms(h.value_at_quantile(p))) };
    json!({
        "attempted": t.attempted,
        "sent": t.sent,
        "failed": t.failed,
        "achieved_rate": if t.wall_seconds > 0.0 { t.sent as f64 / t.wall_seconds } else { 0.0 },
        "scheduled_rate": if t.seconds > 0.0 { t.sent as f64 / t.seconds } else { 0.0 },
        "seconds": t.seconds,
        "wall_seconds": t.wall_seconds,
        "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p99.9": q(0.999),
                       "max": if h.is_empty() { Value::Null } else { json!(ms(h.max())) }},
    })
}

/// The summary as JSON.
pub fn summary(scenario: &Scenario, shard: &str, sinks: &[SinkReport], verdict: &Verdict) -> Value {
    let mut out = serde_json::Map::new();
    for s in sinks {
        let mut entry = tally_json(&s.run.total);
        let phases: serde_json::Map<String, Value> =
            scenario.phase.iter().zip(&s.run.phases).map(|(p, t)| (p.name.clone(), tally_json(t))).collect();
        entry["kind"] = json!(s.kind);
        entry["phases"] = Value::Object(phases);
        entry["first_error"] = json!(s.run.first_error);
        out.insert(s.name.to_owned(), entry);
    }
    json!({"scenario": scenario.name, "seed": scenario.seed, "shard": shard, "sinks": out, "verdict": verdict})
}

/// Writes summary.json, the interval logs and report.html into `dir`.
pub fn write(
    dir: &Path,
    scenario: &Scenario,
    shard: &str,
    started: SystemTime,
    sinks: &[SinkReport],
    verdict: &Verdict,
) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{}: cannot write {what}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("the folder", &e))?;
    let summary = summary(scenario, shard, sinks, verdict);
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
        for (second, h) in s.run.intervals.iter().enumerate() {
            log.write_histogram(h, Duration::from_secs(second as u64), Duration::from_secs(1), None)
                .map_err(|e| fail("an interval log", &e))?;
        }
        std::fs::write(dir.join(format!("{}.hlog", s.name)), file).map_err(|e| fail("an interval log", &e))?;
    }
    std::fs::write(dir.join("report.html"), html(scenario, &summary, sinks, verdict))
        .map_err(|e| fail("report.html", &e))?;
    Ok(())
}

const COLORS: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

/// A line chart as inline SVG: `series` of (label, points), linear or log x.
fn chart(title: &str, x_label: &str, y_label: &str, series: &[(String, Vec<(f64, f64)>)], log_x: bool) -> String {
    let (w, h, pad) = (720.0, 320.0, 50.0);
    let xs = |x: f64| if log_x { x.max(1e-9).log10() } else { x };
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().map(|&(x, y)| (xs(x), y))).collect();
    let (x0, x1) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), &(x, _)| (a.min(x), b.max(x)));
    let y1 = all.iter().fold(0.0f64, |m, &(_, y)| m.max(y)).max(1e-9) * 1.05;
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let px = |x: f64| pad + (xs(x) - x0) / (x1 - x0) * (w - 2.0 * pad);
    let py = |y: f64| h - pad - y / y1 * (h - 2.0 * pad);
    let mut svg = format!(
        "<h2>{title}</h2>\n<svg width=\"{w}\" height=\"{h}\" style=\"font:12px sans-serif\">\n\
         <line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/><line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"#333\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x_label}</text><text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{y_label}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{y1:.3}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n",
        h - pad,
        w - pad,
        h - pad,
        h - pad,
        w / 2.0,
        h - 10.0,
        h / 2.0,
        h / 2.0,
        pad - 4.0,
        pad + 4.0,
        pad - 4.0,
        h - pad
    );
    for (i, (label, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{label}</text>",
            w - pad - 150.0,
            pad + 14.0 * i as f64
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    // x: 1 / (1 - quantile), so the tail gets room (HdrHistogram's classic plot).
    (0..=60)
        .map(|i| 1.0 - 10f64.powf(-(i as f64) / 12.0))
        .map(|q| (1.0 / (1.0 - q).max(1e-6), ms(h.value_at_quantile(q))))
        .collect()
}

/// The verdict as an HTML table (nothing when the scenario has no thresholds).
fn verdict_table(verdict: &Verdict) -> String {
    if verdict.checks.is_empty() {
        return String::new();
    }
    let escape = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;");
    let rows: String = verdict
        .checks
        .iter()
        .map(|c| {
            let (color, result) = if c.passed { ("#2ca02c", "passed") } else { ("#d62728", "FAILED") };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td style=\"color:{color}\">{result}</td></tr>\n",
                escape(&c.name),
                escape(&c.expected),
                escape(&c.observed)
            )
        })
        .collect();
    format!(
        "<h2>Verdict: {}</h2>\n<table><tr><th>check</th><th>expected</th><th>observed</th><th>result</th></tr>\n{rows}</table>\n",
        if verdict.passed { "passed" } else { "FAILED" }
    )
}

fn html(scenario: &Scenario, summary: &Value, sinks: &[SinkReport], verdict: &Verdict) -> String {
    let rates: Vec<(String, Vec<(f64, f64)>)> = sinks
        .iter()
        .map(|s| {
            (s.name.to_owned(), s.run.sent_per_second.iter().enumerate().map(|(t, n)| (t as f64, *n as f64)).collect())
        })
        .collect();
    let latencies: Vec<(String, Vec<(f64, f64)>)> =
        sinks.iter().map(|s| (s.name.to_owned(), spectrum(&s.run.total.latency))).collect();
    let name = scenario.name.replace('<', "&lt;");
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>tickwatch-loadgen: {name}</title></head>\n\
         <body style=\"font-family:sans-serif;max-width:780px;margin:auto\">\n<h1>{name}</h1>\n\
         {}{}\n{}\n<h2>Summary</h2>\n<pre>{}</pre>\n</body></html>\n",
        verdict_table(verdict),
        chart("Messages sent per second", "seconds since start", "messages/s", &rates, false),
        chart(
            "Latency by percentile (from intended send time)",
            "percentile: 1/(1-q), log scale (10 = p90, 100 = p99, 1000 = p99.9)",
            "ms",
            &latencies,
            true
        ),
        serde_json::to_string_pretty(summary).expect("JSON").replace('<', "&lt;")
    )
}
