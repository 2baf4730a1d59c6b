//! `tickwatch-loadgen run`: every sink gets its own copy of its source's feed and its own
//! open-loop driver; all run at once; the report is written at the end, also after
//! Ctrl-C.

mod charts;
pub mod intervals;
pub mod live;
pub mod observe;
pub mod pace;
pub(crate) mod report;
pub mod sinks;
pub mod source;

use crate::expectations::{self, Monitoring, Window};
use crate::scenario::{Phase, Scenario};
use crate::thresholds::{self, Delivered, Observed, Tallies, Threshold};
use crate::verdict::{Check, Verdict};
use live::{LiveMetrics, LiveSink};
use observe::{DeliveryTally, ObserverReport, ObserverWatch, Observers};
use source::{Feed, Shard};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tickwatch_common::web::{Limits, WebServer};

/// How to run a scenario.
pub struct RunOptions {
    pub report_dir: Option<PathBuf>,
    pub seed: Option<u64>,
    /// Multiplies every phase's duration (0.1 makes a 60 s scenario a 6 s smoke test).
    pub duration_scale: f64,
    pub shard: Shard,
    pub metrics_address: Option<String>,
    /// `--web.config.file` for the metrics endpoint.
    pub web_config_file: Option<PathBuf>,
    /// Exchange time of the first message; the schedule's start when absent.
    pub start_ns: Option<i64>,
    /// When the schedule starts (`--start-at`): every shard of a run waits for this one
    /// instant; as soon as the sinks are ready when absent.
    pub start_at: Option<SystemTime>,
    /// Leave the thresholds to `merge` (`--no-thresholds`): listed as not checked.
    pub no_thresholds: bool,
    /// The Prometheus (and Alertmanager) `[expect]` is checked against; without it the
    /// expectations are reported as not checked.
    pub monitoring: Option<Monitoring>,
}

impl Default for RunOptions {
    /// The scenario as written: its seed and durations, every symbol, no report, no
    /// metrics endpoint, starting now.
    fn default() -> Self {
        RunOptions {
            report_dir: None,
            seed: None,
            duration_scale: 1.0,
            shard: Shard::ALL,
            metrics_address: None,
            web_config_file: None,
            start_ns: None,
            start_at: None,
            no_thresholds: false,
            monitoring: None,
        }
    }
}

/// What a run ended with: per sink (name, attempted, sent, failed), and the verdict of
/// its thresholds.
#[derive(Debug)]
pub struct Outcome {
    pub sinks: Vec<(String, u64, u64, u64)>,
    pub verdict: Verdict,
}

/// Runs `scenario` to the end (or until SIGINT or SIGTERM: Kubernetes stops pods with
/// SIGTERM), judges its thresholds and writes the report.
pub async fn run(mut scenario: Scenario, options: RunOptions) -> Result<Outcome, String> {
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    let phases = scaled_phases(&scenario, options.duration_scale);
    if !scenario.observe.is_empty() && options.shard.count > 1 {
        return Err("[[observe]] needs an unsharded run: an observer sees every shard's messages, and its \
             shard knows only its own (run the observers' scenario without --shard)"
            .to_owned());
    }
    let live = Arc::new(LiveMetrics::new(options.shard.index));
    if let Some(address) = &options.metrics_address {
        serve_metrics(address, options.web_config_file.as_deref(), Arc::clone(&live)).await?;
    }
    let start_ns = options
        .start_ns
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0));

    let mut prepared = Vec::new();
    for sink in &scenario.sink {
        let source = scenario.source.iter().find(|s| s.name == sink.source).expect("validated");
        let feed = Feed::new(source, scenario.seed, options.shard, start_ns)?;
        let built = sinks::build(sink, source, scenario.seed).await?;
        let live_sink = Arc::new(live.sink(&sink.name, &phases));
        prepared.push((sink.clone(), feed, built, live_sink));
    }
    // Observers connect once the sinks listen (they may watch the loadgen's own gateway)
    // and before the sinks are ready (a gateway may wait for them as subscribers).
    let mut observers = match scenario.observe.is_empty() {
        true => None,
        false => Some(Observers::connect(&scenario, &phases, &live).await?),
    };
    for (config, _, built, _) in &mut prepared {
        built.ready().await.map_err(|e| format!("sink {}: {e}", config.name))?;
    }
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let cancel_tx = Arc::new(cancel_tx);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    let stop = Arc::clone(&cancel_tx);
    tokio::spawn(async move {
        let signal = tokio::select! {
            r = tokio::signal::ctrl_c() => r.ok().map(|_| "SIGINT"),
            r = terminate.recv() => r.map(|_| "SIGTERM"),
        };
        if let Some(signal) = signal {
            eprintln!("\n{signal}: stopping; every message sent so far is in the report");
            let _ = stop.send(true);
        }
    });
    let scheduled = phases.iter().map(|p| p.duration).sum();
    let (started, start) = match options.start_at {
        Some(at) => wait_for_start(at, cancel.clone()).await,
        None => (SystemTime::now(), Instant::now()),
    };
    if let Some(observers) = &mut observers {
        observers.begin(start);
    }
    let progress = live::progress(prepared.iter().map(|(_, _, _, l)| Arc::clone(l)).collect(), scheduled);
    // Sinks may have waited (for subscribers): stamps start now, unless a start was given.
    let start_ns = options
        .start_ns
        .unwrap_or_else(|| started.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(start_ns));
    let live_sinks: Vec<Arc<LiveSink>> = prepared.iter().map(|(_, _, _, l)| Arc::clone(l)).collect();
    let watch_aborts = !options.no_thresholds && scenario.threshold_rules.iter().any(Threshold::aborts);
    let abort_watch = watch_aborts.then(|| {
        let watch = AbortWatch {
            rules: scenario.threshold_rules.clone(),
            sinks: live_sinks,
            // Snapshots lock the ledgers: taken only when an aborting threshold reads them.
            observers: observers
                .as_ref()
                .filter(|_| scenario.threshold_rules.iter().any(|t| t.aborts() && t.reads_observers()))
                .map(Observers::watch)
                .unwrap_or_default(),
            phases: phases.clone(),
            start,
        };
        tokio::spawn(watch.run(Arc::clone(&cancel_tx)))
    });
    let mut tasks = Vec::new();
    for (config, mut feed, mut sink, live_sink) in prepared {
        let (phases, cancel) = (phases.clone(), cancel.clone());
        let ledger = observers.as_ref().and_then(|o| o.ledger(&config.source));
        tasks.push(tokio::spawn(async move {
            let plan = pace::Plan {
                phases: &phases,
                start,
                start_ns,
                timeout: config.timeout,
                max_batch: config.max_batch,
                ledger: ledger.as_deref(),
            };
            let run = pace::drive(sink.as_mut(), &mut feed, &plan, cancel, &live_sink).await;
            (config, run)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.map_err(|e| format!("a sink's driver failed: {e}"))?);
    }
    progress.abort();
    let observed = match observers {
        Some(observers) => observers.finish().await,
        None => Vec::new(),
    };
    let aborted = match abort_watch {
        Some(watch) if watch.is_finished() => watch.await.ok().flatten(),
        Some(watch) => {
            watch.abort();
            None
        }
        None => None,
    };
    eprintln!();
    let ended = SystemTime::now();
    let reports: Vec<report::SinkReport> = results
        .iter()
        .map(|(c, r)| report::SinkReport { name: &c.name, kind: c.kind.report_name().to_owned(), run: r })
        .collect();
    let runs: Vec<(&str, &pace::SinkRun)> = results.iter().map(|(c, r)| (c.name.as_str(), r)).collect();
    let mut checks: Vec<Check> = aborted.into_iter().collect();
    let mut not_checked = Vec::new();
    match options.no_thresholds {
        true => not_checked.extend(
            scenario
                .threshold_rules
                .iter()
                .flat_map(Threshold::names)
                .map(|n| format!("{n} (--no-thresholds: left to merge)")),
        ),
        false => checks.extend(threshold_checks(&scenario, &phases, &runs, &observed)),
    }
    let (expected, unchecked) =
        expectation_checks(&scenario, options.monitoring.as_ref(), Window { start: started, end: ended }).await;
    checks.extend(expected);
    not_checked.extend(unchecked);
    let verdict = Verdict::new(checks, not_checked);
    let mut scaled = scenario.clone();
    scaled.phase = phases.clone();
    if let Some(dir) = &options.report_dir {
        let shard = format!("{}/{}", options.shard.index, options.shard.count);
        let info = report::RunInfo { shard, started, ended, duration_scale: options.duration_scale };
        report::write(dir, &scaled, &info, &reports, &observed, &verdict)?;
    }
    print_results(&reports, &observed, &verdict);
    let sinks = results.into_iter().map(|(c, r)| (c.name, r.total.attempted, r.total.sent, r.total.failed)).collect();
    Ok(Outcome { sinks, verdict })
}

/// The scenario's phases with every duration multiplied by `scale` (`--duration-scale`).
pub fn scaled_phases(scenario: &Scenario, scale: f64) -> Vec<Phase> {
    scenario.phase.iter().map(|p| Phase { duration: p.duration.mul_f64(scale), ..p.clone() }).collect()
}

/// Waits (until `cancel`) for the wall-clock instant `at`; the schedule's start as a wall
/// time and as an instant. A shard that comes late starts in the past: what was due
/// meanwhile is sent at once and shows as latency.
async fn wait_for_start(at: SystemTime, mut cancel: tokio::sync::watch::Receiver<bool>) -> (SystemTime, Instant) {
    if let Ok(wait) = at.duration_since(SystemTime::now()) {
        eprintln!("waiting {:.1} s for --start-at", wait.as_secs_f64());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.changed() => {}
        }
    }
    let late = SystemTime::now().duration_since(at).unwrap_or_default();
    if late > std::time::Duration::from_secs(1) {
        eprintln!("starting {:.1} s after --start-at: messages due meanwhile are sent late", late.as_secs_f64());
    }
    (at, Instant::now().checked_sub(late).unwrap_or_else(Instant::now))
}

/// Every threshold judged on the per-phase tallies of `runs` (sink name, its results) and
/// of the observers.
pub(crate) fn threshold_checks(
    scenario: &Scenario,
    phases: &[Phase],
    runs: &[(&str, &pace::SinkRun)],
    observers: &[ObserverReport],
) -> Vec<Check> {
    let sinks: Vec<(&str, &[pace::Tally])> = runs.iter().map(|(name, r)| (*name, r.phases.as_slice())).collect();
    let observers: Vec<(&str, &[DeliveryTally])> =
        observers.iter().map(|o| (o.name.as_str(), o.result.phases.as_slice())).collect();
    let tallies = per_phase(phases, &sinks, &observers);
    scenario.threshold_rules.iter().flat_map(|t| t.judge(&tallies)).collect()
}

/// What thresholds read: each sink's and observer's tally of each phase.
fn per_phase<'a>(
    phases: &'a [Phase],
    sinks: &'a [(&'a str, &'a [pace::Tally])],
    observers: &'a [(&'a str, &'a [DeliveryTally])],
) -> Tallies<'a> {
    Tallies {
        sinks: sinks
            .iter()
            .flat_map(|(sink, tallies)| {
                phases.iter().zip(*tallies).map(|(p, tally)| Observed {
                    sink,
                    phase: &p.name,
                    tally,
                    target_rate: p.mean_rate(),
                })
            })
            .collect(),
        observers: observers
            .iter()
            .flat_map(|(observer, tallies)| {
                phases.iter().zip(*tallies).map(|(p, tally)| Delivered { observer, phase: &p.name, tally })
            })
            .collect(),
    }
}

/// `[expect]` checked against `monitoring` over `window`, or listed as not checked.
pub(crate) async fn expectation_checks(
    scenario: &Scenario,
    monitoring: Option<&Monitoring>,
    window: Window,
) -> (Vec<Check>, Vec<String>) {
    match monitoring {
        Some(monitoring) if monitoring.has_checks(&scenario.expect) => {
            eprintln!(
                "checking [expect] against Prometheus (expected alerts may take up to {} s to fire)",
                scenario.expect.within.as_secs()
            );
            (monitoring.check_all(&scenario.expect, window).await, Vec::new())
        }
        _ => (Vec::new(), expectations::unchecked(&scenario.expect)),
    }
}

/// Each sink's line (counts, achieved rate, p99, first error), each observer's (counts,
/// end-to-end p99) and the verdict's table.
pub(crate) fn print_results(reports: &[report::SinkReport], observers: &[ObserverReport], verdict: &Verdict) {
    for r in reports {
        let t = &r.run.total;
        let p99 = if t.latency.is_empty() { 0.0 } else { t.latency.value_at_quantile(0.99) as f64 / 1000.0 };
        eprintln!(
            "{}: attempted {} sent {} failed {} achieved {:.1}/s p99 {:.3} ms{}",
            r.name,
            t.attempted,
            t.sent,
            t.failed,
            t.sent as f64 / t.seconds.max(1e-9),
            p99,
            r.run.first_error.as_ref().map(|e| format!(" (first error: {e})")).unwrap_or_default()
        );
        if let Some(d) = &r.run.deliveries {
            eprintln!(
                "{}: to {} subscriber(s) ({} dropped as too slow): deliveries attempted {} sent {} failed {}",
                r.name,
                d.subscribers,
                d.dropped,
                d.attempted(),
                d.sent,
                d.failed
            );
        }
    }
    for o in observers {
        let t = &o.result.total;
        let p99 = if t.latency.is_empty() { 0.0 } else { t.latency.value_at_quantile(0.99) as f64 / 1000.0 };
        eprintln!(
            "observer {}: expected {} delivered {} lost {} duplicated {} out_of_order {} unexpected {} late {} e2e p99 {:.3} ms",
            o.name, t.expected, t.delivered, t.lost, t.duplicated, t.out_of_order, t.unexpected, t.late, p99
        );
    }
    if !verdict.checks.is_empty() || !verdict.not_checked.is_empty() {
        eprint!("\n{}", verdict.table());
    }
}

/// Serves the live metrics on `address` (through `web_config`'s TLS and users, when
/// given) until the process ends.
async fn serve_metrics(address: &str, web_config: Option<&Path>, live: Arc<LiveMetrics>) -> Result<(), String> {
    let web = Arc::new(WebServer::new(web_config)?);
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|e| format!("--metrics-address {address}: {e}"))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let live = Arc::clone(&live);
            async move {
                let text = prometheus::TextEncoder::new().encode_to_string(&live.registry.gather()).unwrap_or_default();
                ([(axum::http::header::CONTENT_TYPE, tickwatch_common::TEXT_FORMAT)], text)
            }
        }),
    );
    let limits = Limits { max_connections: 64, max_requests: 16 };
    tokio::spawn(tickwatch_common::web::serve(listener, app, web, limits, std::future::pending()));
    Ok(())
}

/// Judges the `abort_on_fail` thresholds once a second on the sinks' published tallies;
/// the first crossing stops the run (as SIGTERM does: sinks drain, the report is written).
struct AbortWatch {
    rules: Vec<Threshold>,
    sinks: Vec<Arc<LiveSink>>,
    observers: ObserverWatch,
    phases: Vec<Phase>,
    start: Instant,
}

impl AbortWatch {
    /// Resolves with the crossing that stopped the run.
    async fn run(self, cancel: Arc<tokio::sync::watch::Sender<bool>>) -> Option<Check> {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let sinks: Vec<(&str, Vec<pace::Tally>)> =
                self.sinks.iter().map(|s| (s.name.as_str(), s.tallies())).collect();
            let sinks: Vec<(&str, &[pace::Tally])> = sinks.iter().map(|(n, t)| (*n, t.as_slice())).collect();
            let delivered = self.observers.snapshots();
            let observers: Vec<(&str, &[DeliveryTally])> = delivered.iter().map(|(n, t)| (*n, t.as_slice())).collect();
            let observed = per_phase(&self.phases, &sinks, &observers);
            let elapsed = self.start.elapsed();
            if let Some(crossed) = self.rules.iter().flat_map(|r| r.crossed(&observed, elapsed)).next() {
                let check = thresholds::abort_check(&crossed, elapsed);
                eprintln!("\n{}: {}", check.name, check.observed);
                let _ = cancel.send(true);
                return Some(check);
            }
        }
    }
}
