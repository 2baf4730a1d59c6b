//! `kind = "websocket-server"`: a gateway simulator clients subscribe to, speaking
//! tickwatch's own subscribe message or, with `protocol`, an exchange's (`binance.rs`,
//! `coinbase.rs`); over TLS (wss) with `tls`.

mod binance;
mod coinbase;

use super::{SendFuture, Sink, require};
use crate::run::source::{Outgoing, Record};
use binance::BinanceSession;
use coinbase::{CoinbaseSession, LastMatches};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tickwatch_common::web::config::TlsServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// Messages a subscriber may fall behind before it is dropped.
const SUBSCRIBER_BACKLOG: usize = 65_536;

/// How long a client may take over its TLS handshake before it is let go.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One message as the connections need it, rendered once for all of them.
#[derive(Clone)]
struct Published {
    /// The symbol (lowercase for Binance, whose stream names are).
    key: Arc<str>,
    text: Utf8Bytes,
    /// Binance: the same trade as an aggTrade event.
    aggregate: Option<Utf8Bytes>,
}

/// The language a gateway speaks to its clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `{"op":"subscribe","symbols":[...]}` and the canonical JSON.
    #[default]
    Tickwatch,
    /// Binance's spot trade and aggTrade streams and exchangeInfo (see `binance.rs`).
    Binance,
    /// Coinbase Exchange's matches and heartbeat channels (see `coinbase.rs`).
    Coinbase,
}

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
    /// `tickwatch` (the default), `binance` or `coinbase`: the exchange the gateway impersonates, so
    /// that collectors written for it connect unchanged but for their address.
    #[serde(default)]
    pub protocol: Protocol,
    /// Serve wss: `{ cert_file, key_file }` (PEM), and optionally the exporter's other
    /// `tls_server_config` keys (client_ca_file, client_auth_type, min_version,
    /// max_version).
    pub tls: Option<TlsServerConfig>,
}

impl WebSocketServerSinkConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        require(problems, key, "WebSocket server", "listen", self.listen.is_some());
        if let Some(listen) = &self.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            problems.push(format!("{key}.listen: `{listen}` is not HOST:PORT, e.g. 127.0.0.1:8765"));
        }
        if let Err(e) = self.acceptor(&format!("{key}.tls")) {
            problems.push(e);
        }
    }

    /// The TLS acceptor `tls` describes (None: plain ws); errors name `shown.<field>`.
    fn acceptor(&self, shown: &str) -> Result<Option<TlsAcceptor>, String> {
        let Some(tls) = &self.tls else { return Ok(None) };
        let config = tls.rustls(shown, &|field, why| format!("{field}: {why}"))?;
        Ok(Some(TlsAcceptor::from(Arc::new(config))))
    }
}

/// What one client's connection knows: which published messages it wants, as which
/// frames, and how it answers the client's requests.
trait Session: Send + 'static {
    /// How often the gateway sends the client something of its own (pings, heartbeats).
    const TICK_EVERY: Option<Duration> = None;
    /// The frames `published` becomes for this client (none when it did not ask for it).
    fn frames(&self, published: &Published, out: &mut Vec<Utf8Bytes>);
    /// Takes a text message from the client; what to answer goes into `replies`.
    fn request(&mut self, text: &str, replies: &mut Vec<Message>);
    /// What the gateway sends every `TICK_EVERY`.
    fn tick(&self, _out: &mut Vec<Message>) {}
    /// Whether the client has asked for anything yet (for `wait_for_subscribers`).
    fn subscribed(&self) -> bool;
}

/// tickwatch's own: every symbol until `{"op":"subscribe","symbols":[...]}` names some.
#[derive(Default)]
struct TickwatchSession {
    symbols: Option<HashSet<String>>,
}

impl Session for TickwatchSession {
    fn frames(&self, published: &Published, out: &mut Vec<Utf8Bytes>) {
        if self.symbols.as_ref().is_none_or(|s| s.contains(&*published.key)) {
            out.push(published.text.clone());
        }
    }

    fn request(&mut self, text: &str, _replies: &mut Vec<Message>) {
        if let Ok(req) = serde_json::from_str::<serde_json::Value>(text)
            && let Some(list) = req.get("symbols").and_then(|s| s.as_array())
        {
            self.symbols = Some(list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect());
        }
    }

    fn subscribed(&self) -> bool {
        self.symbols.is_some()
    }
}

/// A gateway simulator: clients connect, subscribe in the gateway's protocol, and
/// receive the messages they asked for. A subscriber that falls `SUBSCRIBER_BACKLOG`
/// messages behind is disconnected and counted, so a slow client never grows memory.
pub struct WebSocketServerSink {
    publish: broadcast::Sender<Published>,
    protocol: Protocol,
    /// Coinbase: each product's latest match.
    last_matches: Arc<LastMatches>,
    counters: Counters,
    shutdown: watch::Sender<bool>,
    wait_for: usize,
    name: String,
}

/// What every connection's task shares.
#[derive(Clone)]
struct Shared {
    publish: broadcast::Sender<Published>,
    counters: Counters,
    shutdown: watch::Receiver<bool>,
    /// Binance: the body of exchangeInfo, made once.
    exchange_info: Arc<str>,
    /// Coinbase: each product's latest match.
    last_matches: Arc<LastMatches>,
}

impl WebSocketServerSink {
    /// Listens; `symbols` are the source's (what an exchange's REST endpoints list).
    pub async fn new(
        name: &str,
        config: &WebSocketServerSinkConfig,
        symbols: &[String],
    ) -> Result<WebSocketServerSink, String> {
        let address = config.listen.clone().unwrap_or_default();
        let tls = config.acceptor("tls")?;
        let listener = TcpListener::bind(&address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let (publish, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let counters = Counters::default();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let exchange_info = match config.protocol {
            Protocol::Binance => binance::exchange_info(symbols).into(),
            Protocol::Tickwatch | Protocol::Coinbase => Arc::from(""),
        };
        let last_matches = Arc::new(LastMatches::default());
        let shared = Shared {
            publish: publish.clone(),
            counters: counters.clone(),
            shutdown: shutdown_rx,
            exchange_info,
            last_matches: Arc::clone(&last_matches),
        };
        let protocol = config.protocol;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (shared, tls) = (shared.clone(), tls.clone());
                tokio::spawn(async move {
                    let Some(tls) = tls else { return connection(stream, protocol, shared).await };
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => connection(stream, protocol, shared).await,
                        // Only this client's problem; counted and told at the end of the run.
                        _ => _ = shared.counters.failed_handshakes.fetch_add(1, Ordering::Relaxed),
                    }
                });
            }
        });
        Ok(WebSocketServerSink {
            publish,
            protocol,
            last_matches,
            counters,
            shutdown,
            wait_for: config.wait_for_subscribers,
            name: name.to_owned(),
        })
    }
}

/// One client's connection (after TLS, if any), in the gateway's protocol.
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, protocol: Protocol, shared: Shared) {
    match protocol {
        Protocol::Tickwatch => {
            let receiver = shared.publish.subscribe();
            if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                serve(socket, receiver, &shared, TickwatchSession::default()).await;
            }
        }
        Protocol::Coinbase => {
            let receiver = shared.publish.subscribe();
            if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                let session = CoinbaseSession::new(Arc::clone(&shared.last_matches));
                serve(socket, receiver, &shared, session).await;
            }
        }
        Protocol::Binance => http_connection(stream, shared).await,
    }
}

/// An exchange's port: its REST endpoints and, on an upgrade request, its streams.
async fn http_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, shared: Shared) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(request, shared)) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

fn answer(mut request: Request<Incoming>, shared: Shared) -> Response<Full<Bytes>> {
    let respond = |status: u16, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::NOT_FOUND);
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
        response
    };
    let path = request.uri().path().to_owned();
    let key = request.headers().get(hyper::header::SEC_WEBSOCKET_KEY).cloned();
    let Some(key) = key else {
        let (status, body) = binance::rest(&path, &shared.exchange_info);
        return respond(status, body);
    };
    let Some(session) = BinanceSession::for_path(&path, request.uri().query()) else {
        return respond(
            404,
            format!(r#"{{"code":-1000,"msg":"no stream at {path}: use /ws/<stream> or /stream?streams=..."}}"#),
        );
    };
    let receiver = shared.publish.subscribe();
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            serve(socket, receiver, &shared, session).await;
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(hyper::header::UPGRADE, hyper::header::HeaderValue::from_static("websocket"));
    headers.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = hyper::header::HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

#[derive(Clone, Default)]
struct Counters {
    /// Subscribers disconnected for falling `SUBSCRIBER_BACKLOG` behind.
    dropped: Arc<AtomicU64>,
    subscribed: Arc<AtomicU64>,
    /// Clients still connected; the run waits for them to drain at the end.
    active: Arc<AtomicU64>,
    /// Clients whose TLS handshake failed or timed out.
    failed_handshakes: Arc<AtomicU64>,
}

/// One client, from its upgrade to its end: sends the frames its session wants, answers
/// its requests, sends the protocol's own periodic messages.
async fn serve<S: AsyncRead + AsyncWrite + Unpin, P: Session>(
    socket: WebSocketStream<S>,
    mut receiver: broadcast::Receiver<Published>,
    shared: &Shared,
    mut session: P,
) {
    let counters = &shared.counters;
    let mut shutdown = shared.shutdown.clone();
    counters.active.fetch_add(1, Ordering::Relaxed);
    if session.subscribed() {
        counters.subscribed.fetch_add(1, Ordering::Relaxed);
    }
    let (mut out, mut incoming) = socket.split();
    let mut frames = Vec::with_capacity(2);
    let mut own = Vec::new();
    let mut tick = tokio::time::interval(P::TICK_EVERY.unwrap_or(Duration::from_secs(3600)));
    tick.tick().await;
    loop {
        frames.clear();
        tokio::select! {
            _ = shutdown.changed() => {
                // The run is over: send what is still queued, then say goodbye.
                while let Ok(published) = receiver.try_recv() {
                    session.frames(&published, &mut frames);
                }
                for frame in frames.drain(..) {
                    if out.feed(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                let _ = out.flush().await;
                let _ = out.close().await;
                break;
            }
            published = receiver.recv() => match published {
                Ok(published) => {
                    session.frames(&published, &mut frames);
                    let mut failed = false;
                    for frame in frames.drain(..) {
                        failed |= out.feed(Message::Text(frame)).await.is_err();
                    }
                    // Flush when nothing more is queued: batches frames, never holds them.
                    if failed || (receiver.is_empty() && out.flush().await.is_err()) {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    let _ = out.close().await;
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = out.flush().await;
                    break;
                }
            },
            _ = tick.tick(), if P::TICK_EVERY.is_some() => {
                session.tick(&mut own);
                if send_all(&mut out, &mut own).await.is_err() {
                    break;
                }
            }
            request = incoming.next() => match request {
                Some(Ok(Message::Text(text))) => {
                    let was_subscribed = session.subscribed();
                    session.request(&text, &mut own);
                    if !was_subscribed && session.subscribed() {
                        counters.subscribed.fetch_add(1, Ordering::Relaxed);
                    }
                    if send_all(&mut out, &mut own).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    counters.active.fetch_sub(1, Ordering::Relaxed);
}

/// Sends and flushes `messages`, leaving the vector empty.
async fn send_all<S: futures_util::Sink<Message> + Unpin>(
    out: &mut S,
    messages: &mut Vec<Message>,
) -> Result<(), S::Error> {
    for message in messages.drain(..) {
        out.feed(message).await?;
    }
    out.flush().await
}

impl WebSocketServerSink {
    /// A message as this gateway's clients receive it.
    fn published(&self, m: &Outgoing) -> Result<Published, String> {
        match (self.protocol, &m.record) {
            (Protocol::Tickwatch, _) => {
                let text = Utf8Bytes::try_from(Bytes::from(m.payload.clone())).map_err(|e| e.to_string())?;
                Ok(Published { key: Arc::from(m.key.as_str()), text, aggregate: None })
            }
            (Protocol::Binance, Record::Trade(trade)) => {
                let (text, aggregate) = binance::render(trade);
                Ok(Published { key: Arc::from(trade.symbol.to_ascii_lowercase()), text, aggregate: Some(aggregate) })
            }
            (Protocol::Coinbase, Record::Trade(trade)) => Ok(Published {
                key: Arc::from(trade.symbol.as_str()),
                text: self.last_matches.render(trade),
                aggregate: None,
            }),
            (Protocol::Binance | Protocol::Coinbase, _) => {
                Err(format!("the {:?} protocol sends trades; this sink's source makes other messages", self.protocol))
            }
        }
    }
}

impl WebSocketServerSink {
    /// ` (N client(s) failed the TLS handshake ...)` when some did, else nothing.
    fn failed_handshakes_told(&self) -> String {
        match self.counters.failed_handshakes.load(Ordering::Relaxed) {
            0 => String::new(),
            n => format!(" ({n} client(s) failed the TLS handshake: do they trust the certificate's CA?)"),
        }
    }
}

impl Sink for WebSocketServerSink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            for m in batch {
                // No subscriber is not an error: the gateway accepted the message.
                let _ = self.publish.send(self.published(m)?);
            }
            Ok(())
        })
    }

    fn ready(&mut self) -> SendFuture<'_> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            let subscribed = &self.counters.subscribed;
            while (subscribed.load(Ordering::Relaxed) as usize) < self.wait_for {
                if tokio::time::Instant::now() > deadline {
                    return Err(format!(
                        "only {} of {} subscribers arrived within 60 s{}",
                        subscribed.load(Ordering::Relaxed),
                        self.wait_for,
                        self.failed_handshakes_told()
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
            while self.counters.active.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let dropped = self.counters.dropped.load(Ordering::Relaxed);
            if dropped > 0 {
                eprintln!("sink {}: {dropped} slow subscriber(s) dropped", self.name);
            }
            let failed = self.failed_handshakes_told();
            if !failed.is_empty() {
                eprintln!("sink {}:{failed}", self.name);
            }
            Ok(())
        })
    }
}
