//! One scrape: every probe concurrently, each under the budget, then one exposition;
//! concurrent scrapes share each target's running round.

use crate::consumers::panic_text;
use crate::exposition::{Exposition, Samples, encode, families};
use crate::probe::{Probe, ProbeError, ProbeResult, TargetProbe};
use crate::reason::Reason;
use crate::shared::Shared;
use futures_util::future::{BoxFuture, FutureExt, Shared as Shared_, join_all};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::AbortHandle;

families! {
    PROBE_SUCCESS: gauge "tickwatch_probe_success", "Whether the last probe of the target succeeded (1) or not (0).";
    PROBE_DURATION: gauge "tickwatch_probe_duration_seconds", "How long the last probe of the target took.";
}

/// How much of Prometheus's scrape timeout is kept back for encoding and the network
/// (blackbox_exporter keeps the same).
const SCRAPE_MARGIN: Duration = Duration::from_millis(500);
/// The least time a probe is given, however short the scrape timeout.
const MIN_BUDGET: Duration = Duration::from_millis(100);

/// The probe budget for a scrape: Prometheus's timeout header less a margin, or the
/// configured default when there is no (valid) header.
pub fn budget(scrape_timeout_header: Option<&str>, default: Duration) -> Duration {
    scrape_timeout_header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| {
            let timeout = Duration::from_secs_f64(s);
            // Short timeouts keep a tenth back instead of the fixed margin.
            let budget = if timeout > SCRAPE_MARGIN * 4 { timeout - SCRAPE_MARGIN } else { timeout.mul_f64(0.9) };
            budget.max(MIN_BUDGET)
        })
        .unwrap_or(default)
}

/// Probes `probes` concurrently under `budget` and encodes their samples with every
/// long-lived metric (`/metrics`).
pub async fn scrape(probes: &[Arc<TargetProbe>], budget: Duration, shared: &Arc<Shared>) -> Exposition {
    let samples = probe_all(probes, budget, shared).await;
    let configured: std::collections::HashSet<&str> = probes.iter().map(|p| p.target.as_str()).collect();
    encode(samples, &shared.gather_configured(&|name| configured.contains(name)))
}

/// Probes one target and encodes its samples with the long-lived metrics labelled with
/// its name only (`/probe?target=NAME`): never other targets' series nor the exporter's
/// own metrics, which belong on `/metrics`.
pub async fn scrape_one(probe: &Arc<TargetProbe>, budget: Duration, shared: &Arc<Shared>) -> Exposition {
    let samples = probe_all(std::slice::from_ref(probe), budget, shared).await;
    encode(samples, &shared.gather_target(&probe.target))
}

/// The samples of one round of probing, with success and duration per target. A scrape
/// that arrives while a target's round is running shares that round, so concurrent
/// scrapes (an HA pair of Prometheus servers) cost each target one round.
pub async fn probe_all(probes: &[Arc<TargetProbe>], budget: Duration, shared: &Arc<Shared>) -> Samples {
    let outcomes = join_all(probes.iter().map(|probe| probe.rounds.join(probe, budget, shared))).await;
    let mut samples = Samples::new();
    for (probe, outcome) in probes.iter().zip(outcomes) {
        let labels = [("kind", probe.kind), ("target", probe.target.as_str())];
        samples.add(&PROBE_DURATION, &labels, outcome.elapsed.as_secs_f64());
        // Alone with the round's outcome (no concurrent scrape joined it), this scrape
        // takes its samples instead of copying them: at 100,000 queues a copy was 20 MB.
        let result = match Arc::try_unwrap(outcome) {
            Ok(outcome) => outcome.result,
            Err(shared) => shared.result.clone(),
        };
        match result {
            Ok(target_samples) => {
                samples.add(&PROBE_SUCCESS, &labels, 1.0);
                samples.append(target_samples);
            }
            Err(error) => {
                samples.add(&PROBE_SUCCESS, &labels, 0.0);
                if let Some(up) = probe.up {
                    samples.add(up, &[("target", &probe.target)], 0.0);
                }
                samples.append(error.samples);
            }
        }
    }
    samples
}

/// What one round of a target's probe gave, and how long it took.
pub struct Outcome {
    result: ProbeResult,
    elapsed: Duration,
}

type SharedRound = Shared_<BoxFuture<'static, Arc<Outcome>>>;

/// The round of a target's probe that is running now, if any, for scrapes to join.
#[derive(Default)]
pub struct Rounds {
    /// The round, and its task (which says whether the round is still running even when
    /// no scrape polls it any more).
    running: Mutex<Option<(SharedRound, AbortHandle)>>,
}

impl Rounds {
    /// Joins the running round of `probe`, or starts one under `budget`; waits at most
    /// `budget` for it.
    async fn join(&self, probe: &TargetProbe, budget: Duration, shared: &Arc<Shared>) -> Arc<Outcome> {
        let round = {
            let mut running = self.running.lock().expect("not poisoned");
            match running.as_ref() {
                Some((round, task)) if !task.is_finished() => round.clone(),
                _ => {
                    let (round, task) = start(probe, budget, Arc::clone(shared));
                    let round = round.boxed().shared();
                    *running = Some((round.clone(), task));
                    round
                }
            }
        };
        let outcome = match tokio::time::timeout(budget, round).await {
            Ok(outcome) => outcome,
            Err(_) => Arc::new(Outcome { result: Err(timed_out(budget)), elapsed: budget }),
        };
        // A finished round is never joined again: forget it, so its samples are freed
        // with the last scrape that read them rather than kept until the next round.
        let mut running = self.running.lock().expect("not poisoned");
        if running.as_ref().is_some_and(|(_, task)| task.is_finished()) {
            *running = None;
        }
        outcome
    }
}

/// One round, in a task of its own: it finishes (and is counted and logged, once) even
/// when every scrape that joined it stopped waiting, and a probe that panics fails its own
/// target (reason `panic`) and nothing else.
fn start(
    probe: &TargetProbe,
    budget: Duration,
    shared: Arc<Shared>,
) -> (impl Future<Output = Arc<Outcome>> + use<>, AbortHandle) {
    let (kind, target, tls) = (probe.kind, probe.target.clone(), probe.tls_context.clone());
    let probe = Arc::clone(&probe.probe);
    let task = tokio::spawn(async move {
        let start = Instant::now();
        let result = probe_once(probe.as_ref(), budget).await;
        if let Err(error) = &result {
            shared.probe_errors.with_label_values(&[kind, &target, error.reason.as_str()]).inc();
            let context = match (error.reason, &tls) {
                (Reason::Tls, Some(context)) => format!(" ({context})"),
                _ => String::new(),
            };
            tracing::warn!(kind, target, reason = error.reason.as_str(), "probe failed: {}{context}", error.message);
        }
        Arc::new(Outcome { result, elapsed: start.elapsed() })
    });
    let abort = task.abort_handle();
    let started = Instant::now();
    let outcome = async move {
        task.await.unwrap_or_else(|_| {
            let cancelled = ProbeError::new(Reason::Timeout, "the probe task was cancelled (shutdown)");
            Arc::new(Outcome { result: Err(cancelled), elapsed: started.elapsed() })
        })
    };
    (outcome, abort)
}

/// One probe under `budget`, not shared with anyone: a probe that panics fails with
/// reason `panic`, one that overruns with `timeout`.
pub async fn probe_once(probe: &dyn Probe, budget: Duration) -> ProbeResult {
    match tokio::time::timeout(budget, AssertUnwindSafe(probe.probe()).catch_unwind()).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            Err(ProbeError::new(Reason::Panic, format!("the probe panicked: {}", panic_text(panic.as_ref()))))
        }
        Err(_) => Err(timed_out(budget)),
    }
}

fn timed_out(budget: Duration) -> ProbeError {
    ProbeError::new(Reason::Timeout, format!("no answer within {budget:?}"))
}

#[cfg(test)]
mod tests {
    use super::{budget, probe_all};
    use crate::probe::{Probe, ProbeFuture, TargetProbe};
    use crate::shared::Shared;
    use std::sync::Arc;
    use std::time::Duration;

    /// A probe with a bug.
    struct Panics;

    impl Probe for Panics {
        fn probe(&self) -> ProbeFuture<'_> {
            Box::pin(async { panic!("index out of bounds") })
        }
    }

    struct Answers;

    impl Probe for Answers {
        fn probe(&self) -> ProbeFuture<'_> {
            Box::pin(async { Ok(crate::exposition::Samples::new()) })
        }
    }

    fn target(name: &str, probe: Arc<dyn Probe>) -> Arc<TargetProbe> {
        Arc::new(TargetProbe {
            kind: "redis",
            target: name.into(),
            up: None,
            probe,
            tls_context: None,
            rounds: Default::default(),
            fingerprint: String::new(),
        })
    }

    #[tokio::test]
    async fn a_panicking_probe_fails_only_its_own_target() {
        let shared = Arc::new(Shared::new());
        let probes = [target("buggy", Arc::new(Panics)), target("fine", Arc::new(Answers))];
        let samples = probe_all(&probes, Duration::from_secs(1), &shared).await;
        assert_eq!(samples.value("tickwatch_probe_success", &[("target", "buggy")]), Some(0.0));
        assert_eq!(samples.value("tickwatch_probe_success", &[("target", "fine")]), Some(1.0));
        assert_eq!(shared.probe_errors.with_label_values(&["redis", "buggy", "panic"]).get(), 1);
    }

    #[test]
    fn budget_follows_the_scrape_timeout_header() {
        let default = Duration::from_secs(5);
        assert_eq!(budget(Some("10"), default), Duration::from_millis(9_500));
        assert_eq!(budget(Some("1.5"), default), Duration::from_millis(1_350));
        assert_eq!(budget(Some("0.01"), default), Duration::from_millis(100));
        assert_eq!(budget(Some("nonsense"), default), default);
        assert_eq!(budget(Some("-3"), default), default);
        assert_eq!(budget(None, default), default);
    }
}
