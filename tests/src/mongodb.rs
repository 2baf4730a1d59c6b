use crate::ports::{accepts, free_port};
use crate::{Result, ServerProcess, venv_binary};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// A MongoDB-wire-compatible server (`secantusd-py` from PyPI `secantusdb`, in memory)
/// on a free loopback port. No MongoDB server can be installed here; secantusd speaks the
/// wire protocol the official drivers use (its differences: ../shared/FIELD-NOTES.md).
pub struct MongoServer {
    process: Option<ServerProcess>,
    port: u16,
    standalone: bool,
    dir: TempDir,
}

impl MongoServer {
    /// Starts a one-member replica set (secantusd's default topology).
    pub fn start() -> Result<MongoServer> {
        Self::start_with(false)
    }

    /// Starts a standalone server (no replica set).
    pub fn start_standalone() -> Result<MongoServer> {
        Self::start_with(true)
    }

    fn start_with(standalone: bool) -> Result<MongoServer> {
        let dir = tempfile::Builder::new().prefix("tickwatch-mongo-").tempdir()?;
        let port = free_port();
        let process = Some(launch(port, standalone, &dir)?);
        Ok(MongoServer { process, port, standalone, dir })
    }

    /// A connection string that talks to this one server directly.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server as in a crash (its in-memory data is gone).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.process = Some(launch(self.port, self.standalone, &self.dir)?);
        Ok(())
    }
}

fn launch(port: u16, standalone: bool, dir: &TempDir) -> Result<ServerProcess> {
    let mut command = Command::new(venv_binary("secantusd-py")?);
    command.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path", ":memory:"]);
    if standalone {
        command.arg("--standalone");
    }
    command.current_dir(dir.path());
    let mut process = ServerProcess::spawn("secantusd", command, &dir.path().join("secantusd.log"))?;
    process.wait_until(Duration::from_secs(30), || accepts(port))?;
    Ok(process)
}
