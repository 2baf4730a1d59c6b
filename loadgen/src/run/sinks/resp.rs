//! The Redis sinks' hot path: a pipelined connection that encodes commands straight into
//! one reused buffer and counts the replies without building values. redis-rs builds a
//! `Cmd` per command and a `Value` per reply, which cost the sinks several times what
//! Redis spends on a PUBLISH. Only what a sink needs: RESP2 commands, AUTH and SELECT
//! from the URL, rediss:// on the workspace's rustls, a new connection after any error.

use redis::{ConnectionAddr, IntoConnectionInfo};
use std::sync::Arc;
use std::time::Duration;
use tickwatch_common::backoff::Backoff;
use tickwatch_common::tls::TlsConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long one connection attempt may take (the sink's timeout bounds the whole send).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One Redis connection that sends a batch of commands per round trip; it connects on
/// first use and again after any error (a batch cut off by the sink's timeout drops it),
/// attempts spaced by a backoff that the waiting batch sits out, so an outage shows as
/// latency and failures, never as a storm of connects.
pub struct Pipeline {
    host: String,
    port: u16,
    /// rediss://: the connector and the name the certificate must hold.
    tls: Option<(TlsConnector, tokio_rustls::rustls::pki_types::ServerName<'static>)>,
    /// AUTH and SELECT, sent on every new connection.
    setup: Commands,
    connection: Option<Box<dyn Io>>,
    /// No connect attempt before this, after one failed.
    retry_at: Option<tokio::time::Instant>,
    backoff: Backoff,
    commands: Commands,
    replies: Vec<u8>,
}

/// Commands encoded in RESP, with their count.
#[derive(Default)]
pub struct Commands {
    bytes: Vec<u8>,
    count: usize,
}

impl Commands {
    /// Starts a command of `args` arguments (its name included); the arguments follow.
    pub fn command(&mut self, args: usize) -> &mut Commands {
        self.count += 1;
        self.header(b'*', args);
        self
    }

    pub fn arg(&mut self, arg: &[u8]) -> &mut Commands {
        self.header(b'$', arg.len());
        self.bytes.extend_from_slice(arg);
        self.bytes.extend_from_slice(b"\r\n");
        self
    }

    /// An argument of `len` bytes that `write` appends (a key made of parts, unallocated).
    pub fn arg_with(&mut self, len: usize, write: impl FnOnce(&mut Vec<u8>)) -> &mut Commands {
        self.header(b'$', len);
        let start = self.bytes.len();
        write(&mut self.bytes);
        debug_assert_eq!(self.bytes.len() - start, len, "arg_with wrote another length than it said");
        self.bytes.extend_from_slice(b"\r\n");
        self
    }

    fn header(&mut self, kind: u8, n: usize) {
        self.bytes.push(kind);
        self.bytes.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// The encoded commands (for tests of what sinks encode).
    #[cfg(test)]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}

impl Pipeline {
    /// A pipeline to `url` (`redis://` or `rediss://`, user, password and database as
    /// Redis URLs have them), over rediss with `tls` (the public roots without it; the
    /// URL's `#insecure` skips verification too); nothing connects yet.
    pub fn new(url: &str, tls: Option<&TlsConfig>) -> Result<Pipeline, String> {
        let info = url.into_connection_info().map_err(|e| format!("not a usable Redis URL ({:?})", e.kind()))?;
        let (host, port, tls) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port, None),
            ConnectionAddr::TcpTls { host, port, insecure, .. } => {
                let mut tls = tls.cloned().unwrap_or_default();
                tls.insecure_skip_verify |= *insecure;
                let connector = TlsConnector::from(Arc::new(tls.client_config()?));
                (host.clone(), *port, Some((connector, tls.server_name(host)?)))
            }
            _ => return Err("a Redis sink connects over TCP: use redis:// or rediss://".into()),
        };
        let settings = info.redis_settings();
        let mut setup = Commands::default();
        if let Some(password) = settings.password() {
            match settings.username() {
                Some(user) => setup.command(3).arg(b"AUTH").arg(user.as_bytes()).arg(password.as_bytes()),
                None => setup.command(2).arg(b"AUTH").arg(password.as_bytes()),
            };
        }
        if settings.db() != 0 {
            setup.command(2).arg(b"SELECT").arg(itoa::Buffer::new().format(settings.db()).as_bytes());
        }
        Ok(Pipeline {
            host,
            port,
            tls,
            setup,
            connection: None,
            retry_at: None,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
            commands: Commands::default(),
            replies: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends the commands `encode` writes in one round trip. Err on an I/O error (the
    /// connection is dropped, the next call makes a new one) or when Redis answered any
    /// of them with an error (the first is told).
    pub async fn send(&mut self, encode: impl FnOnce(&mut Commands)) -> Result<(), String> {
        self.commands.clear();
        encode(&mut self.commands);
        // Taken for the round trip: a send cut off half way leaves no connection behind
        // with replies still to come.
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => self.reconnect().await?,
        };
        let refused = round_trip(&mut connection, &self.commands, &mut self.replies).await?;
        self.connection = Some(connection);
        refused.map_or(Ok(()), |e| Err(format!("Redis answered: {e}")))
    }

    async fn reconnect(&mut self) -> Result<Box<dyn Io>, String> {
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at).await;
        }
        match self.connect().await {
            Ok(connection) => {
                self.retry_at = None;
                self.backoff.reset();
                Ok(connection)
            }
            Err(e) => {
                self.retry_at = Some(tokio::time::Instant::now() + self.backoff.next_delay());
                Err(e)
            }
        }
    }

    async fn connect(&mut self) -> Result<Box<dyn Io>, String> {
        let address = format!("{}:{}", self.host, self.port);
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&address)).await {
            Ok(connected) => connected.map_err(|e| format!("cannot connect to {address}: {e}"))?,
            Err(_) => return Err(format!("cannot connect to {address} within {CONNECT_TIMEOUT:?}")),
        };
        let _ = tcp.set_nodelay(true);
        let mut connection: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(connector.connect(name.clone(), tcp).await.map_err(|e| {
                format!(
                    "TLS handshake with {address} failed: {e} (the sink's tls = {{ ca_file = ... }} names \
                     the CA that signed Redis's certificate, the public web roots without it; `#insecure` \
                     at the end of the URL skips verification, for testing)"
                )
            })?),
        };
        if self.setup.count > 0
            && let Some(e) = round_trip(&mut connection, &self.setup, &mut self.replies).await?
        {
            return Err(format!("Redis at {address} refused AUTH or SELECT: {e}"));
        }
        Ok(connection)
    }
}

/// Writes `commands` and reads as many replies; the first error reply, if any.
async fn round_trip(
    connection: &mut Box<dyn Io>,
    commands: &Commands,
    replies: &mut Vec<u8>,
) -> Result<Option<String>, String> {
    let io = |e: std::io::Error| format!("IO error: {e}");
    connection.write_all(&commands.bytes).await.map_err(io)?;
    connection.flush().await.map_err(io)?;
    replies.clear();
    let (mut at, mut counted, mut refused) = (0, 0, None);
    while counted < commands.count {
        match reply_end(replies, at)? {
            Some(end) => {
                if refused.is_none() && replies[at] == b'-' {
                    refused = Some(String::from_utf8_lossy(line(replies, at)).into_owned());
                }
                at = end;
                counted += 1;
            }
            None => {
                if connection.read_buf(replies).await.map_err(io)? == 0 {
                    return Err("IO error: Redis closed the connection".into());
                }
            }
        }
    }
    Ok(refused)
}

/// Where the whole RESP2 reply that starts at `buf[at]` ends, None while bytes are missing.
fn reply_end(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
    let Some(&kind) = buf.get(at) else { return Ok(None) };
    let Some(newline) = buf[at..].iter().position(|&b| b == b'\n') else { return Ok(None) };
    let line_end = at + newline + 1;
    let length = || {
        let text = std::str::from_utf8(line(buf, at)).unwrap_or_default();
        text.parse::<i64>().map_err(|_| format!("not a RESP reply: length `{text}`"))
    };
    match kind {
        b'+' | b'-' | b':' => Ok(Some(line_end)),
        b'$' => {
            let end = line_end + usize::try_from(length()?).map_or(0, |n| n + 2);
            Ok((buf.len() >= end).then_some(end))
        }
        b'*' => {
            let mut end = line_end;
            for _ in 0..length()?.max(0) {
                match reply_end(buf, end)? {
                    Some(next) => end = next,
                    None => return Ok(None),
                }
            }
            Ok(Some(end))
        }
        other => Err(format!("not a RESP reply (type byte {other:#04x})")),
    }
}

/// The first line of the reply at `buf[at]` after its type byte, without its line end.
fn line(buf: &[u8], at: usize) -> &[u8] {
    let rest = buf.get(at + 1..).unwrap_or_default();
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        let mut c = Commands::default();
        c.command(3).arg(b"PUBLISH").arg_with(5, |b| b.extend_from_slice(b"t.BTC")).arg(b"{}");
        assert_eq!(c.bytes, b"*3\r\n$7\r\nPUBLISH\r\n$5\r\nt.BTC\r\n$2\r\n{}\r\n");
        assert_eq!(c.count, 1);
    }

    #[test]
    fn replies_end_where_resp_says_and_wait_for_missing_bytes() {
        let ends = |b: &[u8]| reply_end(b, 0).unwrap();
        assert_eq!(ends(b":12\r\n"), Some(5));
        assert_eq!(ends(b"-ERR no\r\n+OK"), Some(9));
        assert_eq!(ends(b"$3\r\nabc\r\n"), Some(9));
        assert_eq!(ends(b"$3\r\nab"), None);
        assert_eq!(ends(b"$-1\r\n"), Some(5));
        assert_eq!(ends(b"*2\r\n:1\r\n$1\r\nx\r\n"), Some(15));
        assert_eq!(ends(b"*2\r\n:1\r\n"), None);
        assert_eq!(ends(b":1"), None);
        assert!(reply_end(b"?1\r\n", 0).is_err());
        assert!(reply_end(b"$x\r\n", 0).is_err());
        assert!(reply_end(b"$\n", 0).is_err());
        assert_eq!(line(b"-ERR wrong type\r\n", 0), b"ERR wrong type");
    }
}
