//! The tickwatch demo: real Redis, a MongoDB-wire server, a Celery worker, the exporter,
//! Prometheus with the shipped rules (`for:` durations scaled down, printed) and
//! Alertmanager, all on free loopback ports; then `scenarios/demo/demo.toml` puts load and
//! planted faults on them, and the alerts that fire are printed with where to look.
//! Runs until Ctrl-C, then stops everything it started.
//!
//! Run: `scripts/demo.sh` (it installs what is missing and builds first).

use std::path::{Path, PathBuf};
use std::process::Command;
use tickwatch_tests::{Alertmanager, Chain, ChainOptions, KitError, Prometheus, Relay, repo_root};

fn sibling(name: &str) -> Result<PathBuf, KitError> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().map(|d| d.join(name)).unwrap_or_default();
    if path.is_file() {
        Ok(path)
    } else {
        Err(KitError(format!("{} is missing: build it first (scripts/demo.sh does)", path.display())))
    }
}

fn get_json(url: &str) -> serde_json::Value {
    reqwest::blocking::get(url).and_then(|r| r.json()).unwrap_or_default()
}

fn main() -> Result<(), KitError> {
    // Ctrl-C and SIGTERM are taken with sigwait at the end, so everything is stopped
    // properly (the servers run in their own process groups and would outlive us).
    let mut signals = nix::sys::signal::SigSet::empty();
    signals.add(nix::sys::signal::Signal::SIGINT);
    signals.add(nix::sys::signal::Signal::SIGTERM);
    signals.thread_block().map_err(|e| KitError(format!("cannot block signals: {e}")))?;

    println!("starting Redis, secantusd (MongoDB wire), a Celery worker, the exporter, Prometheus, Alertmanager ...");
    let chain = Chain::start(&sibling("tickwatch-exporter")?, ChainOptions::DEMO)?;
    println!("alert rules loaded with `for:` durations divided by {}", ChainOptions::DEMO.alert_scale);
    // A reference platform between the trade channels and 30 browser clients: the loadgen
    // observes what reaches them (tick-to-client latency, losses, duplicates).
    let relay = Relay::start(&chain.redis.url(), "trades.*", &[])?;
    let scenario = chain.scenario(&repo_root().join("scenarios/demo/demo.toml"))? + &browsers(&relay);
    let dir = tempfile::Builder::new().prefix("tickwatch-demo-").tempdir()?;
    let scenario_path = dir.path().join("demo.toml");
    std::fs::write(&scenario_path, scenario)?;
    let report = repo_root().join("reports/demo");
    println!("\nrunning scenarios/demo/demo.toml (60 s: 20 s clean, then 40 s of faults),");
    println!("then checking its [expect] against Prometheus and Alertmanager ...\n");
    let status = Command::new(sibling("tickwatch-loadgen")?)
        .arg("run")
        .arg(&scenario_path)
        .arg("--report-dir")
        .arg(&report)
        .arg("--metrics-address")
        .arg(format!("127.0.0.1:{}", chain.loadgen_metrics_port))
        .arg("--prometheus")
        .arg(chain.prometheus.url())
        .arg("--alertmanager")
        .arg(chain.alertmanager.url())
        .status()?;
    // 99 is a verdict (printed above): the demo goes on either way.
    if !status.success() && status.code() != Some(99) {
        return Err(KitError(format!("the load run failed ({status})")));
    }
    println!("\nalerts firing now:");
    let alerts = get_json(&format!("{}/api/v1/alerts", chain.prometheus.url()));
    for alert in alerts["data"]["alerts"].as_array().into_iter().flatten().filter(|a| a["state"] == "firing") {
        let labels = &alert["labels"];
        let at = ["target", "feed", "symbol", "queue_name"]
            .iter()
            .filter_map(|k| labels[*k].as_str())
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "  {:<28} {:<8} {at}",
            labels["alertname"].as_str().unwrap_or("?"),
            labels["severity"].as_str().unwrap_or("")
        );
    }
    println!("  (the gateway was the load generator's, so it is down once the load ends)");
    print_where_to_look(chain.exporter.port(), &chain.prometheus, &chain.alertmanager, &report);
    println!("\nrunning until Ctrl-C");
    let _ = signals.wait();
    println!("stopping");
    Ok(())
}

/// The demo's observer: 30 WebSocket clients of the relay, a symbol each.
fn browsers(relay: &Relay) -> String {
    format!(
        "\n[[observe]]\nname = \"browsers\"\nsource = \"trades\"\nkind = \"websocket\"\nurl = \"{}\"\nconnections = 30\n\
         subscribe = '{{\"op\":\"subscribe\",\"symbols\":[\"{{symbol}}\"]}}'\ndeadline = \"2s\"\n",
        relay.url()
    )
}

fn print_where_to_look(exporter_port: u16, prometheus: &Prometheus, alertmanager: &Alertmanager, report: &Path) {
    println!("\nwhere to look:");
    println!("  exporter        http://127.0.0.1:{exporter_port}/  (/metrics, /probe?target=redis)");
    println!(
        "  prometheus      {}/alerts   and {}/graph?g0.expr=data_quality_score",
        prometheus.url(),
        prometheus.url()
    );
    println!("  alertmanager    {}/#/alerts", alertmanager.url());
    println!(
        "  load report     {}/report.html  (observer \"browsers\": tick-to-client through the relay)",
        report.display()
    );
    println!("  dashboards      dashboards/grafana/dashboards/*.json (import into your Grafana; see README)");
}
