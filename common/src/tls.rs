//! TLS to a target, with Prometheus's `tls_config` names, on rustls with the ring
//! provider (the workspace's one TLS stack): which CA to trust, which client certificate
//! to show, which name to expect, and messages that say which file or host to fix when a
//! handshake fails.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use std::sync::Arc;

/// `tls_config = { ca_file, cert_file, key_file, server_name, insecure_skip_verify }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the CA certificates to trust instead of the public web roots.
    pub ca_file: Option<String>,
    /// PEM file with the client certificate (chain) to show a server that asks for one.
    pub cert_file: Option<String>,
    /// PEM file with the client certificate's private key.
    pub key_file: Option<String>,
    /// The name the server's certificate must hold, when it is not the URL's host.
    pub server_name: Option<String>,
    /// Accept any server certificate (testing only: the connection is then not
    /// authenticated).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A `tls_config`'s PEM files, read.
pub struct PemFiles {
    /// The CA file (None: trust the public web roots).
    pub ca: Option<Vec<u8>>,
    /// The client certificate (chain) and its key.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// The process's rustls provider: ring. Installed as the process default too, for the
/// drivers (redis-rs) that build their own rustls config; idempotent.
pub fn provider() -> Arc<CryptoProvider> {
    match CryptoProvider::get_default() {
        Some(provider) => Arc::clone(provider),
        None => {
            // Two threads may race here; the loser's install fails harmlessly.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Arc::clone(CryptoProvider::get_default().expect("a provider was just installed"))
        }
    }
}

impl TlsConfig {
    /// Every problem that can be known without connecting, as (field, why): unreadable
    /// or empty PEM files, a certificate without its key.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(path) = &self.ca_file
            && let Err(e) = certificates(path)
        {
            problems.push(("ca_file", e));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                if let Err(e) = certificates(cert) {
                    problems.push(("cert_file", e));
                }
                if let Err(e) = private_key(key) {
                    problems.push(("key_file", e));
                }
            }
            (Some(_), None) => problems.push(("key_file", "cert_file needs its key_file".to_owned())),
            (None, Some(_)) => problems.push(("cert_file", "key_file needs its cert_file".to_owned())),
            (None, None) => {}
        }
        if let Some(name) = &self.server_name
            && ServerName::try_from(name.as_str()).is_err()
        {
            problems.push(("server_name", format!("`{name}` is not a DNS name or an IP address")));
        }
        problems
    }

    /// A rustls client config: the CA file's roots (or the public web roots), the client
    /// certificate when set, and no verification at all when `insecure_skip_verify`.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if self.insecure_skip_verify {
            let verifier = AnyCertificate(provider.signature_verification_algorithms);
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        match self.client_identity()? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls_config.cert_file and key_file do not make a usable client certificate: {e}")),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// For drivers that verify the URL's host and take no other name (redis-rs, the
    /// MongoDB driver, lapin): `server_name` is an error that says what to do instead.
    pub fn refuse_server_name(&self, driver: &str) -> Result<(), String> {
        match &self.server_name {
            Some(_) => Err(format!(
                "server_name is not supported for {driver} (the driver verifies the URL's host): \
                 put a name the server's certificate holds in the URL"
            )),
            None => Ok(()),
        }
    }

    /// The name to verify the server's certificate against: `server_name`, or `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, String> {
        let name = self.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_owned()).map_err(|_| format!("`{name}` is not a DNS name or an IP address"))
    }

    /// The PEM files' bytes, for drivers that take PEM (redis-rs, lapin).
    pub fn pem_files(&self) -> Result<PemFiles, String> {
        let read = |field: &str, path: &str| {
            std::fs::read(path).map_err(|e| format!("tls_config.{field} `{path}`: cannot read it: {e}"))
        };
        let ca = self.ca_file.as_deref().map(|path| read("ca_file", path)).transpose()?;
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((read("cert_file", cert)?, read("key_file", key)?)),
            _ => None,
        };
        Ok(PemFiles { ca, identity })
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in certificates(path)? {
                    roots.add(cert).map_err(|e| format!("tls_config.ca_file `{path}`: {e}"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(roots)
    }

    fn client_identity(&self) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Ok(Some((certificates(cert)?, private_key(key)?))),
            _ => Ok(None),
        }
    }

    /// Where a connection to `host` looks for trust and identity, for failure
    /// messages: `host 10.0.0.5, trusting tls_config.ca_file ca.pem, no client certificate`.
    pub fn context(&self, host: &str) -> String {
        let name = match &self.server_name {
            Some(name) => format!("host `{host}` (verified as `{name}`)"),
            None => format!("host `{host}`"),
        };
        let trust = match (&self.ca_file, self.insecure_skip_verify) {
            (_, true) => "verifying nothing (insecure_skip_verify)".to_owned(),
            (Some(path), false) => format!("trusting tls_config.ca_file `{path}`"),
            (None, false) => "trusting the public web roots (no tls_config.ca_file)".to_owned(),
        };
        let identity = match &self.cert_file {
            Some(path) => format!("client certificate tls_config.cert_file `{path}`"),
            None => "no client certificate (tls_config.cert_file)".to_owned(),
        };
        format!("{name}, {trust}, {identity}")
    }
}

/// What to fix when a connection failed with `error`; None when it was not a TLS
/// failure. Read from the error's text, because drivers hide rustls's typed error:
/// redis-rs keeps it behind an `Arc<dyn Error>`, which cannot be downcast; rustls writes
/// every failure with one of a few stable prefixes.
pub fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    explain_text(&causes(error))
}

/// An error's message with every cause after it (`a: b: c`): wrappers such as hyper's
/// "client error (Connect)" say nothing on their own.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// [`explain`] for an error message.
pub fn explain_text(text: &str) -> Option<String> {
    const TLS_FAILURES: [&str; 5] = [
        "invalid peer certificate",
        "received fatal alert",
        "peer is incompatible",
        "peer misbehaved",
        "received corrupt message",
    ];
    if !TLS_FAILURES.iter().any(|prefix| text.contains(prefix)) {
        return None;
    }
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let hint = if has(&["UnknownIssuer", "BadSignature", "unknown issuer"]) {
        "the server's certificate is not signed by a CA this target trusts: set tls_config.ca_file to its CA"
    } else if has(&["not valid for name", "NotValidForName"]) {
        "the server's certificate does not hold this host name: connect by a name it holds, or set tls_config.server_name"
    } else if has(&["certificate expired", "Expired"]) {
        "the server's certificate has expired: renew it on the server"
    } else if has(&["not valid yet", "NotValidYet"]) {
        "the server's certificate is not valid yet: check both clocks"
    } else if has(&["received fatal alert"]) {
        "the server refused the handshake: if it requires a client certificate, set tls_config.cert_file and key_file to one its CA signed"
    } else {
        "the TLS handshake failed"
    };
    Some(hint.to_owned())
}

/// The certificates of a PEM file; at least one.
pub fn certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("`{path}`: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`{path}` holds no PEM certificate"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("`{path}`: no usable PEM private key ({e})"))
}

/// Accepts any server certificate but still checks handshake signatures
/// (`insecure_skip_verify`).
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
