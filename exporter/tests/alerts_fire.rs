//! The shipped alert rules fire through the real chain — a real server, the exporter, a
//! real Prometheus loading `dashboards/prometheus/alerts.yml` — and stay silent while all
//! is well: Redis near maxmemory and rejecting connections (the server's own settings,
//! changed at run time), a refused config reload, and Redis down. `for:` durations are
//! scaled down (a minute becomes a second) so the test is quick; the scaling is printed.

mod common;

use common::{firing_alerts, wait_for};
use std::path::Path;
use std::time::{Duration, Instant};
use tickwatch_tests::{Exporter, Prometheus, RedisServer, Server};

/// The exporter with `config`, and a Prometheus with the shipped rules (`for:` scaled
/// 1/60) scraping it every `interval` seconds with `timeout` seconds to answer.
fn watched(config: &str, interval: u32, timeout: u32) -> (Exporter, Prometheus) {
    let exporter =
        Exporter::start_with_args(Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")), config, "warn", &[]).unwrap();
    let target = exporter.url("").trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::start(
        &format!(
            "global: {{scrape_interval: {interval}s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\n\
             scrape_configs:\n  - job_name: tickwatch\n    scrape_timeout: {timeout}s\n    static_configs: [{{targets: ['{target}']}}]\n"
        ),
        &[("alerts.yml", &tickwatch_tests::scaled_alert_rules(60))],
    )
    .unwrap();
    (exporter, prometheus)
}

/// Waits until `alert` fires for `target` (and says how long it took).
fn fires(prometheus: &Prometheus, alert: &str, target: &str) {
    let since = Instant::now();
    wait_for(&format!("{alert} to fire"), Duration::from_secs(30), || {
        firing_alerts(prometheus).contains(&(alert.to_owned(), target.to_owned()))
    });
    eprintln!("{alert} fired {:.1} s after its cause", since.elapsed().as_secs_f64());
}

/// Waits until `alert` no longer fires.
fn resolves(prometheus: &Prometheus, alert: &str) {
    wait_for(&format!("{alert} to resolve"), Duration::from_secs(30), || {
        !firing_alerts(prometheus).iter().any(|(name, _)| name == alert)
    });
}

fn info_field(con: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").query(con).unwrap();
    let prefix = format!("{field}:");
    info.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap().trim().parse().unwrap()
}

#[test]
fn alerts_fire_through_prometheus_and_stay_silent_before() {
    let mut redis = RedisServer::start().unwrap();
    let mut mongo = tickwatch_tests::MongoServer::start().unwrap();
    let cache = format!(
        "[[redis]]\nname = \"cache\"\nurl = \"{url}\"\n\
         [[celery]]\nname = \"broker\"\nbroker = \"{url}\"\nqueues = [\"celery\"]\n\
         [[mongodb]]\nname = \"store\"\nuri = \"{mongo}\"\n\
         [[feed]]\nname = \"trades\"\nkind = \"trade\"\nsource = {{ type = \"redis-pubsub\", url = \"{url}\", channel = \"trades\" }}\n",
        url = redis.url(),
        mongo = mongo.uri()
    );
    eprintln!("alert `for:` durations scaled by 1/60 (1m -> 1s)");
    let (mut exporter, prometheus) = watched(&cache, 1, 1);
    let up = format!("{}/api/v1/query?query=redis_up", prometheus.url());
    wait_for("Prometheus to scrape the exporter", Duration::from_secs(20), || {
        let body: serde_json::Value = reqwest::blocking::get(&up).unwrap().json().unwrap();
        body["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    });
    // A few evaluations with everything healthy: nothing fires.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(firing_alerts(&prometheus), Vec::<(String, String)>::new(), "baseline fires nothing");

    // maxmemory just above what the server uses: over 90 % of it is in use.
    let mut admin = redis.connection().unwrap();
    let used = info_field(&mut admin, "used_memory");
    let set = |con: &mut redis::Connection, key: &str, value: u64| {
        let _: () = redis::cmd("CONFIG").arg("SET").arg(key).arg(value).exec(con).unwrap();
    };
    set(&mut admin, "maxmemory", used * 100 / 95);
    fires(&prometheus, "RedisMemoryNearLimit", "cache");
    set(&mut admin, "maxmemory", 0);
    resolves(&prometheus, "RedisMemoryNearLimit");

    // maxclients at the clients already connected: the next one is rejected.
    let connected = info_field(&mut admin, "connected_clients");
    set(&mut admin, "maxclients", connected);
    let refused = redis.connection().and_then(|mut c| {
        redis::cmd("PING").query::<String>(&mut c).map_err(|e| tickwatch_tests::KitError(e.to_string()))
    });
    assert!(refused.is_err(), "a client past maxclients is refused");
    fires(&prometheus, "RedisRejectingConnections", "cache");
    set(&mut admin, "maxclients", 10_000);
    drop(admin);

    // A reload that finds problems: the running config stays, and the alert says so.
    exporter.rewrite_config(&format!("{cache}[[redis]]\nname = \"typo\"\nurll = \"x\"\n")).unwrap();
    exporter.process().hang_up().unwrap();
    fires(&prometheus, "TickwatchConfigReloadFailed", "");
    exporter.rewrite_config(&cache).unwrap();
    exporter.process().hang_up().unwrap();
    resolves(&prometheus, "TickwatchConfigReloadFailed");

    mongo.kill();
    fires(&prometheus, "MongoDBDown", "store");
    mongo.restart().unwrap();
    resolves(&prometheus, "MongoDBDown");

    // Redis gone: the server, the broker on it and the feed it carries, and the failing
    // probes (for 10 minutes, scaled to 10 s).
    redis.kill();
    fires(&prometheus, "RedisDown", "cache");
    fires(&prometheus, "CeleryBrokerUnreachable", "broker");
    fires(&prometheus, "FeedSourceDisconnected", "");
    fires(&prometheus, "TickwatchProbesFailing", "cache");
    redis.restart().unwrap();
    resolves(&prometheus, "RedisDown");
}

/// The staleness alerts, with their thresholds set short in the config (they are
/// exported beside the ages, so the rules follow the config): a collection nobody writes
/// and a feed that went quiet.
#[test]
fn staleness_alerts_follow_the_configured_thresholds() {
    let redis = RedisServer::start().unwrap();
    let mongo = tickwatch_tests::MongoServer::start().unwrap();
    let config = format!(
        "[[mongodb]]\nname = \"store\"\nuri = \"{mongo}\"\n\
         collections = [{{ db = \"chains\", name = \"nifty\", time_field = \"ts\", max_age = \"3s\" }}]\n\
         [[feed]]\nname = \"trades\"\nkind = \"trade\"\nstale_after = \"3s\"\nformat = \"mapped\"\n\
         fields = {{ symbol = \"/s\", seq = \"/seq\", price = \"/p\", qty = \"/q\", ts = \"/ts\", ts_unit = \"ms\" }}\n\
         source = {{ type = \"redis-pubsub\", url = \"{redis}\", channel = \"trades\" }}\n",
        mongo = mongo.uri(),
        redis = redis.url()
    );
    let (exporter, prometheus) = watched(&config, 1, 1);
    // One chain document and one trade, then silence.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(mongo.uri()).await.unwrap();
        let now = mongodb::bson::DateTime::now();
        client.database("chains").collection("nifty").insert_one(mongodb::bson::doc! { "ts": now }).await.unwrap();
    });
    let mut publisher = redis.connection().unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let trade = format!(r#"{{"s":"BTCUSDT","seq":1,"p":42000.5,"q":0.1,"ts":{now_ms}}}"#);
    wait_for("the feed to subscribe", Duration::from_secs(10), || {
        redis::cmd("PUBLISH").arg("trades").arg(&trade).query::<i64>(&mut publisher).unwrap() > 0
    });
    let written = Instant::now();
    wait_for("FeedStale and MongoDBCollectionNotWritten to fire", Duration::from_secs(30), || {
        let firing = firing_alerts(&prometheus);
        firing.iter().any(|(name, _)| name == "FeedStale")
            && firing.contains(&("MongoDBCollectionNotWritten".to_owned(), "store".to_owned()))
    });
    eprintln!("both fired within {:.1} s of the last write (3 s thresholds)", written.elapsed().as_secs_f64());
    drop(exporter);
}

/// A gateway whose messages arrive 2 s after their exchange time, and one that goes
/// silent after a few messages.
#[test]
fn gateway_alerts_fire_on_lagging_and_silent_gateways() {
    let lagging = tickwatch_tests::WebSocketServer::start(&[
        "--count",
        "1000000",
        "--interval-ms",
        "20",
        "--lag-ms",
        "2000",
        "--no-subscribe",
    ])
    .unwrap();
    let silent = tickwatch_tests::WebSocketServer::start(&["--count", "3", "--no-subscribe"]).unwrap();
    let config = format!(
        "[[websocket]]\nname = \"lagging\"\nurl = \"ws://127.0.0.1:{}/\"\nmode = \"monitor\"\ntimestamp_pointer = \"/T\"\n\
         [[websocket]]\nname = \"silent\"\nurl = \"ws://127.0.0.1:{}/\"\nmode = \"monitor\"\nstale_after = \"3s\"\n",
        lagging.port(),
        silent.port()
    );
    let (_exporter, prometheus) = watched(&config, 1, 1);
    fires(&prometheus, "WebSocketPayloadLagHigh", "lagging");
    fires(&prometheus, "WebSocketFeedStale", "silent");
    let firing = firing_alerts(&prometheus);
    assert!(!firing.contains(&("WebSocketFeedStale".to_owned(), "lagging".to_owned())), "{firing:?}");
    assert!(!firing.contains(&("WebSocketPayloadLagHigh".to_owned(), "silent".to_owned())), "{firing:?}");
}

/// A target that accepts connections and never answers, scraped with a 7 s timeout: each
/// probe takes its whole budget (6.5 s), over TickwatchProbeSlow's 5 s.
#[test]
fn a_probe_that_takes_its_whole_budget_is_slow() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = format!("[[redis]]\nname = \"silent\"\nurl = \"redis://{}/0\"\n", silent.local_addr().unwrap());
    let (_exporter, prometheus) = watched(&config, 8, 7);
    let since = Instant::now();
    wait_for("TickwatchProbeSlow to fire", Duration::from_secs(60), || {
        firing_alerts(&prometheus).contains(&("TickwatchProbeSlow".to_owned(), "silent".to_owned()))
    });
    eprintln!("TickwatchProbeSlow fired {:.1} s after the first scrape", since.elapsed().as_secs_f64());
    drop(silent);
}
