use super::{SendFuture, Sink, redis_connection};
use crate::run::source::Outgoing;
use crate::scenario::{RedisMode, SinkConfig};
use redis::aio::ConnectionManager;

/// PUBLISH or XADD (with an approximate MAXLEN), one pipeline per batch.
pub struct RedisSink {
    connection: ConnectionManager,
    mode: RedisMode,
    key: String,
    maxlen: u64,
}

impl RedisSink {
    pub fn new(config: &SinkConfig) -> Result<RedisSink, String> {
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
