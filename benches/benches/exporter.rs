//! Exporter hot paths at scrape time: parsing one `INFO ALL` reply (captured from Redis
//! 7.0 in `fixtures/`) and encoding an exposition of 10,000 queue series.
//!
//! Run: `cargo bench -p tickwatch-benches --bench exporter`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prometheus::Registry;
use std::hint::black_box;
use tickwatch_exporter::exposition::{Family, Samples, encode};
use tickwatch_exporter::probe::redis::info;

static QUEUE_LENGTH: Family = Family::gauge("celery_queue_length", "Tasks waiting in the queue.");

fn parse_info(c: &mut Criterion) {
    let text = include_str!("../fixtures/redis-info-all.txt");
    let mut group = c.benchmark_group("redis");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse INFO ALL (5.4 KB)", |b| {
        b.iter(|| {
            let mut out = Samples::new();
            info::parse(black_box(text), "cache", 0, &mut out);
            out.len()
        })
    });
    group.finish();
}

fn encode_queues(c: &mut Criterion) {
    const QUEUES: usize = 10_000;
    let names: Vec<String> = (0..QUEUES).map(|i| format!("q{i:05}")).collect();
    let registry = Registry::new();
    let mut group = c.benchmark_group("exposition");
    group.throughput(Throughput::Elements(QUEUES as u64));
    group.bench_function("collect and encode 10,000 queue series", |b| {
        b.iter_batched(
            || (),
            |()| {
                let mut samples = Samples::new();
                for (i, name) in names.iter().enumerate() {
                    samples.add(&QUEUE_LENGTH, &[("target", "broker"), ("queue_name", name)], (i % 2500) as f64);
                }
                encode(samples, black_box(&registry.gather())).len()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, parse_info, encode_queues);
criterion_main!(benches);
