//! The Redis probe: one `INFO ALL`, a PING round trip, stream lengths and last-entry ages
//! for streams matching patterns, and subscribers of channels matching patterns. All
//! per-key reads are pipelined; key discovery is cached between scrapes.

mod config;
pub mod info;

pub use config::RedisTarget;

use crate::config::Config;
use crate::discovery::{Cached, Discovered};
use crate::exposition::{Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::redis_conn::{self, pipelined};
use crate::shared::Shared;
use redis::Value;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::Instant;

families! {
    pub UP: gauge "redis_up", "Whether the Redis server answered the last probe.";
    PING: gauge "redis_ping_duration_seconds", "Round trip of a PING during the last probe.";
    STREAM_LENGTH: gauge "redis_stream_length", "Entries in the stream.";
    STREAM_AGE: gauge "redis_stream_last_entry_age_seconds", "Seconds since the time in the ID of the stream's newest entry (absent for an empty stream).";
    CHANNEL_SUBSCRIBERS: gauge "redis_pubsub_channel_subscribers", "Subscribers of the channel (pattern subscriptions not included).";
}

/// Builds one probe per `[[redis]]` target.
pub fn build(targets: &[RedisTarget], config: &Config, _shared: &Arc<Shared>) -> Vec<Result<Arc<dyn Probe>, String>> {
    targets.iter().map(|t| RedisProbe::new(t, config).map(|p| Arc::new(p) as Arc<dyn Probe>)).collect()
}

/// One Redis server.
pub struct RedisProbe {
    name: String,
    db: i64,
    connection: ConnectionManager,
    streams: Vec<String>,
    channels: Vec<String>,
    max_keys: usize,
    stream_keys: Cached,
}

impl RedisProbe {
    pub fn new(target: &RedisTarget, config: &Config) -> Result<RedisProbe, String> {
        Ok(RedisProbe {
            name: target.name.clone(),
            db: tickwatch_common::redis::database(&target.url),
            connection: redis_conn::connect(&target.url, target.tls_config.as_ref())?,
            streams: target.streams.clone(),
            channels: target.channels.clone(),
            max_keys: config.defaults.max_keys,
            stream_keys: Cached::new(config.defaults.discovery_interval),
        })
    }

    async fn read(&self) -> ProbeResult {
        let mut con = self.connection.clone();
        let mut out = Samples::new();
        let t = ("target", self.name.as_str());

        let start = Instant::now();
        let _: String = redis::cmd("PING").query_async(&mut con).await?;
        out.add(&PING, &[t], start.elapsed().as_secs_f64());

        let info: String = redis::cmd("INFO").arg("ALL").query_async(&mut con).await?;
        info::parse(&info, &self.name, self.db, &mut out);

        if !self.streams.is_empty() {
            self.read_streams(&mut con, &mut out).await?;
        }
        if !self.channels.is_empty() {
            self.read_channels(&mut con, &mut out).await?;
        }
        out.add(&UP, &[t], 1.0);
        Ok(out)
    }

    async fn read_streams(&self, con: &mut ConnectionManager, out: &mut Samples) -> Result<(), ProbeError> {
        let found = self
            .stream_keys
            .get(|| async {
                let mut con = con.clone();
                let (keys, truncated) =
                    redis_conn::scan(&mut con, &self.streams, Some("stream"), self.max_keys).await?;
                Ok::<_, ProbeError>(Discovered { keys, truncated })
            })
            .await?;
        found.report("redis", &self.name, "streams", out);
        let keys = &found.keys;
        let command = |position: usize| {
            let key = &keys[position / 3];
            match position % 3 {
                0 => redis::cmd("EXISTS").arg(key).to_owned(),
                1 => redis::cmd("XLEN").arg(key).to_owned(),
                _ => redis::cmd("XREVRANGE").arg(key).arg("+").arg("-").arg("COUNT").arg(1).to_owned(),
            }
        };
        let mut replies = Vec::with_capacity(keys.len() * 3);
        pipelined(con, keys.len() * 3, command, |_, v| replies.push(v)).await?;
        let now_ms = crate::epoch::now_ms();
        for (key, reply) in found.keys.iter().zip(replies.chunks(3)) {
            // A stream deleted since discovery is absent, not empty.
            if !matches!(reply[0], Value::Int(1)) {
                continue;
            }
            let labels = [("target", self.name.as_str()), ("stream", key.as_str())];
            if let Value::Int(length) = reply[1] {
                out.add(&STREAM_LENGTH, &labels, length as f64);
            }
            if let Some(ms) = newest_entry_ms(&reply[2]) {
                out.add(&STREAM_AGE, &labels, ((now_ms - ms) / 1000.0).max(0.0));
            }
        }
        Ok(())
    }

    async fn read_channels(&self, con: &mut ConnectionManager, out: &mut Samples) -> Result<(), ProbeError> {
        // PUBSUB CHANNELS is cheap (it walks the server's channel table, not the
        // keyspace), so channels are found on every scrape rather than cached.
        let mut channels = std::collections::BTreeSet::new();
        for pattern in &self.channels {
            let names: Vec<String> = redis::cmd("PUBSUB").arg("CHANNELS").arg(pattern).query_async(con).await?;
            channels.extend(names);
        }
        let truncated = channels.len() > self.max_keys;
        let found = Discovered { keys: channels.into_iter().take(self.max_keys).collect(), truncated };
        found.report("redis", &self.name, "channels", out);
        for chunk in found.keys.chunks(1000) {
            let counts: Vec<(String, i64)> = redis::cmd("PUBSUB").arg("NUMSUB").arg(chunk).query_async(con).await?;
            for (channel, subscribers) in counts {
                out.add(&CHANNEL_SUBSCRIBERS, &[("target", &self.name), ("channel", &channel)], subscribers as f64);
            }
        }
        Ok(())
    }
}

/// The millisecond time in the ID of the only entry of an `XREVRANGE ... COUNT 1` reply.
fn newest_entry_ms(reply: &Value) -> Option<f64> {
    let Value::Array(entries) = reply else { return None };
    let Value::Array(entry) = entries.first()? else { return None };
    let id: String = redis::from_redis_value(entry.first()?.clone()).ok()?;
    id.split('-').next()?.parse().ok()
}

impl Probe for RedisProbe {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(self.read())
    }
}
