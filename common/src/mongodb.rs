//! The one way tickwatch builds a MongoDB client.

use crate::tls::TlsConfig;
use mongodb::options::{ClientOptions, Tls, TlsOptions};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// A `tls_config` in the driver's terms. The driver takes the client certificate and its
/// key as one PEM file; when they are two, this holds a private copy of both joined
/// (deleted when the last client using it goes).
#[derive(Debug, Clone)]
pub struct MongoTls {
    options: TlsOptions,
    _joined: Option<Arc<tempfile::TempPath>>,
}

impl MongoTls {
    pub fn new(tls: &TlsConfig) -> Result<MongoTls, String> {
        tls.refuse_server_name("MongoDB")?;
        let mut options = TlsOptions::default();
        options.ca_file_path = tls.ca_file.as_ref().map(Into::into);
        options.allow_invalid_certificates = tls.insecure_skip_verify.then_some(true);
        let mut joined = None;
        options.cert_key_file_path = match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) if cert != key => {
                let pem = tls.pem_files()?;
                let (cert_pem, key_pem) = pem.identity.expect("both files are set");
                let mut file = tempfile::Builder::new()
                    .prefix("tickwatch-mongodb-identity-")
                    .tempfile()
                    .map_err(|e| format!("cannot join cert_file and key_file for the driver: {e}"))?;
                file.write_all(&cert_pem)
                    .and_then(|()| file.write_all(b"\n"))
                    .and_then(|()| file.write_all(&key_pem))
                    .map_err(|e| format!("cannot join cert_file and key_file for the driver: {e}"))?;
                let path = file.into_temp_path();
                let shown = path.to_path_buf();
                joined = Some(Arc::new(path));
                Some(shown)
            }
            (Some(cert), _) => Some(cert.into()),
            (None, _) => None,
        };
        Ok(MongoTls { options, _joined: joined })
    }
}

/// A client for `uri`, named `app_name` in the server's logs, that gives up on selecting
/// a server or opening a connection after `timeout` (the driver waits 30 s by default,
/// far past any scrape or send budget). `tls` replaces the URI's own TLS options. The
/// error names what is wrong, never the URI itself (it may hold a password).
pub async fn client(
    uri: &str,
    app_name: &str,
    timeout: Duration,
    tls: Option<&MongoTls>,
) -> Result<mongodb::Client, ClientError> {
    let mut options = ClientOptions::parse(uri).await.map_err(|e| match *e.kind {
        mongodb::error::ErrorKind::DnsResolve { .. } => {
            ClientError::Unresolved(format!("cannot resolve the mongodb+srv:// name: {}", e.kind))
        }
        _ => ClientError::Unusable(format!("cannot use the MongoDB URI: {}", e.kind)),
    })?;
    options.app_name = Some(app_name.to_owned());
    options.server_selection_timeout = Some(timeout);
    options.connect_timeout = Some(timeout);
    if let Some(tls) = tls {
        crate::tls::provider();
        options.tls = Some(Tls::Enabled(tls.options.clone()));
    }
    mongodb::Client::with_options(options)
        .map_err(|e| ClientError::Unusable(format!("cannot build the MongoDB client: {}", e.kind)))
}

/// Why no client could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// A `mongodb+srv://` name's SRV or TXT records could not be read (DNS down, name
    /// gone): worth retrying.
    Unresolved(String),
    /// The URI or the options cannot be used: the config has to change.
    Unusable(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unresolved(why) | ClientError::Unusable(why) => f.write_str(why),
        }
    }
}

impl From<ClientError> for String {
    fn from(error: ClientError) -> String {
        error.to_string()
    }
}
