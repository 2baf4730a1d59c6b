//! The load generator's own cost per message: make the synthetic trade, stamp and encode
//! it, pace it, record its latency (HdrHistogram and the live Prometheus histogram), with
//! a sink that does nothing, so only the loadgen is measured.
//!
//! And an observer's cost per arrival: decode the key, match it in the ledger, record it
//! (tallies, HdrHistograms and the live metrics), and judge it at its deadline.
//!
//! Run: `cargo bench -p tickwatch-benches --bench loadgen`. Target for the observer
//! (issue #13): at least 1 million arrivals a second on one core.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tickwatch_feed::synth::{SymbolSpec, TradeSynth};
use tickwatch_loadgen::run::live::LiveMetrics;
use tickwatch_loadgen::run::observe::canonical_key;
use tickwatch_loadgen::run::observe::ledger::Ledger;
use tickwatch_loadgen::run::pace::{Plan, drive};
use tickwatch_loadgen::run::sinks::{SendFuture, Sink};
use tickwatch_loadgen::run::source::{Feed, Outgoing, Shard, trade_message};
use tickwatch_loadgen::scenario;

const MESSAGES: u64 = 100_000;

struct Discard;

impl Sink for Discard {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            std::hint::black_box(batch);
            Ok(())
        })
    }
}

fn pacing(c: &mut Criterion) {
    // A rate far above what one core can make: every message is due at once, so the
    // run measures the per-message work, not sleeping.
    let text = "name = \"bench\"\nseed = 1\n[[source]]\nname = \"t\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\", \"ETHUSDT\", \"SOLUSDT\"]\n\
                [[sink]]\nname = \"s\"\nsource = \"t\"\nkind = \"file\"\npath = \"unused\"\n\
                [[phase]]\nname = \"p\"\nduration = \"100ms\"\nrate = 1000000\n";
    let scenario = scenario::parse(text, "bench.toml").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let live = LiveMetrics::new(0);
    let live_sink = live.sink("s", &scenario.phase);
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let mut group = c.benchmark_group("loadgen");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(20);
    group.bench_function("synthesize + encode + pace + record, null sink", |b| {
        b.iter_batched(
            || Feed::new(&scenario.source[0], 1, Shard::ALL, 0).unwrap(),
            |mut feed| {
                runtime.block_on(async {
                    // Started in the past so every message is already due.
                    let start = Instant::now() - Duration::from_secs(1);
                    let plan = Plan {
                        phases: &scenario.phase,
                        start,
                        start_ns: 0,
                        timeout: Duration::from_secs(1),
                        max_batch: 1024,
                        ledger: None,
                    };
                    let run = drive(&mut Discard, &mut feed, &plan, cancel.clone(), &live_sink).await;
                    assert_eq!(run.total.sent, MESSAGES);
                })
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Arrivals of 100,000 trades, written to the ledger in the sink's batches of 1,024 (sent at
/// second k), each arriving at every one of `connections` connections 1 ms later, judged
/// one second later: the window stays one batch long, as in a steady run.
fn observer(c: &mut Criterion) {
    let symbols: Vec<String> = ["BTCUSDT", "ETHUSDT", "SOLUSDT"].map(String::from).to_vec();
    let specs = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
    let messages: Vec<Outgoing> =
        TradeSynth::new("binance", specs, 0, 1).unwrap().take(MESSAGES as usize).map(trade_message).collect();
    let due = vec![(0.0, 0); 1024];
    let live = LiveMetrics::new(0);
    let mut group = c.benchmark_group("loadgen");
    group.sample_size(20);
    for connections in [1, 10] {
        group.throughput(Throughput::Elements(MESSAGES * connections as u64));
        let name = format!("observer: decode + match + record + judge, {connections} connection(s), per arrival");
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let ledger = Ledger::new(&symbols, &one_phase());
                    let id = ledger.observer(0.5, &vec![None; connections], live.observer("bench"));
                    ledger.begin(Instant::now());
                    (ledger, id)
                },
                |(ledger, id)| {
                    for (k, batch) in messages.chunks(1024).enumerate() {
                        let sent = k as f64;
                        ledger.sending(batch, &due[..batch.len()], sent);
                        for m in batch {
                            for connection in 0..connections {
                                let (symbol, seq) = canonical_key(&m.payload).expect("a canonical trade");
                                ledger.arrived(id, connection, &symbol, seq, sent + 0.001);
                            }
                        }
                        ledger.judge(sent + 1.0);
                    }
                    ledger.judge(f64::INFINITY);
                    let total = ledger.result(id).total;
                    assert_eq!((total.delivered, total.lost), (MESSAGES * connections as u64, 0));
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, pacing, observer);
criterion_main!(benches);

/// One phase, as a scenario's (the ledger needs the schedule only to place stray arrivals).
fn one_phase() -> Vec<tickwatch_loadgen::scenario::Phase> {
    let text = "name = \"o\"\n[[source]]\nname = \"t\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\"]\n\
                [[sink]]\nname = \"s\"\nsource = \"t\"\nkind = \"file\"\npath = \"unused\"\n\
                [[phase]]\nname = \"p\"\nduration = \"1h\"\nrate = 1\n";
    tickwatch_loadgen::scenario::parse(text, "one-phase.toml").unwrap().phase
}
