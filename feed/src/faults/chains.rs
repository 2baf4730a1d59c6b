use super::{FaultKind, FaultMix, Planted};
use crate::model::{OptionChain, Quote};
use crate::quality::ChainCheck;
use crate::synth::fnv1a;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Faults an option-chain stream can carry. Each is planted near the money, where
/// prices are large enough to shape it, and is one problem under the `arbitrage` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainFault {
    /// One call bids above its own ask.
    Crossed,
    /// One interior strike is missing from the grid.
    MissingStrike,
    /// A call bids above the ask of the call one strike lower; every row from there up
    /// moves by the same amount, calls and puts, so parity and convexity stay intact.
    CallMonotonicity,
    /// A put bids above the ask of the put one strike higher; rows from there down move.
    PutMonotonicity,
    /// One call (and its put, to keep parity) is raised above the line of its two
    /// neighbours, yet not above its lower neighbour's ask: non-convex, still monotone.
    Butterfly,
    /// One put is raised by more than three times the row's spreads, within monotonicity.
    Parity,
    /// One call's implied volatility is zero, negative or absurdly high.
    IvBounds,
    /// The underlying goes quiet: this and every later chain is `stall_ms` later.
    Stall,
}

impl FaultKind for ChainFault {
    type Check = ChainCheck;

    const ALL: &'static [(Self, &'static str, ChainCheck)] = &[
        (ChainFault::Crossed, "crossed", ChainCheck::Crossed),
        (ChainFault::MissingStrike, "missing_strike", ChainCheck::MissingStrike),
        (ChainFault::CallMonotonicity, "call_monotonicity", ChainCheck::CallMonotonicity),
        (ChainFault::PutMonotonicity, "put_monotonicity", ChainCheck::PutMonotonicity),
        (ChainFault::Butterfly, "butterfly", ChainCheck::Butterfly),
        (ChainFault::Parity, "parity", ChainCheck::Parity),
        (ChainFault::IvBounds, "iv_bounds", ChainCheck::IvBounds),
        (ChainFault::Stall, "stall", ChainCheck::Stale),
    ];
}

/// Plants faults into an option-chain stream and records what it planted. Every
/// underlying draws from its own random stream (from the seed and its name), so a shard
/// that makes only some underlyings' chains plants exactly the whole feed's faults in them.
pub struct ChainFaults {
    mix: FaultMix<ChainFault>,
    stall_ms: u64,
    seed: u64,
    per_underlying: HashMap<String, UnderlyingState>,
    emitted: u64,
    skipped: u64,
    planted: Vec<Planted<ChainFault>>,
}

struct UnderlyingState {
    rng: ChaCha8Rng,
    /// How far this underlying's stalls have pushed its times.
    stall_offset_ns: i64,
}

impl ChainFaults {
    /// An injector drawing from its own seeded stream; stalls last `stall_ms`.
    pub fn new(mix: FaultMix<ChainFault>, stall_ms: u64, seed: u64) -> ChainFaults {
        ChainFaults { mix, stall_ms, seed, per_underlying: HashMap::new(), emitted: 0, skipped: 0, planted: Vec::new() }
    }

    /// Changes the faults planted from the next record on (a load phase's faults),
    /// keeping what the injector remembers about the stream.
    pub fn set_mix(&mut self, mix: FaultMix<ChainFault>) {
        self.mix = mix;
    }

    /// Everything planted so far, in output order.
    pub fn planted(&self) -> &[Planted<ChainFault>] {
        &self.planted
    }

    /// Faults drawn but not planted because the chain had no row that could carry them
    /// cleanly (too few strikes, spreads wider than the strike step).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Passes one clean chain through, possibly with one fault planted.
    pub fn apply(&mut self, mut chain: OptionChain) -> OptionChain {
        if !self.per_underlying.contains_key(&chain.underlying) {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6368_6169_6e73);
            rng.set_stream(fnv1a(chain.underlying.as_bytes()));
            self.per_underlying.insert(chain.underlying.clone(), UnderlyingState { rng, stall_offset_ns: 0 });
        }
        let state = self.per_underlying.get_mut(&chain.underlying).expect("inserted above");
        chain.ts_ns += state.stall_offset_ns;
        if let Some(kind) = self.mix.draw(&mut state.rng) {
            match plant(kind, &mut chain, state, self.stall_ms) {
                Some(detail) => {
                    self.planted.push(Planted { index: self.emitted, kind, key: chain.underlying.clone(), detail })
                }
                None => self.skipped += 1,
            }
        }
        self.emitted += 1;
        chain
    }
}

/// Plants `kind` in `chain` with the underlying's draws; `None` when no row can carry it.
fn plant(kind: ChainFault, chain: &mut OptionChain, state: &mut UnderlyingState, stall_ms: u64) -> Option<String> {
    if kind == ChainFault::Stall {
        let stall_ns = stall_ms as i64 * 1_000_000;
        state.stall_offset_ns += stall_ns;
        chain.ts_ns += stall_ns;
        return Some(format!("underlying quiet for {stall_ms} ms"));
    }
    // Interior rows nearest the money first, starting at a random one of the closest.
    let n = chain.rows.len();
    if n < 7 {
        return None;
    }
    let mut candidates: Vec<usize> = (2..n - 2).collect();
    candidates.sort_by(|&a, &b| {
        let distance = |i: usize| (chain.rows[i].strike - chain.spot).abs();
        distance(a).total_cmp(&distance(b))
    });
    let start = state.rng.random_range(0..candidates.len().min(3));
    candidates.rotate_left(start);
    candidates.into_iter().find_map(|i| plant_at(kind, chain, i, &mut state.rng))
}

/// Plants `kind` at row `i`, or leaves the chain untouched and returns `None` when that
/// row cannot carry it cleanly.
fn plant_at(kind: ChainFault, chain: &mut OptionChain, i: usize, rng: &mut ChaCha8Rng) -> Option<String> {
    let rows = &mut chain.rows;
    let strike = rows[i].strike;
    let spread = |q: &Quote| q.ask - q.bid;
    match kind {
        ChainFault::Crossed => {
            let call = &mut rows[i].call;
            call.bid = call.ask + spread(call).max(call.ask * 0.01);
            Some(format!("call at {strike} bids {} over ask {}", call.bid, call.ask))
        }
        ChainFault::MissingStrike => {
            rows.remove(i);
            Some(format!("strike {strike} removed"))
        }
        ChainFault::IvBounds => {
            let iv = [0.0, -0.2, 12.0][rng.random_range(0..3)];
            rows[i].call.iv = iv;
            Some(format!("call at {strike} has iv {iv}"))
        }
        ChainFault::CallMonotonicity => {
            let margin = spread(&rows[i].call).max(rows[i].call.ask * 0.05);
            let shift = rows[i].call.ask - rows[i + 1].call.bid + margin;
            rows[i + 1..].iter_mut().for_each(|r| shift_row(r, shift));
            Some(format!("calls from strike {} up raised by {shift}", rows[i + 1].strike))
        }
        ChainFault::PutMonotonicity => {
            let margin = spread(&rows[i + 1].put).max(rows[i + 1].put.ask * 0.05);
            let shift = rows[i + 1].put.ask - rows[i].put.bid + margin;
            rows[..=i].iter_mut().for_each(|r| shift_row(r, shift));
            Some(format!("puts from strike {strike} down raised by {shift}"))
        }
        ChainFault::Butterfly => {
            let (lo, mid, hi) = (rows[i - 1], rows[i], rows[i + 1]);
            let width = hi.strike - lo.strike;
            let wings = (hi.strike - mid.strike) / width * lo.call.ask + (mid.strike - lo.strike) / width * hi.call.ask;
            let least = wings - mid.call.bid;
            let most = (lo.call.ask - mid.call.bid).min(hi.put.ask - mid.put.bid);
            let room = most - least;
            if room <= chain.spot * 1e-6 {
                return None;
            }
            let shift = least + room / 2.0;
            shift_row(&mut rows[i], shift);
            Some(format!("call and put at {strike} raised by {shift} above the wings' line"))
        }
        ChainFault::Parity => {
            let shift = 3.0 * (spread(&rows[i].call) + spread(&rows[i].put));
            let most = rows[i + 1].put.ask - rows[i].put.bid;
            if shift >= most - chain.spot * 1e-6 || shift <= 0.0 {
                return None;
            }
            shift_quote(&mut rows[i].put, shift);
            Some(format!("put at {strike} raised by {shift}"))
        }
        ChainFault::Stall => unreachable!("planted by the caller"),
    }
}

fn shift_row(row: &mut crate::model::StrikeRow, by: f64) {
    shift_quote(&mut row.call, by);
    shift_quote(&mut row.put, by);
}

fn shift_quote(quote: &mut Quote, by: f64) {
    quote.bid += by;
    quote.ask += by;
    quote.last += by;
}
