//! An observer's hot path allocates nothing in steady state: writing a batch into the
//! ledger, decoding each arrival's key, matching and recording it, and judging it at its
//! deadline (a counting allocator watches; the WebSocket or Redis client's own buffers
//! are theirs, not measured here).

use std::time::Instant;
use tickwatch_feed::synth::{SymbolSpec, TradeSynth};
use tickwatch_loadgen::run::live::LiveMetrics;
use tickwatch_loadgen::run::observe::canonical_key;
use tickwatch_loadgen::run::observe::ledger::Ledger;
use tickwatch_loadgen::run::source::{Outgoing, trade_message};
use tickwatch_tests::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn matching_arrivals_allocates_nothing_once_the_window_is_warm() {
    let symbols: Vec<String> = ["BTCUSDT", "ETHUSDT", "SOLUSDT"].map(String::from).to_vec();
    let specs = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
    let messages: Vec<Outgoing> =
        TradeSynth::new("binance", specs, 0, 1).unwrap().take(100 * 512).map(trade_message).collect();
    let due = vec![(0.0, 0); 512];
    let live = LiveMetrics::new(0);
    let ledger = Ledger::new(&symbols, &one_phase());
    let connections = 4;
    let id = ledger.observer(0.5, &vec![None; connections], live.observer("o"));
    ledger.begin(Instant::now());
    let mut before = 0;
    // Batches of 512 sent at second k, arriving 1 ms later at every connection, judged a
    // second later; the first 20 warm the window up.
    for (k, batch) in messages.chunks(512).enumerate() {
        if k == 20 {
            before = allocations();
        }
        let sent = k as f64;
        ledger.sending(batch, &due, sent);
        for m in batch {
            for connection in 0..connections {
                let (symbol, seq) = canonical_key(&m.payload).unwrap();
                ledger.arrived(id, connection, &symbol, seq, sent + 0.001);
            }
        }
        ledger.judge(sent + 1.0);
    }
    let allocations = allocations() - before;
    ledger.judge(f64::INFINITY);
    let total = ledger.result(id).total;
    assert_eq!((total.delivered, total.lost), (messages.len() as u64 * connections as u64, 0));
    assert_eq!(allocations, 0, "{allocations} allocations over 80 batches of 512 messages x {connections} connections");
}

/// One phase, as a scenario's (the ledger needs the schedule only to place stray arrivals).
fn one_phase() -> Vec<tickwatch_loadgen::scenario::Phase> {
    let text = "name = \"o\"\n[[source]]\nname = \"t\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\"]\n\
                [[sink]]\nname = \"s\"\nsource = \"t\"\nkind = \"file\"\npath = \"unused\"\n\
                [[phase]]\nname = \"p\"\nduration = \"1h\"\nrate = 1\n";
    tickwatch_loadgen::scenario::parse(text, "one-phase.toml").unwrap().phase
}
