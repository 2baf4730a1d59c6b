//! Opening a WebSocket connection to a configured gateway: TLS from the target's CA file
//! (or none of it, when insecure), message and frame size limits, and failures named by
//! a bounded reason.

use super::WebSocketTarget;
use crate::probe::ProbeError;
use crate::reason::Reason;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Error};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// An open connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Everything needed to (re)connect to one gateway.
pub struct Endpoint {
    url: String,
    connector: Option<Connector>,
    limits: WebSocketConfig,
}

impl Endpoint {
    pub fn new(target: &WebSocketTarget) -> Result<Endpoint, String> {
        let connector = if target.url.starts_with("wss") && (target.insecure || target.ca_file.is_some()) {
            Some(Connector::Rustls(Arc::new(tls_config(target)?)))
        } else {
            None
        };
        let limits = WebSocketConfig::default()
            .max_message_size(Some(target.max_message_bytes))
            .max_frame_size(Some(target.max_message_bytes));
        Ok(Endpoint { url: target.url.clone(), connector, limits })
    }

    /// Connects: TCP, TLS for `wss://`, and the upgrade. Not bounded here; callers put a
    /// deadline around it.
    pub async fn connect(&self) -> Result<Socket, ProbeError> {
        let (socket, _response) = tokio_tungstenite::connect_async_tls_with_config(
            &self.url,
            Some(self.limits),
            true,
            self.connector.clone(),
        )
        .await
        .map_err(failure)?;
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
    ProbeError::new(reason, error.to_string())
}

/// rustls with the ring provider (the workspace's one TLS stack), trusting the target's
/// CA file, or anything when `insecure`.
fn tls_config(target: &WebSocketTarget) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    if target.insecure {
        let verifier = AnyCertificate(provider.signature_verification_algorithms);
        return Ok(builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth());
    }
    let path = target.ca_file.as_deref().unwrap_or_default();
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("ca_file {path}: {e}"))? {
        let cert = cert.map_err(|e| format!("ca_file {path}: {e}"))?;
        roots.add(cert).map_err(|e| format!("ca_file {path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("ca_file {path}: no certificate in it"));
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Accepts any server certificate but still checks handshake signatures (`insecure`).
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
