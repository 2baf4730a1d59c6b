//! The one way tickwatch builds a Redis client.

use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// A client for `url` that skips redis-rs's `CLIENT SETINFO`: Redis before 7.2 answers it
/// with an error, which would inflate the server's own error statistics on every
/// (re)connect and set off error-rate alerts. The parse error's text is kept out of the
/// message: it can quote the URL, password and all.
pub fn client(url: &str) -> Result<redis::Client, String> {
    let info = url.into_connection_info().map_err(|e| format!("not a usable Redis URL ({:?})", e.kind()))?;
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    redis::Client::open(info.set_redis_settings(settings))
        .map_err(|e| format!("not a usable Redis URL ({:?})", e.kind()))
}

/// A lazily connecting, self-reconnecting connection to `url`. The driver's own 500 ms
/// response timeout is switched off: every caller bounds its commands itself (the scrape
/// budget, a sink's timeout), and a big pipeline on a busy server may rightly take
/// longer. `connect_timeout` bounds one connection attempt (None: the caller's own bound
/// applies).
pub fn connect(url: &str, connect_timeout: Option<Duration>) -> Result<ConnectionManager, String> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(connect_timeout)
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client(url)?, config).map_err(|e| e.to_string())
}

/// The database number of a Redis URL (`/3` is 3; none is 0).
pub fn database(url: &str) -> i64 {
    url.into_connection_info().map(|i| i.redis_settings().db()).unwrap_or(0)
}
