//! Restart decisions and exponential backoff.
//!
//! After an exit that was not asked for, the policy decides whether to
//! restart (`no`: never; `on-failure`: non-zero code or killed by a signal;
//! `always`: any exit). Consecutive restarts wait `initial · 2^(n-1)`,
//! capped at `max`; a run that lasted [`RESET_AFTER`] or longer starts the
//! count again. After `max_retries` consecutive restarts the service is
//! marked failed (a crash loop, visible in status with the last exit and the
//! log tail).

use std::time::Duration;

use crate::model::spec::{RestartPolicy, RestartSpec};
use crate::model::wire::ExitInfo;

/// A run at least this long resets the consecutive-restart count.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// What to do after an unrequested exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Leave it exited.
    Stay,
    /// Restart after `delay`; this is consecutive restart number `attempt`.
    Restart {
        /// Delay before the restart.
        delay: Duration,
        /// Consecutive restart number, from 1.
        attempt: u32,
    },
    /// `max_retries` reached.
    GiveUp,
}

/// Decide; `attempt` is the number of consecutive restarts so far.
pub fn decide(spec: &RestartSpec, exit: &ExitInfo, attempt: u32) -> Decision {
    let restart = match spec.policy {
        RestartPolicy::No => false,
        RestartPolicy::OnFailure => !exit.is_success(),
        RestartPolicy::Always => true,
    };
    if !restart {
        return Decision::Stay;
    }
    let attempt = if exit.ran_for >= RESET_AFTER {
        1
    } else {
        attempt + 1
    };
    if spec.max_retries.is_some_and(|max| attempt > max) {
        return Decision::GiveUp;
    }
    Decision::Restart {
        delay: backoff(spec, attempt),
        attempt,
    }
}

/// Delay before consecutive restart `attempt` (from 1).
pub fn backoff(spec: &RestartSpec, attempt: u32) -> Duration {
    crate::model::units::backoff(spec.backoff_initial, spec.backoff_max, attempt)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn exit(code: i32, ran: u64) -> ExitInfo {
        ExitInfo {
            code: Some(code),
            signal: None,
            at: SystemTime::now(),
            ran_for: Duration::from_secs(ran),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let spec = RestartSpec {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..RestartSpec::default()
        };
        let d: Vec<u128> = (1..=5).map(|n| backoff(&spec, n).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn policies() {
        let mut spec = RestartSpec {
            max_retries: Some(2),
            ..RestartSpec::default()
        };
        assert_eq!(decide(&spec, &exit(0, 0), 0), Decision::Stay);
        assert!(matches!(
            decide(&spec, &exit(3, 0), 0),
            Decision::Restart { attempt: 1, .. }
        ));
        assert_eq!(decide(&spec, &exit(3, 0), 2), Decision::GiveUp);
        assert!(matches!(
            decide(&spec, &exit(3, 60), 2),
            Decision::Restart { attempt: 1, .. }
        ));
        spec.policy = RestartPolicy::Always;
        assert!(matches!(
            decide(&spec, &exit(0, 0), 0),
            Decision::Restart { .. }
        ));
        spec.policy = RestartPolicy::No;
        assert_eq!(decide(&spec, &exit(3, 0), 0), Decision::Stay);
    }
}
