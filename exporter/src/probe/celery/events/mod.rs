//! Consumes the Celery event stream of a broker in the background: task counters by
//! name, queue and outcome, runtime and queue-wait histograms, and worker liveness and
//! load from heartbeats. The transports (`redis`, `amqp`) only deliver events here.
//!
//! Only `task-sent` carries
//! the queue and the time the task was queued, and only it and `task-received` carry the
//! name, so they are remembered by task id, in a bounded table. Task names, queues,
//! exception types and worker hostnames are capped; what goes over a cap is counted.

mod amqp;
mod redis;

pub use redis::decode_envelope as decode_redis_envelope;

use super::CeleryTarget;
use crate::shared::Shared;
use futures_util::{FutureExt, StreamExt};
use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwatch_common::backoff::Backoff;
use tickwatch_common::tls::TlsConfig;

/// Task ids remembered to name later events; the oldest are forgotten first.
const REMEMBERED_TASKS: usize = 100_000;
/// How long the events of a task are held for its `task-sent` (see [`Held`]).
const HOLD: Duration = Duration::from_secs(2);
/// Most tasks whose events are held at once; past it the oldest are counted at once.
const MAX_HELD: usize = 10_000;
/// Most distinct exception types of `celery_task_failed_total`; later ones are `other`.
const MAX_EXCEPTIONS: usize = 100;
/// Bucket bounds (seconds) of the runtime histogram.
const RUNTIME_BUCKETS: [f64; 15] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// Name used for tasks whose name was never seen (the exporter started mid-flight).
const UNKNOWN: &str = "unknown";
/// Name used for task names past the cap.
const OTHER: &str = "other";

/// Task states with a counter each (celery-exporter's names: `celery_task_sent_total`, ...),
/// as the `task-<state>` events report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Sent,
    Received,
    Started,
    Succeeded,
    Failed,
    Retried,
    Revoked,
    Rejected,
}

impl TaskState {
    /// Every state, indexable by `as usize`.
    pub const ALL: [TaskState; 8] = [
        TaskState::Sent,
        TaskState::Received,
        TaskState::Started,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Retried,
        TaskState::Revoked,
        TaskState::Rejected,
    ];

    /// The state as event types and metric names spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Sent => "sent",
            TaskState::Received => "received",
            TaskState::Started => "started",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Retried => "retried",
            TaskState::Revoked => "revoked",
            TaskState::Rejected => "rejected",
        }
    }

    fn help(self) -> &'static str {
        match self {
            TaskState::Sent => "Tasks sent by producers (task-sent events), by task name and queue.",
            TaskState::Received => "Tasks received by a worker, by task name and queue.",
            TaskState::Started => "Tasks started by a worker, by task name and queue.",
            TaskState::Succeeded => "Tasks that succeeded, by task name and queue.",
            TaskState::Failed => "Tasks that failed, by task name, queue and exception type.",
            TaskState::Retried => "Tasks that failed and were scheduled to run again, by task name and queue.",
            TaskState::Revoked => "Tasks revoked before or while running, by task name and queue.",
            TaskState::Rejected => {
                "Tasks a worker rejected (not acknowledged, requeued or dropped), by task name and queue."
            }
        }
    }

    fn from_event(state: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == state)
    }
}

/// The metrics every event consumer updates, registered once.
pub struct EventMetrics {
    /// `celery_task_<state>_total` for each task state, in the order of [`TaskState::ALL`];
    /// `failed` has an `exception` label too.
    tasks: Vec<IntCounterVec>,
    runtime: HistogramVec,
    queue_wait: HistogramVec,
    worker_up: IntGaugeVec,
    tasks_active: IntGaugeVec,
    active_workers: IntGaugeVec,
    connected: IntGaugeVec,
    overflow: IntCounterVec,
}

impl EventMetrics {
    /// Creates and registers the event families; `queue_wait_buckets` are the bounds of
    /// `celery_task_queue_wait_time` in seconds.
    pub fn register(shared: &Shared, queue_wait_buckets: &[f64]) -> EventMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| shared.counter_vec(name, help, labels);
        let gauge = |name: &str, help: &str, labels: &[&str]| shared.int_gauge_vec(name, help, labels);
        let task_labels = ["target", "name", "queue_name"];
        EventMetrics {
            tasks: TaskState::ALL
                .iter()
                .map(|&state| {
                    let (name, help) = (format!("celery_task_{}_total", state.as_str()), state.help());
                    match state {
                        TaskState::Failed => counter(&name, help, &["target", "name", "queue_name", "exception"]),
                        _ => counter(&name, help, &task_labels),
                    }
                })
                .collect(),
            runtime: shared.histogram_vec(
                "celery_task_runtime_seconds",
                "Task run time reported by task-succeeded events (celery-mixin's celery_task_runtime is the same histogram).",
                RUNTIME_BUCKETS.to_vec(),
                &task_labels,
            ),
            queue_wait: shared.histogram_vec(
                "celery_task_queue_wait_time",
                "Seconds from task-sent to task-started: how long a task waited for a worker (tasks with an ETA or countdown left out). celery-exporter's name; the unit is seconds.",
                queue_wait_buckets.to_vec(),
                &task_labels,
            ),
            worker_up: gauge(
                "celery_worker_up",
                "Whether the worker sent a heartbeat within worker_timeout.",
                &["target", "hostname"],
            ),
            tasks_active: gauge(
                "celery_worker_tasks_active",
                "Tasks the worker is executing, as its last heartbeat said (0 once it is down).",
                &["target", "hostname"],
            ),
            active_workers: gauge(
                "celery_active_workers",
                "Workers currently up (celery-exporter calls this celery_active_worker_count; the recording rules provide that name).",
                &["target"],
            ),
            connected: gauge(
                "celery_events_connected",
                "Whether the event consumer is subscribed to the broker.",
                &["target"],
            ),
            overflow: counter(
                "tickwatch_label_overflow_total",
                "Events whose task name, queue, exception type or hostname went past its cap and was counted as `other` or dropped.",
                &["target", "label"],
            ),
        }
    }
}

/// What one consumer needs from its target's config.
#[derive(Debug, Clone)]
pub struct EventSettings {
    pub target: String,
    pub url: String,
    pub tls: Option<TlsConfig>,
    /// Kombu's `global_keyprefix` (Redis brokers).
    pub key_prefix: String,
    /// For `sentinel://` brokers: the master's name.
    pub master_name: Option<String>,
    pub max_task_names: usize,
    pub max_workers: usize,
    pub worker_timeout: Duration,
    pub forget_after: Duration,
}

impl EventSettings {
    pub fn from_target(t: &CeleryTarget) -> EventSettings {
        EventSettings {
            target: t.name.clone(),
            url: t.broker.clone(),
            tls: t.tls_config.clone(),
            key_prefix: t.global_keyprefix.clone(),
            master_name: t.master_name.clone(),
            max_task_names: t.max_task_names,
            max_workers: t.max_workers,
            worker_timeout: t.worker_timeout,
            forget_after: t.worker_forget_after,
        }
    }
}

/// Starts the consumer of the target's broker, supervised: it reconnects on its own,
/// and is started again if it ever ends.
pub fn spawn(settings: EventSettings, metrics: Arc<EventMetrics>, shared: &Shared) {
    let target = settings.target.clone();
    let start = move || {
        let (settings, metrics) = (settings.clone(), Arc::clone(&metrics));
        match settings.url.starts_with("amqp") {
            true => consume(settings, metrics, amqp::subscribe).boxed(),
            false => consume(settings, metrics, redis::subscribe).boxed(),
        }
    };
    shared.consumers.spawn("celery", &target, Box::new(start));
}

/// What a transport's subscription yields per message: its events, `None` when the
/// message cannot be decoded, or why the stream broke.
type EventStream = futures_util::stream::BoxStream<'static, Result<Option<Value>, String>>;

/// An open subscription: its messages, what must stay alive with it (an AMQP
/// connection), and where it reads from (for the log).
pub(super) struct Subscription {
    events: EventStream,
    _keep: Box<dyn std::any::Any + Send>,
    source: String,
}

/// Reads events from the subscriptions `subscribe` opens, until the consumer is stopped:
/// a broken or closed one is opened again with capped backoff, and worker liveness and
/// held events are kept up every second meanwhile.
async fn consume<F, Opening>(settings: EventSettings, metrics: Arc<EventMetrics>, subscribe: F)
where
    F: Fn(EventSettings) -> Opening,
    Opening: Future<Output = Result<Subscription, String>>,
{
    let connected = metrics.connected.with_label_values(&[&settings.target]);
    connected.set(0);
    let mut state = EventState::new(settings.clone(), metrics.clone());
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match subscribe(settings.clone()).await {
            Ok(mut subscription) => {
                connected.set(1);
                backoff.reset();
                tracing::info!(target = settings.target, source = subscription.source, "consuming celery events");
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        message = subscription.events.next() => match message {
                            Some(Ok(Some(events))) => state.handle_events(&events),
                            Some(Ok(None)) => tracing::debug!(target = settings.target, "ignored an undecodable event message"),
                            Some(Err(e)) => {
                                tracing::warn!(target = settings.target, "celery event stream failed: {e}");
                                break;
                            }
                            None => break,
                        },
                        _ = tick.tick() => state.tick(),
                    }
                }
                connected.set(0);
                tracing::warn!(target = settings.target, "celery event stream closed; reconnecting");
            }
            Err(e) => tracing::warn!(target = settings.target, "cannot subscribe to celery events: {e}"),
        }
        // Workers time out while the broker is gone, too.
        state.tick();
        backoff.wait().await;
    }
}

struct Worker {
    last_seen: Instant,
    online: bool,
    /// Tasks executing, from the last heartbeat.
    active: i64,
}

/// What `task-sent` and `task-received` said of a task, for its later events.
struct Task {
    name: String,
    /// From `task-sent` only.
    queue: Option<String>,
    /// When it was queued (`task-sent`'s timestamp), unless it was sent with an ETA or
    /// countdown: its wait is then the schedule's, not the workers'.
    sent_at: Option<f64>,
}

/// Task events that arrived before their task's `task-sent`. The producer publishes
/// `task-sent` after the task itself, so a quick worker's `task-received` (and even
/// `task-started`) can come first; held for up to [`HOLD`], they are counted under the
/// queue `task-sent` names (and the wait measured) once it comes, or as `unknown` after.
#[derive(Default)]
struct Held {
    by_task: HashMap<String, Vec<(TaskState, Value)>>,
    /// Tasks in the order their first held event arrived.
    arrivals: VecDeque<(Instant, String)>,
}

impl Held {
    fn hold(&mut self, uuid: &str, state: TaskState, event: &Value) {
        let events = self.by_task.entry(uuid.to_owned()).or_default();
        if events.is_empty() {
            self.arrivals.push_back((Instant::now(), uuid.to_owned()));
        }
        events.push((state, event.clone()));
    }

    /// The held events of `uuid`, in arrival order.
    fn release(&mut self, uuid: &str) -> Vec<(TaskState, Value)> {
        self.by_task.remove(uuid).unwrap_or_default()
    }

    /// The events of tasks held for [`HOLD`] already, or past [`MAX_HELD`] tasks.
    fn expired(&mut self) -> Vec<(String, Vec<(TaskState, Value)>)> {
        let mut out = Vec::new();
        while let Some((since, _)) = self.arrivals.front() {
            if since.elapsed() < HOLD && self.arrivals.len() <= MAX_HELD {
                break;
            }
            let (_, uuid) = self.arrivals.pop_front().expect("front exists");
            if let Some(events) = self.by_task.remove(&uuid) {
                out.push((uuid, events));
            }
        }
        out
    }
}

/// Label values admitted up to a cap; later ones become `other`, counted as overflow.
struct Capped {
    known: HashSet<String>,
    max: usize,
    label: &'static str,
}

impl Capped {
    fn new(max: usize, label: &'static str) -> Capped {
        Capped { known: HashSet::new(), max, label }
    }

    fn admit(&mut self, value: String, target: &str, overflow: &IntCounterVec) -> String {
        if self.known.contains(&value) {
            return value;
        }
        if self.known.len() < self.max && value.len() <= MAX_LABEL_BYTES {
            self.known.insert(value.clone());
            return value;
        }
        overflow.with_label_values(&[target, self.label]).inc();
        OTHER.to_owned()
    }
}

/// The longest task name, queue, exception type or hostname kept as a label value; a
/// longer one counts as past its cap (a hostile producer must not make the series huge).
const MAX_LABEL_BYTES: usize = 256;

/// Everything the consumer remembers between events. Public so the fuzz targets can hand
/// it arbitrary events.
pub struct EventState {
    settings: EventSettings,
    metrics: Arc<EventMetrics>,
    tasks: HashMap<String, Task>,
    remembered: VecDeque<String>,
    held: Held,
    /// Whether producers send `task-sent` (Celery's `task_send_sent_event`, off by
    /// default): only then is it worth holding events for one.
    sent_events_seen: bool,
    names: Capped,
    queues: Capped,
    exceptions: Capped,
    workers: HashMap<String, Worker>,
}

impl EventState {
    pub fn new(settings: EventSettings, metrics: Arc<EventMetrics>) -> EventState {
        EventState {
            names: Capped::new(settings.max_task_names, "name"),
            queues: Capped::new(settings.max_task_names, "queue_name"),
            exceptions: Capped::new(MAX_EXCEPTIONS, "exception"),
            settings,
            metrics,
            tasks: HashMap::new(),
            remembered: VecDeque::new(),
            held: Held::default(),
            sent_events_seen: false,
            workers: HashMap::new(),
        }
    }

    /// One event, or a list of them (Kombu's `task.multi` batches).
    pub fn handle_events(&mut self, events: &Value) {
        match events {
            Value::Array(events) => events.iter().for_each(|e| self.handle_event(e)),
            event => self.handle_event(event),
        }
    }

    fn handle_event(&mut self, event: &Value) {
        let Some(kind) = event.get("type").and_then(Value::as_str) else { return };
        if let Some(state) = kind.strip_prefix("task-") {
            self.handle_task(state, event);
        } else if let Some(what) = kind.strip_prefix("worker-") {
            let Some(hostname) = event.get("hostname").and_then(Value::as_str) else { return };
            self.handle_worker(what, hostname, event);
        }
    }

    fn handle_task(&mut self, state: &str, event: &Value) {
        let Some(state) = TaskState::from_event(state) else { return };
        let uuid = event.get("uuid").and_then(Value::as_str).unwrap_or_default();
        let text = |field: &str| text_field(event, field);
        if state == TaskState::Sent {
            self.sent_events_seen = true;
            if let Some(name) = text("name") {
                let queue = text("queue").or_else(|| text("routing_key")).unwrap_or(UNKNOWN);
                let scheduled = event.get("eta").is_some_and(|eta| !eta.is_null());
                let sent_at = event.get("timestamp").and_then(Value::as_f64).filter(|_| !scheduled);
                self.remember(uuid, Task { name: name.to_owned(), queue: Some(queue.to_owned()), sent_at });
            }
            self.count(state, uuid, event);
            for (state, held) in self.held.release(uuid) {
                self.count(state, uuid, &held);
            }
            return;
        }
        let sent = self.tasks.get(uuid).is_some_and(|t| t.queue.is_some());
        if self.sent_events_seen && !sent && !uuid.is_empty() {
            self.held.hold(uuid, state, event);
            self.count_expired();
            return;
        }
        self.count(state, uuid, event);
    }

    /// Counts held events whose `task-sent` did not come in time.
    fn count_expired(&mut self) {
        for (uuid, events) in self.held.expired() {
            for (state, event) in events {
                self.count(state, &uuid, &event);
            }
        }
    }

    /// Counts one task event under the name and queue known for its task, and observes
    /// its runtime or queue wait.
    fn count(&mut self, state: TaskState, uuid: &str, event: &Value) {
        let text = |field: &str| text_field(event, field);
        if let Some(name) = text("name")
            && !self.tasks.contains_key(uuid)
        {
            self.remember(uuid, Task { name: name.to_owned(), queue: None, sent_at: None });
        }
        let known = self.tasks.get(uuid);
        let name = text("name").or(known.map(|t| t.name.as_str())).unwrap_or(UNKNOWN).to_owned();
        let queue = known.and_then(|t| t.queue.as_deref()).unwrap_or(UNKNOWN).to_owned();
        let waited = match (state, known.and_then(|t| t.sent_at), event.get("timestamp").and_then(Value::as_f64)) {
            (TaskState::Started, Some(sent), Some(started)) => Some((started - sent).max(0.0)),
            _ => None,
        };
        let (target, overflow) = (self.settings.target.as_str(), &self.metrics.overflow);
        let name = self.names.admit(name, target, overflow);
        let queue = self.queues.admit(queue, target, overflow);
        let labels = [target, name.as_str(), queue.as_str()];
        match state {
            TaskState::Failed => {
                let exception = self.exceptions.admit(exception_type(text("exception")), target, overflow);
                self.metrics.tasks[state as usize].with_label_values(&[target, &name, &queue, &exception]).inc();
            }
            _ => self.metrics.tasks[state as usize].with_label_values(&labels).inc(),
        }
        if state == TaskState::Succeeded
            && let Some(runtime) = event.get("runtime").and_then(Value::as_f64)
        {
            self.metrics.runtime.with_label_values(&labels).observe(runtime);
        }
        if let Some(waited) = waited {
            self.metrics.queue_wait.with_label_values(&labels).observe(waited);
        }
    }

    /// Once a second: worker liveness, and held events that waited long enough.
    pub fn tick(&mut self) {
        self.refresh_workers();
        self.count_expired();
    }

    /// Remembers `task` under `uuid` (a later `task-sent` of the same id, a retry,
    /// replaces it), forgetting the oldest past [`REMEMBERED_TASKS`].
    fn remember(&mut self, uuid: &str, task: Task) {
        if uuid.is_empty() {
            return;
        }
        if self.tasks.insert(uuid.to_owned(), task).is_some() {
            return;
        }
        self.remembered.push_back(uuid.to_owned());
        if self.remembered.len() > REMEMBERED_TASKS
            && let Some(oldest) = self.remembered.pop_front()
        {
            self.tasks.remove(&oldest);
        }
    }

    fn handle_worker(&mut self, what: &str, hostname: &str, event: &Value) {
        let online = match what {
            "online" | "heartbeat" => true,
            "offline" => false,
            _ => return,
        };
        let known = self.workers.contains_key(hostname);
        if !known && (self.workers.len() >= self.settings.max_workers || hostname.len() > MAX_LABEL_BYTES) {
            self.metrics.overflow.with_label_values(&[&self.settings.target, "hostname"]).inc();
            return;
        }
        let active = event.get("active").and_then(Value::as_i64).unwrap_or(0);
        self.workers.insert(hostname.to_owned(), Worker { last_seen: Instant::now(), online, active });
        self.refresh_workers();
    }

    /// Sets `celery_worker_up` and `celery_worker_tasks_active` from the heartbeats
    /// seen, drops workers gone for longer than `forget_after`, and counts the live ones.
    fn refresh_workers(&mut self) {
        let target = self.settings.target.as_str();
        let (timeout, forget) = (self.settings.worker_timeout, self.settings.forget_after);
        let (worker_up, tasks_active) = (&self.metrics.worker_up, &self.metrics.tasks_active);
        self.workers.retain(|hostname, w| {
            let quiet = w.last_seen.elapsed();
            let forgotten = quiet > forget;
            if forgotten {
                let _ = worker_up.remove_label_values(&[target, hostname]);
                let _ = tasks_active.remove_label_values(&[target, hostname]);
            } else {
                let up = w.online && quiet < timeout;
                worker_up.with_label_values(&[target, hostname]).set(i64::from(up));
                tasks_active.with_label_values(&[target, hostname]).set(if up { w.active } else { 0 });
            }
            !forgotten
        });
        let active = self.workers.values().filter(|w| w.online && w.last_seen.elapsed() < timeout).count();
        self.metrics.active_workers.with_label_values(&[target]).set(active as i64);
    }
}

/// A non-empty string field of an event.
fn text_field<'a>(event: &'a Value, field: &str) -> Option<&'a str> {
    event.get(field).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The exception's type from a `task-failed` event's `exception` (its repr, such as
/// `RuntimeError('on purpose')`): the text before the parenthesis, when it reads as a
/// (dotted) class name.
fn exception_type(exception: Option<&str>) -> String {
    let name = exception.map_or("", |e| e.split('(').next().unwrap_or_default().trim());
    let is_class = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if is_class { name.to_owned() } else { UNKNOWN.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands `event` to `state` as the Redis transport would: in a Kombu envelope.
    fn feed(state: &mut EventState, event: &Value) {
        state.handle_events(&redis::decode_envelope(&envelope(event)).expect("decodes"));
    }

    fn envelope(event: &Value) -> Vec<u8> {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        serde_json::json!({"body": body, "content-encoding": "utf-8", "content-type": "application/json",
            "headers": {}, "properties": {"body_encoding": "base64", "delivery_tag": "x"}})
        .to_string()
        .into_bytes()
    }

    fn state(max_task_names: usize) -> (EventState, Arc<EventMetrics>) {
        let shared = Shared::new();
        let metrics = Arc::new(EventMetrics::register(&shared, &[1.0, 10.0]));
        let settings = EventSettings {
            target: "broker".into(),
            url: "redis://127.0.0.1/0".into(),
            tls: None,
            key_prefix: String::new(),
            master_name: None,
            max_task_names,
            max_workers: 2,
            worker_timeout: Duration::from_secs(10),
            forget_after: Duration::from_secs(600),
        };
        (EventState::new(settings, metrics.clone()), metrics)
    }

    #[test]
    fn names_later_events_by_task_id_and_caps_names() {
        let (mut state, metrics) = state(1);
        let events = [
            serde_json::json!({"type": "task-received", "uuid": "1", "name": "app.add", "hostname": "w"}),
            serde_json::json!({"type": "task-started", "uuid": "1", "hostname": "w"}),
            serde_json::json!({"type": "task-succeeded", "uuid": "1", "runtime": 0.02, "hostname": "w"}),
            serde_json::json!({"type": "task-received", "uuid": "2", "name": "app.other", "hostname": "w"}),
            serde_json::json!({"type": "task-failed", "uuid": "3", "hostname": "w", "exception": "KeyError('x')"}),
        ];
        events.iter().for_each(|e| feed(&mut state, e));
        let count = |name: &str, s: &str| {
            let state = TaskState::from_event(s).unwrap();
            metrics.tasks[state as usize].with_label_values(&["broker", name, UNKNOWN]).get()
        };
        assert_eq!(
            (count("app.add", "received"), count("app.add", "started"), count("app.add", "succeeded")),
            (1, 1, 1)
        );
        assert_eq!(count("other", "received"), 1, "the second name is past the cap of one");
        let failed = &metrics.tasks[TaskState::Failed as usize];
        assert_eq!(
            failed.with_label_values(&["broker", "other", UNKNOWN, "KeyError"]).get(),
            1,
            "an unnamed task is `unknown`, which is also past the cap"
        );
        assert_eq!(metrics.runtime.with_label_values(&["broker", "app.add", UNKNOWN]).get_sample_count(), 1);
        assert_eq!(metrics.overflow.with_label_values(&["broker", "name"]).get(), 2);
        assert_eq!(
            metrics.queue_wait.with_label_values(&["broker", "app.add", UNKNOWN]).get_sample_count(),
            0,
            "no task-sent, no wait"
        );
    }

    #[test]
    fn queue_wait_runs_from_sent_to_started_and_leaves_out_scheduled_tasks() {
        let (mut state, metrics) = state(10);
        let events = [
            serde_json::json!({"type": "task-sent", "uuid": "1", "name": "app.add", "queue": "ticks", "timestamp": 100.0, "eta": null}),
            serde_json::json!({"type": "task-received", "uuid": "1", "name": "app.add", "timestamp": 101.0}),
            serde_json::json!({"type": "task-started", "uuid": "1", "timestamp": 102.5}),
            serde_json::json!({"type": "task-sent", "uuid": "2", "name": "app.add", "queue": "ticks", "timestamp": 100.0, "eta": "2026-12-02T00:00:00+00:00"}),
            serde_json::json!({"type": "task-started", "uuid": "2", "timestamp": 160.0}),
            serde_json::json!({"type": "task-failed", "uuid": "2", "exception": "<not a repr>"}),
        ];
        events.iter().for_each(|e| feed(&mut state, e));
        let wait = metrics.queue_wait.with_label_values(&["broker", "app.add", "ticks"]);
        assert_eq!((wait.get_sample_count(), wait.get_sample_sum()), (1, 2.5), "the countdown task is left out");
        let started = &metrics.tasks[TaskState::Started as usize];
        assert_eq!(started.with_label_values(&["broker", "app.add", "ticks"]).get(), 2, "the queue follows the id");
        let failed = &metrics.tasks[TaskState::Failed as usize];
        assert_eq!(failed.with_label_values(&["broker", "app.add", "ticks", UNKNOWN]).get(), 1);
    }

    #[test]
    fn events_before_their_task_sent_are_held_for_it() {
        let (mut state, metrics) = state(10);
        let events = [
            serde_json::json!({"type": "task-sent", "uuid": "0", "name": "app.add", "queue": "ticks", "timestamp": 99.0}),
            serde_json::json!({"type": "task-received", "uuid": "1", "name": "app.add", "timestamp": 101.0}),
            serde_json::json!({"type": "task-started", "uuid": "1", "timestamp": 102.0}),
        ];
        events.iter().for_each(|e| feed(&mut state, e));
        let started = metrics.tasks[TaskState::Started as usize].with_label_values(&["broker", "app.add", "ticks"]);
        assert_eq!(started.get(), 0, "held for task 1's task-sent");
        let sent = serde_json::json!({"type": "task-sent", "uuid": "1", "name": "app.add", "queue": "ticks", "timestamp": 100.0});
        feed(&mut state, &sent);
        assert_eq!(started.get(), 1, "counted under the queue task-sent names");
        let wait = metrics.queue_wait.with_label_values(&["broker", "app.add", "ticks"]);
        assert_eq!((wait.get_sample_count(), wait.get_sample_sum()), (1, 2.0));

        // A task whose task-sent never comes is counted as `unknown` after the hold.
        feed(&mut state, &serde_json::json!({"type": "task-started", "uuid": "2", "name": "app.add"}));
        let unknown = metrics.tasks[TaskState::Started as usize].with_label_values(&["broker", "app.add", UNKNOWN]);
        assert_eq!(unknown.get(), 0);
        std::thread::sleep(HOLD);
        state.tick();
        assert_eq!(unknown.get(), 1);
    }

    #[test]
    fn workers_go_down_when_they_say_so_and_are_capped() {
        let (mut state, metrics) = state(10);
        for host in ["a@h", "b@h", "c@h"] {
            let beat = serde_json::json!({"type": "worker-heartbeat", "hostname": host, "active": 3});
            feed(&mut state, &beat);
        }
        assert_eq!(metrics.active_workers.with_label_values(&["broker"]).get(), 2, "the third worker is past the cap");
        assert_eq!(metrics.tasks_active.with_label_values(&["broker", "a@h"]).get(), 3);
        feed(&mut state, &serde_json::json!({"type": "worker-offline", "hostname": "a@h"}));
        assert_eq!(metrics.worker_up.with_label_values(&["broker", "a@h"]).get(), 0);
        assert_eq!(
            metrics.tasks_active.with_label_values(&["broker", "a@h"]).get(),
            0,
            "a worker that is down runs nothing"
        );
        assert_eq!(metrics.active_workers.with_label_values(&["broker"]).get(), 1);
    }
}
