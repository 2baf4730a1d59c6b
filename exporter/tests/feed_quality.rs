//! Feed data quality end to end: synthetic feeds with faults planted by the injectors,
//! pushed through real Redis (pub/sub and streams) and a real WebSocket gateway into a
//! running exporter, give anomaly counters equal to what was planted.

mod common;

use common::{start_exporter, wait_for};
use std::collections::HashMap;
use std::time::Duration;
use tickwatch_feed::Trade;
use tickwatch_feed::codec::encode;
use tickwatch_feed::faults::{FaultKind, FaultMix, TradeFault, TradeFaultParams, TradeFaults};
use tickwatch_feed::synth::{SymbolSpec, TradeSynth};
use tickwatch_tests::{RedisServer, Server, WebSocketServer, free_port, value};

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// A synthetic feed starting at `start_ns`, with faults planted; returns the trades and the count
/// of each anomaly kind planted.
fn faulted_feed(count: usize, faults: &str, seed: u64, start_ns: i64) -> (Vec<Trade>, HashMap<&'static str, f64>) {
    let specs = SYMBOLS.iter().map(|s| SymbolSpec::preset(s)).collect();
    let mix: FaultMix<TradeFault> = faults.parse().unwrap();
    let mut injector = TradeFaults::new(mix, TradeFaultParams::default(), seed);
    let mut out = Vec::new();
    for t in TradeSynth::new("binance", specs, start_ns, seed).unwrap().take(count) {
        injector.apply(t, &mut |t| out.push(t));
    }
    let mut planted = HashMap::new();
    for p in injector.planted() {
        *planted.entry(p.kind.anomaly()).or_insert(0.0) += 1.0;
    }
    (out, planted)
}

/// Sum of a per-symbol counter over the symbols.
fn total(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    SYMBOLS
        .iter()
        .map(|s| {
            let mut l = labels.to_vec();
            l.push(("symbol", s));
            value(text, name, &l).unwrap_or(0.0)
        })
        .sum()
}

const DETERMINISTIC: &str = "gap=0.01,duplicate=0.01,reorder=0.01,spike=0.01,non_positive=0.01";

#[test]
fn pubsub_feed_anomalies_equal_what_was_planted_and_scores_recover() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[feed]]\nname = \"synth\"\nkind = \"trade\"\nsource = {{ type = \"redis-pubsub\", url = \"{}\", channel = \"trades.*\" }}\n\
         max_clock_drift = \"1h\"\nscore_window = 200\n",
        redis.url()
    ));
    let f = [("feed", "synth")];
    wait_for("the subscription", Duration::from_secs(10), || {
        value(&exporter.metrics(), "data_feed_connected", &f) == Some(1.0)
    });

    let (trades, planted) = faulted_feed(6_000, DETERMINISTIC, 21, now_ns());
    let mut con = redis.connection().unwrap();
    let mut pipe = redis::pipe();
    for t in &trades {
        let mut json = Vec::new();
        encode(t, &mut json);
        pipe.cmd("PUBLISH").arg(format!("trades.{}", t.symbol)).arg(json).ignore();
    }
    // Malformed and foreign messages are rejected by reason, not crashed on.
    pipe.cmd("PUBLISH").arg("trades.junk").arg("not json at all").ignore();
    pipe.cmd("PUBLISH").arg("trades.junk").arg(r#"{"e":"trade","s":"BTCUSDT","p":"1"}"#).ignore();
    pipe.exec(&mut con).unwrap();

    wait_for("every message to be checked", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &f) == Some(trades.len() as f64)
    });
    let text = exporter.metrics();
    for kind in ["gap", "duplicate", "out_of_order", "spike", "non_positive"] {
        let found = total(&text, "data_anomalies_detected_total", &[("feed", "synth"), ("kind", kind)]);
        let expected = planted.get(kind).copied().unwrap_or(0.0);
        assert!(expected > 5.0, "{kind} was planted");
        assert_eq!(found, expected, "{kind}");
    }
    assert_eq!(
        value(&text, "data_feed_messages_rejected_total", &[("feed", "synth"), ("reason", "not_json")]),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "data_feed_messages_rejected_total", &[("feed", "synth"), ("reason", "bad_field")]),
        Some(1.0)
    );
    let score = |text: &str, s: &str| value(text, "data_quality_score", &[("feed", "synth"), ("symbol", s)]).unwrap();
    assert!(SYMBOLS.iter().all(|s| score(&text, s) < 1.0), "faults pull every score down");
    assert!(value(&text, "data_last_message_age_seconds", &[("feed", "synth"), ("symbol", "BTCUSDT")]).unwrap() < 30.0);

    // A clean stretch longer than the score window, later in exchange time, brings every
    // score back to 1.
    let after = trades.iter().map(|t| t.ts_ns).max().unwrap() + 1_000_000_000;
    let (clean, _) = faulted_feed(3_000, "", 22, after);
    let mut pipe = redis::pipe();
    for t in &clean {
        let mut json = Vec::new();
        encode(&Trade { seq: t.seq + 1_000_000, ..t.clone() }, &mut json);
        pipe.cmd("PUBLISH").arg(format!("trades.{}", t.symbol)).arg(json).ignore();
    }
    pipe.exec(&mut con).unwrap();
    wait_for("scores to recover", Duration::from_secs(30), || {
        let text = exporter.metrics();
        SYMBOLS.iter().all(|s| score(&text, s) == 1.0)
    });
}

#[test]
fn exchange_presets_read_binance_coinbase_and_deribit_payloads_without_mappings() {
    let redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[feed]]\nname = \"bn\"\nkind = \"trade\"\nformat = \"binance\"\nmax_clock_drift = \"1h\"\n\
         source = {{ type = \"redis-pubsub\", url = \"{url}\", channel = \"binance\" }}\n\
         [[feed]]\nname = \"cb\"\nkind = \"trade\"\nformat = \"coinbase\"\nmax_clock_drift = \"1h\"\n\
         source = {{ type = \"redis-pubsub\", url = \"{url}\", channel = \"coinbase\" }}\n\
         [[feed]]\nname = \"db\"\nkind = \"trade\"\nformat = \"deribit\"\nmax_clock_drift = \"1h\"\n\
         source = {{ type = \"redis-pubsub\", url = \"{url}\", channel = \"deribit\" }}\n",
        url = redis.url()
    ));
    wait_for("both subscriptions", Duration::from_secs(10), || {
        let text = exporter.metrics();
        ["bn", "cb", "db"].iter().all(|f| value(&text, "data_feed_connected", &[("feed", f)]) == Some(1.0))
    });
    let mut con = redis.connection().unwrap();
    let mut pipe = redis::pipe();
    // Binance: 50 trades, raw and combined, id 30 missing; a SUBSCRIBE reply among them.
    pipe.cmd("PUBLISH").arg("binance").arg(r#"{"result":null,"id":1}"#).ignore();
    let ms = now_ns() / 1_000_000;
    for t in (1..=51u64).filter(|&t| t != 30) {
        let event = format!(
            r#"{{"e":"trade","E":{ms},"s":"BTCUSDT","t":{t},"p":"42000.{t}","q":"0.5","T":{ms},"m":true,"M":true}}"#
        );
        let message = if t % 2 == 0 { format!(r#"{{"stream":"btcusdt@trade","data":{event}}}"#) } else { event };
        pipe.cmd("PUBLISH").arg("binance").arg(message).ignore();
    }
    // Coinbase: 40 matches, trade 20 missing; the subscriptions reply and heartbeats.
    pipe.cmd("PUBLISH")
        .arg("coinbase")
        .arg(r#"{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]}]}"#)
        .ignore();
    let time = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    for t in (1..=41u64).filter(|&t| t != 20) {
        let message = format!(
            r#"{{"type":"match","trade_id":{t},"sequence":{},"maker_order_id":"a","taker_order_id":"b","time":"{time}","product_id":"BTC-USD","size":"0.01","price":"95000.{t}","side":"buy"}}"#,
            1000 + t
        );
        pipe.cmd("PUBLISH").arg("coinbase").arg(message).ignore();
        if t % 10 == 0 {
            pipe.cmd("PUBLISH").arg("coinbase").arg(format!(r#"{{"type":"heartbeat","sequence":{t},"last_trade_id":{t},"product_id":"BTC-USD","time":"{time}"}}"#)).ignore();
        }
    }
    // Deribit: 60 trades of BTC-PERPETUAL in notifications of three, trade_seq 31 missing;
    // the subscribe reply, a heartbeat and a ticker notification.
    pipe.cmd("PUBLISH")
        .arg("deribit")
        .arg(r#"{"jsonrpc":"2.0","id":42,"result":["trades.BTC-PERPETUAL.raw"]}"#)
        .ignore();
    let seqs: Vec<u64> = (1..=61u64).filter(|&t| t != 31).collect();
    for three in seqs.chunks(3) {
        let trades: Vec<String> = three
            .iter()
            .map(|t| format!(
                r#"{{"trade_seq":{t},"trade_id":"{t}","timestamp":{ms},"tick_direction":0,"price":95000.{t},"mark_price":95000.0,"instrument_name":"BTC-PERPETUAL","index_price":95000.0,"direction":"buy","amount":10.0}}"#
            ))
            .collect();
        let message = format!(
            r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.BTC-PERPETUAL.raw","data":[{}]}}}}"#,
            trades.join(",")
        );
        pipe.cmd("PUBLISH").arg("deribit").arg(message).ignore();
    }
    pipe.cmd("PUBLISH")
        .arg("deribit")
        .arg(r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#)
        .ignore();
    pipe.cmd("PUBLISH").arg("deribit").arg(r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.BTC-PERPETUAL.100ms","data":{"mark_price":95000.0}}}"#).ignore();
    pipe.exec(&mut con).unwrap();
    let decoded = |text: &str, feed: &str| value(text, "data_feed_messages_decoded_total", &[("feed", feed)]);
    wait_for("every trade", Duration::from_secs(20), || {
        let text = exporter.metrics();
        decoded(&text, "bn") == Some(50.0) && decoded(&text, "cb") == Some(40.0) && decoded(&text, "db") == Some(20.0)
    });
    let text = exporter.metrics();
    let gaps = |feed: &str, symbol: &str| {
        value(&text, "data_anomalies_detected_total", &[("feed", feed), ("symbol", symbol), ("kind", "gap")])
    };
    assert_eq!(gaps("bn", "BTCUSDT"), Some(1.0), "the missing trade id");
    assert_eq!(gaps("cb", "BTC-USD"), Some(1.0), "the missing trade id");
    assert_eq!(gaps("db", "BTC-PERPETUAL"), Some(1.0), "the missing trade_seq");
    let gap_checks = |result: &str| {
        let labels = [("feed", "db"), ("symbol", "BTC-PERPETUAL"), ("check", "gap"), ("result", result)];
        value(&text, "data_quality_checks_total", &labels)
    };
    assert_eq!(
        (gap_checks("pass"), gap_checks("fail")),
        (Some(58.0), Some(1.0)),
        "every trade of the 20 notifications checked (all but the first against the one before)"
    );
    let not_trade =
        |feed: &str| value(&text, "data_feed_messages_rejected_total", &[("feed", feed), ("reason", "not_trade")]);
    assert_eq!(not_trade("bn"), Some(1.0), "the SUBSCRIBE reply");
    assert_eq!(not_trade("cb"), Some(4.0), "the subscriptions reply and three heartbeats");
    assert_eq!(not_trade("db"), Some(3.0), "the subscribe reply, the heartbeat and the ticker");
}

#[test]
fn stream_feed_with_a_foreign_format_counts_gaps_and_survives_a_restart() {
    let mut redis = RedisServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[feed]]\nname = \"binance\"\nkind = \"trade\"\nformat = \"mapped\"\n\
         source = {{ type = \"redis-stream\", url = \"{}\", stream = \"ticks\", group = \"tickwatch\" }}\n\
         fields = {{ symbol = \"/s\", seq = \"/t\", price = \"/p\", qty = \"/q\", ts = \"/T\", ts_unit = \"ms\" }}\n",
        redis.url()
    ));
    let f = [("feed", "binance")];
    wait_for("the consumer group", Duration::from_secs(10), || {
        value(&exporter.metrics(), "data_feed_connected", &f) == Some(1.0)
    });
    let publish = |redis: &RedisServer, seqs: &[u64]| {
        let mut con = redis.connection().unwrap();
        let mut pipe = redis::pipe();
        for &t in seqs {
            let ms = now_ns() / 1_000_000;
            let msg = format!(r#"{{"e":"trade","E":{ms},"s":"BTCUSDT","t":{t},"p":"42000.{t}","q":"0.5","T":{ms}}}"#);
            pipe.cmd("XADD").arg("ticks").arg("*").arg("data").arg(msg).ignore();
        }
        pipe.exec(&mut con).unwrap();
    };
    // Sequence 1..=100 with two jumps: 41..=44 and 70 missing.
    let seqs: Vec<u64> = (1..=100).filter(|t| !(41..=44).contains(t) && *t != 70).collect();
    publish(&redis, &seqs);
    let labels = [("feed", "binance"), ("symbol", "BTCUSDT"), ("kind", "gap")];
    wait_for("the stream entries", Duration::from_secs(20), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &f) == Some(seqs.len() as f64)
    });
    assert_eq!(value(&exporter.metrics(), "data_anomalies_detected_total", &labels), Some(2.0), "two jumps, two gaps");

    redis.kill();
    wait_for("the source to report the outage", Duration::from_secs(15), || {
        value(&exporter.metrics(), "data_feed_connected", &f) == Some(0.0)
    });
    redis.restart().unwrap();
    wait_for("the consumer to reconnect", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_connected", &f) == Some(1.0)
    });
    publish(&redis, &[101, 102, 104]);
    wait_for("messages after the restart", Duration::from_secs(20), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &f) == Some(seqs.len() as f64 + 3.0)
    });
    assert_eq!(value(&exporter.metrics(), "data_anomalies_detected_total", &labels), Some(3.0));
}

#[test]
fn websocket_feed_of_clean_ticks_scores_one() {
    let port = free_port();
    let _gateway =
        WebSocketServer::start_on(port, &["--count", "300", "--interval-ms", "1", "--no-subscribe"]).unwrap();
    let exporter = start_exporter(&format!(
        "[[websocket]]\nname = \"gw\"\nurl = \"ws://127.0.0.1:{port}/\"\nmode = \"monitor\"\ntimestamp_pointer = \"/T\"\n\
         [[feed]]\nname = \"gwfeed\"\nkind = \"trade\"\nformat = \"mapped\"\nsource = {{ type = \"websocket\", target = \"gw\" }}\n\
         fields = {{ symbol = \"/s\", seq = \"/t\", price = \"/p\", qty = \"/q\", ts = \"/T\" }}\n"
    ));
    let f = [("feed", "gwfeed")];
    wait_for("all ticks through the monitor into the feed", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &f) == Some(300.0)
    });
    let text = exporter.metrics();
    let s = [("feed", "gwfeed"), ("symbol", "BTCUSDT")];
    assert_eq!(value(&text, "data_quality_score", &s), Some(1.0), "{text}");
    assert!(value(&text, "data_anomalies_detected_total", &s).unwrap_or(0.0) == 0.0);
    assert_eq!(
        value(&text, "data_quality_checks_total", &[("feed", "gwfeed"), ("check", "gap"), ("result", "pass")]),
        Some(299.0)
    );
    assert!(common::promtool_check(&text).is_empty(), "{}", common::promtool_check(&text));
}

#[test]
fn mongodb_chain_feed_finds_planted_arbitrage_and_reports_pcr() {
    use tickwatch_feed::OptionChain;
    use tickwatch_feed::faults::{ChainFault, ChainFaults};
    use tickwatch_feed::synth::{ChainSpec, ChainSynth};
    let mongo = tickwatch_tests::MongoServer::start().unwrap();
    let exporter = start_exporter(&format!(
        "[[mongodb]]\nname = \"store\"\nuri = \"{}\"\n\
         [[feed]]\nname = \"chains\"\nkind = \"option_chain\"\n\
         source = {{ type = \"mongodb\", target = \"store\", db = \"md\", collection = \"chains\", time_field = \"ts_ns\", poll_interval = \"200ms\" }}\n",
        mongo.uri()
    ));
    let mix = FaultMix::new(vec![(ChainFault::Butterfly, 0.2), (ChainFault::Crossed, 0.2)]).unwrap();
    let mut faults = ChainFaults::new(mix, 60_000, 3);
    let chains: Vec<OptionChain> = ChainSynth::new(vec![ChainSpec::preset("NIFTY")], now_ns(), 5)
        .unwrap()
        .take(60)
        .map(|c| faults.apply(c))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(mongo.uri()).await.unwrap();
        let docs: Vec<mongodb::bson::Document> =
            chains.iter().map(|c| mongodb::bson::serialize_to_document(c).unwrap()).collect();
        client.database("md").collection("chains").insert_many(docs).await.unwrap();
    });
    let f = [("feed", "chains")];
    wait_for("every chain to be polled and checked", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &f) == Some(60.0)
    });
    let text = exporter.metrics();
    let s = |kind: &str| {
        value(&text, "data_anomalies_detected_total", &[("feed", "chains"), ("symbol", "NIFTY"), ("kind", kind)])
    };
    let planted = |kind: ChainFault| faults.planted().iter().filter(|p| p.kind == kind).count() as f64;
    assert!(planted(ChainFault::Butterfly) > 3.0 && planted(ChainFault::Crossed) > 3.0);
    assert_eq!(s("butterfly"), Some(planted(ChainFault::Butterfly)), "{text}");
    assert_eq!(s("crossed"), Some(planted(ChainFault::Crossed)));
    assert_eq!(s("parity"), Some(0.0));
    let pcr = chains.last().unwrap().pcr_open_interest().unwrap();
    let expiry = chains.last().unwrap().expiry.to_string();
    let reported =
        value(&text, "option_chain_pcr", &[("feed", "chains"), ("underlying", "NIFTY"), ("expiry", &expiry)]).unwrap();
    assert!((reported - pcr).abs() < 1e-9, "pcr {reported} vs {pcr}");
}

/// The loadgen's Deribit gateway (`protocol = "deribit"`) sends the tickers of every option
/// of synthetic BTC chains with crossed quotes and butterflies planted; the exporter
/// monitors it as a collector would and, with `format = "deribit"`, assembles the tickers
/// into chains whose check results equal those of the chains sent (each expiry's last
/// chain stays in its round, unchecked, when the run ends).
#[test]
fn deribit_tickers_from_the_loadgen_gateway_are_checked_as_chains() {
    use tickwatch_feed::OptionChain;
    use tickwatch_feed::codec::JsonlReader;
    use tickwatch_feed::deribit::OptionName;
    use tickwatch_feed::quality::{ChainCheck, ChainThresholds, Check, check_chain};
    use tickwatch_feed::synth::ChainSpec;
    let port = free_port();
    let spec = ChainSpec::preset("BTC");
    let mut channels = Vec::new();
    for expiry in spec.expiries(now_ns()) {
        for strike in spec.strikes() {
            for call in [true, false] {
                channels.push(format!("ticker.{}.100ms", OptionName { underlying: "BTC", expiry, strike, call }));
            }
        }
    }
    let subscribe =
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "public/subscribe", "params": {"channels": channels}});
    let exporter = start_exporter(&format!(
        "[[websocket]]\nname = \"deribit\"\nurl = \"ws://127.0.0.1:{port}/ws/api/v2\"\nmode = \"monitor\"\nsubscribe = [{:?}]\n\
         [[feed]]\nname = \"options\"\nkind = \"option_chain\"\nformat = \"deribit\"\nsource = {{ type = \"websocket\", target = \"deribit\" }}\n",
        subscribe.to_string()
    ));
    let dir = tempfile::tempdir().unwrap();
    let scenario = format!(
        "name = \"deribit-chains\"\nseed = 21\n\
         [[source]]\nname = \"options\"\nkind = \"synthetic-chains\"\nsymbols = [\"BTC\"]\n\
         [[sink]]\nname = \"api\"\nsource = \"options\"\nkind = \"websocket-server\"\nlisten = \"127.0.0.1:{port}\"\nprotocol = \"deribit\"\nwait_for_subscribers = 1\n\
         [[sink]]\nname = \"sent\"\nsource = \"options\"\nkind = \"file\"\npath = \"{}/chains.jsonl\"\n\
         [[phase]]\nname = \"faults\"\nduration = \"4s\"\nrate = 15\nfaults = [\"crossed=0.15\", \"butterfly=0.15\"]\n",
        dir.path().display()
    );
    let scenario = tickwatch_loadgen::scenario::parse(&scenario, "deribit-chains.toml").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(tickwatch_loadgen::run::run(scenario, tickwatch_loadgen::run::RunOptions::default())).unwrap();

    // What the exporter must have found: the checks of every chain sent but each expiry's last.
    let sent: Vec<OptionChain> =
        JsonlReader::open(dir.path().join("chains.jsonl")).unwrap().map(Result::unwrap).collect();
    let mut last_of_expiry = HashMap::new();
    for (i, chain) in sent.iter().enumerate() {
        last_of_expiry.insert(chain.expiry, i);
    }
    let checked: Vec<&OptionChain> =
        sent.iter().enumerate().filter(|(i, c)| last_of_expiry[&c.expiry] != *i).map(|(_, c)| c).collect();
    let tickers: usize = sent.iter().map(|c| 2 * c.rows.len()).sum();
    let f = [("feed", "options")];
    wait_for("every ticker through the monitor", Duration::from_secs(30), || {
        value(&exporter.metrics(), "data_feed_messages_decoded_total", &f) == Some(tickers as f64)
    });
    let text = exporter.metrics();
    let thresholds = ChainThresholds::default();
    for check in [
        ChainCheck::Crossed,
        ChainCheck::Butterfly,
        ChainCheck::Parity,
        ChainCheck::CallMonotonicity,
        ChainCheck::PutMonotonicity,
    ] {
        let failed =
            checked.iter().filter(|c| check_chain(c, &thresholds).results[check as usize] == Some(false)).count();
        let labels = [("feed", "options"), ("symbol", "BTC"), ("kind", check.label())];
        assert_eq!(
            value(&text, "data_anomalies_detected_total", &labels),
            Some(failed as f64),
            "{}: {text}",
            check.label()
        );
        if matches!(check, ChainCheck::Crossed | ChainCheck::Butterfly) {
            assert!(failed > 0, "{} was planted", check.label());
        }
    }
    // The put-call ratio of each expiry's latest checked chain.
    for expiry in last_of_expiry.keys() {
        let latest = checked.iter().rev().find(|c| c.expiry == *expiry).unwrap();
        let labels = [("feed", "options"), ("underlying", "BTC"), ("expiry", &expiry.to_string())];
        assert_eq!(value(&text, "option_chain_pcr", &labels), latest.pcr_open_interest(), "{expiry}");
    }
    let rejected = [("feed", "options"), ("reason", "not_ticker")];
    assert_eq!(value(&text, "data_feed_messages_rejected_total", &rejected), Some(1.0), "the subscribe reply: {text}");
}
