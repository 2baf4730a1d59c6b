//! The alert verifier: every scenario in `scenarios/` runs through the real chain — the
//! load generator, real servers, the exporter, a real Prometheus evaluating the shipped
//! rules every second (`for:` durations scaled by 1/60, printed), a real Alertmanager —
//! and the loadgen's own `[expect]` check (the one `run --prometheus` does for users)
//! passes: its expected alerts fire and reach Alertmanager, its silent ones stay silent,
//! and the baseline fires none (`alerts_only`). Time to fire is printed for each alert.

mod common;

use std::path::Path;
use std::time::Duration;
use tickwatch_loadgen::expectations::Monitoring;
use tickwatch_loadgen::run::{RunOptions, run};
use tickwatch_loadgen::scenario::{self, SinkKind};
use tickwatch_tests::Server;
use tickwatch_tests::{Chain, ChainOptions};

/// Alert `for:` durations are divided by this (1m -> 1s).
const ALERT_SCALE: u32 = 60;

/// Scenarios during which the verifier kills the chain's Redis and secantusd, this long
/// into the run: a load scenario cannot crash a server, and the alerts for a lost server
/// must fire from one.
const OUTAGES: &[(&str, Duration)] = &[("servers-lost.toml", Duration::from_secs(5))];

fn verify(file: &str) {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios")).join(file);
    // The chain the scenario needs, read from its own sinks: a worker when its tasks must
    // run (queue `enrich`), a monitored gateway when it serves one. Staleness thresholds
    // of 3 s and a 64 MiB Redis let a short run reach them.
    let sinks = scenario::load(&path).unwrap().sink;
    let options = ChainOptions {
        worker: sinks.iter().any(|s| matches!(&s.kind, SinkKind::Celery(c) if c.queue.as_deref() == Some("enrich"))),
        gateway: sinks.iter().any(|s| matches!(s.kind, SinkKind::WebsocketServer(_))),
        gateway_probe: false,
        alert_scale: ALERT_SCALE,
        stale_after: Some("3s"),
        redis_maxmemory: Some(64 << 20),
    };
    let mut chain = Chain::start(Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")), options).unwrap();
    let scenario = scenario::parse(&chain.scenario(&path).unwrap(), file).unwrap();
    eprintln!("{file}: alert `for:` durations scaled by 1/{ALERT_SCALE}");

    let monitoring =
        Monitoring::new(&chain.prometheus.url(), Some(&chain.alertmanager.url()), &Default::default()).unwrap();
    let options = RunOptions {
        metrics_address: Some(format!("127.0.0.1:{}", chain.loadgen_metrics_port)),
        monitoring: Some(monitoring),
        ..RunOptions::default()
    };
    let outage = OUTAGES.iter().find(|(name, _)| *name == file).map(|(_, after)| *after);
    let (redis, mongo) = (&mut chain.redis, &mut chain.mongo);
    let outcome = std::thread::scope(|scope| {
        if let Some(after) = outage {
            scope.spawn(move || {
                std::thread::sleep(after);
                eprintln!("{file}: killing Redis and secantusd {after:?} into the run");
                redis.kill();
                mongo.kill();
            });
        }
        tokio::runtime::Runtime::new().unwrap().block_on(run(scenario, options)).unwrap()
    });
    eprintln!("{file}: load sent {:?}", outcome.sinks);
    for (sink, attempted, sent, failed) in &outcome.sinks {
        assert_eq!(*attempted, sent + failed, "{file}: sink {sink} accounts for every message");
    }
    let verdict = &outcome.verdict;
    assert!(verdict.passed && verdict.not_checked.is_empty(), "{file}:\n{}", verdict.table());
    assert!(!verdict.checks.is_empty(), "{file} expects nothing");
}

/// Every scenario, one after the other (each runs a whole chain of servers; running them
/// side by side on a small machine would blur the alert timings). `TICKWATCH_SCENARIOS`
/// (comma-separated file names) runs only those, when working on one.
#[test]
fn every_scenario_fires_its_alerts_and_keeps_its_silent_ones_silent() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10 && files.contains(&"xadd-smoke.toml".to_owned()), "{files:?}");
    if let Ok(only) = std::env::var("TICKWATCH_SCENARIOS") {
        files.retain(|f| only.split(',').any(|o| o.trim() == f));
        assert!(!files.is_empty(), "TICKWATCH_SCENARIOS={only} names no scenario file");
    }
    for file in files {
        verify(&file);
    }
}
