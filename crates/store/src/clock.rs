//! The time leases are measured in, for backends that keep their own leases.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The system clock plus an offset that only moves forward: a test expires a lease by
/// advancing the clock instead of sleeping through it.
#[derive(Debug, Default)]
pub struct LeaseClock {
    ahead: Mutex<Duration>,
}

impl LeaseClock {
    /// The current time as leases see it.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.ahead()
    }

    /// Moves this clock `by` ahead of the system clock (on top of earlier advances).
    pub fn advance(&self, by: Duration) {
        let mut ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        *ahead = ahead.saturating_add(by);
    }

    fn ahead(&self) -> Duration {
        *self.ahead.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let clock = LeaseClock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() >= before + Duration::from_secs(3600));
    }
}
