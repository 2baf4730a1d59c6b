//! `--web.config.file`: Prometheus exporter-toolkit's web configuration (YAML), so the
//! file an operator already has for node_exporter works here too.

use super::auth::BasicAuth;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// The file's shape; unknown keys are errors, so a misspelt `tls_server_config` never
/// leaves the endpoint in plain text.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name to bcrypt hash (`htpasswd -nBC 10 USER`).
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert_file: String,
    pub key_file: String,
    pub client_ca_file: Option<String>,
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    #[serde(default = "tls12")]
    pub min_version: TlsVersion,
    #[serde(default = "tls13")]
    pub max_version: TlsVersion,
}

/// Go's `tls.ClientAuthType` names, as exporter-toolkit takes them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// A TLS protocol version (`TLS12`, `TLS13`; rustls has no older ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

fn tls12() -> TlsVersion {
    TlsVersion::TLS12
}

fn tls13() -> TlsVersion {
    TlsVersion::TLS13
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Response headers added to every answer (e.g. Strict-Transport-Security).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A web config ready to serve with: TLS, users, headers.
pub struct WebSettings {
    pub tls: Option<Arc<ServerConfig>>,
    pub auth: Option<BasicAuth>,
    pub headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
}

impl WebSettings {
    /// No file: plain HTTP, no authentication.
    pub fn plain() -> WebSettings {
        WebSettings { tls: None, auth: None, headers: Vec::new() }
    }

    /// Reads and checks `path`; every error names the file and the key. The paths returned
    /// are the files to watch for a reload: `path` first, then its certificates.
    pub fn load(path: &Path) -> Result<(WebSettings, Vec<PathBuf>), String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the file: {e}", path.display()))?;
        let (settings, mut watched) = WebSettings::parse(&text, &path.display().to_string())?;
        watched.insert(0, path.to_owned());
        Ok((settings, watched))
    }

    /// Checks the text of a web config file called `shown` in errors; returns the
    /// settings and the certificate files they were read from.
    pub fn parse(text: &str, shown: &str) -> Result<(WebSettings, Vec<PathBuf>), String> {
        let file: WebConfigFile = yaml_serde::from_str(text).map_err(|e| format!("{shown}: {e}"))?;
        let fail = |key: &str, why: String| format!("{shown}: {key}: {why}");
        let mut watched = Vec::new();
        let tls = match &file.tls_server_config {
            Some(tls) => {
                watched.push(PathBuf::from(&tls.cert_file));
                watched.push(PathBuf::from(&tls.key_file));
                watched.extend(tls.client_ca_file.as_ref().map(PathBuf::from));
                Some(Arc::new(tls.rustls("tls_server_config", &fail)?))
            }
            None => None,
        };
        let auth = (!file.basic_auth_users.is_empty())
            .then(|| BasicAuth::new(&file.basic_auth_users))
            .transpose()
            .map_err(|(user, why)| fail(&format!("basic_auth_users.{user}"), why))?;
        let mut headers = Vec::new();
        for (name, value) in &file.http_server_config.headers {
            let key = format!("http_server_config.headers.{name}");
            let header = axum::http::HeaderName::try_from(name.as_str()).map_err(|e| fail(&key, e.to_string()))?;
            let value = axum::http::HeaderValue::try_from(value.as_str()).map_err(|e| fail(&key, e.to_string()))?;
            headers.push((header, value));
        }
        Ok((WebSettings { tls, auth, headers }, watched))
    }
}

impl TlsServerConfig {
    /// The rustls config these keys describe; `fail(key, why)` makes the error for a
    /// problem with `prefix.<field>`.
    pub fn rustls(&self, prefix: &str, fail: &dyn Fn(&str, String) -> String) -> Result<ServerConfig, String> {
        let key = |field: &str| format!("{prefix}.{field}");
        let chain = crate::tls::certificates(&self.cert_file).map_err(|e| fail(&key("cert_file"), e))?;
        let private_key = crate::tls::private_key(&self.key_file).map_err(|e| fail(&key("key_file"), e))?;
        if self.min_version > self.max_version {
            return Err(fail(&key("min_version"), "is above max_version".into()));
        }
        if self.max_version < TlsVersion::TLS12 {
            return Err(fail(&key("max_version"), "TLS 1.0 and 1.1 are not supported; use TLS12 or TLS13".into()));
        }
        let versions: Vec<&'static rustls::SupportedProtocolVersion> =
            [(TlsVersion::TLS12, &rustls::version::TLS12), (TlsVersion::TLS13, &rustls::version::TLS13)]
                .into_iter()
                .filter(|(v, _)| (self.min_version..=self.max_version).contains(v))
                .map(|(_, version)| version)
                .collect();
        let provider = crate::tls::provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| fail(&key("min_version"), e.to_string()))?;
        let builder = match (self.client_auth_type, &self.client_ca_file) {
            (ClientAuthType::NoClientCert, _) => builder.with_no_client_auth(),
            (ClientAuthType::RequestClientCert | ClientAuthType::RequireAnyClientCert, _) => {
                return Err(fail(
                    &key("client_auth_type"),
                    "certificates without verification are not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file".into(),
                ));
            }
            (_, None) => {
                return Err(fail(&key("client_ca_file"), "client_auth_type verifies against it: set it".into()));
            }
            (auth_type, Some(ca_file)) => {
                let mut roots = RootCertStore::empty();
                for cert in crate::tls::certificates(ca_file).map_err(|e| fail(&key("client_ca_file"), e))? {
                    roots.add(cert).map_err(|e| fail(&key("client_ca_file"), e.to_string()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match auth_type {
                    ClientAuthType::VerifyClientCertIfGiven => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                builder.with_client_cert_verifier(
                    verifier.build().map_err(|e| fail(&key("client_ca_file"), e.to_string()))?,
                )
            }
        };
        let mut config = builder
            .with_single_cert(chain, private_key)
            .map_err(|e| fail(&key("key_file"), format!("does not match cert_file: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// When each file was last changed (None: it cannot be read now).
pub fn modified(paths: &[PathBuf]) -> Vec<Option<SystemTime>> {
    paths.iter().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).collect()
}
