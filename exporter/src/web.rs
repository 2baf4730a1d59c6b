//! HTTP: `/metrics` (every target), `/probe?target=NAME` (one configured target, by name
//! only: no address is ever taken from a request), `/-/healthy`, `/-/ready`, and a
//! landing page listing the targets.

use crate::probe::TargetProbe;
use crate::scrape::{budget, scrape, scrape_one};
use crate::shared::Shared;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The header Prometheus tells its scrape timeout in.
const TIMEOUT_HEADER: &str = "X-Prometheus-Scrape-Timeout-Seconds";

/// What the handlers share.
pub struct App {
    pub probes: Vec<TargetProbe>,
    pub shared: Arc<Shared>,
    /// Probe budget when a scrape has no timeout header.
    pub default_timeout: Duration,
}

/// The exporter's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(landing))
        .route("/metrics", get(metrics))
        .route("/probe", get(probe))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(|| async { "Ready\n" }))
        .with_state(app)
}

fn scrape_budget(app: &App, headers: &HeaderMap) -> Duration {
    budget(headers.get(TIMEOUT_HEADER).and_then(|v| v.to_str().ok()), app.default_timeout)
}

fn exposition(text: String) -> Response {
    ([(header::CONTENT_TYPE, tickwatch_common::TEXT_FORMAT)], text).into_response()
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    exposition(scrape(&app.probes, scrape_budget(&app, &headers), &app.shared).await)
}

async fn probe(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = query.get("target") else {
        return (StatusCode::BAD_REQUEST, "missing ?target=NAME (a target name from the config)\n").into_response();
    };
    let Some(probe) = app.probes.iter().find(|p| p.target == *name) else {
        let known: Vec<&str> = app.probes.iter().map(|p| p.target.as_str()).collect();
        let message = format!("unknown target `{name}`; configured targets: {}\n", known.join(", "));
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    exposition(scrape_one(probe, scrape_budget(&app, &headers), &app.shared).await)
}

async fn landing(State(app): State<Arc<App>>) -> Html<String> {
    let rows: String = app
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
