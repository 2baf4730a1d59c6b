//! A Redis pub/sub observer's connection: SUBSCRIBE to the channel (PSUBSCRIBE to a
//! pattern) and match every message; reconnect after a lost connection until the run
//! ends.

use super::{ObserveConfig, Receiver};
use futures_util::StreamExt;
use std::time::Duration;

/// Runs one connection, starting after `delay` (the observer's connect rate).
pub(super) async fn receive(config: ObserveConfig, mut receiver: Receiver, delay: Duration) {
    tokio::time::sleep(delay).await;
    let channel = config.channel.clone().unwrap_or_default();
    let pattern = channel.contains(['*', '?', '[']);
    let client = match tickwatch_common::redis::client(&config.url, config.tls.as_ref()) {
        Ok(client) => client,
        Err(e) => return receiver.stats().failed(e),
    };
    while !receiver.cancelled() {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await.map_err(|e| e.to_string())?;
            match pattern {
                true => pubsub.psubscribe(&channel).await,
                false => pubsub.subscribe(&channel).await,
            }
            .map_err(|e| format!("subscribe {channel}: {e}"))?;
            Ok(pubsub)
        };
        let Some(mut pubsub) = receiver.connect(subscribed).await else { continue };
        let mut messages = pubsub.on_message();
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                _ = receiver.cancel.changed() => return receiver.stats().closed(),
            };
            match next {
                Some(message) => receiver.message(message.get_payload_bytes()),
                None => break,
            }
            if let Some(delay) = receiver.read_delay {
                tokio::time::sleep(delay).await;
            }
        }
        receiver.stats().disconnected("eof");
        receiver.pause().await;
    }
}
