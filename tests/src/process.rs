use crate::{KitError, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped server gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// A server process in its own process group, with its output in a log file. Dropping it
/// stops the whole group (a Celery worker's pool, RabbitMQ's helpers go with it).
pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `command` with stdin closed and stdout and stderr going to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<ServerProcess> {
        let out = File::create(log)?;
        command.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out).process_group(0);
        let child = command.spawn().map_err(|e| KitError(format!("cannot start {name} ({command:?}): {e}")))?;
        Ok(ServerProcess { name: name.to_owned(), child, log: log.to_owned() })
    }

    /// Polls `ready` every 50 ms until it says yes; fails with the log's tail if the
    /// process exits or `deadline` passes first.
    pub fn wait_until(&mut self, deadline: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&format!("exited with {status} before it was ready")));
            }
            if ready() {
                return Ok(());
            }
            if start.elapsed() > deadline {
                return Err(self.failure(&format!("was not ready within {deadline:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error naming this server, with the last lines of its log.
    pub fn failure(&self, what: &str) -> KitError {
        KitError(format!("{} {what}; last lines of {}:\n{}", self.name, self.log.display(), self.log_tail(40)))
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM to the group, then SIGKILL after the grace period; reaps the child.
    pub fn stop(&mut self) {
        self.signal_group_and_wait(Signal::SIGTERM, GRACE);
        self.signal_group_and_wait(Signal::SIGKILL, GRACE);
    }

    /// SIGKILL to the whole group at once: the server dies as in a crash.
    pub fn kill(&mut self) {
        self.signal_group_and_wait(Signal::SIGKILL, GRACE);
    }

    fn signal_group_and_wait(&mut self, signal: Signal, wait: Duration) {
        let group = Pid::from_raw(self.child.id() as i32);
        // The group may be gone already; that is the goal, not an error.
        let _ = killpg(group, signal);
        let start = Instant::now();
        while start.elapsed() < wait {
            if !matches!(self.child.try_wait(), Ok(None)) {
                // The leader is gone; give the rest of the group the same signal.
                let _ = killpg(group, signal);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
