//! Feed hot paths: decoding and encoding one trade and one 50-strike chain, and how fast
//! the synthesizer makes trades and chains.
//!
//! Run: `cargo bench -p tickwatch-benches --bench feed`. Targets (issue #2): trade decode
//! at most 400 ns; trade synthesis at least 5 million per second on one core.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tickwatch_feed::codec::{decode, encode};
use tickwatch_feed::synth::{ChainSpec, ChainSynth, SymbolSpec, TradeSynth};
use tickwatch_feed::{OptionChain, Trade};

const START_NS: i64 = 1_767_225_600_000_000_000;

fn sample_trade() -> Trade {
    TradeSynth::new("binance", vec![SymbolSpec::preset("BTCUSDT")], START_NS, 1).unwrap().nth(100).unwrap()
}

fn sample_chain() -> OptionChain {
    let mut spec = ChainSpec::preset("NIFTY");
    spec.strikes_each_side = 25;
    let mut chain = ChainSynth::new(vec![spec], START_NS, 1).unwrap().next().unwrap();
    chain.rows.truncate(50);
    chain
}

fn codec(c: &mut Criterion) {
    let trade = sample_trade();
    let mut trade_json = Vec::new();
    encode(&trade, &mut trade_json);
    let chain = sample_chain();
    let mut chain_json = Vec::new();
    encode(&chain, &mut chain_json);

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("decode trade ({} bytes)", trade_json.len()), |b| {
        b.iter(|| decode::<Trade>(black_box(&trade_json)).unwrap())
    });
    let mut out = Vec::with_capacity(256);
    group.bench_function("encode trade", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(&trade), &mut out);
        })
    });
    group.bench_function(format!("decode 50-strike chain ({} bytes)", chain_json.len()), |b| {
        b.iter(|| decode::<OptionChain>(black_box(&chain_json)).unwrap())
    });
    let mut out = Vec::with_capacity(16 * 1024);
    group.bench_function("encode 50-strike chain", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(&chain), &mut out);
        })
    });
    group.finish();
}

fn synth(c: &mut Criterion) {
    const BATCH: usize = 10_000;
    let mut group = c.benchmark_group("synth");
    group.throughput(Throughput::Elements(BATCH as u64));
    let symbols = || ["BTCUSDT", "ETHUSDT", "SOLUSDT", "AAPL"].iter().map(|s| SymbolSpec::preset(s)).collect();
    group.bench_function("trades, 4 symbols", |b| {
        b.iter_batched(
            || TradeSynth::new("binance", symbols(), START_NS, 7).unwrap(),
            |synth| synth.take(BATCH).map(|t| black_box(t).seq).sum::<u64>(),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("chains, NIFTY 41 strikes", |b| {
        b.iter_batched(
            || ChainSynth::new(vec![ChainSpec::preset("NIFTY")], START_NS, 7).unwrap(),
            |synth| synth.take(100).map(|c| black_box(c).rows.len()).sum::<usize>(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, codec, synth);
criterion_main!(benches);
