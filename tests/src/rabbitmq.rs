use crate::binaries::binary_in;
use crate::certs::Pki;
use crate::ports::{accepts, free_port};
use crate::{KitError, Result, Server, ServerProcess, binary};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// A real RabbitMQ node on free loopback ports, with its own epmd (so nothing is left
/// running on the default ports and nothing outlives the test).
pub struct RabbitMq {
    // Field order is drop order: the node goes before its epmd.
    server: ServerProcess,
    _epmd: ServerProcess,
    port: u16,
    /// The TLS listener's port, when it has one.
    tls_port: Option<u16>,
    epmd_port: u16,
    dir: TempDir,
}

impl RabbitMq {
    /// Starts epmd and a node, and waits until the node accepts AMQP connections.
    pub fn start() -> Result<RabbitMq> {
        RabbitMq::launch(None)
    }

    /// Like [`start`](Self::start), plus a TLS listener showing `pki.server` that takes
    /// only clients with a certificate `pki.ca` signed.
    pub fn start_tls(pki: &Pki) -> Result<RabbitMq> {
        RabbitMq::launch(Some(pki))
    }

    fn launch(pki: Option<&Pki>) -> Result<RabbitMq> {
        let dir = tempfile::Builder::new().prefix("tickwatch-rabbitmq-").tempdir()?;
        let d = dir.path();
        let (port, dist_port, epmd_port) = (free_port(), free_port(), free_port());

        let epmd_binary = binary("epmd")?;
        let epmd = move || {
            let mut epmd = Command::new(&epmd_binary);
            epmd.args(["-address", "127.0.0.1", "-port", &epmd_port.to_string()]);
            epmd
        };
        let epmd = ServerProcess::start("epmd", &d.join("epmd.log"), Duration::from_secs(10), epmd, move || {
            accepts(epmd_port)
        })?;

        let mut conf = format!("listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n");
        let tls_port = pki.map(|_| free_port());
        if let (Some(pki), Some(tls_port)) = (pki, tls_port) {
            conf.push_str(&format!(
                "listeners.ssl.1 = 127.0.0.1:{tls_port}\nssl_options.cacertfile = {}\nssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\nssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n",
                pki.ca(),
                pki.server.cert(),
                pki.server.key()
            ));
        }
        std::fs::write(d.join("rabbitmq.conf"), conf)?;
        std::fs::write(d.join("enabled_plugins"), "[].\n")?;
        // Debian's /usr/sbin/rabbitmq-server is a wrapper that switches to the rabbitmq user
        // and its /var/lib directory; the kit runs the real script with its own directories.
        let (rabbitmq_server, d) = (binary_in("/usr/lib/rabbitmq/bin", "rabbitmq-server")?, d.to_owned());
        let log = d.join("rabbitmq.log");
        let server = move || {
            let mut server = Command::new(&rabbitmq_server);
            server
                .env("HOME", &d)
                .env("RABBITMQ_NODENAME", format!("kit{port}@localhost"))
                .env("RABBITMQ_NODE_PORT", port.to_string())
                .env("RABBITMQ_DIST_PORT", dist_port.to_string())
                .env("ERL_EPMD_PORT", epmd_port.to_string())
                .env("ERL_EPMD_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", d.join("log"))
                .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
                .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}");
            server
        };
        let ready = move || accepts(port) && tls_port.is_none_or(accepts);
        let server = ServerProcess::start("rabbitmq-server", &log, Duration::from_secs(60), server, ready)?;
        Ok(RabbitMq { server, _epmd: epmd, port, tls_port, epmd_port, dir })
    }

    /// Runs `rabbitmqctl ARGS` against this node (users, permissions).
    pub fn ctl(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(binary_in("/usr/lib/rabbitmq/bin", "rabbitmqctl")?)
            .env("HOME", self.dir.path())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .args(["-n", &format!("kit{}@localhost", self.port)])
            .args(args)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() { Ok(text) } else { Err(KitError(format!("rabbitmqctl {args:?}: {text}"))) }
    }

    /// `amqps://guest:guest@127.0.0.1:TLS_PORT/%2f` (a node started with TLS only).
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port.map(|port| format!("amqps://guest:guest@127.0.0.1:{port}/%2f"))
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

/// The node; its epmd keeps running through a kill and restart, as on a real host.
impl Server for RabbitMq {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.server
    }
}
