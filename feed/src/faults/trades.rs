use super::{FaultKind, FaultMix, Planted};
use crate::model::Trade;
use crate::quality::TradeCheck;
use crate::synth::fnv1a;
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

/// Plants faults into a trade stream and records what it planted. Every symbol draws its
/// faults from its own random stream (from the seed and its name), so a shard that makes
/// only some symbols' trades plants exactly the faults the whole feed has for them.
pub struct TradeFaults {
    mix: FaultMix<TradeFault>,
    params: TradeFaultParams,
    seed: u64,
    per_symbol: HashMap<String, SymbolState>,
    emitted: u64,
    planted: Vec<Planted<TradeFault>>,
}

struct SymbolState {
    rng: ChaCha8Rng,
    seq_offset: u64,
    /// How far this symbol's stalls have pushed its times.
    stall_offset_ns: i64,
    latest_ts_ns: Option<i64>,
}

/// What the mix drew for one trade, with the draws its fault takes.
enum Decision {
    Clean,
    Gap(u64),
    Duplicate,
    /// How far back from the symbol's latest time.
    Reorder(i64),
    Stall,
    Spike(bool),
    NonPositive(u32),
}

impl TradeFaults {
    /// An injector drawing from its own seeded streams (independent of the feed's).
    pub fn new(mix: FaultMix<TradeFault>, params: TradeFaultParams, seed: u64) -> TradeFaults {
        TradeFaults { mix, params, seed, per_symbol: HashMap::new(), emitted: 0, planted: Vec::new() }
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

    /// For a trade of `symbol` that another shard makes: draws what the whole feed draws
    /// for it, and returns how many trades come out (2 when it is duplicated), so this
    /// shard's schedule keeps its place.
    pub fn pass(&mut self, symbol: &str) -> u64 {
        if self.mix.is_empty() {
            return 1;
        }
        let state = state_of(&mut self.per_symbol, self.seed, symbol);
        match decide(&self.mix, &self.params, &mut state.rng) {
            Decision::Duplicate => 2,
            _ => 1,
        }
    }

    /// Passes one clean trade through, handing `emit` the one or two trades that come out.
    pub fn apply(&mut self, mut trade: Trade, emit: &mut impl FnMut(Trade)) {
        let state = state_of(&mut self.per_symbol, self.seed, &trade.symbol);
        let decision = decide(&self.mix, &self.params, &mut state.rng);
        trade.seq += state.seq_offset;
        trade.ts_ns += state.stall_offset_ns;
        let mut plant = None;
        let mut duplicate = false;
        match decision {
            Decision::Clean => {}
            Decision::Gap(jump) => {
                state.seq_offset += jump;
                trade.seq += jump;
                plant = Some((TradeFault::Gap, format!("sequence jumps by {jump} to {}", trade.seq)));
            }
            Decision::Duplicate => duplicate = true,
            // The first trade of a symbol has nothing to come before.
            Decision::Reorder(back_ns) => {
                if let Some(latest) = state.latest_ts_ns {
                    trade.ts_ns = latest - back_ns;
                    plant = Some((TradeFault::Reorder, format!("exchange time {back_ns} ns before the latest")));
                }
            }
            Decision::Stall => {
                let stall_ns = self.params.stall_ms as i64 * 1_000_000;
                state.stall_offset_ns += stall_ns;
                trade.ts_ns += stall_ns;
                plant = Some((TradeFault::Stall, format!("symbol quiet for {} ms", self.params.stall_ms)));
            }
            Decision::Spike(up) => {
                let factor = if up { 1.0 + self.params.spike_fraction } else { 1.0 - self.params.spike_fraction };
                trade.price *= factor;
                plant = Some((TradeFault::Spike, format!("price x{factor}")));
            }
            Decision::NonPositive(which) => {
                let (what, value) = match which {
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

/// The state of `symbol`, made with its own random stream on first sight.
fn state_of<'a>(per_symbol: &'a mut HashMap<String, SymbolState>, seed: u64, symbol: &str) -> &'a mut SymbolState {
    if !per_symbol.contains_key(symbol) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473);
        rng.set_stream(fnv1a(symbol.as_bytes()));
        per_symbol
            .insert(symbol.to_owned(), SymbolState { rng, seq_offset: 0, stall_offset_ns: 0, latest_ts_ns: None });
    }
    per_symbol.get_mut(symbol).expect("inserted above")
}

/// Every draw the next trade of a symbol takes (from its stream `rng`), whether or not it
/// is made here: they depend on nothing else, so a shard passing the trade draws the same.
fn decide(mix: &FaultMix<TradeFault>, params: &TradeFaultParams, rng: &mut ChaCha8Rng) -> Decision {
    match mix.draw(rng) {
        None => Decision::Clean,
        Some(TradeFault::Gap) => Decision::Gap(rng.random_range(1..=params.max_gap.max(1))),
        Some(TradeFault::Duplicate) => Decision::Duplicate,
        Some(TradeFault::Reorder) => {
            Decision::Reorder(rng.random_range(1..=params.reorder_ms.max(1)) as i64 * 1_000_000)
        }
        Some(TradeFault::Stall) => Decision::Stall,
        Some(TradeFault::Spike) => Decision::Spike(rng.random::<bool>()),
        Some(TradeFault::NonPositive) => Decision::NonPositive(rng.random_range(0..4)),
    }
}
