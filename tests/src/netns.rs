//! A network namespace of the test's own, for what cannot be tested on the host's
//! loopback: a resolver of our own. It has its own loopback (so every port is free) and
//! its own `/etc/resolv.conf` (`ip netns exec` mounts `/etc/netns/NAME/resolv.conf` over
//! it), pointing at a DNS server the test starts inside. Needs root and iproute2.

use crate::{KitError, Result, venv_binary};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

/// A network namespace, deleted (with its resolv.conf) when the last clone is dropped.
#[derive(Clone)]
pub struct NetNamespace(Arc<Namespace>);

struct Namespace {
    name: String,
    etc: PathBuf,
}

impl NetNamespace {
    /// A new namespace with its loopback up and `nameserver 127.0.0.1` as its resolver.
    pub fn new() -> Result<NetNamespace> {
        let n = NAMESPACES.fetch_add(1, Ordering::Relaxed);
        let name = format!("tickwatch-{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let etc = PathBuf::from("/etc/netns").join(&name);
        let namespace = Namespace { name, etc };
        std::fs::create_dir_all(&namespace.etc)?;
        std::fs::write(namespace.etc.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
        ip(&["netns", "exec", &namespace.name, "ip", "link", "set", "lo", "up"])?;
        Ok(NetNamespace(Arc::new(namespace)))
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.0.name]).arg(program);
        command
    }

    /// The body of an HTTP GET of `url` made from inside the namespace (with the test
    /// kit's Python), or why it failed.
    pub fn fetch(&self, url: &str) -> Result<String> {
        let script =
            "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())";
        let output = self.command(venv_binary("python")?).args(["-c", script, url]).output()?;
        match output.status.success() {
            true => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
            false => {
                Err(KitError(format!("GET {url} in {}: {}", self.0.name, String::from_utf8_lossy(&output.stderr))))
            }
        }
    }

    /// Whether a TCP connection to 127.0.0.1:`port` inside the namespace is accepted.
    pub fn accepts(&self, port: u16) -> bool {
        let script = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=1)";
        venv_binary("python")
            .ok()
            .and_then(|python| self.command(python).args(["-c", script, &port.to_string()]).output().ok())
            .is_some_and(|o| o.status.success())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| KitError(format!("cannot run `ip` (iproute2): {e}; run scripts/setup.sh")))?;
    if !output.status.success() {
        return Err(KitError(format!(
            "`ip {}` failed (network namespaces need root): {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}
