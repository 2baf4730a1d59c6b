use super::{SendFuture, Sink, check_scheme, redis_connection, require};
use crate::run::source::Outgoing;
use redis::aio::ConnectionManager;
use serde::Deserialize;
use tickwatch_common::default;

/// `kind = "redis"`: PUBLISH to channels or XADD to streams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSinkConfig {
    /// `redis://...` or `rediss://...`.
    pub url: Option<String>,
    /// `xadd` (the default) or `publish`.
    #[serde(default)]
    pub mode: RedisMode,
    /// Stream or channel name; `{symbol}` expands per message.
    pub key: Option<String>,
    /// xadd: approximate MAXLEN of the stream. Default 1,000,000.
    #[serde(default = "default::u64::<1_000_000>")]
    pub maxlen: u64,
}

/// How the Redis sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    #[default]
    Xadd,
    Publish,
}

impl RedisSinkConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        require(problems, key, "Redis", "url", self.url.is_some());
        require(problems, key, "Redis", "key", self.key.is_some());
        check_scheme(problems, key, self.url.as_deref(), &["redis", "rediss"]);
    }
}

/// PUBLISH or XADD (with an approximate MAXLEN), one pipeline per batch.
pub struct RedisSink {
    connection: ConnectionManager,
    mode: RedisMode,
    key: String,
    maxlen: u64,
}

impl RedisSink {
    pub fn new(config: &RedisSinkConfig) -> Result<RedisSink, String> {
        Ok(RedisSink {
            connection: redis_connection(config.url.as_deref().unwrap_or_default())?,
            mode: config.mode,
            key: config.key.clone().unwrap_or_default(),
            maxlen: config.maxlen,
        })
    }
}

impl Sink for RedisSink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            for m in batch {
                let key = self.key.replace("{symbol}", &m.key);
                match self.mode {
                    RedisMode::Publish => pipe.cmd("PUBLISH").arg(key).arg(&m.payload).ignore(),
                    RedisMode::Xadd => pipe
                        .cmd("XADD")
                        .arg(key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(self.maxlen)
                        .arg("*")
                        .arg("data")
                        .arg(&m.payload)
                        .ignore(),
                };
            }
            pipe.exec_async(&mut self.connection).await.map_err(|e| e.to_string())
        })
    }
}
