//! Redis plumbing shared by the probes that talk to Redis: one reconnecting connection
//! per target, pipelined batches, SCAN, and error reasons. It knows nothing of probes:
//! they turn its errors into theirs (`From<RedisError> for ProbeError`).

use crate::reason::Reason;
use redis::aio::ConnectionManager;
use redis::{RedisError, Value};
use tickwatch_common::tls::TlsConfig;

/// Commands sent per round trip. Big enough that 10,000 queues (100,000 LLENs with every
/// priority step) take a few dozen round trips, small enough that only this many commands
/// and replies are held in memory at once.
pub const PIPELINE_CHUNK: usize = 4_096;

/// A lazily connecting, self-reconnecting connection to `url`, reused across scrapes:
/// the scrape's budget bounds every command, so the driver sets no timeouts of its own.
pub fn connect(url: &str, tls: Option<&TlsConfig>) -> Result<ConnectionManager, String> {
    tickwatch_common::redis::connect(url, tls, None)
}

/// A target's Redis: one address, or the master a set of Sentinels names (Kombu's
/// `sentinel://` brokers).
pub enum Link {
    Direct(ConnectionManager),
    /// The Sentinels' URL, the master's name, and the master last named with its
    /// connection.
    Sentinel {
        sentinels: String,
        master_name: String,
        current: tokio::sync::Mutex<Option<(String, ConnectionManager)>>,
    },
}

impl Link {
    /// `url` is `redis://`/`rediss://`, or `sentinel://...` with `master_name`.
    pub fn new(url: &str, tls: Option<&TlsConfig>, master_name: Option<&str>) -> Result<Link, String> {
        match (url.starts_with("sentinel:"), master_name) {
            (false, _) => Ok(Link::Direct(connect(url, tls)?)),
            (true, Some(name)) => {
                tickwatch_common::redis::sentinel_urls(url)?;
                let current = tokio::sync::Mutex::new(None);
                Ok(Link::Sentinel { sentinels: url.to_owned(), master_name: name.to_owned(), current })
            }
            (true, None) => Err("a sentinel:// URL needs master_name".to_owned()),
        }
    }

    /// The connection to use now. Through Sentinels the master is asked for at every
    /// call (one round trip to a Sentinel), so a failover is followed at the next scrape;
    /// the connection is kept while the master stays where it was.
    pub async fn get(&self) -> Result<ConnectionManager, String> {
        let (sentinels, master_name, current) = match self {
            Link::Direct(con) => return Ok(con.clone()),
            Link::Sentinel { sentinels, master_name, current } => (sentinels, master_name, current),
        };
        let master = tickwatch_common::redis::sentinel_master(sentinels, master_name).await?;
        let mut current = current.lock().await;
        match current.as_ref() {
            Some((url, con)) if *url == master => Ok(con.clone()),
            _ => {
                let con = connect(&master, None)?;
                *current = Some((master, con.clone()));
                Ok(con)
            }
        }
    }
}

/// The bounded `reason` label of a Redis failure.
pub fn reason(error: &RedisError) -> Reason {
    if tickwatch_common::tls::explain(error).is_some() {
        Reason::Tls
    } else if error.is_timeout() {
        Reason::Timeout
    } else if error.is_connection_refusal() || error.is_io_error() || error.is_connection_dropped() {
        Reason::Connection
    } else if error.kind() == redis::ErrorKind::AuthenticationFailed {
        Reason::Auth
    } else {
        Reason::Command
    }
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
