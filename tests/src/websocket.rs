use crate::ports::{accepts, free_port};
use crate::{Result, Server, ServerProcess, repo_root, venv_binary};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// An independent WebSocket gateway (`tests/python/ws_server.py`, built on the Python
/// `websockets` library) broadcasting Binance-shaped trade ticks.
pub struct WebSocketServer {
    process: ServerProcess,
    port: u16,
    _dir: TempDir,
}

impl WebSocketServer {
    /// Starts the server with extra `args` (see the script: --count, --interval-ms,
    /// --lag-ms, --no-subscribe, --auth, --require-header, --cert/--key).
    pub fn start(args: &[&str]) -> Result<WebSocketServer> {
        Self::start_on(free_port(), args)
    }

    /// Starts the server on a given port (to bring a gateway back where it was).
    pub fn start_on(port: u16, args: &[&str]) -> Result<WebSocketServer> {
        let dir = tempfile::Builder::new().prefix("tickwatch-ws-").tempdir()?;
        let (python, script) = (venv_binary("python")?, repo_root().join("tests/python/ws_server.py"));
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let command = move || {
            let mut command = Command::new(&python);
            command.arg(&script).args(["--port", &port.to_string()]).args(&args);
            command
        };
        let log = dir.path().join("ws.log");
        let process =
            ServerProcess::start("ws_server.py", &log, Duration::from_secs(20), command, move || accepts(port))?;
        Ok(WebSocketServer { process, port, _dir: dir })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Server for WebSocketServer {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}
