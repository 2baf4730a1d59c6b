//! The alert verifier: every scenario in `scenarios/` runs through the real chain — the
//! load generator, real servers, the exporter, a real Prometheus evaluating the shipped
//! rules every second (`for:` durations scaled by 1/60, printed), a real Alertmanager
//! delivering to a webhook — and its expected alerts fire while its silent ones stay
//! silent (a scenario that expects nothing must fire nothing). Time to fire is printed
//! for each alert.

mod common;

use common::firing_alerts;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tickwatch_loadgen::run::{RunOptions, run};
use tickwatch_loadgen::scenario::{self, SinkKind};
use tickwatch_tests::{Chain, ChainOptions};

/// Alert `for:` durations are divided by this (1m -> 1s).
const ALERT_SCALE: u32 = 60;

fn verify(file: &str) {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios")).join(file);
    // The chain the scenario needs, read from its own sinks: a worker when its tasks must
    // run (queue `enrich`), a monitored gateway when it serves one.
    let sinks = scenario::load(&path).unwrap().sink;
    let options = ChainOptions {
        worker: sinks.iter().any(|s| matches!(&s.kind, SinkKind::Celery(c) if c.queue.as_deref() == Some("enrich"))),
        gateway: sinks.iter().any(|s| matches!(s.kind, SinkKind::WebsocketServer(_))),
        gateway_probe: false,
        alert_scale: ALERT_SCALE,
    };
    let chain = Chain::start(Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")), options).unwrap();
    let scenario = scenario::parse(&chain.scenario(&path).unwrap(), file).unwrap();
    eprintln!("{file}: alert `for:` durations scaled by 1/{ALERT_SCALE}");

    let load_started = chain.webhook.now();
    let options = RunOptions {
        metrics_address: Some(format!("127.0.0.1:{}", chain.loadgen_metrics_port)),
        ..RunOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(run(scenario.clone(), options)).unwrap();
    eprintln!("{file}: load sent {outcome:?}");

    // Give the last evaluations and notifications time to arrive.
    let expected = &scenario.expect.alerts_firing;
    common::wait_for(&format!("{file}: {expected:?} to fire"), Duration::from_secs(30), || {
        let heard = chain.webhook.heard();
        expected.iter().all(|a| heard.get(a).is_some_and(|t| t.iter().any(|t| *t >= load_started)))
    });
    std::thread::sleep(Duration::from_secs(3));
    // What fired while the scenario ran (set-up noise, such as a gateway that only exists
    // during the load, is not the scenario's doing).
    let during: BTreeMap<String, f64> = chain
        .webhook
        .heard()
        .into_iter()
        .filter_map(|(name, times)| times.iter().find(|t| **t >= load_started).map(|t| (name, t - load_started)))
        .collect();
    let now: Vec<String> = firing_alerts(&chain.prometheus).into_iter().map(|(name, _)| name).collect();
    for alert in expected {
        eprintln!("{file}: {alert} fired {:.1} s after the load started", during[alert]);
    }
    for alert in &scenario.expect.alerts_silent {
        assert!(
            !during.contains_key(alert) && !now.contains(alert),
            "{file}: {alert} must stay silent; fired {during:?}"
        );
    }
    if expected.is_empty() {
        assert!(during.is_empty(), "{file}: the baseline fires nothing, yet {during:?} fired");
    }
}

/// Every scenario, one after the other (each runs a whole chain of servers; running them
/// side by side on a small machine would blur the alert timings).
#[test]
fn every_scenario_fires_its_alerts_and_keeps_its_silent_ones_silent() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6 && files.contains(&"xadd-smoke.toml".to_owned()), "{files:?}");
    for file in files {
        verify(&file);
    }
}
