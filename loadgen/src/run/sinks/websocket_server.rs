use super::{SendFuture, Sink, require};
use crate::run::source::Outgoing;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// Messages a subscriber may fall behind before it is dropped.
const SUBSCRIBER_BACKLOG: usize = 65_536;

type Published = (Arc<str>, Utf8Bytes);

/// `kind = "websocket-server"`: a gateway that clients subscribe to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketServerSinkConfig {
    /// Address to listen on, e.g. `127.0.0.1:8765`.
    pub listen: Option<String>,
    /// Wait (up to 60 s) until this many clients have subscribed before the first phase
    /// starts, so every subscriber sees the whole feed.
    #[serde(default)]
    pub wait_for_subscribers: usize,
}

impl WebSocketServerSinkConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        require(problems, key, "WebSocket server", "listen", self.listen.is_some());
        if let Some(listen) = &self.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            problems.push(format!("{key}.listen: `{listen}` is not HOST:PORT, e.g. 127.0.0.1:8765"));
        }
    }
}

/// A gateway simulator: clients connect, optionally send
/// `{"op":"subscribe","symbols":[...]}` (without it they get every symbol), and receive
/// the messages of their symbols. A subscriber that falls `SUBSCRIBER_BACKLOG` messages
/// behind is disconnected and counted, so a slow client never grows memory.
pub struct WebSocketServerSink {
    publish: broadcast::Sender<Published>,
    dropped: Arc<AtomicU64>,
    subscribed: Arc<AtomicU64>,
    /// Clients still connected; the run waits for them to drain at the end.
    active: Arc<AtomicU64>,
    shutdown: watch::Sender<bool>,
    wait_for: usize,
    name: String,
}

impl WebSocketServerSink {
    pub async fn new(name: &str, config: &WebSocketServerSinkConfig) -> Result<WebSocketServerSink, String> {
        let address = config.listen.clone().unwrap_or_default();
        let listener = TcpListener::bind(&address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let (publish, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let dropped = Arc::new(AtomicU64::new(0));
        let subscribed = Arc::new(AtomicU64::new(0));
        let active = Arc::new(AtomicU64::new(0));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let counters = Counters {
            dropped: Arc::clone(&dropped),
            subscribed: Arc::clone(&subscribed),
            active: Arc::clone(&active),
        };
        let tx = publish.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let receiver = tx.subscribe();
                let (counters, shutdown) = (counters.clone(), shutdown_rx.clone());
                counters.active.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                        serve(socket, receiver, &counters, shutdown).await;
                    }
                    counters.active.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Ok(WebSocketServerSink {
            publish,
            dropped,
            subscribed,
            active,
            shutdown,
            wait_for: config.wait_for_subscribers,
            name: name.to_owned(),
        })
    }
}

#[derive(Clone)]
struct Counters {
    dropped: Arc<AtomicU64>,
    subscribed: Arc<AtomicU64>,
    active: Arc<AtomicU64>,
}

async fn serve(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mut receiver: broadcast::Receiver<Published>,
    counters: &Counters,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut out, mut incoming) = socket.split();
    let mut symbols: Option<HashSet<String>> = None;
    let wanted = |symbols: &Option<HashSet<String>>, key: &str| symbols.as_ref().is_none_or(|s| s.contains(key));
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                // The run is over: send what is still queued, then say goodbye.
                while let Ok((key, text)) = receiver.try_recv() {
                    if wanted(&symbols, &key) && out.feed(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                let _ = out.flush().await;
                let _ = out.close().await;
                return;
            }
            published = receiver.recv() => match published {
                Ok((key, text)) => {
                    if wanted(&symbols, &key) {
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
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
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
                        if symbols.is_none() {
                            counters.subscribed.fetch_add(1, Ordering::Relaxed);
                        }
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

    fn ready(&mut self) -> SendFuture<'_> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            while (self.subscribed.load(Ordering::Relaxed) as usize) < self.wait_for {
                if tokio::time::Instant::now() > deadline {
                    return Err(format!(
                        "only {} of {} subscribers arrived within 60 s",
                        self.subscribed.load(Ordering::Relaxed),
                        self.wait_for
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Ok(())
        })
    }

    fn finish(&mut self) -> SendFuture<'_> {
        Box::pin(async move {
            let _ = self.shutdown.send(true);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            while self.active.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let dropped = self.dropped.load(Ordering::Relaxed);
            if dropped > 0 {
                eprintln!("sink {}: {dropped} slow subscriber(s) dropped", self.name);
            }
            Ok(())
        })
    }
}
