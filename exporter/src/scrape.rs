//! One scrape: every probe concurrently, each under the budget, then one exposition.

use crate::exposition::{Samples, encode, families};
use crate::probe::{ProbeError, TargetProbe};
use crate::reason::Reason;
use crate::shared::Shared;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

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

/// Probes `probes` concurrently under `budget` and encodes their samples with the
/// long-lived metrics.
pub async fn scrape(probes: &[TargetProbe], budget: Duration, shared: &Shared) -> String {
    encode(probe_all(probes, budget, shared).await, &shared.registry)
}

/// The samples of one round of probing, with success and duration per target; failures
/// are counted by reason and logged.
pub async fn probe_all(probes: &[TargetProbe], budget: Duration, shared: &Shared) -> Samples {
    let mut running = JoinSet::new();
    for (index, probe) in probes.iter().enumerate() {
        let probe = std::sync::Arc::clone(&probe.probe);
        running.spawn(async move {
            let start = Instant::now();
            let result = match tokio::time::timeout(budget, probe.probe()).await {
                Ok(result) => result,
                Err(_) => Err(ProbeError::new(Reason::Timeout, format!("no answer within {budget:?}"))),
            };
            (index, result, start.elapsed())
        });
    }
    let mut results: Vec<_> = running.join_all().await;
    results.sort_by_key(|(index, _, _)| *index);

    let mut samples = Samples::new();
    for (index, result, elapsed) in results {
        let probe = &probes[index];
        let labels = [("kind", probe.kind), ("target", probe.target.as_str())];
        samples.add(&PROBE_DURATION, &labels, elapsed.as_secs_f64());
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
                shared.probe_errors.with_label_values(&[probe.kind, &probe.target, error.reason.as_str()]).inc();
                tracing::warn!(
                    kind = probe.kind,
                    target = probe.target,
                    reason = error.reason.as_str(),
                    "probe failed: {}",
                    error.message
                );
            }
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::budget;
    use std::time::Duration;

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
