//! Probe kinds: one module each, registered in [`KINDS`].
//!
//! A probe answers one question at scrape time ("what does this target say now?") and
//! returns its samples or a reason it could not. It never decides its own timeout: the
//! scrape gives every probe the same budget and runs them all concurrently, so one slow
//! target costs the scrape its own timeout and nothing more.

pub mod celery;
pub mod feed;
pub mod mongodb;
pub mod redis;
pub mod websocket;

use crate::config::Config;
use crate::exposition::{Family, Samples};
use crate::shared::Shared;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Why a probe failed: a short, bounded `reason` label and a message for the log (which
/// never holds credentials).
#[derive(Debug, Clone)]
pub struct ProbeError {
    pub reason: &'static str,
    pub message: String,
}

impl ProbeError {
    pub fn new(reason: &'static str, message: impl Into<String>) -> ProbeError {
        ProbeError { reason, message: message.into() }
    }
}

/// What a probe's future resolves to.
pub type ProbeResult = Result<Samples, ProbeError>;

/// A boxed probe future, so kinds can sit side by side behind `dyn Probe`.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>>;

/// One configured target of one kind.
pub trait Probe: Send + Sync {
    /// The kind, e.g. `redis` (the `kind` label).
    fn kind(&self) -> &'static str;
    /// The configured name (the `target` label).
    fn target(&self) -> &str;
    /// The kind's `..._up` family, reported as 0 when the probe fails.
    fn up_family(&self) -> Option<&'static Family> {
        None
    }
    /// Reads the target once. Every sample carries a `target` label.
    fn probe(&self) -> ProbeFuture<'_>;
}

/// Builds the probes of one kind from the config.
pub type BuildProbes = fn(&Config, &Arc<Shared>) -> Vec<Arc<dyn Probe>>;

/// A probe kind: how to build its probes (and start any background consumers) from
/// the config.
pub struct ProbeKind {
    pub name: &'static str,
    pub build: BuildProbes,
}

/// Every probe kind. Adding a kind is one module above and one line here.
pub const KINDS: &[ProbeKind] = &[
    ProbeKind { name: "redis", build: redis::build },
    ProbeKind { name: "celery", build: celery::build },
    ProbeKind { name: "mongodb", build: mongodb::build },
    ProbeKind { name: "websocket", build: websocket::build },
    // After websocket: feeds read the monitors' taps.
    ProbeKind { name: "feed", build: feed::build },
];

/// Builds the probes of every configured target, in config order within each kind.
/// Must run inside a Tokio runtime (background consumers are spawned here).
pub fn build_all(config: &Config, shared: &Arc<Shared>) -> Vec<Arc<dyn Probe>> {
    KINDS.iter().flat_map(|kind| (kind.build)(config, shared)).collect()
}
