//! Redis plumbing shared by the probes that talk to Redis: one reconnecting connection
//! per target, pipelined batches, SCAN, and error reasons.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, RedisError, Value};
use std::time::Duration;

/// Commands sent per round trip. Big enough that 10,000 queues (100,000 LLENs with every
/// priority step) take a few dozen round trips, small enough that only this many commands
/// and replies are held in memory at once.
pub const PIPELINE_CHUNK: usize = 4_096;

/// A client for `url` that skips redis-rs's `CLIENT SETINFO`: Redis before 7.2 answers it
/// with an error, which would inflate the server's own error statistics on every
/// (re)connect and set off error-rate alerts.
pub fn client(url: &str) -> Result<redis::Client, String> {
    // The parse error's text is kept out of messages: it can quote the URL, password and all.
    let info = url.into_connection_info().map_err(|e| format!("not a usable Redis URL ({:?})", e.kind()))?;
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    redis::Client::open(info.set_redis_settings(settings))
        .map_err(|e| format!("not a usable Redis URL ({:?})", e.kind()))
}

/// A lazily connecting, self-reconnecting connection to `url`, reused across scrapes.
/// The driver's own 500 ms response timeout is switched off: the scrape's budget bounds
/// every probe, and a big pipeline on a busy server may rightly take longer.
pub fn connect(url: &str) -> Result<ConnectionManager, String> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(None)
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client(url)?, config).map_err(|e| e.to_string())
}

/// The database number of a Redis URL (`/3` is 3; none is 0).
pub fn database(url: &str) -> i64 {
    url.into_connection_info().map(|i| i.redis_settings().db()).unwrap_or(0)
}

/// The bounded `reason` label of a Redis failure.
pub fn reason(error: &RedisError) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connection_refusal() || error.is_io_error() || error.is_connection_dropped() {
        "connection"
    } else if error.kind() == redis::ErrorKind::AuthenticationFailed {
        "auth"
    } else {
        "command"
    }
}

/// Turns a Redis failure into a probe error.
pub fn probe_error(error: RedisError) -> crate::probe::ProbeError {
    crate::probe::ProbeError::new(reason(&error), error.to_string())
}

/// Sends `count` commands, built on demand by `command(position)`, in pipelined chunks of
/// [`PIPELINE_CHUNK`], handing every reply to `reply` with its command's position. Only
/// one chunk of commands and replies is held at a time, so memory stays flat however many
/// keys there are. A command that fails yields its error reply as a value; only
/// transport failures fail the batch.
pub async fn pipelined(
    con: &mut ConnectionManager,
    count: usize,
    command: impl Fn(usize) -> redis::Cmd,
    mut reply: impl FnMut(usize, Value),
) -> Result<(), RedisError> {
    let mut start = 0;
    while start < count {
        let end = (start + PIPELINE_CHUNK).min(count);
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for position in start..end {
            pipe.add_command(command(position));
        }
        let values: Vec<Value> = pipe.query_async(con).await?;
        for (position, value) in (start..end).zip(values) {
            reply(position, value);
        }
        start = end;
    }
    Ok(())
}

/// Keys matching any of `patterns` (and of `key_type`, when given), found with SCAN, at
/// most `max`; the flag says whether more existed.
pub async fn scan(
    con: &mut ConnectionManager,
    patterns: &[String],
    key_type: Option<&str>,
    max: usize,
) -> Result<(Vec<String>, bool), RedisError> {
    let mut found = std::collections::BTreeSet::new();
    for pattern in patterns {
        let mut cursor: u64 = 0;
        loop {
            let mut command = redis::cmd("SCAN");
            command.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000);
            if let Some(t) = key_type {
                command.arg("TYPE").arg(t);
            }
            let (next, keys): (u64, Vec<String>) = command.query_async(con).await?;
            for key in keys {
                if found.len() == max && !found.contains(&key) {
                    return Ok((found.into_iter().collect(), true));
                }
                found.insert(key);
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok((found.into_iter().collect(), false))
}
