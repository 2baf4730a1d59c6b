//! Consumes the Celery event stream of a Redis broker in the background: task counters by
//! name and outcome, a runtime histogram, and worker liveness from heartbeats.
//!
//! Kombu publishes events on channels `/<db>.celeryev/<routing key>` (task events on
//! `task.multi` and `task.sent`, worker events on `worker.*`); each message is a Kombu
//! envelope whose base64 body is one event (or a list of them). Only `task-sent` and
//! `task-received` carry the task name, so names are remembered by task id, in a bounded
//! table. Task names and worker hostnames are capped; what goes over a cap is counted.

use super::CeleryTarget;
use crate::shared::Shared;
use base64::Engine;
use futures_util::FutureExt;
use futures_util::StreamExt;
use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwatch_common::backoff::Backoff;
use tickwatch_common::tls::TlsConfig;

/// Task ids remembered to name later events; the oldest are forgotten first.
const REMEMBERED_TASKS: usize = 100_000;
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

    fn from_event(state: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == state)
    }
}

/// The metrics every event consumer updates, registered once.
pub struct EventMetrics {
    /// `celery_task_<state>_total` for each task state, in the order of [`TaskState::ALL`].
    tasks: Vec<IntCounterVec>,
    runtime: HistogramVec,
    worker_up: IntGaugeVec,
    active_workers: IntGaugeVec,
    connected: IntGaugeVec,
    overflow: IntCounterVec,
}

impl EventMetrics {
    /// Creates and registers the event families.
    pub fn register(shared: &Shared) -> EventMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| shared.counter_vec(name, help, labels);
        let gauge = |name: &str, help: &str, labels: &[&str]| shared.int_gauge_vec(name, help, labels);
        let runtime = shared.histogram_vec(
            "celery_task_runtime_seconds",
            "Task run time reported by task-succeeded events.",
            vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0],
            &["target", "name"],
        );
        EventMetrics {
            tasks: TaskState::ALL
                .iter()
                .map(|state| {
                    let state = state.as_str();
                    counter(
                        &format!("celery_task_{state}_total"),
                        &format!("Tasks {state}, by task name."),
                        &["target", "name"],
                    )
                })
                .collect(),
            runtime,
            worker_up: gauge(
                "celery_worker_up",
                "Whether the worker sent a heartbeat within worker_timeout.",
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
                "Events whose task name or hostname went past the configured cap and was counted as `other` or dropped.",
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
            max_task_names: t.max_task_names,
            max_workers: t.max_workers,
            worker_timeout: t.worker_timeout,
            forget_after: t.worker_forget_after,
        }
    }
}

/// Starts the consumer, supervised: it reconnects on its own, and is started again if it
/// ever ends.
pub fn spawn(settings: EventSettings, metrics: Arc<EventMetrics>, shared: &Shared) {
    let target = settings.target.clone();
    let start = move || run(settings.clone(), Arc::clone(&metrics)).boxed();
    shared.consumers.spawn("celery", &target, Box::new(start));
}

async fn run(settings: EventSettings, metrics: Arc<EventMetrics>) {
    let connected = metrics.connected.with_label_values(&[&settings.target]);
    connected.set(0);
    let mut state = EventState::new(settings.clone(), metrics.clone());
    let client = match tickwatch_common::redis::client(&settings.url, settings.tls.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target = settings.target, "celery event consumer not started: {e}");
            return;
        }
    };
    let channel_pattern = format!("/{}.celeryev/*", tickwatch_common::redis::database(&settings.url));
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.psubscribe(&channel_pattern).await {
                Ok(()) => {
                    connected.set(1);
                    backoff.reset();
                    tracing::info!(target = settings.target, pattern = channel_pattern, "consuming celery events");
                    let mut messages = pubsub.on_message();
                    let mut tick = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(m) => state.handle_message(m.get_payload_bytes()),
                                None => break,
                            },
                            _ = tick.tick() => state.refresh_workers(),
                        }
                    }
                    connected.set(0);
                    tracing::warn!(target = settings.target, "celery event stream closed; reconnecting");
                }
                Err(e) => tracing::warn!(target = settings.target, "cannot subscribe to celery events: {e}"),
            },
            Err(e) => tracing::debug!(target = settings.target, "celery broker unreachable: {e}"),
        }
        // Workers time out while the broker is gone, too.
        state.refresh_workers();
        backoff.wait().await;
    }
}

struct Worker {
    last_seen: Instant,
    online: bool,
}

/// Everything the consumer remembers between events.
struct EventState {
    settings: EventSettings,
    metrics: Arc<EventMetrics>,
    names_by_task: HashMap<String, String>,
    remembered: VecDeque<String>,
    known_names: HashSet<String>,
    workers: HashMap<String, Worker>,
}

impl EventState {
    fn new(settings: EventSettings, metrics: Arc<EventMetrics>) -> EventState {
        EventState {
            settings,
            metrics,
            names_by_task: HashMap::new(),
            remembered: VecDeque::new(),
            known_names: HashSet::new(),
            workers: HashMap::new(),
        }
    }

    fn handle_message(&mut self, payload: &[u8]) {
        match decode_envelope(payload) {
            Some(Value::Array(events)) => events.iter().for_each(|e| self.handle_event(e)),
            Some(event) => self.handle_event(&event),
            None => tracing::debug!(target = self.settings.target, "ignored an undecodable event message"),
        }
    }

    fn handle_event(&mut self, event: &Value) {
        let Some(kind) = event.get("type").and_then(Value::as_str) else { return };
        if let Some(state) = kind.strip_prefix("task-") {
            self.handle_task(state, event);
        } else if let Some(what) = kind.strip_prefix("worker-") {
            let Some(hostname) = event.get("hostname").and_then(Value::as_str) else { return };
            self.handle_worker(what, hostname);
        }
    }

    fn handle_task(&mut self, state: &str, event: &Value) {
        let Some(state) = TaskState::from_event(state) else { return };
        let uuid = event.get("uuid").and_then(Value::as_str).unwrap_or_default();
        let name = match event.get("name").and_then(Value::as_str) {
            Some(name) => {
                self.remember(uuid, name);
                name.to_owned()
            }
            None => self.names_by_task.get(uuid).cloned().unwrap_or_else(|| UNKNOWN.to_owned()),
        };
        let name = self.capped_name(name);
        let target = self.settings.target.as_str();
        self.metrics.tasks[state as usize].with_label_values(&[target, &name]).inc();
        if state == TaskState::Succeeded
            && let Some(runtime) = event.get("runtime").and_then(Value::as_f64)
        {
            self.metrics.runtime.with_label_values(&[target, &name]).observe(runtime);
        }
    }

    fn remember(&mut self, uuid: &str, name: &str) {
        if uuid.is_empty() || self.names_by_task.contains_key(uuid) {
            return;
        }
        if self.remembered.len() == REMEMBERED_TASKS
            && let Some(oldest) = self.remembered.pop_front()
        {
            self.names_by_task.remove(&oldest);
        }
        self.names_by_task.insert(uuid.to_owned(), name.to_owned());
        self.remembered.push_back(uuid.to_owned());
    }

    fn capped_name(&mut self, name: String) -> String {
        if self.known_names.contains(&name) {
            return name;
        }
        if self.known_names.len() < self.settings.max_task_names {
            self.known_names.insert(name.clone());
            return name;
        }
        self.metrics.overflow.with_label_values(&[&self.settings.target, "name"]).inc();
        OTHER.to_owned()
    }

    fn handle_worker(&mut self, what: &str, hostname: &str) {
        let online = match what {
            "online" | "heartbeat" => true,
            "offline" => false,
            _ => return,
        };
        if !self.workers.contains_key(hostname) && self.workers.len() >= self.settings.max_workers {
            self.metrics.overflow.with_label_values(&[&self.settings.target, "hostname"]).inc();
            return;
        }
        self.workers.insert(hostname.to_owned(), Worker { last_seen: Instant::now(), online });
        self.refresh_workers();
    }

    /// Sets `celery_worker_up` from the heartbeats seen, drops workers gone for longer
    /// than `forget_after`, and counts the live ones.
    fn refresh_workers(&mut self) {
        let target = self.settings.target.as_str();
        let (timeout, forget) = (self.settings.worker_timeout, self.settings.forget_after);
        let worker_up = &self.metrics.worker_up;
        self.workers.retain(|hostname, w| {
            let quiet = w.last_seen.elapsed();
            let forgotten = quiet > forget;
            if forgotten {
                let _ = worker_up.remove_label_values(&[target, hostname]);
            } else {
                let up = w.online && quiet < timeout;
                worker_up.with_label_values(&[target, hostname]).set(i64::from(up));
            }
            !forgotten
        });
        let active = self.workers.values().filter(|w| w.online && w.last_seen.elapsed() < timeout).count();
        self.metrics.active_workers.with_label_values(&[target]).set(active as i64);
    }
}

/// The event (or list of events) inside a Kombu message envelope.
fn decode_envelope(payload: &[u8]) -> Option<Value> {
    let envelope: Value = serde_json::from_slice(payload).ok()?;
    let body = envelope.get("body")?;
    let encoding = envelope.pointer("/properties/body_encoding").and_then(Value::as_str);
    match (body, encoding) {
        (Value::String(b64), Some("base64")) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            serde_json::from_slice(&bytes).ok()
        }
        (Value::String(text), _) => serde_json::from_str(text).ok(),
        (other, _) => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(event: &Value) -> Vec<u8> {
        let body = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        serde_json::json!({"body": body, "content-encoding": "utf-8", "content-type": "application/json",
            "headers": {}, "properties": {"body_encoding": "base64", "delivery_tag": "x"}})
        .to_string()
        .into_bytes()
    }

    fn state(max_task_names: usize) -> (EventState, Arc<EventMetrics>) {
        let shared = Shared::new();
        let metrics = Arc::new(EventMetrics::register(&shared));
        let settings = EventSettings {
            target: "broker".into(),
            url: "redis://127.0.0.1/0".into(),
            tls: None,
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
            serde_json::json!({"type": "task-failed", "uuid": "3", "hostname": "w"}),
        ];
        events.iter().for_each(|e| state.handle_message(&envelope(e)));
        let count = |name: &str, s: &str| {
            metrics.tasks[TaskState::from_event(s).unwrap() as usize].with_label_values(&["broker", name]).get()
        };
        assert_eq!(
            (count("app.add", "received"), count("app.add", "started"), count("app.add", "succeeded")),
            (1, 1, 1)
        );
        assert_eq!(count("other", "received"), 1, "the second name is past the cap of one");
        assert_eq!(count("other", "failed"), 1, "an unnamed task is `unknown`, which is also past the cap");
        assert_eq!(metrics.runtime.with_label_values(&["broker", "app.add"]).get_sample_count(), 1);
        assert_eq!(metrics.overflow.with_label_values(&["broker", "name"]).get(), 2);
    }

    #[test]
    fn workers_go_down_when_they_say_so_and_are_capped() {
        let (mut state, metrics) = state(10);
        for host in ["a@h", "b@h", "c@h"] {
            state.handle_message(&envelope(&serde_json::json!({"type": "worker-heartbeat", "hostname": host})));
        }
        assert_eq!(metrics.active_workers.with_label_values(&["broker"]).get(), 2, "the third worker is past the cap");
        state.handle_message(&envelope(&serde_json::json!({"type": "worker-offline", "hostname": "a@h"})));
        assert_eq!(metrics.worker_up.with_label_values(&["broker", "a@h"]).get(), 0);
        assert_eq!(metrics.active_workers.with_label_values(&["broker"]).get(), 1);
    }
}
