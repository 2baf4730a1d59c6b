use crate::ports::free_port;
use crate::{Result, ServerProcess, binary, http_ok};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// A real Alertmanager on a free loopback port, clustering off (no gossip port).
pub struct Alertmanager {
    _process: ServerProcess,
    port: u16,
    _dir: TempDir,
}

impl Alertmanager {
    /// Writes `config` as `alertmanager.yml`, starts Alertmanager, waits for `/-/ready`.
    pub fn start(config: &str) -> Result<Alertmanager> {
        let dir = tempfile::Builder::new().prefix("tickwatch-alertmanager-").tempdir()?;
        let d = dir.path();
        std::fs::write(d.join("alertmanager.yml"), config)?;
        let port = free_port();
        let mut command = Command::new(binary("prometheus-alertmanager")?);
        command
            .arg(format!("--config.file={}", d.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let mut process = ServerProcess::spawn("alertmanager", command, &d.join("alertmanager.log"))?;
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        process.wait_until(Duration::from_secs(30), || http_ok(&ready))?;
        Ok(Alertmanager { _process: process, port, _dir: dir })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
