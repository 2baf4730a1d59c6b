//! Each kit server is live: a test talks to it over its real protocol.

use std::time::{Duration, Instant};
use tickwatch_tests::{
    Alertmanager, CeleryClient, CeleryWorker, MongoServer, Prometheus, RabbitMq, RedisServer, Server, WebSocketServer,
    binary, free_port,
};

#[test]
fn redis_answers_ping_and_comes_back_after_a_restart() {
    let mut redis = RedisServer::start().unwrap();
    let mut con = redis.connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    redis.kill();
    assert!(redis.connection().is_err(), "a killed server refuses connections");
    redis.restart().unwrap();
    let pong: String = redis::cmd("PING").query(&mut redis.connection().unwrap()).unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn mongodb_wire_server_answers_hello_through_the_rust_driver() {
    let server = MongoServer::start().unwrap();
    let client = mongodb::Client::with_uri_str(server.uri()).await.unwrap();
    let hello = client.database("admin").run_command(mongodb::bson::doc! { "hello": 1 }).await.unwrap();
    assert_eq!(hello.get_bool("isWritablePrimary").ok(), Some(true), "{hello:?}");
    let ping = client.database("admin").run_command(mongodb::bson::doc! { "ping": 1 }).await.unwrap();
    assert_eq!(ping.get_f64("ok").ok().or(ping.get_i32("ok").ok().map(f64::from)), Some(1.0), "{ping:?}");
}

#[test]
fn celery_worker_executes_a_task() {
    let redis = RedisServer::start().unwrap();
    let _worker = CeleryWorker::start(&redis.url(), &["kit"]).unwrap();
    let ids = CeleryClient::new(&redis.url()).send("tickwatch.add", "kit", 1, "[2, 3]", None).unwrap();
    assert_eq!(ids.len(), 1);
    let mut con = redis.connection().unwrap();
    let key = format!("celery-task-meta-{}", ids[0]);
    let start = Instant::now();
    let result = loop {
        let meta: Option<String> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
        if let Some(meta) = meta {
            break serde_json::from_str::<serde_json::Value>(&meta).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the worker did not run the task in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(result["status"], "SUCCESS", "{result}");
    assert_eq!(result["result"], 5, "{result}");
}

#[tokio::test]
async fn rabbitmq_accepts_an_amqp_connection() {
    let rabbit = tokio::task::spawn_blocking(RabbitMq::start).await.unwrap().unwrap();
    let connection = lapin::Connection::connect(&rabbit.url(), lapin::ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = channel
        .queue_declare("kit".into(), lapin::options::QueueDeclareOptions::default(), Default::default())
        .await
        .unwrap();
    assert_eq!(queue.message_count(), 0);
    connection.close(200, "bye".into()).await.unwrap();
}

#[test]
fn prometheus_is_ready_and_scrapes() {
    // Nothing listens on port 1: after its first scrape Prometheus reports the target down.
    let config = "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: nothing\n    static_configs: [{targets: ['127.0.0.1:1']}]\n";
    let prometheus = Prometheus::start(config, &[]).unwrap();
    let query = format!("{}/api/v1/query?query=up", prometheus.url());
    let start = Instant::now();
    loop {
        let body: serde_json::Value = reqwest::blocking::get(&query).unwrap().json().unwrap();
        assert_eq!(body["status"], "success", "{body}");
        if let Some(sample) = body["data"]["result"].as_array().and_then(|r| r.first()) {
            assert_eq!(sample["metric"]["job"], "nothing");
            assert_eq!(sample["value"][1], "0");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no scrape result in 15 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn alertmanager_is_ready() {
    let config = "route: {receiver: none}\nreceivers: [{name: none}]\n";
    let alertmanager = Alertmanager::start(config).unwrap();
    let status: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/v2/status", alertmanager.url())).unwrap().json().unwrap();
    assert_eq!(status["cluster"]["status"], "disabled", "{status}");
}

/// Every kind of server can crash and come back where it was; here the quick ones.
#[test]
fn servers_come_back_on_their_port_after_a_kill() {
    let accepts = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let mut gateway = WebSocketServer::start(&["--count", "1"]).unwrap();
    gateway.kill();
    assert!(!accepts(gateway.port()), "a killed gateway refuses connections");
    gateway.restart().unwrap();
    assert!(accepts(gateway.port()));

    let port = free_port();
    let config =
        format!("scrape_configs:\n  - job_name: nothing\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n");
    let mut prometheus = Prometheus::start(&config, &[]).unwrap();
    let ready = format!("{}/-/ready", prometheus.url());
    prometheus.kill();
    assert!(reqwest::blocking::get(&ready).is_err(), "a killed Prometheus does not answer");
    prometheus.restart().unwrap();
    assert!(reqwest::blocking::get(&ready).unwrap().status().is_success());
}

#[test]
fn a_missing_server_names_the_setup_command() {
    let err = binary("tickwatch-no-such-server").unwrap_err().to_string();
    assert!(err.contains("scripts/setup.sh"), "{err}");
}
