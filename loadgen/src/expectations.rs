//! `[expect]` checked against a real monitoring stack (`run --prometheus URL`, and
//! `--alertmanager URL`): after the run, each expected alert must have been firing in
//! Prometheus's `ALERTS` between the run's start and `within` after its end (and have
//! reached Alertmanager when one is given), each silent alert must not have fired from
//! start to end, `alerts_only` allows no other alert, and every `queries` condition must
//! hold at the end. URLs are shown with their credentials masked.

use crate::dashboards::{Panel, resolve};
use crate::http::JsonClient;
use crate::scenario::Expect;
use crate::verdict::{Check, Observation};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickwatch_common::redact::redact_url;
use tickwatch_common::tls::TlsConfig;

/// How often Prometheus is asked again while an expected alert has not fired yet.
const POLL: Duration = Duration::from_secs(2);

/// The monitoring stack a run's expectations are checked against.
#[derive(Debug, Clone)]
pub struct Monitoring {
    prometheus: url::Url,
    alertmanager: Option<url::Url>,
    /// Dashboard panels that must show data for the run (`--dashboards`).
    panels: Vec<Panel>,
    client: JsonClient,
}

/// When the run went: expectations are judged on this window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: SystemTime,
    pub end: SystemTime,
}

impl Monitoring {
    /// A client for Prometheus at `prometheus` (and Alertmanager at `alertmanager`),
    /// http or https (with `tls`); `user:password@` in a URL is sent as basic
    /// authentication.
    pub fn new(prometheus: &str, alertmanager: Option<&str>, tls: &TlsConfig) -> Result<Monitoring, String> {
        let parse = |flag: &str, raw: &str| match url::Url::parse(raw) {
            Ok(mut u) if matches!(u.scheme(), "http" | "https") => {
                // Endpoints are joined below the URL's path (a Prometheus under /prometheus/).
                if !u.path().ends_with('/') {
                    u.set_path(&format!("{}/", u.path()));
                }
                Ok(u)
            }
            _ => Err(format!("{flag} {}: not an http:// or https:// URL", redact_url(raw))),
        };
        let prometheus = parse("--prometheus", prometheus)?;
        let alertmanager = alertmanager.map(|a| parse("--alertmanager", a)).transpose()?;
        let client = JsonClient::new(tls, Duration::from_secs(10))
            .map_err(|e| format!("--monitoring-ca-file/--monitoring-cert-file: {e}"))?;
        Ok(Monitoring { prometheus, alertmanager, panels: Vec::new(), client })
    }

    /// Also requires every panel of these dashboards to show data for the run.
    pub fn with_panels(self, panels: Vec<Panel>) -> Monitoring {
        Monitoring { panels, ..self }
    }

    /// Every check: `[expect]` over `window`, then the dashboards' panels.
    pub async fn check_all(&self, expect: &Expect, window: Window) -> Vec<Check> {
        let mut checks = self.check(expect, window).await;
        let range = (epoch(SystemTime::now()) - epoch(window.start)).ceil().max(1.0);
        for panel in &self.panels {
            checks.push(Check::new(
                format!("panel {}", panel.name),
                "data during the run",
                self.panel_data(panel, range).await,
            ));
        }
        checks
    }

    /// Whether any query of `panel` returned data in the last `range` seconds (what the
    /// panel shows over the run's time range).
    async fn panel_data(&self, panel: &Panel, range: f64) -> Observation {
        // A subquery evaluates at multiples of its step: about 60 points over the range,
        // at least one a second, so a short run's window always holds some.
        let step = (range / 60.0).clamp(1.0, 15.0).round();
        for expr in panel.exprs.iter().map(|e| resolve(e, range as u64)) {
            let series = self.instant(&format!("last_over_time(({expr})[{range}s:{step}s])")).await?;
            if !series.is_empty() {
                return Ok((format!("{} series from {expr}", series.len()), true));
            }
        }
        Ok((format!("no data from its {} queries", panel.exprs.len()), false))
    }

    /// Whether there is anything to check.
    pub fn has_checks(&self, expect: &Expect) -> bool {
        !expect.is_empty() || !self.panels.is_empty()
    }

    /// Every expectation of `expect` over `window`, waiting up to `within` after its end
    /// for alerts that must fire.
    async fn check(&self, expect: &Expect, window: Window) -> Vec<Check> {
        let mut checks = Vec::new();
        let deadline = window.end + expect.within;
        let after_start = |at: f64| format!("fired {:.1} s after the start", at - epoch(window.start));
        let not_yet = format!("did not fire by {} s after the end", expect.within.as_secs());
        // Each alert still waited for, with what its last poll saw (reported if the wait
        // runs out); a pass or an error ends the wait for that alert.
        let mut pending: Vec<(&String, Observation)> =
            expect.alerts_firing.iter().map(|a| (a, Ok((not_yet.clone(), false)))).collect();
        let mut done = Vec::new();
        loop {
            let now = SystemTime::now().min(deadline);
            let mut still = Vec::new();
            for (alert, _) in pending {
                let seen = match self.first_firing(alert, window.start, now).await {
                    Ok(Some(at)) if self.alertmanager.is_none() => Ok((after_start(at), true)),
                    Ok(Some(at)) => match self.received(alert).await {
                        Ok(true) => Ok((format!("{}, received by Alertmanager", after_start(at)), true)),
                        Ok(false) => Ok(("fired in Prometheus, not received by Alertmanager".to_owned(), false)),
                        Err(e) => Err(e),
                    },
                    Ok(None) => Ok((not_yet.clone(), false)),
                    Err(e) => Err(e),
                };
                match seen {
                    Ok((_, false)) => still.push((alert, seen)),
                    _ => done.push((alert, seen)),
                }
            }
            pending = still;
            if pending.is_empty() || SystemTime::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let firing = self.firing_expected(expect);
        for (alert, result) in done.into_iter().chain(pending) {
            checks.push(Check::new(format!("alert {alert} fires"), &firing, result));
        }
        for alert in &expect.alerts_silent {
            let observed = self.first_firing(alert, window.start, window.end).await.map(|at| match at {
                None => ("silent".to_owned(), true),
                Some(at) => (after_start(at), false),
            });
            checks.push(Check::new(format!("alert {alert} stays silent"), "not firing from start to end", observed));
        }
        if expect.alerts_only {
            let end = SystemTime::now().min(deadline);
            let observed = self.fired_alerts(window.start, end).await.map(|names| {
                let others: Vec<String> = names.into_iter().filter(|n| !expect.alerts_firing.contains(n)).collect();
                if others.is_empty() {
                    ("none".to_owned(), true)
                } else {
                    (format!("also fired: {}", others.join(", ")), false)
                }
            });
            checks.push(Check::new("only the expected alerts fire", "no alert outside alerts_firing", observed));
        }
        for query in &expect.queries {
            let observed = self.instant(query).await.map(|result| match result.is_empty() {
                true => ("empty (the condition does not hold)".to_owned(), false),
                false => (result.join(", "), true),
            });
            checks.push(Check::new(format!("query {query}"), "holds at the end", observed));
        }
        checks
    }

    fn firing_expected(&self, expect: &Expect) -> String {
        let reached = if self.alertmanager.is_some() { ", received by Alertmanager" } else { "" };
        format!("firing by {} s after the end{reached}", expect.within.as_secs())
    }

    /// When `alert` first fired between `from` and `to` (epoch seconds), if it did.
    async fn first_firing(&self, alert: &str, from: SystemTime, to: SystemTime) -> Result<Option<f64>, String> {
        let query = format!("ALERTS{{alertname=\"{}\",alertstate=\"firing\"}}", escape(alert));
        let series = self.range(&query, from, to).await?;
        let first = series
            .iter()
            .filter_map(|s| s["values"].as_array()?.first()?.get(0)?.as_f64())
            .fold(None, |min: Option<f64>, t| Some(min.map_or(t, |m| m.min(t))));
        Ok(first)
    }

    /// The names of every alert that fired between `from` and `to`.
    async fn fired_alerts(&self, from: SystemTime, to: SystemTime) -> Result<Vec<String>, String> {
        let series = self.range("ALERTS{alertstate=\"firing\"}", from, to).await?;
        let mut names: Vec<String> =
            series.iter().filter_map(|s| s["metric"]["alertname"].as_str().map(str::to_owned)).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// `query_range` of `query` from `from` to `to`: its series.
    async fn range(&self, query: &str, from: SystemTime, to: SystemTime) -> Result<Vec<Value>, String> {
        let (start, end) = (epoch(from), epoch(to).max(epoch(from)));
        // At most ~10,000 points a series (Prometheus refuses more than 11,000).
        let step = ((end - start) / 10_000.0).ceil().max(1.0);
        let params = [
            ("query", query.to_owned()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{step}")),
        ];
        let data = self.api("query_range", &params).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// An instant query now: each result series as `{labels} value`.
    async fn instant(&self, query: &str) -> Result<Vec<String>, String> {
        let data = self.api("query", &[("query", query.to_owned())]).await?;
        let result = data["result"].as_array().cloned().unwrap_or_default();
        Ok(result
            .iter()
            .map(|s| {
                let value = s["value"][1].as_str().unwrap_or("?");
                let labels = s["metric"].as_object().filter(|m| !m.is_empty()).map(|m| Value::Object(m.clone()));
                labels.map(|l| format!("{l} {value}")).unwrap_or_else(|| value.to_owned())
            })
            .collect())
    }

    /// A Prometheus API call's `data`, or why it failed (the URL masked).
    async fn api(&self, endpoint: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let shown = redact_url(self.prometheus.as_str());
        let url = self.prometheus.join(&format!("api/v1/{endpoint}")).map_err(|e| format!("{shown}: {e}"))?;
        let answer = self.client.get(&url, params).await.map_err(|e| format!("Prometheus at {shown} {e}"))?;
        if answer.body["status"] != "success" {
            let error = answer.body["error"].as_str().unwrap_or("no error message");
            return Err(format!("Prometheus at {shown} answered {}: {error}", answer.status));
        }
        Ok(answer.body["data"].clone())
    }

    /// Whether Alertmanager (when given) holds `alert`.
    async fn received(&self, alert: &str) -> Result<bool, String> {
        let Some(base) = &self.alertmanager else { return Ok(false) };
        let shown = redact_url(base.as_str());
        let url = base.join("api/v2/alerts").map_err(|e| format!("{shown}: {e}"))?;
        let filter = format!("alertname=\"{}\"", escape(alert));
        let params = [("filter", filter), ("active", "true".into()), ("silenced", "true".into())];
        let answer = self.client.get(&url, &params).await.map_err(|e| format!("Alertmanager at {shown} {e}"))?;
        if !answer.status.is_success() {
            return Err(format!("Alertmanager at {shown} answered {}", answer.status));
        }
        Ok(answer.body.as_array().is_some_and(|a| !a.is_empty()))
    }
}

/// The names of the checks `expect` would make, for a run with no monitoring stack to
/// check them against.
pub fn unchecked(expect: &Expect) -> Vec<String> {
    let firing = expect.alerts_firing.iter().map(|a| format!("alert {a} fires"));
    let silent = expect.alerts_silent.iter().map(|a| format!("alert {a} stays silent"));
    let only = expect.alerts_only.then(|| "only the expected alerts fire".to_owned());
    let queries = expect.queries.iter().map(|q| format!("query {q}"));
    firing.chain(silent).chain(only).chain(queries).map(|c| format!("{c} (no --prometheus)")).collect()
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A label value inside double quotes.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}
