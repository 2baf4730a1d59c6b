//! The gateway as Deribit's JSON-RPC 2.0 API over WebSocket (`/ws/api/v2`) looks to a
//! collector: `public/subscribe` and `public/unsubscribe` (and `public/unsubscribe_all`)
//! to `ticker.<instrument>.100ms`, which an option-chain source fills with every option of
//! every chain (mark_iv, bid_iv and ask_iv, Black-Scholes greeks, best bid and ask,
//! underlying_price, open_interest), and `trades.<instrument>.raw`, which a trade source
//! fills (trade_seq, trade_id, price, amount, direction, tick_direction);
//! `public/get_instruments` (also `GET /api/v2/public/get_instruments`);
//! `public/set_heartbeat`, after which the gateway sends `test_request` heartbeats that
//! `public/test` answers; `public/get_time`. Option prices are in the underlying's coin
//! (the chain's prices divided by its spot) as Deribit quotes BTC and ETH options, or as
//! they are for a `_USDC` underlying. Left out: private methods and authentication, order
//! books and every other channel, closing a connection whose heartbeat goes unanswered.

use super::{Published, Session};
use crate::scenario::{SourceConfig, SourceKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickwatch_feed::deribit::{OptionName, currencies, quoted_in_coin};
use tickwatch_feed::synth::{ChainSpec, SECONDS_PER_YEAR, call_price, expiry_ns, greeks, implied_vol, put_price};
use tickwatch_feed::{OptionChain, Quote, Side, Trade};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Where Deribit serves its WebSocket API.
pub const WEBSOCKET_PATH: &str = "/ws/api/v2";

/// Deribit's shortest heartbeat interval, in seconds.
const MIN_HEARTBEAT_SECONDS: u64 = 10;

/// The version `public/test` reports.
const API_VERSION: &str = "1.2.26";

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// Every instrument the gateway lists, by name, as `public/get_instruments` gives it:
/// what every connection shares.
#[derive(Default)]
pub struct Instruments(RwLock<BTreeMap<String, Value>>);

impl Instruments {
    /// What a source is known to hold before it sends anything: a synthetic chain source's
    /// options (its presets' strikes at their expiries from now), a synthetic trade
    /// source's symbols. A replay's are added as they are sent.
    pub fn of_source(source: &SourceConfig) -> Instruments {
        let instruments = Instruments::default();
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        for symbol in &source.symbols {
            match source.kind {
                SourceKind::SyntheticChains => {
                    let spec = ChainSpec::preset(symbol);
                    for expiry in spec.expiries(now_ns) {
                        for strike in spec.strikes() {
                            for call in [true, false] {
                                instruments.add_option(&OptionName { underlying: symbol, expiry, strike, call });
                            }
                        }
                    }
                }
                SourceKind::SyntheticTrades | SourceKind::Replay => instruments.add_traded(symbol),
            }
        }
        instruments
    }

    fn contains(&self, name: &str) -> bool {
        self.0.read().expect("not poisoned").contains_key(name)
    }

    fn add_option(&self, option: &OptionName) {
        let name = option.to_string();
        if self.contains(&name) {
            return;
        }
        let (base, quote) = currencies(option.underlying);
        let instrument = json!({
            "instrument_name": name, "kind": "option", "option_type": if option.call { "call" } else { "put" },
            "strike": option.strike, "expiration_timestamp": expiry_ns(option.expiry) / 1_000_000,
            "base_currency": base, "quote_currency": quote, "settlement_currency": quote,
            "counter_currency": "USD", "price_index": format!("{}_usd", base.to_lowercase()),
            "contract_size": 1.0, "min_trade_amount": 0.1, "tick_size": 0.0001, "is_active": true,
        });
        self.0.write().expect("not poisoned").insert(name, instrument);
    }

    /// A trade source's instrument: an option when its name says so, a perpetual or a
    /// dated future (`BTC-PERPETUAL`, `BTC-27DEC24`), or a spot pair (`BTC_USDC`).
    fn add_traded(&self, symbol: &str) {
        if let Some(option) = OptionName::parse(symbol) {
            return self.add_option(&option);
        }
        if self.contains(symbol) {
            return;
        }
        let (kind, base, quote) = match symbol.split_once('_') {
            Some((base, quote)) if !symbol.contains('-') => ("spot", base, quote),
            _ => ("future", symbol.split(['-', '_']).next().unwrap_or(symbol), "USD"),
        };
        let instrument = json!({
            "instrument_name": symbol, "kind": kind, "base_currency": base, "quote_currency": quote,
            "settlement_period": if symbol.ends_with("-PERPETUAL") { "perpetual" } else { "month" },
            "is_active": true,
        });
        self.0.write().expect("not poisoned").insert(symbol.to_owned(), instrument);
    }

    /// Those of `currency` (a base currency, or `any`) and `kind`, when given.
    fn list(&self, currency: Option<&str>, kind: Option<&str>) -> Vec<Value> {
        let wanted = |i: &&Value, field: &str, want: Option<&str>| want.is_none_or(|w| w == "any" || i[field] == w);
        let instruments = self.0.read().expect("not poisoned");
        instruments
            .values()
            .filter(|i| wanted(i, "base_currency", currency) && wanted(i, "kind", kind))
            .cloned()
            .collect()
    }
}

/// Renders records as Deribit's notifications; remembers each instrument's last trade
/// price, for `tick_direction`.
#[derive(Default)]
pub struct Notifications {
    /// Last price and tick direction, per instrument.
    last_trades: HashMap<String, (f64, u8)>,
}

impl Notifications {
    /// A trade on `trades.<symbol>.raw`.
    pub fn trade(&mut self, t: &Trade, instruments: &Instruments) -> Published {
        instruments.add_traded(&t.symbol);
        // Deribit's tick directions: 0 up, 1 unchanged after up, 2 down, 3 unchanged after down.
        let direction = match self.last_trades.get(&t.symbol) {
            Some(&(last, _)) if t.price > last => 0,
            Some(&(last, _)) if t.price < last => 2,
            Some(&(_, before)) => {
                if before <= 1 {
                    1
                } else {
                    3
                }
            }
            None => 0,
        };
        self.last_trades.insert(t.symbol.clone(), (t.price, direction));
        let channel = format!("trades.{}.raw", t.symbol);
        // A trade source knows no mark or index price apart from the trade's own.
        let data = json!([{
            "trade_seq": t.seq, "trade_id": t.seq.to_string(), "timestamp": t.ts_ns.div_euclid(1_000_000),
            "tick_direction": direction, "price": t.price, "mark_price": t.price, "index_price": t.price,
            "instrument_name": t.symbol, "direction": if t.side == Side::Buy { "buy" } else { "sell" },
            "amount": t.qty,
        }]);
        notification(channel, data)
    }

    /// Every option of `chain` on its `ticker.<instrument>.100ms`.
    pub fn chain(&mut self, chain: &OptionChain, instruments: &Instruments, out: &mut Vec<Published>) {
        let years = ((expiry_ns(chain.expiry) - chain.ts_ns) as f64 / 1e9 / SECONDS_PER_YEAR).max(0.0);
        let unit = if quoted_in_coin(&chain.underlying) { chain.spot } else { 1.0 };
        let mut underlying_index = None;
        for row in &chain.rows {
            for (call, quote) in [(true, &row.call), (false, &row.put)] {
                let option =
                    OptionName { underlying: &chain.underlying, expiry: chain.expiry, strike: row.strike, call };
                instruments.add_option(&option);
                let index = underlying_index
                    .get_or_insert_with(|| format!("{}-{}", chain.underlying, option.expiry_code()))
                    .as_str();
                let name = option.to_string();
                let pricing = Pricing { spot: chain.spot, strike: row.strike, years, call, unit };
                let data = ticker(&name, quote, &pricing, index, chain.ts_ns);
                out.push(notification(format!("ticker.{name}.100ms"), data));
            }
        }
    }
}

/// What an option's ticker is computed from.
struct Pricing {
    spot: f64,
    strike: f64,
    years: f64,
    call: bool,
    /// What one unit of the quote currency is worth in the chain's prices.
    unit: f64,
}

impl Pricing {
    fn value(&self, vol: f64) -> f64 {
        let price = if self.call { call_price } else { put_price };
        price(self.spot, self.strike, self.years, 0.0, vol)
    }

    /// The implied volatility of `price` in percent, 0 when none gives it (Deribit's way).
    fn iv_percent(&self, price: f64) -> f64 {
        implied_vol(price, self.spot, self.strike, self.years, 0.0, self.call).map_or(0.0, |v| rounded(v * 100.0, 2))
    }
}

/// `x` to `decimals` places, as Deribit publishes volatilities and greeks.
fn rounded(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// One option's ticker data. The interest rate is 0 (Deribit's for crypto options; the
/// chains carry none), so the mark price and greeks come from spot, strike, time to
/// expiry and the quote's volatility. The chains quote no sizes: each side shows a
/// hundredth of the open interest (at least Deribit's 0.1 minimum).
fn ticker(name: &str, q: &Quote, p: &Pricing, underlying_index: &str, ts_ns: i64) -> Value {
    let g = greeks(p.spot, p.strike, p.years, 0.0, q.iv, p.call);
    let amount = ((q.oi as f64 / 100.0 * 10.0).round() / 10.0).max(0.1);
    json!({
        "timestamp": ts_ns.div_euclid(1_000_000), "instrument_name": name, "state": "open",
        "underlying_price": p.spot, "underlying_index": underlying_index, "index_price": p.spot,
        "estimated_delivery_price": p.spot, "interest_rate": 0.0,
        "best_bid_price": q.bid / p.unit, "best_bid_amount": amount, "bid_iv": p.iv_percent(q.bid),
        "best_ask_price": q.ask / p.unit, "best_ask_amount": amount, "ask_iv": p.iv_percent(q.ask),
        "mark_price": p.value(q.iv) / p.unit, "mark_iv": rounded(q.iv * 100.0, 2), "last_price": q.last / p.unit,
        "open_interest": q.oi,
        "greeks": {"delta": rounded(g.delta, 5), "gamma": rounded(g.gamma, 5), "vega": rounded(g.vega, 5),
                   "theta": rounded(g.theta, 5), "rho": rounded(g.rho, 5)},
        "stats": {"volume": q.volume, "price_change": null, "low": null, "high": null},
    })
}

/// A `subscription` notification of `channel`.
fn notification(channel: String, data: Value) -> Published {
    let text = json!({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}});
    Published { key: Arc::from(channel), text: text.to_string().into(), aggregate: None }
}

/// Whether `channel` is one the gateway fills.
fn served(channel: &str) -> bool {
    let instrument = |prefix: &str, interval: &str| {
        channel.strip_prefix(prefix).and_then(|c| c.strip_suffix(interval)).is_some_and(|i| !i.is_empty())
    };
    instrument("ticker.", ".100ms") || instrument("trades.", ".raw")
}

/// One client's channels and heartbeat.
pub struct DeribitSession {
    channels: BTreeSet<String>,
    heartbeat: Option<Duration>,
    instruments: Arc<Instruments>,
}

impl DeribitSession {
    pub fn new(instruments: Arc<Instruments>) -> Self {
        DeribitSession { channels: BTreeSet::new(), heartbeat: None, instruments }
    }

    /// The reply to one request.
    fn answer(&mut self, text: &str) -> String {
        let us_in = now_us();
        let Ok(request) = serde_json::from_str::<Value>(text) else {
            return reply(&Value::Null, Err((-32700, "Parse error", None)), us_in);
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let method = request.get("method").and_then(Value::as_str).unwrap_or("");
        reply(&id, self.call(method, &params), us_in)
    }

    fn call(&mut self, method: &str, params: &Value) -> Result<Value, RpcError> {
        let text = |name: &str| params.get(name).and_then(Value::as_str);
        match method {
            "public/subscribe" | "public/unsubscribe" => {
                let channels: Vec<&str> = params
                    .get("channels")
                    .and_then(Value::as_array)
                    .map(|c| c.iter().filter_map(Value::as_str).collect())
                    .ok_or((-32602, "Invalid params", Some(("channels", "must be a list of channel names".into()))))?;
                if let Some(bad) = channels.iter().find(|c| !served(c)) {
                    let why =
                        format!("`{bad}` is not served (ticker.<instrument>.100ms and trades.<instrument>.raw are)");
                    return Err((-32602, "Invalid params", Some(("channels", why))));
                }
                for channel in &channels {
                    if method == "public/subscribe" {
                        self.channels.insert((*channel).to_owned());
                    } else {
                        self.channels.remove(*channel);
                    }
                }
                Ok(json!(channels))
            }
            "public/unsubscribe_all" => {
                self.channels.clear();
                Ok(json!("ok"))
            }
            "public/get_instruments" => Ok(json!(self.instruments.list(text("currency"), text("kind")))),
            "public/set_heartbeat" => match params.get("interval").and_then(Value::as_u64) {
                Some(seconds) if seconds >= MIN_HEARTBEAT_SECONDS => {
                    self.heartbeat = Some(Duration::from_secs(seconds));
                    Ok(json!("ok"))
                }
                _ => Err((
                    -32602,
                    "Invalid params",
                    Some(("interval", format!("must be {MIN_HEARTBEAT_SECONDS} or more seconds"))),
                )),
            },
            "public/disable_heartbeat" => {
                self.heartbeat = None;
                Ok(json!("ok"))
            }
            "public/test" => Ok(json!({"version": API_VERSION})),
            "public/get_time" => Ok(json!((now_us() / 1000) as u64)),
            _ => Err((-32601, "Method not found", None)),
        }
    }
}

/// A JSON-RPC error: code, message, and the parameter at fault with why.
type RpcError = (i64, &'static str, Option<(&'static str, String)>);

/// A JSON-RPC response with Deribit's timing fields.
fn reply(id: &Value, outcome: Result<Value, RpcError>, us_in: u128) -> String {
    let us_out = now_us();
    let mut response = json!({
        "jsonrpc": "2.0", "id": id, "usIn": us_in as u64, "usOut": us_out as u64,
        "usDiff": us_out.saturating_sub(us_in) as u64, "testnet": false,
    });
    match outcome {
        Ok(result) => response["result"] = result,
        Err((code, message, data)) => {
            response["error"] = json!({"code": code, "message": message});
            if let Some((param, reason)) = data {
                response["error"]["data"] = json!({"param": param, "reason": reason});
            }
        }
    }
    response.to_string()
}

impl Session for DeribitSession {
    fn tick_every(&self) -> Option<Duration> {
        self.heartbeat
    }

    fn frames(&self, published: &Published, out: &mut Vec<Utf8Bytes>) {
        if self.channels.contains(&*published.key) {
            out.push(published.text.clone());
        }
    }

    fn request(&mut self, text: &str, replies: &mut Vec<Message>) {
        replies.push(Message::Text(self.answer(text).into()));
    }

    fn tick(&mut self, out: &mut Vec<Message>) {
        let beat = json!({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}});
        out.push(Message::Text(beat.to_string().into()));
    }

    fn subscribed(&self) -> bool {
        !self.channels.is_empty()
    }
}

/// The REST answer for `path` (`/api/v2/public/get_instruments?currency=BTC&kind=option`,
/// `/api/v2/public/test`, `/api/v2/public/get_time`): (status, body).
pub fn rest(path: &str, query: Option<&str>, instruments: &Arc<Instruments>) -> (u16, String) {
    let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let Some(method) = path.strip_prefix("/api/v2/").filter(|m| m.starts_with("public/")) else {
        return (404, reply(&Value::Null, Err((-32601, "Method not found", None)), now_us()));
    };
    let mut session = DeribitSession::new(Arc::clone(instruments));
    let allowed = ["public/get_instruments", "public/test", "public/get_time"];
    let outcome = if allowed.contains(&method) {
        session.call(method, &Value::Object(params))
    } else {
        Err((-32601, "Method not found", None))
    };
    let status = if outcome.is_ok() { 200 } else { 400 };
    (status, reply(&Value::Null, outcome, now_us()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn chain() -> OptionChain {
        let quote = |bid: f64, ask: f64| Quote { bid, ask, last: (bid + ask) / 2.0, iv: 0.55, oi: 1234, volume: 50 };
        OptionChain {
            underlying: "BTC".into(),
            expiry: date!(2024 - 12 - 27),
            ts_ns: 1_734_000_000_000_000_000,
            spot: 42_000.0,
            rows: vec![tickwatch_feed::StrikeRow {
                strike: 40_000.0,
                call: quote(3_000.0, 3_100.0),
                put: quote(900.0, 950.0),
            }],
        }
    }

    fn data(published: &Published) -> Value {
        serde_json::from_str::<Value>(published.text.as_str()).unwrap()["params"]["data"].clone()
    }

    #[test]
    fn a_chain_becomes_a_ticker_per_option_in_the_coin() {
        let instruments = Instruments::default();
        let mut out = Vec::new();
        Notifications::default().chain(&chain(), &instruments, &mut out);
        let keys: Vec<&str> = out.iter().map(|p| &*p.key).collect();
        assert_eq!(keys, ["ticker.BTC-27DEC24-40000-C.100ms", "ticker.BTC-27DEC24-40000-P.100ms"]);
        let call = data(&out[0]);
        assert_eq!(call["instrument_name"], "BTC-27DEC24-40000-C");
        assert!((call["best_bid_price"].as_f64().unwrap() * 42_000.0 - 3_000.0).abs() < 1e-9);
        assert_eq!((call["mark_iv"].as_f64().unwrap(), call["open_interest"].as_u64()), (55.0, Some(1234)));
        assert!(
            call["greeks"]["delta"].as_f64().unwrap() > 0.5 && data(&out[1])["greeks"]["delta"].as_f64().unwrap() < 0.0
        );
        assert!(call["bid_iv"].as_f64().unwrap() > 0.0 && call["bid_iv"].as_f64() < call["ask_iv"].as_f64());
        assert_eq!(call["underlying_index"], "BTC-27DEC24");
        assert_eq!(instruments.list(Some("BTC"), Some("option")).len(), 2);
    }

    #[test]
    fn requests_are_answered_as_json_rpc() {
        let instruments = Arc::new(Instruments::default());
        instruments.add_traded("BTC-PERPETUAL");
        let mut session = DeribitSession::new(instruments);
        let ask =
            |session: &mut DeribitSession, text: &str| serde_json::from_str::<Value>(&session.answer(text)).unwrap();
        let r = ask(
            &mut session,
            r#"{"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.raw"]}}"#,
        );
        assert_eq!((r["id"].as_u64(), r["result"].clone()), (Some(1), json!(["trades.BTC-PERPETUAL.raw"])));
        assert!(session.subscribed());
        let r = ask(
            &mut session,
            r#"{"jsonrpc":"2.0","id":2,"method":"public/subscribe","params":{"channels":["book.BTC-PERPETUAL.100ms"]}}"#,
        );
        assert_eq!(r["error"]["code"], -32602);
        let r =
            ask(&mut session, r#"{"jsonrpc":"2.0","id":3,"method":"public/set_heartbeat","params":{"interval":5}}"#);
        assert_eq!(r["error"]["data"]["param"], "interval");
        let r =
            ask(&mut session, r#"{"jsonrpc":"2.0","id":4,"method":"public/set_heartbeat","params":{"interval":10}}"#);
        assert_eq!((r["result"].clone(), session.tick_every()), (json!("ok"), Some(Duration::from_secs(10))));
        let r = ask(
            &mut session,
            r#"{"jsonrpc":"2.0","id":5,"method":"public/get_instruments","params":{"currency":"BTC","kind":"future"}}"#,
        );
        assert_eq!(r["result"][0]["instrument_name"], "BTC-PERPETUAL");
        assert_eq!(ask(&mut session, r#"{"id":6,"method":"private/buy"}"#)["error"]["code"], -32601);
        assert_eq!(ask(&mut session, "not json")["error"]["code"], -32700);
    }

    #[test]
    fn trades_carry_deribit_tick_directions() {
        let instruments = Instruments::default();
        let mut notifications = Notifications::default();
        let trade = |seq: u64, price: f64| Trade {
            venue: "deribit".into(),
            symbol: "BTC-PERPETUAL".into(),
            seq,
            ts_ns: 1_734_000_000_000_000_000,
            price,
            qty: 10.0,
            side: Side::Sell,
        };
        let directions: Vec<Value> = [(1, 100.0), (2, 101.0), (3, 101.0), (4, 99.0), (5, 99.0)]
            .iter()
            .map(|&(seq, price)| {
                data(&notifications.trade(&trade(seq, price), &instruments))[0]["tick_direction"].clone()
            })
            .collect();
        assert_eq!(directions, [0, 0, 1, 2, 3]);
        let first = data(&notifications.trade(&trade(6, 99.0), &instruments));
        assert_eq!((first[0]["trade_seq"].as_u64(), first[0]["direction"].as_str()), (Some(6), Some("sell")));
    }
}
