//! Background consumers (Celery event streams, WebSocket monitors, feed pipelines) are
//! owned here, never left running on their own: each is restarted with capped backoff
//! and jitter when it ends or panics, reports `tickwatch_consumer_up{kind,target}` (0
//! from the moment it dies until it runs again), and is stopped when its target goes
//! away on reload or the exporter shuts down.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use prometheus::{IntCounterVec, IntGaugeVec};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tickwatch_common::backoff::Backoff;
use tokio::task::AbortHandle;

/// Makes a consumer's future, once per (re)start.
pub type Start = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// A consumer that ran this long before it ended starts again at the first backoff step.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The running consumers, by (kind, target).
pub struct Consumers {
    up: IntGaugeVec,
    restarts: IntCounterVec,
    running: Mutex<HashMap<(&'static str, String), Vec<AbortHandle>>>,
}

impl Consumers {
    pub fn new(up: IntGaugeVec, restarts: IntCounterVec) -> Consumers {
        Consumers { up, restarts, running: Mutex::new(HashMap::new()) }
    }

    /// Runs `start()`'s future for target `target` of `kind` until stopped, restarting it
    /// whenever it ends. Must run inside a Tokio runtime.
    pub fn spawn(&self, kind: &'static str, target: &str, start: Start) {
        let up = self.up.with_label_values(&[kind, target]);
        let restarts = self.restarts.with_label_values(&[kind, target]);
        let name = target.to_owned();
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            loop {
                up.set(1);
                let started = Instant::now();
                let ended = AssertUnwindSafe(start()).catch_unwind().await;
                up.set(0);
                match ended {
                    Ok(()) => tracing::warn!(kind, target = name, "background consumer ended; restarting it"),
                    Err(panic) => {
                        let message = panic_text(panic.as_ref());
                        tracing::error!(kind, target = name, "background consumer panicked: {message}; restarting it");
                    }
                }
                restarts.inc();
                if started.elapsed() >= HEALTHY_RUN {
                    backoff.reset();
                }
                backoff.wait().await;
            }
        });
        self.running
            .lock()
            .expect("not poisoned")
            .entry((kind, target.to_owned()))
            .or_default()
            .push(task.abort_handle());
    }

    /// Stops the consumers of `target` of `kind` (it was removed or changed).
    pub fn stop(&self, kind: &'static str, target: &str) {
        if let Some(tasks) = self.running.lock().expect("not poisoned").remove(&(kind, target.to_owned())) {
            tasks.iter().for_each(AbortHandle::abort);
            let _ = self.up.remove_label_values(&[kind, target]);
        }
    }

    /// Stops every consumer (shutdown).
    pub fn stop_all(&self) {
        for (_, tasks) in self.running.lock().expect("not poisoned").drain() {
            tasks.iter().for_each(AbortHandle::abort);
        }
    }
}

/// What a panic said (its `&str` or `String` payload).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_consumer_that_dies_is_restarted_and_shows_as_down_meanwhile() {
        let up = IntGaugeVec::new(Opts::new("up", "up"), &["kind", "target"]).unwrap();
        let restarts = IntCounterVec::new(Opts::new("restarts", "restarts"), &["kind", "target"]).unwrap();
        let consumers = Consumers::new(up.clone(), restarts.clone());
        let starts = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&starts);
        consumers.spawn(
            "feed",
            "ticks",
            Box::new(move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        panic!("first run fails");
                    }
                    std::future::pending::<()>().await
                }
                .boxed()
            }),
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(up.with_label_values(&["feed", "ticks"]).get(), 0, "down after the panic, before the restart");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        assert_eq!(up.with_label_values(&["feed", "ticks"]).get(), 1);
        assert_eq!(restarts.with_label_values(&["feed", "ticks"]).get(), 1);
        consumers.stop("feed", "ticks");
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 2, "stopped for good");
    }
}
