//! `tickwatch-loadgen run`: every sink gets its own copy of its source's feed and its own
//! open-loop driver; all run at once; the report is written at the end, also after
//! Ctrl-C.

pub mod live;
pub mod pace;
mod report;
pub mod sinks;
pub mod source;

use crate::scenario::{Phase, Scenario};
use live::LiveMetrics;
use source::{Feed, Shard};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use report::summary;

/// How to run a scenario.
pub struct RunOptions {
    pub report_dir: Option<PathBuf>,
    pub seed: Option<u64>,
    /// Multiplies every phase's duration (0.1 makes a 60 s scenario a 6 s smoke test).
    pub duration_scale: f64,
    pub shard: Shard,
    pub metrics_address: Option<String>,
    /// Exchange time of the first message; now when absent.
    pub start_ns: Option<i64>,
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
            start_ns: None,
        }
    }
}

/// What a run ended with, per sink: (name, attempted, sent, failed).
pub type Outcome = Vec<(String, u64, u64, u64)>;

/// Runs `scenario` to the end (or Ctrl-C) and writes the report.
pub async fn run(mut scenario: Scenario, options: RunOptions) -> Result<Outcome, String> {
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    let phases: Vec<Phase> = scenario
        .phase
        .iter()
        .map(|p| Phase { duration: p.duration.mul_f64(options.duration_scale), ..p.clone() })
        .collect();
    let live = Arc::new(LiveMetrics::new());
    if let Some(address) = &options.metrics_address {
        serve_metrics(address, Arc::clone(&live)).await?;
    }
    let start_ns = options
        .start_ns
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0));

    let mut prepared = Vec::new();
    for sink in &scenario.sink {
        let source = scenario.source.iter().find(|s| s.name == sink.source).expect("validated");
        let feed = Feed::new(source, scenario.seed, options.shard, start_ns)?;
        let mut built = sinks::build(sink, scenario.seed).await?;
        built.ready().await.map_err(|e| format!("sink {}: {e}", sink.name))?;
        let live_sink = Arc::new(live.sink(&sink.name, &phases));
        prepared.push((sink.clone(), feed, built, live_sink));
    }
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: the report is still written");
            let _ = cancel_tx.send(true);
        }
    });
    let scheduled = phases.iter().map(|p| p.duration).sum();
    let progress = live::progress(prepared.iter().map(|(_, _, _, l)| Arc::clone(l)).collect(), scheduled);
    let started = SystemTime::now();
    let start = Instant::now();
    // Sinks may have waited (for subscribers): stamps start now, unless a start was given.
    let start_ns = options
        .start_ns
        .unwrap_or_else(|| started.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(start_ns));
    let mut tasks = Vec::new();
    for (config, mut feed, mut sink, live_sink) in prepared {
        let (phases, cancel) = (phases.clone(), cancel.clone());
        tasks.push(tokio::spawn(async move {
            let plan =
                pace::Plan { phases: &phases, start, start_ns, timeout: config.timeout, max_batch: config.max_batch };
            let run = pace::drive(sink.as_mut(), &mut feed, &plan, cancel, &live_sink).await;
            (config, run)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.map_err(|e| format!("a sink's driver failed: {e}"))?);
    }
    progress.abort();
    eprintln!();
    let reports: Vec<report::SinkReport> = results
        .iter()
        .map(|(c, r)| report::SinkReport { name: &c.name, kind: c.kind.report_name().to_owned(), run: r })
        .collect();
    let shard = format!("{}/{}", options.shard.index, options.shard.count);
    let mut scaled = scenario.clone();
    scaled.phase = phases;
    if let Some(dir) = &options.report_dir {
        report::write(dir, &scaled, &shard, started, &reports)?;
    }
    for r in &reports {
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
    }
    Ok(results.into_iter().map(|(c, r)| (c.name, r.total.attempted, r.total.sent, r.total.failed)).collect())
}

async fn serve_metrics(address: &str, live: Arc<LiveMetrics>) -> Result<(), String> {
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
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}
