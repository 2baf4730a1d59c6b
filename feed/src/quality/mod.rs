//! Data-quality checks of trade and option-chain feeds: pure functions and small structs,
//! no clocks (callers pass arrival times) and no allocation per message in steady state.
//!
//! Each check answers pass or fail for one message (or, for `stale`, one symbol at one
//! moment). Anomalies are counted so that one planted fault is one anomaly: a sequence
//! jump of any size is one `gap`, an exact resend is one `duplicate` (and is not checked
//! for anything else), and the state-like checks (`stale`, `clock_drift`) count one
//! anomaly when a symbol enters the bad state, however long it stays there.
//!
//! A [`RollingScore`] turns check results into the `data_quality_score` in [0, 1]: the
//! weighted share of passed checks over the last N messages.

mod chains;
mod score;
mod trades;

pub use chains::{ChainCheck, ChainThresholds, ChainVerdict, check_chain};
pub use score::RollingScore;
pub use trades::{SymbolQuality, TradeCheck, TradeThresholds, TradeTick, TradeVerdict};

/// A data-quality check of one kind of stream.
pub trait Check: Copy + Eq + std::fmt::Debug + 'static {
    /// Every check, in label order (indexable by `as usize`).
    const ALL: &'static [Self];

    /// The `check` and anomaly `kind` label value.
    fn label(self) -> &'static str;

    /// Every label, in order.
    fn labels() -> Vec<&'static str> {
        Self::ALL.iter().map(|c| c.label()).collect()
    }
}

/// Whether a symbol has been quiet for too long; one anomaly per quiet spell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Staleness {
    last_arrival_ns: Option<i64>,
    stale: bool,
}

impl Staleness {
    /// A message of the symbol arrived.
    pub fn arrived(&mut self, arrival_ns: i64) {
        self.last_arrival_ns = Some(arrival_ns);
        self.stale = false;
    }

    /// Checks the symbol at `now_ns`: `None` before its first message, else whether it
    /// passes and whether this is the start of a new quiet spell (the anomaly).
    pub fn check(&mut self, now_ns: i64, stale_after_ns: i64) -> Option<(bool, bool)> {
        let last = self.last_arrival_ns?;
        let quiet = now_ns - last > stale_after_ns;
        let new_spell = quiet && !self.stale;
        self.stale = quiet;
        Some((!quiet, new_spell))
    }
}

#[cfg(test)]
mod tests {
    use super::Staleness;

    #[test]
    fn one_anomaly_per_quiet_spell() {
        let mut s = Staleness::default();
        assert_eq!(s.check(100, 10), None);
        s.arrived(100);
        assert_eq!(s.check(105, 10), Some((true, false)));
        assert_eq!(s.check(120, 10), Some((false, true)));
        assert_eq!(s.check(130, 10), Some((false, false)), "still the same spell");
        s.arrived(131);
        assert_eq!(s.check(150, 10), Some((false, true)), "a new spell after a message");
    }
}
