//! The technician screen's guard, sans-IO: what a technician PIN may be, how wrong PINs lock
//! the screen out for longer and longer, when a technician's session ends, and the screen's
//! state machine over them ([`Technician`]: the hidden entry, the PIN pad, the pages).
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

/// How long a screen corner is held to open the technician's PIN entry.
pub const CORNER_HOLD: Duration = Duration::from_secs(3);
/// The PIN entry closes when left this long.
pub const PIN_IDLE: Duration = Duration::from_secs(60);

/// The technician screen's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Link, last sync, outbox, dead letters, replica, disk.
    Status,
    /// A live scan test per reader.
    Inputs,
    /// Relay pulse test and the passage sensor.
    Relay,
    Printer,
    Terminal,
    /// Out of service on or off.
    Service,
    /// Volunteer events with configuration problems.
    Volunteers,
}

/// What the technician screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechScreen {
    /// Hidden: the visitor screen shows.
    Closed,
    /// The PIN pad, with the digits typed so far (shown as dots) and why the last PIN was not
    /// taken.
    Pin {
        typed: String,
        wrong: bool,
    },
    /// Too many wrong PINs: the pad opens again at `until`.
    Locked {
        until: DateTime<Utc>,
    },
    Open {
        page: Page,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechEvent {
    /// A screen corner was held this long.
    CornerHeld(Duration),
    /// A technician's card was scanned.
    TechnicianCard,
    Digit(u8),
    Backspace,
    Submit,
    Close,
    Page(Page),
    /// The shell's answer to [`TechCommand::CheckPin`].
    Pin(PinAnswer),
    Tick,
}

/// The PIN as the shell found it (against the PIN file and the saved lock-out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinAnswer {
    Granted,
    Wrong,
    /// Locked for this long.
    Locked(Duration),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechCommand {
    /// Check the PIN (and the lock-out); answered by [`TechEvent::Pin`].
    CheckPin(String),
}

/// The technician screen's state machine: the hidden entry, the PIN pad, the lock-out, and a
/// session that ends when idle. The PIN typed lives here only until it is checked.
#[derive(Debug, Clone)]
pub struct Technician {
    screen: TechScreen,
    session: Option<Session>,
    last_touch: DateTime<Utc>,
    idle: Duration,
}

impl Technician {
    /// Closed; an open session ends after `idle` untouched.
    pub fn new(now: DateTime<Utc>, idle: Duration) -> Self {
        Self {
            screen: TechScreen::Closed,
            session: None,
            last_touch: now,
            idle,
        }
    }

    pub fn screen(&self) -> &TechScreen {
        &self.screen
    }

    pub fn handle(&mut self, event: TechEvent, now: DateTime<Utc>) -> Option<TechCommand> {
        if event != TechEvent::Tick {
            self.last_touch = now;
            if let Some(s) = &mut self.session {
                s.touched(now);
            }
        }
        let screen = std::mem::replace(&mut self.screen, TechScreen::Closed);
        let (next, command) = match (screen, event) {
            (TechScreen::Closed, TechEvent::CornerHeld(d)) if d >= CORNER_HOLD => (
                TechScreen::Pin {
                    typed: String::new(),
                    wrong: false,
                },
                None,
            ),
            (TechScreen::Closed, TechEvent::TechnicianCard) => (
                TechScreen::Pin {
                    typed: String::new(),
                    wrong: false,
                },
                None,
            ),
            (_, TechEvent::Close) => {
                self.session = None;
                (TechScreen::Closed, None)
            }
            (TechScreen::Pin { mut typed, .. }, TechEvent::Digit(d)) if d <= 9 => {
                if typed.len() < PIN_DIGITS.1 {
                    typed.push(char::from(b'0' + d));
                }
                (
                    TechScreen::Pin {
                        typed,
                        wrong: false,
                    },
                    None,
                )
            }
            (TechScreen::Pin { mut typed, wrong }, TechEvent::Backspace) => {
                typed.pop();
                (TechScreen::Pin { typed, wrong }, None)
            }
            (TechScreen::Pin { typed, .. }, TechEvent::Submit) if !typed.is_empty() => (
                TechScreen::Pin {
                    typed: String::new(),
                    wrong: false,
                },
                Some(TechCommand::CheckPin(typed)),
            ),
            (TechScreen::Pin { .. } | TechScreen::Locked { .. }, TechEvent::Pin(answer)) => {
                match answer {
                    PinAnswer::Granted => {
                        self.session = Some(Session::start(now, self.idle));
                        (TechScreen::Open { page: Page::Status }, None)
                    }
                    PinAnswer::Wrong => (
                        TechScreen::Pin {
                            typed: String::new(),
                            wrong: true,
                        },
                        None,
                    ),
                    PinAnswer::Locked(wait) => (
                        TechScreen::Locked {
                            until: now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(1)),
                        },
                        None,
                    ),
                }
            }
            (TechScreen::Open { .. }, TechEvent::Page(page)) => (TechScreen::Open { page }, None),
            (TechScreen::Locked { until }, TechEvent::Tick) if now >= until => (
                TechScreen::Pin {
                    typed: String::new(),
                    wrong: false,
                },
                None,
            ),
            (TechScreen::Open { page }, TechEvent::Tick) => {
                if self.session.is_none_or(|s| s.ended(now)) {
                    self.session = None;
                    (TechScreen::Closed, None)
                } else {
                    (TechScreen::Open { page }, None)
                }
            }
            (pin @ TechScreen::Pin { .. }, TechEvent::Tick) => {
                let idle = (now - self.last_touch).to_std().unwrap_or_default();
                if idle >= PIN_IDLE {
                    (TechScreen::Closed, None)
                } else {
                    (pin, None)
                }
            }
            (screen, _) => (screen, None),
        };
        self.screen = next;
        command
    }
}

#[cfg(test)]
mod flow_tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap() + TimeDelta::seconds(s)
    }

    fn pin(typed: &str, wrong: bool) -> TechScreen {
        TechScreen::Pin {
            typed: typed.into(),
            wrong,
        }
    }

    #[test]
    fn the_entry_is_hidden_behind_a_held_corner_or_a_technician_card() {
        let mut t = Technician::new(at(0), Duration::from_secs(300));
        t.handle(TechEvent::CornerHeld(Duration::from_millis(2900)), at(0));
        assert_eq!(t.screen(), &TechScreen::Closed, "a tap is no entry");
        t.handle(TechEvent::CornerHeld(CORNER_HOLD), at(1));
        assert_eq!(t.screen(), &pin("", false));
        // Digits only, at most twelve; the pad closes when left a minute.
        for d in [4, 8, 0, 9, 1, 3, 4, 8, 0, 9, 1, 3, 7] {
            t.handle(TechEvent::Digit(d), at(2));
        }
        assert_eq!(t.screen(), &pin("480913480913", false));
        t.handle(TechEvent::Tick, at(61));
        assert_eq!(t.screen(), &pin("480913480913", false));
        t.handle(TechEvent::Tick, at(62));
        assert_eq!(t.screen(), &TechScreen::Closed, "and the digits are gone");
        t.handle(TechEvent::TechnicianCard, at(70));
        assert_eq!(t.screen(), &pin("", false));
    }

    #[test]
    fn a_pin_opens_the_pages_a_wrong_one_says_so_and_too_many_lock_the_pad() {
        let mut t = Technician::new(at(0), Duration::from_secs(300));
        t.handle(TechEvent::TechnicianCard, at(0));
        // Submitting nothing asks nothing.
        assert_eq!(t.handle(TechEvent::Submit, at(1)), None);
        for d in [0, 0, 0, 1, 1, 1] {
            t.handle(TechEvent::Digit(d), at(1));
        }
        assert_eq!(
            t.handle(TechEvent::Submit, at(2)),
            Some(TechCommand::CheckPin("000111".into()))
        );
        assert_eq!(t.screen(), &pin("", false), "the PIN is not kept");
        t.handle(TechEvent::Pin(PinAnswer::Wrong), at(2));
        assert_eq!(t.screen(), &pin("", true));
        t.handle(
            TechEvent::Pin(PinAnswer::Locked(Duration::from_secs(30))),
            at(3),
        );
        assert_eq!(t.screen(), &TechScreen::Locked { until: at(33) });
        // Digits do nothing while locked; the pad comes back when the time is up.
        t.handle(TechEvent::Digit(4), at(10));
        assert_eq!(t.screen(), &TechScreen::Locked { until: at(33) });
        t.handle(TechEvent::Tick, at(33));
        assert_eq!(t.screen(), &pin("", false));
        t.handle(TechEvent::Pin(PinAnswer::Granted), at(40));
        assert_eq!(t.screen(), &TechScreen::Open { page: Page::Status });
        t.handle(TechEvent::Page(Page::Printer), at(50));
        assert_eq!(
            t.screen(),
            &TechScreen::Open {
                page: Page::Printer
            }
        );
        // Left alone five minutes, the session ends.
        t.handle(TechEvent::Tick, at(349));
        assert_eq!(
            t.screen(),
            &TechScreen::Open {
                page: Page::Printer
            }
        );
        t.handle(TechEvent::Tick, at(350));
        assert_eq!(t.screen(), &TechScreen::Closed);
        // Closed, the pages need the PIN again.
        t.handle(TechEvent::Page(Page::Status), at(351));
        assert_eq!(t.screen(), &TechScreen::Closed);
    }
}
