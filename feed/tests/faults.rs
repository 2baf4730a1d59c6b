//! Each fault injector plants exactly what it reports: an independent reading of the
//! faulted stream finds every reported fault, of the reported kind, at the reported
//! position, and nothing else.

use std::collections::{BTreeSet, HashMap};
use tickwatch_feed::arbitrage::{
    ParityLine, butterfly_breaks, call_monotonicity_breaks, parity_breaks, put_monotonicity_breaks, usable_rows,
};
use tickwatch_feed::faults::{ChainFault, ChainFaults, FaultKind, FaultMix, TradeFault, TradeFaultParams, TradeFaults};
use tickwatch_feed::synth::{ChainSpec, ChainSynth, SymbolSpec, TradeSynth};
use tickwatch_feed::{OptionChain, Trade};

const START_NS: i64 = 1_767_225_600_000_000_000;

/// What a plain reading of a trade stream finds, as (output index, anomaly kind).
fn read_trade_problems(trades: &[Trade], params: &TradeFaultParams) -> BTreeSet<(u64, &'static str)> {
    #[derive(Default)]
    struct Seen<'a> {
        last: Option<&'a Trade>,
        max_ts: i64,
        clean_price: f64,
    }
    let mut found = BTreeSet::new();
    let mut seen: HashMap<&str, Seen> = HashMap::new();
    for (i, t) in trades.iter().enumerate() {
        let i = i as u64;
        let s = seen.entry(t.symbol.as_str()).or_default();
        if s.last == Some(t) {
            found.insert((i, "duplicate"));
            continue;
        }
        if let Some(last) = s.last {
            if t.seq > last.seq + 1 {
                found.insert((i, "gap"));
            }
            if t.ts_ns < s.max_ts {
                found.insert((i, "out_of_order"));
            }
        }
        // A stall silences its symbol: the time jumps past the symbol's own latest.
        let since = if s.last.is_some() { s.max_ts } else { START_NS };
        if t.ts_ns - since >= params.stall_ms as i64 * 1_000_000 {
            found.insert((i, "stale"));
        }
        if t.price <= 0.0 || t.qty <= 0.0 {
            found.insert((i, "non_positive"));
        } else if s.clean_price > 0.0 && (t.price / s.clean_price - 1.0).abs() > params.spike_fraction / 2.0 {
            found.insert((i, "spike"));
        } else {
            s.clean_price = t.price;
        }
        s.max_ts = s.max_ts.max(t.ts_ns);
        s.last = Some(t);
    }
    found
}

#[test]
fn trade_faults_are_exactly_what_is_reported() {
    let mix: FaultMix<TradeFault> =
        "gap=0.01, duplicate=0.01, reorder=0.01, stall=0.0005, spike=0.01, non_positive=0.01".parse().unwrap();
    let params = TradeFaultParams::default();
    let mut faults = TradeFaults::new(mix, params, 11);
    let specs = ["BTCUSDT", "ETHUSDT", "SOLUSDT"].iter().map(|s| SymbolSpec::preset(s)).collect();
    let mut out = Vec::new();
    for trade in TradeSynth::new("binance", specs, START_NS, 5).unwrap().take(50_000) {
        faults.apply(trade, &mut |t| out.push(t));
    }
    let reported: BTreeSet<(u64, &str)> = faults.planted().iter().map(|p| (p.index, p.kind.anomaly())).collect();
    assert_eq!(reported.len(), faults.planted().len(), "one fault per output record");
    for kind in TradeFault::ALL {
        let n = faults.planted().iter().filter(|p| p.kind == kind.0).count();
        assert!(n >= 10, "{} planted only {n} times in 50,000 trades", kind.1);
    }
    let found = read_trade_problems(&out, &params);
    let missed: Vec<_> = reported.difference(&found).collect();
    let extra: Vec<_> = found.difference(&reported).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "reported but not found: {missed:?}; found but not reported: {extra:?}"
    );
}

#[test]
fn no_faults_means_the_clean_stream_untouched() {
    let mut faults = TradeFaults::new(FaultMix::none(), TradeFaultParams::default(), 1);
    let clean: Vec<Trade> =
        TradeSynth::new("v", vec![SymbolSpec::preset("AAPL")], START_NS, 2).unwrap().take(1000).collect();
    let mut out = Vec::new();
    clean.iter().cloned().for_each(|t| faults.apply(t, &mut |t| out.push(t)));
    assert_eq!(out, clean);
    assert!(faults.planted().is_empty());
}

/// What a plain reading of one chain finds, by anomaly kind.
fn read_chain_problems(chain: &OptionChain, previous_ts: Option<i64>, stall_ms: u64) -> Vec<&'static str> {
    let mut found = Vec::new();
    if chain.rows.iter().any(|r| r.call.bid > r.call.ask || r.put.bid > r.put.ask) {
        found.push("crossed");
    }
    if chain.rows.iter().any(|r| !(r.call.iv > 0.0 && r.call.iv <= 5.0 && r.put.iv > 0.0 && r.put.iv <= 5.0)) {
        found.push("iv_bounds");
    }
    let steps: Vec<f64> = chain.rows.windows(2).map(|w| w[1].strike - w[0].strike).collect();
    let step = steps.iter().copied().fold(f64::INFINITY, f64::min);
    if steps.iter().any(|&s| s > step * 1.5) {
        found.push("missing_strike");
    }
    let usable = usable_rows(chain);
    if !call_monotonicity_breaks(chain, &usable).is_empty() {
        found.push("call_monotonicity");
    }
    if !put_monotonicity_breaks(chain, &usable).is_empty() {
        found.push("put_monotonicity");
    }
    if !butterfly_breaks(chain, &usable).is_empty() {
        found.push("butterfly");
    }
    let line = ParityLine::estimate(chain, &usable).unwrap();
    if !parity_breaks(chain, &usable, &line, 0.05).is_empty() {
        found.push("parity");
    }
    if previous_ts.is_some_and(|p| chain.ts_ns - p >= stall_ms as i64 * 1_000_000) {
        found.push("stale");
    }
    found
}

#[test]
fn chain_faults_are_exactly_what_is_reported() {
    let rates = ChainFault::ALL.iter().map(|&(k, ..)| (k, if k == ChainFault::Stall { 0.02 } else { 0.1 })).collect();
    let stall_ms = 60_000;
    let mut faults = ChainFaults::new(FaultMix::new(rates).unwrap(), stall_ms, 3);
    let specs = vec![ChainSpec::preset("NIFTY"), ChainSpec::preset("SPY"), ChainSpec::preset("BTC")];
    let chains: Vec<OptionChain> =
        ChainSynth::new(specs, START_NS, 9).unwrap().take(1_200).map(|c| faults.apply(c)).collect();

    let mut last_ts: HashMap<&str, i64> = HashMap::new();
    for (i, chain) in chains.iter().enumerate() {
        let found = read_chain_problems(chain, last_ts.get(chain.underlying.as_str()).copied(), stall_ms);
        last_ts.insert(&chain.underlying, chain.ts_ns);
        // A stall is feed-wide: every underlying is seen stale once after it, which the
        // stall count below checks; everything else must match chain by chain.
        let found: Vec<&str> = found.into_iter().filter(|&k| k != "stale").collect();
        let reported: Vec<&str> = faults
            .planted()
            .iter()
            .filter(|p| p.index == i as u64 && p.kind != ChainFault::Stall)
            .map(|p| p.kind.anomaly())
            .collect();
        assert_eq!(found, reported, "chain {i} ({})", chain.underlying);
    }
    let quiet_before = |i: usize| {
        let c = &chains[i];
        chains[..i]
            .iter()
            .rev()
            .find(|p| p.underlying == c.underlying)
            .is_some_and(|p| c.ts_ns - p.ts_ns >= stall_ms as i64 * 1_000_000)
    };
    let stalls: Vec<u64> = faults.planted().iter().filter(|p| p.kind == ChainFault::Stall).map(|p| p.index).collect();
    assert!(!stalls.is_empty());
    for &i in &stalls {
        assert!(i < 3 || quiet_before(i as usize), "the chain a stall was planted on comes after a quiet spell");
    }
    // The stall is feed-wide: each underlying sees it at most once.
    let stale_seen = (0..chains.len()).filter(|&i| quiet_before(i)).count();
    assert!(
        stale_seen >= stalls.len() && stale_seen <= stalls.len() * 3,
        "{stale_seen} stale chains for {} stalls",
        stalls.len()
    );

    for &(kind, name, _) in ChainFault::ALL {
        let n = faults.planted().iter().filter(|p| p.kind == kind).count();
        assert!(n >= 10 || kind == ChainFault::Stall, "{name} planted only {n} times");
    }
    assert!(
        faults.skipped() * 10 < faults.planted().len() as u64,
        "skipped {} of {}",
        faults.skipped(),
        faults.planted().len()
    );
}

#[test]
fn fault_mixes_parse_and_reject_nonsense() {
    assert!("gap=0.5,duplicate=0.5".parse::<FaultMix<TradeFault>>().is_ok());
    let err = "gap=0.7,duplicate=0.5".parse::<FaultMix<TradeFault>>().unwrap_err();
    assert!(err.contains("at most 1"), "{err}");
    let err = "gremlins=0.1".parse::<FaultMix<TradeFault>>().unwrap_err();
    assert!(err.contains("gremlins") && err.contains("known faults are gap"), "{err}");
    assert!("butterfly=x".parse::<FaultMix<ChainFault>>().unwrap_err().contains("not a number"));
}
