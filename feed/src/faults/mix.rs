use crate::quality::Check;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::str::FromStr;

/// A kind of fault with a config name (used in scenario files) and the data-quality
/// check that must catch it.
pub trait FaultKind: Copy + Eq + fmt::Debug + 'static {
    /// The checks of the stream this fault is planted in.
    type Check: Check;

    /// Every kind with its config name and the check that must catch it.
    const ALL: &'static [(Self, &'static str, Self::Check)];

    /// The config name.
    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(k, ..)| *k == self).map(|(_, n, _)| *n).expect("every kind is listed in ALL")
    }

    /// The check that must catch this fault.
    fn check(self) -> Self::Check {
        Self::ALL.iter().find(|(k, ..)| *k == self).map(|(.., c)| *c).expect("every kind is listed in ALL")
    }

    /// The `kind` label of the anomaly this fault must cause.
    fn anomaly(self) -> &'static str {
        self.check().label()
    }

    /// The kind with this config name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n, _)| *n == name).map(|(k, ..)| *k)
    }
}

/// Which faults to plant, each with the probability of planting it on any one record.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultMix<K> {
    rates: Vec<(K, f64)>,
}

impl<K: FaultKind> FaultMix<K> {
    /// A mix from `(kind, probability)` pairs; the probabilities must add up to at most 1.
    pub fn new(rates: Vec<(K, f64)>) -> Result<Self, String> {
        if let Some((k, r)) = rates.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            return Err(format!("fault {}: rate must be between 0 and 1, got {r}", k.name()));
        }
        let total: f64 = rates.iter().map(|(_, r)| r).sum();
        if total > 1.0 + 1e-12 {
            return Err(format!(
                "fault rates add up to {total}; at most one fault is planted per record, so they must add up to at most 1"
            ));
        }
        Ok(FaultMix { rates })
    }

    /// No faults at all.
    pub fn none() -> Self {
        FaultMix { rates: Vec::new() }
    }

    /// Whether no fault is planted at all (and nothing is drawn).
    pub(crate) fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }

    /// Draws the fault for the next record, if any.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng) -> Option<K> {
        if self.rates.is_empty() {
            return None;
        }
        let mut u: f64 = rng.random();
        for &(kind, rate) in &self.rates {
            if u < rate {
                return Some(kind);
            }
            u -= rate;
        }
        None
    }
}

impl<K: FaultKind> FromStr for FaultMix<K> {
    type Err = String;

    /// Parses `kind=rate` items separated by commas, e.g. `gap=0.01,duplicate=0.005`.
    fn from_str(text: &str) -> Result<Self, String> {
        let rates = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (name, rate) = item.split_once('=').ok_or_else(|| format!("`{item}`: expected kind=rate"))?;
                let kind = K::from_name(name.trim()).ok_or_else(|| {
                    let known: Vec<_> = K::ALL.iter().map(|(_, n, _)| *n).collect();
                    format!("`{}`: unknown fault; known faults are {}", name.trim(), known.join(", "))
                })?;
                let rate: f64 = rate.trim().parse().map_err(|_| format!("`{item}`: rate is not a number"))?;
                Ok((kind, rate))
            })
            .collect::<Result<Vec<_>, String>>()?;
        FaultMix::new(rates)
    }
}
