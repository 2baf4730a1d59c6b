//! The loops that feed a [`Pipeline`]: each owns its pipeline, reconnects after failures
//! with capped backoff, keeps `data_feed_connected` true to its state, and judges
//! staleness about once a second whatever the source does.

use super::FeedSource;
use super::pipeline::Pipeline;
use crate::config::Config;
use crate::probe::mongodb::MongoTarget;
use crate::probe::websocket::monitor::MonitorState;
use crate::shared::Shared;
use futures_util::StreamExt;
use mongodb::bson::{Bson, Document, doc};
use prometheus::{IntCounter, IntGauge};
use redis::AsyncConnectionConfig;
use redis::streams::{StreamReadOptions, StreamReadReply};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickwatch_common::backoff::Backoff;
use tickwatch_common::mongodb::MongoTls;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::{Receiver, Sender};
use tokio_tungstenite::tungstenite::Bytes;

const TICK: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

fn now_ns() -> i64 {
    (crate::epoch::now_ms() * 1e6) as i64
}

/// What a source loop needs besides its pipeline.
#[derive(Clone)]
pub struct SourceContext {
    pub feed: String,
    pub connected: IntGauge,
    /// Messages lost because the feed fell behind (WebSocket taps).
    pub lagged: IntCounter,
}

/// A feed's source with its references resolved and its client built, so whatever can
/// fail before connecting fails when the feed is built, never later in a background task.
#[derive(Clone)]
pub enum Source {
    Pubsub {
        client: redis::Client,
        channel: String,
    },
    Stream {
        client: redis::Client,
        stream: String,
        group: Option<String>,
        consumer: String,
        field: String,
    },
    Tap {
        sender: Sender<Bytes>,
        monitor: Arc<MonitorState>,
        /// The subscription made before the monitor started, for the first run.
        first: Arc<Mutex<Option<Receiver<Bytes>>>>,
    },
    Mongodb {
        uri: String,
        tls: Option<MongoTls>,
        db: String,
        collection: String,
        time_field: String,
        poll_interval: Duration,
    },
}

impl Source {
    /// Builds the source `source` names: its Redis client, the monitor whose tap it
    /// reads, the MongoDB target it polls.
    pub fn resolve(source: &FeedSource, config: &Config, shared: &Shared) -> Result<Source, String> {
        Ok(match source {
            FeedSource::RedisPubsub { url, channel, tls_config } => Source::Pubsub {
                client: tickwatch_common::redis::client(url, tls_config.as_ref())?,
                channel: channel.clone(),
            },
            FeedSource::RedisStream { url, stream, group, consumer, field, tls_config } => Source::Stream {
                client: tickwatch_common::redis::client(url, tls_config.as_ref())?,
                stream: stream.clone(),
                group: group.clone(),
                consumer: consumer.clone().unwrap_or_else(default_consumer),
                field: field.clone(),
            },
            FeedSource::Websocket { target } => {
                let taps = shared.taps.lock().expect("not poisoned");
                let tap = taps.get(target).ok_or_else(|| format!("no monitor-mode [[websocket]] target `{target}`"))?;
                let first = tap.first.lock().expect("not poisoned").take();
                Source::Tap {
                    sender: tap.sender.clone(),
                    monitor: Arc::clone(&tap.monitor),
                    first: Arc::new(Mutex::new(first)),
                }
            }
            FeedSource::Mongodb { target, db, collection, time_field, poll_interval } => {
                let mongodb = config
                    .targets::<MongoTarget>()
                    .iter()
                    .find(|m| &m.name == target)
                    .ok_or_else(|| format!("no [[mongodb]] target `{target}`"))?;
                Source::Mongodb {
                    uri: mongodb.uri.clone(),
                    tls: mongodb.tls_config.as_ref().map(MongoTls::new).transpose()?,
                    db: db.clone(),
                    collection: collection.clone(),
                    time_field: time_field.clone(),
                    poll_interval: *poll_interval,
                }
            }
        })
    }
}

/// A consumer name no other replica has: the host name (in Kubernetes, the pod name)
/// and the process id (1 in every container, so never alone).
pub fn default_consumer() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tickwatch".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Runs the source of one feed until stopped, reconnecting on its own.
pub async fn run(source: Source, pipeline: &mut Pipeline, ctx: &SourceContext) {
    match source {
        Source::Pubsub { client, channel } => pubsub(&client, &channel, pipeline, ctx).await,
        Source::Stream { client, stream, group, consumer, field } => {
            let group = group.as_deref().map(|g| (g, consumer.as_str()));
            redis_stream(&client, &stream, group, &field, pipeline, ctx).await
        }
        Source::Tap { sender, monitor, first } => {
            let receiver = first.lock().expect("not poisoned").take().unwrap_or_else(|| sender.subscribe());
            websocket(receiver, &monitor, pipeline, ctx).await
        }
        Source::Mongodb { uri, tls, db, collection, time_field, poll_interval } => {
            let poll = Poll { db: &db, collection: &collection, time_field: &time_field, interval: poll_interval };
            mongodb(&uri, tls.as_ref(), poll, pipeline, ctx).await
        }
    }
}

/// Waits before reconnecting, judging staleness first: a feed whose source is down goes stale.
async fn backoff_sleep(backoff: &mut Backoff, pipeline: &mut Pipeline) {
    pipeline.tick(now_ns());
    backoff.wait().await;
}

async fn pubsub(client: &redis::Client, channel: &str, pipeline: &mut Pipeline, ctx: &SourceContext) {
    let pattern = channel.contains(['*', '?', '[']);
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            let subscribed = if pattern { pubsub.psubscribe(channel).await } else { pubsub.subscribe(channel).await };
            if subscribed.is_ok() {
                ctx.connected.set(1);
                backoff.reset();
                let mut messages = pubsub.on_message();
                let mut tick = tokio::time::interval(TICK);
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(m) => pipeline.handle(m.get_payload_bytes(), now_ns()),
                            None => break,
                        },
                        _ = tick.tick() => pipeline.tick(now_ns()),
                    }
                }
                ctx.connected.set(0);
                tracing::warn!(feed = ctx.feed, "pub/sub connection lost; reconnecting");
            }
        }
        backoff_sleep(&mut backoff, pipeline).await;
    }
}

/// `group` is (group, consumer name) for XREADGROUP.
async fn redis_stream(
    client: &redis::Client,
    stream: &str,
    group: Option<(&str, &str)>,
    field: &str,
    pipeline: &mut Pipeline,
    ctx: &SourceContext,
) {
    // Blocking reads wait up to a second; the driver's own response timeout must not cut them.
    let config = AsyncConnectionConfig::new().set_response_timeout(None);
    let mut last_id = "$".to_owned();
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    loop {
        if let Ok(mut con) = client.get_multiplexed_async_connection_with_config(&config).await {
            if let Some((group, _)) = group {
                // Creating an existing group answers BUSYGROUP: fine.
                let _: Result<(), _> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(stream)
                    .arg(group)
                    .arg("$")
                    .arg("MKSTREAM")
                    .query_async(&mut con)
                    .await;
            }
            ctx.connected.set(1);
            backoff.reset();
            let mut last_tick = std::time::Instant::now();
            loop {
                let options = StreamReadOptions::default().count(1000).block(1000);
                let (command, options, id) = match group {
                    Some((g, consumer)) => ("XREADGROUP", options.group(g, consumer), ">"),
                    None => ("XREAD", options, last_id.as_str()),
                };
                let reply: Result<Option<StreamReadReply>, _> =
                    redis::cmd(command).arg(&options).arg("STREAMS").arg(stream).arg(id).query_async(&mut con).await;
                let reply = match reply {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(feed = ctx.feed, "stream read failed: {e}; reconnecting");
                        break;
                    }
                };
                let arrival = now_ns();
                let mut acked = Vec::new();
                for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                    match entry.map.get(field) {
                        Some(redis::Value::BulkString(bytes)) => pipeline.handle(bytes, arrival),
                        _ => pipeline.handle(b"", arrival),
                    }
                    if group.is_some() {
                        acked.push(entry.id.clone());
                    }
                    last_id = entry.id;
                }
                if let (Some((g, _)), false) = (group, acked.is_empty()) {
                    let _: Result<i64, _> =
                        redis::cmd("XACK").arg(stream).arg(g).arg(&acked).query_async(&mut con).await;
                }
                if last_tick.elapsed() >= TICK {
                    pipeline.tick(now_ns());
                    last_tick = std::time::Instant::now();
                }
            }
            ctx.connected.set(0);
        }
        backoff_sleep(&mut backoff, pipeline).await;
    }
}

/// Reads a monitor's tap; the feed is connected while the monitor is.
async fn websocket(
    mut receiver: Receiver<Bytes>,
    monitor: &MonitorState,
    pipeline: &mut Pipeline,
    ctx: &SourceContext,
) {
    ctx.connected.set(monitor.connected.get());
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            message = receiver.recv() => match message {
                Ok(bytes) => pipeline.handle(&bytes, now_ns()),
                Err(RecvError::Lagged(lost)) => ctx.lagged.inc_by(lost),
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                ctx.connected.set(monitor.connected.get());
                pipeline.tick(now_ns());
            }
        }
    }
    ctx.connected.set(0);
}

/// What a MongoDB feed polls, and how often.
struct Poll<'a> {
    db: &'a str,
    collection: &'a str,
    time_field: &'a str,
    interval: Duration,
}

async fn mongodb(uri: &str, tls: Option<&MongoTls>, poll: Poll<'_>, pipeline: &mut Pipeline, ctx: &SourceContext) {
    let Poll { db, collection, time_field, interval: poll_interval } = poll;
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    let mut last: Option<Bson> = None;
    loop {
        let client = match crate::probe::mongodb::connect(uri, tls).await {
            Ok(c) => c,
            Err(_) => {
                backoff_sleep(&mut backoff, pipeline).await;
                continue;
            }
        };
        let docs = client.database(db).collection::<Document>(collection);
        loop {
            let filter = match &last {
                Some(t) => doc! { time_field: { "$gt": t.clone() } },
                None => doc! {},
            };
            let cursor = docs.find(filter).sort(doc! { time_field: 1 }).limit(1000).await;
            let batch: Vec<Document> = match cursor {
                Ok(c) => c.filter_map(|d| async move { d.ok() }).collect().await,
                Err(e) => {
                    tracing::warn!(feed = ctx.feed, "poll failed: {}", e.kind);
                    break;
                }
            };
            ctx.connected.set(1);
            backoff.reset();
            let arrival = now_ns();
            for mut document in batch {
                if let Some(t) = document.get(time_field) {
                    last = Some(t.clone());
                }
                document.remove("_id");
                let json = Bson::Document(document).into_relaxed_extjson();
                pipeline.handle(json.to_string().as_bytes(), arrival);
            }
            pipeline.tick(now_ns());
            tokio::time::sleep(poll_interval).await;
        }
        ctx.connected.set(0);
        backoff_sleep(&mut backoff, pipeline).await;
    }
}
