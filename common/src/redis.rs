//! The one way tickwatch builds a Redis client.

use crate::tls::TlsConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ClientTlsConfig, ConnectionAddr, IntoConnectionInfo, TlsCertificates};
use std::time::Duration;

/// A client for `url` (`redis://` or `rediss://`, with `tls` for the latter) that skips
/// redis-rs's `CLIENT SETINFO`: Redis before 7.2 answers it with an error, which would
/// inflate the server's own error statistics on every (re)connect and set off error-rate
/// alerts. The parse error's text is kept out of the message: it can quote the URL,
/// password and all.
pub fn client(url: &str, tls: Option<&TlsConfig>) -> Result<redis::Client, String> {
    let unusable = |e: redis::RedisError| format!("not a usable Redis URL ({:?})", e.kind());
    let info = url.into_connection_info().map_err(unusable)?;
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    let info = info.set_redis_settings(settings);
    let ConnectionAddr::TcpTls { host, port, .. } = info.addr().clone() else {
        return match tls {
            Some(_) => Err("tls_config needs a rediss:// URL".to_owned()),
            None => redis::Client::open(info).map_err(unusable),
        };
    };
    crate::tls::provider();
    let tls = tls.cloned().unwrap_or_default();
    tls.refuse_server_name("Redis")?;
    let info =
        info.set_addr(ConnectionAddr::TcpTls { host, port, insecure: tls.insecure_skip_verify, tls_params: None });
    let pem = tls.pem_files()?;
    let certificates = TlsCertificates {
        client_tls: pem.identity.map(|(cert, key)| ClientTlsConfig { client_cert: cert, client_key: key }),
        root_cert: pem.ca,
    };
    redis::Client::build_with_tls(info, certificates).map_err(|e| format!("tls_config: {e}"))
}

/// A lazily connecting, self-reconnecting connection to `url`. The driver's own 500 ms
/// response timeout is switched off: every caller bounds its commands itself (the scrape
/// budget, a sink's timeout), and a big pipeline on a busy server may rightly take
/// longer. `connect_timeout` bounds one connection attempt (None: the caller's own bound
/// applies).
pub fn connect(
    url: &str,
    tls: Option<&TlsConfig>,
    connect_timeout: Option<Duration>,
) -> Result<ConnectionManager, String> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(connect_timeout)
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client(url, tls)?, config).map_err(|e| e.to_string())
}

/// The database number of a Redis URL (`/3` is 3; none is 0).
pub fn database(url: &str) -> i64 {
    url.into_connection_info().map(|i| i.redis_settings().db()).unwrap_or(0)
}

/// `text` as a Redis glob (SCAN MATCH, PSUBSCRIBE) that matches only itself: `*`, `?`,
/// `[`, `]` and `\` are escaped.
pub fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The URL of the master named `master_name` as the Sentinels of `sentinels` (Kombu's
/// `sentinel://[:password@]host:port[/db];sentinel://host:port...`) report it now: the
/// first Sentinel that answers wins. The password and database of the first URL are the
/// master's (Kombu's reading); the Sentinels are asked without credentials.
pub async fn sentinel_master(sentinels: &str, master_name: &str) -> Result<String, String> {
    let urls = sentinel_urls(sentinels)?;
    let first = &urls[0];
    let mut failures = Vec::new();
    for url in &urls {
        let address = format!("redis://{}:{}", url.host_str().unwrap_or_default(), url.port().unwrap_or(26379));
        let answer = async {
            let mut con =
                client(&address, None)?.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
            let reply: Option<(String, u16)> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(master_name)
                .query_async(&mut con)
                .await
                .map_err(|e| e.to_string())?;
            reply.ok_or_else(|| format!("it monitors no master named `{master_name}`"))
        };
        match tokio::time::timeout(Duration::from_secs(2), answer).await {
            Ok(Ok((host, port))) => {
                let auth = match first.password() {
                    Some(password) => format!("{}:{password}@", first.username()),
                    None => String::new(),
                };
                let host = if host.contains(':') { format!("[{host}]") } else { host };
                return Ok(format!("redis://{auth}{host}:{port}{}", first.path()));
            }
            Ok(Err(e)) => failures.push(format!("{address}: {e}")),
            Err(_) => failures.push(format!("{address}: no answer within 2 s")),
        }
    }
    Err(format!("no Sentinel named the master `{master_name}`: {}", failures.join("; ")))
}

/// The Sentinels of a `sentinel://...;sentinel://...` broker URL.
pub fn sentinel_urls(sentinels: &str) -> Result<Vec<url::Url>, String> {
    let urls: Vec<url::Url> = sentinels
        .split(';')
        .filter(|part| !part.trim().is_empty())
        .map(|part| match url::Url::parse(part.trim()) {
            Ok(url) if url.scheme() == "sentinel" && url.host_str().is_some() => Ok(url),
            _ => Err(format!("`{}` is not sentinel://host:port", crate::redact::redact_url(part.trim()))),
        })
        .collect::<Result<_, _>>()?;
    if urls.is_empty() {
        return Err("no Sentinel address".to_owned());
    }
    Ok(urls)
}
