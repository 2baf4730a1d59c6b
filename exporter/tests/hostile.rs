//! Hostile load on a running exporter: more symbols, task names and worker host names than
//! any cap; giant and malformed messages on every feed source and on a monitor; a thousand
//! half-open HTTP connections beside two hundred concurrent scrapes. Every cap holds and is
//! reported, everything bad is counted as an error, the RSS stays bounded (printed), and the
//! exporter goes on serving and decoding.

mod common;

use base64::Engine;
use common::{start_exporter, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use tickwatch_tests::{Exporter, RedisServer, WebSocketServer, value, values};

fn rss_mib(text: &str) -> f64 {
    value(text, "process_resident_memory_bytes", &[]).unwrap() / 1_048_576.0
}

fn trade(symbol: &str, seq: u64) -> String {
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!(
        r#"{{"venue":"binance","symbol":"{symbol}","seq":{seq},"ts_ns":{ts},"price":42000.5,"qty":0.5,"side":"buy"}}"#
    )
}

fn series(text: &str, name: &str, feed: &str) -> usize {
    values(text, name, &[("feed", feed)]).len()
}

#[test]
fn feeds_cap_20000_symbols_and_count_giant_and_malformed_messages_on_every_source() {
    let redis = RedisServer::start().unwrap();
    let giant_gateway =
        WebSocketServer::start(&["--giant-first", "3000000", "--count", "5", "--interval-ms", "1"]).unwrap();
    let exporter = start_exporter(&format!(
        "[[feed]]\nname = \"bus\"\nkind = \"trade\"\nsource = {{ type = \"redis-pubsub\", url = \"{url}\", channel = \"trades\" }}\n\
         max_clock_drift = \"1h\"\n\
         [[feed]]\nname = \"stream\"\nkind = \"trade\"\nsource = {{ type = \"redis-stream\", url = \"{url}\", stream = \"ticks\", field = \"data\" }}\n\
         max_clock_drift = \"1h\"\n\
         [[websocket]]\nname = \"gateway\"\nurl = \"ws://127.0.0.1:{port}/\"\nmode = \"monitor\"\nsubscribe = '{{}}'\ntimestamp_pointer = \"/T\"\n\
         [[feed]]\nname = \"gateway-trades\"\nkind = \"trade\"\nformat = \"mapped\"\nsource = {{ type = \"websocket\", target = \"gateway\" }}\n\
         fields = {{ symbol = \"/s\", seq = \"/t\", price = \"/p\", qty = \"/q\", ts = \"/T\", ts_unit = \"ms\" }}\nmax_clock_drift = \"1h\"\n",
        url = redis.url(),
        port = giant_gateway.port()
    ));
    wait_for("both Redis feeds to connect", Duration::from_secs(10), || {
        let text = exporter.metrics();
        ["bus", "stream"].iter().all(|f| value(&text, "data_feed_connected", &[("feed", f)]) == Some(1.0))
    });
    let before = rss_mib(&exporter.metrics());

    // Pub/sub: 20,000 symbols (1,000 tracked, the rest rejected as over the cap), a 3 MB
    // message, binary junk, truncated JSON and a symbol of 10 kB.
    let mut con = redis.connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("PUBLISH").arg("trades").arg(trade(&format!("SYM{i:05}"), 1)).ignore();
    }
    let giant = format!(r#"{{"symbol":"{}"}}"#, "A".repeat(3_000_000));
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let long_symbol = trade(&"L".repeat(10_000), 1);
    pipe.cmd("PUBLISH").arg("trades").arg(&giant).ignore();
    pipe.cmd("PUBLISH").arg("trades").arg(&junk).ignore();
    pipe.cmd("PUBLISH").arg("trades").arg(r#"{"venue":"binance","symbol":"SYM00001","seq":"#).ignore();
    pipe.cmd("PUBLISH").arg("trades").arg(&long_symbol).ignore();
    pipe.cmd("PUBLISH").arg("trades").arg(trade("SYM00001", 2)).ignore();
    pipe.exec(&mut con).unwrap();

    // The stream: the same giant, junk and a good entry after them.
    let mut pipe = redis::pipe();
    for data in [giant.as_bytes(), &junk, trade("BTCUSDT", 1).as_bytes()] {
        pipe.cmd("XADD").arg("ticks").arg("*").arg("data").arg(data).ignore();
    }
    pipe.exec(&mut con).unwrap();

    let bus = |text: &str, reason: &str| {
        value(text, "data_feed_messages_rejected_total", &[("feed", "bus"), ("reason", reason)]).unwrap_or(0.0)
    };
    wait_for("every pub/sub message to be judged", Duration::from_secs(60), || {
        let text = exporter.metrics();
        value(&text, "data_feed_messages_decoded_total", &[("feed", "bus")]) == Some(1_001.0)
            && bus(&text, "symbol_cap") == 19_000.0
    });
    let stream = |text: &str, reason: &str| {
        value(text, "data_feed_messages_rejected_total", &[("feed", "stream"), ("reason", reason)]).unwrap_or(0.0)
    };
    wait_for("every stream entry to be judged", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &[("feed", "stream")]) == Some(1.0)
    });
    // The monitor: the gateway's first connection sends one 3 MB message (over the
    // monitor's 1 MiB), the next one five good trades.
    wait_for("the monitor to drop the giant and read the next connection", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &[("feed", "gateway-trades")]) == Some(5.0)
    });

    let text = exporter.metrics();
    assert_eq!(bus(&text, "too_large"), 1.0, "the 3 MB message");
    assert_eq!(bus(&text, "not_json"), 2.0, "the junk and the truncated JSON");
    assert_eq!(bus(&text, "bad_field"), 1.0, "the 10 kB symbol");
    assert_eq!(series(&text, "data_quality_score", "bus"), 1_000, "one score per tracked symbol");
    assert!(!text.contains("LLLLLLLLLL"), "the long symbol made no series");
    assert_eq!(stream(&text, "too_large"), 1.0);
    assert_eq!(stream(&text, "not_json"), 1.0);
    assert_eq!(value(&text, "websocket_errors_total", &[("target", "gateway"), ("reason", "too_large")]), Some(1.0));
    let capped = rss_mib(&text);

    // Past the cap, more new symbols and giants cost nothing that stays. Rounds of 20,000
    // new symbols and a 3 MB message each: the first three warm the allocator (likely glibc raising
    // its mmap threshold once a 3 MB block is freed, so that later giants land in the heap's
    // arenas; RSS rose 83-97 -> ~105 MiB over three rounds, then stayed within 2.5 MiB for
    // five more), the last three must then add nothing.
    let mut after_round = Vec::new();
    for round in 1..=6u64 {
        let mut pipe = redis::pipe();
        for i in 0..20_000 {
            pipe.cmd("PUBLISH").arg("trades").arg(trade(&format!("NEW{round}-{i:05}"), 1)).ignore();
        }
        pipe.cmd("PUBLISH").arg("trades").arg(&giant).ignore();
        pipe.exec(&mut con).unwrap();
        let rejected = 19_000.0 + 20_000.0 * round as f64;
        wait_for("the new symbols to be rejected", Duration::from_secs(60), || {
            bus(&exporter.metrics(), "symbol_cap") == rejected
        });
        after_round.push(rss_mib(&exporter.metrics()));
    }
    let warm = after_round[2];
    let again = after_round[3..].iter().copied().fold(f64::MIN, f64::max);
    println!(
        "exporter RSS: {before:.1} MiB before, {capped:.1} MiB with 1,000 symbols tracked of 20,000 sent and three 3 MB messages, \
         {warm:.1} MiB after three rounds of 20,000 more symbols and another 3 MB message, at most {again:.1} MiB in three more"
    );
    assert!(again < warm + 8.0, "RSS grew from {warm:.1} to {again:.1} MiB past the cap");
}

/// A Kombu envelope on the Redis broker's event channel, holding a list of events.
fn envelope(events: &[serde_json::Value]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(serde_json::Value::from(events.to_vec()).to_string());
    serde_json::json!({"body": body, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {}, "properties": {"body_encoding": "base64", "delivery_tag": "x"}})
    .to_string()
}

#[test]
fn celery_events_with_100000_task_names_and_10000_hosts_are_capped_and_the_cap_reported() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"broker\"\nbroker = \"{}\"\nqueues = [\"celery\"]\nevents = true\n",
        redis.url()
    ));
    wait_for("the event consumer to subscribe", Duration::from_secs(10), || {
        value(&exporter.metrics(), "celery_events_connected", &[("target", "broker")]) == Some(1.0)
    });
    let before = rss_mib(&exporter.metrics());
    let mut con = redis.connection().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let mut pipe = redis::pipe();
    for batch in 0..1_000 {
        let events: Vec<_> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                serde_json::json!({"type": "task-received", "uuid": format!("u{n}"), "name": format!("app.task_{n}"),
                                   "hostname": "w@h", "timestamp": now})
            })
            .collect();
        pipe.cmd("PUBLISH").arg("/0.celeryev/task.multi").arg(envelope(&events)).ignore();
    }
    for batch in 0..100 {
        let events: Vec<_> = (0..100)
            .map(|i| serde_json::json!({"type": "worker-heartbeat", "hostname": format!("worker{}@h", batch * 100 + i), "active": 1, "timestamp": now}))
            .collect();
        pipe.cmd("PUBLISH").arg("/0.celeryev/worker.heartbeat").arg(envelope(&events)).ignore();
    }
    let long_name =
        serde_json::json!({"type": "task-received", "uuid": "long", "name": "n".repeat(100_000), "hostname": "w@h"});
    pipe.cmd("PUBLISH").arg("/0.celeryev/task.multi").arg(envelope(&[long_name])).ignore();
    pipe.exec(&mut con).unwrap();

    let overflow = |text: &str, label: &str| {
        value(text, "tickwatch_label_overflow_total", &[("target", "broker"), ("label", label)]).unwrap_or(0.0)
    };
    let received = |text: &str| values(text, "celery_task_received_total", &[]).iter().sum::<f64>();
    wait_for("every event to be counted", Duration::from_secs(60), || {
        let text = exporter.metrics();
        received(&text) == 100_001.0 && overflow(&text, "hostname") == 9_500.0
    });
    let text = exporter.metrics();
    // 500 names tracked (the default cap), every later one counted under `other`.
    assert_eq!(overflow(&text, "name"), 99_501.0);
    let names = values(&text, "celery_task_received_total", &[]).len();
    assert_eq!(names, 501, "500 names and `other`");
    let other = value(&text, "celery_task_received_total", &[("name", "other")]);
    assert_eq!(other, Some(99_501.0));
    assert_eq!(
        value(&text, "celery_active_workers", &[("target", "broker")]),
        Some(500.0),
        "{}",
        overflow(&text, "hostname")
    );
    assert!(!text.contains("nnnnnnnnnn"), "the 100 kB task name made no series");
    let after = rss_mib(&text);
    println!("exporter RSS: {before:.1} MiB before, {after:.1} MiB after 100,000 task names and 10,000 hosts");
    assert!(after < before + 64.0, "RSS grew from {before:.1} to {after:.1} MiB");
}

/// Opens `count` connections that send half a request line and then nothing.
fn half_open(exporter: &Exporter, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut socket = TcpStream::connect(("127.0.0.1", exporter.port())).unwrap();
            socket.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            socket
        })
        .collect()
}

/// Scrapes /metrics from `count` threads at once; returns each status and how long the
/// slowest took.
fn concurrent_scrapes(exporter: &Exporter, count: usize) -> (Vec<u16>, Duration) {
    let start = Instant::now();
    let statuses = std::thread::scope(|scope| {
        let scrapes: Vec<_> = (0..count).map(|_| scope.spawn(|| exporter.scrape("/metrics", 60.0).0)).collect();
        scrapes.into_iter().map(|s| s.join().unwrap()).collect()
    });
    (statuses, start.elapsed())
}

#[test]
fn a_thousand_half_open_connections_do_not_keep_200_concurrent_scrapes_from_being_served() {
    let redis = RedisServer::start().unwrap();
    let config = format!("[[redis]]\nname = \"redis\"\nurl = \"{}\"\n", redis.url());
    let binary = Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter"));
    // Room for all of them: every scrape is served at once while the half-open ones wait.
    let roomy = Exporter::start_with_args(
        binary,
        &config,
        "info",
        &["--web.max-connections", "1500", "--web.max-requests", "200"],
    )
    .unwrap();
    let before = rss_mib(&roomy.metrics());
    let mut held = half_open(&roomy, 1_000);
    let (statuses, slowest) = concurrent_scrapes(&roomy, 200);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let during = rss_mib(&roomy.metrics());
    println!(
        "1,000 half-open connections and 200 concurrent scrapes: all 200 OK, the slowest in {slowest:?}; RSS {before:.1} -> {during:.1} MiB"
    );
    assert!(during < before + 128.0, "RSS grew from {before:.1} to {during:.1} MiB");
    // The exporter closes a connection that sends no full request within 10 s.
    held[0].set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rest = Vec::new();
    let started = Instant::now();
    let _ = held[0].read_to_end(&mut rest);
    assert!(started.elapsed() < Duration::from_secs(15), "a half-open connection stayed {:?}", started.elapsed());
    drop(held);

    // With the default limits (512 connections, 40 requests at once) the half-open ones
    // take every connection slot: scrapes wait for the 10 s header timeout to free them,
    // and are then served (200) or turned away at once (503), never left hanging.
    let default = Exporter::start(binary, &config, "info").unwrap();
    let _held = half_open(&default, 1_000);
    let (statuses, slowest) = concurrent_scrapes(&default, 200);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    println!(
        "default limits: {ok} of 200 concurrent scrapes served, the rest {:?}; the slowest answered in {slowest:?}",
        statuses.iter().filter(|s| **s != 200).collect::<std::collections::BTreeSet<_>>()
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
    assert!(ok >= 40, "{ok} of 200 served");
}

#[test]
fn a_mongodb_feed_counts_giant_and_malformed_documents_and_reads_on() {
    let mongo = tickwatch_tests::MongoServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[mongodb]]\nname = \"store\"\nuri = \"{}\"\n\
         [[feed]]\nname = \"docs\"\nkind = \"trade\"\nmax_clock_drift = \"1h\"\n\
         source = {{ type = \"mongodb\", target = \"store\", db = \"md\", collection = \"trades\", time_field = \"ts_ns\", poll_interval = \"200ms\" }}\n",
        mongo.uri()
    ));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let docs = [
        // 3 MB: over the feed's 1 MiB once it is JSON.
        mongodb::bson::doc! { "ts_ns": now, "symbol": "A".repeat(3_000_000) },
        // Wrong types, and fields missing.
        mongodb::bson::doc! { "ts_ns": now + 1, "symbol": 5, "seq": "one", "price": [1], "qty": {} },
        mongodb::bson::doc! { "ts_ns": now + 2 },
        mongodb::bson::doc! { "venue": "binance", "symbol": "BTCUSDT", "seq": 1_i64, "ts_ns": now + 3, "price": 42000.5, "qty": 0.5, "side": "buy" },
    ];
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = mongodb::Client::with_uri_str(mongo.uri()).await.unwrap();
        client.database("md").collection("trades").insert_many(docs).await.unwrap();
    });
    let rejected = |text: &str, reason: &str| {
        value(text, "data_feed_messages_rejected_total", &[("feed", "docs"), ("reason", reason)]).unwrap_or(0.0)
    };
    wait_for("the good document after the bad ones", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &[("feed", "docs")]) == Some(1.0)
    });
    let text = exporter.metrics();
    assert_eq!(rejected(&text, "too_large"), 1.0, "{text}");
    assert_eq!(rejected(&text, "bad_field") + rejected(&text, "missing_field"), 2.0, "{text}");
}
