//! The MongoDB probe (official driver, one client per target kept between scrapes): ping
//! round trip; `serverStatus` connections, op counters, memory, network and uptime (every
//! section optional: MongoDB-wire servers differ); `dbStats` per configured database;
//! per configured collection its count, size, newest-document age and, when the time
//! field is indexed, documents written in the last minute (collections named, or found by
//! pattern at each discovery interval); replica-set member health, state and lag, and
//! the oplog's window, where the server is a replica set (and nothing where it is not);
//! opLatencies and the WiredTiger cache where serverStatus has them.

mod config;

pub use config::{CollectionRef, MongoTarget};

use crate::config::Config;
use crate::discovery::{Cached, Discovered};
use crate::epoch::epoch_to_ms;
use crate::exposition::{Family, Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::reason::Reason;
use crate::shared::Shared;
use mongodb::bson::{Bson, DateTime, Document, doc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickwatch_common::mongodb::{ClientError, MongoTls};
use tokio::sync::OnceCell;

/// Fields of serverStatus's `wiredTiger.cache`: field, family, `type` label.
const WIREDTIGER_CACHE: &[(&str, &Family, &str)] = &[
    ("bytes currently in the cache", &WT_CACHE, "total"),
    ("tracked dirty bytes in the cache", &WT_CACHE, "dirty"),
    ("modified pages evicted", &WT_EVICTED, "modified"),
    ("unmodified pages evicted", &WT_EVICTED, "unmodified"),
];

families! {
    pub UP: gauge "mongodb_up", "Whether the server answered the last probe.";
    PING: gauge "mongodb_ping_duration_seconds", "Round trip of a ping during the last probe.";
    UPTIME: gauge "mongodb_instance_uptime_seconds", "Seconds since the server started.";
    CONNECTIONS: gauge "mongodb_connections", "Connections by state (current, available, active).";
    CONNECTIONS_CREATED: counter "mongodb_connections_created_total", "Connections the server has accepted.";
    OPS: counter "mongodb_op_counters_total", "Operations by type since the server started.";
    MEMORY: gauge "mongodb_memory_bytes", "Server memory by type (resident, virtual).";
    NETWORK: counter "mongodb_network_bytes_total", "Network bytes by direction (in, out).";
    REQUESTS: counter "mongodb_network_requests_total", "Requests the server has received.";
    DB_COLLECTIONS: gauge "mongodb_db_collections", "Collections in the database.";
    DB_OBJECTS: gauge "mongodb_db_objects", "Documents in the database.";
    DB_DATA: gauge "mongodb_db_data_size_bytes", "Uncompressed data size of the database.";
    DB_STORAGE: gauge "mongodb_db_storage_size_bytes", "Storage allocated to the database.";
    DB_INDEX: gauge "mongodb_db_index_size_bytes", "Size of the database's indexes.";
    COLL_DOCS: gauge "mongodb_collection_documents", "Documents in the collection.";
    COLL_SIZE: gauge "mongodb_collection_size_bytes", "Uncompressed size of the collection's documents.";
    COLL_AGE: gauge "mongodb_collection_newest_document_age_seconds", "Seconds since the time_field of the newest document (absent for an empty collection).";
    COLL_MAX_AGE: gauge "mongodb_collection_max_age_seconds", "The collection's configured max_age: how old its newest document may be before MongoDBCollectionNotWritten fires.";
    COLL_RECENT: gauge "mongodb_collection_documents_last_minute", "Documents whose time_field lies in the last 60 s (only when time_field is indexed).";
    RS_HEALTH: gauge "mongodb_rs_member_health", "Replica-set member health as the server sees it.";
    RS_STATE: gauge "mongodb_rs_member_state", "Replica-set member state (1 primary, 2 secondary, ...).";
    RS_LAG: gauge "mongodb_rs_member_replication_lag_seconds", "How far the member's applied optime is behind the primary's (healthy members only).";
    OP_LATENCY: counter "mongodb_op_latencies_seconds_total", "Time the server spent on operations by type (reads, writes, commands, transactions): rate over the ops' rate is the mean latency.";
    OP_LATENCY_OPS: counter "mongodb_op_latencies_ops_total", "Operations timed in mongodb_op_latencies_seconds_total, by type.";
    WT_CACHE: gauge "mongodb_wiredtiger_cache_bytes", "Bytes in the WiredTiger cache by type (total, dirty).";
    WT_CACHE_MAX: gauge "mongodb_wiredtiger_cache_max_bytes", "The WiredTiger cache's configured size.";
    WT_EVICTED: counter "mongodb_wiredtiger_cache_evicted_pages_total", "Pages evicted from the WiredTiger cache by type (modified, unmodified).";
    OPLOG_HEAD: gauge "mongodb_oplog_head_timestamp_seconds", "Time of the newest oplog entry.";
    OPLOG_TAIL: gauge "mongodb_oplog_tail_timestamp_seconds", "Time of the oldest oplog entry.";
    OPLOG_WINDOW: gauge "mongodb_oplog_window_seconds", "Seconds the oplog spans: a member down longer than this needs a full resync.";
}

/// The error code servers answer `replSetGetStatus` with when they are not a replica set.
const NO_REPLICATION_ENABLED: i32 = 76;

/// Builds one probe per `[[mongodb]]` target.
pub fn build(targets: &[MongoTarget], config: &Config, _shared: &Arc<Shared>) -> Vec<Result<Arc<dyn Probe>, String>> {
    targets.iter().map(|t| Ok(Arc::new(MongoProbe::new(t, config)?) as Arc<dyn Probe>)).collect()
}

/// The one client of a `[[mongodb]]` target, for its probe and the feeds that poll it.
/// It fails fast (2 s to select a server or connect): the scrape's budget bounds the probe
/// anyway, and a feed's poll loop retries on its own.
pub async fn connect(uri: &str, tls: Option<&MongoTls>) -> Result<mongodb::Client, ClientError> {
    tickwatch_common::mongodb::client(uri, "tickwatch-exporter", Duration::from_secs(2), tls).await
}

/// One MongoDB deployment.
pub struct MongoProbe {
    target: MongoTarget,
    tls: Option<MongoTls>,
    client: OnceCell<mongodb::Client>,
    /// The `pattern`s of `collections`, compiled, with the entry they belong to.
    patterns: Vec<(usize, glob::Pattern)>,
    /// Collections matching the patterns, as `db.collection`.
    matched: Cached,
    max_keys: usize,
    /// Per `db.collection`: whether its time field leads an index (looked up once).
    indexed: Mutex<HashMap<String, bool>>,
}

/// A collection to read and the `collections` entry that asks for it.
struct Chosen<'a> {
    db: &'a str,
    name: &'a str,
    entry: &'a CollectionRef,
}

impl MongoProbe {
    pub fn new(target: &MongoTarget, config: &Config) -> Result<MongoProbe, String> {
        let tls = target.tls_config.as_ref().map(MongoTls::new).transpose()?;
        let mut patterns = Vec::new();
        for (i, entry) in target.collections.iter().enumerate() {
            if let Some(pattern) = &entry.pattern {
                patterns.push((i, glob::Pattern::new(pattern).map_err(|e| format!("pattern `{pattern}`: {e}"))?));
            }
        }
        Ok(MongoProbe {
            target: target.clone(),
            tls,
            client: OnceCell::new(),
            patterns,
            matched: Cached::new(config.defaults.discovery_interval),
            max_keys: config.defaults.max_keys,
            indexed: Mutex::new(HashMap::new()),
        })
    }

    /// Collections of the patterns' databases whose names match, `db.collection`, sorted.
    async fn match_patterns(&self, client: &mongodb::Client) -> Result<Discovered, ProbeError> {
        let mut dbs: Vec<&str> = self.patterns.iter().map(|(i, _)| self.target.collections[*i].db.as_str()).collect();
        dbs.sort();
        dbs.dedup();
        let mut keys = Vec::new();
        for db in dbs {
            let names = client.database(db).list_collection_names().await.map_err(failure)?;
            let matches =
                |name: &str| self.patterns.iter().any(|(i, p)| self.target.collections[*i].db == db && p.matches(name));
            keys.extend(names.into_iter().filter(|n| matches(n)).map(|n| format!("{db}.{n}")));
        }
        keys.sort();
        let truncated = keys.len() > self.max_keys;
        keys.truncate(self.max_keys);
        Ok(Discovered { keys, truncated })
    }

    /// The named collections, then those the patterns matched (a named one only once).
    fn chosen<'a>(&'a self, matched: &'a [String]) -> Vec<Chosen<'a>> {
        let mut chosen: Vec<Chosen<'a>> = self
            .target
            .collections
            .iter()
            .filter_map(|entry| Some(Chosen { db: &entry.db, name: entry.name.as_deref()?, entry }))
            .collect();
        for key in matched {
            // Database names cannot hold a dot; collection names can.
            let Some((db, name)) = key.split_once('.') else { continue };
            if chosen.iter().any(|c| c.db == db && c.name == name) {
                continue;
            }
            let entry = self.patterns.iter().find(|(i, p)| self.target.collections[*i].db == db && p.matches(name));
            if let Some((i, _)) = entry {
                chosen.push(Chosen { db, name, entry: &self.target.collections[*i] });
            }
        }
        chosen
    }

    /// The target's client, created on first use and kept: the driver pools connections
    /// and reconnects by itself.
    async fn client(&self) -> Result<&mongodb::Client, ProbeError> {
        self.client
            .get_or_try_init(|| async {
                connect(&self.target.uri, self.tls.as_ref()).await.map_err(|e| match e {
                    ClientError::Unresolved(why) => ProbeError::new(Reason::Connection, why),
                    ClientError::Unusable(why) => ProbeError::new(Reason::Config, why),
                })
            })
            .await
    }

    async fn read(&self) -> ProbeResult {
        let client = self.client().await?;
        let admin = client.database("admin");
        let mut out = Samples::new();
        let t = ("target", self.target.name.as_str());

        let start = Instant::now();
        admin.run_command(doc! { "ping": 1 }).await.map_err(failure)?;
        out.add(&PING, &[t], start.elapsed().as_secs_f64());

        let status = admin.run_command(doc! { "serverStatus": 1 }).await.map_err(failure)?;
        self.server_status(&status, &mut out);
        for db in &self.target.databases {
            let stats = client.database(db).run_command(doc! { "dbStats": 1 }).await.map_err(failure)?;
            let labels = [t, ("db", db.as_str())];
            for (field, family) in [
                ("collections", &DB_COLLECTIONS),
                ("objects", &DB_OBJECTS),
                ("dataSize", &DB_DATA),
                ("storageSize", &DB_STORAGE),
                ("indexSize", &DB_INDEX),
            ] {
                if let Some(v) = number(stats.get(field)) {
                    out.add(family, &labels, v);
                }
            }
        }
        let matched = match self.patterns.is_empty() {
            true => Arc::new(Discovered::default()),
            false => {
                let found = self.matched.get(|| self.match_patterns(client)).await?;
                found.report("mongodb", &self.target.name, "collections", &mut out);
                found
            }
        };
        for chosen in self.chosen(&matched.keys) {
            match self.collection(client, &chosen, &mut out).await {
                // A collection that does not exist (yet, or any more) is absent, and the
                // server is still up.
                Err(e) if e.reason == Reason::Command => {
                    tracing::debug!(
                        target = self.target.name,
                        collection = chosen.name,
                        "collection not read: {}",
                        e.message
                    )
                }
                other => other?,
            }
        }
        self.replica_set(client, &mut out).await?;
        out.add(&UP, &[t], 1.0);
        Ok(out)
    }

    fn server_status(&self, status: &Document, out: &mut Samples) {
        let t = ("target", self.target.name.as_str());
        if let Some(v) = number(status.get("uptime")) {
            out.add(&UPTIME, &[t], v);
        }
        if let Ok(c) = status.get_document("connections") {
            for state in ["current", "available", "active"] {
                if let Some(v) = number(c.get(state)) {
                    out.add(&CONNECTIONS, &[t, ("state", state)], v);
                }
            }
            if let Some(v) = number(c.get("totalCreated")) {
                out.add(&CONNECTIONS_CREATED, &[t], v);
            }
        }
        if let Ok(ops) = status.get_document("opcounters") {
            for (op, value) in ops {
                if let Some(v) = number(Some(value)) {
                    out.add(&OPS, &[t, ("type", op)], v);
                }
            }
        }
        if let Ok(mem) = status.get_document("mem") {
            // serverStatus reports memory in MiB.
            for kind in ["resident", "virtual"] {
                if let Some(v) = number(mem.get(kind)) {
                    out.add(&MEMORY, &[t, ("type", kind)], v * 1024.0 * 1024.0);
                }
            }
        }
        if let Ok(latencies) = status.get_document("opLatencies") {
            for (kind, totals) in latencies {
                let Some(totals) = totals.as_document() else { continue };
                // serverStatus reports latency in microseconds.
                if let (Some(usec), Some(ops)) = (number(totals.get("latency")), number(totals.get("ops"))) {
                    out.add(&OP_LATENCY, &[t, ("type", kind)], usec / 1e6);
                    out.add(&OP_LATENCY_OPS, &[t, ("type", kind)], ops);
                }
            }
        }
        if let Ok(cache) = status.get_document("wiredTiger").and_then(|w| w.get_document("cache")) {
            for &(field, family, kind) in WIREDTIGER_CACHE {
                if let Some(v) = number(cache.get(field)) {
                    out.add(family, &[t, ("type", kind)], v);
                }
            }
            if let Some(v) = number(cache.get("maximum bytes configured")) {
                out.add(&WT_CACHE_MAX, &[t], v);
            }
        }
        if let Ok(net) = status.get_document("network") {
            for (field, direction) in [("bytesIn", "in"), ("bytesOut", "out")] {
                if let Some(v) = number(net.get(field)) {
                    out.add(&NETWORK, &[t, ("direction", direction)], v);
                }
            }
            if let Some(v) = number(net.get("numRequests")) {
                out.add(&REQUESTS, &[t], v);
            }
        }
    }

    async fn collection(
        &self,
        client: &mongodb::Client,
        chosen: &Chosen<'_>,
        out: &mut Samples,
    ) -> Result<(), ProbeError> {
        let (which, name) = (chosen.entry, chosen.name);
        let db = client.database(chosen.db);
        let labels = [("target", self.target.name.as_str()), ("db", chosen.db), ("collection", name)];
        let stats = db.run_command(doc! { "collStats": name }).await.map_err(failure)?;
        if let Some(v) = number(stats.get("count")) {
            out.add(&COLL_DOCS, &labels, v);
        }
        if let Some(v) = number(stats.get("size")) {
            out.add(&COLL_SIZE, &labels, v);
        }
        let Some(field) = &which.time_field else { return Ok(()) };
        out.add(&COLL_MAX_AGE, &labels, which.max_age.as_secs_f64());
        let collection = db.collection::<Document>(name);
        let newest = collection
            .find_one(doc! { field: { "$exists": true } })
            .sort(doc! { field: -1 })
            .projection(doc! { field: 1, "_id": 0 })
            .await
            .map_err(failure)?;
        let Some(newest) = newest.as_ref().and_then(|d| d.get(field)) else { return Ok(()) };
        let now_ms = crate::epoch::now_ms();
        if let Some(ms) = time_ms(newest) {
            out.add(&COLL_AGE, &labels, ((now_ms - ms) / 1000.0).max(0.0));
        }
        let key = format!("{}.{name}", chosen.db);
        let known = self.indexed.lock().expect("not poisoned").get(&key).copied();
        let is_indexed = match known {
            Some(indexed) => indexed,
            None => {
                let indexes = collection.list_index_names().await.map_err(failure)?;
                // Index names are `<field>_1` / `<field>_-1` for single-field indexes
                // and start with the leading field for compound ones.
                let indexed = indexes.iter().any(|n| n.starts_with(&format!("{field}_")));
                self.indexed.lock().expect("not poisoned").insert(key, indexed);
                indexed
            }
        };
        if is_indexed && let Some(since) = same_kind_as(newest, now_ms - 60_000.0) {
            let recent = collection.count_documents(doc! { field: { "$gte": since } }).await.map_err(failure)?;
            out.add(&COLL_RECENT, &labels, recent as f64);
        }
        Ok(())
    }

    async fn replica_set(&self, client: &mongodb::Client, out: &mut Samples) -> Result<(), ProbeError> {
        let admin = client.database("admin");
        let status = match admin.run_command(doc! { "replSetGetStatus": 1 }).await {
            Ok(s) => s,
            Err(e) if command_code(&e) == Some(NO_REPLICATION_ENABLED) => return Ok(()),
            Err(e) => return Err(failure(e)),
        };
        let Ok(members) = status.get_array("members") else { return Ok(()) };
        let members: Vec<&Document> = members.iter().filter_map(Bson::as_document).collect();
        let optime = |m: &Document| m.get_datetime("optimeDate").ok().map(|d| d.timestamp_millis() as f64);
        let primary_optime = members.iter().find(|m| number(m.get("state")) == Some(1.0)).and_then(|m| optime(m));
        for m in members {
            let Ok(name) = m.get_str("name") else { continue };
            let labels = [("target", self.target.name.as_str()), ("member", name)];
            let health = number(m.get("health"));
            if let Some(h) = health {
                out.add(&RS_HEALTH, &labels, h);
            }
            if let Some(s) = number(m.get("state")) {
                out.add(&RS_STATE, &labels, s);
            }
            // An unreachable member's optime is stale, and its "lag" would be absurd.
            if let (Some(1.0), Some(primary), Some(own)) = (health, primary_optime, optime(m)) {
                out.add(&RS_LAG, &labels, ((primary - own) / 1000.0).max(0.0));
            }
        }
        self.oplog(client, out).await;
        Ok(())
    }

    /// The oplog's oldest and newest entries. A user without `read` on `local` cannot
    /// see them: the families are left out and the rest of the probe stands.
    async fn oplog(&self, client: &mongodb::Client, out: &mut Samples) {
        let oplog = client.database("local").collection::<Document>("oplog.rs");
        let oplog = &oplog;
        let entry_time = |order: i32| async move {
            let entry = oplog.find_one(doc! {}).sort(doc! { "$natural": order }).projection(doc! { "ts": 1, "_id": 0 });
            match entry.await {
                Ok(Some(entry)) => entry.get_timestamp("ts").ok().map(|ts| f64::from(ts.time)),
                Ok(None) => None,
                Err(e) => {
                    tracing::debug!(target = self.target.name, "oplog not read: {e}");
                    None
                }
            }
        };
        let (Some(tail), Some(head)) = (entry_time(1).await, entry_time(-1).await) else { return };
        let t = [("target", self.target.name.as_str())];
        out.add(&OPLOG_HEAD, &t, head);
        out.add(&OPLOG_TAIL, &t, tail);
        out.add(&OPLOG_WINDOW, &t, head - tail);
    }
}

impl Probe for MongoProbe {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(self.read())
    }
}

/// A driver failure as a probe error with a bounded reason.
fn failure(e: mongodb::error::Error) -> ProbeError {
    use mongodb::error::ErrorKind;
    let reason = match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } => {
            Reason::Connection
        }
        ErrorKind::Authentication { .. } => Reason::Auth,
        _ => Reason::Command,
    };
    // TLS failures arrive as server selection errors that quote rustls.
    let message = e.kind.to_string();
    match tickwatch_common::tls::explain_text(&message) {
        Some(hint) => ProbeError::new(Reason::Tls, format!("{message}: {hint}")),
        None => ProbeError::new(reason, message),
    }
}

fn command_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        mongodb::error::ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

/// A BSON number as f64.
fn number(value: Option<&Bson>) -> Option<f64> {
    match value? {
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        Bson::Double(v) => Some(*v),
        _ => None,
    }
}

/// Milliseconds since the epoch held by a time field: a BSON date, a number whose unit
/// follows from its size (s, ms, us, ns), or an RFC 3339 string.
fn time_ms(value: &Bson) -> Option<f64> {
    match value {
        Bson::DateTime(d) => Some(d.timestamp_millis() as f64),
        Bson::String(s) => DateTime::parse_rfc3339_str(s).ok().map(|d| d.timestamp_millis() as f64),
        other => number(Some(other)).map(epoch_to_ms),
    }
}

/// `ms` written the way `example` is stored, so a range query compares like with like.
fn same_kind_as(example: &Bson, ms: f64) -> Option<Bson> {
    Some(match example {
        Bson::DateTime(_) => Bson::DateTime(DateTime::from_millis(ms as i64)),
        Bson::String(_) => Bson::String(DateTime::from_millis(ms as i64).try_to_rfc3339_string().ok()?),
        other => {
            let v = number(Some(other))?;
            let scaled = ms * (v / epoch_to_ms(v));
            match other {
                Bson::Double(_) => Bson::Double(scaled),
                _ => Bson::Int64(scaled as i64),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_op_latencies_and_the_wiredtiger_cache_when_present() {
        let target: MongoTarget = toml::from_str("name = \"store\"\nuri = \"mongodb://127.0.0.1:1\"").unwrap();
        let probe = MongoProbe::new(&target, &Config::default()).unwrap();
        // serverStatus as MongoDB 7 writes these sections (latency in microseconds).
        let status = doc! {
            "opLatencies": { "reads": { "latency": 2_500_000_i64, "ops": 1000_i64 }, "commands": { "latency": 10_i64, "ops": 2_i64 } },
            "wiredTiger": { "cache": {
                "bytes currently in the cache": 4096_i64, "tracked dirty bytes in the cache": 512_i64,
                "maximum bytes configured": 1_073_741_824_i64, "modified pages evicted": 7_i64, "unmodified pages evicted": 9_i64,
            } },
        };
        let mut out = Samples::new();
        probe.server_status(&status, &mut out);
        assert_eq!(out.value("mongodb_op_latencies_seconds_total", &[("type", "reads")]), Some(2.5));
        assert_eq!(out.value("mongodb_op_latencies_ops_total", &[("type", "reads")]), Some(1000.0));
        assert_eq!(out.value("mongodb_op_latencies_ops_total", &[("type", "commands")]), Some(2.0));
        assert_eq!(out.value("mongodb_wiredtiger_cache_bytes", &[("type", "dirty")]), Some(512.0));
        assert_eq!(out.value("mongodb_wiredtiger_cache_max_bytes", &[]), Some(1_073_741_824.0));
        assert_eq!(out.value("mongodb_wiredtiger_cache_evicted_pages_total", &[("type", "unmodified")]), Some(9.0));

        let mut none = Samples::new();
        probe.server_status(&doc! { "uptime": 5 }, &mut none);
        assert_eq!(none.len(), 1, "every section is optional");
    }

    #[test]
    fn range_bounds_keep_the_stored_kind() {
        let ms = 1_700_000_000_000.0;
        assert_eq!(same_kind_as(&Bson::Int64(1_600_000_000), ms), Some(Bson::Int64(1_700_000_000)));
        assert_eq!(same_kind_as(&Bson::Double(1.6e12), ms), Some(Bson::Double(ms)));
        assert!(matches!(same_kind_as(&Bson::DateTime(DateTime::now()), ms), Some(Bson::DateTime(_))));
    }
}
