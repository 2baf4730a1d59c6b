use crate::ports::free_port;
use crate::{Result, Server, ServerProcess, binary};
use std::path::Path;
use tempfile::TempDir;

/// A real Prometheus server on a free loopback port, with the configuration and rule
/// files the test gives it (rule file paths in the config are relative to its directory).
pub struct Prometheus {
    process: ServerProcess,
    port: u16,
    dir: TempDir,
}

impl Prometheus {
    /// Writes `config` as `prometheus.yml` and each `(file name, text)` of `files` beside
    /// it, starts Prometheus and waits for `/-/ready`.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Result<Prometheus> {
        let files: Vec<(&str, &str)> = [("prometheus.yml", config)].into_iter().chain(files.iter().copied()).collect();
        let (process, port, dir) = start_project_server("prometheus", "prometheus", &files, |d| {
            vec![format!("--storage.tsdb.path={}", d.join("data").display()), "--web.enable-lifecycle".to_owned()]
        })?;
        Ok(Prometheus { process, port, dir })
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

impl Server for Prometheus {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// Starts a server of the Prometheus project (`binary_name`: prometheus, alertmanager) in
/// a new directory holding `files` (its config file first, named after `name`), on a free
/// port, with its own `flags(dir)` beside the config file and listen address.
pub(crate) fn start_project_server(
    name: &str,
    binary_name: &str,
    files: &[(&str, &str)],
    flags: impl FnOnce(&Path) -> Vec<String>,
) -> Result<(ServerProcess, u16, TempDir)> {
    let dir = tempfile::Builder::new().prefix(&format!("tickwatch-{name}-")).tempdir()?;
    let d = dir.path();
    for (file, text) in files {
        std::fs::write(d.join(file), text)?;
    }
    let port = free_port();
    let mut args = vec![
        format!("--config.file={}", d.join(format!("{name}.yml")).display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    args.extend(flags(d));
    let process = ServerProcess::start_http(name, binary(binary_name)?, args, d, port)?;
    Ok((process, port, dir))
}
