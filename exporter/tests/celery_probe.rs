//! The Celery probe against a real Redis broker with real Celery workers and clients, and
//! against a real RabbitMQ.

mod common;

use common::{start_exporter, wait_for};
use std::time::Duration;
use tickwatch_tests::{CeleryClient, CeleryWorker, RabbitMq, RedisServer, Server, value, values};

/// Sum of LLEN over a queue's list and every priority sub-queue, read straight from Redis.
fn lists_total(redis: &RedisServer, queue: &str) -> (i64, usize) {
    let mut con = redis.connection().unwrap();
    let mut total = 0;
    let mut lists = 0;
    for step in 0..=9 {
        let key = if step == 0 { queue.to_owned() } else { format!("{queue}\x06\x16{step}") };
        let n: i64 = redis::cmd("LLEN").arg(&key).query(&mut con).unwrap();
        total += n;
        lists += usize::from(n > 0);
    }
    (total, lists)
}

#[test]
fn queue_length_counts_priority_sub_queues_then_drains_to_zero() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[defaults]\ndiscovery_interval = \"1s\"\n\
         [[celery]]\nname = \"listed\"\nbroker = \"{url}\"\nqueues = [\"ticks\"]\n\
         [[celery]]\nname = \"found\"\nbroker = \"{url}\"\ndiscover = true\n",
        url = redis.url()
    ));
    let client = CeleryClient::new(&redis.url());
    client.send("tickwatch.add", "ticks", 10, "[1, 2]", None).unwrap();
    client.send("tickwatch.add", "ticks", 10, "[1, 2]", Some(5)).unwrap();
    client.send("tickwatch.add", "ticks", 10, "[1, 2]", Some(9)).unwrap();

    let (total, lists) = lists_total(&redis, "ticks");
    assert_eq!(total, 30);
    assert!(lists >= 3, "Kombu spread the tasks over {lists} priority lists");
    let length =
        |text: &str, target: &str| value(text, "celery_queue_length", &[("target", target), ("queue_name", "ticks")]);
    wait_for("the discovered queue to be reported", Duration::from_secs(10), || {
        length(&exporter.metrics(), "found") == Some(30.0)
    });
    let text = exporter.metrics();
    assert_eq!(length(&text, "listed"), Some(30.0), "{text}");
    assert_eq!(value(&text, "tickwatch_discovered_keys", &[("target", "found"), ("what", "queues")]), Some(1.0));

    let _worker = CeleryWorker::start(&redis.url(), &["ticks"]).unwrap();
    wait_for("the worker to drain the queue", Duration::from_secs(60), || {
        let text = exporter.metrics();
        length(&text, "listed") == Some(0.0) && length(&text, "found") == Some(0.0)
    });
    assert_eq!(lists_total(&redis, "ticks").0, 0);
}

/// Calls of `command` that Redis has served so far (INFO commandstats).
fn calls(redis: &RedisServer, command: &str) -> u64 {
    let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut redis.connection().unwrap()).unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A scrape reads with LLEN only the lists that held tasks at the last one and covers the
/// others of a group of queues with one EXISTS; a priority list that appears between two
/// scrapes is counted by the next, and one that empties goes back under the EXISTS.
#[test]
fn priority_lists_are_read_when_they_hold_tasks_and_counted_when_they_appear() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"broker\"\nbroker = \"{}\"\nqueues = [\"ticks\", \"idle\"]\n",
        redis.url()
    ));
    let length = || value(&exporter.metrics(), "celery_queue_length", &[("target", "broker"), ("queue_name", "ticks")]);
    let client = CeleryClient::new(&redis.url());
    client.send("tickwatch.add", "ticks", 4, "[1, 2]", None).unwrap();
    assert_eq!(length(), Some(4.0));
    let commands = || (calls(&redis, "llen"), calls(&redis, "exists"));
    let cost = |scrape: &dyn Fn()| {
        let before = commands();
        scrape();
        let after = commands();
        (after.0 - before.0, after.1 - before.1)
    };
    assert_eq!(cost(&|| assert_eq!(length(), Some(4.0))), (2, 1), "one LLEN a queue, one EXISTS for both");

    client.send("tickwatch.add", "ticks", 3, "[1, 2]", Some(9)).unwrap();
    let (total, lists) = lists_total(&redis, "ticks");
    assert_eq!((total, lists), (7, 2), "Kombu put the priority tasks in a list of their own");
    assert_eq!(cost(&|| assert_eq!(length(), Some(7.0))), (2 + 2 * 9, 1), "the list that appeared is read at once");
    assert_eq!(cost(&|| assert_eq!(length(), Some(7.0))), (3, 1), "then read with LLEN, the others under the EXISTS");

    let mut con = redis.connection().unwrap();
    let priority_list = "ticks\x06\x169";
    let _: () = redis::cmd("DEL").arg(priority_list).query(&mut con).unwrap();
    assert_eq!(cost(&|| assert_eq!(length(), Some(4.0))), (3, 1));
    assert_eq!(cost(&|| assert_eq!(length(), Some(4.0))), (2, 1), "an emptied list goes back under the EXISTS");
}

#[test]
fn task_events_count_what_the_worker_did_and_worker_up_drops_when_it_dies() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"broker\"\nbroker = \"{}\"\nqueues = [\"kit\"]\nevents = true\nworker_timeout = \"4s\"\n",
        redis.url()
    ));
    let mut worker = CeleryWorker::start(&redis.url(), &["kit"]).unwrap();
    let host = worker.hostname().to_owned();
    let up = |text: &str| value(text, "celery_worker_up", &[("target", "broker"), ("hostname", &host)]);
    wait_for("the worker's heartbeat", Duration::from_secs(20), || up(&exporter.metrics()) == Some(1.0));

    let client = CeleryClient::new(&redis.url());
    client.send("tickwatch.add", "kit", 5, "[2, 3]", None).unwrap();
    client.send("tickwatch.fail", "kit", 2, "[\"on purpose\"]", None).unwrap();
    // All under queue `kit`, though a worker's task-received can arrive before the
    // producer's task-sent: the exporter holds such events for their task-sent.
    let count = |text: &str, state: &str, name: &str| -> f64 {
        let labels = [("target", "broker"), ("name", name)];
        let all: f64 = values(text, &format!("celery_task_{state}_total"), &labels).iter().sum();
        let kit = value(text, &format!("celery_task_{state}_total"), &[labels[0], labels[1], ("queue_name", "kit")]);
        assert_eq!(kit.unwrap_or(0.0), all, "every {state} {name} is counted under its queue:\n{text}");
        all
    };
    wait_for("every task's outcome", Duration::from_secs(30), || {
        let text = exporter.metrics();
        count(&text, "succeeded", "tickwatch.add") == 5.0 && count(&text, "failed", "tickwatch.fail") == 2.0
    });
    let text = exporter.metrics();
    for (state, name, n) in [
        ("sent", "tickwatch.add", 5.0),
        ("sent", "tickwatch.fail", 2.0),
        ("received", "tickwatch.add", 5.0),
        ("received", "tickwatch.fail", 2.0),
        ("started", "tickwatch.add", 5.0),
        ("started", "tickwatch.fail", 2.0),
        ("succeeded", "tickwatch.fail", 0.0),
        ("failed", "tickwatch.add", 0.0),
    ] {
        assert_eq!(count(&text, state, name), n, "{state} {name}\n{text}");
    }
    let add = [("target", "broker"), ("name", "tickwatch.add"), ("queue_name", "kit")];
    assert_eq!(value(&text, "celery_task_runtime_seconds_count", &add), Some(5.0), "{text}");
    assert_eq!(
        value(&text, "celery_task_runtime_count", &add),
        Some(5.0),
        "celery-mixin's name for the same histogram"
    );
    assert_eq!(value(&text, "celery_task_succeeded_total", &add), Some(5.0), "the queue comes from task-sent");
    let failed = [("name", "tickwatch.fail"), ("queue_name", "kit"), ("exception", "RuntimeError")];
    assert_eq!(value(&text, "celery_task_failed_total", &failed), Some(2.0), "{text}");
    // Every task waited between task-sent and task-started; none had a countdown.
    assert_eq!(value(&text, "celery_task_queue_wait_time_count", &add), Some(5.0));
    let waited = value(&text, "celery_task_queue_wait_time_sum", &add).unwrap();
    assert!((0.0..30.0).contains(&waited), "{waited}");
    let active = value(&text, "celery_worker_tasks_active", &[("target", "broker"), ("hostname", &host)]);
    assert!(active.is_some_and(|n| (0.0..=2.0).contains(&n)), "at most the pool's two processes: {active:?}");
    assert_eq!(value(&text, "celery_active_workers", &[("target", "broker")]), Some(1.0));
    assert!(worker.log_text().contains("tickwatch.fail"), "the real worker ran the tasks");
    assert_eq!(common::promtool_check(&text), "", "promtool check metrics on:\n{text}");

    worker.kill();
    wait_for("celery_worker_up to drop after the heartbeats stop", Duration::from_secs(15), || {
        up(&exporter.metrics()) == Some(0.0)
    });
    assert_eq!(value(&exporter.metrics(), "celery_active_workers", &[("target", "broker")]), Some(0.0));
}

#[test]
fn rabbitmq_queues_report_messages_and_consumers() {
    let rabbit = RabbitMq::start().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_connection, _consumer) = runtime.block_on(async {
        use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
        let connection =
            lapin::Connection::connect(&rabbit.url(), lapin::ConnectionProperties::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        for queue in ["orders", "idle"] {
            channel.queue_declare(queue.into(), QueueDeclareOptions::default(), Default::default()).await.unwrap();
        }
        for i in 0..7 {
            channel
                .basic_publish(
                    "".into(),
                    "orders".into(),
                    BasicPublishOptions::default(),
                    format!("{i}").as_bytes(),
                    Default::default(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let consumer_channel = connection.create_channel().await.unwrap();
        // The consumer stays registered while it is held.
        let consumer = consumer_channel
            .basic_consume("idle".into(), "watcher".into(), BasicConsumeOptions::default(), Default::default())
            .await
            .unwrap();
        (connection, consumer)
    });
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"mq\"\nbroker = \"{}\"\nqueues = [\"orders\", \"missing\", \"idle\"]\n",
        rabbit.url()
    ));
    let text = exporter.metrics();
    fn q(name: &str) -> [(&str, &str); 2] {
        [("target", "mq"), ("queue_name", name)]
    }
    assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "mq")]), Some(1.0), "{text}");
    assert_eq!(value(&text, "celery_queue_length", &q("orders")), Some(7.0), "{text}");
    assert_eq!(value(&text, "celery_active_consumer_count", &q("orders")), Some(0.0));
    assert_eq!(value(&text, "celery_queue_length", &q("idle")), Some(0.0));
    assert_eq!(value(&text, "celery_active_consumer_count", &q("idle")), Some(1.0), "{text}");
    assert_eq!(value(&text, "celery_queue_length", &q("missing")), None, "a missing queue is absent, not empty");
    assert!(!text.contains("guest:guest"), "credentials never appear");
}

/// Counts of one task `state` of `name` on queue `queue` of target `target`.
fn tasks(text: &str, target: &str, state: &str, name: &str, queue: &str) -> f64 {
    let labels = [("target", target), ("name", name), ("queue_name", queue)];
    values(text, &format!("celery_task_{state}_total"), &labels).iter().sum()
}

#[test]
fn task_events_of_a_rabbitmq_broker_are_counted_too() {
    let rabbit = RabbitMq::start().unwrap();
    // The README's least privilege for events: its own server-named queue and the
    // celeryev exchange, nothing else.
    rabbit.ctl(&["add_user", "tickwatch", "s3cret"]).unwrap();
    let (own, events) = (r"^(amq\.gen-.*|celeryev)$", r"^amq\.gen-.*$");
    rabbit.ctl(&["set_permissions", "-p", "/", "tickwatch", own, events, own]).unwrap();
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"mq\"\nbroker = \"{}\"\nqueues = [\"kit\"]\nevents = true\n",
        rabbit.url().replace("guest:guest", "tickwatch:s3cret")
    ));
    wait_for("the event consumer to bind", Duration::from_secs(20), || {
        value(&exporter.metrics(), "celery_events_connected", &[("target", "mq")]) == Some(1.0)
    });
    let worker = CeleryWorker::start(&rabbit.url(), &["kit"]).unwrap();
    let host = worker.hostname().to_owned();
    wait_for("the worker's heartbeat over AMQP", Duration::from_secs(20), || {
        value(&exporter.metrics(), "celery_worker_up", &[("target", "mq"), ("hostname", &host)]) == Some(1.0)
    });
    let client = CeleryClient::new(&rabbit.url());
    client.send("tickwatch.add", "kit", 3, "[1, 2]", None).unwrap();
    client.send("tickwatch.fail", "kit", 1, "[\"on purpose\"]", None).unwrap();
    wait_for("every task's outcome", Duration::from_secs(30), || {
        let text = exporter.metrics();
        tasks(&text, "mq", "succeeded", "tickwatch.add", "kit") == 3.0
            && tasks(&text, "mq", "failed", "tickwatch.fail", "kit") == 1.0
    });
    let text = exporter.metrics();
    assert_eq!(tasks(&text, "mq", "sent", "tickwatch.add", "kit"), 3.0, "{text}");
    assert_eq!(tasks(&text, "mq", "started", "tickwatch.add", "kit"), 3.0);
    let waits = [("target", "mq"), ("name", "tickwatch.add"), ("queue_name", "kit")];
    assert_eq!(value(&text, "celery_task_queue_wait_time_count", &waits), Some(3.0));
    assert_eq!(value(&text, "celery_queue_length", &[("target", "mq"), ("queue_name", "kit")]), Some(0.0));
}

#[test]
fn kombus_global_keyprefix_is_followed_for_queues_bindings_and_events() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"prefixed\"\nbroker = \"{}\"\nglobal_keyprefix = \"app:\"\nqueues = [\"kit\"]\n\
         discover = true\nevents = true\n",
        redis.url()
    ));
    let worker = CeleryWorker::start_with_app(&redis.url(), &["kit"], &[("TICKWATCH_KEYPREFIX", "app:")]).unwrap();
    let host = worker.hostname().to_owned();
    wait_for("the prefixed worker's heartbeat", Duration::from_secs(20), || {
        value(&exporter.metrics(), "celery_worker_up", &[("target", "prefixed"), ("hostname", &host)]) == Some(1.0)
    });
    let client = CeleryClient::with_app(&redis.url(), &[("TICKWATCH_KEYPREFIX", "app:")]);
    client.send("tickwatch.add", "kit", 2, "[1, 2]", None).unwrap();
    // Nobody consumes `pending`: its tasks stay in `app:pending`, found from `app:_kombu.binding.*`.
    client.send("tickwatch.add", "pending", 4, "[1, 2]", None).unwrap();
    let mut con = redis.connection().unwrap();
    let held: i64 = redis::cmd("LLEN").arg("app:pending").query(&mut con).unwrap();
    assert_eq!(held, 4, "Kombu put the tasks under the prefix");
    wait_for("the prefixed queue and the events", Duration::from_secs(30), || {
        let text = exporter.metrics();
        let pending = [("target", "prefixed"), ("queue_name", "pending")];
        value(&text, "celery_queue_length", &pending) == Some(4.0)
            && tasks(&text, "prefixed", "succeeded", "tickwatch.add", "kit") == 2.0
    });
}

#[test]
fn a_sentinel_broker_is_followed_through_a_failover() {
    let mut primary = RedisServer::start().unwrap();
    let replica = RedisServer::start_replica_of(primary.port()).unwrap();
    let sentinel = RedisServer::start_sentinel_of("tasks", primary.port()).unwrap();
    let broker = format!("sentinel://127.0.0.1:{}/0", sentinel.port());
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"ha\"\nbroker = \"{broker}\"\nmaster_name = \"tasks\"\nqueues = [\"kit\", \"pending\"]\nevents = true\n"
    ));
    let app = [("TICKWATCH_MASTER_NAME", "tasks")];
    let worker = CeleryWorker::start_with_app(&broker, &["kit"], &app).unwrap();
    let host = worker.hostname().to_owned();
    wait_for("the worker's heartbeat through the Sentinel", Duration::from_secs(30), || {
        value(&exporter.metrics(), "celery_worker_up", &[("target", "ha"), ("hostname", &host)]) == Some(1.0)
    });
    let client = CeleryClient::with_app(&broker, &app);
    client.send("tickwatch.add", "kit", 2, "[1, 2]", None).unwrap();
    client.send("tickwatch.add", "pending", 3, "[1, 2]", None).unwrap();
    let pending = |text: &str| value(text, "celery_queue_length", &[("target", "ha"), ("queue_name", "pending")]);
    wait_for("the queue and the events through the Sentinel", Duration::from_secs(30), || {
        let text = exporter.metrics();
        pending(&text) == Some(3.0) && tasks(&text, "ha", "succeeded", "tickwatch.add", "kit") == 2.0
    });

    // The master dies; the Sentinel promotes the replica (once it has learnt of it from
    // the master's INFO), which holds the same tasks.
    let mut ask = sentinel.connection().unwrap();
    wait_for("the Sentinel to know the replica", Duration::from_secs(30), || {
        let replicas: Vec<redis::Value> = redis::cmd("SENTINEL").arg("REPLICAS").arg("tasks").query(&mut ask).unwrap();
        !replicas.is_empty()
    });
    let replicated = || -> i64 { redis::cmd("LLEN").arg("pending").query(&mut replica.connection().unwrap()).unwrap() };
    wait_for("the replica to hold the pending tasks", Duration::from_secs(20), || replicated() == 3);
    primary.kill();
    // Sentinel kills the promoted replica's clients, so each look is a new connection.
    wait_for("the replica to be promoted", Duration::from_secs(60), || {
        let role: Vec<redis::Value> =
            replica.connection().map(|mut c| redis::cmd("ROLE").query(&mut c).unwrap_or_default()).unwrap();
        matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master")
    });
    let _: () = redis::cmd("LPUSH").arg("pending").arg("{}").exec(&mut replica.connection().unwrap()).unwrap();
    wait_for("the exporter to follow the new master", Duration::from_secs(30), || {
        let text = exporter.metrics();
        value(&text, "tickwatch_probe_success", &[("target", "ha")]) == Some(1.0) && pending(&text) == Some(4.0)
    });
}
