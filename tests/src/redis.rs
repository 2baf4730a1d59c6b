use crate::ports::free_port;
use crate::{Result, Server, ServerProcess, binary};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// A real `redis-server` on a free loopback port, without persistence.
pub struct RedisServer {
    process: ServerProcess,
    port: u16,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub fn start() -> Result<RedisServer> {
        let dir = tempfile::Builder::new().prefix("tickwatch-redis-").tempdir()?;
        let port = free_port();
        let (redis_server, d) = (binary("redis-server")?, dir.path().to_owned());
        let command = move || {
            let mut command = Command::new(&redis_server);
            command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            command.args(["--daemonize", "no", "--logfile", ""]).arg("--dir").arg(&d);
            command
        };
        let url = format!("redis://127.0.0.1:{port}/0");
        let log = dir.path().join("redis.log");
        let process = ServerProcess::start("redis-server", &log, Duration::from_secs(10), command, move || ping(&url))?;
        Ok(RedisServer { process, port, _dir: dir })
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A synchronous connection for test set-up and assertions.
    pub fn connection(&self) -> Result<redis::Connection> {
        client(&self.url())?
            .get_connection_with_timeout(Duration::from_secs(5))
            .map_err(|e| crate::KitError(format!("cannot connect to redis at {}: {e}", self.url())))
    }
}

/// Killed, it loses its data: there is no persistence.
impl Server for RedisServer {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// The kit's own connections skip `CLIENT SETINFO` like the programs' (one builder for
/// all): they must not show up in the server's error statistics that tests read.
fn client(url: &str) -> Result<redis::Client> {
    tickwatch_common::redis::client(url).map_err(crate::KitError)
}

fn ping(url: &str) -> bool {
    client(url)
        .ok()
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)).ok())
        .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con).ok())
        .is_some_and(|pong| pong == "PONG")
}
