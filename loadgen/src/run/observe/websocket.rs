//! A WebSocket observer's connection: connect (with the configured headers), send the
//! subscription, match every text or binary message; reconnect after a disconnect until
//! the run ends, counting each disconnect by its reason.

use super::{ObserveConfig, Receiver};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tickwatch_common::tls;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A connection's read buffer. tungstenite allocates it up front (128 KiB by default: 640
/// MiB for 5,000 connections); 8 KiB holds dozens of trade messages per read.
const READ_BUFFER: usize = 8 * 1024;

/// Runs one connection, starting after `delay` (the observer's connect rate).
pub(super) async fn receive(
    config: ObserveConfig,
    connector: Option<Connector>,
    subscription: Option<Vec<String>>,
    mut receiver: Receiver,
    delay: Duration,
) {
    tokio::time::sleep(delay).await;
    let messages: Vec<String> = match (&config.subscribe, &subscription) {
        (Some(template), Some(symbols)) => symbols.iter().map(|s| template.replace("{symbol}", s)).collect(),
        (Some(template), None) => vec![template.clone()],
        (None, _) => Vec::new(),
    };
    while !receiver.cancelled() {
        // Boxed: the connect future is most of a connection task's size and is needed only
        // while connecting (5,000 idle connections kept ~15 KB each without the box).
        let Some(mut socket) = receiver.connect(Box::pin(connect(&config, connector.clone(), &messages))).await else {
            continue;
        };
        let reason = loop {
            let next = tokio::select! {
                next = socket.next() => next,
                _ = receiver.cancel.changed() => break None,
            };
            match next {
                Some(Ok(Message::Text(text))) => receiver.message(text.as_bytes()),
                Some(Ok(Message::Binary(bytes))) => receiver.message(&bytes),
                Some(Ok(Message::Close(_))) => break Some("closed"),
                Some(Ok(_)) => continue,
                Some(Err(_)) => break Some("error"),
                None => break Some("eof"),
            }
            if let Some(delay) = receiver.read_delay {
                tokio::time::sleep(delay).await;
            }
        };
        match reason {
            Some(reason) => receiver.stats().disconnected(reason),
            None => {
                receiver.stats().closed();
                let _ = socket.close(None).await;
                return;
            }
        }
        receiver.pause().await;
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The TLS connector of an observer's `tls` (None: the public web roots, for wss). Built
/// once per observer: its files are read once, not per connection.
pub(super) fn connector(config: &ObserveConfig) -> Result<Option<Connector>, String> {
    let Some(tls) = &config.tls else { return Ok(None) };
    Ok(Some(Connector::Rustls(Arc::new(tls.client_config().map_err(|e| format!("tls: {e}"))?))))
}

/// Opens the connection and sends the subscription messages.
async fn connect(config: &ObserveConfig, connector: Option<Connector>, subscribe: &[String]) -> Result<Socket, String> {
    let mut request = config.url.as_str().into_client_request().map_err(|e| format!("url: {e}"))?;
    for (name, value) in &config.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("headers.{name}: {e}"))?;
        let value = HeaderValue::from_str(value).map_err(|e| format!("headers.{name}: {e}"))?;
        request.headers_mut().insert(name, value);
    }
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(request, Some(config), false, connector)
        .await
        .map_err(|e| {
            let text = tls::causes(&e);
            match tls::explain_text(&text) {
                Some(_) => format!(
                    "{text} (TLS: the observer's tls = {{ ca_file = ... }} names the CA that signed the \
                     gateway's certificate; cert_file and key_file a client certificate, when one is required)"
                ),
                None => text,
            }
        })?;
    for text in subscribe {
        socket.send(Message::text(text.as_str())).await.map_err(|e| format!("subscribe: {e}"))?;
    }
    Ok(socket)
}
