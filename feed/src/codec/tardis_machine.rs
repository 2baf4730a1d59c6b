//! tardis-machine's normalized NDJSON (what its `/replay-normalized` endpoint streams, one
//! JSON message per line, plain or gzip): the `trade` messages become canonical trades,
//! each kept with its `localTimestamp` (when it was received) as its replay time. Messages
//! of the other normalized types (book changes, tickers, bars...) are left out and
//! counted; a malformed line is an error naming the line and field, and reading goes on
//! past it unless [`OnError::Stop`] is chosen.

use super::tardis::TradeFields;
use super::{DecodeError, OnError, Received};
use crate::model::Trade;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The trades of a tardis-machine normalized NDJSON stream.
pub struct TardisMachineReader {
    lines: std::io::Lines<Box<dyn BufRead + Send>>,
    file: Option<PathBuf>,
    line: u64,
    on_error: OnError,
    done: bool,
    positions: BTreeMap<String, u64>,
    other_types: u64,
}

/// Only the type, read first so other messages are not decoded further.
#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// A normalized `trade` as tardis-machine documents it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MachineTrade {
    symbol: String,
    exchange: String,
    /// A string, or absent when the exchange gives none.
    id: Option<String>,
    price: f64,
    amount: f64,
    side: String,
    timestamp: String,
    local_timestamp: String,
}

impl TardisMachineReader {
    pub fn new(input: Box<dyn BufRead + Send>, file: Option<PathBuf>) -> Self {
        TardisMachineReader {
            lines: input.lines(),
            file,
            line: 0,
            on_error: OnError::default(),
            done: false,
            positions: BTreeMap::new(),
            other_types: 0,
        }
    }

    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Messages of another normalized type left out so far.
    pub fn other_types(&self) -> u64 {
        self.other_types
    }

    /// The trade of one line; `None` for a message of another type.
    fn decode(&mut self, line: &str) -> Result<Option<Received<Trade>>, DecodeError> {
        let kind: Kind = serde_json::from_str(line).map_err(|e| DecodeError::new(format!("not JSON: {e}")))?;
        if kind.kind.as_deref() != Some("trade") {
            self.other_types += 1;
            return Ok(None);
        }
        let mut de = serde_json::Deserializer::from_str(line);
        let t: MachineTrade = serde_path_to_error::deserialize(&mut de).map_err(|e| DecodeError {
            field: Some(e.path().to_string()),
            ..DecodeError::new(e.into_inner().to_string())
        })?;
        let fields = TradeFields {
            exchange: &t.exchange,
            symbol: &t.symbol,
            id: t.id.as_deref().unwrap_or(""),
            side: &t.side,
            ts_ns: iso_ns(&t.timestamp, "timestamp")?,
            price: t.price,
            amount: t.amount,
        };
        let trade = fields.trade(&mut self.positions)?;
        Ok(Some((iso_ns(&t.local_timestamp, "localTimestamp")?, trade)))
    }
}

/// An ISO 8601 (RFC 3339) time as Unix nanoseconds.
fn iso_ns(text: &str, field: &str) -> Result<i64, DecodeError> {
    OffsetDateTime::parse(text, &Rfc3339).ok().and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok()).ok_or_else(
        || DecodeError {
            field: Some(field.to_owned()),
            ..DecodeError::new(format!("`{text}` is not an ISO 8601 time"))
        },
    )
}

impl Iterator for TardisMachineReader {
    type Item = Result<Received<Trade>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let Some(line) = self.lines.next() else { break };
            self.line += 1;
            let result = match line {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => self.decode(&line),
                Err(e) => {
                    self.done = true;
                    Err(DecodeError::new(format!("read failed: {e}")))
                }
            };
            match result {
                Ok(None) => continue,
                Ok(Some(trade)) => return Some(Ok(trade)),
                Err(e) => {
                    self.done |= self.on_error == OnError::Stop;
                    return Some(Err(e.at(self.file.as_ref(), self.line)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Side;

    const STREAM: &str = r#"{"type":"trade","symbol":"BTCUSDT","exchange":"binance","id":"3445374963","price":61130.98,"amount":0.00145,"side":"sell","timestamp":"2024-02-29T23:59:59.998Z","localTimestamp":"2024-03-01T00:00:00.001Z"}
{"type":"book_change","symbol":"BTCUSDT","exchange":"binance","isSnapshot":false,"bids":[],"asks":[],"timestamp":"2024-03-01T00:00:00.002Z","localTimestamp":"2024-03-01T00:00:00.003Z"}

{"type":"trade","symbol":"XBTUSD","exchange":"bitmex","id":"282a0445-0e3a-abeb-f403-11003204ea1b","price":7996,"amount":50,"side":"buy","timestamp":"2019-10-23T10:32:49.669Z","localTimestamp":"2019-10-23T10:32:49.740Z"}
{"type":"trade","symbol":"XBTUSD","exchange":"bitmex","price":"7996","amount":50,"side":"buy","timestamp":"2019-10-23T10:32:49.669Z","localTimestamp":"2019-10-23T10:32:49.740Z"}
{"type":"trade","symbol":"XBTUSD","exchange":"bitmex","price":7997,"amount":1,"side":"sell","timestamp":"yesterday","localTimestamp":"2019-10-23T10:32:49.740Z"}
{"type":"trade","symbol":"XBTUSD","exchange":"bitmex","price":7997,"amount":1,"side":"sell","timestamp":"2019-10-23T10:32:50Z","localTimestamp":"2019-10-23T10:32:50.1Z"}
"#;

    fn reader() -> TardisMachineReader {
        TardisMachineReader::new(Box::new(std::io::Cursor::new(STREAM.as_bytes().to_vec())), Some("m.ndjson".into()))
    }

    #[test]
    fn trades_are_read_and_other_types_counted() {
        let mut reader = reader();
        let all: Vec<_> = reader.by_ref().collect();
        assert_eq!(all.len(), 5, "four trade lines and one bad one");
        let (local, first) = all[0].as_ref().unwrap();
        assert_eq!(*local, 1_709_251_200_001_000_000);
        assert_eq!(
            *first,
            Trade {
                venue: "binance".into(),
                symbol: "BTCUSDT".into(),
                seq: 3_445_374_963,
                ts_ns: 1_709_251_199_998_000_000,
                price: 61130.98,
                qty: 0.00145,
                side: Side::Sell,
            }
        );
        let (_, uuid) = all[1].as_ref().unwrap();
        assert_eq!((uuid.seq, uuid.side), (1, Side::Buy), "a UUID id: the position in its symbol");
        let bad = all[2].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.field.as_deref()), (Some(5), Some("price")), "{bad}");
        let bad = all[3].as_ref().unwrap_err();
        assert_eq!(bad.to_string(), "m.ndjson:6: field `timestamp`: `yesterday` is not an ISO 8601 time");
        let (_, last) = all[4].as_ref().unwrap();
        assert_eq!(last.seq, 2, "no id: the next position");
        assert_eq!(reader.other_types(), 1);
    }

    #[test]
    fn strict_reading_ends_at_the_first_bad_line() {
        assert_eq!(reader().on_error(OnError::Stop).count(), 3);
    }
}
