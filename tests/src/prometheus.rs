use crate::certs::Pki;
use crate::ports::free_port;
use crate::{Result, Server, ServerProcess, binary};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// A real Prometheus server on a free loopback port, with the configuration and rule
/// files the test gives it (rule file paths in the config are relative to its directory).
pub struct Prometheus {
    process: ServerProcess,
    port: u16,
    dir: TempDir,
    /// `http`, or `https` for a server started with [`Prometheus::start_tls`].
    scheme: &'static str,
}

impl Prometheus {
    /// Writes `config` as `prometheus.yml` and each `(file name, text)` of `files` beside
    /// it, starts Prometheus and waits for `/-/ready`.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Result<Prometheus> {
        let files: Vec<(&str, &str)> = [("prometheus.yml", config)].into_iter().chain(files.iter().copied()).collect();
        let (process, port, dir) = start_project_server("prometheus", "prometheus", &files, |d| {
            vec![format!("--storage.tsdb.path={}", d.join("data").display()), "--web.enable-lifecycle".to_owned()]
        })?;
        Ok(Prometheus { process, port, dir, scheme: "http" })
    }

    /// A Prometheus serving only https with `pki.server`, and requiring `user` with the
    /// bcrypt `hash` as basic authentication when given (its own `--web.config.file`).
    /// Ready when its log says so: its `/-/ready` then needs TLS and the credentials.
    pub fn start_tls(
        config: &str,
        files: &[(&str, &str)],
        pki: &Pki,
        user: Option<(&str, &str)>,
    ) -> Result<Prometheus> {
        let dir = tempfile::Builder::new().prefix("tickwatch-prometheus-").tempdir()?;
        let d = dir.path().to_owned();
        for (file, text) in [("prometheus.yml", config)].iter().chain(files) {
            std::fs::write(d.join(file), text)?;
        }
        let mut web =
            format!("tls_server_config:\n  cert_file: {}\n  key_file: {}\n", pki.server.cert(), pki.server.key());
        if let Some((user, hash)) = user {
            web.push_str(&format!("basic_auth_users:\n  {user}: '{hash}'\n"));
        }
        std::fs::write(d.join("web.yml"), web)?;
        let (port, program, log) = (free_port(), binary("prometheus")?, d.join("prometheus.log"));
        let command = move || {
            let mut command = Command::new(&program);
            command.current_dir(&d).args([
                format!("--config.file={}", d.join("prometheus.yml").display()),
                format!("--web.config.file={}", d.join("web.yml").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                format!("--storage.tsdb.path={}", d.join("data").display()),
            ]);
            command
        };
        let written = log.clone();
        let ready = move || {
            std::fs::read_to_string(&written).is_ok_and(|l| l.contains("Server is ready to receive web requests"))
        };
        let process = ServerProcess::start("prometheus", &log, Duration::from_secs(30), command, ready)?;
        Ok(Prometheus { process, port, dir, scheme: "https" })
    }

    /// `http://127.0.0.1:PORT` (`https://` for a TLS server).
    /// The query API's answer to `expr` now (`Null` when Prometheus does not answer).
    pub fn query(&self, expr: &str) -> serde_json::Value {
        let Ok(url) = url::Url::parse_with_params(&format!("{}/api/v1/query", self.url()), &[("query", expr)]) else {
            return serde_json::Value::Null;
        };
        reqwest::blocking::get(url).and_then(|r| r.json()).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
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
