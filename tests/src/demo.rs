//! The demo's chain of real servers (used by `tickwatch-demo` and by the test that every
//! dashboard panel has data while the demo scenario runs).

use crate::{Alertmanager, CeleryWorker, KitError, MongoServer, Prometheus, RedisServer, Result, ServerProcess};
use crate::{free_port, repo_root, scaled_alert_rules};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Alert `for:` durations are divided by this so the demo shows alerts within a minute.
pub const DEMO_SCALE: u32 = 30;

/// Redis, secantusd, a Celery worker on `enrich`, the exporter watching all of it,
/// Alertmanager, and Prometheus scraping the exporter and the load generator.
pub struct DemoChain {
    pub prometheus: Prometheus,
    pub alertmanager: Alertmanager,
    _exporter: ServerProcess,
    _worker: CeleryWorker,
    pub mongo: MongoServer,
    pub redis: RedisServer,
    pub exporter_port: u16,
    pub gateway_port: u16,
    /// Where the load generator must serve its metrics (`--metrics-address`).
    pub loadgen_metrics_port: u16,
    _dir: tempfile::TempDir,
}

impl DemoChain {
    /// Starts everything, with the exporter binary at `exporter`.
    pub fn start(exporter: &Path) -> Result<DemoChain> {
        let redis = RedisServer::start()?;
        let mongo = MongoServer::start()?;
        let worker = CeleryWorker::start(&redis.url(), &["enrich"])?;
        let dir = tempfile::Builder::new().prefix("tickwatch-demo-").tempdir()?;
        let (exporter_port, gateway_port, loadgen_metrics_port) = (free_port(), free_port(), free_port());
        let gateway = format!("ws://127.0.0.1:{gateway_port}/");
        let config = format!(
            "[web]\nlisten_address = \"127.0.0.1:{exporter_port}\"\n\
             [[redis]]\nname = \"redis\"\nurl = \"{redis}\"\nstreams = [\"ticks:*\"]\nchannels = [\"trades.*\"]\n\
             [[celery]]\nname = \"broker\"\nbroker = \"{redis}\"\nqueues = [\"enrich\", \"ticks\"]\nevents = true\n\
             [[mongodb]]\nname = \"store\"\nuri = \"{mongo}\"\ndatabases = [\"chains\"]\n\
             collections = [{{ db = \"chains\", name = \"snapshots\", time_field = \"ts_ns\" }}]\n\
             [[websocket]]\nname = \"gateway\"\nurl = \"{gateway}\"\nmode = \"monitor\"\n\
             subscribe = '{{\"op\":\"subscribe\",\"symbols\":[\"NIFTY\"]}}'\ntimestamp_pointer = \"/ts_ns\"\n\
             [[websocket]]\nname = \"gateway-probe\"\nurl = \"{gateway}\"\n\
             [[feed]]\nname = \"trades\"\nkind = \"trade\"\nsource = {{ type = \"redis-pubsub\", url = \"{redis}\", channel = \"trades.*\" }}\n\
             score_window = 200\nweights = {{ duplicate = 0, out_of_order = 0, spike = 0, non_positive = 0, clock_drift = 0, stale = 0 }}\n\
             [[feed]]\nname = \"chains\"\nkind = \"option_chain\"\nsource = {{ type = \"websocket\", target = \"gateway\" }}\n",
            redis = redis.url(),
            mongo = mongo.uri()
        );
        let config_path = dir.path().join("exporter.toml");
        std::fs::write(&config_path, config)?;
        let mut command = Command::new(exporter);
        command.arg("--config").arg(&config_path).args(["--log.level", "warn"]);
        let mut exporter_process =
            ServerProcess::spawn("tickwatch-exporter", command, &dir.path().join("exporter.log"))?;
        let ready = format!("http://127.0.0.1:{exporter_port}/-/ready");
        exporter_process.wait_until(Duration::from_secs(20), || crate::http_ok(&ready))?;

        let alertmanager = Alertmanager::start("route: {receiver: demo, group_wait: 1s}\nreceivers: [{name: demo}]\n")?;
        let prometheus = Prometheus::start(
            &format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\n\
                 alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{am}']}}]}}]}}\n\
                 scrape_configs:\n  - job_name: tickwatch\n    scrape_interval: 2s\n    scrape_timeout: 2s\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n  \
                 - job_name: tickwatch-loadgen\n    static_configs: [{{targets: ['127.0.0.1:{loadgen_metrics_port}']}}]\n",
                am = alertmanager.url().trim_start_matches("http://")
            ),
            &[("alerts.yml", &scaled_alert_rules(DEMO_SCALE))],
        )?;
        Ok(DemoChain {
            prometheus,
            alertmanager,
            _exporter: exporter_process,
            _worker: worker,
            mongo,
            redis,
            exporter_port,
            gateway_port,
            loadgen_metrics_port,
            _dir: dir,
        })
    }

    /// `scenarios/demo/demo.toml` with its addresses pointed at this chain.
    pub fn scenario(&self) -> Result<String> {
        let text = std::fs::read_to_string(repo_root().join("scenarios/demo/demo.toml"))
            .map_err(|e| KitError(format!("scenarios/demo/demo.toml: {e}")))?;
        Ok(text
            .replace("127.0.0.1:6379", &format!("127.0.0.1:{}", self.redis.port()))
            .replace("127.0.0.1:27017", &format!("127.0.0.1:{}", self.mongo.port()))
            .replace("127.0.0.1:8765", &format!("127.0.0.1:{}", self.gateway_port)))
    }

    /// Prometheus's query API: the result vector of `expr` now.
    pub fn query(&self, expr: &str) -> serde_json::Value {
        let Ok(url) =
            url::Url::parse_with_params(&format!("{}/api/v1/query", self.prometheus.url()), &[("query", expr)])
        else {
            return serde_json::Value::Null;
        };
        reqwest::blocking::get(url).and_then(|r| r.json()).unwrap_or_default()
    }
}
