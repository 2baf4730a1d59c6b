use crate::ports::free_port;
use crate::{Result, ServerProcess, binary, http_ok};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// A real Prometheus server on a free loopback port, with the configuration and rule
/// files the test gives it (rule file paths in the config are relative to its directory).
pub struct Prometheus {
    _process: ServerProcess,
    port: u16,
    dir: TempDir,
}

impl Prometheus {
    /// Writes `config` as `prometheus.yml` and each `(file name, text)` of `files` beside
    /// it, starts Prometheus and waits for `/-/ready`.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Result<Prometheus> {
        let dir = tempfile::Builder::new().prefix("tickwatch-prometheus-").tempdir()?;
        let d = dir.path();
        std::fs::write(d.join("prometheus.yml"), config)?;
        for (name, text) in files {
            std::fs::write(d.join(name), text)?;
        }
        let port = free_port();
        let mut command = Command::new(binary("prometheus")?);
        command
            .arg(format!("--config.file={}", d.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-lifecycle")
            .current_dir(d);
        let mut process = ServerProcess::spawn("prometheus", command, &d.join("prometheus.log"))?;
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        process.wait_until(Duration::from_secs(30), || http_ok(&ready))?;
        Ok(Prometheus { _process: process, port, dir })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory holding its configuration (to rewrite files before a reload).
    pub fn config_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
