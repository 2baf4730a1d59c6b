//! The whole chain of real servers a scenario runs against, built one way for the demo
//! (`tickwatch-demo`, and the test that every dashboard panel has data) and for the alert
//! verifier (every scenario fires exactly its alerts).

use crate::{Alertmanager, CeleryWorker, Exporter, KitError, MongoServer, Prometheus, RedisServer};
use crate::{Result, free_port, scaled_alert_rules};
use std::path::Path;

/// What differs between the chains the demo and the tests need.
#[derive(Debug, Clone, Copy)]
pub struct ChainOptions {
    /// A Celery worker consuming queue `enrich` (no other queue has one).
    pub worker: bool,
    /// The exporter monitors the load generator's WebSocket gateway (`gateway_port`) and
    /// scores its option chains.
    pub gateway: bool,
    /// The exporter also probes the gateway in probe mode (the demo's gateway lives as long
    /// as the chain; a test's only while its load runs).
    pub gateway_probe: bool,
    /// Alert `for:` durations are divided by this.
    pub alert_scale: u32,
    /// The staleness thresholds of the trade feed, the chain collection and the monitored
    /// gateway (their defaults, 10 s to 5 m, when `None`), so a short run can reach them.
    pub stale_after: Option<&'static str>,
    /// Redis's `maxmemory` in bytes (noeviction, Redis's default policy), so a run can fill it.
    pub redis_maxmemory: Option<u64>,
}

impl ChainOptions {
    /// The demo's chain (`scenarios/demo/demo.toml`): everything, alerts 30 times faster.
    pub const DEMO: ChainOptions = ChainOptions {
        worker: true,
        gateway: true,
        gateway_probe: true,
        alert_scale: 30,
        stale_after: None,
        redis_maxmemory: None,
    };
}

/// Redis, secantusd, an optional Celery worker, the exporter watching all of it,
/// Alertmanager, and Prometheus with the shipped (scaled) rules scraping the exporter and
/// the load generator's metrics port.
pub struct Chain {
    pub prometheus: Prometheus,
    pub alertmanager: Alertmanager,
    pub exporter: Exporter,
    pub worker: Option<CeleryWorker>,
    pub mongo: MongoServer,
    pub redis: RedisServer,
    pub gateway_port: u16,
    /// Where the load generator must serve its metrics (`--metrics-address`).
    pub loadgen_metrics_port: u16,
}

impl Chain {
    /// Starts everything, with the exporter binary at `exporter`, and waits until
    /// Prometheus has scraped the exporter once.
    pub fn start(exporter: &Path, options: ChainOptions) -> Result<Chain> {
        let redis = RedisServer::start()?;
        if let Some(bytes) = options.redis_maxmemory {
            let mut admin = redis.connection()?;
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(bytes)
                .exec(&mut admin)
                .map_err(|e| KitError(format!("CONFIG SET maxmemory: {e}")))?;
        }
        let mongo = MongoServer::start()?;
        let worker = options.worker.then(|| CeleryWorker::start(&redis.url(), &["enrich"])).transpose()?;
        let (gateway_port, loadgen_metrics_port) = (free_port(), free_port());
        let config = exporter_config(&redis, &mongo, gateway_port, options);
        let exporter = Exporter::start(exporter, &config, "warn")?;
        let alertmanager = Alertmanager::start(
            "route: {receiver: none, group_by: [alertname], group_wait: 0s, group_interval: 1s}\nreceivers: [{name: none}]\n",
        )?;
        // The exporter every 2 s with a 2 s timeout: at 1 s the MongoDB and WebSocket probes
        // time out while secantusd is busy with a scenario's inserts.
        let prometheus = Prometheus::start(
            &format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\n\
                 alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{am}']}}]}}]}}\n\
                 scrape_configs:\n  - job_name: tickwatch\n    scrape_interval: 2s\n    scrape_timeout: 2s\n    static_configs: [{{targets: ['127.0.0.1:{exporter}']}}]\n  \
                 - job_name: tickwatch-loadgen\n    static_configs: [{{targets: ['127.0.0.1:{loadgen_metrics_port}']}}]\n",
                am = alertmanager.url().trim_start_matches("http://"),
                exporter = exporter.port(),
            ),
            &[("alerts.yml", &scaled_alert_rules(options.alert_scale))],
        )?;
        let chain =
            Chain { prometheus, alertmanager, exporter, worker, mongo, redis, gateway_port, loadgen_metrics_port };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while chain.query("redis_up")["data"]["result"].as_array().is_none_or(Vec::is_empty) {
            if std::time::Instant::now() > deadline {
                return Err(KitError("Prometheus did not scrape the exporter within 20 s".into()));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Ok(chain)
    }

    /// The scenario at `path` with every sink pointed at this chain: Redis and Celery
    /// sinks at its Redis, MongoDB sinks at its secantusd, WebSocket servers on
    /// `gateway_port`.
    pub fn scenario(&self, path: &Path) -> Result<String> {
        let text = std::fs::read_to_string(path).map_err(|e| KitError(format!("{}: {e}", path.display())))?;
        let mut scenario: toml::Table =
            text.parse().map_err(|e| KitError(format!("{}: not valid TOML: {e}", path.display())))?;
        let sinks = scenario.get_mut("sink").and_then(toml::Value::as_array_mut).into_iter().flatten();
        for sink in sinks.filter_map(toml::Value::as_table_mut) {
            let (key, address) = match sink.get("kind").and_then(toml::Value::as_str) {
                Some("redis" | "celery") => ("url", self.redis.url()),
                Some("mongodb") => ("url", self.mongo.uri()),
                Some("websocket-server") => ("listen", format!("127.0.0.1:{}", self.gateway_port)),
                _ => continue,
            };
            sink.insert(key.into(), toml::Value::String(address));
        }
        toml::to_string(&scenario).map_err(|e| KitError(format!("{}: {e}", path.display())))
    }

    /// Prometheus's query API: the answer to `expr` now.
    pub fn query(&self, expr: &str) -> serde_json::Value {
        self.prometheus.query(expr)
    }
}

/// The exporter's view of the chain: every server, the trade feed on Redis pub/sub and,
/// with a gateway, the chain feed it serves.
fn exporter_config(redis: &RedisServer, mongo: &MongoServer, gateway_port: u16, options: ChainOptions) -> String {
    let gateway = format!("ws://127.0.0.1:{gateway_port}/");
    let (stale_after, max_age) = match options.stale_after {
        Some(d) => (format!("stale_after = \"{d}\"\n"), format!(", max_age = \"{d}\"")),
        None => Default::default(),
    };
    let mut config = format!(
        "[[redis]]\nname = \"redis\"\nurl = \"{redis}\"\nstreams = [\"ticks:*\"]\nchannels = [\"trades.*\"]\n\
         [[celery]]\nname = \"broker\"\nbroker = \"{redis}\"\nqueues = [\"enrich\", \"ticks\"]\nevents = true\nworker_timeout = \"3s\"\n\
         [[mongodb]]\nname = \"store\"\nuri = \"{mongo}\"\ndatabases = [\"chains\"]\n\
         collections = [{{ db = \"chains\", name = \"snapshots\", time_field = \"ts_ns\"{max_age} }}]\n\
         [[feed]]\nname = \"trades\"\nkind = \"trade\"\nsource = {{ type = \"redis-pubsub\", url = \"{redis}\", channel = \"trades.*\" }}\n\
         {stale_after}max_clock_drift = \"1h\"\nscore_window = 200\n\
         weights = {{ duplicate = 0, out_of_order = 0, spike = 0, non_positive = 0, clock_drift = 0, stale = 0 }}\n",
        redis = redis.url(),
        mongo = mongo.uri()
    );
    if options.gateway {
        config.push_str(&format!(
            "[[websocket]]\nname = \"gateway\"\nurl = \"{gateway}\"\nmode = \"monitor\"\n\
             subscribe = '{{\"op\":\"subscribe\",\"symbols\":[\"NIFTY\",\"BANKNIFTY\"]}}'\ntimestamp_pointer = \"/ts_ns\"\n{stale_after}\
             [[feed]]\nname = \"chains\"\nkind = \"option_chain\"\nsource = {{ type = \"websocket\", target = \"gateway\" }}\n"
        ));
    }
    if options.gateway_probe {
        config.push_str(&format!("[[websocket]]\nname = \"gateway-probe\"\nurl = \"{gateway}\"\n"));
    }
    config
}
