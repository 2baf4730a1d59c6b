use super::{SendFuture, Sink};
use crate::run::source::Outgoing;
use crate::scenario::SinkConfig;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// Messages a subscriber may fall behind before it is dropped.
const SUBSCRIBER_BACKLOG: usize = 65_536;

type Published = (Arc<str>, Utf8Bytes);

/// A gateway simulator: clients connect, optionally send
/// `{"op":"subscribe","symbols":[...]}` (without it they get every symbol), and receive
/// the messages of their symbols. A subscriber that falls `SUBSCRIBER_BACKLOG` messages
/// behind is disconnected and counted, so a slow client never grows memory.
pub struct WebSocketServerSink {
    publish: broadcast::Sender<Published>,
    dropped: Arc<AtomicU64>,
    name: String,
}

impl WebSocketServerSink {
    pub async fn new(config: &SinkConfig) -> Result<WebSocketServerSink, String> {
        let address = config.listen.clone().unwrap_or_default();
        let listener = TcpListener::bind(&address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let (publish, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, dropped_count) = (publish.clone(), Arc::clone(&dropped));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let receiver = tx.subscribe();
                let dropped = Arc::clone(&dropped_count);
                tokio::spawn(async move {
                    if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                        serve(socket, receiver, dropped).await;
                    }
                });
            }
        });
        Ok(WebSocketServerSink { publish, dropped, name: config.name.clone() })
    }
}

async fn serve(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mut receiver: broadcast::Receiver<Published>,
    dropped: Arc<AtomicU64>,
) {
    let (mut out, mut incoming) = socket.split();
    let mut symbols: Option<HashSet<String>> = None;
    loop {
        tokio::select! {
            published = receiver.recv() => match published {
                Ok((key, text)) => {
                    if symbols.as_ref().is_none_or(|s| s.contains(key.as_ref())) {
                        if out.feed(Message::Text(text)).await.is_err() {
                            return;
                        }
                        // Flush when nothing more is queued: batches frames, never holds them.
                        if receiver.is_empty() && out.flush().await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    let _ = out.close().await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = out.flush().await;
                    return;
                }
            },
            request = incoming.next() => match request {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(req) = serde_json::from_str::<serde_json::Value>(&text)
                        && let Some(list) = req.get("symbols").and_then(|s| s.as_array())
                    {
                        symbols = Some(list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect());
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

impl Sink for WebSocketServerSink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            for m in batch {
                let text = Utf8Bytes::try_from(Bytes::from(m.payload.clone())).map_err(|e| e.to_string())?;
                // No subscriber is not an error: the gateway accepted the message.
                let _ = self.publish.send((Arc::from(m.key.as_str()), text));
            }
            Ok(())
        })
    }

    fn finish(&mut self) -> SendFuture<'_> {
        Box::pin(async move {
            let dropped = self.dropped.load(Ordering::Relaxed);
            if dropped > 0 {
                eprintln!("sink {}: {dropped} slow subscriber(s) dropped", self.name);
            }
            Ok(())
        })
    }
}
