use crate::ports::{accepts, free_port};
use crate::{KitError, Result, Server, ServerProcess, repo_root, venv_binary};
use nix::sys::signal::Signal;
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A reference platform (`tests/python/relay.py`, Python `websockets` and `redis`):
/// subscribes to a Redis pub/sub channel and fans every message out to its WebSocket
/// clients, with faults it can plant (see the script: --drop-every, --duplicate-every,
/// --delay-ms; stall and kill are [`Server`]'s).
pub struct Relay {
    process: ServerProcess,
    port: u16,
    dir: TempDir,
}

/// The relay's own counts: messages from Redis, deliveries (one message to one client)
/// sent, dropped and duplicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats {
    pub received: u64,
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

impl Relay {
    /// Starts a relay of `channel` on the Redis server at `redis_url`, with fault `args`.
    pub fn start(redis_url: &str, channel: &str, args: &[&str]) -> Result<Relay> {
        let port = free_port();
        let dir = tempfile::Builder::new().prefix("tickwatch-relay-").tempdir()?;
        let (python, script) = (venv_binary("python")?, repo_root().join("tests/python/relay.py"));
        let stats = dir.path().join("stats.json");
        let mut fixed: Vec<String> = vec!["--port".into(), port.to_string(), "--redis-url".into(), redis_url.into()];
        fixed.extend(["--channel".into(), channel.into(), "--stats".into(), stats.display().to_string()]);
        fixed.extend(args.iter().map(|a| a.to_string()));
        let command = move || {
            let mut command = Command::new(&python);
            command.arg(&script).args(&fixed);
            command
        };
        let log = dir.path().join("relay.log");
        let process = ServerProcess::start("relay.py", &log, Duration::from_secs(20), command, move || accepts(port))?;
        Ok(Relay { process, port, dir })
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// Stops the relay between two messages (SIGUSR1: it finishes delivering the one in
    /// hand, writes its counts and sends itself SIGSTOP), so [`stats`](Self::stats) then
    /// counts exactly what its clients got; a SIGSTOP from outside can land between a
    /// send and the count. [`Server::resume`] lets it go on.
    pub fn freeze(&self) -> Result<()> {
        self.process.signal_group(Signal::SIGUSR1)?;
        let start = Instant::now();
        while !self.process.is_stopped() {
            if start.elapsed() > Duration::from_secs(5) {
                return Err(KitError(format!(
                    "relay.py did not stop within 5 s of SIGUSR1 (log: {})",
                    self.dir.path().join("relay.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// The counts the relay last wrote (after every message it dealt with).
    pub fn stats(&self) -> Result<RelayStats> {
        let path = self.dir.path().join("stats.json");
        let text = std::fs::read_to_string(&path).map_err(|e| KitError(format!("{}: {e}", path.display())))?;
        let fail = |why: String| KitError(format!("{}: {why}", path.display()));
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let count = |key: &str| json[key].as_u64().ok_or_else(|| fail(format!("no count `{key}`")));
        Ok(RelayStats {
            received: count("received")?,
            sent: count("sent")?,
            dropped: count("dropped")?,
            duplicated: count("duplicated")?,
        })
    }
}

impl Server for Relay {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}
