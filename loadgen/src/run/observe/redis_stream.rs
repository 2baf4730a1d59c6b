//! A Redis stream observer's connection: XREAD the stream from its end at the first
//! connect (then from the last id read, so a reconnect misses nothing still in the
//! stream) and match the message in each entry's field. With a `group`, each connection
//! is a consumer of it (XREADGROUP, XACK after matching): the group shares the stream.

use super::{ObserveConfig, Receiver};
use redis::AsyncConnectionConfig;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use std::time::Duration;

/// Runs connection `index`, starting after `delay` (the observer's connect rate).
pub(super) async fn receive(config: ObserveConfig, mut receiver: Receiver, delay: Duration, index: usize) {
    tokio::time::sleep(delay).await;
    let (stream, field) = (config.key.clone().unwrap_or_default(), config.field.clone());
    let consumer = format!("tickwatch-loadgen-{}-{index}", config.name);
    let client = match tickwatch_common::redis::client(&config.url, config.tls.as_ref()) {
        Ok(client) => client,
        Err(e) => return receiver.stats().failed(e),
    };
    // Blocking reads wait up to a second; the driver's own response timeout must not cut them.
    let connection_config = AsyncConnectionConfig::new().set_response_timeout(None);
    // The last id read; empty until the first connection has found the stream's end.
    let mut last_id = String::new();
    while !receiver.cancelled() {
        let joined = async {
            let mut con = client
                .get_multiplexed_async_connection_with_config(&connection_config)
                .await
                .map_err(|e| e.to_string())?;
            match &config.group {
                // The group starts at the stream's end; one that exists already (BUSYGROUP)
                // is joined where it is.
                Some(group) => {
                    let created: Result<(), _> = redis::cmd("XGROUP")
                        .arg("CREATE")
                        .arg(&stream)
                        .arg(group)
                        .arg("$")
                        .arg("MKSTREAM")
                        .query_async(&mut con)
                        .await;
                    if let Err(e) = created
                        && e.code() != Some("BUSYGROUP")
                    {
                        return Err(format!("XGROUP CREATE {stream} {group}: {e}"));
                    }
                }
                // Start at the stream's end as it is now (its newest id; 0-0 when empty), so
                // what the run adds next is read even when it comes before the first read.
                None if last_id.is_empty() => {
                    let newest: StreamRangeReply = redis::cmd("XREVRANGE")
                        .arg(&stream)
                        .arg("+")
                        .arg("-")
                        .arg("COUNT")
                        .arg(1)
                        .query_async(&mut con)
                        .await
                        .map_err(|e| format!("XREVRANGE {stream}: {e}"))?;
                    last_id = newest.ids.first().map_or_else(|| "0-0".to_owned(), |e| e.id.clone());
                }
                None => {}
            }
            Ok(con)
        };
        let Some(mut con) = receiver.connect(joined).await else { continue };
        loop {
            let options = StreamReadOptions::default().count(1000).block(1000);
            let (name, options, from) = match &config.group {
                Some(group) => ("XREADGROUP", options.group(group, &consumer), ">"),
                None => ("XREAD", options, last_id.as_str()),
            };
            let mut command = redis::cmd(name);
            command.arg(&options).arg("STREAMS").arg(&stream).arg(from);
            let read = command.query_async(&mut con);
            let reply: Option<StreamReadReply> = tokio::select! {
                reply = read => match reply {
                    Ok(reply) => reply,
                    Err(_) => break,
                },
                _ = receiver.cancel.changed() => return receiver.stats().closed(),
            };
            let mut read = Vec::new();
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                match entry.map.get(&field) {
                    Some(redis::Value::BulkString(bytes)) => receiver.message(bytes),
                    _ => receiver.message(b""),
                }
                read.push(entry.id);
                if let Some(delay) = receiver.read_delay {
                    tokio::time::sleep(delay).await;
                }
            }
            if let (Some(group), false) = (&config.group, read.is_empty()) {
                let acked: Result<i64, _> =
                    redis::cmd("XACK").arg(&stream).arg(group).arg(&read).query_async(&mut con).await;
                if acked.is_err() {
                    break;
                }
            }
            if let Some(last) = read.pop() {
                last_id = last;
            }
        }
        receiver.stats().disconnected("error");
        receiver.pause().await;
    }
}
