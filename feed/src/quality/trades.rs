//! Checks of a trade stream, per symbol.
//!
//! | check | fails when |
//! |---|---|
//! | `duplicate` | the trade equals the symbol's previous one (no other check runs on it) |
//! | `gap` | the sequence number jumps forward by more than one (one anomaly per jump) |
//! | `out_of_order` | the exchange time is before the latest already seen for the symbol, or the sequence number goes back |
//! | `non_positive` | the price or the size is zero or negative |
//! | `spike` | the price is off the median of the last 32 good prices by more than `spike_mads` median absolute deviations and by more than `spike_min_fraction` |
//! | `clock_drift` | exchange time and arrival time differ by more than `max_clock_drift_ns` (one anomaly per drift episode) |
//! | `stale` | no trade for `stale_after` (judged by [`super::Staleness`], beside this) |

use super::Check;

/// The fields of a trade the checks need (decoded without allocating).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TradeTick {
    /// Venue sequence number, when the feed has one.
    pub seq: Option<u64>,
    pub ts_ns: i64,
    pub price: f64,
    pub qty: f64,
}

/// The trade checks, in label order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeCheck {
    Gap,
    Duplicate,
    OutOfOrder,
    Spike,
    NonPositive,
    ClockDrift,
    Stale,
}

impl Check for TradeCheck {
    const ALL: &'static [TradeCheck] = &[
        TradeCheck::Gap,
        TradeCheck::Duplicate,
        TradeCheck::OutOfOrder,
        TradeCheck::Spike,
        TradeCheck::NonPositive,
        TradeCheck::ClockDrift,
        TradeCheck::Stale,
    ];

    fn label(self) -> &'static str {
        match self {
            TradeCheck::Gap => "gap",
            TradeCheck::Duplicate => "duplicate",
            TradeCheck::OutOfOrder => "out_of_order",
            TradeCheck::Spike => "spike",
            TradeCheck::NonPositive => "non_positive",
            TradeCheck::ClockDrift => "clock_drift",
            TradeCheck::Stale => "stale",
        }
    }
}

/// Thresholds of the trade checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TradeThresholds {
    /// How many median absolute deviations from the rolling median make a spike.
    pub spike_mads: f64,
    /// The least relative distance from the median that can be a spike (guards
    /// against a near-zero MAD in a quiet market).
    pub spike_min_fraction: f64,
    /// Largest tolerated difference between exchange time and arrival time.
    pub max_clock_drift_ns: i64,
}

impl Default for TradeThresholds {
    fn default() -> Self {
        TradeThresholds { spike_mads: 10.0, spike_min_fraction: 0.02, max_clock_drift_ns: 5_000_000_000 }
    }
}

/// What the checks said about one trade: per check (indexed by `TradeCheck as usize`)
/// whether it ran and passed, and whether it is a new anomaly.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TradeVerdict {
    pub results: [Option<bool>; 7],
    pub anomalies: [bool; 7],
}

impl TradeVerdict {
    fn set(&mut self, check: TradeCheck, passed: bool) {
        self.results[check as usize] = Some(passed);
        self.anomalies[check as usize] = !passed;
    }
}

/// Good prices kept for the median; spikes are judged once 8 are in.
const SPIKE_WINDOW: usize = 32;
const MIN_PRICES_FOR_SPIKES: usize = 8;

/// Everything remembered about one symbol.
#[derive(Debug, Clone)]
pub struct SymbolQuality {
    last: Option<TradeTick>,
    last_seq: Option<u64>,
    max_ts_ns: i64,
    drifting: bool,
    /// The last good prices in arrival order (a ring, `prices_next` the oldest once full)...
    prices: [f64; SPIKE_WINDOW],
    /// ...and the same prices sorted, so that the median is read, not searched for.
    sorted: [f64; SPIKE_WINDOW],
    prices_len: usize,
    prices_next: usize,
}

impl Default for SymbolQuality {
    fn default() -> Self {
        SymbolQuality {
            last: None,
            last_seq: None,
            max_ts_ns: i64::MIN,
            drifting: false,
            prices: [0.0; SPIKE_WINDOW],
            sorted: [0.0; SPIKE_WINDOW],
            prices_len: 0,
            prices_next: 0,
        }
    }
}

impl SymbolQuality {
    /// Checks one trade that arrived at `arrival_ns`.
    pub fn check(&mut self, tick: &TradeTick, arrival_ns: i64, th: &TradeThresholds) -> TradeVerdict {
        let mut v = TradeVerdict::default();
        if self.last.as_ref() == Some(tick) {
            v.set(TradeCheck::Duplicate, false);
            return v;
        }
        v.set(TradeCheck::Duplicate, true);

        if let (Some(seq), Some(last_seq)) = (tick.seq, self.last_seq) {
            v.set(TradeCheck::Gap, seq <= last_seq.saturating_add(1));
        }
        let seq_back = matches!((tick.seq, self.last_seq), (Some(s), Some(l)) if s <= l);
        v.set(TradeCheck::OutOfOrder, !(seq_back || tick.ts_ns < self.max_ts_ns));

        let positive = tick.price > 0.0 && tick.qty > 0.0 && tick.price.is_finite() && tick.qty.is_finite();
        v.set(TradeCheck::NonPositive, positive);
        let mut spike = false;
        if positive && self.prices_len >= MIN_PRICES_FOR_SPIKES {
            let median = self.sorted[self.prices_len / 2];
            let distance = (tick.price - median).abs();
            // The deviations' median is needed only for a price this far off.
            spike = distance > th.spike_min_fraction * median && distance > th.spike_mads * 1.4826 * self.mad(median);
            v.set(TradeCheck::Spike, !spike);
        }

        let drift = arrival_ns.abs_diff(tick.ts_ns) > th.max_clock_drift_ns.unsigned_abs();
        v.results[TradeCheck::ClockDrift as usize] = Some(!drift);
        v.anomalies[TradeCheck::ClockDrift as usize] = drift && !self.drifting;
        self.drifting = drift;

        self.last = Some(*tick);
        if let Some(seq) = tick.seq {
            self.last_seq = Some(self.last_seq.map_or(seq, |l| l.max(seq)));
        }
        self.max_ts_ns = self.max_ts_ns.max(tick.ts_ns);
        if positive && !spike {
            self.push_price(tick.price);
        }
        v
    }

    fn push_price(&mut self, price: f64) {
        let mut len = self.prices_len;
        if len == SPIKE_WINDOW {
            let oldest = self.prices[self.prices_next];
            let at = self.sorted[..len].partition_point(|p| p.total_cmp(&oldest).is_lt());
            self.sorted.copy_within(at + 1..len, at);
            len -= 1;
        }
        let at = self.sorted[..len].partition_point(|p| p.total_cmp(&price).is_lt());
        self.sorted.copy_within(at..len, at + 1);
        self.sorted[at] = price;
        self.prices[self.prices_next] = price;
        self.prices_next = (self.prices_next + 1) % SPIKE_WINDOW;
        self.prices_len = len + 1;
    }

    /// The median absolute deviation of the kept prices from their `median`.
    fn mad(&self, median: f64) -> f64 {
        let mut deviations = [0.0; SPIKE_WINDOW];
        let deviations = &mut deviations[..self.prices_len];
        deviations.iter_mut().zip(&self.sorted).for_each(|(d, p)| *d = (*p - median).abs());
        let mid = deviations.len() / 2;
        *deviations.select_nth_unstable_by(mid, f64::total_cmp).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(seq: u64, ms: i64, price: f64) -> TradeTick {
        TradeTick { seq: Some(seq), ts_ns: ms * 1_000_000, price, qty: 1.0 }
    }

    fn failed(v: &TradeVerdict) -> Vec<&'static str> {
        TradeCheck::ALL.iter().filter(|c| v.anomalies[**c as usize]).map(|c| c.label()).collect()
    }

    #[test]
    fn each_fault_is_one_anomaly_of_its_kind() {
        let th = TradeThresholds::default();
        let mut q = SymbolQuality::default();
        let at = |ms: i64| ms * 1_000_000;
        for i in 1..=20 {
            assert!(failed(&q.check(&tick(i, i as i64, 100.0 + i as f64 * 0.01), at(i as i64), &th)).is_empty());
        }
        assert_eq!(failed(&q.check(&tick(25, 21, 100.2), at(21), &th)), ["gap"]);
        let resend = tick(25, 21, 100.2);
        assert_eq!(failed(&q.check(&resend, at(22), &th)), ["duplicate"]);
        assert_eq!(failed(&q.check(&tick(26, 10, 100.2), at(23), &th)), ["out_of_order"]);
        assert_eq!(failed(&q.check(&tick(27, 24, 110.3), at(24), &th)), ["spike"]);
        assert_eq!(failed(&q.check(&tick(28, 25, 0.0), at(25), &th)), ["non_positive"]);
        assert!(failed(&q.check(&tick(29, 26, 100.21), at(26), &th)).is_empty(), "back to normal");
        // Clock drift: one anomaly when it starts, none while it lasts.
        assert_eq!(failed(&q.check(&tick(30, 27, 100.2), at(27) + 6_000_000_000, &th)), ["clock_drift"]);
        let v = q.check(&tick(31, 28, 100.2), at(28) + 6_000_000_000, &th);
        assert!(failed(&v).is_empty() && v.results[TradeCheck::ClockDrift as usize] == Some(false));
    }

    /// The kept prices' sorted copy gives the spike verdict that sorting the last 32 good
    /// prices anew gives, through eviction and with repeated prices.
    #[test]
    fn the_sorted_window_judges_spikes_like_a_fresh_sort() {
        use rand::{RngExt, SeedableRng};
        let th = TradeThresholds::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (mut q, mut good) = (SymbolQuality::default(), std::collections::VecDeque::new());
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut spikes = 0;
        for i in 0..5_000u64 {
            let price = match rng.random_range(0..20) {
                0 => 130.0,
                1 => 100.0,
                _ => 100.0 + f64::from(rng.random_range(-300..300)) * 0.01,
            };
            let v = q.check(&TradeTick { seq: Some(i), ts_ns: 0, price, qty: 1.0 }, 0, &th);
            let expected = (good.len() >= MIN_PRICES_FOR_SPIKES).then(|| {
                let m = median(&mut good.iter().copied().collect());
                let mad = median(&mut good.iter().map(|p: &f64| (p - m).abs()).collect());
                let distance = (price - m).abs();
                distance > th.spike_mads * 1.4826 * mad && distance > th.spike_min_fraction * m
            });
            assert_eq!(v.results[TradeCheck::Spike as usize], expected.map(|spike| !spike), "trade {i}");
            spikes += usize::from(expected == Some(true));
            if expected != Some(true) {
                good.push_back(price);
                if good.len() > SPIKE_WINDOW {
                    good.pop_front();
                }
            }
        }
        assert!(spikes > 100, "the walk has spikes to judge ({spikes})");
    }

    /// Found by the feed_pipeline fuzz target: a sequence number of u64::MAX overflowed
    /// the gap check, and extreme exchange times the clock-drift check.
    #[test]
    fn extreme_sequence_numbers_and_times_are_judged_without_overflow() {
        let th = TradeThresholds::default();
        let mut q = SymbolQuality::default();
        q.check(&TradeTick { seq: Some(u64::MAX), ts_ns: i64::MIN, price: 1.0, qty: 1.0 }, i64::MAX, &th);
        let v = q.check(&TradeTick { seq: Some(u64::MAX), ts_ns: i64::MAX, price: 1.0, qty: 1.0 }, i64::MIN, &th);
        assert_eq!(v.results[TradeCheck::Gap as usize], Some(true), "no gap after the largest number");
        assert_eq!(v.results[TradeCheck::ClockDrift as usize], Some(false));
    }
}
