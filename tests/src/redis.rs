use crate::certs::{CertFiles, Pki};
use crate::ports::free_port;
use crate::{Result, Server, ServerProcess, binary};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;
use tickwatch_common::tls::TlsConfig;

/// A real `redis-server` on a free loopback port, without persistence (unless durable);
/// plain, or TLS-only.
pub struct RedisServer {
    process: ServerProcess,
    port: u16,
    /// For a TLS server: how the kit's own connections reach it.
    tls: Option<TlsConfig>,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub fn start() -> Result<RedisServer> {
        RedisServer::launch(Vec::new(), None, None)
    }

    /// Starts a server that writes every command to its append-only file before it
    /// answers (`appendfsync always`): what it acknowledged survives a kill -9.
    pub fn start_durable() -> Result<RedisServer> {
        RedisServer::launch(["--appendonly", "yes", "--appendfsync", "always"].map(str::to_owned).to_vec(), None, None)
    }

    /// Starts a replica of the plain server on `master_port`.
    pub fn start_replica_of(master_port: u16) -> Result<RedisServer> {
        RedisServer::launch(vec!["--replicaof".into(), "127.0.0.1".into(), master_port.to_string()], None, None)
    }

    /// Starts a Sentinel monitoring the plain server on `master_port` as master `name`
    /// (quorum 1, down after 1 s). Sentinel rewrites its config file, so it gets one of
    /// its own in the server's folder.
    pub fn start_sentinel_of(name: &str, master_port: u16) -> Result<RedisServer> {
        let config = format!(
            "sentinel monitor {name} 127.0.0.1 {master_port} 1\nsentinel down-after-milliseconds {name} 1000\n"
        );
        RedisServer::launch(Vec::new(), None, Some(config))
    }

    /// Starts a TLS-only server (no plain port) showing `cert`; with
    /// `require_client_cert` it takes only clients with a certificate `pki.ca` signed.
    pub fn start_tls(pki: &Pki, cert: &CertFiles, require_client_cert: bool) -> Result<RedisServer> {
        let args = ["--tls-cert-file", cert.cert(), "--tls-key-file", cert.key(), "--tls-ca-cert-file", pki.ca()]
            .into_iter()
            .chain(["--tls-auth-clients", if require_client_cert { "yes" } else { "no" }])
            .map(str::to_owned)
            .collect();
        // The kit verifies nothing: it must reach servers with bad certificates too.
        let kit = TlsConfig {
            cert_file: Some(pki.client.cert().to_owned()),
            key_file: Some(pki.client.key().to_owned()),
            insecure_skip_verify: true,
            ..TlsConfig::default()
        };
        RedisServer::launch(args, Some(kit), None)
    }

    /// `args` go after the common ones; with `sentinel_config` the server is a Sentinel
    /// reading (and rewriting) that config.
    fn launch(args: Vec<String>, tls: Option<TlsConfig>, sentinel_config: Option<String>) -> Result<RedisServer> {
        let dir = tempfile::Builder::new().prefix("tickwatch-redis-").tempdir()?;
        let sentinel = match sentinel_config {
            Some(config) => {
                let file = dir.path().join("sentinel.conf");
                std::fs::write(&file, config)?;
                Some(file)
            }
            None => None,
        };
        let port = free_port();
        let (redis_server, d, tls_only) = (binary("redis-server")?, dir.path().to_owned(), tls.is_some());
        let command = move || {
            let mut command = Command::new(&redis_server);
            if let Some(file) = &sentinel {
                command.arg(file).arg("--sentinel");
            }
            match tls_only {
                true => command.args(["--port", "0", "--tls-port", &port.to_string()]),
                false => command.args(["--port", &port.to_string()]),
            };
            command.args(["--bind", "127.0.0.1"]);
            if sentinel.is_none() {
                // A replica's first sync starts at once, not after Redis's 5 s wait for others.
                command.args(["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]);
            }
            command.args(["--daemonize", "no", "--logfile", ""]).arg("--dir").arg(&d).args(&args);
            command
        };
        let url = url(port, tls_only);
        let log = dir.path().join("redis.log");
        let kit_tls = tls.clone();
        let ready = move || ping(&url, kit_tls.as_ref());
        let process = ServerProcess::start("redis-server", &log, Duration::from_secs(10), command, ready)?;
        Ok(RedisServer { process, port, tls, _dir: dir })
    }

    /// `redis://127.0.0.1:PORT/0`, or `rediss://...` for a TLS server.
    pub fn url(&self) -> String {
        url(self.port, self.tls.is_some())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A synchronous connection for test set-up and assertions.
    pub fn connection(&self) -> Result<redis::Connection> {
        client(&self.url(), self.tls.as_ref())?
            .get_connection_with_timeout(Duration::from_secs(5))
            .map_err(|e| crate::KitError(format!("cannot connect to redis at {}: {e}", self.url())))
    }
}

fn url(port: u16, tls: bool) -> String {
    let scheme = if tls { "rediss" } else { "redis" };
    format!("{scheme}://127.0.0.1:{port}/0")
}

/// Killed, it loses its data: there is no persistence.
impl Server for RedisServer {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// The kit's own connections skip `CLIENT SETINFO` like the programs' (one builder for
/// all): they must not show up in the server's error statistics that tests read.
fn client(url: &str, tls: Option<&TlsConfig>) -> Result<redis::Client> {
    tickwatch_common::redis::client(url, tls).map_err(crate::KitError)
}

fn ping(url: &str, tls: Option<&TlsConfig>) -> bool {
    client(url, tls)
        .ok()
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)).ok())
        .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con).ok())
        .is_some_and(|pong| pong == "PONG")
}
