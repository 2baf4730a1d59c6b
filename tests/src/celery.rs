use crate::{KitError, Result, Server, ServerProcess, repo_root, venv_binary};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;

/// A real Celery worker (prefork pool, task events on) running the kit's app
/// (`tests/python/celery_app.py`) against a Redis broker. [`Server::stop`] is Celery's
/// warm shutdown (finish running tasks, then exit); [`Server::kill`] takes the pool too.
pub struct CeleryWorker {
    process: ServerProcess,
    hostname: String,
    _dir: TempDir,
}

static WORKERS: AtomicUsize = AtomicUsize::new(0);

impl CeleryWorker {
    /// Starts a worker consuming `queues` with two pool processes and waits until it
    /// reports ready.
    pub fn start(broker_url: &str, queues: &[&str]) -> Result<CeleryWorker> {
        CeleryWorker::start_with_app(broker_url, queues, &[])
    }

    /// [`CeleryWorker::start`] for an app with broker transport options, as
    /// `tests/python/celery_app.py` reads them: `TICKWATCH_KEYPREFIX` (Kombu's
    /// `global_keyprefix`), `TICKWATCH_MASTER_NAME` (a `sentinel://` broker's master).
    pub fn start_with_app(broker_url: &str, queues: &[&str], app: &[(&str, &str)]) -> Result<CeleryWorker> {
        let dir = tempfile::Builder::new().prefix("tickwatch-celery-").tempdir()?;
        let n = WORKERS.fetch_add(1, Ordering::Relaxed);
        let hostname = format!("kit{}-{n}@localhost", std::process::id());
        let (celery, app_dir, broker_url) =
            (venv_binary("celery")?, repo_root().join("tests/python"), broker_url.to_owned());
        let (queues, node) = (queues.join(","), hostname.clone());
        let app: Vec<(String, String)> = app.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let command = move || {
            let mut command = Command::new(&celery);
            command.args(["-A", "celery_app", "worker", "--loglevel=INFO", "--concurrency=2", "--events"]);
            command.args(["--without-mingle", "--without-gossip", "--hostname", &node, "--queues", &queues]);
            command.current_dir(&app_dir).env("TICKWATCH_BROKER_URL", &broker_url);
            command.envs(app.iter().cloned());
            command
        };
        let log = dir.path().join("worker.log");
        let (ready_log, ready_line) = (log.clone(), format!("{hostname} ready."));
        let ready = move || std::fs::read_to_string(&ready_log).is_ok_and(|text| text.contains(&ready_line));
        let process = ServerProcess::start("celery worker", &log, Duration::from_secs(60), command, ready)?;
        Ok(CeleryWorker { process, hostname, _dir: dir })
    }

    /// The worker's node name as Celery reports it in events (`name@host`).
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The worker's log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

impl Server for CeleryWorker {
    fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// Sends tasks through the real Celery client library, so they are exactly what an
/// application would enqueue (`tests/python/send_tasks.py`).
pub struct CeleryClient {
    broker_url: String,
    /// The app's settings, as [`CeleryWorker::start_with_app`] takes them.
    app: Vec<(String, String)>,
}

impl CeleryClient {
    pub fn new(broker_url: &str) -> CeleryClient {
        CeleryClient::with_app(broker_url, &[])
    }

    /// A client of an app with broker transport options (see
    /// [`CeleryWorker::start_with_app`]).
    pub fn with_app(broker_url: &str, app: &[(&str, &str)]) -> CeleryClient {
        let app = app.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        CeleryClient { broker_url: broker_url.to_owned(), app }
    }

    /// Sends `count` calls of `task` with positional `args` (a JSON array) to `queue`,
    /// optionally with a priority; returns the task ids.
    pub fn send(&self, task: &str, queue: &str, count: usize, args: &str, priority: Option<u8>) -> Result<Vec<String>> {
        let count = count.to_string();
        let priority = priority.map(|p| p.to_string());
        let mut script_args = vec![task, queue, count.as_str(), args];
        script_args.extend(priority.as_deref());
        self.run("send_tasks.py", &script_args)
    }

    /// Gives the worker on `queue` one task of every outcome: succeeded, failed, retried,
    /// rejected, and one revoked (`tests/python/celery_workload.py`); returns the revoked
    /// task's id.
    pub fn every_outcome(&self, queue: &str) -> Result<Vec<String>> {
        self.run("celery_workload.py", &[queue])
    }

    /// Runs a script of `tests/python` with this client's app; its output lines.
    fn run(&self, script: &str, args: &[&str]) -> Result<Vec<String>> {
        let output = Command::new(venv_binary("python")?)
            .arg(script)
            .args(args)
            .current_dir(repo_root().join("tests/python"))
            .env("TICKWATCH_BROKER_URL", &self.broker_url)
            .envs(self.app.iter().cloned())
            .output()
            .map_err(|e| KitError(format!("cannot run {script}: {e}")))?;
        if !output.status.success() {
            return Err(KitError(format!("{script} failed: {}", String::from_utf8_lossy(&output.stderr))));
        }
        Ok(String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect())
    }
}
