//! Servers that hang (SIGSTOP: the socket stays open, nothing answers) or die (kill -9)
//! in the middle of a load run, and come back. The loadgen keeps attempted = sent + failed
//! exactly, reconnects, and the real server holds what was sent: all of it when the server
//! only hung for less than the sink's timeout; when it died, at least every message the
//! loadgen counted as sent and at most every one it attempted (a message whose reply was
//! lost with the server is counted failed, though the server may have kept it).

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tickwatch_tests::{CeleryWorker, MongoServer, RedisServer, Server};

fn trades_scenario(sinks: &str, seconds: u32, rate: u32) -> String {
    format!(
        "name = \"faults\"\nseed = 7\n[[source]]\nname = \"trades\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\", \"ETHUSDT\", \"SOLUSDT\"]\n\
         {sinks}\n[[phase]]\nname = \"steady\"\nduration = \"{seconds}s\"\nrate = {rate}\n"
    )
}

/// A run of `scenario` in the background, in a folder of its own.
struct Run {
    child: Child,
    dir: tempfile::TempDir,
}

impl Run {
    fn start(scenario: &str) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, scenario).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
            .arg("run")
            .arg(&file)
            .arg("--report-dir")
            .arg(dir.path().join("report"))
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Run { child, dir }
    }

    /// Waits for the run to end (it must pass) and returns the sink's (attempted, sent,
    /// failed) and its largest latency in ms.
    fn finish(mut self, sink: &str) -> (u64, u64, u64, f64) {
        let status = self.child.wait().unwrap();
        let stderr = std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default();
        assert!(status.success(), "{status}: {stderr}");
        let summary = read(&self.dir.path().join("report/summary.json"));
        let s = &summary["sinks"][sink];
        let n = |k: &str| s[k].as_u64().unwrap();
        (n("attempted"), n("sent"), n("failed"), s["latency_ms"]["max"].as_f64().unwrap_or(0.0))
    }
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sleep(seconds: f64) {
    std::thread::sleep(Duration::from_secs_f64(seconds));
}

fn xlen(redis: &RedisServer, key: &str) -> u64 {
    redis::cmd("XLEN").arg(key).query(&mut redis.connection().unwrap()).unwrap()
}

fn xadd_sink(redis: &RedisServer, timeout: &str) -> String {
    format!(
        "[[sink]]\nname = \"stream\"\nsource = \"trades\"\nkind = \"redis\"\nurl = \"{}\"\nmode = \"xadd\"\nkey = \"ticks\"\ntimeout = \"{timeout}\"\n",
        redis.url()
    )
}

#[test]
fn a_hung_redis_delays_messages_and_loses_none() {
    let mut redis = RedisServer::start().unwrap();
    let run = Run::start(&trades_scenario(&xadd_sink(&redis, "5s"), 6, 1000));
    sleep(2.0);
    redis.pause().unwrap();
    sleep(1.5);
    redis.resume().unwrap();
    let (attempted, sent, failed, max_ms) = run.finish("stream");
    assert_eq!((attempted, sent, failed), (6_000, 6_000, 0));
    assert_eq!(xlen(&redis, "ticks"), 6_000);
    assert!(max_ms > 1_000.0, "the hang shows as latency: max {max_ms} ms");
}

#[test]
fn a_killed_redis_fails_what_it_could_not_take_and_keeps_what_it_acknowledged() {
    let mut redis = RedisServer::start_durable().unwrap();
    // Down for 2 s: four times the sink's timeout, so the failures cannot hide inside the
    // timeout and the reconnect backoff (a 1 s outage failed only 494 in one CI run).
    let run = Run::start(&trades_scenario(&xadd_sink(&redis, "500ms"), 8, 1000));
    sleep(2.0);
    redis.kill();
    sleep(2.0);
    redis.restart().unwrap();
    let (attempted, sent, failed, _) = run.finish("stream");
    assert_eq!(attempted, 8_000);
    assert_eq!(attempted, sent + failed);
    assert!(failed > 500, "the outage failed messages: {failed}");
    assert!(sent > 2_500, "sending resumed after the restart: {sent}");
    let held = xlen(&redis, "ticks");
    assert!((sent..=attempted).contains(&held), "Redis holds {held}; sent {sent}, attempted {attempted}");
    eprintln!("killed Redis: sent {sent}, failed {failed}, Redis holds {held} ({} failed but kept)", held - sent);
}

fn documents(mongo: &MongoServer) -> u64 {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = mongodb::Client::with_uri_str(mongo.uri()).await.unwrap();
        client
            .database("md")
            .collection::<mongodb::bson::Document>("trades")
            .count_documents(mongodb::bson::doc! {})
            .await
            .unwrap()
    })
}

#[test]
fn a_hung_then_killed_mongodb_loses_nothing_while_hung_and_sending_resumes_after_the_restart() {
    let mut mongo = MongoServer::start().unwrap();
    let uri = mongo.uri();
    let sink = |timeout: &str| {
        format!(
            "[[sink]]\nname = \"store\"\nsource = \"trades\"\nkind = \"mongodb\"\nurl = \"{}\"\ndb = \"md\"\ncollection = \"trades\"\nbatch_size = 50\ntimeout = \"{timeout}\"\n",
            uri
        )
    };
    let run = Run::start(&trades_scenario(&sink("5s"), 5, 500));
    sleep(2.0);
    mongo.pause().unwrap();
    sleep(1.5);
    mongo.resume().unwrap();
    let (attempted, sent, failed, max_ms) = run.finish("store");
    assert_eq!((attempted, sent, failed), (2_500, 2_500, 0));
    assert_eq!(documents(&mongo), 2_500);
    assert!(max_ms > 1_000.0, "the hang shows as latency: max {max_ms} ms");

    let run = Run::start(&trades_scenario(&sink("500ms"), 6, 500));
    sleep(2.0);
    mongo.kill();
    sleep(1.0);
    mongo.restart().unwrap();
    let (attempted, sent, failed, _) = run.finish("store");
    assert_eq!(attempted, 3_000);
    assert_eq!(attempted, sent + failed);
    assert!(failed > 0 && sent > 1_000, "sent {sent}, failed {failed}");
}

fn executed(redis: &RedisServer) -> u64 {
    let keys: Vec<String> =
        redis::cmd("KEYS").arg("celery-task-meta-*").query(&mut redis.connection().unwrap()).unwrap();
    keys.len() as u64
}

#[test]
fn a_hung_celery_worker_and_a_hung_broker_delay_tasks_and_every_task_runs() {
    let mut redis = RedisServer::start().unwrap();
    let mut worker = CeleryWorker::start(&redis.url(), &["ticks"]).unwrap();
    let sinks = format!(
        "[[sink]]\nname = \"tasks\"\nsource = \"trades\"\nkind = \"celery\"\nurl = \"{}\"\nqueue = \"ticks\"\n\
         task = \"tickwatch.tick\"\nargs = [\"{{symbol}}\", \"{{seq}}\", \"{{price}}\"]\ntimeout = \"5s\"\n",
        redis.url()
    );
    let run = Run::start(&trades_scenario(&sinks, 6, 100));
    sleep(1.5);
    worker.pause().unwrap();
    sleep(1.5);
    redis.pause().unwrap();
    sleep(1.0);
    redis.resume().unwrap();
    worker.resume().unwrap();
    let (attempted, sent, failed, _) = run.finish("tasks");
    assert_eq!((attempted, sent, failed), (600, 600, 0));
    let start = Instant::now();
    while executed(&redis) < sent {
        assert!(start.elapsed() < Duration::from_secs(60), "the worker ran {} of {sent} tasks", executed(&redis));
        sleep(0.2);
    }
    assert_eq!(executed(&redis), sent);
}
