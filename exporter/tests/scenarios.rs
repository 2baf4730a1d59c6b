//! The alert verifier: every scenario in `scenarios/` runs through the real chain — the
//! load generator, real servers, the exporter, a real Prometheus evaluating the shipped
//! rules every second (`for:` durations scaled by 1/60, printed), a real Alertmanager
//! delivering to a webhook — and exactly its expected alerts fire while its silent ones
//! stay silent. Time to fire is printed for each alert.

mod common;

use common::{Exporter, firing_alerts, wait_for};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickwatch_loadgen::run::source::Shard;
use tickwatch_loadgen::run::{RunOptions, run};
use tickwatch_loadgen::scenario::{self, SinkKind};
use tickwatch_tests::{Alertmanager, CeleryWorker, MongoServer, Prometheus, RedisServer, free_port};

/// Alert name to the times (seconds since the test's start) of every firing notification.
type Heard = Arc<Mutex<BTreeMap<String, Vec<f64>>>>;

/// An HTTP endpoint Alertmanager posts notifications to.
fn webhook(started: Instant) -> (u16, Heard) {
    let heard: Heard = Arc::default();
    let port = free_port();
    let record = Arc::clone(&heard);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/",
                axum::routing::post(move |body: String| {
                    let record = Arc::clone(&record);
                    async move {
                        let note: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                        for alert in note["alerts"].as_array().into_iter().flatten() {
                            if alert["status"] == "firing"
                                && let Some(name) = alert["labels"]["alertname"].as_str()
                            {
                                record
                                    .lock()
                                    .unwrap()
                                    .entry(name.to_owned())
                                    .or_default()
                                    .push(started.elapsed().as_secs_f64());
                            }
                        }
                        "ok"
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (port, heard)
}

fn verify(file: &str) {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios")).join(file);
    let redis = RedisServer::start().unwrap();
    let mongo = MongoServer::start().unwrap();
    let gateway_port = free_port();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("127.0.0.1:6379", &format!("127.0.0.1:{}", redis.port()))
        .replace("127.0.0.1:27017", &format!("127.0.0.1:{}", mongo.port()))
        .replace("127.0.0.1:8765", &format!("127.0.0.1:{gateway_port}"));
    let scenario = scenario::parse(&text, file).unwrap();
    let gateway = scenario.sink.iter().any(|s| matches!(s.kind, SinkKind::WebsocketServer(_)));
    // Queue `enrich` has a worker (for scenarios whose tasks must run); no other queue does.
    let _worker = scenario
        .sink
        .iter()
        .any(|s| matches!(&s.kind, SinkKind::Celery(c) if c.queue.as_deref() == Some("enrich")))
        .then(|| CeleryWorker::start(&redis.url(), &["enrich"]).unwrap());

    let mut config = format!(
        "[[redis]]\nname = \"redis\"\nurl = \"{redis}\"\n\
         [[celery]]\nname = \"broker\"\nbroker = \"{redis}\"\nqueues = [\"ticks\", \"enrich\"]\nevents = true\nworker_timeout = \"3s\"\n\
         [[mongodb]]\nname = \"store\"\nuri = \"{mongo}\"\ncollections = [{{ db = \"chains\", name = \"snapshots\", time_field = \"ts_ns\" }}]\n\
         [[feed]]\nname = \"trades\"\nkind = \"trade\"\nsource = {{ type = \"redis-pubsub\", url = \"{redis}\", channel = \"trades.*\" }}\n\
         max_clock_drift = \"1h\"\nscore_window = 200\n\
         weights = {{ duplicate = 0, out_of_order = 0, spike = 0, non_positive = 0, clock_drift = 0, stale = 0 }}\n",
        redis = redis.url(),
        mongo = mongo.uri()
    );
    if gateway {
        config.push_str(&format!(
            "[[websocket]]\nname = \"gateway\"\nurl = \"ws://127.0.0.1:{gateway_port}/\"\nmode = \"monitor\"\n\
             subscribe = '{{\"op\":\"subscribe\",\"symbols\":[\"NIFTY\",\"BANKNIFTY\"]}}'\ntimestamp_pointer = \"/ts_ns\"\n\
             [[feed]]\nname = \"chains\"\nkind = \"option_chain\"\nsource = {{ type = \"websocket\", target = \"gateway\" }}\n"
        ));
    }
    let exporter = Exporter::start(&config);
    let started = Instant::now();
    let (hook_port, heard) = webhook(started);
    let alertmanager = Alertmanager::start(&format!(
        "route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}\n\
         receivers: [{{name: hook, webhook_configs: [{{url: 'http://127.0.0.1:{hook_port}/', send_resolved: false}}]}}]\n"
    ))
    .unwrap();
    let prometheus = Prometheus::start(
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n\
             scrape_configs:\n  - job_name: tickwatch\n    scrape_timeout: 1s\n    static_configs: [{{targets: ['{}']}}]\n",
            alertmanager.url().trim_start_matches("http://"),
            exporter.url("").trim_start_matches("http://")
        ),
        &[("alerts.yml", &tickwatch_tests::scaled_alert_rules(60))],
    )
    .unwrap();
    eprintln!("{file}: alert `for:` durations scaled by 1/60 (1m -> 1s)");
    wait_for("Prometheus to scrape the exporter", Duration::from_secs(20), || {
        let body: serde_json::Value =
            reqwest::blocking::get(format!("{}/api/v1/query?query=redis_up", prometheus.url()))
                .unwrap()
                .json()
                .unwrap();
        body["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    });

    let load_started = started.elapsed().as_secs_f64();
    let options = RunOptions {
        report_dir: None,
        seed: None,
        duration_scale: 1.0,
        shard: Shard::ALL,
        metrics_address: None,
        start_ns: None,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(run(scenario.clone(), options)).unwrap();
    eprintln!("{file}: load sent {outcome:?}");

    // Give the last evaluations and notifications time to arrive.
    let expected = &scenario.expect.alerts_firing;
    wait_for(&format!("{file}: {expected:?} to fire"), Duration::from_secs(30), || {
        let heard = heard.lock().unwrap();
        expected.iter().all(|a| heard.get(a).is_some_and(|t| t.iter().any(|t| *t >= load_started)))
    });
    std::thread::sleep(Duration::from_secs(3));
    // What fired while the scenario ran (set-up noise, such as a gateway that only exists
    // during the load, is not the scenario's doing).
    let during: BTreeMap<String, f64> = heard
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(name, times)| {
            times.iter().find(|t| **t >= load_started).map(|t| (name.clone(), t - load_started))
        })
        .collect();
    let now: Vec<String> = firing_alerts(&prometheus).into_iter().map(|(name, _)| name).collect();
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
