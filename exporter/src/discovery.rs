//! Discovery results kept between scrapes: finding keys is far more expensive than
//! reading them, so it runs at most once per interval, not on every scrape.

use crate::exposition::{Samples, families};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

families! {
    DISCOVERED: gauge "tickwatch_discovered_keys", "Keys found by the last discovery, by kind, target and what was looked for.";
    TRUNCATED: gauge "tickwatch_discovery_truncated", "1 when the last discovery found more keys than max_keys allows and reported only the first max_keys.";
}

/// What one discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    pub keys: Vec<String>,
    pub truncated: bool,
}

impl Discovered {
    /// Reports how many keys were found and whether the cap cut them off.
    pub fn report(&self, kind: &str, target: &str, what: &str, out: &mut Samples) {
        let labels = [("kind", kind), ("target", target), ("what", what)];
        out.add(&DISCOVERED, &labels, self.keys.len() as f64);
        out.add(&TRUNCATED, &labels, if self.truncated { 1.0 } else { 0.0 });
    }
}

/// A discovery result refreshed at most once per interval.
pub struct Cached {
    interval: Duration,
    state: Mutex<Option<(Instant, Arc<Discovered>)>>,
}

impl Cached {
    pub fn new(interval: Duration) -> Cached {
        Cached { interval, state: Mutex::new(None) }
    }

    /// The cached result, or a fresh one from `discover` when it is older than the
    /// interval. A failed discovery keeps nothing, so the next scrape tries again.
    pub async fn get<E, F: Future<Output = Result<Discovered, E>>>(
        &self,
        discover: impl FnOnce() -> F,
    ) -> Result<Arc<Discovered>, E> {
        let mut state = self.state.lock().await;
        if let Some((at, found)) = state.as_ref()
            && at.elapsed() < self.interval
        {
            return Ok(Arc::clone(found));
        }
        let found = Arc::new(discover().await?);
        *state = Some((Instant::now(), Arc::clone(&found)));
        Ok(found)
    }
}
