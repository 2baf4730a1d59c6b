use super::{SendFuture, Sink, check_scheme, require};
use crate::run::source::Outgoing;
use futures_util::SinkExt;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `kind = "websocket-client"`: messages pushed to a gateway's ingest endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketClientSinkConfig {
    /// `ws://...` or `wss://...`.
    pub url: Option<String>,
}

impl WebSocketClientSinkConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        require(problems, key, "WebSocket client", "url", self.url.is_some());
        check_scheme(problems, key, self.url.as_deref(), &["ws", "wss"]);
    }
}

/// Pushes every message as a text frame to a gateway's ingest endpoint; frames of a batch
/// are written together and flushed once. Reconnects on the next batch after a failure.
pub struct WebSocketClientSink {
    url: String,
    socket: Option<Socket>,
}

impl WebSocketClientSink {
    pub fn new(config: &WebSocketClientSinkConfig) -> WebSocketClientSink {
        WebSocketClientSink { url: config.url.clone().unwrap_or_default(), socket: None }
    }
}

impl Sink for WebSocketClientSink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            if self.socket.is_none() {
                let (socket, _) = tokio_tungstenite::connect_async(&self.url).await.map_err(|e| e.to_string())?;
                self.socket = Some(socket);
            }
            let socket = self.socket.as_mut().expect("connected above");
            let mut result = Ok(());
            for m in batch {
                let text = String::from_utf8_lossy(&m.payload).into_owned();
                if let Err(e) = socket.feed(Message::text(text)).await {
                    result = Err(e.to_string());
                    break;
                }
            }
            if result.is_ok() {
                result = socket.flush().await.map_err(|e| e.to_string());
            }
            if result.is_err() {
                self.socket = None;
            }
            result
        })
    }

    fn finish(&mut self) -> SendFuture<'_> {
        Box::pin(async move {
            if let Some(mut socket) = self.socket.take() {
                let _ = socket.close(None).await;
            }
            Ok(())
        })
    }
}
