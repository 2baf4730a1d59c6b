//! Ground truth: the quality checks find exactly the faults the injectors planted, and
//! nothing in a clean feed.

use std::collections::HashMap;
use tickwatch_feed::faults::{ChainFault, ChainFaults, FaultKind, FaultMix, TradeFault, TradeFaultParams, TradeFaults};
use tickwatch_feed::quality::{
    ChainCheck, ChainThresholds, Check, Staleness, SymbolQuality, TradeCheck, TradeThresholds, TradeTick, check_chain,
};
use tickwatch_feed::synth::{ChainSpec, ChainSynth, SymbolSpec, TradeSynth};
use tickwatch_feed::{OptionChain, Trade};

const START_NS: i64 = 1_767_225_600_000_000_000;
const STALE_AFTER_NS: i64 = 2_000_000_000;

/// Runs the trade checks over `trades` as if each arrived at its exchange time; returns
/// anomalies by kind.
fn trade_anomalies(trades: &[Trade]) -> HashMap<&'static str, u64> {
    let th = TradeThresholds::default();
    let mut symbols: HashMap<&str, (SymbolQuality, Staleness)> = HashMap::new();
    let mut found = HashMap::new();
    for t in trades {
        let (q, staleness) = symbols.entry(&t.symbol).or_default();
        let arrival = t.ts_ns;
        if let Some((_, true)) = staleness.check(arrival, STALE_AFTER_NS) {
            *found.entry("stale").or_insert(0) += 1;
        }
        staleness.arrived(arrival);
        let v = q.check(&TradeTick { seq: Some(t.seq), ts_ns: t.ts_ns, price: t.price, qty: t.qty }, arrival, &th);
        for &c in TradeCheck::ALL {
            if v.anomalies[c as usize] {
                *found.entry(c.label()).or_insert(0) += 1;
            }
        }
    }
    found
}

#[test]
fn trade_checks_find_exactly_what_was_planted() {
    let specs: Vec<SymbolSpec> = ["BTCUSDT", "ETHUSDT", "SOLUSDT"].iter().map(|s| SymbolSpec::preset(s)).collect();
    let clean: Vec<Trade> = TradeSynth::new("v", specs, START_NS, 3).unwrap().take(30_000).collect();
    assert!(trade_anomalies(&clean).is_empty(), "a clean feed has no anomalies: {:?}", trade_anomalies(&clean));

    let mix: FaultMix<TradeFault> =
        "gap=0.005,duplicate=0.005,reorder=0.005,stall=0.0003,spike=0.005,non_positive=0.005".parse().unwrap();
    let mut faults = TradeFaults::new(mix, TradeFaultParams::default(), 8);
    let mut faulted = Vec::new();
    for t in clean {
        faults.apply(t, &mut |t| faulted.push(t));
    }
    let found = trade_anomalies(&faulted);
    for &(kind, ..) in TradeFault::ALL {
        let planted = faults.planted().iter().filter(|p| p.kind == kind).count() as u64;
        assert!(planted > 0);
        // A stall silences its own symbol, so it is found once, as every other fault.
        assert_eq!(found.get(kind.anomaly()).copied().unwrap_or(0), planted, "{}: found {found:?}", kind.anomaly());
    }
}

#[test]
fn chain_checks_find_exactly_what_was_planted() {
    let th = ChainThresholds::default();
    let specs = vec![ChainSpec::preset("NIFTY"), ChainSpec::preset("SPY")];
    let clean: Vec<OptionChain> = ChainSynth::new(specs, START_NS, 4).unwrap().take(600).collect();
    for chain in &clean {
        let v = check_chain(chain, &th);
        assert!(v.results.iter().all(|r| *r != Some(false)), "clean chain failed {v:?}");
    }
    let rates = ChainFault::ALL.iter().filter(|(k, ..)| *k != ChainFault::Stall).map(|&(k, ..)| (k, 0.1)).collect();
    let mut faults = ChainFaults::new(FaultMix::new(rates).unwrap(), 60_000, 5);
    let faulted: Vec<OptionChain> = clean.into_iter().map(|c| faults.apply(c)).collect();
    for (i, chain) in faulted.iter().enumerate() {
        let v = check_chain(chain, &th);
        let failed: Vec<&str> =
            ChainCheck::ALL.iter().filter(|c| v.results[**c as usize] == Some(false)).map(|c| c.label()).collect();
        let planted: Vec<&str> =
            faults.planted().iter().filter(|p| p.index == i as u64).map(|p| p.kind.anomaly()).collect();
        assert_eq!(failed, planted, "chain {i}");
    }
    assert!(faults.planted().len() > 300);
}
