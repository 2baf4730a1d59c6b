//! The Redis probe: one `INFO ALL`, a PING round trip, the slowlog and per-command latency
//! histograms, stream lengths, last-entry ages and consumer groups for streams matching
//! patterns, subscribers of channels matching patterns, and on a Sentinel the health of
//! the masters it watches. All per-key reads are pipelined; key discovery is cached
//! between scrapes.

mod config;
pub mod info;

pub use config::RedisTarget;

use crate::config::Config;
use crate::discovery::{Cached, Discovered};
use crate::exposition::{Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::redis_conn::{self, pipelined};
use crate::shared::Shared;
use info::Info;
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
    LATENCIES: histogram "redis_commands_latencies_usec", "The server's latency histogram of the command, in microseconds (LATENCY HISTOGRAM).";
    SLOWLOG_LENGTH: gauge "redis_slowlog_length", "Entries in the slowlog.";
    SLOWLOG_LAST_ID: gauge "redis_slowlog_last_id", "ID of the newest slowlog entry.";
    LAST_SLOW_EXECUTION: gauge "redis_last_slow_execution_duration_seconds", "Execution time of the newest slowlog entry.";
    GROUP_CONSUMERS: gauge "redis_stream_group_consumers", "Consumers of the stream's consumer group.";
    GROUP_PENDING: gauge "redis_stream_group_messages_pending", "Entries delivered to the group and not yet acknowledged.";
    GROUP_LAST_DELIVERED: gauge "redis_stream_group_last_delivered_id", "Millisecond time in the ID of the last entry delivered to the group.";
    GROUP_ENTRIES_READ: gauge "redis_stream_group_entries_read", "Entries the group has read (Redis 7).";
    GROUP_LAG: gauge "redis_stream_group_lag", "Entries not yet delivered to the group (Redis 7; absent when Redis cannot tell).";
    CONSUMER_PENDING: gauge "redis_stream_group_consumer_messages_pending", "Entries delivered to the consumer and not yet acknowledged.";
    CONSUMER_IDLE: gauge "redis_stream_group_consumer_idle_seconds", "Seconds since the consumer last read or claimed.";
    SENTINEL_OK_SLAVES: gauge "redis_sentinel_master_ok_slaves", "On a Sentinel: replicas of the master that are neither down nor disconnected.";
    SENTINEL_OK_SENTINELS: gauge "redis_sentinel_master_ok_sentinels", "On a Sentinel: Sentinels of the master that are neither down nor disconnected, itself included.";
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
    stream_consumers: bool,
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
            stream_consumers: target.stream_consumers,
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
        let parsed = info::parse(&info, &self.name, self.db, &mut out);
        if parsed.sentinel {
            self.read_sentinel(&mut con, &parsed, &mut out).await?;
        } else {
            self.read_diagnostics(&mut con, &parsed, &mut out).await?;
        }

        if !self.streams.is_empty() {
            self.read_streams(&mut con, &mut out).await?;
        }
        if !self.channels.is_empty() {
            self.read_channels(&mut con, &mut out).await?;
        }
        out.add(&UP, &[t], 1.0);
        Ok(out)
    }

    /// The slowlog's length and newest entry, and (Redis 7) the per-command latency
    /// histograms, in one round trip. A command the server refuses (an ACL without
    /// `+slowlog` or `+latency`) leaves its families out; the rest of the probe stands.
    async fn read_diagnostics(
        &self,
        con: &mut ConnectionManager,
        info: &Info<'_>,
        out: &mut Samples,
    ) -> Result<(), ProbeError> {
        let with_histograms = info.major_version >= 7;
        let command = |position: usize| match position {
            0 => redis::cmd("SLOWLOG").arg("LEN").to_owned(),
            1 => redis::cmd("SLOWLOG").arg("GET").arg(1).to_owned(),
            _ => redis::cmd("LATENCY").arg("HISTOGRAM").to_owned(),
        };
        let t = ("target", self.name.as_str());
        pipelined(con, if with_histograms { 3 } else { 2 }, command, |position, reply| match position {
            0 => {
                if let Value::Int(length) = reply {
                    out.add(&SLOWLOG_LENGTH, &[t], length as f64);
                }
            }
            1 => {
                let Value::Array(newest) = reply else { return };
                let Some(Value::Array(entry)) = newest.first() else { return };
                if let (Some(Value::Int(id)), Some(Value::Int(usec))) = (entry.first(), entry.get(2)) {
                    out.add(&SLOWLOG_LAST_ID, &[t], *id as f64);
                    out.add(&LAST_SLOW_EXECUTION, &[t], *usec as f64 / 1e6);
                }
            }
            _ => latency_histograms(&reply, &self.name, info, out),
        })
        .await?;
        Ok(())
    }

    /// On a Sentinel: how many replicas and Sentinels of each master are healthy, from
    /// `SENTINEL REPLICAS` and `SENTINEL SENTINELS` (INFO counts them, healthy or not).
    async fn read_sentinel(
        &self,
        con: &mut ConnectionManager,
        info: &Info<'_>,
        out: &mut Samples,
    ) -> Result<(), ProbeError> {
        let masters = &info.sentinel_masters;
        let command = |position: usize| {
            let kind = if position % 2 == 0 { "REPLICAS" } else { "SENTINELS" };
            redis::cmd("SENTINEL").arg(kind).arg(masters[position / 2].0).to_owned()
        };
        pipelined(con, masters.len() * 2, command, |position, reply| {
            let (name, address) = masters[position / 2];
            let healthy = entries(&reply)
                .iter()
                .filter(|peer| {
                    field(peer, "flags").and_then(text).is_some_and(|flags| {
                        !flags.split(',').any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
                    })
                })
                .count();
            let labels = [("target", self.name.as_str()), ("master_name", name), ("master_address", address)];
            match position % 2 {
                0 => out.add(&SENTINEL_OK_SLAVES, &labels, healthy as f64),
                _ => out.add(&SENTINEL_OK_SENTINELS, &labels, healthy as f64 + 1.0),
            }
        })
        .await?;
        Ok(())
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
            let key = &keys[position / 4];
            match position % 4 {
                0 => redis::cmd("EXISTS").arg(key).to_owned(),
                1 => redis::cmd("XLEN").arg(key).to_owned(),
                2 => redis::cmd("XREVRANGE").arg(key).arg("+").arg("-").arg("COUNT").arg(1).to_owned(),
                _ => redis::cmd("XINFO").arg("GROUPS").arg(key).to_owned(),
            }
        };
        let mut replies = Vec::with_capacity(keys.len() * 4);
        pipelined(con, keys.len() * 4, command, |_, v| replies.push(v)).await?;
        let now_ms = crate::epoch::now_ms();
        let mut groups = Vec::new();
        for (key, reply) in found.keys.iter().zip(replies.chunks(4)) {
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
            for group in entries(&reply[3]) {
                let Some(name) = field(&group, "name").and_then(text) else { continue };
                let labels = [labels[0], labels[1], ("group", name.as_str())];
                let gauges = [
                    (&GROUP_CONSUMERS, "consumers"),
                    (&GROUP_PENDING, "pending"),
                    (&GROUP_ENTRIES_READ, "entries-read"),
                    (&GROUP_LAG, "lag"),
                ];
                for (family, name) in gauges {
                    if let Some(Value::Int(v)) = field(&group, name) {
                        out.add(family, &labels, *v as f64);
                    }
                }
                if let Some(ms) = field(&group, "last-delivered-id").and_then(text).and_then(|id| id_ms(&id)) {
                    out.add(&GROUP_LAST_DELIVERED, &labels, ms);
                }
                if self.stream_consumers {
                    groups.push((key.as_str(), name));
                }
            }
        }
        if !groups.is_empty() {
            self.read_consumers(con, &groups, out).await?;
        }
        Ok(())
    }

    /// `XINFO CONSUMERS` of each `(stream, group)`: per-consumer pending entries and idle
    /// time, at most `max_keys` consumers in all (a group of short-lived consumers can
    /// hold thousands of names).
    async fn read_consumers(
        &self,
        con: &mut ConnectionManager,
        groups: &[(&str, String)],
        out: &mut Samples,
    ) -> Result<(), ProbeError> {
        let command = |i: usize| redis::cmd("XINFO").arg("CONSUMERS").arg(groups[i].0).arg(&groups[i].1).to_owned();
        let mut left = self.max_keys;
        pipelined(con, groups.len(), command, |i, reply| {
            let (stream, group) = (groups[i].0, groups[i].1.as_str());
            for consumer in entries(&reply) {
                let Some(name) = field(&consumer, "name").and_then(text) else { continue };
                if left == 0 {
                    return;
                }
                left -= 1;
                let labels =
                    [("target", self.name.as_str()), ("stream", stream), ("group", group), ("consumer", &name)];
                if let Some(Value::Int(pending)) = field(&consumer, "pending") {
                    out.add(&CONSUMER_PENDING, &labels, *pending as f64);
                }
                if let Some(Value::Int(idle_ms)) = field(&consumer, "idle") {
                    out.add(&CONSUMER_IDLE, &labels, *idle_ms as f64 / 1000.0);
                }
            }
        })
        .await?;
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
    id_ms(&text(entry.first()?)?)
}

/// `LATENCY HISTOGRAM`'s reply as one histogram per command: `[cmd, {calls, histogram_usec:
/// {bound: cumulative count, ...}}, ...]`, with `+Inf` at the calls and the sum from
/// `# Commandstats` (the reply has none).
fn latency_histograms(reply: &Value, target: &str, info: &Info<'_>, out: &mut Samples) {
    for (cmd, detail) in pairs(reply) {
        let (Some(cmd), detail) = (text(cmd), pairs(detail)) else { continue };
        let Some(Value::Int(calls)) = field(&detail, "calls") else { continue };
        let labels = [("target", target), ("cmd", cmd.as_str())];
        for (bound, count) in field(&detail, "histogram_usec").map(pairs).unwrap_or_default() {
            if let (Value::Int(bound), Value::Int(count)) = (bound, count) {
                out.add_part(&LATENCIES, "_bucket", &[labels[0], labels[1], ("le", &bound.to_string())], *count as f64);
            }
        }
        out.add_part(&LATENCIES, "_bucket", &[labels[0], labels[1], ("le", "+Inf")], *calls as f64);
        let usec = info.commands.get(cmd.as_str()).map_or(0.0, |c| c.usec);
        out.add_part(&LATENCIES, "_sum", &labels, usec);
        out.add_part(&LATENCIES, "_count", &labels, *calls as f64);
    }
}

/// `1700000000000-3` → 1700000000000.
fn id_ms(id: &str) -> Option<f64> {
    id.split('-').next()?.parse().ok()
}

/// A bulk or simple string reply as text.
fn text(value: &Value) -> Option<String> {
    redis::from_redis_value_ref(value).ok()
}

/// The entries of a reply that lists records (`XINFO GROUPS`, `SENTINEL REPLICAS`): an
/// array of records, each a map (RESP3) or a flat array of names and values (RESP2).
/// An error reply has none.
fn entries(reply: &Value) -> Vec<Vec<(&Value, &Value)>> {
    let Value::Array(records) = reply else { return Vec::new() };
    records.iter().map(pairs).collect()
}

/// A map reply, or a flat `[name, value, name, value, ...]` array, as pairs.
fn pairs(value: &Value) -> Vec<(&Value, &Value)> {
    match value {
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        Value::Array(flat) => flat.chunks_exact(2).map(|kv| (&kv[0], &kv[1])).collect(),
        _ => Vec::new(),
    }
}

/// The value named `name` in a record from [`pairs`].
fn field<'a>(record: &[(&Value, &'a Value)], name: &str) -> Option<&'a Value> {
    let named = |k: &Value| match k {
        Value::BulkString(bytes) => bytes == name.as_bytes(),
        Value::SimpleString(s) => s == name,
        _ => false,
    };
    record.iter().find(|(k, _)| named(k)).map(|(_, v)| *v)
}

impl Probe for RedisProbe {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(self.read())
    }
}
