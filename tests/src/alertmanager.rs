use crate::prometheus::start_project_server;
use crate::{Result, Server, ServerProcess};
use tempfile::TempDir;

/// A real Alertmanager on a free loopback port, clustering off (no gossip port).
pub struct Alertmanager {
    process: ServerProcess,
    port: u16,
    _dir: TempDir,
}

impl Alertmanager {
    /// Writes `config` as `alertmanager.yml`, starts Alertmanager, waits for `/-/ready`.
    pub fn start(config: &str) -> Result<Alertmanager> {
        let files = [("alertmanager.yml", config)];
        let (process, port, dir) = start_project_server("alertmanager", "prometheus-alertmanager", &files, |d| {
            vec![format!("--storage.path={}", d.join("data").display()), "--cluster.listen-address=".to_owned()]
        })?;
        Ok(Alertmanager { process, port, _dir: dir })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Server for Alertmanager {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}
