use super::{SendFuture, Sink, check_scheme, require};
use crate::run::source::Outgoing;
use mongodb::bson::Document;
use mongodb::options::{Acknowledgment, WriteConcern};
use serde::Deserialize;
use std::time::Duration;
use tickwatch_common::default;

/// `kind = "mongodb"`: documents inserted in batches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSinkConfig {
    /// `mongodb://...`.
    pub url: Option<String>,
    /// Database and collection.
    pub db: Option<String>,
    pub collection: Option<String>,
    /// Documents per insert. Default 500.
    #[serde(default = "default::usize::<500>")]
    pub batch_size: usize,
    /// Write concern: `"1"` (the default), `"majority"` or `"0"`.
    #[serde(default)]
    pub write_concern: WriteConcernLevel,
}

/// The write concerns a sink can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum WriteConcernLevel {
    /// `"0"`: no acknowledgement.
    #[serde(rename = "0")]
    Unacknowledged,
    /// `"1"`: the primary acknowledges.
    #[default]
    #[serde(rename = "1")]
    Primary,
    /// `"majority"`: a majority of the replica set acknowledges.
    #[serde(rename = "majority")]
    Majority,
}

impl WriteConcernLevel {
    fn acknowledgment(self) -> Acknowledgment {
        match self {
            WriteConcernLevel::Unacknowledged => Acknowledgment::Nodes(0),
            WriteConcernLevel::Primary => Acknowledgment::Nodes(1),
            WriteConcernLevel::Majority => Acknowledgment::Majority,
        }
    }
}

impl MongoSinkConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        require(problems, key, "MongoDB", "url", self.url.is_some());
        require(problems, key, "MongoDB", "db", self.db.is_some());
        require(problems, key, "MongoDB", "collection", self.collection.is_some());
        check_scheme(problems, key, self.url.as_deref(), &["mongodb"]);
        if self.batch_size == 0 {
            problems.push(format!("{key}.batch_size: must be at least 1"));
        }
    }
}

/// Batched inserts (`batch_size` documents per insert) with the configured write concern.
pub struct MongoSink {
    collection: mongodb::Collection<Document>,
    batch_size: usize,
}

impl MongoSink {
    /// Server selection and connecting give up after `timeout`, the sink's own bound.
    pub async fn new(config: &MongoSinkConfig, timeout: Duration) -> Result<MongoSink, String> {
        let url = config.url.as_deref().unwrap_or_default();
        let client = tickwatch_common::mongodb::client(url, "tickwatch-loadgen", timeout, None).await?;
        let concern = WriteConcern::builder().w(config.write_concern.acknowledgment()).build();
        let collection = client.database(config.db.as_deref().unwrap_or_default()).collection_with_options(
            config.collection.as_deref().unwrap_or_default(),
            mongodb::options::CollectionOptions::builder().write_concern(concern).build(),
        );
        Ok(MongoSink { collection, batch_size: config.batch_size })
    }
}

impl Sink for MongoSink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            for chunk in batch.chunks(self.batch_size) {
                let docs = chunk
                    .iter()
                    .map(|m| {
                        let value: serde_json::Value = serde_json::from_slice(&m.payload).map_err(|e| e.to_string())?;
                        mongodb::bson::serialize_to_document(&value).map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<Document>, String>>()?;
                self.collection.insert_many(docs).await.map_err(|e| e.kind.to_string())?;
            }
            Ok(())
        })
    }
}
