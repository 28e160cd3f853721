//! The technician screen's guard, sans-IO: what a technician PIN may be, how wrong PINs lock
//! the screen out for longer and longer, and when a technician's session ends.
//!
//! Five wrong PINs in a row lock the entry for [`FIRST_LOCK`]; each further wrong PIN doubles
//! the wait, up to [`LONGEST_LOCK`]. A right PIN clears the count. The shell keeps the
//! [`Lockout`] in the device database, so a restart (or a pulled plug) does not reset it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Wrong PINs in a row before the entry locks.
pub const FREE_TRIES: u32 = 5;
/// The first lock-out.
pub const FIRST_LOCK: Duration = Duration::from_secs(30);
/// The longest lock-out.
pub const LONGEST_LOCK: Duration = Duration::from_secs(3600);
/// Shortest and longest PIN, in digits.
pub const PIN_DIGITS: (usize, usize) = (6, 12);

/// Why a PIN cannot be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinProblem {
    #[error("a PIN has only digits")]
    NotDigits,
    #[error("a PIN has {} to {} digits", PIN_DIGITS.0, PIN_DIGITS.1)]
    Length,
    #[error("a PIN of one digit repeated, or of digits in a row, is too easy to guess")]
    TooEasy,
}

/// Whether `pin` may be a technician PIN.
pub fn pin_problem(pin: &str) -> Option<PinProblem> {
    if !pin.chars().all(|c| c.is_ascii_digit()) {
        return Some(PinProblem::NotDigits);
    }
    if !(PIN_DIGITS.0..=PIN_DIGITS.1).contains(&pin.len()) {
        return Some(PinProblem::Length);
    }
    let d: Vec<i32> = pin.bytes().map(|b| i32::from(b - b'0')).collect();
    let steps: Vec<i32> = d.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.iter().all(|s| *s == 0)
        || steps.iter().all(|s| *s == 1)
        || steps.iter().all(|s| *s == -1)
    {
        return Some(PinProblem::TooEasy);
    }
    None
}

/// Wrong PINs and the lock they earned; kept across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lockout {
    /// Wrong PINs in a row.
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Lockout {
    /// `Err(wait)` while the entry is locked.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), Duration> {
        match self.locked_until {
            Some(until) if until > now => Err((until - now).to_std().unwrap_or_default()),
            _ => Ok(()),
        }
    }

    /// A wrong PIN at `now`; returns the lock it earned, if any.
    pub fn failed(&mut self, now: DateTime<Utc>) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        let over = self.failures.checked_sub(FREE_TRIES)?;
        let lock = FIRST_LOCK
            .saturating_mul(2u32.saturating_pow(over.min(16)))
            .min(LONGEST_LOCK);
        self.locked_until = Some(now + TimeDelta::from_std(lock).unwrap_or(TimeDelta::hours(1)));
        Some(lock)
    }

    /// The right PIN: the count starts again.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }
}

/// A technician's session: it ends when left idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    last_touch: DateTime<Utc>,
    idle: Duration,
}

impl Session {
    pub fn start(now: DateTime<Utc>, idle: Duration) -> Self {
        Self {
            last_touch: now,
            idle,
        }
    }

    pub fn touched(&mut self, now: DateTime<Utc>) {
        self.last_touch = self.last_touch.max(now);
    }

    pub fn ended(&self, now: DateTime<Utc>) -> bool {
        (now - self.last_touch).to_std().unwrap_or_default() >= self.idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap() + TimeDelta::seconds(s)
    }

    #[test]
    fn a_pin_is_six_to_twelve_digits_not_too_easy_to_guess() {
        let cases = [
            ("480913", None),
            ("480913480913", None),
            ("48091", Some(PinProblem::Length)),
            ("4809134809134", Some(PinProblem::Length)),
            ("48 913", Some(PinProblem::NotDigits)),
            ("４８０９１３", Some(PinProblem::NotDigits)),
            ("000000", Some(PinProblem::TooEasy)),
            ("123456", Some(PinProblem::TooEasy)),
            ("987654", Some(PinProblem::TooEasy)),
        ];
        for (pin, want) in cases {
            assert_eq!(pin_problem(pin), want, "{pin}");
        }
    }

    #[test]
    fn five_wrong_pins_lock_the_entry_for_longer_each_time() {
        let mut l = Lockout::default();
        for i in 0..4 {
            assert_eq!(l.failed(at(i)), None, "try {i}");
            assert_eq!(l.check(at(i)), Ok(()));
        }
        assert_eq!(l.failed(at(4)), Some(Duration::from_secs(30)));
        assert_eq!(l.check(at(5)), Err(Duration::from_secs(29)));
        assert_eq!(l.check(at(34)), Ok(()));
        // Each further wrong PIN doubles the wait, up to an hour.
        let waits: Vec<u64> = (0..9)
            .map(|i| l.failed(at(100 + i)).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        // The right PIN clears it.
        l.succeeded();
        assert_eq!(l, Lockout::default());
        // It reads back as written (the shell keeps it across restarts).
        let mut l = Lockout::default();
        for i in 0..6 {
            l.failed(at(i));
        }
        let json = serde_json::to_string(&l).unwrap();
        let back: Lockout = serde_json::from_str(&json).unwrap();
        assert_eq!(back.check(at(10)), l.check(at(10)));
        assert!(back.check(at(10)).is_err());
    }

    #[test]
    fn a_session_ends_when_left_idle() {
        let mut s = Session::start(at(0), Duration::from_secs(120));
        assert!(!s.ended(at(119)));
        s.touched(at(100));
        assert!(!s.ended(at(219)));
        assert!(s.ended(at(220)));
        // A clock set back does not keep it open longer.
        s.touched(at(50));
        assert!(s.ended(at(220)));
    }
}
