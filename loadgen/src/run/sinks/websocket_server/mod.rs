//! `kind = "websocket-server"`: a gateway simulator clients subscribe to, speaking
//! tickwatch's own subscribe message or, with `protocol`, an exchange's (`binance.rs`,
//! `coinbase.rs`, `deribit.rs`); over TLS (wss) with `tls`.

mod binance;
mod coinbase;
mod deribit;

use super::{Deliveries, SendFuture, Sink, require};
use crate::run::source::{Outgoing, Record};
use crate::scenario::SourceConfig;
use binance::BinanceSession;
use coinbase::{CoinbaseSession, LastMatches};
use deribit::{DeribitSession, Instruments, Notifications};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickwatch_common::web::config::TlsServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// Messages a subscriber may fall behind before it is dropped.
const SUBSCRIBER_BACKLOG: usize = 65_536;

/// The most frames a subscriber's connection writes in one go before it flushes them
/// (about 40 KB of trades).
const FLUSH_EVERY: u64 = 256;

/// How long a subscriber's socket may take to accept what it is sent before the
/// subscriber is dropped as stalled (a client that stopped reading never lags: its task
/// waits on the socket).
const SUBSCRIBER_STALL: Duration = Duration::from_secs(5);

/// How long a client may take over its TLS handshake before it is let go.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A subscriber's connection settings: its read buffer is 4 KiB, as it sends
/// subscriptions and pings, not market data, and tungstenite allocates the buffer per
/// connection up front (128 KiB by default: 640 MiB for 5,000 subscribers).
fn subscriber_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

/// One message as the connections need it, rendered once for all of them.
#[derive(Clone)]
struct Published {
    /// The symbol (lowercase for Binance, whose stream names are); Deribit: the channel.
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
    /// Deribit's JSON-RPC API: option tickers and trades, instruments, heartbeats (see
    /// `deribit.rs`).
    Deribit,
}

/// What a protocol's connections share beyond the published messages.
#[derive(Clone)]
enum Exchange {
    Tickwatch,
    /// The body of exchangeInfo, made once.
    Binance(Arc<str>),
    /// Each product's latest match.
    Coinbase(Arc<LastMatches>),
    /// What get_instruments lists.
    Deribit(Arc<Instruments>),
}

impl Exchange {
    fn new(protocol: Protocol, source: &SourceConfig) -> Exchange {
        match protocol {
            Protocol::Tickwatch => Exchange::Tickwatch,
            Protocol::Binance => Exchange::Binance(binance::exchange_info(&source.symbols).into()),
            Protocol::Coinbase => Exchange::Coinbase(Arc::default()),
            Protocol::Deribit => Exchange::Deribit(Arc::new(Instruments::of_source(source))),
        }
    }
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
    /// `tickwatch` (the default), `binance`, `coinbase` or `deribit`: the exchange the
    /// gateway impersonates, so that collectors written for it connect unchanged but for
    /// their address.
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
    /// How often the gateway sends the client something of its own (pings, heartbeats);
    /// asked again after each request, as a client may set it.
    fn tick_every(&self) -> Option<Duration> {
        None
    }
    /// The frames `published` becomes for this client (none when it did not ask for it).
    fn frames(&self, published: &Published, out: &mut Vec<Utf8Bytes>);
    /// Takes a text message from the client; what to answer goes into `replies`.
    fn request(&mut self, text: &str, replies: &mut Vec<Message>);
    /// What the gateway sends every `tick_every`.
    fn tick(&mut self, _out: &mut Vec<Message>) {}
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
/// messages behind, or whose socket accepts nothing for `SUBSCRIBER_STALL`, is
/// disconnected and counted, so a slow client never grows memory, and what it missed is
/// counted failed in the sink's deliveries.
pub struct WebSocketServerSink {
    publish: broadcast::Sender<Published>,
    exchange: Exchange,
    /// Deribit: what its notifications remember between records.
    notifications: Notifications,
    /// Messages one record became (Deribit: a ticker per option of a chain).
    rendered: Vec<Published>,
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
    exchange: Exchange,
}

impl WebSocketServerSink {
    /// Listens; `source` tells what an exchange's REST endpoints list.
    pub async fn new(
        name: &str,
        config: &WebSocketServerSinkConfig,
        source: &SourceConfig,
    ) -> Result<WebSocketServerSink, String> {
        let address = config.listen.clone().unwrap_or_default();
        let tls = config.acceptor("tls")?;
        let listener = TcpListener::bind(&address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let (publish, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let counters = Counters::default();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let exchange = Exchange::new(config.protocol, source);
        let shared = Shared {
            publish: publish.clone(),
            counters: counters.clone(),
            shutdown: shutdown_rx,
            exchange: exchange.clone(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Market data goes out as it comes: no Nagle delay on small frames.
                let _ = stream.set_nodelay(true);
                let (shared, tls) = (shared.clone(), tls.clone());
                tokio::spawn(async move {
                    let Some(tls) = tls else { return connection(stream, shared).await };
                    // Boxed, as the WebSocket handshake below: a handshake's state is needed only
                    // while it lasts, and inline it would stay in every subscriber's task.
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, Box::pin(tls.accept(stream))).await {
                        Ok(Ok(stream)) => connection(stream, shared).await,
                        // Only this client's problem; counted and told at the end of the run.
                        _ => _ = shared.counters.failed_handshakes.fetch_add(1, Ordering::Relaxed),
                    }
                });
            }
        });
        Ok(WebSocketServerSink {
            publish,
            exchange,
            notifications: Notifications::default(),
            rendered: Vec::new(),
            counters,
            shutdown,
            wait_for: config.wait_for_subscribers,
            name: name.to_owned(),
        })
    }
}

/// One client's connection (after TLS, if any), in the gateway's protocol.
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, shared: Shared) {
    let session = match &shared.exchange {
        Exchange::Binance(_) | Exchange::Deribit(_) => return http_connection(stream, shared).await,
        Exchange::Tickwatch => None,
        Exchange::Coinbase(last_matches) => Some(CoinbaseSession::new(Arc::clone(last_matches))),
    };
    let receiver = shared.publish.subscribe();
    let Ok(socket) = Box::pin(tokio_tungstenite::accept_async_with_config(stream, Some(subscriber_config()))).await
    else {
        return;
    };
    match session {
        None => serve(socket, receiver, &shared, TickwatchSession::default()).await,
        Some(session) => serve(socket, receiver, &shared, session).await,
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
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let Some(key) = request.headers().get(hyper::header::SEC_WEBSOCKET_KEY).cloned() else {
        let (status, body) = match &shared.exchange {
            Exchange::Binance(exchange_info) => binance::rest(&path, exchange_info),
            Exchange::Deribit(instruments) => deribit::rest(&path, query.as_deref(), instruments),
            Exchange::Tickwatch | Exchange::Coinbase(_) => (404, String::new()),
        };
        return json_response(status, body);
    };
    let upgrade = hyper::upgrade::on(&mut request);
    match &shared.exchange {
        Exchange::Binance(_) => match BinanceSession::for_path(&path, query.as_deref()) {
            Some(session) => upgrade_to(upgrade, shared, session),
            None => {
                let why =
                    format!(r#"{{"code":-1000,"msg":"no stream at {path}: use /ws/<stream> or /stream?streams=..."}}"#);
                return json_response(404, why);
            }
        },
        Exchange::Deribit(instruments) if path.trim_end_matches('/') == deribit::WEBSOCKET_PATH => {
            let session = DeribitSession::new(Arc::clone(instruments));
            upgrade_to(upgrade, shared, session)
        }
        _ => {
            return json_response(
                404,
                format!(r#"{{"message":"no WebSocket API at {path}: use {}"}}"#, deribit::WEBSOCKET_PATH),
            );
        }
    }
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

/// Serves `session` on the connection once hyper has handed it over.
fn upgrade_to<P: Session>(upgrade: hyper::upgrade::OnUpgrade, shared: Shared, session: P) {
    let receiver = shared.publish.subscribe();
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let config = Some(subscriber_config());
            let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, config).await;
            serve(socket, receiver, &shared, session).await;
        }
    });
}

fn json_response(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::NOT_FOUND);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

#[derive(Clone, Default)]
struct Counters {
    /// Subscribers disconnected for falling `SUBSCRIBER_BACKLOG` behind or stalling.
    dropped: Arc<AtomicU64>,
    subscribed: Arc<AtomicU64>,
    /// Clients still connected; the run waits for them to drain at the end.
    active: Arc<AtomicU64>,
    /// Clients whose TLS handshake failed or timed out.
    failed_handshakes: Arc<AtomicU64>,
    /// Every client's frames, read when the run ends.
    subscribers: Arc<Mutex<Vec<Arc<SubscriberFrames>>>>,
}

impl Counters {
    fn deliveries(&self) -> Deliveries {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let counts: Vec<(u64, u64)> =
            subscribers.iter().map(|s| (s.sent.load(Ordering::Relaxed), s.failed.load(Ordering::Relaxed))).collect();
        let spread = |of: fn(&(u64, u64)) -> u64| {
            let (min, max) = (counts.iter().map(of).min(), counts.iter().map(of).max());
            min.zip(max)
        };
        Deliveries {
            subscribers: counts.len() as u64,
            dropped: self.dropped.load(Ordering::Relaxed),
            sent: counts.iter().map(|c| c.0).sum(),
            failed: counts.iter().map(|c| c.1).sum(),
            per_subscriber_sent: spread(|c| c.0),
            per_subscriber_failed: spread(|c| c.1),
        }
    }
}

/// One subscriber's frames: written only by its own task, once per flush (no contention
/// between subscribers), read when the run ends.
#[derive(Default)]
struct SubscriberFrames {
    sent: AtomicU64,
    failed: AtomicU64,
}

/// One subscriber's tally, as its task writes batches: a batch is sent once its flush
/// has written it to the socket, and failed whole if the connection ends first (written
/// in part, it is still counted failed: failures may be over-counted, never hidden).
/// Every batch is flushed, so no frame is ever left between the two.
struct FrameCount {
    frames: Arc<SubscriberFrames>,
}

impl FrameCount {
    fn new(counters: &Counters) -> FrameCount {
        let frames = Arc::new(SubscriberFrames::default());
        counters.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(&frames));
        FrameCount { frames }
    }

    fn sent(&self, frames: u64) {
        self.frames.sent.fetch_add(frames, Ordering::Relaxed);
    }

    fn failed(&self, frames: u64) {
        self.frames.failed.fetch_add(frames, Ordering::Relaxed);
    }
}

/// The frames `session` wanted of the messages published for it and not yet read, which
/// it will never get; only those due when it is asked (a busy producer would otherwise
/// keep it reading).
fn never_sent<P: Session>(
    receiver: &mut broadcast::Receiver<Published>,
    session: &P,
    frames: &mut Vec<Utf8Bytes>,
) -> u64 {
    let (mut due, mut count) = (receiver.len() as u64, 0);
    while due > 0 {
        match receiver.try_recv() {
            Ok(published) => {
                session.frames(&published, frames);
                count += frames.len() as u64;
                frames.clear();
                due -= 1;
            }
            // Gone before it could be read: one frame each (the session cannot tell now).
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                count += n.min(due);
                due -= n.min(due);
            }
            Err(_) => break,
        }
    }
    count
}

/// One client, from its upgrade to its end: sends the frames its session wants, answers
/// its requests, sends the protocol's own periodic messages, and counts every frame it
/// wanted as sent or failed.
async fn serve<S: AsyncRead + AsyncWrite + Unpin, P: Session>(
    socket: WebSocketStream<S>,
    mut receiver: broadcast::Receiver<Published>,
    shared: &Shared,
    mut session: P,
) {
    let counters = &shared.counters;
    let mut shutdown = shared.shutdown.clone();
    counters.active.fetch_add(1, Ordering::Relaxed);
    let count = FrameCount::new(counters);
    if session.subscribed() {
        counters.subscribed.fetch_add(1, Ordering::Relaxed);
    }
    let (mut out, mut incoming) = socket.split();
    let mut frames = Vec::with_capacity(2);
    let mut own = Vec::new();
    let mut every = session.tick_every();
    let mut tick = ticker(every);
    loop {
        frames.clear();
        tokio::select! {
            _ = shutdown.changed() => {
                // The run is over: send what is still queued, then say goodbye.
                while let Ok(published) = receiver.try_recv() {
                    session.frames(&published, &mut frames);
                }
                let wanted = frames.len() as u64;
                match stall_bounded(write(&mut out, &mut frames)).await {
                    Some(true) => count.sent(wanted),
                    _ => count.failed(wanted),
                }
                let _ = stall_bounded(out.close()).await;
                break;
            }
            published = receiver.recv() => match published {
                Ok(published) => {
                    session.frames(&published, &mut frames);
                    // What else is queued goes in the same write, up to FLUSH_EVERY frames:
                    // one turn of this loop and one flush per batch, not per message.
                    let mut lagged = None;
                    while (frames.len() as u64) < FLUSH_EVERY {
                        match receiver.try_recv() {
                            Ok(published) => session.frames(&published, &mut frames),
                            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                                lagged = Some(missed);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let wanted = frames.len() as u64;
                    match stall_bounded(write(&mut out, &mut frames)).await {
                        Some(true) => count.sent(wanted),
                        written => {
                            count.failed(wanted);
                            if written.is_none() {
                                counters.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            break;
                        }
                    }
                    if let Some(missed) = lagged {
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                        count.failed(missed);
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Dropped at once, no close frame: it would wait behind the backlog.
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    count.failed(missed);
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tick.tick(), if every.is_some() => {
                session.tick(&mut own);
                if !matches!(stall_bounded(send_all(&mut out, &mut own)).await, Some(Ok(()))) {
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
                    if session.tick_every() != every {
                        every = session.tick_every();
                        tick = ticker(every);
                    }
                    if !matches!(stall_bounded(send_all(&mut out, &mut own)).await, Some(Ok(()))) {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    count.failed(never_sent(&mut receiver, &session, &mut frames));
    counters.active.fetch_sub(1, Ordering::Relaxed);
}

/// Feeds `frames` (leaving the vector empty) and flushes them; false when the connection
/// failed.
async fn write<S: futures_util::Sink<Message> + Unpin>(out: &mut S, frames: &mut Vec<Utf8Bytes>) -> bool {
    for frame in frames.drain(..) {
        if out.feed(Message::Text(frame)).await.is_err() {
            return false;
        }
    }
    out.flush().await.is_ok()
}

/// `write` to a subscriber's socket, None when it took longer than `SUBSCRIBER_STALL`. A
/// write that is done at once sets no timer.
async fn stall_bounded<T>(write: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(SUBSCRIBER_STALL, write).await.ok()
}

/// Ticks every `every`, the first one `every` from now (never, in effect, for None).
fn ticker(every: Option<Duration>) -> tokio::time::Interval {
    let every = every.unwrap_or(Duration::from_secs(3600));
    tokio::time::interval_at(tokio::time::Instant::now() + every, every)
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
    /// Renders `m` as this gateway's clients receive it, into `self.rendered`.
    fn render(&mut self, m: &Outgoing) -> Result<(), String> {
        let rendered = &mut self.rendered;
        match (&self.exchange, &m.record) {
            (Exchange::Tickwatch, _) => {
                let text = Utf8Bytes::try_from(Bytes::from(m.payload.clone())).map_err(|e| e.to_string())?;
                rendered.push(Published { key: Arc::from(m.key()), text, aggregate: None });
            }
            (Exchange::Binance(_), Record::Trade(trade)) => {
                let (text, aggregate) = binance::render(trade);
                let key = Arc::from(trade.symbol.to_ascii_lowercase());
                rendered.push(Published { key, text, aggregate: Some(aggregate) });
            }
            (Exchange::Coinbase(last_matches), Record::Trade(trade)) => rendered.push(Published {
                key: Arc::from(trade.symbol.as_str()),
                text: last_matches.render(trade),
                aggregate: None,
            }),
            (Exchange::Deribit(instruments), Record::Trade(trade)) => {
                rendered.push(self.notifications.trade(trade, instruments));
            }
            (Exchange::Deribit(instruments), Record::Chain(chain)) => {
                self.notifications.chain(chain, instruments, rendered);
            }
            (Exchange::Deribit(_), Record::Raw { .. }) => {
                return Err(
                    "the Deribit protocol sends trades and option chains; this sink's source replays other messages"
                        .into(),
                );
            }
            (Exchange::Binance(_) | Exchange::Coinbase(_), _) => {
                return Err("this exchange's protocol sends trades; this sink's source makes other messages".into());
            }
        }
        Ok(())
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
                self.render(m)?;
                for published in self.rendered.drain(..) {
                    // No subscriber is not an error: the gateway accepted the message.
                    let _ = self.publish.send(published);
                }
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
            let failed = self.failed_handshakes_told();
            if !failed.is_empty() {
                eprintln!("sink {}:{failed}", self.name);
            }
            Ok(())
        })
    }

    fn deliveries(&self) -> Option<Deliveries> {
        Some(self.counters.deliveries())
    }
}
