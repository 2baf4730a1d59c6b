use super::{FaultKind, FaultMix, Planted};
use crate::model::Trade;
use crate::quality::TradeCheck;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Faults a trade stream can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeFault {
    /// The symbol's sequence number jumps forward by 1 to `max_gap` (messages lost).
    Gap,
    /// The trade is sent twice, byte for byte.
    Duplicate,
    /// The trade carries an exchange time before the latest one already sent for its
    /// symbol (the venue delivered it out of order). Its sequence number stays in place.
    Reorder,
    /// The feed goes quiet: this and every later trade is `stall_ms` later in exchange time.
    Stall,
    /// The price is off by `spike_fraction` up or down for this one trade.
    Spike,
    /// The price or the size is zero or negative.
    NonPositive,
}

impl FaultKind for TradeFault {
    type Check = TradeCheck;

    const ALL: &'static [(Self, &'static str, TradeCheck)] = &[
        (TradeFault::Gap, "gap", TradeCheck::Gap),
        (TradeFault::Duplicate, "duplicate", TradeCheck::Duplicate),
        (TradeFault::Reorder, "reorder", TradeCheck::OutOfOrder),
        (TradeFault::Stall, "stall", TradeCheck::Stale),
        (TradeFault::Spike, "spike", TradeCheck::Spike),
        (TradeFault::NonPositive, "non_positive", TradeCheck::NonPositive),
    ];
}

/// Sizes of the planted faults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TradeFaultParams {
    /// Largest sequence jump of a gap.
    pub max_gap: u64,
    /// How long a stall lasts, in milliseconds.
    pub stall_ms: u64,
    /// How far a spike moves the price, as a fraction (0.1 = 10 %).
    pub spike_fraction: f64,
    /// Largest step back in time of a reordered trade, in milliseconds.
    pub reorder_ms: u64,
}

impl Default for TradeFaultParams {
    fn default() -> Self {
        TradeFaultParams { max_gap: 5, stall_ms: 5_000, spike_fraction: 0.1, reorder_ms: 50 }
    }
}

/// Plants faults into a trade stream and records what it planted.
pub struct TradeFaults {
    mix: FaultMix<TradeFault>,
    params: TradeFaultParams,
    rng: ChaCha8Rng,
    per_symbol: HashMap<String, SymbolState>,
    stall_offset_ns: i64,
    emitted: u64,
    planted: Vec<Planted<TradeFault>>,
}

#[derive(Default)]
struct SymbolState {
    seq_offset: u64,
    latest_ts_ns: Option<i64>,
}

impl TradeFaults {
    /// An injector drawing from its own seeded stream (independent of the feed's).
    pub fn new(mix: FaultMix<TradeFault>, params: TradeFaultParams, seed: u64) -> TradeFaults {
        TradeFaults {
            mix,
            params,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
            per_symbol: HashMap::new(),
            stall_offset_ns: 0,
            emitted: 0,
            planted: Vec::new(),
        }
    }

    /// Changes the faults planted from the next record on (a load phase's faults),
    /// keeping what the injector remembers about the stream.
    pub fn set_mix(&mut self, mix: FaultMix<TradeFault>) {
        self.mix = mix;
    }

    /// Everything planted so far, in output order.
    pub fn planted(&self) -> &[Planted<TradeFault>] {
        &self.planted
    }

    /// Passes one clean trade through, handing `emit` the one or two trades that come out.
    pub fn apply(&mut self, mut trade: Trade, emit: &mut impl FnMut(Trade)) {
        if !self.per_symbol.contains_key(&trade.symbol) {
            self.per_symbol.insert(trade.symbol.clone(), SymbolState::default());
        }
        let state = self.per_symbol.get_mut(&trade.symbol).expect("inserted above");
        trade.seq += state.seq_offset;
        trade.ts_ns += self.stall_offset_ns;
        let mut plant = None;
        let mut duplicate = false;
        match self.mix.draw(&mut self.rng) {
            None => {}
            Some(TradeFault::Gap) => {
                let jump = self.rng.random_range(1..=self.params.max_gap.max(1));
                state.seq_offset += jump;
                trade.seq += jump;
                plant = Some((TradeFault::Gap, format!("sequence jumps by {jump} to {}", trade.seq)));
            }
            Some(TradeFault::Duplicate) => duplicate = true,
            Some(TradeFault::Reorder) => {
                if let Some(latest) = state.latest_ts_ns {
                    let back_ns = self.rng.random_range(1..=self.params.reorder_ms.max(1)) as i64 * 1_000_000;
                    trade.ts_ns = latest - back_ns;
                    plant = Some((TradeFault::Reorder, format!("exchange time {back_ns} ns before the latest")));
                }
            }
            Some(TradeFault::Stall) => {
                let stall_ns = self.params.stall_ms as i64 * 1_000_000;
                self.stall_offset_ns += stall_ns;
                trade.ts_ns += stall_ns;
                plant = Some((TradeFault::Stall, format!("feed quiet for {} ms", self.params.stall_ms)));
            }
            Some(TradeFault::Spike) => {
                let up = self.rng.random::<bool>();
                let factor = if up { 1.0 + self.params.spike_fraction } else { 1.0 - self.params.spike_fraction };
                trade.price *= factor;
                plant = Some((TradeFault::Spike, format!("price x{factor}")));
            }
            Some(TradeFault::NonPositive) => {
                let (what, value) = match self.rng.random_range(0..4) {
                    0 => ("price", 0.0),
                    1 => ("price", -trade.price),
                    2 => ("qty", 0.0),
                    _ => ("qty", -trade.qty),
                };
                if what == "price" {
                    trade.price = value
                } else {
                    trade.qty = value
                }
                plant = Some((TradeFault::NonPositive, format!("{what} set to {value}")));
            }
        }
        state.latest_ts_ns = Some(state.latest_ts_ns.map_or(trade.ts_ns, |t| t.max(trade.ts_ns)));
        if let Some((kind, detail)) = plant {
            self.record(kind, &trade.symbol, detail);
        }
        if duplicate {
            emit(trade.clone());
            self.emitted += 1;
            self.record(TradeFault::Duplicate, &trade.symbol, format!("seq {} sent again", trade.seq));
        }
        emit(trade);
        self.emitted += 1;
    }

    fn record(&mut self, kind: TradeFault, key: &str, detail: String) {
        self.planted.push(Planted { index: self.emitted, kind, key: key.to_owned(), detail });
    }
}
