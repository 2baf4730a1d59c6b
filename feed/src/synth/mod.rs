//! Seeded, deterministic generators of realistic feeds: the same configuration and seed
//! give the same records, byte for byte, on every run.
//!
//! Every symbol (or underlying) draws from its own random stream, derived from the seed
//! and its name, and the streams are merged by time with ties broken by name. So a
//! generator given a subset of the symbols produces exactly the records of those symbols
//! in the full feed: that is what lets load generators split a feed into shards.

mod black_scholes;
mod chains;
mod grid;
mod merge;
mod trades;

pub use black_scholes::{Greeks, call_price, greeks, implied_vol, put_price};
pub use chains::{ChainSpec, ChainSynth, expiry_ns};
pub use grid::TickGrid;
pub use merge::Slot;
pub use trades::{SymbolSpec, TradeSynth};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Seconds in a year of continuous trading, the unit of volatility and rates.
pub const SECONDS_PER_YEAR: f64 = 365.25 * 24.0 * 3600.0;

/// The random stream of one symbol: ChaCha8 (portable and stable across releases) keyed
/// by the seed, on a stream chosen by the symbol's name.
fn stream_for(seed: u64, name: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(name.as_bytes()));
    rng
}

/// FNV-1a, 64 bit: a stable hash of a name (std's hasher is not stable across releases).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
