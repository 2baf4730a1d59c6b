//! Serving HTTP the way an operator deploys it: TLS, client certificates and basic
//! authentication from a `--web.config.file` in exporter-toolkit's format (picked up
//! again when it or its certificate files change), response headers, and limits that
//! keep slow or idle clients from starving Prometheus's scrapes. The exporter and the
//! loadgen's metrics endpoint both serve through here.

mod auth;
pub mod config;
mod serve;

pub use config::WebSettings;
pub use serve::{Limits, WebServer, serve};
