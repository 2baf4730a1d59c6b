//! The MongoDB probe against a real MongoDB-wire server (secantusd from the test kit).

mod common;

use common::{start_exporter, wait_for};
use mongodb::bson::{DateTime, Document, doc};
use std::time::Duration;
use tickwatch_tests::{MongoServer, NetNamespace, Server, ServerProcess, binary, value, venv_binary};

fn insert_chains(uri: &str, count: i64, newest_age_ms: i64) -> i64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await.unwrap();
        let collection = client.database("chains").collection::<Document>("nifty");
        collection.create_index(mongodb::IndexModel::builder().keys(doc! { "ts": 1 }).build()).await.unwrap();
        let now = DateTime::now().timestamp_millis();
        let docs: Vec<Document> = (0..count)
            .map(|i| doc! { "underlying": "NIFTY", "seq": i, "pcr": 1.02, "ts": DateTime::from_millis(now - newest_age_ms - (count - 1 - i) * 1000) })
            .collect();
        collection.insert_many(docs).await.unwrap();
        let stats = client.database("chains").run_command(doc! { "collStats": "nifty" }).await.unwrap();
        stats.get_i64("size").or_else(|_| stats.get_i32("size").map(i64::from)).unwrap()
    })
}

#[test]
fn reports_counts_sizes_freshness_and_recovers_after_a_restart() {
    let mut mongo = MongoServer::start().unwrap();
    let size = insert_chains(&mongo.uri(), 20, 30_000);
    let exporter = start_exporter(&format!(
        "[[mongodb]]\nname = \"store\"\nuri = \"{}\"\ndatabases = [\"chains\"]\n\
         collections = [{{ db = \"chains\", name = \"nifty\", time_field = \"ts\" }}]\n",
        mongo.uri()
    ));
    let text = exporter.metrics();
    let c = [("target", "store"), ("collection", "nifty")];
    assert_eq!(value(&text, "mongodb_up", &[("target", "store")]), Some(1.0), "{text}");
    assert_eq!(value(&text, "mongodb_collection_documents", &c), Some(20.0), "{text}");
    assert_eq!(value(&text, "mongodb_collection_size_bytes", &c), Some(size as f64));
    assert!(size > 0);
    let age = value(&text, "mongodb_collection_newest_document_age_seconds", &c).unwrap();
    assert!((29.0..40.0).contains(&age), "newest document is 30 s old, reported {age}");
    // Inserted 30..49 s ago: none in the last minute's window would be wrong; 20 - 0 are.
    assert_eq!(value(&text, "mongodb_collection_documents_last_minute", &c), Some(20.0), "{text}");
    assert_eq!(value(&text, "mongodb_db_objects", &[("target", "store"), ("db", "chains")]), Some(20.0));
    assert!(value(&text, "mongodb_connections", &[("target", "store"), ("state", "current")]).is_some());
    assert!(
        value(&text, "mongodb_rs_member_health", &[("target", "store")]).is_some(),
        "secantusd is a one-member set"
    );
    // Its oplog holds the inserts: the window runs from the oldest entry to the newest.
    let (head, tail) = (
        value(&text, "mongodb_oplog_head_timestamp_seconds", &[("target", "store")]).unwrap(),
        value(&text, "mongodb_oplog_tail_timestamp_seconds", &[("target", "store")]).unwrap(),
    );
    let now = DateTime::now().timestamp_millis() as f64 / 1000.0;
    assert!(tail <= head && (now - 120.0..now + 5.0).contains(&head), "oplog {tail}..{head}, now {now}");
    assert_eq!(value(&text, "mongodb_oplog_window_seconds", &[("target", "store")]), Some(head - tail));
    assert_eq!(common::promtool_check(&text), "", "promtool check metrics on:\n{text}");

    // A fresh write moves the age back to about zero.
    insert_chains(&mongo.uri(), 1, 0);
    let text = exporter.metrics();
    assert!(value(&text, "mongodb_collection_newest_document_age_seconds", &c).unwrap() < 5.0);
    assert_eq!(value(&text, "mongodb_collection_documents", &c), Some(21.0));

    mongo.kill();
    let (status, text, took) = exporter.scrape("/metrics", 3.0);
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(3), "within the scrape timeout: {took:?}");
    assert_eq!(value(&text, "mongodb_up", &[("target", "store")]), Some(0.0), "{text}");
    mongo.restart().unwrap();
    wait_for("mongodb_up 1 after the restart", Duration::from_secs(30), || {
        value(&exporter.metrics(), "mongodb_up", &[("target", "store")]) == Some(1.0)
    });
}

#[test]
fn a_standalone_server_reports_no_replica_set_and_no_error() {
    let mongo = MongoServer::start_standalone().unwrap();
    let exporter = start_exporter(&format!("[[mongodb]]\nname = \"solo\"\nuri = \"{}\"\n", mongo.uri()));
    let text = exporter.metrics();
    assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "solo")]), Some(1.0), "{text}");
    assert_eq!(value(&text, "mongodb_rs_member_health", &[("target", "solo")]), None);
    assert!(common::promtool_check(&text).is_empty(), "{}", common::promtool_check(&text));
}

#[test]
fn collections_found_by_pattern_are_reported_and_capped() {
    let mongo = MongoServer::start().unwrap();
    insert_chains(&mongo.uri(), 3, 0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(mongo.uri()).await.unwrap();
        for name in ["banknifty", "audit"] {
            client
                .database("chains")
                .collection::<Document>(name)
                .insert_one(doc! { "ts": DateTime::now() })
                .await
                .unwrap();
        }
    });
    let config = |max_keys: usize| {
        format!(
            "[defaults]\nmax_keys = {max_keys}\n[[mongodb]]\nname = \"store\"\nuri = \"{}\"\n\
             collections = [{{ db = \"chains\", name = \"nifty\" }}, {{ db = \"chains\", pattern = \"*nifty\", time_field = \"ts\" }}]\n",
            mongo.uri()
        )
    };
    let exporter = start_exporter(&config(100));
    let text = exporter.metrics();
    fn of(name: &str) -> [(&str, &str); 3] {
        [("target", "store"), ("db", "chains"), ("collection", name)]
    }
    assert_eq!(value(&text, "mongodb_collection_documents", &of("nifty")), Some(3.0), "{text}");
    assert_eq!(value(&text, "mongodb_collection_documents", &of("banknifty")), Some(1.0));
    assert_eq!(value(&text, "mongodb_collection_documents", &of("audit")), None, "does not match");
    assert!(value(&text, "mongodb_collection_newest_document_age_seconds", &of("banknifty")).is_some());
    // `nifty` is named and matched: read once, with the named entry's settings (no time_field).
    assert_eq!(
        text.matches("mongodb_collection_documents{target=\"store\",db=\"chains\",collection=\"nifty\"}").count(),
        1
    );
    assert_eq!(value(&text, "mongodb_collection_newest_document_age_seconds", &of("nifty")), None);
    let what = [("target", "store"), ("what", "collections")];
    assert_eq!(value(&text, "tickwatch_discovered_keys", &what), Some(2.0));
    assert_eq!(value(&text, "tickwatch_discovery_truncated", &what), Some(0.0));
    drop(exporter);

    let capped = start_exporter(&config(1));
    let text = capped.metrics();
    assert_eq!(value(&text, "tickwatch_discovered_keys", &what), Some(1.0), "{text}");
    assert_eq!(value(&text, "tickwatch_discovery_truncated", &what), Some(1.0));
}

/// `mongodb+srv://` through the system's resolver, in a network namespace whose
/// resolv.conf points at a real DNS server (dnsmasq) holding the SRV and TXT records of
/// a real MongoDB-wire server there; a name nobody serves fails with reason `connection`.
#[test]
fn mongodb_srv_names_are_resolved_through_the_system_resolver() {
    let ns = NetNamespace::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (dns_ns, dnsmasq) = (ns.clone(), binary("dnsmasq").unwrap());
    let dns = move || {
        let mut command = dns_ns.command(&dnsmasq);
        command.args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1"]);
        command.args(["--bind-interfaces", "--port=53", "--log-facility=-"]);
        command.arg("--srv-host=_mongodb._tcp.store.tickwatch.test,db1.tickwatch.test,27017");
        command.args(["--address=/db1.tickwatch.test/127.0.0.1", "--txt-record=store.tickwatch.test,authSource=admin"]);
        command
    };
    let ready_ns = ns.clone();
    let _dns = ServerProcess::start("dnsmasq", &dir.path().join("dns.log"), Duration::from_secs(10), dns, move || {
        ready_ns.accepts(53)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let (mongo_ns, secantusd) = (ns.clone(), venv_binary("secantusd-py").unwrap());
    let mongo = move || {
        let mut command = mongo_ns.command(&secantusd);
        command.args(["--host", "127.0.0.1", "--port", "27017", "--storage-path", ":memory:"]);
        command
    };
    let ready_ns = ns.clone();
    let _mongo =
        ServerProcess::start("secantusd", &dir.path().join("mongo.log"), Duration::from_secs(30), mongo, move || {
            ready_ns.accepts(27017)
        })
        .unwrap();
    let config = dir.path().join("exporter.toml");
    std::fs::write(
        &config,
        "[web]\nlisten_address = \"127.0.0.1:10089\"\n\
         [[mongodb]]\nname = \"srv\"\nuri = \"mongodb+srv://store.tickwatch.test/?tls=false\"\n\
         [[mongodb]]\nname = \"nowhere\"\nuri = \"mongodb+srv://nowhere.tickwatch.test/?tls=false\"\n",
    )
    .unwrap();
    let (exporter_ns, program) = (ns.clone(), std::path::PathBuf::from(env!("CARGO_BIN_EXE_tickwatch-exporter")));
    let exporter = move || {
        let mut command = exporter_ns.command(&program);
        command.arg("--config").arg(&config);
        command
    };
    let ready_ns = ns.clone();
    let _exporter = ServerProcess::start(
        "tickwatch-exporter",
        &dir.path().join("exporter.log"),
        Duration::from_secs(20),
        exporter,
        move || ready_ns.fetch("http://127.0.0.1:10089/-/ready").is_ok(),
    )
    .unwrap();
    let mut text = String::new();
    wait_for("the SRV-named server to be probed", Duration::from_secs(20), || {
        text = ns.fetch("http://127.0.0.1:10089/metrics").unwrap();
        value(&text, "mongodb_up", &[("target", "srv")]) == Some(1.0)
    });
    assert_eq!(
        value(&text, "mongodb_rs_member_health", &[("target", "srv"), ("member", "127.0.0.1:27017")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "mongodb_up", &[("target", "nowhere")]), Some(0.0));
    let unresolved = [("target", "nowhere"), ("reason", "connection")];
    assert!(value(&text, "tickwatch_probe_errors_total", &unresolved).is_some(), "{text}");
}
