//! Opening a WebSocket connection to a configured gateway: TLS from the target's
//! `tls_config` (CA, client certificate, server name), message and frame size limits,
//! and failures named by a bounded reason.

use super::WebSocketTarget;
use crate::probe::ProbeError;
use crate::reason::Reason;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Error};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Everything needed to (re)connect to one gateway.
pub struct Endpoint {
    url: String,
    /// `host:port` to open the TCP connection to.
    address: String,
    /// For `wss://`: the connector and the name the certificate must hold.
    tls: Option<(TlsConnector, ServerName<'static>)>,
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
        let address = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        Ok(Endpoint { url: target.url.clone(), address, tls, limits })
    }

    /// Connects: TCP, TLS for `wss://`, and the upgrade. Not bounded here; callers put a
    /// deadline around it.
    pub async fn connect(&self) -> Result<Socket, ProbeError> {
        let tcp = TcpStream::connect(&self.address).await.map_err(|e| failure(Error::Io(e)))?;
        let _ = tcp.set_nodelay(true);
        let stream = match &self.tls {
            Some((connector, name)) => {
                MaybeTlsStream::Rustls(connector.connect(name.clone(), tcp).await.map_err(|e| failure(Error::Io(e)))?)
            }
            None => MaybeTlsStream::Plain(tcp),
        };
        let (socket, _response) =
            tokio_tungstenite::client_async_with_config(&self.url, stream, Some(self.limits)).await.map_err(failure)?;
        Ok(socket)
    }
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
