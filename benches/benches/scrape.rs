//! Scrapes of a running exporter (in-process, over loopback HTTP) whose one target is a
//! real Redis: one scrape alone, and 100 scrapers at once. Concurrent scrapes share the
//! target's probe round, so 100 at once should cost little more than one.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::PathBuf;
use std::sync::Arc;
use tickwatch_common::web::{Limits, WebServer};
use tickwatch_exporter::shared::Shared;
use tickwatch_exporter::web::{App, router};
use tickwatch_tests::RedisServer;

const SCRAPERS: usize = 100;

fn scrapes(c: &mut Criterion) {
    let redis = RedisServer::start().expect("redis-server (run scripts/setup.sh)");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let text = format!("[[redis]]\nname = \"cache\"\nurl = \"{}\"\nstreams = [\"ticks:*\"]\n", redis.url());
    let config = tickwatch_exporter::config::parse(&text, "bench.toml", &|_| None).unwrap();
    let url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let app = Arc::new(App::start(PathBuf::from("bench.toml"), &config, Arc::new(Shared::new()), false));
        let web = Arc::new(WebServer::new(None).unwrap());
        let limits = Limits { max_connections: 1024, max_requests: 1024 };
        tokio::spawn(tickwatch_common::web::serve(listener, router(app), web, limits, std::future::pending()));
        url
    });
    let client = reqwest::Client::new();
    let scrape = |client: reqwest::Client, url: String| async move {
        let response = client.get(url).send().await.unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap().len()
    };
    let mut group = c.benchmark_group("scrape");
    group.bench_function("one scrape", |b| b.iter(|| runtime.block_on(scrape(client.clone(), url.clone()))));
    group.bench_function("100 concurrent scrapes", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let all = (0..SCRAPERS).map(|_| tokio::spawn(scrape(client.clone(), url.clone())));
                futures_util::future::join_all(all).await.len()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, scrapes);
criterion_main!(benches);
