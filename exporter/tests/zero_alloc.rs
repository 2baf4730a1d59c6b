//! One trade message decoded, checked and recorded allocates nothing once its symbol is
//! known (a counting allocator watches the hot path).

use std::sync::Arc;
use tickwatch_exporter::config;
use tickwatch_exporter::probe::feed::FeedTarget;
use tickwatch_exporter::probe::feed::pipeline::{FeedMetrics, Pipeline};
use tickwatch_exporter::shared::Shared;
use tickwatch_tests::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn pipeline(format: &str) -> Pipeline {
    let text = format!(
        "[[feed]]\nname = \"f\"\nkind = \"trade\"\nsource = {{ type = \"redis-pubsub\", url = \"redis://127.0.0.1/0\", channel = \"t\" }}\n{format}"
    );
    let config = config::parse(&text, "test.toml", &|_| None).unwrap();
    let shared = Shared::new();
    Pipeline::new(&config.targets::<FeedTarget>()[0], Arc::new(FeedMetrics::register(&shared)))
}

/// 12,000 trades on three symbols in `form`: tickwatch, binance, coinbase or deribit.
fn messages(form: &str) -> Vec<Vec<u8>> {
    (0..12_000u64)
        .map(|i| {
            let symbol = ["BTCUSDT", "ETHUSDT", "SOLUSDT"][(i % 3) as usize];
            let seq = i / 3 + 1;
            let ms = 1_767_225_600_000 + i as i64;
            let text = match form {
                "tickwatch" => format!(r#"{{"venue":"binance","symbol":"{symbol}","seq":{seq},"ts_ns":{}000000,"price":42000.{},"qty":0.5,"side":"buy"}}"#, ms, i % 7),
                "binance" => format!(r#"{{"e":"trade","E":{ms},"s":"{symbol}","t":{seq},"p":"42000.{}","q":"0.5","T":{ms},"m":true}}"#, i % 7),
                "deribit" => format!(
                    r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.{symbol}.raw","data":[{{"trade_seq":{seq},"trade_id":"{i}","timestamp":{ms},"tick_direction":0,"price":42000.{},"mark_price":42000.0,"instrument_name":"{symbol}","index_price":42000.0,"direction":"buy","amount":10.0}}]}}}}"#,
                    i % 7
                ),
                _ => format!(
                    r#"{{"type":"match","trade_id":{seq},"sequence":{i},"maker_order_id":"m","taker_order_id":"t","time":"2026-01-01T00:00:{:02}.{:06}Z","product_id":"{symbol}","size":"0.5","price":"42000.{}","side":"buy"}}"#,
                    i / 1000 % 60, i % 1000 * 1000, i % 7
                ),
            };
            text.into_bytes()
        })
        .collect()
}

fn allocations_in_steady_state(mut pipeline: Pipeline, messages: &[Vec<u8>]) -> u64 {
    let arrival = 1_767_225_600_000_000_000;
    // Warm up: the first message of each symbol creates its state and metric handles.
    for m in &messages[..3_000] {
        pipeline.handle(m, arrival);
    }
    let before = allocations();
    for m in &messages[3_000..] {
        pipeline.handle(m, arrival);
    }
    allocations() - before
}

#[test]
fn trade_messages_allocate_nothing_in_steady_state() {
    let canonical = allocations_in_steady_state(pipeline(""), &messages("tickwatch"));
    let mapped = allocations_in_steady_state(
        pipeline(
            "format = \"mapped\"\nfields = { symbol = \"/s\", seq = \"/t\", price = \"/p\", qty = \"/q\", ts = \"/T\", ts_unit = \"ms\" }\n",
        ),
        &messages("binance"),
    );
    let binance = allocations_in_steady_state(pipeline("format = \"binance\"\n"), &messages("binance"));
    let coinbase = allocations_in_steady_state(pipeline("format = \"coinbase\"\n"), &messages("coinbase"));
    let deribit = allocations_in_steady_state(pipeline("format = \"deribit\"\n"), &messages("deribit"));
    assert_eq!(
        (canonical, mapped, binance, coinbase, deribit),
        (0, 0, 0, 0, 0),
        "allocations over 9,000 messages (canonical, mapped, binance, coinbase, deribit)"
    );
}
