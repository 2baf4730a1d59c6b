//! Celery events as the brokers deliver them (a Kombu envelope from Redis pub/sub, a bare
//! JSON body from RabbitMQ), one message per line. One consumer's state lives across runs,
//! as it does in the exporter: its caps (4 task names, 3 workers, the remembered tasks)
//! bound the series, so the registry need not be built anew for every run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tickwatch_exporter::probe::celery::{EventMetrics, EventSettings, EventState, decode_redis_envelope};
use tickwatch_exporter::shared::Shared;

static CONSUMER: LazyLock<Mutex<(Shared, EventState)>> = LazyLock::new(|| {
    let shared = Shared::new();
    let metrics = Arc::new(EventMetrics::register(&shared, &[0.1, 1.0, 10.0]));
    let settings = EventSettings {
        target: "broker".into(),
        url: "redis://127.0.0.1/0".into(),
        tls: None,
        key_prefix: String::new(),
        master_name: None,
        max_task_names: 4,
        max_workers: 3,
        worker_timeout: Duration::from_secs(10),
        forget_after: Duration::from_secs(600),
    };
    Mutex::new((shared, EventState::new(settings, metrics)))
});

fuzz_target!(|data: &[u8]| {
    let mut consumer = CONSUMER.lock().unwrap();
    let (shared, state) = &mut *consumer;
    for message in data.split(|b| *b == b'\n') {
        if let Some(events) = decode_redis_envelope(message) {
            state.handle_events(&events);
        }
        if let Ok(events) = serde_json::from_slice(message) {
            state.handle_events(&events);
        }
    }
    state.tick();
    if data.first() == Some(&b'#') {
        let _ =
            prometheus::TextEncoder::new().encode_to_string(&shared.registry.gather()).expect("the registry encodes");
    }
});
