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
pub mod trace;
pub mod websocket;

use crate::config::{self, Config, Problem, Target, Targets};
use crate::exposition::{Family, Samples};
use crate::reason::Reason;
use crate::scrape::Rounds;
use crate::shared::Shared;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Why a probe failed: a short, bounded `reason` label and a message for the log (which
/// never holds credentials), with what it could still read (a monitor that lost its
/// gateway still knows how long ago the last message came).
#[derive(Debug, Clone)]
pub struct ProbeError {
    pub reason: Reason,
    pub message: String,
    pub samples: Samples,
}

impl ProbeError {
    pub fn new(reason: Reason, message: impl Into<String>) -> ProbeError {
        ProbeError { reason, message: message.into(), samples: Samples::new() }
    }

    /// The error, reported together with `samples`.
    pub fn with_samples(self, samples: Samples) -> ProbeError {
        ProbeError { samples, ..self }
    }
}

impl From<::redis::RedisError> for ProbeError {
    fn from(error: ::redis::RedisError) -> ProbeError {
        let message = match tickwatch_common::tls::explain(&error) {
            Some(hint) => format!("{error}: {hint}"),
            None => error.to_string(),
        };
        ProbeError::new(crate::redis_conn::reason(&error), message)
    }
}

/// What a probe's future resolves to.
pub type ProbeResult = Result<Samples, ProbeError>;

/// A boxed probe future, so kinds can sit side by side behind `dyn Probe`.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>>;

/// Reads one configured target. Every sample carries a `target` label.
pub trait Probe: Send + Sync {
    fn probe(&self) -> ProbeFuture<'_>;
}

/// A built probe with what every scrape of it is labelled with and reports on failure.
pub struct TargetProbe {
    /// The kind's section (the `kind` label).
    pub kind: &'static str,
    /// The configured name (the `target` label).
    pub target: String,
    /// The kind's `..._up` family, reported as 0 when the probe fails.
    pub up: Option<&'static Family>,
    pub probe: Arc<dyn Probe>,
    /// Where its TLS looks for trust and identity, logged with a `tls` failure.
    pub tls_context: Option<String>,
    /// The round running now, shared by concurrent scrapes.
    pub rounds: Rounds,
    /// What it was built from ([`Config::fingerprint`]).
    pub fingerprint: String,
}

/// The running probes by (kind, target), for a reload to keep what did not change.
pub type Running = HashMap<(&'static str, String), Arc<TargetProbe>>;

/// A target whose client could not be built: it stays in every scrape, failing with
/// reason `config` and saying why, instead of silently having no series.
struct Unbuildable(String);

impl Probe for Unbuildable {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move { Err(ProbeError::new(Reason::Config, self.0.clone())) })
    }
}

/// A probe kind: its config section (which is also its `kind` label), its target type
/// `T` (typed config, checks and docs in the kind's own module), and how probes (and any
/// background consumers) are built from its targets.
pub struct Kind<T> {
    pub section: &'static str,
    /// How `--check-config` counts its entries: `target` or `feed`.
    pub counted_as: &'static str,
    /// Its `..._up` family, if it has one.
    pub up: Option<&'static Family>,
    pub build: BuildProbes<T>,
}

/// Builds the probes of a kind's targets (and starts their background consumers): one
/// result per target, in order; an error makes that target fail every scrape with reason
/// `config`.
pub type BuildProbes<T> = fn(&[T], &Config, &Arc<Shared>) -> Vec<Result<Arc<dyn Probe>, String>>;

/// What loading and starting need of a kind, whatever its target type.
pub trait AnyKind: Sync {
    fn section(&self) -> &'static str;
    fn counted_as(&self) -> &'static str;
    /// Reads the section's tables, each on its own, as the kind's targets.
    fn read(&self, items: Vec<toml::Value>, problems: &mut Vec<Problem>) -> Arc<dyn Targets>;
    /// The probes of the kind's targets in `config`: taken from `running` where the
    /// target did not change, built (and their consumers started) where it did or is
    /// new; a changed target's old consumers are stopped first.
    fn build(&self, config: &Config, shared: &Arc<Shared>, running: &mut Running) -> Vec<Arc<TargetProbe>>;
    /// The keys one of its tables accepts (for the config reference and its test).
    fn keys(&self) -> Vec<String>;
}

impl<T: Target> AnyKind for Kind<T> {
    fn section(&self) -> &'static str {
        self.section
    }

    fn counted_as(&self) -> &'static str {
        self.counted_as
    }

    fn read(&self, items: Vec<toml::Value>, problems: &mut Vec<Problem>) -> Arc<dyn Targets> {
        let targets: Vec<T> = items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| config::read(item, &format!("{}[{i}]", self.section), problems))
            .collect();
        Arc::new(targets)
    }

    fn build(&self, config: &Config, shared: &Arc<Shared>, running: &mut Running) -> Vec<Arc<TargetProbe>> {
        let mut kept = HashMap::new();
        let mut changed = Vec::new();
        for target in config.targets::<T>() {
            let key = (self.section, target.name().to_owned());
            let fingerprint = config.fingerprint(self.section, target);
            match running.remove(&key) {
                Some(probe) if probe.fingerprint == fingerprint => {
                    kept.insert(key.1, probe);
                }
                previous => {
                    if previous.is_some() {
                        stop(shared, self.section, &key.1);
                    }
                    changed.push((target.clone(), fingerprint));
                }
            }
        }
        let targets: Vec<T> = changed.iter().map(|(t, _)| t.clone()).collect();
        let built = (self.build)(&targets, config, shared);
        debug_assert_eq!(built.len(), targets.len(), "{}: one result per target", self.section);
        for ((target, fingerprint), built) in changed.into_iter().zip(built) {
            let probe = built.unwrap_or_else(|e| {
                tracing::error!(target = target.name(), "{} target cannot be started: {e}", self.section);
                Arc::new(Unbuildable(e))
            });
            let name = target.name().to_owned();
            let built = Arc::new(TargetProbe {
                kind: self.section,
                target: name.clone(),
                up: self.up,
                probe,
                tls_context: target.tls_context(),
                rounds: Rounds::default(),
                fingerprint,
            });
            kept.insert(name, built);
        }
        config.targets::<T>().iter().filter_map(|t| kept.remove(t.name())).collect()
    }

    fn keys(&self) -> Vec<String> {
        tickwatch_common::keys::keys_of::<T>(&[])
    }
}

/// Every probe kind, in the order they are loaded and started. Adding a kind is one
/// module above and one line here.
pub const KINDS: &[&dyn AnyKind] = &[
    &Kind { section: "redis", counted_as: "target", up: Some(&redis::UP), build: redis::build },
    &Kind { section: "celery", counted_as: "target", up: None, build: celery::build },
    &Kind { section: "mongodb", counted_as: "target", up: Some(&mongodb::UP), build: mongodb::build },
    &Kind { section: "websocket", counted_as: "target", up: None, build: websocket::build },
    // After websocket: feeds read the monitors' taps.
    &Kind { section: "feed", counted_as: "feed", up: None, build: feed::build },
];

/// The probes of every configured target, in config order within each kind: those of
/// `running` whose targets did not change are kept as they are (connections, consumers
/// and counters go on), the rest are built; targets no longer configured are stopped.
/// Must run inside a Tokio runtime (background consumers are spawned here).
pub fn build_all(config: &Config, shared: &Arc<Shared>, mut running: Running) -> Vec<Arc<TargetProbe>> {
    let probes = KINDS.iter().flat_map(|kind| kind.build(config, shared, &mut running)).collect();
    for (kind, name) in running.into_keys() {
        stop(shared, kind, &name);
    }
    probes
}

/// Stops what runs in the background for a target that was removed or changed.
fn stop(shared: &Shared, kind: &'static str, name: &str) {
    shared.consumers.stop(kind, name);
    shared.taps.lock().expect("not poisoned").remove(name);
}
