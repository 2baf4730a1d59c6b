//! The load generator's own cost per message: make the synthetic trade, stamp and encode
//! it, pace it, record its latency (HdrHistogram and the live Prometheus histogram), with
//! a sink that does nothing, so only the loadgen is measured.
//!
//! Run: `cargo bench -p tickwatch-benches --bench loadgen`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tickwatch_loadgen::run::live::LiveMetrics;
use tickwatch_loadgen::run::pace::{Plan, drive};
use tickwatch_loadgen::run::sinks::{SendFuture, Sink};
use tickwatch_loadgen::run::source::{Feed, Outgoing, Shard};
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

criterion_group!(benches, pacing);
criterion_main!(benches);
