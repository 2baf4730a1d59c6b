use super::resp::{Commands, Pipeline};
use super::{SendFuture, Sink, check_scheme, check_tls, require};
use crate::run::source::Outgoing;
use serde::Deserialize;
use tickwatch_common::default;
use tickwatch_common::tls::TlsConfig;

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
    /// rediss: `{ ca_file, cert_file, key_file, insecure_skip_verify }`, for a Redis behind
    /// a private CA or one that asks for a client certificate (without it the public roots
    /// are trusted).
    pub tls: Option<TlsConfig>,
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
        check_tls(problems, key, self.url.as_deref(), self.tls.as_ref());
    }
}

/// PUBLISH or XADD (with an approximate MAXLEN), one pipeline per batch.
pub struct RedisSink {
    pipeline: Pipeline,
    mode: RedisMode,
    key: KeyTemplate,
    maxlen: String,
}

impl RedisSink {
    pub fn new(config: &RedisSinkConfig) -> Result<RedisSink, String> {
        Ok(RedisSink {
            pipeline: Pipeline::new(config.url.as_deref().unwrap_or_default(), config.tls.as_ref())?,
            mode: config.mode,
            key: KeyTemplate::new(config.key.as_deref().unwrap_or_default()),
            maxlen: config.maxlen.to_string(),
        })
    }
}

/// A key with `{symbol}` in it, written per message without building the key.
struct KeyTemplate {
    /// The text around each `{symbol}`.
    parts: Vec<String>,
}

impl KeyTemplate {
    fn new(key: &str) -> KeyTemplate {
        KeyTemplate { parts: key.split("{symbol}").map(str::to_owned).collect() }
    }

    /// The key for `symbol` as one argument of the command being written.
    fn arg(&self, commands: &mut Commands, symbol: &str) {
        let len = self.parts.iter().map(String::len).sum::<usize>() + symbol.len() * (self.parts.len() - 1);
        commands.arg_with(len, |out| {
            for (i, part) in self.parts.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(symbol.as_bytes());
                }
                out.extend_from_slice(part.as_bytes());
            }
        });
    }
}

impl Sink for RedisSink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            let (mode, key, maxlen) = (self.mode, &self.key, self.maxlen.as_bytes());
            self.pipeline
                .send(|commands| {
                    for m in batch {
                        match mode {
                            RedisMode::Publish => key.arg(commands.command(3).arg(b"PUBLISH"), m.key()),
                            RedisMode::Xadd => {
                                key.arg(commands.command(8).arg(b"XADD"), m.key());
                                commands.arg(b"MAXLEN").arg(b"~").arg(maxlen).arg(b"*").arg(b"data");
                            }
                        }
                        commands.arg(&m.payload);
                    }
                })
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_for_a_rediss_url_and_its_files_are_checked() {
        let config: RedisSinkConfig =
            toml::from_str("url = \"redis://h/0\"\nkey = \"k\"\ntls = { ca_file = \"/no/such/ca.pem\" }").unwrap();
        let mut problems = Vec::new();
        config.validate("sink[0]", &mut problems);
        assert_eq!(problems[0], "sink[0].tls: is for a TLS URL: this one is redis:// (use rediss://)");
        assert!(problems[1].starts_with("sink[0].tls.ca_file: ") && problems.len() == 2, "{problems:?}");
    }

    #[test]
    fn keys_put_the_symbol_in_every_placeholder() {
        let written = |template: &str| {
            let mut commands = Commands::default();
            KeyTemplate::new(template).arg(&mut commands, "BTC");
            String::from_utf8(commands.bytes().to_vec()).unwrap()
        };
        assert_eq!(written("ticks"), "$5\r\nticks\r\n");
        assert_eq!(written("t.{symbol}"), "$5\r\nt.BTC\r\n");
        assert_eq!(written("{symbol}:{symbol}"), "$7\r\nBTC:BTC\r\n");
    }
}
