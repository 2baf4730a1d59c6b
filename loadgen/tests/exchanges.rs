//! The gateway impersonating an exchange for a real, unchanged collector: Binance's
//! official Python connector (binance-connector from PyPI, `tests/python/binance_client.py`)
//! reads exchangeInfo, subscribes to the trade and aggTrade streams, raw and combined, and
//! receives exactly the scenario's trades (compared with a file sink of the same source)
//! with Binance's fields and types, planted gaps showing as missing ids. The scenario is
//! the shipped `scenarios/exchanges/binance.toml`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use tickwatch_feed::Trade;
use tickwatch_feed::codec::JsonlReader;
use tickwatch_tests::{free_port, repo_root, venv_binary};

/// The shipped scenario on `port`, for two collectors, with a file sink of the same
/// source: what the gateway was given to send.
fn scenario(port: u16, dir: &std::path::Path) -> String {
    let shipped = std::fs::read_to_string(repo_root().join("scenarios/exchanges/binance.toml")).unwrap();
    let adapted = shipped
        .replace("listen = \"127.0.0.1:9443\"", &format!("listen = \"127.0.0.1:{port}\""))
        .replace("wait_for_subscribers = 1", "wait_for_subscribers = 2");
    assert_ne!(adapted, shipped);
    format!(
        "{adapted}\n[[sink]]\nname = \"sent\"\nsource = \"trades\"\nkind = \"file\"\npath = \"{}/sent.jsonl\"\n",
        dir.display()
    )
}

/// Every line the client printed, as JSON.
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
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, scenario(port, dir.path())).unwrap();
    let loadgen = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .arg("run")
        .arg(&file)
        .args(["--duration-scale", "0.05"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (raw, combined) = (client(port, false), client(port, true));
    let (raw, combined) = (lines(raw), lines(combined));
    let run = loadgen.wait_with_output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let sent: Vec<Trade> =
        JsonlReader::<Trade>::open(dir.path().join("sent.jsonl")).unwrap().map(Result::unwrap).collect();
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in &sent {
        expected.entry(t.symbol.clone()).or_default().push(t.seq);
    }
    assert_eq!(expected.len(), 3);
    assert!(expected.values().all(|seqs| seqs.windows(2).all(|w| w[1] > w[0])), "ids increase");
    let gaps: usize = expected.values().map(|seqs| seqs.windows(2).filter(|w| w[1] > w[0] + 1).count()).sum();
    assert!(gaps > 0, "the planted gaps are missing ids: {expected:?}");

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
