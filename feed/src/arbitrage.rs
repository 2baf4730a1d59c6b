//! Static-arbitrage rules for one option chain, stated on tradable prices.
//!
//! A rule is broken only when someone could trade on it: buying at the ask and selling at
//! the bid. Mid prices drift within the spread and tick rounding moves them; an arbitrage
//! that needs better than the quoted prices is noise, not a data-quality problem.
//!
//! Rows whose call or put quote is invalid (crossed, zero or negative ask, negative bid)
//! are left out of every rule: one bad quote is one `crossed` problem, and it must not
//! also show up as a butterfly or monotonicity break of its neighbours. For the same
//! reason a butterfly is only judged on three rows whose two neighbouring pairs pass
//! both monotonicity rules. Puts are not tested for convexity: by put-call parity a put
//! butterfly is the call butterfly at the same strikes.

use crate::model::{OptionChain, StrikeRow};

/// Absolute slack for float comparisons of prices.
const EPS: f64 = 1e-9;

/// Indices (into `chain.rows`) of the rows whose call and put quotes are both valid.
pub fn usable_rows(chain: &OptionChain) -> Vec<usize> {
    chain.rows.iter().enumerate().filter(|(_, r)| r.call.is_valid() && r.put.is_valid()).map(|(i, _)| i).collect()
}

/// Calls must not rise with strike: the call at the higher strike bids above the ask of
/// the call at the lower strike. Returns the pairs `(lower, higher)` of row indices.
pub fn call_monotonicity_breaks(chain: &OptionChain, usable: &[usize]) -> Vec<(usize, usize)> {
    pairs(usable).filter(|&(a, b)| call_pair_broken(&chain.rows[a], &chain.rows[b])).collect()
}

/// Puts must not fall with strike: the put at the lower strike bids above the ask of the
/// put at the higher strike. Returns the pairs `(lower, higher)` of row indices.
pub fn put_monotonicity_breaks(chain: &OptionChain, usable: &[usize]) -> Vec<(usize, usize)> {
    pairs(usable).filter(|&(a, b)| put_pair_broken(&chain.rows[a], &chain.rows[b])).collect()
}

/// Calls must be convex in strike: buying the two wings of a butterfly at their asks, in
/// the weights that make its payoff non-negative, costs less than selling the body at
/// its bid. Returns the body row of each broken butterfly.
pub fn butterfly_breaks(chain: &OptionChain, usable: &[usize]) -> Vec<usize> {
    usable
        .windows(3)
        .filter(|w| {
            let (lo, mid, hi) = (&chain.rows[w[0]], &chain.rows[w[1]], &chain.rows[w[2]]);
            let monotone = |a: &StrikeRow, b: &StrikeRow| !call_pair_broken(a, b) && !put_pair_broken(a, b);
            if !monotone(lo, mid) || !monotone(mid, hi) {
                return false;
            }
            let width = hi.strike - lo.strike;
            let w_lo = (hi.strike - mid.strike) / width;
            let w_hi = (mid.strike - lo.strike) / width;
            w_lo * lo.call.ask + w_hi * hi.call.ask < mid.call.bid - EPS
        })
        .map(|w| w[1])
        .collect()
}

/// What the chain itself implies for put-call parity `C - P = PV(F) - DF * K`: the
/// discount factor and the present value of the forward, estimated robustly so that one
/// bad row cannot move the line it is measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParityLine {
    pub discount: f64,
    pub pv_forward: f64,
}

impl ParityLine {
    /// Estimates the line from the mids of the usable rows: the slope is the median of
    /// slopes between rows half the chain apart (wide baselines keep the spread's noise
    /// small), the intercept the median of what each row implies given that slope.
    /// Needs at least four usable rows.
    pub fn estimate(chain: &OptionChain, usable: &[usize]) -> Option<ParityLine> {
        if usable.len() < 4 {
            return None;
        }
        let synthetic = |i: usize| chain.rows[i].call.mid() - chain.rows[i].put.mid();
        let half = usable.len() / 2;
        let mut slopes: Vec<f64> = (0..usable.len() - half)
            .map(|j| {
                let (a, b) = (usable[j], usable[j + half]);
                -(synthetic(b) - synthetic(a)) / (chain.rows[b].strike - chain.rows[a].strike)
            })
            .collect();
        let discount = median(&mut slopes)?;
        let mut intercepts: Vec<f64> = usable.iter().map(|&i| synthetic(i) + discount * chain.rows[i].strike).collect();
        let pv_forward = median(&mut intercepts)?;
        Some(ParityLine { discount, pv_forward })
    }

    /// How far a row's synthetic forward (call mid minus put mid) sits from the line.
    pub fn residual(&self, row: &StrikeRow) -> f64 {
        row.call.mid() - row.put.mid() - (self.pv_forward - self.discount * row.strike)
    }
}

/// Rows whose synthetic forward is off the parity line by more than the two spreads
/// together plus `slack` (in price units; one tick is a sensible choice): closer than
/// that, no trade at the quoted prices captures the difference.
pub fn parity_breaks(chain: &OptionChain, usable: &[usize], line: &ParityLine, slack: f64) -> Vec<usize> {
    usable
        .iter()
        .copied()
        .filter(|&i| {
            let row = &chain.rows[i];
            let allowed = (row.call.ask - row.call.bid) + (row.put.ask - row.put.bid) + slack;
            line.residual(row).abs() > allowed + EPS
        })
        .collect()
}

fn pairs(usable: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    usable.windows(2).map(|w| (w[0], w[1]))
}

fn call_pair_broken(lo: &StrikeRow, hi: &StrikeRow) -> bool {
    hi.call.bid > lo.call.ask + EPS
}

fn put_pair_broken(lo: &StrikeRow, hi: &StrikeRow) -> bool {
    lo.put.bid > hi.put.ask + EPS
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // Selecting the middle is linear; a full sort was a tenth of a chain's checking.
    let n = values.len();
    let (below, &mut middle, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    Some(if n % 2 == 1 { middle } else { (below.iter().copied().fold(f64::NEG_INFINITY, f64::max) + middle) / 2.0 })
}
