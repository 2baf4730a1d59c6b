use crate::ports::accepts;
use crate::{Result, Server, ServerProcess, free_port};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The tickwatch-exporter binary on a free loopback port, with a config written for it.
pub struct Exporter {
    process: ServerProcess,
    port: u16,
    scheme: &'static str,
    dir: TempDir,
}

impl Exporter {
    /// Starts `binary` with `config` (its `[web]` section is added here) at `log_level`
    /// and waits until it answers `/-/ready`.
    pub fn start(binary: &Path, config: &str, log_level: &str) -> Result<Exporter> {
        Exporter::start_with_args(binary, config, log_level, &[])
    }

    /// [`start`](Self::start) with more command-line arguments.
    pub fn start_with_args(binary: &Path, config: &str, log_level: &str, extra: &[&str]) -> Result<Exporter> {
        Exporter::launch(binary, config, log_level, extra, &[])
    }

    /// [`start`](Self::start) with environment variables for the config's `${VAR}`s.
    pub fn start_with_env(binary: &Path, config: &str, env: &[(&str, &str)]) -> Result<Exporter> {
        Exporter::launch(binary, config, "info", &[], env)
    }

    fn launch(binary: &Path, config: &str, log_level: &str, extra: &[&str], env: &[(&str, &str)]) -> Result<Exporter> {
        let dir = tempfile::Builder::new().prefix("tickwatch-exporter-").tempdir()?;
        let port = free_port();
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, format!("[web]\nlisten_address = \"127.0.0.1:{port}\"\n{config}"))?;
        let mut args =
            vec!["--config".to_owned(), path.display().to_string(), "--log.level".to_owned(), log_level.into()];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let process =
            ServerProcess::start_http_with_env("tickwatch-exporter", binary.to_owned(), args, env, dir.path(), port)?;
        Ok(Exporter { process, port, scheme: "http", dir })
    }

    /// Starts `binary` with `config` and `web_config` as its `--web.config.file`
    /// (`web.yml` beside the config), plus `args`, and waits until its port accepts
    /// (its endpoints may need TLS and credentials). `https`: whether `web_config` turns
    /// TLS on, for [`url`](Self::url).
    pub fn start_with_web_config(
        binary: &Path,
        config: &str,
        web_config: &str,
        https: bool,
        args: &[&str],
    ) -> Result<Exporter> {
        let dir = tempfile::Builder::new().prefix("tickwatch-exporter-").tempdir()?;
        let port = free_port();
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, format!("[web]\nlisten_address = \"127.0.0.1:{port}\"\n{config}"))?;
        let web = dir.path().join("web.yml");
        std::fs::write(&web, web_config)?;
        let mut all_args = vec!["--config".to_owned(), path.display().to_string()];
        all_args.extend(["--web.config.file".to_owned(), web.display().to_string()]);
        all_args.extend(args.iter().map(|a| (*a).to_owned()));
        let program = binary.to_owned();
        let command = move || {
            let mut command = std::process::Command::new(&program);
            command.args(&all_args);
            command
        };
        let log = dir.path().join("tickwatch-exporter.log");
        let process =
            ServerProcess::start("tickwatch-exporter", &log, Duration::from_secs(20), command, move || accepts(port))?;
        Ok(Exporter { process, port, scheme: if https { "https" } else { "http" }, dir })
    }

    /// `http://127.0.0.1:PORT` (or `https://`) followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// The `--web.config.file` of [`start_with_web_config`](Self::start_with_web_config).
    pub fn web_config_path(&self) -> PathBuf {
        self.dir.path().join("web.yml")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Rewrites its config file as `config` (the `[web]` section is added again), for a
    /// reload.
    pub fn rewrite_config(&self, config: &str) -> Result<()> {
        let web = format!("[web]\nlisten_address = \"127.0.0.1:{}\"\n", self.port);
        std::fs::write(self.config_path(), format!("{web}{config}"))?;
        Ok(())
    }

    /// The config file it reads (to rewrite before a reload).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("exporter.toml")
    }

    /// GET `path` with Prometheus's timeout header; returns status, body and how long it took.
    pub fn scrape(&self, path: &str, timeout_seconds: f64) -> (u16, String, Duration) {
        let start = Instant::now();
        let response = reqwest::blocking::Client::new()
            .get(self.url(path))
            .header("X-Prometheus-Scrape-Timeout-Seconds", timeout_seconds.to_string())
            .timeout(Duration::from_secs(60))
            .send();
        match response {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().unwrap_or_default(), start.elapsed())
            }
            Err(e) => (0, format!("no answer from {}: {e}", self.url(path)), start.elapsed()),
        }
    }

    /// `/metrics` with a 10 s scrape timeout; panics unless it answers 200.
    pub fn metrics(&self) -> String {
        let (status, body, _) = self.scrape("/metrics", 10.0);
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl Server for Exporter {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}
