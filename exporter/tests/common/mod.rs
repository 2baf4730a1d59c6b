//! Runs the real exporter binary against kit servers and reads what it serves.
#![allow(dead_code)] // each test file uses its own share of these helpers

use std::process::Command;
use std::time::{Duration, Instant};
use tickwatch_tests::{ServerProcess, free_port};

/// The exporter binary running with a config written for the test.
pub struct Exporter {
    _process: ServerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts the exporter with `config` (its [web] section is added here) and waits
    /// until it answers `/-/ready`.
    pub fn start(config: &str) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, format!("[web]\nlisten_address = \"127.0.0.1:{port}\"\n{config}")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickwatch-exporter"));
        command.arg("--config").arg(&path).arg("--log.level").arg("debug");
        let mut process =
            ServerProcess::spawn("tickwatch-exporter", command, &dir.path().join("exporter.log")).unwrap();
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        process
            .wait_until(Duration::from_secs(20), || {
                reqwest::blocking::get(&ready).is_ok_and(|r| r.status().is_success())
            })
            .unwrap();
        Exporter { _process: process, port, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path` with Prometheus's timeout header; returns status, body and how long it took.
    pub fn scrape(&self, path: &str, timeout_seconds: f64) -> (u16, String, Duration) {
        let start = Instant::now();
        let response = reqwest::blocking::Client::new()
            .get(self.url(path))
            .header("X-Prometheus-Scrape-Timeout-Seconds", timeout_seconds.to_string())
            .timeout(Duration::from_secs(60))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap(), start.elapsed())
    }

    /// `/metrics` with a 10 s scrape timeout.
    pub fn metrics(&self) -> String {
        let (status, body, _) = self.scrape("/metrics", 10.0);
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// The value of the first series of `name` carrying every label of `labels`.
pub fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, v) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        (metric == name && labels.iter().all(|(k, val)| rest.contains(&format!("{k}=\"{val}\""))))
            .then(|| v.parse().ok())?
    })
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
