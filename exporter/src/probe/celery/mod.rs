//! The Celery probe: queue lengths at scrape time (Redis broker: every priority
//! sub-queue counted, queues optionally discovered from Kombu's bindings; RabbitMQ:
//! message and consumer counts), and, with `events = true`, a background consumer of the
//! Celery event stream (either broker) for task counters, runtimes, queue waits and
//! worker liveness.

mod amqp_broker;
mod config;
mod events;
mod redis_broker;

pub use config::CeleryTarget;
pub use events::{EventMetrics, EventSettings, EventState, TaskState, decode_redis_envelope};

use crate::config::Config;
use crate::exposition::families;
use crate::probe::Probe;
use crate::shared::Shared;
use std::sync::Arc;

families! {
    QUEUE_LENGTH: gauge "celery_queue_length", "Tasks waiting in the queue, every priority sub-queue included.";
}

/// Builds one queue probe per `[[celery]]` target and starts the event consumers.
pub fn build(targets: &[CeleryTarget], config: &Config, shared: &Arc<Shared>) -> Vec<Result<Arc<dyn Probe>, String>> {
    let buckets = &config.defaults.celery_queue_wait_buckets;
    let event_metrics = targets.iter().any(|t| t.events).then(|| Arc::new(EventMetrics::register(shared, buckets)));
    targets
        .iter()
        .map(|target| {
            if let (true, Some(metrics)) = (target.events, &event_metrics) {
                events::spawn(EventSettings::from_target(target), Arc::clone(metrics), shared);
            }
            if target.broker.starts_with("amqp") {
                amqp_broker::AmqpQueues::new(target).map(|p| Arc::new(p) as Arc<dyn Probe>)
            } else {
                redis_broker::RedisQueues::new(target, config).map(|p| Arc::new(p) as Arc<dyn Probe>)
            }
        })
        .collect()
}
