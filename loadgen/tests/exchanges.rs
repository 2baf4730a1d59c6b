//! The gateway impersonating an exchange for a real, unchanged collector, on the shipped
//! `scenarios/exchanges/*.toml`: Binance's official Python connector (binance-connector
//! from PyPI, `tests/python/binance_client.py`) reads exchangeInfo and subscribes to the
//! trade and aggTrade streams, raw and combined; a Coinbase collector (Python
//! `websockets`, `tests/python/coinbase_client.py`) sends the documented subscribe
//! message over wss. Each receives exactly the scenario's trades (compared with a file
//! sink of the same source) with the exchange's fields and types, planted gaps showing as
//! missing ids.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use tickwatch_feed::Trade;
use tickwatch_feed::codec::JsonlReader;
use tickwatch_tests::{Pki, free_port, repo_root, venv_binary};

/// The shipped scenario `exchange` on `port`, for `collectors`, with a file sink of the
/// same source: what the gateway was given to send.
fn scenario(exchange: &str, shipped_port: u16, port: u16, collectors: usize, dir: &std::path::Path) -> String {
    let shipped = std::fs::read_to_string(repo_root().join(format!("scenarios/exchanges/{exchange}.toml"))).unwrap();
    let adapted = shipped
        .replace(&format!("listen = \"127.0.0.1:{shipped_port}\""), &format!("listen = \"127.0.0.1:{port}\""))
        .replace("wait_for_subscribers = 1", &format!("wait_for_subscribers = {collectors}"));
    assert!(adapted.contains(&format!(":{port}\"")));
    format!(
        "{adapted}\n[[sink]]\nname = \"sent\"\nsource = \"trades\"\nkind = \"file\"\npath = \"{}/sent.jsonl\"\n",
        dir.display()
    )
}

/// Starts the loadgen on `scenario` at a twentieth of its durations.
fn start_loadgen(scenario: &str, dir: &std::path::Path) -> std::process::Child {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .arg("run")
        .arg(&file)
        .args(["--duration-scale", "0.05"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The trade ids the file sink got, per symbol, after checking they increase and that
/// the planted gaps are there.
fn sent_ids(dir: &std::path::Path) -> BTreeMap<String, Vec<u64>> {
    let sent: Vec<Trade> = JsonlReader::<Trade>::open(dir.join("sent.jsonl")).unwrap().map(Result::unwrap).collect();
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in &sent {
        expected.entry(t.symbol.clone()).or_default().push(t.seq);
    }
    assert!(expected.values().all(|seqs| seqs.windows(2).all(|w| w[1] > w[0])), "ids increase");
    let gaps: usize = expected.values().map(|seqs| seqs.windows(2).filter(|w| w[1] > w[0] + 1).count()).sum();
    assert!(gaps > 0, "the planted gaps are missing ids: {expected:?}");
    expected
}

/// The Binance collector, raw or combined.
fn client(port: u16, combined: bool) -> std::process::Child {
    let python = venv_binary("python").unwrap();
    let mut command = Command::new(python);
    command.arg(repo_root().join("tests/python/binance_client.py")).args([
        "--port",
        &port.to_string(),
        "--seconds",
        "60",
    ]);
    if combined {
        command.arg("--combined");
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Every line a collector printed, as JSON.
fn lines(child: std::process::Child) -> Vec<Value> {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the client failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The ids of one event kind per symbol, in arrival order, checking each event's types.
fn ids(events: &[&Value], kind: &str, id_field: &str) -> BTreeMap<String, Vec<u64>> {
    let mut by_symbol: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in events.iter().filter(|e| e["e"] == kind) {
        assert!(e["p"].as_str().unwrap().parse::<f64>().unwrap() > 0.0, "price is a decimal string: {e}");
        assert!(e["q"].as_str().unwrap().parse::<f64>().unwrap() > 0.0, "size is a decimal string: {e}");
        assert!(e["E"].is_u64() && e["T"].is_u64() && e["m"].is_boolean() && e["M"].is_boolean(), "{e}");
        by_symbol.entry(e["s"].as_str().unwrap().to_owned()).or_default().push(e[id_field].as_u64().unwrap());
    }
    by_symbol
}

#[test]
fn binance_connector_receives_the_scenarios_trades_raw_and_combined() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let loadgen = start_loadgen(&scenario("binance", 9443, port, 2, dir.path()), dir.path());
    let (raw, combined) = (client(port, false), client(port, true));
    let (raw, combined) = (lines(raw), lines(combined));
    let run = loadgen.wait_with_output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let expected = sent_ids(dir.path());
    assert_eq!(expected.len(), 3);

    for (name, lines) in [("raw", &raw), ("combined", &combined)] {
        let info = &lines[0]["exchangeInfo"]["symbols"];
        let listed: Vec<(&str, &str, &str)> = info
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (s["symbol"].as_str().unwrap(), s["baseAsset"].as_str().unwrap(), s["quoteAsset"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            listed,
            [("BTCUSDT", "BTC", "USDT"), ("ETHUSDT", "ETH", "USDT"), ("SOLUSDT", "SOL", "USDT")],
            "{name}"
        );
        assert_eq!(info[0]["filters"][0]["filterType"], "PRICE_FILTER");
        assert_eq!(info[0]["filters"][0]["tickSize"], "0.01000000");

        let replies: Vec<&Value> = lines.iter().filter(|l| l.get("id").is_some()).collect();
        for id in 1..=6 {
            assert!(replies.iter().any(|r| r["id"] == id && r["result"].is_null()), "{name}: SUBSCRIBE {id} answered");
        }
        let list = replies.iter().find(|r| r["id"] == 1000).expect("LIST_SUBSCRIPTIONS answered");
        assert_eq!(
            list["result"],
            serde_json::json!([
                "btcusdt@trade",
                "btcusdt@aggTrade",
                "ethusdt@trade",
                "ethusdt@aggTrade",
                "solusdt@trade",
                "solusdt@aggTrade"
            ])
        );
        assert!(lines.iter().any(|l| l["pong"] == true), "{name}: the gateway answered the client's ping");

        let events: Vec<&Value> = match name {
            "raw" => lines.iter().filter(|l| l.get("e").is_some()).collect(),
            _ => {
                let wrapped: Vec<&Value> = lines.iter().filter(|l| l.get("stream").is_some()).collect();
                for w in &wrapped {
                    let stream = format!(
                        "{}@{}",
                        w["data"]["s"].as_str().unwrap().to_lowercase(),
                        w["data"]["e"].as_str().unwrap()
                    );
                    assert_eq!(w["stream"], stream.as_str());
                }
                wrapped.iter().map(|w| &w["data"]).collect()
            }
        };
        assert_eq!(ids(&events, "trade", "t"), expected, "{name}: every trade id of the scenario, in order");
        assert_eq!(ids(&events, "aggTrade", "a"), expected, "{name}: every aggTrade id of the scenario, in order");
    }
}

/// The Coinbase collector for `products`, over wss trusting `ca`.
fn coinbase_collector(port: u16, products: &str, ca: &std::path::Path) -> std::process::Child {
    Command::new(venv_binary("python").unwrap())
        .arg(repo_root().join("tests/python/coinbase_client.py"))
        .args(["--port", &port.to_string(), "--products", products, "--ca", ca.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_coinbase_collector_receives_subscriptions_matches_and_heartbeats_over_wss() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new().unwrap();
    let shipped = scenario("coinbase", 9444, port, 1, dir.path());
    let tls = format!(
        "protocol = \"coinbase\"\ntls = {{ cert_file = {:?}, key_file = {:?} }}",
        pki.server.cert(),
        pki.server.key()
    );
    let loadgen = start_loadgen(&shipped.replace("protocol = \"coinbase\"", &tls), dir.path());
    // A collector that does not trust the gateway's CA is refused, and the run says so.
    let stranger = coinbase_collector(port, "BTC-USD", &pki.other_ca).wait_with_output().unwrap();
    assert!(!stranger.status.success());
    assert!(String::from_utf8_lossy(&stranger.stderr).contains("CERTIFICATE_VERIFY_FAILED"), "{stranger:?}");
    let collector = coinbase_collector(port, "BTC-USD,ETH-USD", &pki.ca);
    let lines = lines(collector);
    let run = loadgen.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("1 client(s) failed the TLS handshake"), "{stderr}");
    let expected = sent_ids(dir.path());
    assert_eq!(expected.len(), 2);

    assert_eq!(lines[0]["type"], "subscriptions");
    assert_eq!(
        lines[0]["channels"],
        serde_json::json!([{"name": "heartbeat", "product_ids": ["BTC-USD", "ETH-USD"]},
            {"name": "matches", "product_ids": ["BTC-USD", "ETH-USD"]}])
    );
    let beats: Vec<&Value> = lines.iter().filter(|l| l["type"] == "heartbeat").collect();
    assert!(beats.iter().any(|b| b["product_id"] == "BTC-USD") && beats.iter().any(|b| b["product_id"] == "ETH-USD"));
    assert!(beats.iter().all(|b| b["last_trade_id"].is_u64() && b["sequence"].is_u64()));
    let mut received: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for m in lines.iter().filter(|l| l["type"] == "match") {
        assert!(m["price"].as_str().unwrap().parse::<f64>().unwrap() > 0.0, "{m}");
        assert!(m["size"].as_str().unwrap().parse::<f64>().unwrap() > 0.0, "{m}");
        let time = m["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == "2014-11-07T08:19:27.028459Z".len(), "{time}");
        assert!(m["side"] == "buy" || m["side"] == "sell");
        assert!(m["maker_order_id"].is_string() && m["taker_order_id"].is_string());
        assert_eq!(m["sequence"], m["trade_id"]);
        received.entry(m["product_id"].as_str().unwrap().to_owned()).or_default().push(m["trade_id"].as_u64().unwrap());
    }
    assert_eq!(received, expected, "every trade id of the scenario, in order");
}

#[test]
fn a_deribit_collector_gets_instruments_option_tickers_trades_and_heartbeats_over_wss() {
    let (options_port, trades_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new().unwrap();
    let tls = format!(
        "protocol = \"deribit\"\ntls = {{ cert_file = {:?}, key_file = {:?} }}",
        pki.server.cert(),
        pki.server.key()
    );
    let shipped = std::fs::read_to_string(repo_root().join("scenarios/exchanges/deribit.toml")).unwrap();
    let scenario = shipped
        .replace("127.0.0.1:9445", &format!("127.0.0.1:{options_port}"))
        .replace("127.0.0.1:9446", &format!("127.0.0.1:{trades_port}"))
        .replace("protocol = \"deribit\"", &tls);
    let files = |source: &str, file: &str| {
        format!(
            "\n[[sink]]\nname = \"{file}\"\nsource = \"{source}\"\nkind = \"file\"\npath = \"{}/{file}.jsonl\"\n",
            dir.path().display()
        )
    };
    let scenario = format!("{scenario}{}{}", files("trades", "sent"), files("options", "chains"));
    // A quarter of the durations: the 10 s heartbeat comes once.
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let loadgen = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .args(["run", file.to_str().unwrap(), "--duration-scale", "0.25"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let collector = Command::new(venv_binary("python").unwrap())
        .arg(repo_root().join("tests/python/deribit_client.py"))
        .args(["--api", &format!("option=wss://127.0.0.1:{options_port}/ws/api/v2")])
        .args(["--api", &format!("future=wss://127.0.0.1:{trades_port}/ws/api/v2")])
        .args(["--ca", pki.ca.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines(collector);
    let run = loadgen.wait_with_output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let of = |api: &str| -> Vec<&Value> { lines.iter().filter(|l| l["api"] == api).map(|l| &l["message"]).collect() };
    let (options, futures, rest) = (of("option"), of("future"), of("rest"));

    // Instruments: the chain's 41 strikes at 3 expiries, calls and puts, over HTTP too.
    let listed = options.iter().find(|m| m["id"] == 2).expect("get_instruments answered")["result"].as_array().unwrap();
    assert_eq!(listed.len(), 41 * 3 * 2);
    assert!(listed.iter().all(|i| i["kind"] == "option" && i["strike"].is_f64() && i["expiration_timestamp"].is_u64()));
    assert_eq!(rest[0]["result"].as_array().unwrap().len(), listed.len());
    let subscribed = options.iter().find(|m| m["id"] == 3).unwrap()["result"].as_array().unwrap().len();
    assert_eq!(subscribed, listed.len());

    // Heartbeats: set, then a test_request that the collector answered with public/test.
    assert_eq!(options.iter().find(|m| m["id"] == 1).unwrap()["result"], "ok");
    assert!(options.iter().any(|m| m["method"] == "heartbeat" && m["params"]["type"] == "test_request"));
    assert!(options.iter().any(|m| m["result"]["version"].is_string()), "public/test answered");

    // Tickers: one per option of every chain sent, with Deribit's fields; crossed quotes show.
    let chains: Vec<tickwatch_feed::OptionChain> =
        JsonlReader::open(dir.path().join("chains.jsonl")).unwrap().map(Result::unwrap).collect();
    let tickers: Vec<&Value> =
        options.iter().filter(|m| m["method"] == "subscription").map(|m| &m["params"]["data"]).collect();
    assert_eq!(tickers.len(), chains.iter().map(|c| 2 * c.rows.len()).sum::<usize>());
    for t in &tickers {
        for field in ["best_bid_price", "best_ask_price", "mark_price", "mark_iv", "underlying_price", "index_price"] {
            assert!(t[field].is_number(), "{field}: {t}");
        }
        assert!(t["open_interest"].is_u64() && t["timestamp"].is_u64(), "{t}");
        assert!(["delta", "gamma", "vega", "theta", "rho"].iter().all(|g| t["greeks"][g].is_number()), "{t}");
    }
    let crossed_sent =
        chains.iter().flat_map(|c| &c.rows).flat_map(|r| [&r.call, &r.put]).filter(|q| q.bid > q.ask).count();
    let crossed_seen = tickers.iter().filter(|t| t["best_bid_price"].as_f64() > t["best_ask_price"].as_f64()).count();
    assert!(crossed_sent > 0 && crossed_seen == crossed_sent, "{crossed_sent} crossed sent, {crossed_seen} seen");

    // Trades: every trade_seq of the scenario, in order, gaps missing.
    let expected = sent_ids(dir.path());
    let mut received: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for m in futures.iter().filter(|m| m["method"] == "subscription") {
        for t in m["params"]["data"].as_array().unwrap() {
            assert!(t["price"].is_number() && t["amount"].is_number() && t["timestamp"].is_u64(), "{t}");
            assert!(t["trade_id"].is_string() && (t["direction"] == "buy" || t["direction"] == "sell"), "{t}");
            assert_eq!(m["params"]["channel"], format!("trades.{}.raw", t["instrument_name"].as_str().unwrap()));
            received
                .entry(t["instrument_name"].as_str().unwrap().to_owned())
                .or_default()
                .push(t["trade_seq"].as_u64().unwrap());
        }
    }
    assert_eq!(received, expected, "every trade_seq of the scenario, in order");
}
