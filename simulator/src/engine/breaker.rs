//! Circuit breakers (SPEC "Request semantics"), one per caller service → callee link.
//!
//! Closed, it counts call attempts and failures over the last `window_s` in ten buckets;
//! when at least `min_calls` were made and the failed share reaches `error_threshold` it
//! opens: calls fail at once for `open_s`. Then one trial call is let through (half-open):
//! its success closes the breaker, its failure opens it again.

use serde::{Deserialize, Serialize};

use crate::queue::{Nanos, secs};
use crate::topology::Breaker;

const BUCKETS: usize = 10;

/// The breaker's state as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

pub struct CircuitBreaker {
    threshold: f64,
    min_calls: u64,
    bucket_len: Nanos,
    open_for: Nanos,
    /// `(bucket start, calls, failures)`, a ring indexed by `start / bucket_len % BUCKETS`.
    buckets: [(Nanos, u64, u64); BUCKETS],
    state: BreakerState,
    open_until: Nanos,
    trial_in_flight: bool,
}

/// Whether a call may go out, and whether it is the half-open trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    Trial,
    Rejected,
}

impl CircuitBreaker {
    pub fn new(config: &Breaker) -> CircuitBreaker {
        CircuitBreaker {
            threshold: config.error_threshold,
            min_calls: u64::from(config.min_calls),
            bucket_len: (secs(config.window_s) / BUCKETS as u64).max(1),
            open_for: secs(config.open_s),
            buckets: [(Nanos::MAX, 0, 0); BUCKETS],
            state: BreakerState::Closed,
            open_until: 0,
            trial_in_flight: false,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to send a call at `now`.
    pub fn admit(&mut self, now: Nanos) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open if now >= self.open_until => {
                self.state = BreakerState::HalfOpen;
                self.trial_in_flight = true;
                Admission::Trial
            }
            BreakerState::Open => Admission::Rejected,
            BreakerState::HalfOpen if !self.trial_in_flight => {
                self.trial_in_flight = true;
                Admission::Trial
            }
            BreakerState::HalfOpen => Admission::Rejected,
        }
    }

    /// Records the outcome of an admitted call at `now`.
    pub fn record(&mut self, now: Nanos, admission: Admission, ok: bool) {
        match admission {
            Admission::Rejected => {}
            Admission::Trial => {
                self.trial_in_flight = false;
                if ok {
                    self.state = BreakerState::Closed;
                    self.buckets = [(Nanos::MAX, 0, 0); BUCKETS];
                } else {
                    self.open(now);
                }
            }
            Admission::Allowed => {
                if self.state != BreakerState::Closed {
                    return; // a call sent before the breaker opened
                }
                let start = now - now % self.bucket_len;
                let slot = &mut self.buckets[(start / self.bucket_len) as usize % BUCKETS];
                if slot.0 != start {
                    *slot = (start, 0, 0);
                }
                slot.1 += 1;
                slot.2 += u64::from(!ok);
                let horizon = now.saturating_sub(self.bucket_len * BUCKETS as u64);
                let (calls, failures) = self
                    .buckets
                    .iter()
                    .filter(|(start, ..)| *start != Nanos::MAX && *start > horizon)
                    .fold((0, 0), |(c, f), (_, calls, fails)| (c + calls, f + fails));
                if calls >= self.min_calls && failures as f64 >= self.threshold * calls as f64 {
                    self.open(now);
                }
            }
        }
    }

    fn open(&mut self, now: Nanos) {
        self.state = BreakerState::Open;
        self.open_until = now + self.open_for;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(&Breaker {
            error_threshold: 0.5,
            window_s: 10.0,
            min_calls: 4,
            open_s: 5.0,
        })
    }

    #[test]
    fn opens_on_failures_then_a_trial_decides() {
        let mut b = breaker();
        let t = secs(1.0);
        for ok in [true, false, true] {
            assert_eq!(b.admit(t), Admission::Allowed);
            b.record(t, Admission::Allowed, ok);
        }
        assert_eq!(b.state(), BreakerState::Closed, "below min_calls");
        b.record(t, Admission::Allowed, false); // 2 of 4 failed: 50%
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admit(secs(3.0)), Admission::Rejected);
        assert_eq!(b.admit(secs(6.0)), Admission::Trial);
        assert_eq!(
            b.admit(secs(6.0)),
            Admission::Rejected,
            "one trial at a time"
        );
        b.record(secs(6.1), Admission::Trial, false);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.admit(secs(11.2)), Admission::Trial);
        b.record(secs(11.3), Admission::Trial, true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let mut b = breaker();
        for _ in 0..3 {
            b.record(secs(1.0), Admission::Allowed, false);
        }
        // Eleven seconds later the three failures are out of the 10 s window.
        for _ in 0..3 {
            b.record(secs(12.0), Admission::Allowed, true);
        }
        b.record(secs(12.0), Admission::Allowed, false);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
