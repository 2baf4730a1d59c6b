use crate::binaries::binary_in;
use crate::ports::{accepts, free_port};
use crate::{Result, Server, ServerProcess, binary};
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
    _dir: TempDir,
}

impl RabbitMq {
    /// Starts epmd and a node, and waits until the node accepts AMQP connections.
    pub fn start() -> Result<RabbitMq> {
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

        std::fs::write(
            d.join("rabbitmq.conf"),
            format!("listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n"),
        )?;
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
        let server =
            ServerProcess::start("rabbitmq-server", &log, Duration::from_secs(60), server, move || accepts(port))?;
        Ok(RabbitMq { server, _epmd: epmd, port, _dir: dir })
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
