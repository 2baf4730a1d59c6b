//! `tickwatch-loadgen record`: captures a live WebSocket feed, with each message's arrival
//! time, to a replay file.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tickwatch_feed::codec::JsonlWriter;
use tokio_tungstenite::tungstenite::Message;

/// Records up to `count` messages or for `limit`, whichever comes first; returns how many.
pub async fn record(
    url: &str,
    subscribe: Option<&str>,
    count: u64,
    limit: Duration,
    out: &Path,
) -> Result<u64, String> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", tickwatch_common::redact::redact_url(url)))?;
    if let Some(text) = subscribe {
        socket.send(Message::text(text)).await.map_err(|e| format!("cannot subscribe: {e}"))?;
    }
    let mut writer = JsonlWriter::<serde_json::Value>::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let deadline = Instant::now() + limit;
    let mut recorded = 0;
    while recorded < count {
        let message = match tokio::time::timeout_at(deadline.into(), socket.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Err(e))) => return Err(format!("the feed failed after {recorded} messages: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        let text = match message {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => continue,
        };
        let arrival_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        writer
            .write(&json!({"arrival_ns": arrival_ns, "message": text}))
            .map_err(|e| format!("{}: {e}", out.display()))?;
        recorded += 1;
    }
    writer.finish().map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(recorded)
}
