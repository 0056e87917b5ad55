//! Staged timeouts and condition polling.
//!
//! Waiting in the live gate is always "poll a condition until a deadline", never a bare sleep
//! used as synchronisation.

use std::time::{Duration, Instant};

/// The timeouts every cell uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a resident may take from spawn to a connectable socket.
    pub boot: Duration,
    /// How often a condition is re-checked.
    pub poll: Duration,
    /// How long a resident gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// How long an effect (a transcript entry, a file) may take to show up after an ack.
    pub settle: Duration,
}

impl Timeouts {
    /// Boot 30 s, poll 100 ms, grace 2 s, settle 10 s.
    pub const STANDARD: Timeouts = Timeouts {
        boot: Duration::from_secs(30),
        poll: Duration::from_millis(100),
        grace: Duration::from_secs(2),
        settle: Duration::from_secs(10),
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::STANDARD
    }
}

/// Calls `probe` every `every` until it returns `Some` or `deadline` has passed since the call.
/// Returns the value and the time it took, or `None` on timeout (after one last probe).
pub fn poll_until<T>(
    deadline: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<(T, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some((v, start.elapsed()));
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            return None;
        }
        std::thread::sleep(every.min(deadline - elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_value_the_probe_yields() {
        let mut n = 0;
        let got = poll_until(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(got.map(|(v, _)| v), Some(3));
    }

    #[test]
    fn gives_up_after_the_deadline_with_a_final_probe() {
        let mut n = 0;
        let got: Option<((), _)> = poll_until(Duration::ZERO, Duration::from_millis(1), || {
            n += 1;
            None
        });
        assert!(got.is_none());
        assert_eq!(n, 1);
    }
}
