//! Feed data quality: `[[feed]]` targets are consumed in the background (Redis pub/sub,
//! Redis streams, a monitor-mode WebSocket target, or a polled MongoDB collection), every
//! message is decoded and checked (`tickwatch_feed::quality`), and the results are
//! exported as the seed platforms name them: `data_quality_score`,
//! `data_quality_checks_total`, `data_anomalies_detected_total`, plus
//! `option_chain_pcr`. A scrape reports each symbol's last-message age.

mod config;
pub mod decode;
mod deribit_chains;
pub mod pipeline;
mod sources;

pub use config::{FeedFormat, FeedKind, FeedSource, FeedTarget, FieldMap, TsUnit};

use crate::config::Config;
use crate::exposition::{Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture};
use crate::reason::Reason;
use crate::shared::Shared;
use futures_util::FutureExt;
use pipeline::{FeedMetrics, LastSeen, Pipeline};
use prometheus::IntGauge;
use sources::{Source, SourceContext};
use std::sync::Arc;

families! {
    LAST_MESSAGE_AGE: gauge "data_last_message_age_seconds", "Seconds since the symbol's last message arrived.";
    STALE_AFTER: gauge "data_feed_stale_after_seconds", "The feed's configured stale_after: how long a symbol may be silent before it is stale (and FeedStale fires).";
}

/// Builds one probe per `[[feed]]` and starts its consumer.
pub fn build(targets: &[FeedTarget], config: &Config, shared: &Arc<Shared>) -> Vec<Result<Arc<dyn Probe>, String>> {
    if targets.is_empty() {
        return Vec::new();
    }
    let metrics = Arc::new(FeedMetrics::register(shared));
    let lagged = shared.counter_vec(
        "data_feed_messages_lost_total",
        "Messages a feed fell too far behind its WebSocket monitor to read.",
        &["feed"],
    );
    targets
        .iter()
        .map(|target| {
            let pipeline = Pipeline::new(target, Arc::clone(&metrics));
            let last_seen = Arc::clone(&pipeline.last_seen);
            let connected = metrics.connected.with_label_values(&[&target.name]);
            let ctx = SourceContext {
                feed: target.name.clone(),
                connected: connected.clone(),
                lagged: lagged.with_label_values(&[&target.name]),
            };
            let source = Source::resolve(&target.source, config, shared)?;
            // The pipeline (windows, scores) lives across restarts of its source loop.
            let pipeline = Arc::new(tokio::sync::Mutex::new(pipeline));
            let start = move || {
                let (source, pipeline, ctx) = (source.clone(), Arc::clone(&pipeline), ctx.clone());
                async move { sources::run(source, &mut *pipeline.lock().await, &ctx).await }.boxed()
            };
            shared.consumers.spawn("feed", &target.name, Box::new(start));
            let stale_after = target.stale_after.as_secs_f64();
            Ok(Arc::new(FeedProbe { name: target.name.clone(), connected, last_seen, stale_after }) as Arc<dyn Probe>)
        })
        .collect()
}

/// A feed as seen by a scrape: connected or not, and how old each symbol's data is.
pub struct FeedProbe {
    name: String,
    connected: IntGauge,
    last_seen: Arc<LastSeen>,
    /// `stale_after`, in seconds.
    stale_after: f64,
}

impl Probe for FeedProbe {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            let now = crate::epoch::now_ms();
            let mut out = Samples::new();
            out.add(&STALE_AFTER, &[("feed", &self.name)], self.stale_after);
            for (symbol, last_ms) in self.last_seen.snapshot() {
                let age = ((now - last_ms as f64) / 1000.0).max(0.0);
                out.add(&LAST_MESSAGE_AGE, &[("feed", &self.name), ("symbol", &symbol)], age);
            }
            if self.connected.get() == 1 {
                Ok(out)
            } else {
                // The ages go on growing while the source is away: FeedStale needs them most then.
                Err(ProbeError::new(Reason::Disconnected, "the feed's source is not connected").with_samples(out))
            }
        })
    }
}
