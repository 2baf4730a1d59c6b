//! The MongoDB probe (official driver, one client per target kept between scrapes): ping
//! round trip; `serverStatus` connections, op counters, memory, network and uptime (every
//! section optional: MongoDB-wire servers differ); `dbStats` per configured database;
//! per configured collection its count, size, newest-document age and, when the time
//! field is indexed, documents written in the last minute; replica-set member health,
//! state and lag where the server is a replica set (and nothing where it is not).

mod config;

pub use config::{CollectionRef, MongoTarget};

use crate::config::Config;
use crate::epoch::epoch_to_ms;
use crate::exposition::{Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::reason::Reason;
use crate::shared::Shared;
use mongodb::bson::{Bson, DateTime, Document, doc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickwatch_common::mongodb::MongoTls;
use tokio::sync::OnceCell;

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
}

/// The error code servers answer `replSetGetStatus` with when they are not a replica set.
const NO_REPLICATION_ENABLED: i32 = 76;

/// Builds one probe per `[[mongodb]]` target.
pub fn build(targets: &[MongoTarget], _config: &Config, _shared: &Arc<Shared>) -> Vec<Result<Arc<dyn Probe>, String>> {
    targets.iter().map(|t| Ok(Arc::new(MongoProbe::new(t)?) as Arc<dyn Probe>)).collect()
}

/// The one client of a `[[mongodb]]` target, for its probe and the feeds that poll it.
/// It fails fast (2 s to select a server or connect): the scrape's budget bounds the probe
/// anyway, and a feed's poll loop retries on its own.
pub async fn connect(uri: &str, tls: Option<&MongoTls>) -> Result<mongodb::Client, String> {
    tickwatch_common::mongodb::client(uri, "tickwatch-exporter", Duration::from_secs(2), tls).await
}

/// One MongoDB deployment.
pub struct MongoProbe {
    target: MongoTarget,
    tls: Option<MongoTls>,
    client: OnceCell<mongodb::Client>,
    /// Per collection: whether its time field leads an index (looked up once).
    indexed: Vec<OnceCell<bool>>,
}

impl MongoProbe {
    pub fn new(target: &MongoTarget) -> Result<MongoProbe, String> {
        let indexed = target.collections.iter().map(|_| OnceCell::new()).collect();
        let tls = target.tls_config.as_ref().map(MongoTls::new).transpose()?;
        Ok(MongoProbe { target: target.clone(), tls, client: OnceCell::new(), indexed })
    }

    /// The target's client, created on first use and kept: the driver pools connections
    /// and reconnects by itself.
    async fn client(&self) -> Result<&mongodb::Client, ProbeError> {
        self.client
            .get_or_try_init(|| async {
                connect(&self.target.uri, self.tls.as_ref()).await.map_err(|e| ProbeError::new(Reason::Config, e))
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
        for (collection, indexed) in self.target.collections.iter().zip(&self.indexed) {
            match self.collection(client, collection, indexed, &mut out).await {
                // A collection that does not exist (yet, or any more) is absent, and the
                // server is still up.
                Err(e) if e.reason == Reason::Command => {
                    tracing::debug!(
                        target = self.target.name,
                        collection = collection.name,
                        "collection not read: {}",
                        e.message
                    )
                }
                other => other?,
            }
        }
        self.replica_set(&admin, &mut out).await?;
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
        which: &CollectionRef,
        indexed: &OnceCell<bool>,
        out: &mut Samples,
    ) -> Result<(), ProbeError> {
        let db = client.database(&which.db);
        let labels =
            [("target", self.target.name.as_str()), ("db", which.db.as_str()), ("collection", which.name.as_str())];
        let stats = db.run_command(doc! { "collStats": &which.name }).await.map_err(failure)?;
        if let Some(v) = number(stats.get("count")) {
            out.add(&COLL_DOCS, &labels, v);
        }
        if let Some(v) = number(stats.get("size")) {
            out.add(&COLL_SIZE, &labels, v);
        }
        let Some(field) = &which.time_field else { return Ok(()) };
        out.add(&COLL_MAX_AGE, &labels, which.max_age.as_secs_f64());
        let collection = db.collection::<Document>(&which.name);
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
        let is_indexed = *indexed
            .get_or_try_init(|| async {
                let indexes = collection.list_index_names().await.map_err(failure)?;
                // Index names are `<field>_1` / `<field>_-1` for single-field indexes
                // and start with the leading field for compound ones.
                Ok::<_, ProbeError>(indexes.iter().any(|n| n.starts_with(&format!("{field}_"))))
            })
            .await?;
        if is_indexed && let Some(since) = same_kind_as(newest, now_ms - 60_000.0) {
            let recent = collection.count_documents(doc! { field: { "$gte": since } }).await.map_err(failure)?;
            out.add(&COLL_RECENT, &labels, recent as f64);
        }
        Ok(())
    }

    async fn replica_set(&self, admin: &mongodb::Database, out: &mut Samples) -> Result<(), ProbeError> {
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
        Ok(())
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
    fn range_bounds_keep_the_stored_kind() {
        let ms = 1_700_000_000_000.0;
        assert_eq!(same_kind_as(&Bson::Int64(1_600_000_000), ms), Some(Bson::Int64(1_700_000_000)));
        assert_eq!(same_kind_as(&Bson::Double(1.6e12), ms), Some(Bson::Double(ms)));
        assert!(matches!(same_kind_as(&Bson::DateTime(DateTime::now()), ms), Some(Bson::DateTime(_))));
    }
}
