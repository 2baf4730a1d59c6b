//! Deribit's option tickers (`ticker.<instrument>.<interval>` notifications) assembled
//! into option chains, so the chain checks and the put-call ratio run on a Deribit feed.
//! Every ticker updates one option of one (underlying, expiry) chain; a round of the chain
//! ends when an option ticks a second time, and the options quoted in that round, calls
//! and puts of a strike together, are checked as one chain. A strike only one side of
//! which ticked in a round is left out of it. Prices are converted to the index's
//! currency when the option is quoted in its coin (BTC, ETH), as Deribit values them.

use super::decode::Rejection;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use tickwatch_feed::deribit::{OptionName, quoted_in_coin};
use tickwatch_feed::{OptionChain, Quote, StrikeRow};
use time::Date;

/// Chains (underlying and expiry) followed at once; tickers of further ones are rejected
/// as `symbol_cap`, so a hostile feed cannot grow memory.
const MAX_CHAINS: usize = 4096;

/// Strikes one chain may hold; further ones are rejected as `symbol_cap`.
const MAX_STRIKES: usize = 4096;

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(borrow)]
    method: Option<&'a str>,
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    channel: &'a str,
    data: Ticker<'a>,
}

/// The fields of a ticker the chain checks use.
#[derive(Deserialize)]
struct Ticker<'a> {
    #[serde(borrow)]
    instrument_name: &'a str,
    timestamp: i64,
    best_bid_price: Option<f64>,
    best_ask_price: Option<f64>,
    last_price: Option<f64>,
    mark_iv: f64,
    open_interest: f64,
    underlying_price: f64,
    index_price: f64,
    stats: Option<Stats>,
}

#[derive(Deserialize)]
struct Stats {
    volume: Option<f64>,
}

/// One chain's round so far: per strike (its bits: positive floats order as their bits)
/// the call and the put.
#[derive(Default)]
struct Round {
    ts_ms: i64,
    spot: f64,
    strikes: BTreeMap<u64, (Option<Quote>, Option<Quote>)>,
}

impl Round {
    /// The chain of the options quoted this round, emptied for the next.
    fn take(&mut self, underlying: &str, expiry: Date) -> OptionChain {
        let rows = std::mem::take(&mut self.strikes)
            .into_iter()
            .filter_map(|(strike, sides)| match sides {
                (Some(call), Some(put)) => Some(StrikeRow { strike: f64::from_bits(strike), call, put }),
                _ => None,
            })
            .collect();
        let ts_ns = std::mem::take(&mut self.ts_ms) * 1_000_000;
        OptionChain { underlying: underlying.to_owned(), expiry, ts_ns, spot: self.spot, rows }
    }
}

/// The call's or the put's place in a strike.
fn slot(sides: &mut (Option<Quote>, Option<Quote>), call: bool) -> &mut Option<Quote> {
    if call { &mut sides.0 } else { &mut sides.1 }
}

/// The rounds of every chain seen.
#[derive(Default)]
pub struct DeribitChains {
    rounds: HashMap<(String, Date), Round>,
}

impl DeribitChains {
    /// Takes one message: a ticker of an option, whose chain is returned when the ticker
    /// ends a round; other messages (replies, heartbeats, trades) are `not_ticker`.
    pub fn ticker(&mut self, message: &[u8]) -> Result<Option<OptionChain>, Rejection> {
        let value: Notification = serde_json::from_slice(message).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "not_ticker",
            _ => "not_json",
        })?;
        let Some(params) =
            value.params.filter(|p| value.method == Some("subscription") && p.channel.starts_with("ticker."))
        else {
            return Err("not_ticker");
        };
        let t = params.data;
        let option = OptionName::parse(t.instrument_name).ok_or("bad_field")?;
        let finite = [t.mark_iv, t.open_interest, t.underlying_price, t.index_price].iter().all(|v| v.is_finite());
        if !finite || t.index_price <= 0.0 {
            return Err("bad_field");
        }
        let unit = if quoted_in_coin(option.underlying) { t.index_price } else { 1.0 };
        let price = |p: Option<f64>| p.filter(|p| p.is_finite()).map_or(0.0, |p| p * unit);
        let quote = Quote {
            bid: price(t.best_bid_price),
            ask: price(t.best_ask_price),
            last: price(t.last_price),
            iv: t.mark_iv / 100.0,
            oi: t.open_interest.max(0.0) as u64,
            volume: t.stats.and_then(|s| s.volume).filter(|v| v.is_finite()).map_or(0, |v| v.max(0.0) as u64),
        };
        let key = (option.underlying.to_owned(), option.expiry);
        if !self.rounds.contains_key(&key) && self.rounds.len() >= MAX_CHAINS {
            return Err("symbol_cap");
        }
        let round = self.rounds.entry(key).or_default();
        let strike = option.strike.to_bits();
        let repeated = round.strikes.get_mut(&strike).is_some_and(|sides| slot(sides, option.call).is_some());
        let finished = repeated.then(|| round.take(option.underlying, option.expiry));
        if !round.strikes.contains_key(&strike) && round.strikes.len() >= MAX_STRIKES {
            return Err("symbol_cap");
        }
        *slot(round.strikes.entry(strike).or_default(), option.call) = Some(quote);
        (round.ts_ms, round.spot) = (round.ts_ms.max(t.timestamp), t.underlying_price);
        Ok(finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticker(name: &str, bid: f64, ask: f64, ts: i64) -> Vec<u8> {
        serde_json::json!({"jsonrpc": "2.0", "method": "subscription", "params": {
            "channel": format!("ticker.{name}.100ms"),
            "data": {"instrument_name": name, "timestamp": ts, "best_bid_price": bid, "best_ask_price": ask,
                     "last_price": bid, "mark_iv": 55.0, "open_interest": 120.0, "underlying_price": 42_010.0,
                     "index_price": 42_000.0, "stats": {"volume": 3.0}}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_round_of_tickers_is_one_chain_in_usd() {
        let mut chains = DeribitChains::default();
        for (name, bid) in [("BTC-27DEC24-40000-C", 0.07), ("BTC-27DEC24-40000-P", 0.02), ("BTC-27DEC24-45000-C", 0.03)]
        {
            assert_eq!(chains.ticker(&ticker(name, bid, bid + 0.001, 1_000)).unwrap(), None);
        }
        // The first option again: the round is over; 45000 has no put, so it is left out.
        let chain = chains.ticker(&ticker("BTC-27DEC24-40000-C", 0.071, 0.072, 2_000)).unwrap().unwrap();
        assert_eq!((chain.underlying.as_str(), chain.expiry.to_string()), ("BTC", "2024-12-27".to_owned()));
        assert_eq!((chain.ts_ns, chain.spot, chain.rows.len()), (1_000_000_000, 42_010.0, 1));
        let row = &chain.rows[0];
        assert_eq!((row.strike, row.call.bid, row.put.bid), (40_000.0, 0.07 * 42_000.0, 0.02 * 42_000.0));
        assert_eq!((row.call.iv, row.call.oi, row.call.volume), (0.55, 120, 3));
    }

    #[test]
    fn other_messages_are_not_tickers() {
        let mut chains = DeribitChains::default();
        for message in [
            br#"{"jsonrpc":"2.0","id":3,"result":["ticker.BTC-27DEC24-40000-C.100ms"]}"#.as_slice(),
            br#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#,
            br#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.raw","data":[]}}"#,
        ] {
            assert_eq!(chains.ticker(message), Err("not_ticker"), "{}", String::from_utf8_lossy(message));
        }
        assert_eq!(chains.ticker(b"{"), Err("not_json"));
        assert_eq!(chains.ticker(&ticker("BTC-PERPETUAL", 1.0, 2.0, 1)), Err("bad_field"));
    }
}
