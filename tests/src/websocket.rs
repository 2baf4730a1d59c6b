use crate::ports::{accepts, free_port};
use crate::{Result, ServerProcess, repo_root, venv_binary};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// An independent WebSocket gateway (`tests/python/ws_server.py`, built on the Python
/// `websockets` library) broadcasting Binance-shaped trade ticks.
pub struct WebSocketServer {
    _process: ServerProcess,
    port: u16,
    _dir: TempDir,
}

impl WebSocketServer {
    /// Starts the server with extra `args` (see the script: --count, --interval-ms,
    /// --lag-ms, --no-subscribe, --cert/--key).
    pub fn start(args: &[&str]) -> Result<WebSocketServer> {
        Self::start_on(free_port(), args)
    }

    /// Starts the server on a given port (to bring a gateway back where it was).
    pub fn start_on(port: u16, args: &[&str]) -> Result<WebSocketServer> {
        let dir = tempfile::Builder::new().prefix("tickwatch-ws-").tempdir()?;
        let mut command = Command::new(venv_binary("python")?);
        command.arg(repo_root().join("tests/python/ws_server.py")).args(["--port", &port.to_string()]).args(args);
        let mut process = ServerProcess::spawn("ws_server.py", command, &dir.path().join("ws.log"))?;
        process.wait_until(Duration::from_secs(20), || accepts(port))?;
        Ok(WebSocketServer { _process: process, port, _dir: dir })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}
