//! Celery events on a Redis broker (or the master Sentinels name): Kombu publishes them on
//! pub/sub channels `<global_keyprefix>/<db>.celeryev/<routing key>`, each message a Kombu
//! envelope whose body (base64, usually) is one event or a list of them.

use super::{EventSettings, Subscription};
use base64::Engine;
use futures_util::StreamExt;
use serde_json::Value;

/// A subscription to every event channel of the broker (for a `sentinel://` broker, of
/// the master the Sentinels name now).
pub(super) async fn subscribe(settings: EventSettings) -> Result<Subscription, String> {
    let url = match &settings.master_name {
        Some(name) => tickwatch_common::redis::sentinel_master(&settings.url, name).await?,
        None => settings.url.clone(),
    };
    let client = tickwatch_common::redis::client(&url, settings.tls.as_ref())?;
    let db = tickwatch_common::redis::database(&url);
    let pattern = format!("{}/{db}.celeryev/*", tickwatch_common::redis::glob_escape(&settings.key_prefix));
    let mut pubsub = client.get_async_pubsub().await.map_err(|e| format!("broker unreachable: {e}"))?;
    pubsub.psubscribe(&pattern).await.map_err(|e| e.to_string())?;
    let events = pubsub.into_on_message().map(|m| Ok(decode_envelope(m.get_payload_bytes()))).boxed();
    Ok(Subscription { events, _keep: Box::new(()), source: pattern })
}

/// The event (or list of events) inside a Kombu message envelope.
pub fn decode_envelope(payload: &[u8]) -> Option<Value> {
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
