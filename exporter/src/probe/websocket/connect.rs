//! Opening a WebSocket connection to a configured gateway: TLS from the target's
//! `tls_config` (CA, client certificate, server name), the upgrade request's headers,
//! message and frame size limits, how long each phase took, what the TLS session showed,
//! and failures named by a bounded reason.

use super::WebSocketTarget;
use crate::probe::ProbeError;
use crate::probe::trace::step;
use crate::reason::Reason;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Error};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Phases of opening a connection, in order, as `websocket_duration_seconds{phase}`
/// names them (`first_message` is the probe's, after these).
pub const PHASES: [&str; 4] = ["resolve", "connect", "tls", "upgrade"];

/// An open connection, how long each of [`PHASES`] took (seconds; `tls` is 0 for
/// `ws://`), and for `wss://` what the server's TLS showed.
pub struct Connected {
    pub socket: Socket,
    pub phases: [f64; 4],
    pub tls: Option<TlsFacts>,
}

/// What a gateway's TLS session showed.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFacts {
    /// `TLS 1.2`, `TLS 1.3` (blackbox_exporter's spelling).
    pub version: String,
    /// The earliest `notAfter` of the certificates the server presented, in Unix seconds.
    pub earliest_expiry: Option<f64>,
}

/// Everything needed to (re)connect to one gateway.
pub struct Endpoint {
    url: String,
    /// `host:port` to open the TCP connection to.
    address: String,
    /// For `wss://`: the connector and the name the certificate must hold.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    headers: http::HeaderMap,
    limits: WebSocketConfig,
}

impl Endpoint {
    pub fn new(target: &WebSocketTarget) -> Result<Endpoint, String> {
        let url = url::Url::parse(&target.url).map_err(|e| format!("url: {e}"))?;
        let host = url.host_str().ok_or("url: no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().ok_or("url: no port")?;
        let tls = match url.scheme() {
            "wss" => {
                let config = target.tls();
                let connector = TlsConnector::from(Arc::new(config.client_config()?));
                Some((connector, config.server_name(&host)?))
            }
            _ => None,
        };
        let limits = WebSocketConfig::default()
            .max_message_size(Some(target.max_message_bytes))
            .max_frame_size(Some(target.max_message_bytes));
        let mut headers = http::HeaderMap::new();
        for (name, value) in &target.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("headers.{name}: {e}"))?;
            let value = http::HeaderValue::from_str(value).map_err(|e| format!("headers.{name}: {e}"))?;
            headers.insert(name, value);
        }
        let address = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        Ok(Endpoint { url: target.url.clone(), address, tls, headers, limits })
    }

    /// Connects: resolves the host, opens TCP, TLS for `wss://`, and the upgrade with the
    /// configured headers, timing each. Not bounded here; callers put a deadline around it.
    pub async fn connect(&self) -> Result<Connected, ProbeError> {
        let mut phases = [0.0; 4];
        let mut clock = Instant::now();
        let mut lap = |phase: usize| {
            phases[phase] = clock.elapsed().as_secs_f64();
            clock = Instant::now();
            phases[phase]
        };
        let resolved = tokio::net::lookup_host(&self.address).await.map_err(|e| failure(Error::Io(e)))?;
        let addresses: Vec<std::net::SocketAddr> = resolved.collect();
        let took = lap(0);
        step(|| format!("resolved {} to {addresses:?} in {took:.6}s", self.address));
        let tcp = TcpStream::connect(addresses.as_slice()).await.map_err(|e| failure(Error::Io(e)))?;
        let _ = tcp.set_nodelay(true);
        let took = lap(1);
        step(|| {
            format!("connected to {} in {took:.6}s", tcp.peer_addr().map_or_else(|e| e.to_string(), |a| a.to_string()))
        });
        let (stream, tls) = match &self.tls {
            Some((connector, name)) => {
                let stream = connector.connect(name.clone(), tcp).await.map_err(|e| failure(Error::Io(e)))?;
                let (took, facts) = (lap(2), tls_facts(stream.get_ref().1));
                step(|| format!("TLS handshake done in {took:.6}s: {facts:?}"));
                (MaybeTlsStream::Rustls(stream), Some(facts))
            }
            None => (MaybeTlsStream::Plain(tcp), None),
        };
        let mut request = self.url.as_str().into_client_request().map_err(failure)?;
        request.headers_mut().extend(self.headers.clone());
        step(|| {
            let names: Vec<&str> = self.headers.keys().map(|n| n.as_str()).collect();
            format!(
                "upgrade request GET {} with headers {names:?} (values not shown)",
                tickwatch_common::redact::redact_url(&self.url)
            )
        });
        let (socket, response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(self.limits)).await.map_err(|e| {
                if let Error::Http(response) = &e {
                    step(|| format!("upgrade refused: HTTP {}", response.status()));
                }
                failure(e)
            })?;
        let took = lap(3);
        step(|| format!("upgraded (HTTP {}) in {took:.6}s", response.status()));
        Ok(Connected { socket, phases, tls })
    }
}

/// The protocol version and the earliest certificate expiry of a TLS session.
fn tls_facts(session: &rustls::ClientConnection) -> TlsFacts {
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        other => format!("{other:?}"),
    };
    let earliest_expiry = session
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp() as f64)
        .reduce(f64::min);
    TlsFacts { version, earliest_expiry }
}

/// The bounded reason and a message for a WebSocket failure.
pub fn failure(error: Error) -> ProbeError {
    let reason = match &error {
        // tokio-rustls reports certificate and handshake failures as I/O errors.
        Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => Reason::Tls,
        Error::Io(e) if matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset) => {
            Reason::Closed
        }
        Error::Io(_) => Reason::Connection,
        Error::Tls(_) => Reason::Tls,
        Error::Capacity(_) => Reason::TooLarge,
        Error::Utf8(_) => Reason::InvalidUtf8,
        Error::ConnectionClosed | Error::AlreadyClosed => Reason::Closed,
        Error::Protocol(tungstenite::error::ProtocolError::HandshakeIncomplete) => Reason::Closed,
        Error::Http(_) | Error::HttpFormat(_) | Error::Url(_) => Reason::Handshake,
        _ => Reason::Protocol,
    };
    let message = match tickwatch_common::tls::explain(&error) {
        Some(hint) => format!("{error}: {hint}"),
        None => error.to_string(),
    };
    ProbeError::new(reason, message)
}
