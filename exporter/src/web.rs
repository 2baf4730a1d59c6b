//! HTTP: `/metrics` (every target), `/probe?target=NAME` (one configured target, by name
//! only: no address is ever taken from a request; `&debug=true` shows the probe's steps),
//! `/-/reload` (with
//! `--web.enable-lifecycle`), `/-/healthy`, `/-/ready`, and a landing page listing the
//! targets. The running targets can be swapped by a reload while scrapes go on.

use crate::config;
use crate::exposition::{Exposition, encode};
use crate::probe::{Running, TargetProbe, build_all, trace};
use crate::scrape::{budget, probe_once, scrape, scrape_one};
use crate::shared::Shared;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tickwatch_common::redact::mask;

/// The header Prometheus tells its scrape timeout in.
const TIMEOUT_HEADER: &str = "X-Prometheus-Scrape-Timeout-Seconds";

/// What the handlers share.
pub struct App {
    pub shared: Arc<Shared>,
    /// The config file, read again on reload.
    config_path: PathBuf,
    /// The address listened on; a reload cannot move it.
    listen_address: String,
    /// Whether `POST /-/reload` is served (`--web.enable-lifecycle`).
    lifecycle: bool,
    current: RwLock<Arc<Targets>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

/// The targets in force.
struct Targets {
    probes: Vec<Arc<TargetProbe>>,
    /// Probe budget when a scrape has no timeout header.
    default_timeout: Duration,
    /// What the config's `${VAR}`s expanded to, masked in debug output.
    secrets: Vec<String>,
}

impl App {
    /// Builds every target of `config` (read from `config_path`) and starts their
    /// consumers. Must run inside a Tokio runtime.
    pub fn start(config_path: PathBuf, config: &config::Config, shared: Arc<Shared>, lifecycle: bool) -> App {
        let targets = Targets {
            probes: build_all(config, &shared, Running::new()),
            default_timeout: config.defaults.timeout,
            secrets: config.secrets.clone(),
        };
        loaded(&shared);
        App {
            shared,
            config_path,
            listen_address: config.web.listen_address.clone(),
            lifecycle,
            current: RwLock::new(Arc::new(targets)),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// How many targets run.
    pub fn target_count(&self) -> usize {
        self.targets().probes.len()
    }

    fn targets(&self) -> Arc<Targets> {
        Arc::clone(&self.current.read().expect("not poisoned"))
    }

    /// Reads the config file again: unchanged targets keep their connections and
    /// background state, changed and new ones start, removed ones stop. A file with
    /// problems keeps the running config; every problem is logged and returned.
    pub async fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.reloading.lock().await;
        let config = match config::load(&self.config_path) {
            Ok(config) => config,
            Err(e) => {
                for problem in &e.problems {
                    tracing::error!(
                        file = e.file,
                        key = problem.key,
                        "reload refused, the running config stays: {}",
                        problem.why
                    );
                }
                self.shared.reload_successful.set(0);
                return Err(e.to_string());
            }
        };
        if config.web.listen_address != self.listen_address {
            tracing::warn!(
                address = self.listen_address,
                "[web] listen_address changed: the new address takes a restart; still listening on the old one"
            );
        }
        let running: Running =
            self.targets().probes.iter().map(|p| ((p.kind, p.target.clone()), Arc::clone(p))).collect();
        let probes = build_all(&config, &self.shared, running);
        tracing::info!(targets = probes.len(), "config reloaded");
        *self.current.write().expect("not poisoned") =
            Arc::new(Targets { probes, default_timeout: config.defaults.timeout, secrets: config.secrets.clone() });
        loaded(&self.shared);
        crate::memory::release_freed();
        Ok(())
    }
}

/// Records a successful load (at start or on reload).
fn loaded(shared: &Shared) {
    shared.reload_successful.set(1);
    shared.reload_success_time.set(crate::epoch::now_ms() / 1000.0);
}

/// The exporter's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(landing))
        .route("/metrics", get(metrics))
        .route("/probe", get(probe))
        .route("/-/reload", post(reload))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(|| async { "Ready\n" }))
        .with_state(app)
}

fn scrape_budget(targets: &Targets, headers: &HeaderMap) -> Duration {
    budget(headers.get(TIMEOUT_HEADER).and_then(|v| v.to_str().ok()), targets.default_timeout)
}

/// Sends an exposition piece by piece (no copy into one string), with its length.
fn send(exposition: Exposition) -> Response {
    // What the probes built the exposition from is freed by now.
    crate::memory::release_freed();
    let length = exposition.len();
    let pieces = exposition.into_pieces().into_iter().map(Ok::<_, std::convert::Infallible>);
    let headers = [
        (header::CONTENT_TYPE, tickwatch_common::TEXT_FORMAT.to_owned()),
        (header::CONTENT_LENGTH, length.to_string()),
    ];
    (headers, Body::from_stream(futures_util::stream::iter(pieces))).into_response()
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let targets = app.targets();
    send(scrape(&targets.probes, scrape_budget(&targets, &headers), &app.shared).await)
}

async fn probe(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = query.get("target") else {
        return (StatusCode::BAD_REQUEST, "missing ?target=NAME (a target name from the config)\n").into_response();
    };
    let targets = app.targets();
    let Some(probe) = targets.probes.iter().find(|p| p.target == *name) else {
        let known: Vec<&str> = targets.probes.iter().map(|p| p.target.as_str()).collect();
        let message = format!("unknown target `{name}`; configured targets: {}\n", known.join(", "));
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    let budget = scrape_budget(&targets, &headers);
    if query.get("debug").is_some_and(|d| d == "true") {
        let text = debug(probe, budget).await;
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], mask(&text, &targets.secrets)).into_response();
    }
    send(scrape_one(probe, budget, &app.shared).await)
}

/// One probe of `probe` of its own (not shared with scrapes), told step by step: what it
/// did, how it ended, and the series it produced (blackbox_exporter's `debug=true`).
async fn debug(probe: &TargetProbe, budget: Duration) -> String {
    let start = std::time::Instant::now();
    let (outcome, steps) = trace::traced(probe_once(probe.probe.as_ref(), budget)).await;
    let took = start.elapsed().as_secs_f64();
    let mut text = format!("Probing {} target `{}` with a budget of {budget:?}\n\nSteps:\n", probe.kind, probe.target);
    for line in &steps {
        text.push_str(&format!("  {line}\n"));
    }
    if steps.is_empty() {
        text.push_str("  (this kind of probe does not report its steps)\n");
    }
    let samples = match outcome {
        Ok(samples) => {
            text.push_str(&format!("\nProbe succeeded in {took:.6}s\n"));
            samples
        }
        Err(e) => {
            text.push_str(&format!("\nProbe failed in {took:.6}s: reason {}: {}\n", e.reason, e.message));
            e.samples
        }
    };
    text.push_str("\nMetrics that would have been returned:\n");
    text.extend(encode(samples, &[]).into_pieces());
    text
}

/// `POST /-/reload`, as Prometheus answers it: 403 without `--web.enable-lifecycle`, 500
/// with the problems when the file is refused.
async fn reload(State(app): State<Arc<App>>) -> Response {
    if !app.lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled (start with --web.enable-lifecycle).\n")
            .into_response();
    }
    match app.reload().await {
        Ok(()) => (StatusCode::OK, "config reloaded\n").into_response(),
        Err(problems) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{problems}\nthe running config stays\n")).into_response()
        }
    }
}

async fn landing(State(app): State<Arc<App>>) -> Html<String> {
    let rows: String = app
        .targets()
        .probes
        .iter()
        .map(|p| {
            let name = escape(&p.target);
            format!("<tr><td>{}</td><td>{name}</td><td><a href=\"/probe?target={name}\">probe</a></td></tr>\n", p.kind)
        })
        .collect();
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>tickwatch-exporter</title></head><body>\n\
         <h1>tickwatch-exporter {}</h1>\n<p><a href=\"/metrics\">/metrics</a> (every target) · \
         <a href=\"/-/healthy\">/-/healthy</a> · <a href=\"/-/ready\">/-/ready</a></p>\n\
         <table><tr><th>kind</th><th>target</th><th></th></tr>\n{rows}</table>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    ))
}

/// Escapes text for HTML (target names are free-form strings from the config).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
