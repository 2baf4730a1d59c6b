//! `tickwatch-loadgen run` against real servers: every message accounted for, what the
//! report says was sent is what the servers hold, and pacing stays honest.

mod common;

use common::run_scenario;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tickwatch_tests::{CeleryWorker, MongoServer, Pki, RedisServer, Server, free_port};

struct Run {
    summary: Value,
    stderr: String,
    dir: tempfile::TempDir,
}

impl Run {
    fn sink(&self, name: &str) -> &Value {
        &self.summary["sinks"][name]
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `scenario` with `args`, which must pass, and returns its summary.
fn run(scenario: &str, args: &[&str]) -> Run {
    let finished = run_scenario(scenario, args);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    Run { summary: finished.summary(), stderr: finished.stderr, dir: finished.dir }
}

/// Starts `run SCENARIO --report-dir REPORT` in the background.
fn spawn_run(scenario: &Path, report: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .arg("run")
        .arg(scenario)
        .arg("--report-dir")
        .arg(report)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn counts(sink: &Value) -> (u64, u64, u64) {
    let n = |k: &str| sink[k].as_u64().unwrap();
    (n("attempted"), n("sent"), n("failed"))
}

fn trades_scenario(sinks: &str, duration: &str, rate: u32) -> String {
    format!(
        "name = \"test\"\nseed = 7\n[[source]]\nname = \"trades\"\nkind = \"synthetic-trades\"\nsymbols = {SYMBOLS:?}\n\
         {sinks}\n[[phase]]\nname = \"steady\"\nduration = \"{duration}\"\nrate = {rate}\n"
    )
}

#[test]
fn xadd_and_publish_land_exactly_what_the_report_says() {
    let redis = RedisServer::start().unwrap();
    // A subscriber counting every published message.
    let mut sub_connection = redis.connection().unwrap();
    let mut sub = sub_connection.as_pubsub();
    sub.psubscribe("trades.*").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let sinks = format!(
        "[[sink]]\nname = \"stream\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"{url}\"\nmode = \"xadd\"\nkey = \"ticks\"\n\
         [[sink]]\nname = \"pubsub\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"{url}\"\nmode = \"publish\"\nkey = \"trades.{{symbol}}\"\n",
        url = redis.url()
    );
    let r = run(&trades_scenario(&sinks, "2s", 2000), &[]);
    let (attempted, sent, failed) = counts(r.sink("stream"));
    assert_eq!((attempted, sent, failed), (4000, 4000, 0), "{}", r.stderr);
    let mut con = redis.connection().unwrap();
    let xlen: u64 = redis::cmd("XLEN").arg("ticks").query(&mut con).unwrap();
    assert_eq!(xlen, sent);
    let published = counts(r.sink("pubsub")).1;
    let mut received = 0;
    while sub.get_message().is_ok() {
        received += 1;
    }
    assert_eq!(received, published);
    // The interval log and the HTML report are there.
    assert!(std::fs::read_to_string(r.path("report/stream.hlog")).unwrap().contains("#[StartTime:"));
    assert!(std::fs::read_to_string(r.path("report/report.html")).unwrap().contains("<svg"));
}

#[test]
fn celery_tasks_are_executed_by_a_real_worker() {
    let redis = RedisServer::start().unwrap();
    let _worker = CeleryWorker::start(&redis.url(), &["ticks"]).unwrap();
    let sinks = format!(
        "[[sink]]\nname = \"tasks\"\nsource = \"trades\"\nkind = \"celery\"\nurl = \"{}\"\nqueue = \"ticks\"\n\
         task = \"tickwatch.tick\"\nargs = [\"{{symbol}}\", \"{{seq}}\", \"{{price}}\"]\n",
        redis.url()
    );
    let r = run(&trades_scenario(&sinks, "1s", 150), &[]);
    let sent = counts(r.sink("tasks")).1;
    assert_eq!(sent, 150, "{}", r.stderr);
    let mut con = redis.connection().unwrap();
    let start = Instant::now();
    loop {
        let keys: Vec<String> = redis::cmd("KEYS").arg("celery-task-meta-*").query(&mut con).unwrap();
        if keys.len() as u64 == sent {
            let meta: String = redis::cmd("GET").arg(&keys[0]).query(&mut con).unwrap();
            let meta: Value = serde_json::from_str(&meta).unwrap();
            assert_eq!(meta["status"], "SUCCESS", "{meta}");
            assert!(meta["result"]["symbol"].as_str().unwrap().ends_with("USDT"), "{meta}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the worker ran {} of {sent} tasks", keys.len());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mongodb_collection_holds_every_sent_chain() {
    let mongo = MongoServer::start().unwrap();
    let scenario = format!(
        "name = \"chains\"\nseed = 3\n[[source]]\nname = \"chains\"\nkind = \"synthetic-chains\"\nsymbols = [\"NIFTY\"]\n\
         [[sink]]\nname = \"store\"\nsource = \"chains\"\nkind = \"mongodb\"\nurl = \"{}\"\ndb = \"md\"\ncollection = \"chains\"\nbatch_size = 10\n\
         [[phase]]\nname = \"steady\"\nduration = \"2s\"\nrate = 20\n",
        mongo.uri()
    );
    let r = run(&scenario, &[]);
    let sent = counts(r.sink("store")).1;
    assert_eq!(sent, 40, "{}", r.stderr);
    let count = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = mongodb::Client::with_uri_str(mongo.uri()).await.unwrap();
        client
            .database("md")
            .collection::<mongodb::bson::Document>("chains")
            .count_documents(mongodb::bson::doc! {})
            .await
            .unwrap()
    });
    assert_eq!(count, sent);
}

#[test]
fn fifty_websocket_subscribers_each_get_every_message_of_their_symbols() {
    let port = free_port();
    let sinks = format!(
        "[[sink]]\nname = \"gateway\"\nsource = \"trades\"\nkind = \"websocket-server\"\nlisten = \"127.0.0.1:{port}\"\nwait_for_subscribers = 50\n\
         [[sink]]\nname = \"copy\"\nsource = \"trades\"\nkind = \"file\"\npath = \"DIR/copy.jsonl\"\n"
    );
    let scenario = trades_scenario(&sinks, "2s", 3000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    let copy = dir.path().join("copy.jsonl");
    std::fs::write(&file, scenario.replace("DIR", &dir.path().display().to_string())).unwrap();
    let mut loadgen = spawn_run(&file, &dir.path().join("report"));
    let symbols = SYMBOLS;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let received: Vec<(usize, u64)> = runtime.block_on(async {
        let mut clients = Vec::new();
        for i in 0..50 {
            clients.push(tokio::spawn(async move {
                let mut socket = subscribe(port, &[symbols[i % 3]]).await;
                let mut n = 0u64;
                while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(3), socket.next()).await {
                    if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                        assert!(t.contains(symbols[i % 3]));
                        n += 1;
                    }
                }
                (i, n)
            }));
        }
        let mut out = Vec::new();
        for c in clients {
            out.push(c.await.unwrap());
        }
        out
    });
    let status = loadgen.wait().unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&copy).unwrap();
    for &(i, n) in &received {
        let expected =
            text.lines().filter(|l| l.contains(&format!("\"symbol\":\"{}\"", symbols[i % 3]))).count() as u64;
        assert!(expected > 100);
        assert_eq!(n, expected, "subscriber {i} ({})", symbols[i % 3]);
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report/summary.json")).unwrap()).unwrap();
    let deliveries = &summary["sinks"]["gateway"]["deliveries"];
    let n = |key: &str| deliveries[key].as_u64().unwrap();
    let got: u64 = received.iter().map(|(_, n)| n).sum();
    assert_eq!((n("subscribers"), n("dropped_subscribers")), (50, 0), "{deliveries}");
    assert_eq!((n("attempted"), n("sent"), n("failed")), (got, got, 0), "{deliveries}");
}

#[test]
fn a_subscriber_that_stops_reading_is_dropped_and_what_it_missed_counts_failed() {
    let port = free_port();
    let sinks = format!(
        "[[sink]]\nname = \"gateway\"\nsource = \"trades\"\nkind = \"websocket-server\"\nlisten = \"127.0.0.1:{port}\"\nwait_for_subscribers = 2\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, trades_scenario(&sinks, "6s", 25_000)).unwrap();
    let mut loadgen = spawn_run(&file, &dir.path().join("report"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (read, stuck_read) = runtime.block_on(async {
        let reader = tokio::spawn(async move { read_until_closed(subscribe(port, &SYMBOLS).await).await });
        let mut stuck = subscribe(port, &SYMBOLS).await;
        // Reads nothing until the gateway has given up on it, then what reached it.
        let stuck = tokio::task::spawn_blocking(move || {
            let status = loadgen.wait().unwrap();
            assert!(status.success());
        })
        .then(move |_| async move {
            let mut n = 0;
            while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(3), stuck.next()).await {
                n += u64::from(m.is_text());
            }
            n
        });
        (reader.await.unwrap(), stuck.await)
    });
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report/summary.json")).unwrap()).unwrap();
    let gateway = &summary["sinks"]["gateway"];
    let deliveries = &gateway["deliveries"];
    let n = |key: &str| deliveries[key].as_u64().unwrap();
    let spread = |key: &str, end: &str| deliveries["per_subscriber"][key][end].as_u64().unwrap();
    assert_eq!(counts(gateway), (150_000, 150_000, 0), "the gateway took every message: {gateway}");
    assert_eq!((n("subscribers"), n("dropped_subscribers")), (2, 1), "{deliveries}");
    assert_eq!(read, 150_000, "the reader got every message");
    assert_eq!((spread("sent", "max"), spread("failed", "min")), (read, 0), "{deliveries}");
    let (stuck_sent, stuck_failed) = (spread("sent", "min"), spread("failed", "max"));
    assert_eq!(n("attempted"), n("sent") + n("failed"));
    assert_eq!((n("sent"), n("failed")), (read + stuck_sent, stuck_failed), "{deliveries}");
    assert!(stuck_failed > 0, "{deliveries}");
    // What the stalled subscriber got is at least what was written to its socket, and
    // no more than what it was due.
    assert!(stuck_sent <= stuck_read && stuck_read <= stuck_sent + stuck_failed, "{stuck_read} {deliveries}");
    assert!(stuck_sent + stuck_failed <= 150_000, "{deliveries}");
    let html = std::fs::read_to_string(dir.path().join("report/report.html")).unwrap();
    let told = format!("2 subscriber(s), 1 dropped as too slow; deliveries attempted {}", n("attempted"));
    assert_eq!(html.matches(&told).count(), 1, "report.html tells the deliveries once");
}

/// The symbols of [`trades_scenario`].
const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];

/// A WebSocket client of the gateway on `port`, subscribed to `symbols`.
async fn subscribe(
    port: u16,
    symbols: &[&str],
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("ws://127.0.0.1:{port}/");
    let mut socket = loop {
        if let Ok((s, _)) = tokio_tungstenite::connect_async(&url).await {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let subscribe = serde_json::json!({"op": "subscribe", "symbols": symbols}).to_string();
    socket.send(tokio_tungstenite::tungstenite::Message::text(subscribe)).await.unwrap();
    socket
}

/// Text messages read until the gateway closes the connection.
async fn read_until_closed(
    mut socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> u64 {
    let mut n = 0;
    while let Some(Ok(m)) = socket.next().await {
        n += u64::from(m.is_text());
    }
    n
}

#[test]
fn a_redis_sink_takes_tls_password_and_database_from_its_url_and_names_a_refused_auth() {
    let pki = Pki::new().unwrap();
    let redis = RedisServer::start_tls(&pki, &pki.server, true).unwrap();
    let mut kit = redis.connection().unwrap();
    redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("s3cret").exec(&mut kit).unwrap();
    let client = format!("cert_file = \"{}\", key_file = \"{}\"", pki.client.cert(), pki.client.key());
    let sink = |password: &str, url_end: &str, tls: &str| {
        format!(
            "[[sink]]\nname = \"stream\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"rediss://:{password}@127.0.0.1:{}/3{url_end}\"\nkey = \"ticks\"\ntimeout = \"1s\"\ntls = {{ {tls} }}\n",
            redis.port()
        )
    };
    // A private CA and a client certificate, as a staging Redis may ask for.
    let trusted = format!("ca_file = \"{}\", {client}", pki.ca());
    let r = run(&trades_scenario(&sink("s3cret", "", &trusted), "1s", 500), &[]);
    assert_eq!(counts(r.sink("stream")), (500, 500, 0), "{}", r.stderr);
    redis::cmd("AUTH").arg("s3cret").exec(&mut kit).unwrap();
    redis::cmd("SELECT").arg(3).exec(&mut kit).unwrap();
    let held: u64 = redis::cmd("XLEN").arg("ticks").query(&mut kit).unwrap();
    assert_eq!(held, 500, "database 3 holds every message");

    let r = run(&trades_scenario(&sink("s3cret", "", &client), "1s", 50), &[]);
    assert_eq!(counts(r.sink("stream")), (50, 0, 50), "{}", r.stderr);
    let error = r.sink("stream")["first_error"].as_str().unwrap();
    assert!(error.contains("UnknownIssuer") && error.contains("tls = { ca_file"), "{error}");

    let r = run(&trades_scenario(&sink("wrong", "#insecure", &client), "1s", 50), &[]);
    assert_eq!(counts(r.sink("stream")), (50, 0, 50), "{}", r.stderr);
    let error = r.sink("stream")["first_error"].as_str().unwrap();
    assert!(error.contains("refused AUTH or SELECT") && error.contains("WRONGPASS"), "{error}");
}

#[test]
fn twenty_thousand_a_second_for_ten_seconds_is_on_rate() {
    let redis = RedisServer::start().unwrap();
    let sinks = format!(
        "[[sink]]\nname = \"stream\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"{}\"\nmode = \"xadd\"\nkey = \"ticks\"\nmaxlen = 10000\n",
        redis.url()
    );
    let r = run(&trades_scenario(&sinks, "10s", 20_000), &[]);
    let s = r.sink("stream");
    assert_eq!(counts(s), (200_000, 200_000, 0), "{}", r.stderr);
    let phase_rate = s["phases"]["steady"]["achieved_rate"].as_f64().unwrap();
    assert!((phase_rate / 20_000.0 - 1.0).abs() < 0.01, "phase rate {phase_rate}");
    let wall_rate = s["achieved_rate"].as_f64().unwrap();
    eprintln!("20,000/s for 10 s: {wall_rate:.1}/s over the run's wall-clock time; p99 {} ms", s["latency_ms"]["p99"]);
}

#[test]
fn a_redis_outage_shows_as_failures_and_latency_not_as_a_lower_rate() {
    let mut redis = RedisServer::start().unwrap();
    let sinks = format!(
        "[[sink]]\nname = \"stream\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"{}\"\nmode = \"xadd\"\nkey = \"ticks\"\ntimeout = \"500ms\"\n",
        redis.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, trades_scenario(&sinks, "6s", 2000)).unwrap();
    let report = dir.path().join("report");
    let mut loadgen = spawn_run(&file, &report);
    std::thread::sleep(Duration::from_secs(2));
    redis.kill();
    std::thread::sleep(Duration::from_secs(2));
    redis.restart().unwrap();
    assert!(loadgen.wait().unwrap().success());
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap()).unwrap();
    let s = &summary["sinks"]["stream"];
    let (attempted, sent, failed) = counts(s);
    assert_eq!(attempted, 12_000, "every scheduled message was attempted");
    assert_eq!(attempted, sent + failed);
    assert!(failed > 1_000, "the outage failed messages: {failed}");
    assert!(sent > 6_000, "sending resumed after the restart: {sent}");
    let max = s["latency_ms"]["max"].as_f64().unwrap();
    assert!(max > 100.0, "the stall shows as latency: max {max} ms");
}

fn file_scenario(path: &Path) -> String {
    trades_scenario(
        &format!("[[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"{}\"\n", path.display()),
        "1s",
        3000,
    )
}

#[test]
fn same_seed_same_bytes_and_shards_add_up_to_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, file_scenario(&out)).unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
            .arg("run")
            .arg(&file)
            .args(["--start", "2026-01-01T00:00:00Z"])
            .args(extra)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(out).unwrap()
    };
    let first = write("a.jsonl", &[]);
    assert_eq!(first.lines().count(), 3000);
    assert_eq!(first, write("b.jsonl", &[]), "same seed, same bytes");
    assert_ne!(first, write("c.jsonl", &["--seed", "8"]));
    let mut shards: Vec<&str> = Vec::new();
    let (s0, s1) = (write("s0.jsonl", &["--shard", "0/2"]), write("s1.jsonl", &["--shard", "1/2"]));
    shards.extend(s0.lines());
    shards.extend(s1.lines());
    assert!(!s0.is_empty() && !s1.is_empty());
    let mut whole: Vec<&str> = first.lines().collect();
    shards.sort();
    whole.sort();
    assert_eq!(shards, whole, "shards 0/2 and 1/2 together are the unsharded feed");
}

/// A trailing `rate = 0` phase keeps the run (and its sinks) going without sending, and a
/// source's `lag` puts every exchange time that far behind its send time.
#[test]
fn a_pause_sends_nothing_for_its_duration_and_lag_shifts_exchange_times() {
    let scenario = "name = \"pause\"\nseed = 3\n\
        [[source]]\nname = \"trades\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\"]\nlag = \"2s\"\n\
        [[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"DIR/out.jsonl\"\n\
        [[phase]]\nname = \"trading\"\nduration = \"1s\"\nrate = 100\n\
        [[phase]]\nname = \"halt\"\nduration = \"2s\"\nrate = 0\n";
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let since = Instant::now();
    let run = run(scenario, &[]);
    let took = since.elapsed();
    assert!(took >= Duration::from_secs(3), "the pause is part of the run: {took:?}");
    assert_eq!(counts(run.sink("out")), (100, 100, 0));
    assert_eq!(run.summary["sinks"]["out"]["phases"]["halt"]["attempted"], 0, "{}", run.summary);
    let lines = std::fs::read_to_string(run.path("out.jsonl")).unwrap();
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let behind_ns = started.as_nanos() as i64 - first["ts_ns"].as_i64().unwrap();
    assert!((1_500_000_000..2_500_000_000).contains(&behind_ns), "first exchange time {behind_ns} ns before the start");
}

#[test]
fn broken_scenarios_and_replay_files_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).arg("check").arg(&file).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "FILE")
    };
    let unknown = check(&trades_scenario(
        "[[sink]]\nname = \"s\"\nsource = \"trades\"\nkind = \"file\"\npath = \"x\"\nspeeed = 3\n",
        "1s",
        1,
    ));
    assert!(
        unknown.contains("FILE: sink[0].speeed: unknown field `speeed`") && unknown.contains("(line 12)"),
        "{unknown}"
    );
    let many = check(
        "name = \"x\"\n[[source]]\nname = \"t\"\nkind = \"synthetic-trades\"\n[[sink]]\nname = \"s\"\nsource = \"nope\"\nkind = \"redis\"\n\
         [[phase]]\nname = \"p\"\nduration = \"1s\"\nfaults = [\"gremlin=0.1\"]\n",
    );
    for expected in [
        "FILE: source[0].symbols: a synthetic source needs at least one symbol",
        "FILE: sink[0].source: no [[source]] is named `nope`",
        "FILE: sink[0].url: a Redis sink needs `url`",
        "FILE: phase[0]: needs rate = messages/s or ramp = [from, to]",
        "FILE: phase[0].faults: `gremlin`: unknown fault",
    ] {
        assert!(many.contains(expected), "missing `{expected}` in:\n{many}");
    }
    let replay = dir.path().join("feed.jsonl");
    std::fs::write(
        &replay,
        "{\"venue\":\"v\",\"symbol\":\"S\",\"seq\":1,\"ts_ns\":1,\"price\":1.0,\"qty\":1.0,\"side\":\"buy\"}\n{oops\n",
    )
    .unwrap();
    let scenario = format!(
        "name = \"r\"\n[[source]]\nname = \"t\"\nkind = \"replay\"\nfile = \"{}\"\non_error = \"stop\"\n[[sink]]\nname = \"s\"\nsource = \"t\"\nkind = \"file\"\npath = \"{}\"\n[[phase]]\nname = \"p\"\nduration = \"1s\"\nrate = 10\n",
        replay.display(),
        dir.path().join("o.jsonl").display()
    );
    let file = dir.path().join("replay.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).arg("run").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:2: not JSON", replay.display())), "{stderr}");
}

#[test]
fn every_shipped_scenario_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).arg("check").arg(&path).output().unwrap();
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            checked += 1;
        }
    }
    assert!(checked >= 4);
}

/// Runs `tickwatch-loadgen` with `args` and says whether it succeeded, with its stderr.
fn loadgen(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn replays_keep_recorded_time_scaled_by_speed() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.jsonl.gz");
    let feed_s = feed.display().to_string();
    let (ok, err) = loadgen(&["gen", "--symbols", "AAPL", "--count", "400", "--out", &feed_s]);
    assert!(ok, "{err}");
    let trades: Vec<tickwatch_feed::Trade> =
        tickwatch_feed::codec::JsonlReader::open(&feed).unwrap().map(Result::unwrap).collect();
    let first = trades[0].ts_ns;
    // AAPL trades about 20 times a second: 400 trades span about 20 s of exchange time.
    for (speed, seconds) in [(1.0, 2.0), (4.0, 2.0)] {
        let out = dir.path().join(format!("out-{speed}.jsonl"));
        let scenario = format!(
            "name = \"replay\"\n[[source]]\nname = \"r\"\nkind = \"replay\"\nfile = \"{feed_s}\"\nspeed = {speed}\n\
             [[sink]]\nname = \"out\"\nsource = \"r\"\nkind = \"file\"\npath = \"{}\"\n\
             [[phase]]\nname = \"p\"\nduration = \"{seconds}s\"\nrate = 1\n",
            out.display()
        );
        let file = dir.path().join("replay.toml");
        std::fs::write(&file, scenario).unwrap();
        let (ok, err) = loadgen(&["run", file.to_str().unwrap()]);
        assert!(ok, "{err}");
        let expected = trades.iter().filter(|t| ((t.ts_ns - first) as f64 / 1e9 / speed) < seconds).count();
        let sent = std::fs::read_to_string(&out).unwrap().lines().count();
        assert_eq!(sent, expected, "speed {speed}: the messages whose recorded time falls in the run");
    }
}

#[test]
fn record_captures_a_live_feed_that_replays() {
    let gateway =
        tickwatch_tests::WebSocketServer::start(&["--count", "40", "--interval-ms", "2", "--no-subscribe"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("recorded.jsonl");
    let url = format!("ws://127.0.0.1:{}/", gateway.port());
    let (ok, err) = loadgen(&["record", &url, "--count", "40", "--duration", "20s", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let lines: Vec<Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 40);
    assert!(lines.windows(2).all(|w| w[0]["arrival_ns"].as_i64() <= w[1]["arrival_ns"].as_i64()));
    assert!(lines[0]["message"].as_str().unwrap().contains("BTCUSDT"));
    let copy = dir.path().join("copy.jsonl");
    let scenario = format!(
        "name = \"again\"\n[[source]]\nname = \"r\"\nkind = \"replay\"\nfile = \"{}\"\nspeed = 10\n\
         [[sink]]\nname = \"out\"\nsource = \"r\"\nkind = \"file\"\npath = \"{}\"\n[[phase]]\nname = \"p\"\nduration = \"5s\"\nrate = 1\n",
        out.display(),
        copy.display()
    );
    let file = dir.path().join("again.toml");
    std::fs::write(&file, scenario).unwrap();
    let (ok, err) = loadgen(&["run", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let replayed: Vec<String> = std::fs::read_to_string(&copy).unwrap().lines().map(str::to_owned).collect();
    let original: Vec<String> = lines.iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect();
    assert_eq!(replayed, original, "the recorded messages, byte for byte");
}

#[test]
fn sigint_and_sigterm_stop_cleanly_and_write_an_exact_report() {
    for signal in [nix::sys::signal::Signal::SIGINT, nix::sys::signal::Signal::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.jsonl");
        let scenario = trades_scenario(
            &format!("[[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"{}\"\n", out.display()),
            "60s",
            1000,
        );
        let file = dir.path().join("long.toml");
        std::fs::write(&file, scenario).unwrap();
        let report = dir.path().join("report");
        let mut child = spawn_run(&file, &report);
        std::thread::sleep(Duration::from_secs(2));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let start = Instant::now();
        assert!(child.wait().unwrap().success(), "{signal}");
        assert!(start.elapsed() < Duration::from_secs(10), "{signal}: stopped promptly");
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap()).unwrap();
        let (attempted, sent, failed) = counts(&summary["sinks"]["out"]);
        assert!(attempted > 500 && attempted < 60_000, "{signal}: stopped part way: {attempted}");
        assert_eq!(attempted, sent + failed, "{signal}");
        let written = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
        assert_eq!(written, sent, "{signal}: the report counts exactly the messages written");
        assert!(report.join("report.html").is_file() && report.join("out.hlog").is_file(), "{signal}");
    }
}

/// Runs a 2 s file-sink scenario with `thresholds` and `--junit`; returns the exit code,
/// stderr, summary.json and the JUnit file.
fn run_with_thresholds(thresholds: &str) -> (i32, String, Value, String) {
    let sink = "[[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"DIR/o.jsonl\"\n";
    let scenario = format!("{}[thresholds]\n{thresholds}", trades_scenario(sink, "2s", 200));
    let finished = run_scenario(&scenario, &["--junit", "DIR/junit.xml"]);
    let junit = std::fs::read_to_string(finished.path("junit.xml")).unwrap();
    (finished.code, finished.stderr.clone(), finished.summary(), junit)
}

#[test]
fn thresholds_decide_the_exit_code_and_are_named_everywhere() {
    let (code, stderr, summary, junit) = run_with_thresholds(
        "\"latency\" = [\"p(99) < 1000\", \"max < 60000\"]\n\"failed\" = [\"rate < 0.01\", \"count == 0\"]\n\
         \"achieved{phase:steady}\" = [\"ratio >= 0.5\"]\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["verdict"]["passed"], true, "{}", summary["verdict"]);
    assert_eq!(summary["verdict"]["checks"].as_array().unwrap().len(), 5);
    assert!(stderr.contains("verdict: passed (5 of 5 checks passed)"), "{stderr}");
    assert!(junit.contains("tests=\"5\"") && junit.contains("failures=\"0\""), "{junit}");

    // No latency is below zero: this one fails on every machine.
    let (code, stderr, summary, junit) =
        run_with_thresholds("\"latency{sink:out}\" = [\"max < 0\"]\n\"failed\" = [\"rate < 0.01\"]\n");
    assert_eq!(code, 99, "{stderr}");
    let name = "latency{sink:out} max < 0";
    assert!(stderr.contains(name) && stderr.contains("FAILED"), "{stderr}");
    let failed: Vec<&Value> =
        summary["verdict"]["checks"].as_array().unwrap().iter().filter(|c| c["passed"] == false).collect();
    assert_eq!(failed.len(), 1, "{}", summary["verdict"]);
    assert_eq!(failed[0]["name"], name);
    assert_eq!(summary["verdict"]["passed"], false);
    assert!(
        junit.contains("failures=\"1\"") && junit.contains(&format!("name=\"{}\"", name.replace('<', "&lt;"))),
        "{junit}"
    );
}

#[test]
fn check_names_a_bad_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let sink = "[[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"x\"\n";
    let thresholds = "[thresholds]\n\"latency{sink:nope}\" = [\"p(99) < 5\"]\n\"failed\" = [\"p(99) < 5\"]\n\
                      \"latency\" = [{ threshold = \"max < 5\", abort_on_fial = true }, { threshold = \"max < 9\", delay_abort_eval = \"5s\" }]\n";
    std::fs::write(&file, format!("{}{thresholds}", trades_scenario(sink, "1s", 1))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("thresholds.\"latency{sink:nope}\": `nope` is not a sink; sinks are out"), "{stderr}");
    assert!(stderr.contains("thresholds.\"failed\": `p(99)` is not an aggregation of rate, count"), "{stderr}");
    assert!(stderr.contains("thresholds.\"latency\": unknown key `abort_on_fial`"), "{stderr}");
    assert!(
        stderr.contains("thresholds.\"latency\": `max < 9`: delay_abort_eval needs abort_on_fail = true"),
        "{stderr}"
    );
}

#[test]
fn abort_on_fail_stops_the_run_early_and_still_writes_the_report() {
    let sink = "[[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"DIR/out.jsonl\"\n";
    // Sending twice the target rate is impossible: crossed as soon as it is judged, 2 s in.
    let thresholds = "[thresholds]\n\"achieved\" = [{ threshold = \"ratio >= 2\", abort_on_fail = true, delay_abort_eval = \"2s\" }]\n\
                      \"failed\" = [\"count == 0\"]\n";
    let started = Instant::now();
    let finished = run_scenario(&format!("{}{thresholds}", trades_scenario(sink, "60s", 50)), &[]);
    let took = started.elapsed();
    assert_eq!(finished.code, 99, "{}", finished.stderr);
    assert!(took < Duration::from_secs(20), "stopped early: {took:?}");
    let name = "achieved ratio >= 2 (abort_on_fail)";
    assert!(finished.stderr.contains(name) && finished.stderr.contains("the run was stopped"), "{}", finished.stderr);
    let summary = finished.summary();
    let checks = summary["verdict"]["checks"].as_array().unwrap();
    let abort = checks.iter().find(|c| c["name"] == name).unwrap();
    assert_eq!(abort["passed"], false);
    assert!(abort["observed"].as_str().unwrap().starts_with("crossed 2 s into the run"), "{abort}");
    // Every message sent before the stop is accounted: the file holds what the report says.
    let sent = summary["sinks"]["out"]["sent"].as_u64().unwrap();
    let lines = std::fs::read_to_string(finished.path("out.jsonl")).unwrap().lines().count() as u64;
    assert!(sent > 0 && sent == lines, "sent {sent}, file {lines}");
    assert!(finished.report().join("report.html").exists());
}

#[test]
fn scenario_variables_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vars.toml");
    let sink = "[[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"${TW_OUT}\"\n\
                [[sink]]\nname = \"cache\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"redis://:${TW_PW}@${TW_HOST:-127.0.0.1}:6379/0\"\nkey = \"k\"\n";
    std::fs::write(&file, trades_scenario(sink, "1s", 1)).unwrap();
    let check = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"));
        command.arg("check").arg(&file).env_remove("TW_OUT").env_remove("TW_PW").env_remove("TW_HOST");
        command.envs(env.iter().copied());
        let out = command.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "FILE"))
    };
    let (code, stderr) = check(&[("TW_OUT", "/tmp/x.jsonl")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("FILE: sink[1].url: environment variable `TW_PW` is not set"), "{stderr}");
    assert!(stderr.contains("(line 16)") && !stderr.contains("TW_OUT"), "{stderr}");
    let (code, stderr) = check(&[("TW_OUT", "/tmp/x.jsonl"), ("TW_PW", "s3cret")]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn the_metrics_endpoint_takes_the_exporters_web_config() {
    let dir = tempfile::tempdir().unwrap();
    let hash = tickwatch_tests::bcrypt_hash("prometheus", "s3cret").unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  prometheus: '{hash}'\n")).unwrap();
    let scenario = dir.path().join("scenario.toml");
    let sink = "[[sink]]\nname = \"copy\"\nsource = \"trades\"\nkind = \"file\"\npath = \"/dev/null\"\n";
    std::fs::write(&scenario, trades_scenario(sink, "20s", 100)).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .arg("run")
        .arg(&scenario)
        .args(["--metrics-address", &format!("127.0.0.1:{port}"), "--web.config.file"])
        .arg(&web)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let get = |user: Option<(&str, &str)>| {
        let request = reqwest::blocking::Client::new().get(&url).timeout(Duration::from_secs(5));
        let request = match user {
            Some((u, p)) => request.basic_auth(u, Some(p)),
            None => request,
        };
        request.send().map(|r| r.status().as_u16()).unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(None) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let statuses = (get(None), get(Some(("prometheus", "wrong"))), get(Some(("prometheus", "s3cret"))));
    let request = reqwest::blocking::Client::new().get(&url).basic_auth("prometheus", Some("s3cret"));
    let text = request.send().and_then(|r| r.text()).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, (401, 401, 200));
    assert!(
        text.contains("tickwatch_loadgen_messages_sent_total{sink=\"copy\",shard=\"0\"}"),
        "every series has its shard: {text}"
    );

    // A bad file stops the run before it starts, naming the file.
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plaintext\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .arg("run")
        .arg(&scenario)
        .args(["--metrics-address", &format!("127.0.0.1:{}", free_port()), "--web.config.file"])
        .arg(&web)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("web.yml") && stderr.contains("not a bcrypt hash"), "{stderr}");
}
