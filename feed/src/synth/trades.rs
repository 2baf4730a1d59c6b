//! Trades per symbol: prices follow geometric Brownian motion, arrivals are a Poisson
//! process, prices sit on the symbol's tick grid and sizes on its lot grid.

use super::merge::{Merged, Scheduled, Slot, checked};
use super::{SECONDS_PER_YEAR, TickGrid, stream_for};
use crate::model::{Side, Trade};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

/// How one symbol trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolSpec {
    pub symbol: String,
    /// First price.
    pub start_price: f64,
    /// Price increment, e.g. 0.01.
    pub tick: f64,
    /// Size increment, e.g. 0.00001 BTC or 1 share.
    pub lot: f64,
    /// Annualised volatility of the price, e.g. 0.6 for 60 %.
    pub annual_vol: f64,
    /// Mean number of trades per second (the Poisson intensity).
    pub trades_per_second: f64,
    /// Median trade size in lots; sizes are log-normal around it.
    pub median_lots: f64,
}

impl SymbolSpec {
    /// Realistic defaults for well-known symbols and a plain stock-like default for any
    /// other name.
    pub fn preset(symbol: &str) -> SymbolSpec {
        let (start_price, tick, lot, annual_vol, trades_per_second, median_lots) = match symbol {
            "BTCUSDT" | "BTC-USD" => (42_000.0, 0.01, 0.00001, 0.6, 50.0, 2_000.0),
            "ETHUSDT" | "ETH-USD" => (2_300.0, 0.01, 0.0001, 0.7, 30.0, 2_000.0),
            "SOLUSDT" | "SOL-USD" => (95.0, 0.01, 0.01, 0.9, 20.0, 500.0),
            // Deribit's perpetuals trade in USD: BTC in lots of 10, ETH of 1.
            "BTC-PERPETUAL" => (42_000.0, 0.5, 10.0, 0.6, 30.0, 50.0),
            "ETH-PERPETUAL" => (2_300.0, 0.05, 1.0, 0.7, 20.0, 100.0),
            "NIFTY" => (24_000.0, 0.05, 75.0, 0.15, 10.0, 2.0),
            "BANKNIFTY" => (51_000.0, 0.05, 15.0, 0.18, 10.0, 2.0),
            "AAPL" => (190.0, 0.01, 1.0, 0.25, 20.0, 100.0),
            _ => (100.0, 0.01, 1.0, 0.3, 10.0, 100.0),
        };
        SymbolSpec { symbol: symbol.to_owned(), start_price, tick, lot, annual_vol, trades_per_second, median_lots }
    }

    /// Every problem with this spec, as `field: why` lines.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut positive = |name: &str, v: f64| {
            if !(v > 0.0 && v.is_finite()) {
                problems.push(format!("{name}: must be a positive number, got {v}"));
            }
        };
        positive("start_price", self.start_price);
        positive("trades_per_second", self.trades_per_second);
        positive("median_lots", self.median_lots);
        if !(self.annual_vol >= 0.0 && self.annual_vol.is_finite()) {
            problems.push(format!("annual_vol: must be zero or positive, got {}", self.annual_vol));
        }
        for (name, v) in [("tick", self.tick), ("lot", self.lot)] {
            if TickGrid::new(v).is_none() {
                problems.push(format!("{name}: must be positive with at most 9 decimals, got {v}"));
            }
        }
        if self.symbol.is_empty() {
            problems.push("symbol: must not be empty".to_owned());
        }
        problems
    }
}

/// Trades of several symbols merged in exchange-time order. An endless iterator.
pub struct TradeSynth {
    merged: Merged<SymbolStream>,
}

impl TradeSynth {
    /// A generator for `symbols` on `venue`, starting at `start_ns`. Symbols are sorted
    /// by name (see the module docs for why). Errors list every problem of every spec.
    pub fn new(venue: &str, symbols: Vec<SymbolSpec>, start_ns: i64, seed: u64) -> Result<TradeSynth, Vec<String>> {
        let streams = checked(symbols, "symbol", |s| &s.symbol, SymbolSpec::problems)?
            .into_iter()
            .map(|spec| SymbolStream::new(venue, spec, start_ns, seed))
            .collect();
        Ok(TradeSynth { merged: Merged::new(streams) })
    }

    /// The specs in use, sorted by symbol.
    pub fn symbols(&self) -> impl Iterator<Item = &SymbolSpec> {
        self.merged.streams().iter().map(|s| &s.spec)
    }

    /// Makes only the trades of the symbols `mine` says yes to (a shard's); the others'
    /// slots pass as [`Slot::Passed`] in [`TradeSynth::next_slot`].
    pub fn make_only(&mut self, mine: impl Fn(&str) -> bool) {
        self.merged.make_only(|s| mine(&s.spec.symbol));
    }

    /// The next slot of the merged order of every symbol: a trade made here, or the
    /// index (into [`TradeSynth::symbols`]) of another shard's symbol.
    pub fn next_slot(&mut self) -> Option<Slot<Trade>> {
        self.merged.next_slot()
    }

    /// Passes other shards' trades up to the next one made here, or until `limit` slots
    /// have passed; `slots(symbol)` says how many slots a passed trade takes (its faults
    /// decide). Returns the count.
    pub fn pass_others(&mut self, limit: u64, mut slots: impl FnMut(&str) -> u64) -> u64 {
        self.merged.pass_others(limit, |s| slots(&s.spec.symbol))
    }

    /// The symbol of stream `index` (a passed slot's).
    pub fn symbol(&self, index: usize) -> &str {
        &self.merged.streams()[index].spec.symbol
    }
}

impl Iterator for TradeSynth {
    type Item = Trade;

    fn next(&mut self) -> Option<Trade> {
        self.merged.next()
    }
}

struct SymbolStream {
    venue: String,
    spec: SymbolSpec,
    price_grid: TickGrid,
    lot_grid: TickGrid,
    /// Prices, sizes and sides.
    rng: ChaCha8Rng,
    /// Arrival times, apart from the rest, so a shard can follow the merged order of
    /// every symbol while it makes only its own symbols' trades.
    arrivals: ChaCha8Rng,
    /// The unrounded price the walk continues from.
    true_price: f64,
    seq: u64,
    /// Time of the previous trade (the start time before the first).
    last_ns: i64,
    next_ns: i64,
    /// Per-trade constants of the walk and the size distribution.
    mean_gap_ns: f64,
    ln_median_qty: f64,
}

/// Spread of trade sizes around the median, in natural-log units.
const SIZE_LOG_SIGMA: f64 = 1.0;

impl SymbolStream {
    fn new(venue: &str, spec: SymbolSpec, start_ns: i64, seed: u64) -> SymbolStream {
        let price_grid = TickGrid::new(spec.tick).expect("validated");
        let lot_grid = TickGrid::new(spec.lot).expect("validated");
        let mut stream = SymbolStream {
            venue: venue.to_owned(),
            rng: stream_for(seed, &spec.symbol),
            arrivals: stream_for(seed, &format!("{}/arrivals", spec.symbol)),
            true_price: spec.start_price,
            seq: 0,
            last_ns: start_ns,
            next_ns: start_ns,
            mean_gap_ns: 1e9 / spec.trades_per_second,
            ln_median_qty: (spec.median_lots * spec.lot).ln(),
            price_grid,
            lot_grid,
            spec,
        };
        stream.next_ns += stream.draw_gap_ns();
        stream
    }

    fn draw_gap_ns(&mut self) -> i64 {
        let e: f64 = Exp1.sample(&mut self.arrivals);
        (e * self.mean_gap_ns).round().max(1.0) as i64
    }
}

impl Scheduled for SymbolStream {
    type Record = Trade;

    fn next_ns(&self) -> i64 {
        self.next_ns
    }

    fn emit(&mut self) -> Trade {
        let ts_ns = self.next_ns;
        // The price walks over the time since the previous trade.
        let dt_years = (ts_ns - self.last_ns) as f64 / 1e9 / SECONDS_PER_YEAR;
        self.last_ns = ts_ns;
        self.next_ns += self.draw_gap_ns();
        let vol = self.spec.annual_vol;
        let z: f64 = StandardNormal.sample(&mut self.rng);
        self.true_price *= (-vol * vol / 2.0 * dt_years + vol * dt_years.sqrt() * z).exp();
        let price = self.price_grid.round(self.true_price).max(self.price_grid.tick());
        let size_z: f64 = StandardNormal.sample(&mut self.rng);
        let qty = self.lot_grid.round((self.ln_median_qty + SIZE_LOG_SIGMA * size_z).exp()).max(self.lot_grid.tick());
        let side = if self.rng.random::<bool>() { Side::Buy } else { Side::Sell };
        self.seq += 1;
        Trade { venue: self.venue.clone(), symbol: self.spec.symbol.clone(), seq: self.seq, ts_ns, price, qty, side }
    }

    fn skip(&mut self) {
        self.last_ns = self.next_ns;
        self.next_ns += self.draw_gap_ns();
    }
}
