//! Capped exponential backoff with jitter, for every loop that reconnects by itself.
//!
//! The jitter is drawn per loop from the standard library's randomly keyed hasher, so
//! consumers that lost the same server at the same moment spread their retries instead of
//! reconnecting in lockstep.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// The wait before the next reconnect attempt.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
    attempt: u64,
    jitter: RandomState,
}

impl Backoff {
    /// Starts at `first`, doubles per failed attempt, and never waits more than `max`
    /// plus half of it as jitter.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max, next: first, attempt: 0, jitter: RandomState::new() }
    }

    /// The delay for this attempt (the current step plus up to half of it at random);
    /// the step then doubles, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.attempt += 1;
        let half_ms = self.next.as_millis() as u64 / 2;
        let spread = Duration::from_millis(self.jitter.hash_one(self.attempt) % (half_ms + 1));
        let delay = self.next + spread;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Sleeps for [`next_delay`](Self::next_delay).
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Back to the first step, after a connection that worked.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn doubles_up_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let steps = [100, 200, 400, 400, 400];
        for step in steps {
            let d = b.next_delay().as_millis() as u64;
            assert!((step..=step + step / 2).contains(&d), "{d} ms for step {step}");
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(151));
    }

    #[test]
    fn two_loops_do_not_wait_in_lockstep() {
        let delays = |b: &mut Backoff| (0..8).map(|_| b.next_delay()).collect::<Vec<_>>();
        let first = Duration::from_millis(1000);
        let mut a = Backoff::new(first, first);
        let mut b = Backoff::new(first, first);
        assert_ne!(delays(&mut a), delays(&mut b));
    }
}
