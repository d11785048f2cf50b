//! A circuit breaker per backend (OTLP, Rollbar, the late secrets): a backend that fails is paid
//! for once, not on every invocation.
//!
//! Closed, the runtime waits for the backend after each response, up to its deadline. The first
//! failure (no answer by the deadline, a refused connection, a 5xx or 429) opens the breaker:
//! later flushes do not wait on that backend at all, and what it should receive stays queued
//! (bounded). Once the backoff has passed, one flush sends a probe (everything queued, oldest
//! first) and waits for it at most the probe budget: an answer closes the breaker, anything else
//! opens it again for twice as long, with jitter, up to the cap. A `Retry-After` (or Rollbar's
//! rate-limit window) is waited out in full. A 401 or 403 stops the backend for the life of the
//! process, with one log line naming the setting to fix: wrong credentials do not heal by retrying.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The retry schedule of every breaker (`LAMBDA_TELEMETRY_RETRY_BASE_MS`,
/// `LAMBDA_TELEMETRY_RETRY_MAX_MS`, `LAMBDA_TELEMETRY_PROBE_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// The first wait after a failure.
    pub(crate) base: Duration,
    /// The longest wait: the bound on how long a recovered backend goes unused.
    pub(crate) max: Duration,
    /// The most a flush waits for a probe.
    pub(crate) probe: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            probe: Duration::from_millis(50),
        }
    }
}

/// How a backend failed.
#[derive(Debug, Clone, PartialEq, Eq)]
// Without an HTTP backend (`otlp`, `rollbar`), only the secrets read fails, and only as unavailable.
#[cfg_attr(not(feature = "https"), allow(dead_code))]
pub(crate) enum Failure {
    /// No answer in time, a refused connection, a network error, a 5xx: retried with backoff.
    Unavailable(String),
    /// A 429 or 503 that says how long to wait (`Retry-After`, a rate-limit window).
    RetryAfter(Duration, String),
    /// 401 or 403: the credentials are wrong; retrying cannot help.
    Refused(String),
}

/// What a flush may do with a backend now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// Send, and wait for the answer at most this long.
    Send(Duration),
    /// Send a probe, and wait for it at most this long (the probe budget).
    Probe(Duration),
    /// Do not send and do not wait: the backend is resting (or a probe is still out).
    Hold,
    /// The backend is off for good (its credentials were refused).
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Closed,
    Open { until: Instant },
    Probing,
    Stopped,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Failures in a row: the exponent of the next backoff.
    failures: u32,
}

/// One backend's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    /// The backend, as log lines name it.
    backend: &'static str,
    /// What to fix when the backend refuses the credentials.
    credentials: &'static str,
    backoff: Backoff,
    state: Mutex<State>,
    /// `Phase::Stopped`, readable without the lock: span export asks it for every span.
    stopped: AtomicBool,
}

impl Breaker {
    pub(crate) fn new(backend: &'static str, credentials: &'static str, backoff: Backoff) -> Self {
        Self {
            backend,
            credentials,
            backoff,
            state: Mutex::new(State {
                phase: Phase::Closed,
                failures: 0,
            }),
            stopped: AtomicBool::new(false),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a flush may do now, given how long it would wait for a healthy backend. A probe is
    /// handed out once: until its outcome is known, other flushes hold.
    pub(crate) fn permit(&self, budget: Duration) -> Permit {
        let mut state = self.state();
        match state.phase {
            Phase::Closed => Permit::Send(budget),
            Phase::Open { until } if Instant::now() < until => Permit::Hold,
            Phase::Open { .. } => {
                state.phase = Phase::Probing;
                Permit::Probe(budget.min(self.backoff.probe))
            }
            Phase::Probing => Permit::Hold,
            Phase::Stopped => Permit::Stopped,
        }
    }

    /// Whether the backend is off for good (its credentials were refused).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Whether the backend is healthy (closed).
    #[cfg(test)]
    fn is_closed(&self) -> bool {
        self.state().phase == Phase::Closed
    }

    /// The backend answered: the breaker closes.
    pub(crate) fn succeeded(&self) {
        let mut state = self.state();
        if state.phase == Phase::Stopped {
            return;
        }
        let was = std::mem::replace(&mut state.phase, Phase::Closed);
        let failures = std::mem::take(&mut state.failures);
        drop(state);
        if matches!(was, Phase::Open { .. } | Phase::Probing) {
            tracing::info!(target: "telemetry", backend = self.backend, failures, "{} answers again; sending what was queued", self.backend);
        }
    }

    /// The backend failed: the breaker opens for the next backoff (or stops, for refused
    /// credentials). Logs when it first opens and when it stops, never per failure.
    pub(crate) fn failed(&self, failure: Failure) {
        let mut state = self.state();
        if state.phase == Phase::Stopped {
            return;
        }
        let (wait, why) = match failure {
            Failure::Refused(why) => {
                state.phase = Phase::Stopped;
                self.stopped.store(true, Ordering::Release);
                drop(state);
                tracing::error!(target: "telemetry", backend = self.backend, error = %why, "{} refused the credentials: check {}; {} stays off until the function restarts", self.backend, self.credentials, self.backend);
                return;
            }
            Failure::Unavailable(why) => (self.next_wait(state.failures), why),
            Failure::RetryAfter(wait, why) => (wait.max(self.next_wait(state.failures)), why),
        };
        let first = state.phase == Phase::Closed;
        state.failures = state.failures.saturating_add(1);
        state.phase = Phase::Open {
            until: Instant::now() + wait,
        };
        drop(state);
        if first {
            tracing::warn!(target: "telemetry", backend = self.backend, error = %why, retry_in_ms = wait.as_millis() as u64, "{} is failing: it is retried with backoff, and meanwhile no invocation waits for it (what it should get is held, within its bound)", self.backend);
        }
    }

    /// The backoff after `failures` failures in a row: doubling from the base up to the cap,
    /// with "equal jitter" (half fixed, half random), so many sandboxes do not retry in step.
    fn next_wait(&self, failures: u32) -> Duration {
        let doubled = self
            .backoff
            .base
            .saturating_mul(1u32 << failures.min(20))
            .min(self.backoff.max);
        let half = doubled / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(base_ms: u64) -> Breaker {
        Breaker::new(
            "test backend",
            "TEST_TOKEN",
            Backoff {
                base: Duration::from_millis(base_ms),
                max: Duration::from_millis(base_ms * 4),
                probe: Duration::from_millis(5),
            },
        )
    }

    #[test]
    fn a_failure_holds_every_flush_until_one_probe_after_the_backoff() {
        let b = breaker(30);
        assert_eq!(
            b.permit(Duration::from_secs(1)),
            Permit::Send(Duration::from_secs(1))
        );
        b.failed(Failure::Unavailable("refused".into()));
        assert_eq!(b.permit(Duration::from_secs(1)), Permit::Hold);
        std::thread::sleep(Duration::from_millis(35));
        assert_eq!(
            b.permit(Duration::from_secs(1)),
            Permit::Probe(Duration::from_millis(5))
        );
        assert_eq!(
            b.permit(Duration::from_secs(1)),
            Permit::Hold,
            "one probe at a time"
        );
        b.succeeded();
        assert!(b.is_closed());
        assert_eq!(
            b.permit(Duration::from_millis(7)),
            Permit::Send(Duration::from_millis(7))
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let b = breaker(100);
        for (failures, low, high) in [(0, 50, 100), (1, 100, 200), (2, 200, 400), (9, 200, 400)] {
            for _ in 0..50 {
                let wait = b.next_wait(failures).as_millis();
                assert!((low..=high).contains(&wait), "{failures}: {wait}");
            }
        }
    }

    #[test]
    fn retry_after_is_waited_out_and_refused_credentials_stop_for_good() {
        let b = breaker(1);
        b.failed(Failure::RetryAfter(Duration::from_secs(60), "429".into()));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            b.permit(Duration::from_secs(1)),
            Permit::Hold,
            "the named window holds"
        );
        b.failed(Failure::Refused("403".into()));
        assert_eq!(b.permit(Duration::from_secs(1)), Permit::Stopped);
        b.succeeded(); // a late answer to an earlier request cannot revive it
        assert_eq!(b.permit(Duration::from_secs(1)), Permit::Stopped);
    }
}
