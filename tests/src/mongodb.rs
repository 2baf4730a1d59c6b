use crate::certs::Pki;
use crate::ports::{accepts, free_port};
use crate::{Result, Server, ServerProcess, venv_binary};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// A MongoDB-wire-compatible server (`secantusd-py` from PyPI `secantusdb`, in memory)
/// on a free loopback port. No MongoDB server can be installed here; secantusd speaks the
/// wire protocol the official drivers use (its differences: ../shared/FIELD-NOTES.md).
pub struct MongoServer {
    process: ServerProcess,
    port: u16,
    _dir: TempDir,
}

impl MongoServer {
    /// Starts a one-member replica set (secantusd's default topology).
    pub fn start() -> Result<MongoServer> {
        Self::start_with(false, Vec::new())
    }

    /// Starts a standalone server (no replica set).
    pub fn start_standalone() -> Result<MongoServer> {
        Self::start_with(true, Vec::new())
    }

    /// Starts a TLS-only server showing `pki.server`; with `require_client_cert` it takes
    /// only clients with a certificate `pki.ca` signed.
    pub fn start_tls(pki: &Pki, require_client_cert: bool) -> Result<MongoServer> {
        let mut args = vec!["--tls-cert-file", pki.server.cert(), "--tls-key-file", pki.server.key()];
        if require_client_cert {
            args.extend(["--tls-ca-file", pki.ca(), "--tls-require-client-cert"]);
        }
        Self::start_with(false, args.into_iter().map(str::to_owned).collect())
    }

    fn start_with(standalone: bool, tls_args: Vec<String>) -> Result<MongoServer> {
        let dir = tempfile::Builder::new().prefix("tickwatch-mongo-").tempdir()?;
        let port = free_port();
        let (secantusd, d) = (venv_binary("secantusd-py")?, dir.path().to_owned());
        let command = move || {
            let mut command = Command::new(&secantusd);
            command.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path", ":memory:"]);
            if standalone {
                command.arg("--standalone");
            }
            command.args(&tls_args);
            command.current_dir(&d);
            command
        };
        let log = dir.path().join("secantusd.log");
        let process = ServerProcess::start("secantusd", &log, Duration::from_secs(30), command, move || accepts(port))?;
        Ok(MongoServer { process, port, _dir: dir })
    }

    /// A connection string that talks to this one server directly.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }
}

/// Killed, it loses its data (it keeps everything in memory).
impl Server for MongoServer {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}
