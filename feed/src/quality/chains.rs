//! Checks of one option-chain snapshot. Each check passes or fails once per chain (so a
//! chain with two crossed quotes is one `crossed` anomaly); the arbitrage checks follow
//! the tradable-price rules of [`crate::arbitrage`].
//!
//! | check | fails when |
//! |---|---|
//! | `crossed` | a quote bids above its ask, asks zero or less, or bids below zero |
//! | `missing_strike` | a strike of the chain's own grid is missing: a gap between two strikes is a whole multiple (2 or more) of the grid step (the most common gap) while the gaps beside it are one step |
//! | `call_monotonicity` | a call bids above the ask of the call one strike lower |
//! | `put_monotonicity` | a put bids above the ask of the put one strike higher |
//! | `butterfly` | the asks of two call wings, weighted, cost less than the bid of the body |
//! | `parity` | call mid minus put mid is off the chain's own parity line by more than the two spreads plus `parity_slack` |
//! | `iv_bounds` | an implied volatility is not in (`iv_min`, `iv_max`] |
//! | `stale` | no chain of the underlying for `stale_after` (see [`super::Staleness`]) |

use super::Check;
use crate::arbitrage::{
    ParityLine, butterfly_breaks, call_monotonicity_breaks, parity_breaks, put_monotonicity_breaks, usable_rows,
};
use crate::model::OptionChain;

/// The chain checks, in label order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainCheck {
    Crossed,
    MissingStrike,
    CallMonotonicity,
    PutMonotonicity,
    Butterfly,
    Parity,
    IvBounds,
    Stale,
}

impl Check for ChainCheck {
    const ALL: &'static [ChainCheck] = &[
        ChainCheck::Crossed,
        ChainCheck::MissingStrike,
        ChainCheck::CallMonotonicity,
        ChainCheck::PutMonotonicity,
        ChainCheck::Butterfly,
        ChainCheck::Parity,
        ChainCheck::IvBounds,
        ChainCheck::Stale,
    ];

    fn label(self) -> &'static str {
        match self {
            ChainCheck::Crossed => "crossed",
            ChainCheck::MissingStrike => "missing_strike",
            ChainCheck::CallMonotonicity => "call_monotonicity",
            ChainCheck::PutMonotonicity => "put_monotonicity",
            ChainCheck::Butterfly => "butterfly",
            ChainCheck::Parity => "parity",
            ChainCheck::IvBounds => "iv_bounds",
            ChainCheck::Stale => "stale",
        }
    }
}

/// Thresholds of the chain checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainThresholds {
    /// Implied volatility must be above this...
    pub iv_min: f64,
    /// ...and at most this (5.0 = 500 %).
    pub iv_max: f64,
    /// Extra room for parity beyond the two spreads, in price units.
    pub parity_slack: f64,
}

impl Default for ChainThresholds {
    fn default() -> Self {
        ChainThresholds { iv_min: 0.0, iv_max: 5.0, parity_slack: 0.0 }
    }
}

/// Pass (true) or fail per check, indexed by `ChainCheck as usize` (`stale` is not
/// judged per chain and stays `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChainVerdict {
    pub results: [Option<bool>; 8],
}

/// Runs every per-chain check.
pub fn check_chain(chain: &OptionChain, th: &ChainThresholds) -> ChainVerdict {
    let mut v = ChainVerdict::default();
    let mut set = |check: ChainCheck, passed: bool| v.results[check as usize] = Some(passed);
    set(ChainCheck::Crossed, chain.rows.iter().all(|r| r.call.is_valid() && r.put.is_valid()));
    set(
        ChainCheck::IvBounds,
        chain.rows.iter().all(|r| [r.call.iv, r.put.iv].iter().all(|iv| *iv > th.iv_min && *iv <= th.iv_max)),
    );
    set(ChainCheck::MissingStrike, !missing_strike(chain));
    let usable = usable_rows(chain);
    set(ChainCheck::CallMonotonicity, call_monotonicity_breaks(chain, &usable).is_empty());
    set(ChainCheck::PutMonotonicity, put_monotonicity_breaks(chain, &usable).is_empty());
    set(ChainCheck::Butterfly, butterfly_breaks(chain, &usable).is_empty());
    if let Some(line) = ParityLine::estimate(chain, &usable) {
        set(ChainCheck::Parity, parity_breaks(chain, &usable, &line, th.parity_slack).is_empty());
    }
    v
}

fn missing_strike(chain: &OptionChain) -> bool {
    let gaps: Vec<f64> = chain.rows.windows(2).map(|w| w[1].strike - w[0].strike).collect();
    let Some(step) = most_common(&gaps) else { return false };
    let is_step = |g: f64| (g - step).abs() <= step * 1e-6;
    gaps.iter().enumerate().any(|(i, &g)| {
        let multiple = g / step;
        let whole = (multiple - multiple.round()).abs() < 1e-6 && multiple.round() >= 2.0;
        let left_ok = i == 0 || is_step(gaps[i - 1]);
        let right_ok = i + 1 == gaps.len() || is_step(gaps[i + 1]);
        whole && left_ok && right_ok
    })
}

fn most_common(values: &[f64]) -> Option<f64> {
    let mut best: Option<(f64, usize)> = None;
    for &v in values {
        let count = values.iter().filter(|&&w| (w - v).abs() <= v.abs() * 1e-6).count();
        if best.is_none_or(|(_, c)| count > c) {
            best = Some((v, count));
        }
    }
    best.map(|(v, _)| v)
}
