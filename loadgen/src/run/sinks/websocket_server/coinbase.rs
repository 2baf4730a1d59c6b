//! The gateway as Coinbase Exchange's WebSocket feed looks to a collector: the client
//! sends `{"type": "subscribe", "product_ids": [...], "channels": [...]}` (channels by
//! name or as `{"name", "product_ids"}`), is answered with `subscriptions`, gets each
//! product's `last_match` and then its `match` messages (`trade_id`, `sequence`,
//! `maker_order_id`, `taker_order_id`, `time` with microseconds, `product_id`, `size` and
//! `price` as decimal strings, `side` of the maker), and a `heartbeat` per product every
//! second when it asked for the heartbeat channel. Products are the source's symbols as
//! written (use Coinbase's ids, `BTC-USD`). Left out: every other channel, the REST API,
//! authentication; `sequence` is the trade id (no other message kinds to number).

use super::{Published, Session};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickwatch_feed::{Side, Trade};
use time::OffsetDateTime;
use time::macros::format_description;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Coinbase sends a product's heartbeat once a second.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// The channels served.
const CHANNELS: [&str; 2] = ["matches", "heartbeat"];

/// Each product's latest match, for `last_match` and heartbeats: what every connection
/// of the gateway shares.
#[derive(Default)]
pub struct LastMatches(Mutex<HashMap<String, (u64, String)>>);

impl LastMatches {
    /// Renders `t` as a `match` message and remembers it as its product's latest.
    pub fn render(&self, t: &Trade) -> Utf8Bytes {
        let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.ts_ns))
            .ok()
            .and_then(|at| {
                at.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"))
                    .ok()
            })
            .unwrap_or_default();
        // Coinbase names the maker's side: a taker's buy lifts a resting sell.
        let side = if t.side == Side::Buy { "sell" } else { "buy" };
        let id = t.seq;
        let text = json!({
            "type": "match", "trade_id": id, "sequence": id,
            "maker_order_id": format!("maker-{id}"), "taker_order_id": format!("taker-{id}"),
            "time": time, "product_id": t.symbol, "size": format!("{:.8}", t.qty),
            "price": format!("{:.8}", t.price), "side": side,
        })
        .to_string();
        self.0.lock().expect("not poisoned").insert(t.symbol.clone(), (id, text.clone()));
        text.into()
    }

    fn last(&self, product: &str) -> Option<(u64, String)> {
        self.0.lock().expect("not poisoned").get(product).cloned()
    }
}

/// One client's channels and products.
pub struct CoinbaseSession {
    /// Products by channel.
    channels: BTreeMap<&'static str, BTreeSet<String>>,
    last: Arc<LastMatches>,
}

impl CoinbaseSession {
    pub fn new(last: Arc<LastMatches>) -> Self {
        CoinbaseSession { channels: BTreeMap::new(), last }
    }

    fn wants(&self, channel: &str, product: &str) -> bool {
        self.channels.get(channel).is_some_and(|p| p.contains(product))
    }

    fn subscriptions(&self) -> String {
        let channels: Vec<Value> =
            self.channels.iter().map(|(name, products)| json!({"name": name, "product_ids": products})).collect();
        json!({"type": "subscriptions", "channels": channels}).to_string()
    }

    /// Applies a subscribe or unsubscribe; the products newly given matches.
    fn change(&mut self, request: &Value, subscribe: bool) -> Result<Vec<String>, String> {
        let ids = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let top = ids(request.get("product_ids"));
        let Some(channels) = request.get("channels").and_then(Value::as_array) else {
            return Err("channels must be a list".into());
        };
        let mut new_matches = Vec::new();
        for channel in channels {
            let (name, products) = match channel {
                Value::String(name) => (name.as_str(), top.clone()),
                Value::Object(_) => (channel.get("name").and_then(Value::as_str).unwrap_or(""), {
                    let own = ids(channel.get("product_ids"));
                    if own.is_empty() { top.clone() } else { own }
                }),
                _ => return Err("a channel is a name or {\"name\", \"product_ids\"}".into()),
            };
            let Some(&name) = CHANNELS.iter().find(|c| **c == name) else {
                return Err(format!("{name} is not a valid channel (this gateway serves matches and heartbeat)"));
            };
            if products.is_empty() {
                return Err(format!("{name}: no product_ids"));
            }
            let set = self.channels.entry(name).or_default();
            for product in products {
                if subscribe {
                    if set.insert(product.clone()) && name == "matches" {
                        new_matches.push(product);
                    }
                } else {
                    set.remove(&product);
                }
            }
        }
        self.channels.retain(|_, products| !products.is_empty());
        Ok(new_matches)
    }
}

fn error(message: &str, reason: &str) -> Message {
    Message::Text(json!({"type": "error", "message": message, "reason": reason}).to_string().into())
}

impl Session for CoinbaseSession {
    fn tick_every(&self) -> Option<Duration> {
        Some(HEARTBEAT_EVERY)
    }

    fn frames(&self, published: &Published, out: &mut Vec<Utf8Bytes>) {
        if self.wants("matches", &published.key) {
            out.push(published.text.clone());
        }
    }

    fn request(&mut self, text: &str, replies: &mut Vec<Message>) {
        let Ok(request) = serde_json::from_str::<Value>(text) else {
            return replies.push(error("Failed to parse", "not JSON"));
        };
        let subscribe = match request.get("type").and_then(Value::as_str) {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => return replies.push(error("Failed to subscribe", "type must be subscribe or unsubscribe")),
        };
        match self.change(&request, subscribe) {
            Err(why) => replies.push(error("Failed to subscribe", &why)),
            Ok(new_matches) => {
                replies.push(Message::Text(self.subscriptions().into()));
                for product in new_matches {
                    if let Some((_, text)) = self.last.last(&product) {
                        let last_match = text.replacen(r#""type":"match""#, r#""type":"last_match""#, 1);
                        replies.push(Message::Text(last_match.into()));
                    }
                }
            }
        }
    }

    fn tick(&mut self, out: &mut Vec<Message>) {
        let now = OffsetDateTime::now_utc()
            .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"))
            .unwrap_or_default();
        for product in self.channels.get("heartbeat").into_iter().flatten() {
            let last = self.last.last(product).map_or(0, |(id, _)| id);
            let beat = json!({"type": "heartbeat", "sequence": last, "last_trade_id": last, "product_id": product, "time": now});
            out.push(Message::Text(beat.to_string().into()));
        }
    }

    fn subscribed(&self) -> bool {
        !self.channels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Message) -> Value {
        serde_json::from_str(m.to_text().unwrap()).unwrap()
    }

    #[test]
    fn subscribe_is_answered_with_subscriptions_and_the_last_match() {
        let last = Arc::new(LastMatches::default());
        let trade = Trade {
            venue: "coinbase".into(),
            symbol: "BTC-USD".into(),
            seq: 10,
            ts_ns: 1_415_348_367_028_459_000,
            price: 400.23,
            qty: 5.23512,
            side: Side::Buy,
        };
        let rendered: Value = serde_json::from_str(&last.render(&trade)).unwrap();
        assert_eq!(rendered["time"], "2014-11-07T08:19:27.028459Z");
        assert_eq!((rendered["price"].as_str(), rendered["size"].as_str()), (Some("400.23000000"), Some("5.23512000")));
        assert_eq!((rendered["trade_id"].as_u64(), rendered["side"].as_str()), (Some(10), Some("sell")));

        let mut session = CoinbaseSession::new(last);
        let mut replies = Vec::new();
        session.request(r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches",{"name":"heartbeat","product_ids":["BTC-USD"]}]}"#, &mut replies);
        assert_eq!(
            text(&replies[0])["channels"],
            json!([{"name": "heartbeat", "product_ids": ["BTC-USD"]}, {"name": "matches", "product_ids": ["BTC-USD"]}])
        );
        assert_eq!(text(&replies[1])["type"], "last_match");
        assert_eq!(text(&replies[1])["trade_id"], 10);
        let mut beats = Vec::new();
        session.tick(&mut beats);
        assert_eq!(text(&beats[0])["last_trade_id"], 10);

        replies.clear();
        session.request(r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["level2"]}"#, &mut replies);
        assert_eq!(text(&replies[0])["type"], "error");
        session.request(
            r#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["matches","heartbeat"]}"#,
            &mut replies,
        );
        assert!(!session.subscribed());
    }
}
