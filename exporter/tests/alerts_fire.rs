//! The shipped alert rules that no load scenario can cause fire through the real chain — a
//! real server, the exporter, a real Prometheus loading `dashboards/prometheus/alerts.yml`
//! — and stay silent while all is well: Redis rejecting connections (the loadgen opens one
//! connection per sink, so the test lowers maxclients at run time), a refused config
//! reload, a probe that takes its whole budget, and the Redis alerts that need more than
//! one server or a misbehaving client (a replica losing its master, a consumer group
//! falling behind, slow subscribers cut off), Celery tasks waiting for busy workers
//! (the loadgen sends no task-sent events, so no scenario can measure a queue wait), and
//! a gateway certificate near its end.
//! Every other alert is fired by a scenario (`scenarios.rs`). `for:` durations are scaled down (a minute becomes a
//! second) so the test is quick; the scaling is printed.

mod common;

use common::{firing_alerts, wait_for};
use std::path::Path;
use std::time::{Duration, Instant};
use tickwatch_tests::{CeleryClient, CeleryWorker, Exporter, Prometheus, RedisServer, Server};

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
    let redis = RedisServer::start().unwrap();
    let cache = format!("[[redis]]\nname = \"cache\"\nurl = \"{}\"\n", redis.url());
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

    // maxclients at the clients already connected: the next one is rejected.
    let mut admin = redis.connection().unwrap();
    let connected = info_field(&mut admin, "connected_clients");
    let set = |con: &mut redis::Connection, key: &str, value: u64| {
        let _: () = redis::cmd("CONFIG").arg("SET").arg(key).arg(value).exec(con).unwrap();
    };
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

/// A subscriber that sends SUBSCRIBE and reads nothing unless the caller does: Redis
/// queues what it publishes to it until client-output-buffer-limit pubsub cuts it off.
fn slow_subscriber(redis: &RedisServer, channel: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    write!(stream, "SUBSCRIBE {channel}\r\n").unwrap();
    stream
}

/// The Redis alerts of a replicated, streamed, fanned-out deployment fire from the real
/// thing: a consumer group that falls behind, slow subscribers cut off by
/// client-output-buffer-limit, and a replica whose master dies.
#[test]
fn redis_replication_stream_group_and_subscriber_alerts_fire() {
    let mut primary = RedisServer::start().unwrap();
    let replica = RedisServer::start_replica_of(primary.port()).unwrap();
    let mut admin = primary.connection().unwrap();
    let run = |con: &mut redis::Connection, args: &[&str]| redis::cmd(args[0]).arg(&args[1..]).exec(con).unwrap();
    run(&mut admin, &["XGROUP", "CREATE", "ticks:BTC", "indexer", "$", "MKSTREAM"]);
    run(&mut admin, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 256kb 60"]);
    let reader = slow_subscriber(&primary, "trades.BTC");
    let mut drained = reader.try_clone().unwrap();
    std::thread::spawn(move || std::io::copy(&mut drained, &mut std::io::sink()));
    let slow: Vec<_> = (0..4).map(|_| slow_subscriber(&primary, "trades.BTC")).collect();
    let config = format!(
        "[[redis]]\nname = \"primary\"\nurl = \"{}\"\nstreams = [\"ticks:*\"]\nchannels = [\"trades.*\"]\n\
         [[redis]]\nname = \"replica\"\nurl = \"{}\"\n",
        primary.url(),
        replica.url()
    );
    eprintln!("alert `for:` durations scaled by 1/60 (1m -> 1s)");
    let (_exporter, prometheus) = watched(&config, 1, 1);
    let subscribers = format!("{}/api/v1/query?query=redis_pubsub_channel_subscribers", prometheus.url());
    wait_for("Prometheus to see the five subscribers", Duration::from_secs(20), || {
        let body: serde_json::Value = reqwest::blocking::get(&subscribers).unwrap().json().unwrap();
        body["data"]["result"][0]["value"][1] == "5"
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(firing_alerts(&prometheus), Vec::<(String, String)>::new(), "baseline fires nothing");

    // 1,500 entries nobody in the group reads.
    for i in 0..1500 {
        let _: String = redis::cmd("XADD").arg("ticks:BTC").arg("*").arg("p").arg(i).query(&mut admin).unwrap();
    }
    fires(&prometheus, "RedisStreamGroupLagging", "primary");

    // 16 MB published to subscribers that read nothing: past the 1 MB hard limit, Redis
    // drops the four slow ones; the one that reads stays.
    let payload = "x".repeat(64 << 10);
    for _ in 0..256 {
        let _: i64 = redis::cmd("PUBLISH").arg("trades.BTC").arg(&payload).query(&mut admin).unwrap();
    }
    fires(&prometheus, "RedisPubSubSubscribersDisconnected", "primary");
    let (_, left): (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg("trades.BTC").query(&mut admin).unwrap();
    assert_eq!(left, 1, "the subscriber that reads is still there");
    drop((slow, reader));

    primary.kill();
    fires(&prometheus, "RedisReplicationBroken", "replica");
}

/// Thirty one-second tasks for a worker with two pool processes: the last third waits
/// over 10 s between task-sent and task-started, and CeleryQueueWaitHigh fires.
#[test]
fn tasks_that_wait_for_busy_workers_fire_the_queue_wait_alert() {
    let redis = RedisServer::start().unwrap();
    let config =
        format!("[[celery]]\nname = \"broker\"\nbroker = \"{}\"\nqueues = [\"slow\"]\nevents = true\n", redis.url());
    eprintln!("alert `for:` durations scaled by 1/60 (1m -> 1s)");
    let (exporter, prometheus) = watched(&config, 1, 1);
    let worker = CeleryWorker::start(&redis.url(), &["slow"]).unwrap();
    let host = worker.hostname().to_owned();
    wait_for("the worker's heartbeat", Duration::from_secs(20), || {
        tickwatch_tests::value(&exporter.metrics(), "celery_worker_up", &[("hostname", &host)]) == Some(1.0)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(firing_alerts(&prometheus), Vec::<(String, String)>::new(), "baseline fires nothing");
    CeleryClient::new(&redis.url()).send("tickwatch.sleep", "slow", 30, "[1]", None).unwrap();
    fires(&prometheus, "CeleryQueueWaitHigh", "broker");
    drop(worker);
}

/// A wss:// gateway whose certificate expires in a week: WebSocketCertificateExpiringSoon
/// fires from what the probe read off the handshake.
#[test]
fn a_gateway_certificate_near_its_end_fires_the_expiry_alert() {
    let pki = tickwatch_tests::Pki::new().unwrap();
    let cert = pki.server_until("gateway", time::OffsetDateTime::now_utc() + time::Duration::days(7)).unwrap();
    let args = ["--count", "1000000", "--no-subscribe", "--cert", cert.cert(), "--key", cert.key()];
    let gateway = tickwatch_tests::WebSocketServer::start(&args).unwrap();
    let config = format!(
        "[[websocket]]\nname = \"gateway\"\nurl = \"wss://localhost:{}/\"\ntls_config = {{ ca_file = \"{}\" }}\n",
        gateway.port(),
        pki.ca()
    );
    eprintln!("alert `for:` durations scaled by 1/60 (1m -> 1s)");
    let (_exporter, prometheus) = watched(&config, 1, 1);
    fires(&prometheus, "WebSocketCertificateExpiringSoon", "gateway");
}
