//! `[[websocket]]`: the WebSocket probe's gateways.

use crate::config::{Config, Target, TargetProblems, check_url};
use serde::Deserialize;
use std::time::Duration;
use tickwatch_common::{default, duration};

/// How a `[[websocket]]` target is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebSocketMode {
    /// At scrape time: connect, subscribe, wait for the first message, close.
    #[default]
    Probe,
    /// One subscription kept open in the background; scrapes read its counters.
    Monitor,
}

/// `[[websocket]]`: one WebSocket gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketTarget {
    /// Unique target name.
    pub name: String,
    /// `ws://` or `wss://` URL.
    pub url: String,
    #[serde(default)]
    pub mode: WebSocketMode,
    /// Text message sent right after connecting, e.g. a subscription request.
    pub subscribe: Option<String>,
    /// JSON pointer to the exchange time in each message (e.g. `/ts`, `/data/T`); its
    /// unit (s, ms, us, ns) is inferred from its size. Enables the payload lag histogram.
    pub timestamp_pointer: Option<String>,
    /// A frame or message larger than this closes the connection and counts an error.
    /// Default 1 MiB.
    #[serde(default = "default::usize::<1_048_576>")]
    pub max_message_bytes: usize,
    /// PEM file with the CA certificates to trust for `wss://` instead of the public web
    /// roots (which are trusted when this is not set).
    pub ca_file: Option<String>,
    /// Accept any server certificate (testing only: the connection is then not
    /// authenticated).
    #[serde(default)]
    pub insecure: bool,
    /// Monitor mode: how often to send a ping; a ping unanswered by the next one counts
    /// as a missed pong. Default `10s`.
    #[serde(default = "default::secs::<10>", deserialize_with = "duration::deserialize")]
    pub ping_interval: Duration,
}

impl Target for WebSocketTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, _config: &Config, problems: &mut TargetProblems) {
        if let Err(why) = check_url(&self.url, &["ws", "wss"]) {
            problems.at("url", why);
        }
        if let Some(pointer) = &self.timestamp_pointer
            && !pointer.starts_with('/')
        {
            problems.at("timestamp_pointer", format!("`{pointer}` is not a JSON pointer; write e.g. \"/ts\""));
        }
        if self.max_message_bytes < 64 {
            problems.at("max_message_bytes", "must be at least 64");
        }
        if let Some(ca) = &self.ca_file
            && let Err(e) = std::fs::metadata(ca)
        {
            problems.at("ca_file", format!("cannot read `{ca}`: {e}"));
        }
        if self.ping_interval.is_zero() {
            problems.at("ping_interval", "must be more than zero");
        }
    }
}
