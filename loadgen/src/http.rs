//! The client for the user's monitoring stack (Prometheus, Alertmanager): GET a JSON API
//! over http or https — rustls, trusting the given CA file (or the public roots) and
//! showing a client certificate when given — with basic authentication from the URL's
//! `user:password@`, bounded by a timeout. Errors never show the credentials.

use base64::Engine;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;
use tickwatch_common::tls::{self, TlsConfig};

/// Answers larger than this are refused: an API answer a run's checks need is far smaller,
/// and a wrong URL must not fill the memory.
const MAX_BODY: usize = 64 << 20;

#[derive(Clone)]
pub struct JsonClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for JsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonClient").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// One answer: its status and its body as JSON.
pub struct Answer {
    pub status: hyper::StatusCode,
    pub body: Value,
}

impl JsonClient {
    /// A client for http:// and https:// URLs with `tls` for the latter.
    pub fn new(tls: &TlsConfig, timeout: Duration) -> Result<JsonClient, String> {
        let config = tls.client_config()?;
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build();
        Ok(JsonClient { client: Client::builder(TokioExecutor::new()).build(connector), timeout })
    }

    /// GET `url` with `params` added to its query. The error says what failed without
    /// the URL, to follow the service's name ("did not answer: connection refused").
    pub async fn get(&self, url: &url::Url, params: &[(&str, String)]) -> Result<Answer, String> {
        let mut url = url.clone();
        url.query_pairs_mut().extend_pairs(params);
        let authorization = basic_auth(&url)?;
        // The credentials travel in the header, never in the request line.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let mut request = hyper::Request::get(url.as_str())
            .body(Empty::new())
            .map_err(|e| format!("is not a valid request URL: {e}"))?;
        if let Some(value) = authorization {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| format!("did not answer: {}", failure(&e)))?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("broke off its answer: {e}"))?
                .to_bytes();
            match serde_json::from_slice(&body) {
                Ok(body) => Ok(Answer { status, body }),
                // 401 from a proxy or a server with basic_auth_users: the status says it all.
                Err(_) if !status.is_success() => Err(format!("answered {status}")),
                Err(e) => Err(format!("answered {status} with a body that is not JSON ({e})")),
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("did not answer within {:?}", self.timeout))?
    }
}

/// `Authorization: Basic ...` from the URL's user and password (percent-decoded).
fn basic_auth(url: &url::Url) -> Result<Option<HeaderValue>, String> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let credentials = format!("{}:{}", decode(url.username()), decode(url.password().unwrap_or("")));
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|e| e.to_string())?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// What a failed request ran into, with what to set when it was the TLS handshake.
fn failure(error: &(dyn std::error::Error + 'static)) -> String {
    let text = tls::causes(error);
    match tls::explain_text(&text) {
        Some(_) => format!(
            "{text} (TLS: --monitoring-ca-file names the CA that signed the server's certificate; \
             --monitoring-cert-file and --monitoring-key-file a client certificate, when one is required)"
        ),
        None => text,
    }
}
