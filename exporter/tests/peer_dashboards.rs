//! The peers' dashboards work on tickwatch: the queries of redis_exporter's Grafana
//! dashboard and of celery-mixin's, as they write them (their `$instance` and
//! `$queue_name` variables set to "any"), run against a real Prometheus scraping
//! tickwatch while a real Redis takes traffic and a real Celery worker runs tasks of
//! every outcome, and each returns data.

mod common;

use common::wait_for;
use std::path::Path;
use std::time::Duration;
use tickwatch_tests::{CeleryClient, CeleryWorker, Exporter, Prometheus, RedisServer};

/// redis_exporter's dashboard (Grafana 763) and redis-mixin: names and labels (`cmd`,
/// `db`, `instance`) as they query them.
const REDIS_EXPORTER: &[&str] = &[
    r#"redis_uptime_in_seconds{instance=~".+"}"#,
    r#"redis_connected_clients{instance=~".+"}"#,
    r#"redis_blocked_clients{instance=~".+"}"#,
    r#"100 * (redis_memory_used_bytes{instance=~".+"} / redis_memory_max_bytes{instance=~".+"})"#,
    r#"redis_memory_used_rss_bytes{instance=~".+"}"#,
    r#"rate(redis_commands_processed_total{instance=~".+"}[1m])"#,
    r#"irate(redis_keyspace_hits_total{instance=~".+"}[5m])"#,
    r#"irate(redis_keyspace_misses_total{instance=~".+"}[5m])"#,
    r#"sum (redis_db_keys{instance=~".+"}) by (db)"#,
    r#"sum (redis_db_keys{instance=~".+"}) - sum (redis_db_keys_expiring{instance=~".+"})"#,
    r#"sum(rate(redis_expired_keys_total{instance=~".+"}[5m])) by (instance)"#,
    r#"sum(rate(redis_evicted_keys_total{instance=~".+"}[5m])) by (instance)"#,
    r#"sum(rate(redis_net_input_bytes_total{instance=~".+"}[5m]))"#,
    r#"sum(rate(redis_net_output_bytes_total{instance=~".+"}[5m]))"#,
    r#"topk(5, irate(redis_commands_total{instance=~".+"} [1m]))"#,
    r#"sum(irate(redis_commands_duration_seconds_total{instance=~".+"}[1m])) by (cmd) / sum(irate(redis_commands_total{instance=~".+"}[1m])) by (cmd)"#,
    r#"redis_connected_slaves{instance=~".+"}"#,
];

/// celery-mixin's dashboards: task counters by `name`, `queue_name` and `exception`,
/// `celery_task_runtime`, workers by `hostname`, queue lengths.
const CELERY_MIXIN: &[&str] = &[
    r#"sum(round(increase(celery_task_sent_total{queue_name=~".+"}[10m])))"#,
    r#"sum(round(increase(celery_task_received_total{queue_name=~".+"}[10m])))"#,
    r#"sum(round(increase(celery_task_succeeded_total{queue_name=~".+"}[10m])))"#,
    r#"sum(round(increase(celery_task_failed_total{queue_name=~".+"}[10m])))"#,
    r#"sum(round(increase(celery_task_retried_total{queue_name=~".+"}[10m])))"#,
    r#"sum(round(increase(celery_task_revoked_total{queue_name=~".+"}[10m])))"#,
    r#"sum(round(increase(celery_task_rejected_total{queue_name=~".+"}[10m])))"#,
    r#"sum by (name, exception) (round(increase(celery_task_failed_total{queue_name=~".+"}[10m])))"#,
    r#"histogram_quantile(0.95, sum by (le, name, queue_name) (rate(celery_task_runtime_bucket{queue_name=~".+"}[10m])))"#,
    r#"sum by (name) (rate(celery_task_runtime_sum[10m])) / sum by (name) (rate(celery_task_runtime_count[10m]))"#,
    r#"histogram_quantile(0.95, sum by (le, queue_name) (rate(celery_task_queue_wait_time_bucket[10m])))"#,
    r#"celery_worker_up{hostname=~".+"}"#,
    r#"sum by (hostname) (celery_worker_tasks_active)"#,
    r#"celery_queue_length{queue_name=~".+"}"#,
    r#"celery_active_worker_count"#,
];

/// The series a query returns now.
fn query(prometheus: &Prometheus, promql: &str) -> Vec<serde_json::Value> {
    let body = prometheus.query(promql);
    assert_eq!(body["status"], "success", "{promql}: {body}");
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_peers_dashboard_queries_return_data() {
    let redis = RedisServer::start().unwrap();
    let mut con = redis.connection().unwrap();
    let run = |con: &mut redis::Connection, args: &[&str]| redis::cmd(args[0]).arg(&args[1..]).exec(con).unwrap();
    run(&mut con, &["CONFIG", "SET", "maxmemory", "64mb"]);
    for i in 0..20 {
        run(&mut con, &["SET", &format!("tick:{i}"), "42000.1"]);
        run(&mut con, &["SET", &format!("session:{i}"), "x", "EX", "600"]);
        run(&mut con, &["GET", &format!("tick:{i}")]);
        run(&mut con, &["GET", &format!("missing:{i}")]);
    }
    let worker = CeleryWorker::start(&redis.url(), &["kit"]).unwrap();
    let config = format!(
        "[[redis]]\nname = \"cache\"\nurl = \"{url}\"\n\
         [[celery]]\nname = \"broker\"\nbroker = \"{url}\"\nqueues = [\"kit\"]\nevents = true\n",
        url = redis.url()
    );
    let exporter = Exporter::start(Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")), &config, "warn").unwrap();
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboards/prometheus/alerts.yml"));
    let target = exporter.url("").trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::start(
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\n\
             scrape_configs:\n  - job_name: tickwatch\n    static_configs: [{{targets: ['{target}']}}]\n"
        ),
        &[("alerts.yml", &rules.unwrap())],
    )
    .unwrap();
    wait_for("the worker's heartbeat in Prometheus", Duration::from_secs(30), || {
        !query(&prometheus, "celery_worker_up == 1").is_empty()
    });
    CeleryClient::new(&redis.url()).every_outcome("kit").unwrap();

    // Every outcome happened, under its queue.
    for state in ["sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected"] {
        let promql = format!(r#"sum(celery_task_{state}_total{{queue_name="kit"}}) > 0"#);
        wait_for(&format!("a {state} task in Prometheus"), Duration::from_secs(60), || {
            !query(&prometheus, &promql).is_empty()
        });
    }
    let mut empty = Vec::new();
    for promql in REDIS_EXPORTER.iter().chain(CELERY_MIXIN) {
        let mut found = false;
        for _ in 0..20 {
            found = !query(&prometheus, promql).is_empty();
            if found {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        if !found {
            empty.push(*promql);
        }
    }
    assert!(empty.is_empty(), "peer dashboard queries without data: {empty:#?}");
    let failed = query(&prometheus, r#"celery_task_failed_total{name="tickwatch.fail",exception="RuntimeError"}"#);
    assert_eq!(failed.len(), 1, "{failed:?}");
    drop(worker);
}
