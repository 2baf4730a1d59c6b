//! Every server the exporter watches hung (SIGSTOP: its sockets stay open and nothing
//! answers) and killed (-9), one at a time, then brought back: Redis, RabbitMQ, the
//! MongoDB-wire server, a WebSocket gateway and a Celery worker (on its own Redis broker).
//! Each scrape answers within its budget with the faulted target down and every other
//! target intact, and the target comes back without restarting the exporter.

mod common;

use common::{start_exporter, wait_for};
use std::time::Duration;
use tickwatch_tests::{CeleryWorker, Exporter, MongoServer, RabbitMq, RedisServer, Server, WebSocketServer, value};

/// The targets, by (kind, name).
const TARGETS: [(&str, &str); 5] =
    [("redis", "cache"), ("celery", "workers"), ("celery", "orders"), ("mongodb", "store"), ("websocket", "gateway")];

/// The scrape budget (Prometheus's X-Prometheus-Scrape-Timeout-Seconds).
const BUDGET: f64 = 2.0;

fn success(text: &str, (kind, target): (&str, &str)) -> Option<f64> {
    value(text, "tickwatch_probe_success", &[("kind", kind), ("target", target)])
}

/// Scrapes with the budget: it must answer in time, with `down` failing (when given) and
/// every other target succeeding.
fn scrape_with_one_down(exporter: &Exporter, down: Option<(&str, &str)>, what: &str) -> String {
    let (status, text, took) = exporter.scrape("/metrics", BUDGET);
    assert_eq!(status, 200, "{what}: {text}");
    assert!(took < Duration::from_secs_f64(BUDGET + 1.0), "{what}: the scrape took {took:?}");
    for target in TARGETS {
        let expected = if Some(target) == down { 0.0 } else { 1.0 };
        assert_eq!(success(&text, target), Some(expected), "{what}: {target:?}");
    }
    text
}

/// Waits until every target succeeds again.
fn recovered(exporter: &Exporter, what: &str) {
    wait_for(what, Duration::from_secs(60), || {
        let text = exporter.scrape("/metrics", BUDGET).1;
        TARGETS.iter().all(|t| success(&text, *t) == Some(1.0))
    });
}

fn worker_up(exporter: &Exporter, hostname: &str) -> Option<f64> {
    value(&exporter.metrics(), "celery_worker_up", &[("target", "workers"), ("hostname", hostname)])
}

#[test]
fn each_server_hung_and_killed_in_turn_fails_alone_and_comes_back() {
    let mut cache = RedisServer::start().unwrap();
    let broker = RedisServer::start().unwrap();
    let mut worker = CeleryWorker::start(&broker.url(), &["ticks"]).unwrap();
    let mut rabbit = RabbitMq::start().unwrap();
    let mut mongo = MongoServer::start().unwrap();
    let mut gateway =
        WebSocketServer::start(&["--no-subscribe", "--count", "1000000", "--interval-ms", "100"]).unwrap();
    let exporter = start_exporter(&format!(
        "[[redis]]\nname = \"cache\"\nurl = \"{}\"\n\
         [[celery]]\nname = \"workers\"\nbroker = \"{}\"\nqueues = [\"ticks\"]\nevents = true\nworker_timeout = \"2s\"\n\
         [[celery]]\nname = \"orders\"\nbroker = \"{}\"\nqueues = [\"orders\"]\n\
         [[mongodb]]\nname = \"store\"\nuri = \"{}\"\n\
         [[websocket]]\nname = \"gateway\"\nurl = \"ws://127.0.0.1:{}/\"\n",
        cache.url(),
        broker.url(),
        rabbit.url(),
        mongo.uri(),
        gateway.port()
    ));
    recovered(&exporter, "every target to answer at first");

    let servers: [(&str, &mut dyn Server, (&str, &str)); 4] = [
        ("Redis", &mut cache, TARGETS[0]),
        ("RabbitMQ", &mut rabbit, TARGETS[2]),
        ("the MongoDB-wire server", &mut mongo, TARGETS[3]),
        ("the WebSocket gateway", &mut gateway, TARGETS[4]),
    ];
    for (name, server, target) in servers {
        server.pause().unwrap();
        scrape_with_one_down(&exporter, Some(target), &format!("{name} hung"));
        scrape_with_one_down(&exporter, Some(target), &format!("{name} hung, the second scrape"));
        server.resume().unwrap();
        recovered(&exporter, &format!("{name} to be seen again after the hang"));

        server.kill();
        scrape_with_one_down(&exporter, Some(target), &format!("{name} killed"));
        server.restart().unwrap();
        recovered(&exporter, &format!("{name} to be seen again after the restart"));
    }

    // The worker: its broker still answers (the queue target stays up); the worker goes
    // down when its heartbeats stop and up again when they come back.
    let hostname = worker.hostname().to_owned();
    wait_for("the worker's heartbeat", Duration::from_secs(30), || worker_up(&exporter, &hostname) == Some(1.0));
    worker.pause().unwrap();
    scrape_with_one_down(&exporter, None, "the worker hung");
    wait_for("a hung worker to be down", Duration::from_secs(30), || worker_up(&exporter, &hostname) == Some(0.0));
    worker.resume().unwrap();
    wait_for("the worker to be up after the hang", Duration::from_secs(30), || {
        worker_up(&exporter, &hostname) == Some(1.0)
    });
    worker.kill();
    scrape_with_one_down(&exporter, None, "the worker killed");
    wait_for("a killed worker to be down", Duration::from_secs(30), || worker_up(&exporter, &hostname) == Some(0.0));
    worker.restart().unwrap();
    wait_for("the restarted worker to be up", Duration::from_secs(60), || worker_up(&exporter, &hostname) == Some(1.0));
    scrape_with_one_down(&exporter, None, "at the end");
}
