//! `[[observe]]` end to end: the loadgen publishes trades into Redis, a reference platform
//! (`tests/python/relay.py`, Python `websockets` and `redis`) fans them out to WebSocket
//! clients, and the loadgen's observers match every arrival to what it sent. A healthy
//! relay delivers everything; each fault the relay plants is measured exactly: the counts
//! equal the relay's own, the latency is at least the planted delay, and thresholds on
//! lost messages and on end-to-end latency fail the run with exit code 99.

use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use tickwatch_tests::{MongoServer, Pki, RedisServer, Relay, Server};

const SYMBOLS: usize = 2;
/// Messages of the steady phase: 3 s at 400 a second.
const SENT: u64 = 1_200;

/// A scenario publishing to `trades` on `redis`, a quiet first second (the observers'
/// subscriptions settle), then 3 s at 400 messages a second, observed by `observers`.
fn scenario(redis: &RedisServer, observers: &str, thresholds: &str) -> String {
    let sink = format!(
        "[[sink]]\nname = \"bus\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"{}\"\nmode = \"publish\"\nkey = \"trades\"\n",
        redis.url()
    );
    scenario_with(&sink, observers, thresholds)
}

/// The scenario of [`scenario`] with other `sinks`.
fn scenario_with(sinks: &str, observers: &str, thresholds: &str) -> String {
    format!(
        "name = \"observe\"\nseed = 3\n[[source]]\nname = \"trades\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\", \"ETHUSDT\"]\n\
         {sinks}{observers}\n[[phase]]\nname = \"settle\"\nduration = \"1s\"\nrate = 0\n\
         [[phase]]\nname = \"steady\"\nduration = \"3s\"\nrate = 400\n{thresholds}"
    )
}

fn websocket_observer(relay: &Relay, connections: usize, subscribe: &str) -> String {
    format!(
        "[[observe]]\nname = \"browsers\"\nsource = \"trades\"\nkind = \"websocket\"\nurl = \"{}\"\n\
         connections = {connections}\ndeadline = \"5s\"\n{subscribe}\n",
        relay.url()
    )
}

/// What a run ended with: exit code, summary.json, stderr, and its live /metrics 2.5 s
/// into the steady phase.
struct Ran {
    code: i32,
    summary: Value,
    stderr: String,
    metrics: String,
}

fn run(scenario: &str) -> Ran {
    run_with(scenario, || {})
}

/// [`run`], doing `meanwhile` from 2 s into the run (1 s into the steady phase).
fn run_with(scenario: &str, meanwhile: impl FnOnce()) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, scenario).unwrap();
    let address = format!("127.0.0.1:{}", tickwatch_tests::free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .arg("run")
        .arg(&file)
        .args(["--report-dir".as_ref(), dir.path().as_os_str()])
        .args(["--metrics-address", &address])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_000));
    meanwhile();
    std::thread::sleep(Duration::from_millis(1_500));
    let metrics =
        reqwest::blocking::get(format!("http://{address}/metrics")).and_then(|r| r.text()).unwrap_or_default();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = std::fs::read_to_string(dir.path().join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary.json ({e}): {stderr}"));
    let summary: Value = serde_json::from_str(&summary).unwrap();
    // Each observer has its latency log and its table in report.html.
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for name in summary["observers"].as_object().unwrap().keys() {
        let log = std::fs::read_to_string(dir.path().join(format!("observer-{name}.hlog"))).unwrap();
        assert!(log.contains("Tag=phase:steady,"), "{log}");
        assert!(html.contains(&format!("<h3>{name} (")), "report.html has no table of {name}");
    }
    Ran { code: out.status.code().unwrap_or(-1), summary, stderr, metrics }
}

/// A series of the live metrics.
fn live(ran: &Ran, name: &str, observer: &str) -> f64 {
    tickwatch_tests::value(&ran.metrics, name, &[("observer", observer)])
        .unwrap_or_else(|| panic!("no {name}{{observer={observer}}} in {}", ran.metrics))
}

fn count(observer: &Value, key: &str) -> u64 {
    observer[key].as_u64().unwrap_or_else(|| panic!("no {key} in {observer}"))
}

#[test]
fn a_healthy_relay_delivers_every_message_to_every_subscribed_connection() {
    let redis = RedisServer::start().unwrap();
    let relay = Relay::start(&redis.url(), "trades", &[]).unwrap();
    // Four browsers, one symbol each ({symbol} spreads them), and two subscribers on the
    // Redis channel itself.
    let observers = websocket_observer(&relay, 4, "subscribe = '{\"op\":\"subscribe\",\"symbols\":[\"{symbol}\"]}'")
        + &format!(
            "[[observe]]\nname = \"bus\"\nsource = \"trades\"\nkind = \"redis-pubsub\"\nurl = \"{}\"\nchannel = \"trades\"\nconnections = 2\n",
            redis.url()
        );
    let ran = run(&scenario(&redis, &observers, ""));
    let (code, summary, stderr) = (ran.code, &ran.summary, &ran.stderr);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["sinks"]["bus"]["sent"], SENT);
    let stats = relay.stats().unwrap();
    let browsers = &summary["observers"]["browsers"];
    // Each message is owed to the two of the four connections subscribed to its symbol.
    let owed = SENT * 4 / SYMBOLS as u64;
    assert_eq!(count(browsers, "expected"), owed, "{browsers}");
    assert_eq!(count(browsers, "delivered"), owed);
    assert_eq!(stats.sent, owed, "the relay sent what the observer counted: {stats:?}");
    for key in ["lost", "duplicated", "out_of_order", "unexpected", "late"] {
        assert_eq!(count(browsers, key), 0, "{key}: {browsers}");
    }
    // The synthetic feed picks a symbol per message: each connection got its symbol's share.
    let per_connection = &browsers["per_connection"]["delivered"];
    assert_eq!(count(per_connection, "min") + count(per_connection, "max"), SENT, "{per_connection}");
    assert_eq!(browsers["phases"]["steady"]["delivered"], owed);
    assert_eq!(count(browsers, "connects"), 4);
    let latency = &browsers["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0 && latency["max"].as_f64().unwrap() < 2_000.0, "{latency}");
    assert!(browsers["skew_ms"]["max"].as_f64().is_some(), "{browsers}");
    let bus = &summary["observers"]["bus"];
    assert_eq!((count(bus, "expected"), count(bus, "delivered"), count(bus, "lost")), (SENT * 2, SENT * 2, 0));
    assert_eq!(bus["kind"], "redis-pubsub");
    // While it ran, the live metrics counted as the report does.
    assert_eq!(live(&ran, "tickwatch_loadgen_observer_connections", "browsers"), 4.0);
    let delivered = live(&ran, "tickwatch_loadgen_observer_delivered_total", "browsers");
    assert!(delivered > 0.0 && delivered < owed as f64, "{delivered}");
    assert_eq!(live(&ran, "tickwatch_loadgen_observer_lost_total", "bus"), 0.0);
    assert!(live(&ran, "tickwatch_loadgen_observer_latency_seconds_count", "bus") > 0.0);
}

#[test]
fn dropped_duplicated_and_delayed_messages_are_counted_as_the_relay_counts_them_and_fail_the_thresholds() {
    let redis = RedisServer::start().unwrap();
    let relay =
        Relay::start(&redis.url(), "trades", &["--drop-every", "10", "--duplicate-every", "7", "--delay-ms", "40"])
            .unwrap();
    let thresholds = "[thresholds]\n\"lost{observer:browsers}\" = [\"count == 0\"]\n\"e2e_latency\" = [\"p(50) < 10\"]\n\
                      \"duplicated\" = [\"count > 0\"]\n";
    let ran = run(&scenario(&redis, &websocket_observer(&relay, 3, ""), thresholds));
    let (code, summary, stderr) = (ran.code, &ran.summary, &ran.stderr);
    assert_eq!(code, 99, "a threshold failed: {stderr}");
    let stats = relay.stats().unwrap();
    let browsers = &summary["observers"]["browsers"];
    assert_eq!(stats.received, SENT, "{stats:?}");
    assert_eq!(count(browsers, "expected"), SENT * 3);
    assert_eq!(count(browsers, "lost"), stats.dropped, "{browsers} {stats:?}");
    assert_eq!(stats.dropped, SENT / 10 * 3);
    assert_eq!(count(browsers, "duplicated"), stats.duplicated);
    assert!(stats.duplicated > 0);
    assert_eq!(count(browsers, "delivered"), stats.sent - stats.duplicated);
    assert_eq!(count(browsers, "expected"), count(browsers, "delivered") + count(browsers, "lost"));
    assert_eq!(count(browsers, "unexpected"), 0);
    let min_ms = browsers["send_latency_ms"]["p50"].as_f64().unwrap();
    assert!(min_ms >= 40.0, "the planted 40 ms delay shows: {browsers}");
    let checks = summary["verdict"]["checks"].as_array().unwrap();
    let passed = |name: &str| checks.iter().find(|c| c["name"] == name).map(|c| c["passed"].as_bool().unwrap());
    assert_eq!(passed("lost{observer:browsers} count == 0"), Some(false), "{checks:?}");
    assert_eq!(passed("e2e_latency p(50) < 10"), Some(false));
    assert_eq!(passed("duplicated count > 0"), Some(true));
    assert!(live(&ran, "tickwatch_loadgen_observer_duplicated_total", "browsers") > 0.0);
}

#[test]
fn stream_readers_and_collection_pollers_see_every_message_written() {
    let redis = RedisServer::start().unwrap();
    let mongo = MongoServer::start().unwrap();
    let sinks = format!(
        "[[sink]]\nname = \"stream\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"{}\"\nmode = \"xadd\"\nkey = \"ticks\"\n\
         [[sink]]\nname = \"store\"\nsource = \"trades\"\nkind = \"mongodb\"\nurl = \"{}\"\ndb = \"md\"\ncollection = \"trades\"\n",
        redis.url(),
        mongo.uri()
    );
    let observers = format!(
        "[[observe]]\nname = \"readers\"\nsource = \"trades\"\nkind = \"redis-stream\"\nurl = \"{}\"\nkey = \"ticks\"\nconnections = 2\n\
         [[observe]]\nname = \"workers\"\nsource = \"trades\"\nkind = \"redis-stream\"\nurl = \"{}\"\nkey = \"ticks\"\n\
         group = \"enrich\"\nconnections = 3\n\
         [[observe]]\nname = \"pollers\"\nsource = \"trades\"\nkind = \"mongodb\"\nurl = \"{}\"\ndb = \"md\"\ncollection = \"trades\"\n\
         poll_interval = \"50ms\"\n",
        redis.url(),
        redis.url(),
        mongo.uri()
    );
    let ran = run(&scenario_with(&sinks, &observers, ""));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // Every reader gets every message; the group's three consumers share them, each owed once.
    for (name, connections) in [("readers", 2), ("workers", 1), ("pollers", 1)] {
        let o = &ran.summary["observers"][name];
        let owed = SENT * connections;
        assert_eq!((count(o, "expected"), count(o, "delivered")), (owed, owed), "{name}: {o}");
        for key in ["lost", "duplicated", "out_of_order", "unexpected", "late"] {
            // A group's consumers read in parallel: their arrivals interleave out of order.
            if (name, key) != ("workers", "out_of_order") {
                assert_eq!(count(o, key), 0, "{name} {key}: {o}");
            }
        }
    }
    assert_eq!(count(&ran.summary["observers"]["workers"], "connects"), 3);
    let (pending, ..): (u64, redis::Value, redis::Value, redis::Value) =
        redis::cmd("XPENDING").arg("ticks").arg("enrich").query(&mut redis.connection().unwrap()).unwrap();
    assert_eq!(pending, 0, "every entry the group read was acknowledged");
}

#[test]
fn a_mapped_observer_reads_the_loadgens_own_binance_gateway_over_wss_and_its_planted_gaps_are_not_lost() {
    let port = tickwatch_tests::free_port();
    let pki = Pki::new().unwrap();
    let sink = format!(
        "[[sink]]\nname = \"exchange\"\nsource = \"trades\"\nkind = \"websocket-server\"\nprotocol = \"binance\"\n\
         listen = \"127.0.0.1:{port}\"\nwait_for_subscribers = 2\ntls = {{ cert_file = \"{}\", key_file = \"{}\" }}\n",
        pki.server.cert(),
        pki.server.key()
    );
    // Two collectors of one stream each, reading Binance's fields over wss, trusting the
    // private CA; gaps are planted in the feed, so the missing trade ids were never sent
    // and nothing is lost.
    let observers = format!(
        "[[observe]]\nname = \"collectors\"\nsource = \"trades\"\nkind = \"websocket\"\n\
         url = \"wss://127.0.0.1:{port}/stream?streams=btcusdt@trade/ethusdt@trade\"\nconnections = 2\n\
         format = \"mapped\"\nfields = {{ symbol = \"/data/s\", seq = \"/data/t\" }}\ntls = {{ ca_file = \"{}\" }}\n",
        pki.ca()
    );
    let text = scenario_with(&sink, &observers, "").replace("rate = 400\n", "rate = 400\nfaults = [\"gap=0.05\"]\n");
    let ran = run(&text);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let sent = count(&ran.summary["sinks"]["exchange"], "sent");
    let o = &ran.summary["observers"]["collectors"];
    assert_eq!((count(o, "expected"), count(o, "delivered"), count(o, "lost")), (sent * 2, sent * 2, 0), "{o}");
    assert_eq!(count(o, "unexpected"), 0, "{o}");

    // Without the CA the observer cannot connect, and the run says which one and why.
    let untrusting = observers.replace(&format!("\ntls = {{ ca_file = \"{}\" }}", pki.ca()), "");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, scenario_with(&sink, &untrusting, "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).arg("run").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("observer collectors") && stderr.contains("UnknownIssuer"), "{stderr}");
}

#[test]
fn a_stalled_relay_delays_every_message_and_loses_none() {
    let redis = RedisServer::start().unwrap();
    let mut relay = Relay::start(&redis.url(), "trades", &[]).unwrap();
    let observers = websocket_observer(&relay, 3, "");
    let ran = run_with(&scenario(&redis, &observers, ""), || {
        relay.pause().unwrap();
        std::thread::sleep(Duration::from_millis(1_500));
        relay.resume().unwrap();
    });
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let o = &ran.summary["observers"]["browsers"];
    assert_eq!((count(o, "expected"), count(o, "delivered"), count(o, "lost")), (SENT * 3, SENT * 3, 0), "{o}");
    assert_eq!(relay.stats().unwrap().sent, SENT * 3);
    let max = o["latency_ms"]["max"].as_f64().unwrap();
    assert!(max >= 1_400.0, "the 1.5 s stall shows as latency: max {max} ms");
}

#[test]
fn a_killed_relay_loses_what_it_never_sent_and_its_clients_come_back() {
    let redis = RedisServer::start().unwrap();
    let mut relay = Relay::start(&redis.url(), "trades", &[]).unwrap();
    let mut before_kill = None;
    let ran = run_with(&scenario(&redis, &websocket_observer(&relay, 3, ""), ""), || {
        // Frozen between messages first, so its count of what it sent is whole when it dies.
        relay.freeze().unwrap();
        before_kill = Some(relay.stats().unwrap());
        relay.kill();
        std::thread::sleep(Duration::from_millis(500));
        relay.restart().unwrap();
    });
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let (before, after) = (before_kill.unwrap(), relay.stats().unwrap());
    let o = &ran.summary["observers"]["browsers"];
    assert_eq!(count(o, "delivered"), before.sent + after.sent, "{o} {before:?} {after:?}");
    assert_eq!(count(o, "expected"), count(o, "delivered") + count(o, "lost"));
    assert!(count(o, "lost") > 0 && after.sent > 0, "{o}");
    assert_eq!(count(o, "connects"), 6, "each client reconnected once: {o}");
    assert_eq!(o["disconnects"].as_object().unwrap().values().filter_map(Value::as_u64).sum::<u64>(), 3, "{o}");
}
