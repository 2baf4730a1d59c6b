//! Where messages go, each kind behind one small trait. A send is a batch of messages
//! due at about the same time; it succeeds or fails as a whole (a batch that fails after
//! the server applied part of it is counted as failed: the report may over-count failures,
//! never hide them). Sinks reconnect by themselves after their server restarts.

mod celery;
mod file;
mod mongodb;
mod redis;
mod websocket_client;
mod websocket_server;

use super::source::Outgoing;
use crate::scenario::{SinkConfig, SinkKind};
use std::future::Future;
use std::pin::Pin;

/// A boxed sink future.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One destination.
pub trait Sink: Send {
    /// Sends a batch of messages.
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a>;
    /// Waits until the sink is ready for the first phase (subscribers connected).
    fn ready(&mut self) -> SendFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    /// Flushes whatever is buffered at the end of the run.
    fn finish(&mut self) -> SendFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// Builds the sink a `[[sink]]` describes (`seed` makes Celery task ids reproducible).
pub async fn build(config: &SinkConfig, seed: u64) -> Result<Box<dyn Sink>, String> {
    let name = &config.name;
    let fail = |e: String| format!("sink {name}: {e}");
    Ok(match config.kind {
        SinkKind::Redis => Box::new(redis::RedisSink::new(config).map_err(fail)?),
        SinkKind::Celery => Box::new(celery::CelerySink::new(config, seed).map_err(fail)?),
        SinkKind::Mongodb => Box::new(mongodb::MongoSink::new(config).await.map_err(fail)?),
        SinkKind::File => Box::new(file::FileSink::new(config).map_err(fail)?),
        SinkKind::WebsocketServer => Box::new(websocket_server::WebSocketServerSink::new(config).await.map_err(fail)?),
        SinkKind::WebsocketClient => Box::new(websocket_client::WebSocketClientSink::new(config)),
    })
}

/// A Redis client that skips `CLIENT SETINFO` (Redis before 7.2 answers it with an error
/// that pollutes the server's error statistics) and whose commands are bounded by the
/// sink's own timeout instead of the driver's.
pub(crate) fn redis_connection(url: &str) -> Result<::redis::aio::ConnectionManager, String> {
    use ::redis::IntoConnectionInfo;
    let info = url.into_connection_info().map_err(|e| format!("not a usable Redis URL ({:?})", e.kind()))?;
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    let client = ::redis::Client::open(info.set_redis_settings(settings)).map_err(|e| format!("{:?}", e.kind()))?;
    let config = ::redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(std::time::Duration::from_secs(1)))
        .set_number_of_retries(1);
    ::redis::aio::ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())
}
