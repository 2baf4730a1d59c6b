//! The Redis probe against real redis-server processes: values match the server, a dead or
//! silent target fails alone and quickly, a restarted server is picked up again.

mod common;

use common::{promtool_check, start_exporter, wait_for};
use std::path::Path;
use std::time::Duration;
use tickwatch_tests::{Exporter, RedisServer, Server, value, values};

#[test]
fn reports_what_redis_holds() {
    let redis = RedisServer::start().unwrap();
    let mut con = redis.connection().unwrap();
    for i in 0..5 {
        let _: String = redis::cmd("XADD").arg("ticks:BTC").arg("*").arg("p").arg(i).query(&mut con).unwrap();
    }
    let _: String = redis::cmd("XADD").arg("ticks:ETH").arg("*").arg("p").arg(1).query(&mut con).unwrap();
    let _: String = redis::cmd("SET").arg("plain").arg("x").query(&mut con).unwrap();
    // Two subscribers on one channel, one on another, held open by a second client.
    let mut sub1 = redis.connection().unwrap();
    let mut sub2 = redis.connection().unwrap();
    let _: () = redis::cmd("SUBSCRIBE").arg("trades.BTC").exec(&mut sub1).unwrap();
    let _: () = redis::cmd("SUBSCRIBE").arg("trades.BTC").arg("trades.ETH").exec(&mut sub2).unwrap();

    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"cache\"\nurl = \"{}\"\nstreams = [\"ticks:*\"]\nchannels = [\"trades.*\"]\n",
        redis.url()
    ));
    let text = exporter.metrics();
    let t = ("target", "cache");
    assert_eq!(value(&text, "redis_up", &[t]), Some(1.0));
    assert_eq!(value(&text, "tickwatch_probe_success", &[t, ("kind", "redis")]), Some(1.0));
    assert_eq!(value(&text, "redis_stream_length", &[t, ("stream", "ticks:BTC")]), Some(5.0));
    assert_eq!(value(&text, "redis_stream_length", &[t, ("stream", "ticks:ETH")]), Some(1.0));
    let age = value(&text, "redis_stream_last_entry_age_seconds", &[t, ("stream", "ticks:BTC")]).unwrap();
    assert!((0.0..30.0).contains(&age), "age {age}");
    assert_eq!(value(&text, "redis_pubsub_channel_subscribers", &[t, ("channel", "trades.BTC")]), Some(2.0));
    assert_eq!(value(&text, "redis_pubsub_channel_subscribers", &[t, ("channel", "trades.ETH")]), Some(1.0));
    assert_eq!(value(&text, "redis_db_keys", &[t, ("db", "db0")]), Some(3.0));
    assert_eq!(value(&text, "tickwatch_discovered_keys", &[t, ("what", "streams")]), Some(2.0));
    assert_eq!(value(&text, "redis_connected_clients", &[t]), Some(4.0), "us, two subscribers and the exporter");

    // The exporter keeps its connection: more scrapes accept no new connections.
    let before = value(&exporter.metrics(), "redis_connections_received_total", &[t]).unwrap();
    for _ in 0..5 {
        exporter.metrics();
    }
    let after = value(&exporter.metrics(), "redis_connections_received_total", &[t]).unwrap();
    assert_eq!(before, after, "one connection reused across scrapes");

    // And redis-rs's CLIENT SETINFO is not sent, so the server's error count stays clean.
    assert_eq!(value(&text, "redis_errors_total", &[t]), None, "{text}");
}

#[test]
fn promtool_finds_nothing_to_complain_about() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"cache\"\nurl = \"{}\"\nstreams = [\"s*\"]\nchannels = [\"c*\"]\n\
         [[redis]]\nname = \"down\"\nurl = \"redis://127.0.0.1:1/0\"\n\
         [[celery]]\nname = \"broker\"\nbroker = \"{}\"\nqueues = [\"celery\"]\ndiscover = true\nevents = true\n",
        redis.url(),
        redis.url()
    ));
    let text = exporter.metrics();
    assert!(text.contains("process_resident_memory_bytes") && text.contains("tickwatch_build_info"), "{text}");
    assert_eq!(promtool_check(&text), "", "promtool check metrics on:\n{text}");
}

#[test]
fn a_killed_redis_fails_alone_and_comes_back_without_a_restart() {
    let mut flaky = RedisServer::start().unwrap();
    let steady = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"flaky\"\nurl = \"{}\"\n[[redis]]\nname = \"steady\"\nurl = \"{}\"\n",
        flaky.url(),
        steady.url()
    ));
    let up = |text: &str, target: &str| value(text, "tickwatch_probe_success", &[("target", target)]);
    let text = exporter.metrics();
    assert_eq!((up(&text, "flaky"), up(&text, "steady")), (Some(1.0), Some(1.0)));

    flaky.kill();
    let (status, text, took) = exporter.scrape("/metrics", 3.0);
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(3), "the scrape answered within its timeout ({took:?})");
    assert_eq!((up(&text, "flaky"), up(&text, "steady")), (Some(0.0), Some(1.0)), "{text}");
    assert_eq!(value(&text, "redis_up", &[("target", "flaky")]), Some(0.0));
    assert_eq!(value(&text, "redis_uptime_in_seconds", &[("target", "flaky")]), None, "no stale values");
    assert!(value(&text, "redis_uptime_in_seconds", &[("target", "steady")]).is_some());
    assert!(
        value(&text, "tickwatch_probe_errors_total", &[("target", "flaky"), ("reason", "connection")]).unwrap() >= 1.0
    );

    flaky.restart().unwrap();
    wait_for("the restarted server to be probed successfully", Duration::from_secs(15), || {
        up(&exporter.metrics(), "flaky") == Some(1.0)
    });
}

#[test]
fn a_target_that_never_answers_times_out_alone() {
    // Accepts TCP connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in silent.incoming().take(64).flatten() {
            open.push(stream);
        }
    });
    let steady = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"silent\"\nurl = \"redis://127.0.0.1:{silent_port}/0\"\n[[redis]]\nname = \"steady\"\nurl = \"{}\"\n",
        steady.url()
    ));
    for _ in 0..2 {
        let (status, text, took) = exporter.scrape("/metrics", 2.0);
        assert_eq!(status, 200);
        assert!(took < Duration::from_millis(2_000), "bounded by the scrape timeout: {took:?}");
        assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "silent")]), Some(0.0));
        assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "steady")]), Some(1.0));
    }
    let text = exporter.metrics();
    assert!(
        value(&text, "tickwatch_probe_errors_total", &[("target", "silent"), ("reason", "timeout")]).unwrap() >= 2.0
    );
    drop(held);
}

#[test]
fn probe_endpoint_takes_configured_names_only() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"cache\"\nurl = \"{url}\"\n\
         [[celery]]\nname = \"broker\"\nbroker = \"{url}\"\nqueues = [\"celery\"]\nevents = true\n\
         [[celery]]\nname = \"other\"\nbroker = \"{url}\"\nqueues = [\"celery\"]\nevents = true\n",
        url = redis.url()
    ));
    let (status, text, _) = exporter.scrape("/probe?target=cache", 5.0);
    assert_eq!(status, 200);
    assert_eq!(value(&text, "redis_up", &[("target", "cache")]), Some(1.0));
    // Its own series only: no other target's, and none of the exporter's own metrics.
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(series.iter().all(|l| l.contains("target=\"cache\"")), "{text}");
    for own in ["tickwatch_build_info", "process_", "tickwatch_probe_errors_total"] {
        assert!(!text.contains(own), "{own} belongs on /metrics:\n{text}");
    }
    // A target's background series come with it, and only its own.
    let (_, broker, _) = exporter.scrape("/probe?target=broker", 5.0);
    assert_eq!(value(&broker, "celery_events_connected", &[("target", "broker")]), Some(1.0), "{broker}");
    assert!(!broker.contains("target=\"other\""), "{broker}");
    let metrics = exporter.metrics();
    assert_eq!(value(&metrics, "celery_events_connected", &[("target", "other")]), Some(1.0));
    let (status, body, _) = exporter.scrape("/probe?target=redis://10.0.0.1:6379", 5.0);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("configured targets: cache"));
    assert_eq!(exporter.scrape("/probe", 5.0).0, 400);
    let (status, landing, _) = exporter.scrape("/", 5.0);
    assert!(status == 200 && landing.contains("/probe?target=cache"), "{landing}");
    assert_eq!(exporter.scrape("/-/healthy", 5.0).0, 200);
}

#[test]
fn concurrent_scrapes_share_one_round_per_target() {
    let redis = RedisServer::start().unwrap();
    let exporter = Exporter::start_with_args(
        Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")),
        &format!("[[redis]]\nname = \"cache\"\nurl = \"{}\"\n", redis.url()),
        "info",
        &["--web.max-requests", "50"],
    )
    .unwrap();
    exporter.metrics();
    let info_calls = || -> u64 {
        let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut redis.connection().unwrap()).unwrap();
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_info:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let before = info_calls();
    // The server holds every command for a second, so all scrapes arrive while the
    // first one's round is still waiting for INFO.
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(1000).arg("ALL").exec(&mut redis.connection().unwrap()).unwrap();
    let scrapes: Vec<_> = (0..55)
        .map(|_| {
            let url = exporter.url("/metrics");
            std::thread::spawn(move || {
                let response = reqwest::blocking::Client::new()
                    .get(url)
                    .header("X-Prometheus-Scrape-Timeout-Seconds", "5")
                    .timeout(Duration::from_secs(30))
                    .send()
                    .unwrap();
                (response.status().as_u16(), response.text().unwrap())
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for scrape in scrapes {
        let (status, text) = scrape.join().unwrap();
        *statuses.entry(status).or_insert(0) += 1;
        if status == 200 {
            assert_eq!(value(&text, "redis_up", &[("target", "cache")]), Some(1.0), "{text}");
        }
    }
    // 50 in flight at once (--web.max-requests), the 5 beyond answered 503 at once.
    assert_eq!(statuses, [(200, 50), (503, 5)].into(), "{statuses:?}");
    // One round for the 50, plus our own INFO commandstats reads.
    let during = info_calls() - before - 1;
    assert!(during <= 3, "50 concurrent scrapes sent {during} INFO commands");
}

#[test]
fn reports_commands_latencies_the_slowlog_and_stream_groups() {
    let redis = RedisServer::start().unwrap();
    let mut con = redis.connection().unwrap();
    let run = |con: &mut redis::Connection, args: &[&str]| redis::cmd(args[0]).arg(&args[1..]).exec(con);
    run(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).unwrap();
    for i in 0..7 {
        run(&mut con, &["SET", &format!("k{i}"), "v"]).unwrap();
    }
    assert!(run(&mut con, &["INCR", "k0"]).is_err(), "fails while executing");
    assert!(run(&mut con, &["GET"]).is_err(), "rejected before executing (arity)");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(redis::cmd("XADD").arg("ticks:BTC").arg("*").arg("p").arg(i).query::<String>(&mut con).unwrap());
    }
    run(&mut con, &["XGROUP", "CREATE", "ticks:BTC", "indexer", "0"]).unwrap();
    run(&mut con, &["XREADGROUP", "GROUP", "indexer", "worker-1", "COUNT", "1", "STREAMS", "ticks:BTC", ">"]).unwrap();

    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"cache\"\nurl = \"{}\"\nstreams = [\"ticks:*\"]\nstream_consumers = true\n",
        redis.url()
    ));
    let text = exporter.metrics();
    let t = ("target", "cache");
    let v = |name: &str, labels: &[(&str, &str)]| value(&text, name, &[&[t], labels].concat());
    assert_eq!(v("redis_commands_total", &[("cmd", "set")]), Some(7.0), "{text}");
    assert!(v("redis_commands_duration_seconds_total", &[("cmd", "set")]).unwrap() > 0.0);
    assert_eq!(v("redis_commands_failed_calls_total", &[("cmd", "incr")]), Some(1.0));
    assert_eq!(v("redis_commands_rejected_calls_total", &[("cmd", "get")]), Some(1.0));
    assert_eq!(v("redis_commands_total", &[("cmd", "xgroup|create")]), Some(1.0), "subcommands as Redis names them");

    // The server's own latency histogram of SET: cumulative buckets ending at the calls.
    let buckets = values(&text, "redis_commands_latencies_usec_bucket", &[t, ("cmd", "set")]);
    assert!(buckets.len() >= 2 && buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}\n{text}");
    assert_eq!(buckets.last(), Some(&7.0));
    assert_eq!(v("redis_commands_latencies_usec_bucket", &[("cmd", "set"), ("le", "+Inf")]), Some(7.0));
    assert_eq!(v("redis_commands_latencies_usec_count", &[("cmd", "set")]), Some(7.0));
    let duration_usec = v("redis_commands_duration_seconds_total", &[("cmd", "set")]).unwrap() * 1e6;
    let sum = v("redis_commands_latencies_usec_sum", &[("cmd", "set")]).unwrap();
    assert!((sum - duration_usec).abs() < 0.5, "the sum is commandstats' usec: {sum} vs {duration_usec}");
    assert!(v("redis_latency_percentiles_usec", &[("cmd", "set"), ("quantile", "0.99")]).unwrap() > 0.0);
    assert_eq!(v("redis_latency_percentiles_usec_count", &[("cmd", "set")]), Some(7.0));

    // Every command is slower than 0 us, so the slowlog holds the last ones.
    assert!(v("redis_slowlog_length", &[]).unwrap() >= 10.0, "{text}");
    assert!(v("redis_slowlog_last_id", &[]).unwrap() >= 10.0);
    assert!((0.0..1.0).contains(&v("redis_last_slow_execution_duration_seconds", &[]).unwrap()));

    // One of three entries delivered, none acknowledged.
    let group = [("stream", "ticks:BTC"), ("group", "indexer")];
    assert_eq!(v("redis_stream_group_consumers", &group), Some(1.0), "{text}");
    assert_eq!(v("redis_stream_group_messages_pending", &group), Some(1.0));
    assert_eq!(v("redis_stream_group_entries_read", &group), Some(1.0));
    assert_eq!(v("redis_stream_group_lag", &group), Some(2.0));
    let first_ms: f64 = ids[0].split('-').next().unwrap().parse().unwrap();
    assert_eq!(v("redis_stream_group_last_delivered_id", &group), Some(first_ms));
    let consumer = [group[0], group[1], ("consumer", "worker-1")];
    assert_eq!(v("redis_stream_group_consumer_messages_pending", &consumer), Some(1.0));
    assert!((0.0..30.0).contains(&v("redis_stream_group_consumer_idle_seconds", &consumer).unwrap()));
    assert_eq!(promtool_check(&text), "", "promtool check metrics on:\n{text}");
}

#[test]
fn reports_replication_from_both_ends() {
    let mut primary = RedisServer::start().unwrap();
    let replica = RedisServer::start_replica_of(primary.port()).unwrap();
    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"primary\"\nurl = \"{}\"\n[[redis]]\nname = \"replica\"\nurl = \"{}\"\n",
        primary.url(),
        replica.url()
    ));
    let replica_port = replica.port().to_string();
    let link = |text: &str| value(text, "redis_master_link_up", &[("target", "replica")]);
    wait_for("the replica to sync", Duration::from_secs(20), || {
        let text = exporter.metrics();
        link(&text) == Some(1.0)
            && value(&text, "redis_connected_slave_lag_seconds", &[("target", "primary"), ("slave_state", "online")])
                .is_some()
    });
    let text = exporter.metrics();
    let of_replica = [("target", "primary"), ("slave_ip", "127.0.0.1"), ("slave_port", replica_port.as_str())];
    assert!(value(&text, "redis_connected_slave_offset_bytes", &of_replica).is_some(), "{text}");
    assert_eq!(value(&text, "redis_connected_slaves", &[("target", "primary")]), Some(1.0));
    assert_eq!(value(&text, "redis_master_sync_in_progress", &[("target", "replica")]), Some(0.0));
    assert!(value(&text, "redis_master_last_io_seconds_ago", &[("target", "replica")]).is_some());
    assert_eq!(value(&text, "redis_rdb_last_bgsave_status", &[("target", "primary")]), Some(1.0));
    assert_eq!(value(&text, "redis_aof_enabled", &[("target", "primary")]), Some(0.0));

    primary.kill();
    wait_for("the replica to report its link down", Duration::from_secs(20), || {
        let text = exporter.metrics();
        link(&text) == Some(0.0)
            && value(&text, "redis_master_link_down_since_seconds", &[("target", "replica")]).is_some()
    });
}

#[test]
fn reports_what_a_sentinel_knows_of_its_master() {
    let primary = RedisServer::start().unwrap();
    let mut replica = RedisServer::start_replica_of(primary.port()).unwrap();
    let sentinel = RedisServer::start_sentinel_of("ticks", primary.port()).unwrap();
    let exporter = start_exporter(&format!("[[redis]]\nname = \"sentinel\"\nurl = \"{}\"\n", sentinel.url()));
    let address = format!("127.0.0.1:{}", primary.port());
    let master = [("target", "sentinel"), ("master_name", "ticks"), ("master_address", address.as_str())];
    let ok_replicas = |text: &str| value(text, "redis_sentinel_master_ok_slaves", &master);
    // Sentinel learns of the replica from the master's INFO, within about 10 s.
    wait_for("the Sentinel to see the replica", Duration::from_secs(30), || {
        ok_replicas(&exporter.metrics()) == Some(1.0)
    });
    let text = exporter.metrics();
    assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "sentinel")]), Some(1.0), "{text}");
    assert_eq!(value(&text, "redis_instance_info", &[("target", "sentinel"), ("redis_mode", "sentinel")]), Some(1.0));
    assert_eq!(value(&text, "redis_sentinel_masters", &[("target", "sentinel")]), Some(1.0));
    assert_eq!(
        value(&text, "redis_sentinel_master_status", &[("master_name", "ticks"), ("master_status", "ok")]),
        Some(1.0)
    );
    assert_eq!(value(&text, "redis_sentinel_master_ok_sentinels", &master), Some(1.0), "itself");
    assert_eq!(value(&text, "redis_sentinel_master_slaves", &master), Some(1.0));
    assert_eq!(value(&text, "redis_db_keys", &[("target", "sentinel")]), None, "a Sentinel has no keyspace");
    assert_eq!(promtool_check(&text), "", "promtool check metrics on:\n{text}");

    // A replica that is gone is still counted by INFO, but no longer ok.
    replica.kill();
    wait_for("the Sentinel to mark the replica down", Duration::from_secs(20), || {
        ok_replicas(&exporter.metrics()) == Some(0.0)
    });
    assert_eq!(value(&exporter.metrics(), "redis_sentinel_master_slaves", &master), Some(1.0));
}
