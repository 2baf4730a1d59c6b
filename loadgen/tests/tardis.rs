//! Replays of tardis.dev CSV datasets: a gzip trades file and an options_chain file play
//! row for row into canonical records (counts and every field checked), malformed rows are
//! skipped and reported with file, line and column, and `on_error = "stop"` stops the run.

mod common;

use common::run_scenario;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use tickwatch_feed::codec::JsonlReader;
use tickwatch_feed::{OptionChain, Side, Trade};

const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n";
const T0_US: i64 = 1_767_225_600_000_000;

fn replay_scenario(file: &str, data_type: &str, extra: &str) -> String {
    format!(
        "name = \"tardis\"\n[[source]]\nname = \"recorded\"\nkind = \"replay\"\nformat = \"tardis-csv\"\ndata_type = \"{data_type}\"\n\
         file = \"DIR/{file}\"\nspeed = 0\n{extra}\n\
         [[sink]]\nname = \"out\"\nsource = \"recorded\"\nkind = \"file\"\npath = \"DIR/out.jsonl\"\n\
         [[phase]]\nname = \"all\"\nduration = \"2s\"\nrate = 1000\n"
    )
}

/// 200 trades on two symbols, trade id 100 of BTCUSDT left out (a gap), and two
/// malformed rows among them.
fn trades_csv() -> (String, Vec<Trade>) {
    let mut csv = TRADES_HEADER.to_owned();
    let mut expected = Vec::new();
    for i in 0..200i64 {
        let (symbol, id) =
            if i % 2 == 0 { ("BTCUSDT", 50 + i / 2 + i64::from(i >= 100)) } else { ("ETHUSDT", 7_000 + i / 2) };
        let side = if i % 3 == 0 { "sell" } else { "buy" };
        let price = 42_000.0 + i as f64 * 0.25;
        let ts = T0_US + i * 1_000;
        csv += &format!("binance,{symbol},{ts},{},{id},{side},{price},0.{:03}\n", ts + 150, i + 1);
        expected.push(Trade {
            venue: "binance".into(),
            symbol: symbol.into(),
            seq: id as u64,
            ts_ns: ts * 1000,
            price,
            qty: format!("0.{:03}", i + 1).parse().unwrap(),
            side: if side == "sell" { Side::Sell } else { Side::Buy },
        });
        if i == 10 {
            csv += &format!("binance,BTCUSDT,{ts},{ts},999,buy,not-a-price,1\n");
        }
        if i == 20 {
            csv += &format!("binance,BTCUSDT,{ts},{ts},998,unknown,1,1\n");
        }
    }
    (csv, expected)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn written<T: tickwatch_feed::codec::FeedRecord>(path: &std::path::Path) -> Vec<T> {
    JsonlReader::<T>::open(path).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_gzip_trades_csv_replays_row_for_row_with_its_gap_and_its_bad_rows_reported() {
    let (csv, expected) = trades_csv();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("binance_trades.csv.gz");
    std::fs::write(&file, gzip(&csv)).unwrap();
    let scenario = replay_scenario("binance_trades.csv.gz", "trades", "");
    let finished = run_scenario(&scenario.replace("DIR/", &format!("{}/", dir.path().display())), &[]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let replayed: Vec<Trade> = written(&dir.path().join("out.jsonl"));
    assert_eq!(replayed.len(), 200);
    assert_eq!(replayed, expected, "every field of every row");
    let btc: Vec<u64> = replayed.iter().filter(|t| t.symbol == "BTCUSDT").map(|t| t.seq).collect();
    assert!(btc.windows(2).any(|w| w[1] == w[0] + 2), "the planted gap is a missing id: {btc:?}");
    assert!(
        finished.stderr.contains(&format!(
            "skipped 2 malformed rows of {}; the first: {}:13: field `price`: `not-a-price` is not a number",
            file.display(),
            file.display()
        )),
        "{}",
        finished.stderr
    );
    assert_eq!(finished.summary()["sinks"]["out"]["sent"], 200);
}

#[test]
fn on_error_stop_makes_the_first_bad_row_fail_the_run() {
    let (csv, _) = trades_csv();
    let scenario = replay_scenario("t.csv", "trades", "on_error = \"stop\"");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let finished = run_scenario(&scenario.replace("DIR/", &format!("{}/", dir.path().display())), &[]);
    assert_ne!(finished.code, 0);
    assert!(finished.stderr.contains("t.csv:13: field `price`"), "{}", finished.stderr);
}

#[test]
fn an_options_chain_csv_replays_as_one_chain_per_timestamp_underlying_and_expiry() {
    let mut csv = "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,\
        bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho\n"
        .to_owned();
    let expirations = [("27DEC24", 1_735_286_400_000_000i64), ("31JAN25", 1_738_310_400_000_000)];
    for snapshot in 0..3i64 {
        let ts = T0_US + snapshot * 1_000_000;
        for (name, expiration) in expirations {
            for strike in [80_000, 90_000, 100_000, 110_000, 120_000] {
                for (kind, letter) in [("call", "C"), ("put", "P")] {
                    csv += &format!(
                        "deribit,BTC-{name}-{strike}-{letter},{ts},{},{kind},{strike},{expiration},{},0.05,0.01,3,55,0.02,3,57,0.015,56.5,BTC-{name},{},0.5,0.0001,10,-5,1\n",
                        ts + 200,
                        100 + snapshot,
                        95_000 + snapshot
                    );
                }
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chains.csv"), csv).unwrap();
    let scenario = replay_scenario("chains.csv", "options_chain", "");
    let finished = run_scenario(&scenario.replace("DIR/", &format!("{}/", dir.path().display())), &[]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let chains: Vec<OptionChain> = written(&dir.path().join("out.jsonl"));
    assert_eq!(chains.len(), 6, "3 snapshots x 2 expirations");
    for (i, chain) in chains.iter().enumerate() {
        let snapshot = i as i64 / 2;
        assert_eq!(chain.underlying, "BTC");
        assert_eq!(chain.ts_ns, (T0_US + snapshot * 1_000_000) * 1000);
        assert_eq!(chain.spot, 95_000.0 + snapshot as f64);
        let strikes: Vec<f64> = chain.rows.iter().map(|r| r.strike).collect();
        assert_eq!(strikes, [80_000.0, 90_000.0, 100_000.0, 110_000.0, 120_000.0]);
        assert!(
            chain.rows.iter().all(|r| r.call.oi == 100 + snapshot as u64 && r.put.bid == 0.01 && r.call.iv == 0.565)
        );
    }
    assert_eq!(chains[0].expiry, time::macros::date!(2024 - 12 - 27));
    assert_eq!(chains[1].expiry, time::macros::date!(2025 - 01 - 31));
}

#[test]
fn a_tardis_machine_ndjson_stream_replays_its_trades_and_leaves_out_the_other_types() {
    let iso = |us: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap();
        t.format(&time::format_description::well_known::Rfc3339).unwrap()
    };
    let mut ndjson = String::new();
    let mut expected = Vec::new();
    for i in 0..100i64 {
        let ts = T0_US + i * 1_000;
        // BTC-USD's trade 1,040 is missing: a gap the replay keeps.
        let id = 1_000 + i + i64::from(i >= 40);
        let side = if i % 2 == 0 { "buy" } else { "sell" };
        let price = 95_000.0 + i as f64;
        ndjson += &format!(
            r#"{{"type":"trade","symbol":"BTC-USD","exchange":"coinbase","id":"{id}","price":{price},"amount":0.5,"side":"{side}","timestamp":"{}","localTimestamp":"{}"}}"#,
            iso(ts),
            iso(ts + 300)
        );
        ndjson += "\n";
        ndjson += &format!(
            r#"{{"type":"book_change","symbol":"BTC-USD","exchange":"coinbase","isSnapshot":false,"bids":[{{"price":{price},"amount":1}}],"asks":[],"timestamp":"{}","localTimestamp":"{}"}}"#,
            iso(ts),
            iso(ts + 400)
        );
        ndjson += "\n";
        expected.push(Trade {
            venue: "coinbase".into(),
            symbol: "BTC-USD".into(),
            seq: id as u64,
            ts_ns: ts * 1000,
            price,
            qty: 0.5,
            side: if side == "buy" { Side::Buy } else { Side::Sell },
        });
        if i == 7 {
            ndjson += r#"{"type":"trade","symbol":"BTC-USD","exchange":"coinbase","price":"high","amount":1,"side":"buy","timestamp":"2026-01-01T00:00:00Z","localTimestamp":"2026-01-01T00:00:00Z"}"#;
            ndjson += "\n";
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("replay-normalized.ndjson.gz");
    std::fs::write(&file, gzip(&ndjson)).unwrap();
    let scenario = replay_scenario("replay-normalized.ndjson.gz", "trades", "")
        .replace("format = \"tardis-csv\"\ndata_type = \"trades\"\n", "format = \"tardis-machine\"\n");
    let finished = run_scenario(&scenario.replace("DIR/", &format!("{}/", dir.path().display())), &[]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let replayed: Vec<Trade> = written(&dir.path().join("out.jsonl"));
    assert_eq!(replayed, expected, "every trade, every field, in order");
    let stderr = &finished.stderr;
    assert!(stderr.contains("left out 100 messages"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "skipped 1 malformed rows of {}; the first: {}:17: field `price`",
            file.display(),
            file.display()
        )),
        "{stderr}"
    );
}
