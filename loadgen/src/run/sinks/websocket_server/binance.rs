//! The gateway as Binance's spot market streams look to a collector: raw streams at
//! `/ws/<symbol>@trade` (or `@aggTrade`), combined ones at `/stream?streams=a/b` (each
//! message wrapped as `{"stream": ..., "data": ...}`), `SUBSCRIBE`, `UNSUBSCRIBE` and
//! `LIST_SUBSCRIPTIONS` on either, and `GET /api/v3/exchangeInfo` (also `/api/v3/ping`
//! and `/api/v3/time`) on the same port. Trades carry the fields and types Binance
//! documents (prices and sizes as decimal strings); an aggTrade is one trade (`a`, `f`
//! and `l` are its id). Left out: every other stream and REST endpoint, rate limits, the
//! 24-hour disconnect.

use super::{Published, Session};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickwatch_feed::synth::SymbolSpec;
use tickwatch_feed::{Side, Trade};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// Binance pings its stream clients; they must answer.
pub const PING_EVERY: Duration = Duration::from_secs(20);

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// A trade as the two streams carry it: the `trade` event and the `aggTrade` event.
pub fn render(t: &Trade) -> (Utf8Bytes, Utf8Bytes) {
    let (event_ms, trade_ms) = (now_ms(), t.ts_ns.div_euclid(1_000_000));
    // `m`: the buyer is the maker, so the taker (the trade's side) sold.
    let maker_bought = t.side == Side::Sell;
    let (symbol, id, price, qty) = (&t.symbol, t.seq, t.price, t.qty);
    let trade = format!(
        r#"{{"e":"trade","E":{event_ms},"s":"{symbol}","t":{id},"p":"{price:.8}","q":"{qty:.8}","T":{trade_ms},"m":{maker_bought},"M":true}}"#
    );
    let aggregate = format!(
        r#"{{"e":"aggTrade","E":{event_ms},"s":"{symbol}","a":{id},"p":"{price:.8}","q":"{qty:.8}","f":{id},"l":{id},"T":{trade_ms},"m":{maker_bought},"M":true}}"#
    );
    (trade.into(), aggregate.into())
}

/// The stream a name like `btcusdt@trade` asks for: its lowercase symbol and whether it
/// is the aggTrade stream.
fn parse_stream(name: &str) -> Option<(String, bool)> {
    let (symbol, kind) = name.split_once('@')?;
    let aggregate = match kind {
        "trade" => false,
        "aggTrade" => true,
        _ => return None,
    };
    (!symbol.is_empty()).then(|| (symbol.to_ascii_lowercase(), aggregate))
}

/// One client's streams: by lowercase symbol, (trade, aggTrade).
pub struct BinanceSession {
    streams: BTreeMap<String, (bool, bool)>,
    combined: bool,
}

impl BinanceSession {
    /// The session a request path opens: `/ws`, `/ws/<stream>`, `/stream` or
    /// `/stream?streams=a/b`. `None` for any other path.
    pub fn for_path(path: &str, query: Option<&str>) -> Option<BinanceSession> {
        let mut session = BinanceSession { streams: BTreeMap::new(), combined: false };
        let names: Vec<&str> = match path.trim_end_matches('/') {
            "/ws" => Vec::new(),
            "/stream" => {
                session.combined = true;
                query
                    .into_iter()
                    .flat_map(|q| q.split('&'))
                    .filter_map(|pair| pair.strip_prefix("streams="))
                    .flat_map(|list| list.split('/'))
                    .collect()
            }
            other => other.strip_prefix("/ws/").map(|s| s.split('/').collect())?,
        };
        for name in names {
            session.add(name);
        }
        Some(session)
    }

    fn add(&mut self, name: &str) -> bool {
        let Some((symbol, aggregate)) = parse_stream(name) else { return false };
        let entry = self.streams.entry(symbol).or_default();
        if aggregate {
            entry.1 = true
        } else {
            entry.0 = true
        }
        true
    }

    fn remove(&mut self, name: &str) {
        if let Some((symbol, aggregate)) = parse_stream(name)
            && let Some(entry) = self.streams.get_mut(&symbol)
        {
            if aggregate {
                entry.1 = false
            } else {
                entry.0 = false
            }
            if *entry == (false, false) {
                self.streams.remove(&symbol);
            }
        }
    }

    fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (symbol, (trade, aggregate)) in &self.streams {
            if *trade {
                names.push(format!("{symbol}@trade"));
            }
            if *aggregate {
                names.push(format!("{symbol}@aggTrade"));
            }
        }
        names
    }

    fn wrap(&self, stream: &str, data: &Utf8Bytes) -> Utf8Bytes {
        if self.combined { format!(r#"{{"stream":"{stream}","data":{}}}"#, data.as_str()).into() } else { data.clone() }
    }
}

/// A JSON-RPC style error reply as Binance sends it.
fn error(code: i64, msg: &str, id: &Value) -> String {
    json!({"error": {"code": code, "msg": msg}, "id": id}).to_string()
}

impl Session for BinanceSession {
    fn tick_every(&self) -> Option<Duration> {
        Some(PING_EVERY)
    }

    fn frames(&self, published: &Published, out: &mut Vec<Utf8Bytes>) {
        let Some(&(trade, aggregate)) = self.streams.get(&*published.key) else { return };
        let key = &published.key;
        if trade {
            out.push(self.wrap(&format!("{key}@trade"), &published.text));
        }
        if aggregate && let Some(agg) = &published.aggregate {
            out.push(self.wrap(&format!("{key}@aggTrade"), agg));
        }
    }

    fn request(&mut self, text: &str, replies: &mut Vec<Message>) {
        replies.push(Message::Text(self.answer(text).into()));
    }

    fn tick(&mut self, out: &mut Vec<Message>) {
        out.push(Message::Ping(Bytes::new()));
    }

    fn subscribed(&self) -> bool {
        !self.streams.is_empty()
    }
}

impl BinanceSession {
    /// The reply to one request.
    fn answer(&mut self, text: &str) -> String {
        let Ok(request) = serde_json::from_str::<Value>(text) else {
            return error(3, "Invalid JSON: expected a JSON object", &Value::Null);
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        if !(id.is_u64() || id.is_string() || id.is_null()) {
            return error(2, "Invalid request: request ID must be an unsigned integer", &Value::Null);
        }
        let params: Vec<&str> = request
            .get("params")
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match request.get("method").and_then(Value::as_str) {
            Some("SUBSCRIBE") => {
                if let Some(bad) = params.iter().find(|name| parse_stream(name).is_none()) {
                    return error(
                        2,
                        &format!("Invalid request: unknown stream `{bad}` (only <symbol>@trade and <symbol>@aggTrade)"),
                        &id,
                    );
                }
                params.iter().for_each(|name| {
                    self.add(name);
                });
            }
            Some("UNSUBSCRIBE") => params.iter().for_each(|name| self.remove(name)),
            Some("LIST_SUBSCRIPTIONS") => return json!({"result": self.names(), "id": id}).to_string(),
            _ => return error(2, "Invalid request: unknown method", &id),
        }
        json!({"result": null, "id": id}).to_string()
    }
}

/// Quote assets a symbol may end in, longest first where one ends another.
const QUOTES: [&str; 10] = ["FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "USD"];

/// The body of `GET /api/v3/exchangeInfo` for `symbols`: each TRADING, with its base and
/// quote asset and its price and lot filters from the symbol's synthetic preset.
pub fn exchange_info(symbols: &[String]) -> String {
    let entries: Vec<Value> = symbols
        .iter()
        .map(|symbol| {
            let spec = SymbolSpec::preset(symbol);
            let (base, quote) = QUOTES
                .iter()
                .find_map(|q| symbol.strip_suffix(q).filter(|b| !b.is_empty()).map(|b| (b, *q)))
                .unwrap_or((symbol.as_str(), ""));
            json!({
                "symbol": symbol, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
                "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": false, "ocoAllowed": false,
                "isSpotTradingAllowed": true, "isMarginTradingAllowed": false, "permissions": ["SPOT"],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": format!("{:.8}", spec.tick),
                     "maxPrice": "1000000.00000000", "tickSize": format!("{:.8}", spec.tick)},
                    {"filterType": "LOT_SIZE", "minQty": format!("{:.8}", spec.lot),
                     "maxQty": "9000000.00000000", "stepSize": format!("{:.8}", spec.lot)},
                ],
            })
        })
        .collect();
    json!({"timezone": "UTC", "serverTime": now_ms() as u64, "rateLimits": [], "exchangeFilters": [], "symbols": entries})
        .to_string()
}

/// The REST answer for `path`, if it is one of the endpoints served: (status, body).
pub fn rest(path: &str, exchange_info: &str) -> (u16, String) {
    match path {
        "/api/v3/exchangeInfo" => (200, exchange_info.to_owned()),
        "/api/v3/ping" => (200, "{}".to_owned()),
        "/api/v3/time" => (200, json!({"serverTime": now_ms() as u64}).to_string()),
        _ => (404, json!({"code": -1000, "msg": format!("{path} is not served by the tickwatch gateway")}).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_open_raw_and_combined_sessions() {
        let raw = BinanceSession::for_path("/ws/btcusdt@trade", None).unwrap();
        assert_eq!((raw.names(), raw.combined), (vec!["btcusdt@trade".to_owned()], false));
        let combined = BinanceSession::for_path("/stream", Some("streams=btcusdt@trade/ethusdt@aggTrade")).unwrap();
        assert_eq!(combined.names(), ["btcusdt@trade", "ethusdt@aggTrade"]);
        assert!(combined.combined);
        assert!(BinanceSession::for_path("/ws", None).unwrap().names().is_empty());
        assert!(BinanceSession::for_path("/other", None).is_none());
    }

    #[test]
    fn requests_change_the_subscriptions_and_are_answered() {
        let mut s = BinanceSession::for_path("/ws", None).unwrap();
        let reply = s.answer(r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@aggTrade"],"id":1}"#);
        assert_eq!(reply, r#"{"id":1,"result":null}"#);
        s.answer(r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":2}"#);
        let list = s.answer(r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#);
        assert_eq!(list, r#"{"id":3,"result":["btcusdt@aggTrade"]}"#);
        assert!(s.answer(r#"{"method":"SUBSCRIBE","params":["btcusdt@depth"],"id":4}"#).contains("unknown stream"));
        assert!(s.answer(r#"{"method":"DANCE","id":5}"#).contains("unknown method"));
    }

    #[test]
    fn trades_render_with_binance_types() {
        let t = Trade {
            venue: "v".into(),
            symbol: "BTCUSDT".into(),
            seq: 7,
            ts_ns: 1_700_000_000_123_456_789,
            price: 42000.1,
            qty: 0.5,
            side: Side::Sell,
        };
        let (trade, aggregate) = render(&t);
        let trade: Value = serde_json::from_str(&trade).unwrap();
        assert_eq!(
            (trade["e"].as_str(), trade["t"].as_u64(), trade["T"].as_u64()),
            (Some("trade"), Some(7), Some(1_700_000_000_123))
        );
        assert_eq!(
            (trade["p"].as_str(), trade["q"].as_str(), trade["m"].as_bool()),
            (Some("42000.10000000"), Some("0.50000000"), Some(true))
        );
        let aggregate: Value = serde_json::from_str(&aggregate).unwrap();
        assert_eq!(
            (aggregate["a"].as_u64(), aggregate["f"].as_u64(), aggregate["l"].as_u64()),
            (Some(7), Some(7), Some(7))
        );
    }

    #[test]
    fn exchange_info_lists_the_symbols_with_their_assets_and_tick_size() {
        let info: Value = serde_json::from_str(&exchange_info(&["BTCUSDT".into(), "ETHBTC".into()])).unwrap();
        let btc = &info["symbols"][0];
        assert_eq!(
            (btc["baseAsset"].as_str(), btc["quoteAsset"].as_str(), btc["status"].as_str()),
            (Some("BTC"), Some("USDT"), Some("TRADING"))
        );
        assert_eq!(btc["filters"][0]["tickSize"], "0.01000000");
        assert_eq!(info["symbols"][1]["quoteAsset"], "BTC");
    }
}
