use super::{SendFuture, Sink};
use crate::run::source::Outgoing;
use crate::scenario::SinkConfig;
use mongodb::bson::Document;
use mongodb::options::{Acknowledgment, WriteConcern};

/// Batched inserts (`batch_size` documents per insert) with the configured write concern.
pub struct MongoSink {
    collection: mongodb::Collection<Document>,
    batch_size: usize,
}

impl MongoSink {
    pub async fn new(config: &SinkConfig) -> Result<MongoSink, String> {
        let client = mongodb::Client::with_uri_str(config.url.as_deref().unwrap_or_default())
            .await
            .map_err(|e| format!("cannot use the URL: {}", e.kind))?;
        let w = match config.write_concern.as_deref() {
            Some("majority") => Acknowledgment::Majority,
            Some("0") => Acknowledgment::Nodes(0),
            _ => Acknowledgment::Nodes(1),
        };
        let collection = client.database(config.db.as_deref().unwrap_or_default()).collection_with_options(
            config.collection.as_deref().unwrap_or_default(),
            mongodb::options::CollectionOptions::builder().write_concern(WriteConcern::builder().w(w).build()).build(),
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
