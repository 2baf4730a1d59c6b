//! `tickwatch-loadgen merge`: the reports of a sharded run (`run --shard I/N`, one
//! `--start-at`) made one exact report. Counts are summed per sink and phase; the latency
//! HdrHistograms are added, not averaged (the `.hlog` files hold every second's histogram
//! and one per phase, tagged `phase:NAME`), so every percentile of the merged report is
//! the one a single process sending everything would have measured. The thresholds (and,
//! with `--prometheus`, the expectations) are judged on the merged result.

use crate::expectations::{Monitoring, Window};
use crate::run::pace::{SinkRun, Tally, histogram};
use crate::run::report::{self, RunInfo, SinkReport};
use crate::run::{self, scaled_phases};
use crate::scenario::Scenario;
use crate::verdict::Verdict;
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One shard's report, read.
struct ShardReport {
    dir: PathBuf,
    summary: Value,
    index: usize,
    count: usize,
}

/// Merges the reports in `dirs` (one per shard) of `scenario` into `out`, judges the
/// merged result, and returns the verdict with each sink's (name, attempted, sent, failed).
pub async fn merge(
    scenario: &Scenario,
    dirs: &[PathBuf],
    out: &Path,
    monitoring: Option<&Monitoring>,
) -> Result<run::Outcome, String> {
    let shards = read_shards(dirs)?;
    let first = &shards[0];
    let info = agree(scenario, &shards)?;
    let phases = scaled_phases(scenario, info.duration_scale);
    let mut runs = Vec::new();
    for sink in &scenario.sink {
        let mut merged = SinkRun::empty(&phases);
        for shard in &shards {
            add_shard(&mut merged, shard, &sink.name, scenario)?;
        }
        merged.total.latency = histogram();
        for phase in &merged.phases {
            merged.total.latency.add(&phase.latency).map_err(|e| format!("sink {}: {e}", sink.name))?;
        }
        runs.push((sink, merged));
    }
    let names: Vec<(&str, &SinkRun)> = runs.iter().map(|(s, r)| (s.name.as_str(), r)).collect();
    let window = Window { start: info.started, end: info.ended };
    let mut checks = run::threshold_checks(scenario, &phases, &names, &[]);
    let (expected, not_checked) = run::expectation_checks(scenario, monitoring, window).await;
    checks.extend(expected);
    let verdict = Verdict::new(checks, not_checked);
    let reports: Vec<SinkReport> =
        runs.iter().map(|(s, r)| SinkReport { name: &s.name, kind: s.kind.report_name().to_owned(), run: r }).collect();
    let mut scaled = scenario.clone();
    scaled.phase = phases;
    let merged_info = RunInfo { shard: format!("all/{}", first.count), ..info };
    report::write(out, &scaled, &merged_info, &reports, &[], &verdict)?;
    run::print_results(&reports, &[], &verdict);
    let sinks = runs.into_iter().map(|(s, r)| (s.name.clone(), r.total.attempted, r.total.sent, r.total.failed));
    Ok(run::Outcome { sinks: sinks.collect(), verdict })
}

/// Every report's summary, each shard there exactly once.
fn read_shards(dirs: &[PathBuf]) -> Result<Vec<ShardReport>, String> {
    let mut shards = Vec::new();
    for dir in dirs {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let summary: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let shard = summary["shard"].as_str().unwrap_or_default();
        let parsed = shard.split_once('/').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
        let Some((index, count)) = parsed else {
            return Err(format!("{}: `shard` is `{shard}`, not I/N: is this a report of `run`?", path.display()));
        };
        shards.push(ShardReport { dir: dir.clone(), summary, index, count });
    }
    let Some(count) = shards.first().map(|s| s.count) else {
        return Err("give the report folder of every shard".into());
    };
    for s in &shards {
        if s.count != count {
            return Err(format!(
                "{} is shard {}/{}, but {} is of {count} shards",
                s.dir.display(),
                s.index,
                s.count,
                shards[0].dir.display()
            ));
        }
    }
    for index in 0..count {
        let holding: Vec<&ShardReport> = shards.iter().filter(|s| s.index == index).collect();
        match holding.as_slice() {
            [_] => {}
            [] => return Err(format!("shard {index}/{count} is missing: give the report folder of every shard")),
            [a, b, ..] => {
                return Err(format!(
                    "shard {index}/{count} is given twice: {} and {}",
                    a.dir.display(),
                    b.dir.display()
                ));
            }
        }
    }
    shards.sort_by_key(|s| s.index);
    Ok(shards)
}

/// Checks that every shard ran `scenario` with one seed, start and duration scale, and
/// returns the run they make together (from the start to the last shard's end).
fn agree(scenario: &Scenario, shards: &[ShardReport]) -> Result<RunInfo, String> {
    let first = &shards[0];
    for (field, wanted) in [("scenario", Value::from(scenario.name.as_str())), ("seed", Value::from(scenario.seed))] {
        for s in shards {
            if s.summary[field] != wanted {
                return Err(format!(
                    "{}: {field} {}, but the scenario given has {field} {wanted}",
                    s.dir.display(),
                    s.summary[field]
                ));
            }
        }
    }
    for field in ["started_at", "duration_scale"] {
        for s in shards {
            if s.summary[field] != first.summary[field] {
                return Err(format!(
                    "{}: {field} {}, but {} has {}: the shards must run with one --start-at and --duration-scale",
                    s.dir.display(),
                    s.summary[field],
                    first.dir.display(),
                    first.summary[field]
                ));
            }
        }
    }
    let time = |s: &ShardReport, field: &str| match s.summary[field].as_str() {
        Some(text) => report::parse_time(text).map_err(|e| format!("{}: {field}: {e}", s.dir.display())),
        None => Err(format!(
            "{}: summary.json has no {field}: it was written by an older tickwatch-loadgen; run the shards again",
            s.dir.display()
        )),
    };
    let started = time(first, "started_at")?;
    let mut ended = started;
    for s in shards {
        ended = ended.max(time(s, "ended_at")?);
    }
    let duration_scale = first.summary["duration_scale"].as_f64().unwrap_or(1.0);
    Ok(RunInfo { shard: String::new(), started, ended, duration_scale })
}

/// Adds one shard's results for `sink` into `merged`: counts from summary.json, the
/// histograms from the sink's interval log.
fn add_shard(merged: &mut SinkRun, shard: &ShardReport, sink: &str, scenario: &Scenario) -> Result<(), String> {
    let entry = &shard.summary["sinks"][sink];
    if !entry.is_object() {
        return Err(format!("{}: summary.json has no sink `{sink}`", shard.dir.display()));
    }
    let count = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let seconds = |v: &Value, key: &str| v[key].as_f64().unwrap_or(0.0);
    for (tally, phase) in merged.phases.iter_mut().zip(&scenario.phase) {
        let p = &entry["phases"][&phase.name];
        add_counts(tally, count(p, "attempted"), count(p, "sent"), count(p, "failed"));
        tally.wall_seconds = tally.wall_seconds.max(seconds(p, "wall_seconds"));
    }
    add_counts(&mut merged.total, count(entry, "attempted"), count(entry, "sent"), count(entry, "failed"));
    merged.total.seconds = merged.total.seconds.max(seconds(entry, "seconds"));
    merged.total.wall_seconds = merged.total.wall_seconds.max(seconds(entry, "wall_seconds"));
    if merged.first_error.is_none() {
        merged.first_error = entry["first_error"].as_str().map(str::to_owned);
    }
    if let Some(d) = report::deliveries_from_json(&entry["deliveries"]) {
        merged.deliveries.get_or_insert_default().add(&d);
    }
    let sent = entry["sent_per_second"].as_array().cloned().unwrap_or_default();
    for (second, n) in sent.iter().enumerate() {
        grow(merged, second);
        merged.sent_per_second[second] += n.as_u64().unwrap_or(0);
    }
    let path = shard.dir.join(format!("{sink}.hlog"));
    let log = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&log) {
        let LogEntry::Interval(interval) = entry.map_err(|e| fail(&format!("{e:?}")))? else { continue };
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(interval.encoded_histogram()).map_err(|e| fail(&e))?;
        let h: Histogram<u64> = deserializer.deserialize(&mut bytes.as_slice()).map_err(|e| fail(&format!("{e:?}")))?;
        match interval.tag().map(|t| t.as_str()) {
            None => {
                let second = interval.start_timestamp().as_secs() as usize;
                merged.intervals.add(second, &h).map_err(|e| fail(&e))?;
            }
            Some(tag) => {
                let name = tag.strip_prefix(report::PHASE_TAG).unwrap_or(tag);
                let i = scenario
                    .phase
                    .iter()
                    .position(|p| p.name == name)
                    .ok_or_else(|| fail(&format!("tag `{tag}` names no phase of the scenario")))?;
                merged.phases[i].latency.add(&h).map_err(|e| fail(&e))?;
            }
        }
    }
    Ok(())
}

fn add_counts(tally: &mut Tally, attempted: u64, sent: u64, failed: u64) {
    tally.attempted += attempted;
    tally.sent += sent;
    tally.failed += failed;
}

/// Makes room for `second` in the messages sent per second.
fn grow(run: &mut SinkRun, second: usize) {
    while run.sent_per_second.len() <= second {
        run.sent_per_second.push(0);
    }
}
