//! `[[websocket]]`: the WebSocket probe's gateways.

use crate::config::{Config, Target, TargetProblems, check_tls, check_url, tls_context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tickwatch_common::tls::TlsConfig;
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
    /// Text message sent right after connecting, e.g. a subscription request; or a list
    /// of them, sent in order (authenticate, then subscribe).
    #[serde(default, deserialize_with = "one_or_many")]
    pub subscribe: Vec<String>,
    /// Headers of the upgrade request, e.g. `{ Authorization = "Bearer ${GATEWAY_TOKEN}" }`
    /// (`/probe?debug=true` masks their values).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Probe mode: a regular expression the first data message must match, or the probe
    /// fails with reason `expect_mismatch` (a gateway that answers with an error).
    pub expect: Option<String>,
    /// JSON pointer to the exchange time in each message (e.g. `/ts`, `/data/T`); its
    /// unit (s, ms, us, ns) is inferred from its size. Enables the payload lag histogram.
    pub timestamp_pointer: Option<String>,
    /// A frame or message larger than this closes the connection and counts an error.
    /// Default 1 MiB.
    #[serde(default = "default::usize::<1_048_576>")]
    pub max_message_bytes: usize,
    /// TLS for `wss://`: `{ ca_file, cert_file, key_file, server_name,
    /// insecure_skip_verify }` (Prometheus's names). Without it the public web roots are
    /// trusted and no client certificate is shown.
    pub tls_config: Option<TlsConfig>,
    /// The same as `tls_config.ca_file` (kept from before `tls_config`).
    pub ca_file: Option<String>,
    /// The same as `tls_config.insecure_skip_verify` (kept from before `tls_config`).
    #[serde(default)]
    pub insecure: bool,
    /// Monitor mode: how long the open subscription may stay silent before
    /// WebSocketFeedStale fires (exported as `websocket_stale_after_seconds`). Default `30s`.
    #[serde(default = "default::secs::<30>", deserialize_with = "duration::deserialize")]
    pub stale_after: Duration,
    /// Monitor mode: how often to send a ping; a ping unanswered by the next one counts
    /// as a missed pong. Default `10s`.
    #[serde(default = "default::secs::<10>", deserialize_with = "duration::deserialize")]
    pub ping_interval: Duration,
}

/// A string or a list of strings, as a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl WebSocketTarget {
    /// The TLS settings in force: `tls_config` with the older `ca_file` and `insecure`.
    pub fn tls(&self) -> TlsConfig {
        let mut tls = self.tls_config.clone().unwrap_or_default();
        tls.ca_file = tls.ca_file.or_else(|| self.ca_file.clone());
        tls.insecure_skip_verify |= self.insecure;
        tls
    }
}

impl Target for WebSocketTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn tls_context(&self) -> Option<String> {
        tls_context(&self.url, Some(&self.tls()), &["wss"])
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
        if self.ca_file.is_some() && self.tls_config.as_ref().is_some_and(|t| t.ca_file.is_some()) {
            problems.at("ca_file", "set either ca_file or tls_config.ca_file, not both");
        }
        check_tls(&self.tls(), self.url.starts_with("wss:"), "wss://", problems);
        if self.ping_interval.is_zero() {
            problems.at("ping_interval", "must be more than zero");
        }
        for (name, value) in &self.headers {
            let valid =
                http::HeaderName::from_bytes(name.as_bytes()).is_ok() && http::HeaderValue::from_str(value).is_ok();
            if !valid {
                problems.at(&format!("headers.{name}"), "is not a valid HTTP header: names are letters, digits and -, values printable ASCII without line breaks");
            }
        }
        if let Some(expect) = &self.expect {
            if let Err(e) = regex::Regex::new(expect) {
                problems.at("expect", format!("not a regular expression: {e}"));
            }
            if self.mode == WebSocketMode::Monitor {
                problems.at("expect", "checks the first message of a probe; monitor mode does not use it");
            }
        }
    }
}
