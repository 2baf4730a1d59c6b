//! `tickwatch-loadgen gen` writes the feed it promises: deterministic bytes, readable back
//! with the feed codecs, and a planted-faults file that matches its summary.

use std::path::Path;
use tickwatch_feed::codec::{CsvTradeReader, JsonlReader};
use tickwatch_feed::{OptionChain, Trade};
use tickwatch_loadgen::generate::{FeedKind, GenRequest, generate};

fn request(kind: FeedKind, out: &Path) -> GenRequest {
    GenRequest {
        kind,
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        count: 2_000,
        seed: 9,
        start_ns: 1_767_225_600_000_000_000,
        venue: "binance".into(),
        faults: None,
        out: out.to_owned(),
        planted_out: None,
    }
}

#[test]
fn the_same_request_writes_the_same_bytes_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.jsonl", "a.jsonl.gz", "a.csv"] {
        let first = dir.path().join(name);
        let second = dir.path().join(format!("again-{name}"));
        generate(&request(FeedKind::Trades, &first)).unwrap();
        generate(&request(FeedKind::Trades, &second)).unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), std::fs::read(&second).unwrap(), "{name}");
    }
    let jsonl: Vec<Trade> = JsonlReader::open(dir.path().join("a.jsonl.gz")).unwrap().map(Result::unwrap).collect();
    let csv: Vec<Trade> = CsvTradeReader::open(dir.path().join("a.csv")).unwrap().map(Result::unwrap).collect();
    assert_eq!(jsonl.len(), 2_000);
    assert_eq!(jsonl, csv, "CSV and JSON Lines hold the same trades");
}

#[test]
fn planted_faults_are_written_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(FeedKind::Chains, &dir.path().join("chains.jsonl"));
    req.symbols = vec!["NIFTY".into()];
    req.count = 200;
    req.faults = Some("crossed=0.1,butterfly=0.1".into());
    req.planted_out = Some(dir.path().join("planted.jsonl"));
    let summary = generate(&req).unwrap();
    assert_eq!(summary.records, 200);
    let chains: Vec<OptionChain> = JsonlReader::open(&req.out).unwrap().map(Result::unwrap).collect();
    assert_eq!(chains.len(), 200);
    let planted = std::fs::read_to_string(dir.path().join("planted.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = planted.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let count = |kind: &str| lines.iter().filter(|l| l["fault"] == kind).count() as u64;
    let from_summary = |kind: &str| summary.planted.iter().find(|(k, _)| *k == kind).unwrap().1;
    assert!(count("crossed") > 5 && count("butterfly") > 5);
    assert_eq!(count("crossed"), from_summary("crossed"));
    assert_eq!(count("butterfly"), from_summary("butterfly"));
    for line in &lines {
        let chain = &chains[line["index"].as_u64().unwrap() as usize];
        if line["fault"] == "crossed" {
            assert!(chain.rows.iter().any(|r| r.call.bid > r.call.ask), "the planted chain is crossed");
        }
    }
}

#[test]
fn bad_requests_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(FeedKind::Chains, &dir.path().join("chains.csv"));
    assert!(generate(&req).unwrap_err().contains("CSV holds trades only"));
    req.kind = FeedKind::Trades;
    req.faults = Some("gap=2".into());
    assert!(generate(&req).unwrap_err().starts_with("--faults:"));
    req.faults = None;
    req.out = dir.path().join("missing-dir/out.jsonl");
    assert!(generate(&req).unwrap_err().contains("missing-dir/out.jsonl"));
}
