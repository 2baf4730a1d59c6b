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

/// Builds a server's command line (again, for a restart).
type CommandLine = Box<dyn Fn() -> Command + Send + Sync>;
/// Tells whether a started server answers.
type Readiness = Box<dyn Fn() -> bool + Send + Sync>;

/// A server process in its own process group, with its output in a log file, that can be
/// killed as in a crash and started again the same way (same port, same directory).
/// Dropping it stops the whole group (a Celery worker's pool, RabbitMQ's helpers go with it).
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    command: CommandLine,
    ready: Readiness,
    deadline: Duration,
}

impl ServerProcess {
    /// Starts `command` with stdin closed and stdout and stderr going to `log`, then
    /// polls `ready` every 50 ms until it says yes; fails with the log's tail if the
    /// process exits or `deadline` passes first.
    pub fn start(
        name: &str,
        log: &Path,
        deadline: Duration,
        command: impl Fn() -> Command + Send + Sync + 'static,
        ready: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Result<ServerProcess> {
        let mut process = ServerProcess {
            name: name.to_owned(),
            child: None,
            log: log.to_owned(),
            command: Box::new(command),
            ready: Box::new(ready),
            deadline,
        };
        process.restart()?;
        Ok(process)
    }

    /// Starts `program args` in `dir` (its log there too) and waits up to 30 s until
    /// `http://127.0.0.1:PORT/-/ready` answers 200, as Prometheus, Alertmanager and the
    /// exporter do.
    pub fn start_http(name: &str, program: PathBuf, args: Vec<String>, dir: &Path, port: u16) -> Result<ServerProcess> {
        ServerProcess::start_http_with_env(name, program, args, Vec::new(), dir, port)
    }

    /// [`start_http`](Self::start_http) with `env` set for the program.
    pub fn start_http_with_env(
        name: &str,
        program: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        dir: &Path,
        port: u16,
    ) -> Result<ServerProcess> {
        let (cwd, ready) = (dir.to_owned(), format!("http://127.0.0.1:{port}/-/ready"));
        let command = move || {
            let mut command = Command::new(&program);
            command.args(&args).current_dir(&cwd).envs(env.iter().cloned());
            command
        };
        let log = dir.join(format!("{name}.log"));
        ServerProcess::start(name, &log, Duration::from_secs(30), command, move || crate::http_ok(&ready))
    }

    /// Starts the server again as it was first started (killing it first if it runs).
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let out = File::create(&self.log)?;
        let mut command = (self.command)();
        command.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out).process_group(0);
        let child = command.spawn().map_err(|e| KitError(format!("cannot start {} ({command:?}): {e}", self.name)))?;
        self.child = Some(child);
        self.wait_until_ready()
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(self.failure(&format!("exited with {status} before it was ready")));
            }
            if (self.ready)() {
                return Ok(());
            }
            if start.elapsed() > self.deadline {
                return Err(self.failure(&format!("was not ready within {:?}", self.deadline)));
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

    /// Sends SIGHUP (a reload, for servers that take it that way).
    pub fn hang_up(&self) -> Result<()> {
        let child = self.child.as_ref().ok_or_else(|| KitError(format!("{} is not running", self.name)))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGHUP)
            .map_err(|e| KitError(format!("cannot signal {}: {e}", self.name)))
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGSTOP to the whole group: the server hangs with its sockets open, accepting
    /// nothing and answering nothing, as a wedged server does.
    pub fn pause(&self) -> Result<()> {
        self.signal_group(Signal::SIGSTOP)
    }

    /// SIGCONT after [`pause`](Self::pause): the server goes on where it stopped.
    pub fn resume(&self) -> Result<()> {
        self.signal_group(Signal::SIGCONT)
    }

    /// Sends `signal` to the whole group (for a server's own signal handlers).
    pub fn signal_group(&self, signal: Signal) -> Result<()> {
        let child = self.child.as_ref().ok_or_else(|| KitError(format!("{} is not running", self.name)))?;
        killpg(Pid::from_raw(child.id() as i32), signal)
            .map_err(|e| KitError(format!("cannot signal {}: {e}", self.name)))
    }

    /// Whether the server's leader process is stopped (state T in /proc), as after
    /// [`pause`](Self::pause) or a SIGSTOP it sent itself.
    pub fn is_stopped(&self) -> bool {
        let Some(child) = self.child.as_ref() else { return false };
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        // The state follows the command name, which is in parentheses and may hold spaces.
        stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T'))
    }

    /// SIGTERM to the group, then SIGKILL after the grace period; reaps the child.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A paused server takes SIGTERM only once it runs again.
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGCONT);
            signal_group_and_wait(&mut child, Signal::SIGTERM, GRACE);
            signal_group_and_wait(&mut child, Signal::SIGKILL, GRACE);
        }
    }

    /// SIGKILL to the whole group at once: the server dies as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group_and_wait(&mut child, Signal::SIGKILL, GRACE);
        }
    }
}

fn signal_group_and_wait(child: &mut Child, signal: Signal, wait: Duration) {
    let group = Pid::from_raw(child.id() as i32);
    // The group may be gone already; that is the goal, not an error.
    let _ = killpg(group, signal);
    let start = Instant::now();
    while start.elapsed() < wait {
        if !matches!(child.try_wait(), Ok(None)) {
            // The leader is gone; give the rest of the group the same signal.
            let _ = killpg(group, signal);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A kit server that can crash and come back: every kind has kill, stop and restart.
pub trait Server {
    /// The server's (main) process.
    fn process(&mut self) -> &mut ServerProcess;

    /// SIGKILL, as in a crash.
    fn kill(&mut self) {
        self.process().kill();
    }

    /// SIGTERM (a graceful shutdown), SIGKILL after a grace period.
    fn stop(&mut self) {
        self.process().stop();
    }

    /// Starts it again as it was first started: same port, same directory.
    fn restart(&mut self) -> Result<()> {
        self.process().restart()
    }

    /// SIGSTOP: it hangs with its sockets open (see [`ServerProcess::pause`]).
    fn pause(&mut self) -> Result<()> {
        self.process().pause()
    }

    /// SIGCONT after a pause.
    fn resume(&mut self) -> Result<()> {
        self.process().resume()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
