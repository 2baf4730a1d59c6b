//! Runs the real exporter binary against kit servers and reads what it serves.
#![allow(dead_code)] // each test file uses its own share of these helpers

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub use tickwatch_tests::Exporter;

/// This package's exporter binary with `config` (its [web] section is added), debug logs.
pub fn start_exporter(config: &str) -> Exporter {
    Exporter::start(Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")), config, "debug").unwrap()
}

/// Polls `check` every 200 ms until it holds; panics with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "waited {limit:?} for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `promtool check metrics` on an exposition; returns what it said (empty: clean).
pub fn promtool_check(exposition: &str) -> String {
    use std::io::Write;
    let promtool = tickwatch_tests::binary("promtool").unwrap();
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)).trim().to_owned()
}

/// (alert name, `target` label or "") of every alert Prometheus has firing now.
pub fn firing_alerts(prometheus: &tickwatch_tests::Prometheus) -> Vec<(String, String)> {
    let body: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/v1/alerts", prometheus.url())).unwrap().json().unwrap();
    body["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| {
            let label = |k: &str| a["labels"][k].as_str().unwrap_or("").to_owned();
            (label("alertname"), label("target"))
        })
        .collect()
}
