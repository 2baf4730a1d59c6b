//! `[[feed]]`: the market-data feeds whose quality is scored.

use crate::config::{Config, Target, TargetProblems, check_redis};
use crate::probe::mongodb::MongoTarget;
use crate::probe::websocket::{WebSocketMode, WebSocketTarget};
use serde::Deserialize;
use std::time::Duration;
use tickwatch_common::tls::TlsConfig;
use tickwatch_common::{default, duration};
use tickwatch_feed::quality::{ChainCheck, Check, TradeCheck};

/// What a feed carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    Trade,
    OptionChain,
}

impl FeedKind {
    /// The labels of the data-quality checks run on this kind of feed, in order.
    pub fn checks(self) -> Vec<&'static str> {
        match self {
            FeedKind::Trade => TradeCheck::labels(),
            FeedKind::OptionChain => ChainCheck::labels(),
        }
    }
}

/// How a feed's messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// tickwatch's canonical JSON (`tickwatch-loadgen gen` writes it).
    #[default]
    Tickwatch,
    /// Any JSON trade message, with `fields` saying where each field is.
    Mapped,
    /// Binance's `<symbol>@trade` and `<symbol>@aggTrade` streams, raw or combined
    /// (`{"stream": ..., "data": ...}`): id `t` (`a`), price `p`, size `q`, time `T` (ms).
    Binance,
    /// Coinbase Exchange's `matches` channel (`match` and `last_match`): `trade_id`,
    /// `product_id`, `price`, `size`, `time` (ISO 8601).
    Coinbase,
    /// Deribit's JSON-RPC `subscription` notifications: for trades, every trade of a
    /// `trades.*` channel (`instrument_name`, `trade_seq`, `price`, `amount`,
    /// `timestamp`); for option chains, the `ticker.*` channels of options, assembled into
    /// chains (see `deribit_chains.rs`).
    Deribit,
}

impl FeedFormat {
    /// An exchange's own format, read without a field mapping.
    pub fn is_preset(self) -> bool {
        matches!(self, FeedFormat::Binance | FeedFormat::Coinbase | FeedFormat::Deribit)
    }
}

/// Where a feed's messages come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FeedSource {
    /// A Redis pub/sub channel, or a pattern when it holds `*`, `?` or `[`.
    RedisPubsub {
        url: String,
        channel: String,
        /// TLS for `rediss://`, as on `[[redis]]`.
        tls_config: Option<TlsConfig>,
    },
    /// A Redis stream read from now on (XREAD), or as a consumer group when `group` is
    /// set (XREADGROUP, acknowledged). The message is the JSON in the entry's `field`.
    RedisStream {
        url: String,
        stream: String,
        group: Option<String>,
        /// The group consumer's name. Default: the host name (the pod name in Kubernetes)
        /// and the process id, unique per replica. Replicas sharing a `group` split the
        /// stream whatever their names: give each its own group (see the README).
        consumer: Option<String>,
        #[serde(default = "default_stream_field")]
        field: String,
        /// TLS for `rediss://`, as on `[[redis]]`.
        tls_config: Option<TlsConfig>,
    },
    /// The messages of a `[[websocket]]` target in monitor mode.
    Websocket { target: String },
    /// Documents of a MongoDB collection, polled by `time_field`.
    Mongodb {
        target: String,
        db: String,
        collection: String,
        time_field: String,
        #[serde(default = "default::secs::<1>", deserialize_with = "duration::deserialize")]
        poll_interval: Duration,
    },
}

fn default_stream_field() -> String {
    "data".to_owned()
}

/// Where each trade field is in a `mapped` message (JSON pointers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    pub symbol: String,
    /// Sequence number; without it the `gap` check does not run.
    pub seq: Option<String>,
    pub price: String,
    pub qty: String,
    /// Exchange time.
    pub ts: String,
    /// Unit of `ts`: `s`, `ms`, `us` or `ns`; inferred from its size when absent.
    pub ts_unit: Option<TsUnit>,
}

/// The unit of an epoch timestamp field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TsUnit {
    S,
    Ms,
    Us,
    Ns,
}

impl TsUnit {
    /// Milliseconds in one unit.
    pub fn in_ms(self) -> f64 {
        match self {
            TsUnit::S => 1e3,
            TsUnit::Ms => 1.0,
            TsUnit::Us => 1e-3,
            TsUnit::Ns => 1e-6,
        }
    }
}

/// `[[feed]]`: one market-data feed to score.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedTarget {
    /// Unique name: the `feed` label.
    pub name: String,
    pub kind: FeedKind,
    pub source: FeedSource,
    #[serde(default)]
    pub format: FeedFormat,
    /// Required with `format = "mapped"`.
    pub fields: Option<FieldMap>,
    /// A symbol with no message for this long is `stale`. Default `10s`.
    #[serde(default = "default::secs::<10>", deserialize_with = "duration::deserialize")]
    pub stale_after: Duration,
    /// Messages per symbol the score looks back over. Default 1000.
    #[serde(default = "default::usize::<1000>")]
    pub score_window: usize,
    /// Weight of each check in the score (check name to weight); unnamed checks weigh 1.
    #[serde(default)]
    pub weights: std::collections::BTreeMap<String, f64>,
    /// Most symbols (or underlyings) tracked; messages of further symbols are rejected
    /// with reason `symbol_cap`. Default 1000.
    #[serde(default = "default::usize::<1000>")]
    pub max_symbols: usize,
    /// A message larger than this is rejected with reason `too_large` before it is
    /// decoded. Default 1 MiB (as `[[websocket]]`'s).
    #[serde(default = "default::usize::<1_048_576>")]
    pub max_message_bytes: usize,
    /// Trades: median absolute deviations from the rolling median that make a spike.
    /// Default 10.
    #[serde(default = "default_spike_mads")]
    pub spike_mads: f64,
    /// Trades: least relative distance from the median that can be a spike. Default 0.02.
    #[serde(default = "default_spike_min_fraction")]
    pub spike_min_fraction: f64,
    /// Trades: largest tolerated gap between exchange and arrival time. Default `5s`.
    #[serde(default = "default::secs::<5>", deserialize_with = "duration::deserialize")]
    pub max_clock_drift: Duration,
    /// Chains: implied volatility above this fails `iv_bounds`. Default 5.0.
    #[serde(default = "default_iv_max")]
    pub iv_max: f64,
}

fn default_spike_mads() -> f64 {
    10.0
}

fn default_spike_min_fraction() -> f64 {
    0.02
}

fn default_iv_max() -> f64 {
    5.0
}

impl Target for FeedTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn references(&self) -> Vec<(&'static str, &str)> {
        match &self.source {
            FeedSource::Websocket { target } => vec![("websocket", target.as_str())],
            FeedSource::Mongodb { target, .. } => vec![("mongodb", target.as_str())],
            FeedSource::RedisPubsub { .. } | FeedSource::RedisStream { .. } => Vec::new(),
        }
    }

    fn validate(&self, config: &Config, problems: &mut TargetProblems) {
        match &self.source {
            FeedSource::RedisPubsub { url, tls_config, .. } | FeedSource::RedisStream { url, tls_config, .. } => {
                check_redis(url, "url", tls_config.as_ref(), &mut problems.within("source"));
            }
            FeedSource::Websocket { target } => {
                if !config
                    .targets::<WebSocketTarget>()
                    .iter()
                    .any(|w| &w.name == target && w.mode == WebSocketMode::Monitor)
                {
                    problems.at(
                        "source.target",
                        format!("`{target}` is not a [[websocket]] target with mode = \"monitor\""),
                    );
                }
            }
            FeedSource::Mongodb { target, .. } => {
                if !config.targets::<MongoTarget>().iter().any(|m| &m.name == target) {
                    problems.at("source.target", format!("`{target}` is not a [[mongodb]] target"));
                }
            }
        }
        match (self.kind, self.format, &self.fields) {
            (FeedKind::OptionChain, format, _) if !matches!(format, FeedFormat::Tickwatch | FeedFormat::Deribit) => {
                problems.at(
                    "format",
                    "option chains are read as tickwatch's JSON or as Deribit's tickers (format = \"deribit\")",
                )
            }
            (_, format, Some(_)) if format.is_preset() => problems
                .at("fields", "an exchange's format is read without fields; leave them out or use format = \"mapped\""),
            (FeedKind::Trade, FeedFormat::Mapped, None) => {
                problems.at("fields", "format = \"mapped\" needs fields = { symbol, price, qty, ts, ... }")
            }
            (_, _, Some(fields)) => {
                let pointers = [
                    Some(&fields.symbol),
                    fields.seq.as_ref(),
                    Some(&fields.price),
                    Some(&fields.qty),
                    Some(&fields.ts),
                ];
                for p in pointers.into_iter().flatten().filter(|p| !p.starts_with('/')) {
                    problems.at("fields", format!("`{p}` is not a JSON pointer; write e.g. \"/s\""));
                }
            }
            _ => {}
        }
        let checks = self.kind.checks();
        for (check, weight) in &self.weights {
            if !checks.contains(&check.as_str()) {
                problems.at(
                    &format!("weights.{check}"),
                    format!("not a check of this feed; checks are {}", checks.join(", ")),
                );
            } else if !(*weight >= 0.0 && weight.is_finite()) {
                problems.at(&format!("weights.{check}"), "must be zero or more");
            }
        }
        if self.score_window == 0 || self.max_symbols == 0 || self.max_message_bytes == 0 {
            problems.whole("score_window, max_symbols and max_message_bytes must be at least 1");
        }
    }
}
