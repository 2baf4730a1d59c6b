//! The exporter's feed-quality path (decode, check, record into the registry) for each way
//! a feed can be read: messages one per line, the first byte choosing the feed's format.
//! The pipelines live across runs, as they do in the exporter: their symbol cap (8 here)
//! bounds the series, so the registry need not be built anew for every run. Every trade
//! decoder also reads each message by serde alone, which its fast path must agree with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock, Mutex};
use tickwatch_exporter::config;
use tickwatch_exporter::probe::feed::FeedTarget;
use tickwatch_exporter::probe::feed::decode::{DecodedTrade, TradeDecoder};
use tickwatch_exporter::probe::feed::pipeline::{FeedMetrics, Pipeline};
use tickwatch_exporter::shared::Shared;

const FORMATS: [&str; 8] = [
    "kind = \"trade\"",
    "kind = \"trade\"\nformat = \"mapped\"\nfields = { symbol = \"/s\", seq = \"/t\", price = \"/p\", qty = \"/q\", ts = \"/T\" }",
    "kind = \"trade\"\nformat = \"mapped\"\nfields = { symbol = \"/data/s\", price = \"/data/p\", qty = \"/data/q\", ts = \"/data/T\", ts_unit = \"us\" }",
    "kind = \"option_chain\"",
    "kind = \"trade\"\nformat = \"binance\"",
    "kind = \"trade\"\nformat = \"coinbase\"",
    "kind = \"trade\"\nformat = \"deribit\"",
    "kind = \"option_chain\"\nformat = \"deribit\"",
];

struct Feeds {
    shared: Shared,
    pipelines: Vec<Pipeline>,
    decoders: Vec<TradeDecoder>,
    now_ns: i64,
}

static FEEDS: LazyLock<Mutex<Feeds>> = LazyLock::new(|| {
    let shared = Shared::new();
    let metrics = Arc::new(FeedMetrics::register(&shared));
    let targets: Vec<FeedTarget> = FORMATS
        .iter()
        .enumerate()
        .map(|(i, format)| {
            let text = format!(
                "[[feed]]\nname = \"f{i}\"\nmax_symbols = 8\nsource = {{ type = \"redis-pubsub\", url = \"redis://127.0.0.1/0\", channel = \"t\" }}\n{format}\n"
            );
            let config = config::parse(&text, "fuzz.toml", &|_| None).expect("the fuzz config is valid");
            config.targets::<FeedTarget>()[0].clone()
        })
        .collect();
    let pipelines = targets.iter().map(|t| Pipeline::new(t, metrics.clone())).collect();
    let decoders = targets.iter().map(|t| TradeDecoder::new(t.format, t.fields.as_ref())).collect();
    Mutex::new(Feeds { shared, pipelines, decoders, now_ns: 1_767_225_600_000_000_000 })
});

fuzz_target!(|data: &[u8]| {
    let Some((choice, messages)) = data.split_first() else { return };
    let mut feeds = FEEDS.lock().unwrap();
    let Feeds { shared, pipelines, decoders, now_ns } = &mut *feeds;
    let index = *choice as usize % FORMATS.len();
    let pipeline = &mut pipelines[index];
    for message in messages.split(|b| *b == b'\n') {
        assert_eq!(
            trades(&decoders[index], message, false),
            trades(&decoders[index], message, true),
            "the fast path and serde read the message differently"
        );
        pipeline.handle(message, *now_ns);
        *now_ns += 400_000_000;
        pipeline.tick(*now_ns);
    }
    if *choice >= 0xf0 {
        // Now and then the exposition, which must take every label value the feed made.
        let _ =
            prometheus::TextEncoder::new().encode_to_string(&shared.registry.gather()).expect("the registry encodes");
    }
});

/// What a decoder makes of `message` (Debug, so -0.0 and NaN compare), with or without
/// its fast path.
fn trades(decoder: &TradeDecoder, message: &[u8], by_serde: bool) -> (Result<(), &'static str>, Vec<String>) {
    let mut seen = Vec::new();
    let mut each = |t: DecodedTrade| {
        seen.push(format!("{t:?}"));
        Ok(())
    };
    let outcome = if by_serde {
        decoder.decode_each_by_serde(message, &mut each)
    } else {
        decoder.decode_each(message, &mut each)
    };
    (outcome, seen)
}
