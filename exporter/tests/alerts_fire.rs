//! The shipped alert rules fire through the real chain — a real server, the exporter, a
//! real Prometheus loading `dashboards/prometheus/alerts.yml` — and stay silent while all
//! is well. `for:` durations are scaled down (a minute becomes a second) so the test is
//! quick; the scaling is printed.

mod common;

use common::{firing_alerts, start_exporter, wait_for};
use std::time::{Duration, Instant};
use tickwatch_tests::{Prometheus, RedisServer, Server};

#[test]
fn redis_down_fires_through_prometheus_and_stays_silent_before() {
    let mut redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!("[[redis]]\nname = \"cache\"\nurl = \"{}\"\n", redis.url()));
    let target = exporter.url("").trim_start_matches("http://").to_owned();
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\n\
         scrape_configs:\n  - job_name: tickwatch\n    scrape_timeout: 1s\n    static_configs: [{{targets: ['{target}']}}]\n"
    );
    eprintln!("alert `for:` durations scaled by 1/60 (1m -> 1s)");
    let prometheus = Prometheus::start(&config, &[("alerts.yml", &tickwatch_tests::scaled_alert_rules(60))]).unwrap();
    let up = format!("{}/api/v1/query?query=redis_up", prometheus.url());
    wait_for("Prometheus to scrape the exporter", Duration::from_secs(20), || {
        let body: serde_json::Value = reqwest::blocking::get(&up).unwrap().json().unwrap();
        body["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    });
    // A few evaluations with everything healthy: nothing fires.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(firing_alerts(&prometheus), Vec::<(String, String)>::new(), "baseline fires nothing");

    redis.kill();
    let killed = Instant::now();
    wait_for("RedisDown to fire", Duration::from_secs(30), || {
        firing_alerts(&prometheus).contains(&("RedisDown".to_owned(), "cache".to_owned()))
    });
    eprintln!("RedisDown fired {:.1} s after redis-server was killed", killed.elapsed().as_secs_f64());
    redis.restart().unwrap();
    wait_for("RedisDown to resolve after the restart", Duration::from_secs(30), || {
        !firing_alerts(&prometheus).iter().any(|(name, _)| name == "RedisDown")
    });
}
