//! The two messages a market-data platform moves around: a trade print and an option-chain
//! snapshot. Field names here are the canonical JSON form (see `codec`), so they are short,
//! unit-explicit and stable: dashboards, replay files and other tools depend on them.

use serde::{Deserialize, Serialize};
use time::Date;

/// Nanoseconds since the Unix epoch, UTC. One integer type for every timestamp keeps
/// arithmetic exact and comparisons cheap.
pub type UnixNanos = i64;

/// Aggressor side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

/// One trade print as a venue publishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trade {
    /// Venue or exchange the print comes from, e.g. `binance`.
    pub venue: String,
    /// Instrument symbol as the venue spells it, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Venue sequence number, increasing by one per trade of this symbol.
    pub seq: u64,
    /// Exchange (matching-engine) time of the trade.
    pub ts_ns: UnixNanos,
    /// Trade price in quote currency.
    pub price: f64,
    /// Traded quantity in base units.
    pub qty: f64,
    /// Aggressor side.
    pub side: Side,
}

/// Bid, ask and activity of one option contract.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    pub bid: f64,
    pub ask: f64,
    /// Last traded price.
    pub last: f64,
    /// Implied volatility as a fraction (0.2 = 20 %).
    pub iv: f64,
    /// Open interest in contracts.
    pub oi: u64,
    /// Contracts traded today.
    pub volume: u64,
}

impl Quote {
    /// Midpoint of bid and ask.
    pub fn mid(&self) -> f64 {
        (self.bid + self.ask) / 2.0
    }

    /// A quote is usable for pricing checks when it is not crossed and not negative.
    pub fn is_valid(&self) -> bool {
        self.bid >= 0.0 && self.ask > 0.0 && self.bid <= self.ask
    }
}

/// The call and put quoted at one strike.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrikeRow {
    pub strike: f64,
    pub call: Quote,
    pub put: Quote,
}

/// A snapshot of every strike of one underlying and one expiry, as option-chain
/// platforms publish it once per interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionChain {
    /// Underlying symbol, e.g. `NIFTY`.
    pub underlying: String,
    /// Expiry date (the canonical JSON form is `YYYY-MM-DD`).
    pub expiry: Date,
    /// Time the snapshot was taken.
    pub ts_ns: UnixNanos,
    /// Spot price of the underlying at `ts_ns`.
    pub spot: f64,
    /// Rows in increasing strike order.
    pub rows: Vec<StrikeRow>,
}

/// An empty chain: a buffer for [`crate::codec::decode_chain_into`] to fill.
impl Default for OptionChain {
    fn default() -> Self {
        OptionChain { underlying: String::new(), expiry: Date::MIN, ts_ns: 0, spot: 0.0, rows: Vec::new() }
    }
}

impl OptionChain {
    /// Put-call ratio by open interest: total put OI over total call OI. `None` when no
    /// call has open interest (the ratio is undefined, not zero or infinite).
    pub fn pcr_open_interest(&self) -> Option<f64> {
        ratio(self.rows.iter().map(|r| (r.put.oi, r.call.oi)))
    }

    /// Put-call ratio by traded volume: total put volume over total call volume.
    pub fn pcr_volume(&self) -> Option<f64> {
        ratio(self.rows.iter().map(|r| (r.put.volume, r.call.volume)))
    }
}

fn ratio(pairs: impl Iterator<Item = (u64, u64)>) -> Option<f64> {
    let (puts, calls) = pairs.fold((0u64, 0u64), |(p, c), (dp, dc)| (p + dp, c + dc));
    (calls > 0).then(|| puts as f64 / calls as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(oi: u64, volume: u64) -> Quote {
        Quote { bid: 1.0, ask: 1.1, last: 1.05, iv: 0.2, oi, volume }
    }

    #[test]
    fn pcr_sums_every_row() {
        let chain = OptionChain {
            underlying: "NIFTY".into(),
            expiry: time::macros::date!(2026 - 12 - 31),
            ts_ns: 0,
            spot: 100.0,
            rows: vec![
                StrikeRow { strike: 95.0, call: quote(100, 10), put: quote(300, 40) },
                StrikeRow { strike: 100.0, call: quote(100, 30), put: quote(100, 20) },
            ],
        };
        assert_eq!(chain.pcr_open_interest(), Some(2.0));
        assert_eq!(chain.pcr_volume(), Some(1.5));
    }

    #[test]
    fn pcr_is_undefined_without_calls() {
        let chain = OptionChain {
            underlying: "X".into(),
            expiry: time::macros::date!(2026 - 12 - 31),
            ts_ns: 0,
            spot: 1.0,
            rows: vec![StrikeRow { strike: 1.0, call: quote(0, 0), put: quote(5, 5) }],
        };
        assert_eq!(chain.pcr_open_interest(), None);
        assert_eq!(chain.pcr_volume(), None);
    }
}
