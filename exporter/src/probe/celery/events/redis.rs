//! Celery events on a Redis broker (or the master Sentinels name): Kombu publishes them on
//! pub/sub channels `<global_keyprefix>/<db>.celeryev/<routing key>`, each message a Kombu
//! envelope.

use super::{EventMetrics, EventSettings, EventState};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tickwatch_common::backoff::Backoff;

/// Consumes the target's events until the consumer is stopped, reconnecting on its own.
pub(super) async fn run(settings: EventSettings, metrics: Arc<EventMetrics>) {
    let connected = metrics.connected.with_label_values(&[&settings.target]);
    connected.set(0);
    let mut state = EventState::new(settings.clone(), metrics.clone());
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match subscribe(&settings).await {
            Ok((mut pubsub, pattern)) => {
                connected.set(1);
                backoff.reset();
                tracing::info!(target = settings.target, pattern, "consuming celery events");
                let mut messages = pubsub.on_message();
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(m) => state.handle_message(m.get_payload_bytes()),
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

/// A subscription to every event channel of the broker (for a `sentinel://` broker, of
/// the master the Sentinels name now), and its pattern.
async fn subscribe(settings: &EventSettings) -> Result<(redis::aio::PubSub, String), String> {
    let url = match &settings.master_name {
        Some(name) => tickwatch_common::redis::sentinel_master(&settings.url, name).await?,
        None => settings.url.clone(),
    };
    let client = tickwatch_common::redis::client(&url, settings.tls.as_ref())?;
    let db = tickwatch_common::redis::database(&url);
    let pattern = format!("{}/{db}.celeryev/*", tickwatch_common::redis::glob_escape(&settings.key_prefix));
    let mut pubsub = client.get_async_pubsub().await.map_err(|e| format!("broker unreachable: {e}"))?;
    pubsub.psubscribe(&pattern).await.map_err(|e| e.to_string())?;
    Ok((pubsub, pattern))
}
