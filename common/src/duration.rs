//! Durations in config files are written as people write them: `"5s"`, `"250ms"`, `"1m 30s"`.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// `#[serde(deserialize_with = "tickwatch_common::duration::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Reads one duration; the error quotes the text and shows how to write one.
fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. \"5s\", \"250ms\" or \"2m\""))
}
