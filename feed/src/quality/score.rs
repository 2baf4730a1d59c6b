/// The weighted share of passed checks over the last `window` messages.
#[derive(Debug, Clone)]
pub struct RollingScore {
    /// Per message: (passed weight, evaluated weight); a ring buffer allocated once.
    ring: Box<[(f64, f64)]>,
    next: usize,
    filled: usize,
    passed: f64,
    total: f64,
}

impl RollingScore {
    /// A score over the last `window` messages (at least 1).
    pub fn new(window: usize) -> RollingScore {
        RollingScore {
            ring: vec![(0.0, 0.0); window.max(1)].into_boxed_slice(),
            next: 0,
            filled: 0,
            passed: 0.0,
            total: 0.0,
        }
    }

    /// Adds one message's results: the weight of its passed checks and of all its checks.
    pub fn observe(&mut self, passed: f64, total: f64) {
        if self.filled == self.ring.len() {
            let (p, t) = self.ring[self.next];
            self.passed -= p;
            self.total -= t;
        } else {
            self.filled += 1;
        }
        self.ring[self.next] = (passed, total);
        self.passed += passed;
        self.total += total;
        self.next = (self.next + 1) % self.ring.len();
    }

    /// The score in [0, 1]; 1 before anything was checked.
    pub fn score(&self) -> f64 {
        if self.total <= 0.0 { 1.0 } else { (self.passed / self.total).clamp(0.0, 1.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::RollingScore;

    #[test]
    fn falls_with_failures_and_recovers_when_they_leave_the_window() {
        let mut s = RollingScore::new(4);
        assert_eq!(s.score(), 1.0);
        s.observe(3.0, 6.0);
        s.observe(6.0, 6.0);
        assert_eq!(s.score(), 0.75);
        for _ in 0..4 {
            s.observe(6.0, 6.0);
        }
        assert_eq!(s.score(), 1.0);
    }
}
