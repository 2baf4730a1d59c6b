//! Reloading the config (SIGHUP, POST /-/reload with --web.enable-lifecycle) against a
//! real Redis: unchanged targets keep their connections and consumers, new ones start,
//! removed ones stop (their series go), and a broken file keeps the running config and
//! says so in the metrics and the answer.

mod common;

use common::{start_exporter, wait_for};
use std::path::Path;
use std::time::Duration;
use tickwatch_tests::{Exporter, RedisServer, Server, value};

fn post_reload(exporter: &Exporter) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(exporter.url("/-/reload"))
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// The server's count of connections accepted so far.
fn connections_received(redis: &RedisServer) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(&mut redis.connection().unwrap()).unwrap();
    info.lines().find_map(|l| l.strip_prefix("total_connections_received:")).unwrap().trim().parse().unwrap()
}

#[test]
fn reload_keeps_what_did_not_change_and_refuses_a_broken_file() {
    let redis = RedisServer::start().unwrap();
    let url = redis.url();
    let cache = format!("[[redis]]\nname = \"cache\"\nurl = \"{url}\"\n");
    let broker = format!("[[celery]]\nname = \"broker\"\nbroker = \"{url}\"\nqueues = [\"celery\"]\nevents = true\n");
    let gone = format!("[[redis]]\nname = \"gone\"\nurl = \"{url}\"\n");
    let mut exporter = Exporter::start_with_args(
        Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")),
        &format!("{cache}{gone}{broker}"),
        "info",
        &["--web.enable-lifecycle"],
    )
    .unwrap();
    let mut text = String::new();
    wait_for("the event consumer", Duration::from_secs(10), || {
        text = exporter.metrics();
        value(&text, "celery_events_connected", &[("target", "broker")]) == Some(1.0)
    });
    assert_eq!(value(&text, "tickwatch_config_last_reload_successful", &[]), Some(1.0));
    let loaded_at = value(&text, "tickwatch_config_last_reload_success_timestamp_seconds", &[]).unwrap();
    assert_eq!(value(&text, "tickwatch_consumer_up", &[("kind", "celery"), ("target", "broker")]), Some(1.0));
    let before = connections_received(&redis);

    // SIGHUP: `gone` goes, `added` comes, the rest stays as it is.
    let added = format!("[[redis]]\nname = \"added\"\nurl = \"{url}\"\n");
    exporter.rewrite_config(&format!("{cache}{broker}{added}")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    exporter.process().hang_up().unwrap();
    wait_for("the SIGHUP reload", Duration::from_secs(10), || {
        text = exporter.metrics();
        value(&text, "redis_up", &[("target", "added")]) == Some(1.0)
    });
    assert!(!text.contains("target=\"gone\""), "a removed target's series are gone:\n{text}");
    assert!(value(&text, "tickwatch_config_last_reload_success_timestamp_seconds", &[]).unwrap() >= loaded_at);
    // One new connection (the added probe; our own INFO reads count too); the cache
    // probe and the event consumer kept theirs.
    let after = connections_received(&redis);
    assert_eq!(after - before, 1 + 1, "connections opened by the reload (and our INFO)");
    assert_eq!(value(&text, "tickwatch_consumer_restarts_total", &[("target", "broker")]), Some(0.0));
    assert_eq!(value(&text, "celery_events_connected", &[("target", "broker")]), Some(1.0));

    // A broken file: refused, named in the answer and the log; the running config stays.
    exporter.rewrite_config(&format!("{cache}[[redis]]\nname = \"typo\"\nurll = \"{url}\"\n")).unwrap();
    let (status, body) = post_reload(&exporter);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("redis[1].urll") && body.contains("the running config stays"), "{body}");
    text = exporter.metrics();
    assert_eq!(value(&text, "tickwatch_config_last_reload_successful", &[]), Some(0.0));
    assert_eq!(value(&text, "redis_up", &[("target", "added")]), Some(1.0), "still running the last good config");
    assert!(exporter.process().log_text().contains("redis[1].urll"));

    // Fixed: POST reloads it; a changed target starts again with its new settings.
    exporter
        .rewrite_config(&format!("{cache}[[celery]]\nname = \"broker\"\nbroker = \"{url}\"\nqueues = [\"other\"]\n"))
        .unwrap();
    let (status, body) = post_reload(&exporter);
    assert_eq!(status, 200, "{body}");
    text = exporter.metrics();
    assert_eq!(value(&text, "tickwatch_config_last_reload_successful", &[]), Some(1.0));
    assert_eq!(value(&text, "celery_queue_length", &[("target", "broker"), ("queue_name", "other")]), Some(0.0));
    assert_eq!(value(&text, "tickwatch_consumer_up", &[("target", "broker")]), None, "events are off now");
    assert!(!text.contains("target=\"added\""), "{text}");
}

#[test]
fn reload_over_http_needs_the_lifecycle_flag() {
    let exporter = start_exporter("");
    let response = reqwest::blocking::Client::new().post(exporter.url("/-/reload")).send().unwrap();
    assert_eq!(response.status().as_u16(), 403);
}
