//! Feed data quality per message: decode, check, record (metrics and score), for one trade
//! (canonical, Binance through a field mapping, Binance through its preset) and one
//! 50-strike option chain.
//!
//! Run: `cargo bench -p tickwatch-benches --bench quality`. Targets (issue #18): at least
//! 1.5 million trades and 100,000 chains per second on one core. Figures:
//! `benches/RESULTS-quality.md`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use tickwatch_exporter::config;
use tickwatch_exporter::probe::feed::FeedTarget;
use tickwatch_exporter::probe::feed::pipeline::{FeedMetrics, Pipeline};
use tickwatch_exporter::shared::Shared;
use tickwatch_feed::codec::encode;
use tickwatch_feed::synth::{ChainSpec, ChainSynth, SymbolSpec, TradeSynth};

const START_NS: i64 = 1_767_225_600_000_000_000;

fn pipeline(kind: &str, format: &str) -> Pipeline {
    let text = format!(
        "[[feed]]\nname = \"f\"\nkind = \"{kind}\"\nsource = {{ type = \"redis-pubsub\", url = \"redis://127.0.0.1/0\", channel = \"t\" }}\n\
         max_clock_drift = \"1000d\"\n{format}"
    );
    let config = config::parse(&text, "bench.toml", &|_| None).unwrap();
    Pipeline::new(&config.targets::<FeedTarget>()[0], Arc::new(FeedMetrics::register(&Shared::new())))
}

fn trades(c: &mut Criterion) {
    let specs = ["BTCUSDT", "ETHUSDT", "SOLUSDT"].iter().map(|s| SymbolSpec::preset(s)).collect();
    let synth: Vec<_> = TradeSynth::new("binance", specs, START_NS, 1).unwrap().take(100_000).collect();
    let canonical: Vec<Vec<u8>> = synth
        .iter()
        .map(|t| {
            let mut out = Vec::new();
            encode(t, &mut out);
            out
        })
        .collect();
    let mapped: Vec<Vec<u8>> = synth
        .iter()
        .map(|t| {
            let ms = t.ts_ns / 1_000_000;
            format!(
                r#"{{"e":"trade","E":{ms},"s":"{}","t":{},"p":"{}","q":"{}","T":{ms},"m":true}}"#,
                t.symbol, t.seq, t.price, t.qty
            )
            .into_bytes()
        })
        .collect();
    let mut group = c.benchmark_group("quality");
    group.throughput(Throughput::Elements(canonical.len() as u64));
    for (name, mut p, messages) in [
        ("trade, canonical JSON (decode + check + record)", pipeline("trade", ""), canonical),
        (
            "trade, Binance mapped (decode + check + record)",
            pipeline(
                "trade",
                "format = \"mapped\"\nfields = { symbol = \"/s\", seq = \"/t\", price = \"/p\", qty = \"/q\", ts = \"/T\", ts_unit = \"ms\" }\n",
            ),
            mapped.clone(),
        ),
        ("trade, Binance preset (decode + check + record)", pipeline("trade", "format = \"binance\"\n"), mapped),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for (i, m) in messages.iter().enumerate() {
                    p.handle(m, START_NS + i as i64);
                }
            })
        });
    }
    group.finish();
}

fn chains(c: &mut Criterion) {
    let mut spec = ChainSpec::preset("NIFTY");
    spec.strikes_each_side = 25;
    let messages: Vec<Vec<u8>> = ChainSynth::new(vec![spec], START_NS, 1)
        .unwrap()
        .take(300)
        .map(|mut chain| {
            chain.rows.truncate(50);
            let mut out = Vec::new();
            encode(&chain, &mut out);
            out
        })
        .collect();
    let mut p = pipeline("option_chain", "");
    let mut group = c.benchmark_group("quality");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("50-strike chain (decode + check + record)", |b| {
        b.iter(|| {
            for m in &messages {
                p.handle(m, START_NS);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, trades, chains);
criterion_main!(benches);
