//! The generators are deterministic, realistic and free of static arbitrage.

use tickwatch_feed::arbitrage::{
    ParityLine, butterfly_breaks, call_monotonicity_breaks, parity_breaks, put_monotonicity_breaks, usable_rows,
};
use tickwatch_feed::codec::encode;
use tickwatch_feed::synth::{ChainSpec, ChainSynth, SymbolSpec, TickGrid, TradeSynth};
use tickwatch_feed::{OptionChain, Trade};

const START_NS: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

fn trade_bytes(seed: u64, symbols: &[&str], count: usize) -> Vec<u8> {
    let specs = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
    let mut out = Vec::new();
    for trade in TradeSynth::new("binance", specs, START_NS, seed).unwrap().take(count) {
        encode(&trade, &mut out);
        out.push(b'\n');
    }
    out
}

fn chain_bytes(seed: u64, underlyings: &[&str], count: usize) -> Vec<u8> {
    let specs = underlyings.iter().map(|u| ChainSpec::preset(u)).collect();
    let mut out = Vec::new();
    for chain in ChainSynth::new(specs, START_NS, seed).unwrap().take(count) {
        encode(&chain, &mut out);
        out.push(b'\n');
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
    assert_eq!(trade_bytes(7, &symbols, 5_000), trade_bytes(7, &symbols, 5_000));
    assert_ne!(trade_bytes(7, &symbols, 5_000), trade_bytes(8, &symbols, 5_000));
    assert_eq!(chain_bytes(7, &["NIFTY", "SPY"], 50), chain_bytes(7, &["NIFTY", "SPY"], 50));
    assert_ne!(chain_bytes(7, &["NIFTY", "SPY"], 50), chain_bytes(8, &["NIFTY", "SPY"], 50));
}

#[test]
fn a_subset_of_symbols_is_exactly_their_part_of_the_full_feed() {
    let full: Vec<Trade> = TradeSynth::new(
        "v",
        ["AAPL", "BTCUSDT", "ETHUSDT", "SOLUSDT"].iter().map(|s| SymbolSpec::preset(s)).collect(),
        START_NS,
        42,
    )
    .unwrap()
    .take(20_000)
    .collect();
    let last_ts = full.last().unwrap().ts_ns;
    let part: Vec<Trade> =
        TradeSynth::new("v", vec![SymbolSpec::preset("ETHUSDT"), SymbolSpec::preset("AAPL")], START_NS, 42)
            .unwrap()
            .take_while(|t| t.ts_ns <= last_ts)
            .collect();
    let expected: Vec<&Trade> = full.iter().filter(|t| t.symbol == "ETHUSDT" || t.symbol == "AAPL").collect();
    assert_eq!(part.iter().collect::<Vec<_>>(), expected);
}

#[test]
fn trades_are_realistic() {
    let spec = SymbolSpec::preset("BTCUSDT");
    let price_grid = TickGrid::new(spec.tick).unwrap();
    let lot_grid = TickGrid::new(spec.lot).unwrap();
    let trades: Vec<Trade> =
        TradeSynth::new("binance", vec![spec.clone()], START_NS, 1).unwrap().take(100_000).collect();

    for (i, t) in trades.iter().enumerate() {
        assert_eq!(t.seq, i as u64 + 1, "sequence numbers count up from 1");
        assert_eq!(price_grid.round(t.price), t.price, "price {} on the tick grid", t.price);
        assert_eq!(lot_grid.round(t.qty), t.qty, "qty {} on the lot grid", t.qty);
        assert!(t.price > 0.0 && t.qty > 0.0);
    }
    assert!(trades.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns), "exchange time increases");

    // Poisson arrivals at the configured intensity: 100,000 gaps estimate the rate to
    // within about 1 %; allow 3 %.
    let seconds = (trades.last().unwrap().ts_ns - START_NS) as f64 / 1e9;
    let rate = trades.len() as f64 / seconds;
    assert!((rate / spec.trades_per_second - 1.0).abs() < 0.03, "rate {rate}");
    // Exponential gaps: the coefficient of variation is 1.
    let gaps: Vec<f64> = trades.windows(2).map(|w| (w[1].ts_ns - w[0].ts_ns) as f64).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!((sd / mean - 1.0).abs() < 0.03, "cv {}", sd / mean);

    // GBM: log returns have the configured volatility once scaled to a year.
    let returns: Vec<f64> = trades.windows(2).map(|w| (w[1].price / w[0].price).ln()).collect();
    let var = returns.iter().map(|r| r * r).sum::<f64>() / returns.len() as f64;
    let annual_vol = (var * trades.len() as f64 / seconds * tickwatch_feed::synth::SECONDS_PER_YEAR).sqrt();
    assert!((annual_vol / spec.annual_vol - 1.0).abs() < 0.1, "annualised vol {annual_vol}");
}

fn assert_arbitrage_free(chain: &OptionChain, rate: f64) {
    let usable = usable_rows(chain);
    assert_eq!(usable.len(), chain.rows.len(), "every quote valid: {chain:?}");
    let breaks = call_monotonicity_breaks(chain, &usable);
    assert!(
        breaks.is_empty(),
        "calls non-increasing in strike: {} {:?}",
        chain.underlying,
        breaks.iter().map(|&(a, b)| (chain.rows[a], chain.rows[b])).collect::<Vec<_>>()
    );
    assert!(put_monotonicity_breaks(chain, &usable).is_empty(), "puts non-decreasing in strike");
    assert!(butterfly_breaks(chain, &usable).is_empty(), "calls convex in strike");
    let line = ParityLine::estimate(chain, &usable).unwrap();
    assert!(parity_breaks(chain, &usable, &line, 0.0).is_empty(), "parity against the chain's own line");

    // Parity against the true rate: the synthetic forward sits within the spreads.
    let expiry_ns = chain.expiry.midnight().assume_utc().unix_timestamp_nanos() as i64 + 10 * 3_600_000_000_000;
    let years = (expiry_ns - chain.ts_ns) as f64 / 1e9 / tickwatch_feed::synth::SECONDS_PER_YEAR;
    let discount = (-rate * years).exp();
    for row in &chain.rows {
        let off = (row.call.mid() - row.put.mid()) - (chain.spot - row.strike * discount);
        let allowed = (row.call.ask - row.call.bid + row.put.ask - row.put.bid) / 2.0 + 0.05;
        assert!(off.abs() <= allowed, "parity off by {off} at strike {} (allowed {allowed})", row.strike);
    }
}

#[test]
fn chains_are_free_of_static_arbitrage() {
    for underlying in ["NIFTY", "BANKNIFTY", "SPY", "BTC", "XYZ"] {
        let spec = ChainSpec::preset(underlying);
        let rate = spec.rate;
        let expiries = spec.expiries_days.len();
        for seed in 0..5 {
            let chains: Vec<OptionChain> =
                ChainSynth::new(vec![spec.clone()], START_NS, seed).unwrap().take(60).collect();
            for chain in &chains {
                assert_eq!(chain.rows.len(), 2 * spec.strikes_each_side + 1);
                assert!(chain.rows.windows(2).all(|w| w[0].strike < w[1].strike));
                assert_arbitrage_free(chain, rate);
                assert!(chain.pcr_open_interest().is_some() && chain.pcr_volume().is_some());
            }
            // One snapshot is one chain per expiry, nearest first, sharing a timestamp.
            for snapshot in chains.chunks(expiries) {
                assert!(snapshot.iter().all(|c| c.ts_ns == snapshot[0].ts_ns));
                assert!(snapshot.windows(2).all(|w| w[0].expiry < w[1].expiry));
            }
        }
    }
}

#[test]
fn open_interest_peaks_at_the_money() {
    let chain = ChainSynth::new(vec![ChainSpec::preset("NIFTY")], START_NS, 3).unwrap().next().unwrap();
    let atm = chain.rows.len() / 2;
    let oi = |i: usize| chain.rows[i].call.oi + chain.rows[i].put.oi;
    assert!(oi(atm) > 2 * oi(0) && oi(atm) > 2 * oi(chain.rows.len() - 1));
}

#[test]
fn bad_specs_list_every_problem() {
    let mut spec = SymbolSpec::preset("X");
    spec.tick = 0.0;
    spec.trades_per_second = -1.0;
    let problems = TradeSynth::new("v", vec![spec], START_NS, 1).err().unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("tick")) && problems.iter().any(|p| p.contains("trades_per_second")));

    let mut chain = ChainSpec::preset("X");
    chain.expiries_days.clear();
    chain.strikes_each_side = 1000;
    let problems = ChainSynth::new(vec![chain], START_NS, 1).err().unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn generated_records_round_trip_through_json() {
    use tickwatch_feed::codec::decode;
    let chains = ChainSynth::new(vec![ChainSpec::preset("NIFTY")], START_NS, 4).unwrap().take(6);
    for chain in chains {
        let mut bytes = Vec::new();
        encode(&chain, &mut bytes);
        assert!(std::str::from_utf8(&bytes).unwrap().contains(r#""expiry":"2026-01-"#), "expiry is a plain date");
        assert_eq!(decode::<OptionChain>(&bytes).unwrap(), chain);
    }
    for trade in TradeSynth::new("v", vec![SymbolSpec::preset("ETHUSDT")], START_NS, 4).unwrap().take(1000) {
        let mut bytes = Vec::new();
        encode(&trade, &mut bytes);
        assert_eq!(decode::<Trade>(&bytes).unwrap(), trade);
    }
}

/// A shard's generator makes only its symbols' trades, with their faults, and passes the
/// other slots (a duplicate takes two), one by one or a few at a time as a driver bounded
/// by a phase's end does: together the shards make the whole feed, slot for slot, byte for
/// byte.
#[test]
fn shards_make_the_whole_faulted_feed_slot_for_slot() {
    use tickwatch_feed::faults::{FaultMix, TradeFault, TradeFaultParams, TradeFaults};
    use tickwatch_feed::synth::Slot;
    let symbols = ["AAPL", "BTCUSDT", "ETHUSDT", "SOLUSDT"];
    let mix = || "gap=0.02,duplicate=0.02,reorder=0.02,stall=0.001,spike=0.02".parse::<FaultMix<TradeFault>>().unwrap();
    let slots = |mine: &dyn Fn(&str) -> bool, pass_at_once: u64| {
        let specs = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
        let mut synth = TradeSynth::new("v", specs, START_NS, 9).unwrap();
        synth.make_only(mine);
        let mut faults = TradeFaults::new(mix(), TradeFaultParams::default(), 9);
        let mut out: Vec<Option<Trade>> = Vec::new();
        while out.len() < 20_000 {
            let passed = synth.pass_others(pass_at_once, |symbol| faults.pass(symbol));
            out.extend((0..passed).map(|_| None));
            if passed > 0 {
                continue;
            }
            match synth.next_slot().unwrap() {
                Slot::Made(t) => faults.apply(t, &mut |t| out.push(Some(t))),
                Slot::Passed(i) => out.extend((0..faults.pass(synth.symbol(i))).map(|_| None)),
            }
        }
        out.truncate(20_000);
        out
    };
    let whole = slots(&|_| true, 0);
    let (even, odd) = (slots(&|s| s < "BTD", 3), slots(&|s| s >= "BTD", 0));
    for (i, slot) in whole.iter().enumerate() {
        let made = even[i].as_ref().or(odd[i].as_ref());
        assert_eq!(made, slot.as_ref(), "slot {i}");
        assert!(even[i].is_none() || odd[i].is_none(), "slot {i} made twice");
    }
}
