//! Option-chain snapshots: a fixed strike grid around the first spot, several expiries,
//! Black-Scholes prices from a volatility smile, quotes on the option tick grid with a
//! bid/ask spread, and open interest and volume that peak at the money.
//!
//! Free of static arbitrage by construction: the theoretical price of every option lies
//! inside its quoted bid/ask, and theoretical prices from a smooth, mild smile are
//! non-increasing and convex in strike for calls and satisfy put-call parity exactly. So
//! no trade at the quoted prices captures an arbitrage (the rules in `arbitrage`).

use super::merge::{Merged, Scheduled, Slot, checked};
use super::{SECONDS_PER_YEAR, TickGrid, call_price, put_price, stream_for};
use crate::model::{OptionChain, Quote, StrikeRow};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// How the chains of one underlying look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    pub underlying: String,
    /// First spot price; the strike grid is centred on it.
    pub spot: f64,
    /// Distance between strikes.
    pub strike_step: f64,
    /// Strikes on each side of the at-the-money strike (rows = 2 x this + 1).
    pub strikes_each_side: usize,
    /// Days from the first snapshot to each expiry.
    pub expiries_days: Vec<u32>,
    /// At-the-money implied volatility; also the volatility of the spot's walk.
    pub atm_vol: f64,
    /// Skew: how much the volatility tilts, as a fraction of `atm_vol`, a standard
    /// deviation of moneyness away (negative: equity-style, puts dearer); it saturates.
    pub skew: f64,
    /// Smile: how much the wings rise, as a fraction of `atm_vol`, per standard
    /// deviation of moneyness far from the money (the rise becomes linear).
    pub smile: f64,
    /// Continuously compounded interest rate.
    pub rate: f64,
    /// Option price tick.
    pub tick: f64,
    /// Quoted spread as a fraction of the option's price (at least one tick).
    pub spread_fraction: f64,
    /// Time between snapshots, in milliseconds.
    pub snapshot_interval_ms: u64,
    /// Open interest of an at-the-money contract, in contracts.
    pub base_open_interest: u64,
}

impl ChainSpec {
    /// Realistic defaults for a few well-known underlyings and a generic one for others.
    pub fn preset(underlying: &str) -> ChainSpec {
        let (spot, strike_step, expiries_days, atm_vol, skew, smile, rate, tick, spread_fraction, oi) = match underlying
        {
            "NIFTY" => (24_000.0, 50.0, vec![7, 14, 28], 0.14, -0.15, 0.05, 0.065, 0.05, 0.01, 50_000),
            "BANKNIFTY" => (51_000.0, 100.0, vec![7, 28], 0.17, -0.15, 0.05, 0.065, 0.05, 0.01, 30_000),
            "SPY" => (600.0, 1.0, vec![1, 7, 30], 0.15, -0.2, 0.05, 0.045, 0.01, 0.02, 20_000),
            "BTC" => (42_000.0, 500.0, vec![1, 7, 28], 0.55, 0.05, 0.08, 0.0, 0.5, 0.02, 2_000),
            _ => (100.0, 1.0, vec![7, 30], 0.3, -0.1, 0.05, 0.03, 0.01, 0.02, 10_000),
        };
        ChainSpec {
            underlying: underlying.to_owned(),
            spot,
            strike_step,
            strikes_each_side: 20,
            expiries_days,
            atm_vol,
            skew,
            smile,
            rate,
            tick,
            spread_fraction,
            snapshot_interval_ms: 1_000,
            base_open_interest: oi,
        }
    }

    /// The strike grid: `strikes_each_side` steps either side of the first spot's strike.
    pub fn strikes(&self) -> Vec<f64> {
        let n = self.strikes_each_side as i64;
        let atm = (self.spot / self.strike_step).round();
        (-n..=n).map(|i| (atm + i as f64) * self.strike_step).collect()
    }

    /// The expiry dates of chains starting at `start_ns`, nearest first.
    pub fn expiries(&self, start_ns: i64) -> Vec<Date> {
        let start_date =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(start_ns)).map(|t| t.date()).unwrap_or(Date::MIN);
        self.expiries_days.iter().map(|&days| start_date.saturating_add(Duration::days(i64::from(days)))).collect()
    }

    /// Chains made per second: one per expiry every snapshot interval.
    pub fn chains_per_second(&self) -> f64 {
        self.expiries_days.len() as f64 * 1000.0 / self.snapshot_interval_ms.max(1) as f64
    }

    /// Every problem with this spec, as `field: why` lines.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, v) in [("spot", self.spot), ("strike_step", self.strike_step), ("atm_vol", self.atm_vol)] {
            if !(v > 0.0 && v.is_finite()) {
                problems.push(format!("{name}: must be a positive number, got {v}"));
            }
        }
        if self.strike_step * self.strikes_each_side as f64 >= self.spot {
            problems.push("strikes_each_side: the grid would reach zero or negative strikes".to_owned());
        }
        if self.expiries_days.is_empty() || self.expiries_days.contains(&0) {
            problems.push("expiries_days: needs at least one expiry, each at least 1 day away".to_owned());
        }
        if TickGrid::new(self.tick).is_none() {
            problems.push(format!("tick: must be positive with at most 9 decimals, got {}", self.tick));
        }
        if !(0.0..1.0).contains(&self.spread_fraction) {
            problems.push(format!("spread_fraction: must be in [0, 1), got {}", self.spread_fraction));
        }
        if self.snapshot_interval_ms == 0 {
            problems.push("snapshot_interval_ms: must be at least 1".to_owned());
        }
        if self.underlying.is_empty() {
            problems.push("underlying: must not be empty".to_owned());
        }
        problems
    }
}

/// Chains of several underlyings merged in time order: each snapshot yields one chain
/// per expiry, nearest expiry first. An endless iterator.
pub struct ChainSynth {
    merged: Merged<UnderlyingStream>,
}

impl ChainSynth {
    /// A generator starting at `start_ns`. Errors list every problem of every spec.
    pub fn new(specs: Vec<ChainSpec>, start_ns: i64, seed: u64) -> Result<ChainSynth, Vec<String>> {
        let streams = checked(specs, "underlying", |s| &s.underlying, ChainSpec::problems)?
            .into_iter()
            .map(|spec| UnderlyingStream::new(spec, start_ns, seed))
            .collect();
        Ok(ChainSynth { merged: Merged::new(streams) })
    }

    /// Makes only the chains of the underlyings `mine` says yes to (a shard's); the
    /// others' slots pass in [`ChainSynth::next_slot`] without being priced.
    pub fn make_only(&mut self, mine: impl Fn(&str) -> bool) {
        self.merged.make_only(|s| mine(&s.spec.underlying));
    }

    /// The next slot of the merged order of every underlying.
    pub fn next_slot(&mut self) -> Option<Slot<OptionChain>> {
        self.merged.next_slot()
    }

    /// Passes other shards' chains (one slot each) up to the next one made here, or until
    /// `limit` have passed. Returns the count.
    pub fn pass_others(&mut self, limit: u64) -> u64 {
        self.merged.pass_others(limit, |_| 1)
    }
}

impl Iterator for ChainSynth {
    type Item = OptionChain;

    fn next(&mut self) -> Option<OptionChain> {
        self.merged.next()
    }
}

/// Expiries are at 10:00 UTC on their date.
const EXPIRY_TIME_OF_DAY_NS: i64 = 10 * 3600 * 1_000_000_000;

/// When the chains' options expiring on `date` expire, Unix nanoseconds.
pub fn expiry_ns(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp_nanos() as i64 + EXPIRY_TIME_OF_DAY_NS
}
/// Time to expiry never goes below an hour, so prices stay finite past the expiry.
const MIN_YEARS_TO_EXPIRY: f64 = 3600.0 / SECONDS_PER_YEAR;

struct UnderlyingStream {
    spec: ChainSpec,
    grid: TickGrid,
    rng: ChaCha8Rng,
    strikes: Vec<f64>,
    expiries: Vec<(Date, i64)>,
    spot: f64,
    next_ns: i64,
    /// Which expiry of the current snapshot comes next.
    cursor: usize,
}

impl UnderlyingStream {
    fn new(spec: ChainSpec, start_ns: i64, seed: u64) -> UnderlyingStream {
        let expiries = spec.expiries(start_ns).into_iter().map(|date| (date, expiry_ns(date))).collect();
        let strikes = spec.strikes();
        UnderlyingStream {
            grid: TickGrid::new(spec.tick).expect("validated"),
            rng: stream_for(seed, &spec.underlying),
            strikes,
            expiries,
            spot: spec.spot,
            next_ns: start_ns,
            cursor: 0,
            spec,
        }
    }

    fn quote(&mut self, theo: f64, iv: f64, open_interest: f64) -> Quote {
        let tick = self.grid.tick();
        let half_spread = (theo * self.spec.spread_fraction / 2.0).max(tick / 2.0);
        let bid = self.grid.floor(theo - half_spread).max(0.0);
        let ask = self.grid.ceil(theo + half_spread).max(tick);
        let last = self.grid.round(theo).clamp(bid, ask);
        let oi = (open_interest * self.rng.random_range(0.5..1.5)).round();
        let volume = (oi * self.rng.random_range(0.05..0.6)).round();
        Quote { bid, ask, last, iv, oi: oi as u64, volume: volume as u64 }
    }

    fn chain(&mut self, expiry: Date, expiry_ns: i64) -> OptionChain {
        let ts_ns = self.next_ns;
        let years = ((expiry_ns - ts_ns) as f64 / 1e9 / SECONDS_PER_YEAR).max(MIN_YEARS_TO_EXPIRY);
        let (spot, rate) = (self.spot, self.spec.rate);
        let forward = spot * (rate * years).exp();
        let sd = self.spec.atm_vol * years.sqrt();
        let strikes = std::mem::take(&mut self.strikes);
        let rows = strikes
            .iter()
            .map(|&strike| {
                let x = (strike / forward).ln() / sd;
                let iv = smile_vol(self.spec.atm_vol, self.spec.skew, self.spec.smile, x);
                let oi = self.spec.base_open_interest as f64 * (-x * x / 4.0).exp();
                // Puts below spot and calls above it carry more open interest.
                let (call_oi, put_oi) = if strike < spot { (oi * 0.8, oi * 1.3) } else { (oi * 1.1, oi * 0.9) };
                StrikeRow {
                    strike,
                    call: self.quote(call_price(spot, strike, years, rate, iv), iv, call_oi),
                    put: self.quote(put_price(spot, strike, years, rate, iv), iv, put_oi),
                }
            })
            .collect();
        self.strikes = strikes;
        OptionChain { underlying: self.spec.underlying.clone(), expiry, ts_ns, spot: self.grid.round(spot), rows }
    }
}

/// Implied volatility at `x` standard deviations of log-moneyness from the forward. The
/// skew saturates (`tanh`) and the wings grow linearly (a hyperbola), so total variance
/// grows slowly enough in the wings that prices stay monotone and convex in strike.
fn smile_vol(atm_vol: f64, skew: f64, smile: f64, x: f64) -> f64 {
    let vol = (atm_vol * (1.0 + skew * x.tanh() + smile * ((1.0 + x * x).sqrt() - 1.0))).clamp(0.01, 5.0);
    // Published to four decimals (a hundredth of a vol point), as platforms do.
    (vol * 1e4).round() / 1e4
}

impl Scheduled for UnderlyingStream {
    type Record = OptionChain;

    fn next_ns(&self) -> i64 {
        self.next_ns
    }

    fn emit(&mut self) -> OptionChain {
        let (expiry, expiry_ns) = self.expiries[self.cursor];
        let chain = self.chain(expiry, expiry_ns);
        self.cursor += 1;
        if self.cursor == self.expiries.len() {
            self.cursor = 0;
            let interval_ns = self.spec.snapshot_interval_ms as i64 * 1_000_000;
            self.next_ns += interval_ns;
            let dt = interval_ns as f64 / 1e9 / SECONDS_PER_YEAR;
            let vol = self.spec.atm_vol;
            let z: f64 = StandardNormal.sample(&mut self.rng);
            self.spot *= (-vol * vol / 2.0 * dt + vol * dt.sqrt() * z).exp();
        }
        chain
    }

    fn skip(&mut self) {
        // Snapshots are periodic: the time of the next needs no draw (the spot walk of an
        // underlying this generator never prices does not matter).
        self.cursor += 1;
        if self.cursor == self.expiries.len() {
            self.cursor = 0;
            self.next_ns += self.spec.snapshot_interval_ms as i64 * 1_000_000;
        }
    }
}
