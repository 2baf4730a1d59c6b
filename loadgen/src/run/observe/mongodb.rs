//! A MongoDB observer's connection: poll the collection for documents whose time field is
//! past the newest one seen (as the exporter's MongoDB feed does), oldest first, and match
//! each document's `symbol` and `seq`. A document written later with an older time than
//! one already read is not seen (counted lost): poll by a field that grows with each write.

use super::{ObserveConfig, Receiver};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use std::time::{Duration, Instant};
use tickwatch_common::mongodb::MongoTls;

/// Documents read per poll at the most (the rest come with the next poll at once).
const POLL_LIMIT: i64 = 10_000;

/// Runs one poller, starting after `delay` (the observer's connect rate).
pub(super) async fn receive(config: ObserveConfig, mut receiver: Receiver, delay: Duration) {
    tokio::time::sleep(delay).await;
    let (db, collection) = (config.db.clone().unwrap_or_default(), config.collection.clone().unwrap_or_default());
    let time_field = config.time_field.clone();
    let began = Instant::now();
    let tls = match config.tls.as_ref().map(MongoTls::new).transpose() {
        Ok(tls) => tls,
        Err(e) => return receiver.stats().failed(format!("tls: {e}")),
    };
    let name = "tickwatch-loadgen-observer";
    let client = match tickwatch_common::mongodb::client(&config.url, name, config.deadline, tls.as_ref()).await {
        Ok(client) => client,
        Err(e) => return receiver.stats().failed(e.to_string()),
    };
    let docs = client.database(&db).collection::<Document>(&collection);
    // Start after the newest document there is now.
    let newest = docs.find_one(doc! {}).sort(doc! { &time_field: -1 }).await;
    let mut last: Option<Bson> = match newest {
        Ok(found) => found.and_then(|d| d.get(&time_field).cloned()),
        Err(e) => return receiver.stats().failed(format!("{db}.{collection}: {e}")),
    };
    receiver.stats().connected(began.elapsed(), true);
    // Since when polls fail (the driver reconnects by itself): the outage is the reconnect's
    // connect time.
    let mut down_since: Option<Instant> = None;
    while !receiver.cancelled() {
        let filter = match &last {
            Some(t) => doc! { &time_field: { "$gt": t.clone() } },
            None => doc! {},
        };
        let polled: Result<Vec<Document>, _> =
            async { docs.find(filter).sort(doc! { &time_field: 1 }).limit(POLL_LIMIT).await?.try_collect().await }
                .await;
        let batch = match polled {
            Ok(batch) => batch,
            Err(e) => {
                if down_since.is_none() {
                    receiver.stats().disconnected("error");
                    down_since = Some(Instant::now());
                }
                receiver.stats().failed(format!("poll: {e}"));
                receiver.wait(config.poll_interval).await;
                continue;
            }
        };
        if let Some(since) = down_since.take() {
            receiver.stats().connected(since.elapsed(), false);
        }
        let full = batch.len() as i64 == POLL_LIMIT;
        for document in batch {
            if let Some(t) = document.get(&time_field) {
                last = Some(t.clone());
            }
            let symbol = document.get_str("symbol").unwrap_or_default();
            match document.get("seq").and_then(as_u64) {
                Some(seq) => receiver.key(symbol, seq),
                None => receiver.key("", 0),
            }
            if let Some(delay) = receiver.read_delay {
                tokio::time::sleep(delay).await;
            }
        }
        if !full {
            receiver.wait(config.poll_interval).await;
        }
    }
    if down_since.is_none() {
        receiver.stats().closed();
    }
}

/// A sequence number as BSON holds it (the sink writes JSON numbers: Int32, Int64 or Double).
fn as_u64(value: &Bson) -> Option<u64> {
    match value {
        Bson::Int32(n) => u64::try_from(*n).ok(),
        Bson::Int64(n) => u64::try_from(*n).ok(),
        Bson::Double(n) if n.fract() == 0.0 && *n >= 0.0 => Some(*n as u64),
        _ => None,
    }
}
