//! The hub's verification of one Find My Membership request, sans-IO.
//!
//! A code is issued at time `T` and stored hashed; it expires at `T + 10 minutes`. Every wrong
//! code counts; the fifth wrong one locks the request for good (a correct code after that is
//! refused). Sending a new code replaces the old one and restarts the 10 minutes, but never
//! resets the count of wrong attempts. The time is always an argument: nothing here reads a
//! clock.

use chrono::{DateTime, Duration, Utc};

use super::code::{Code, CodeHash};

/// Seed rule: "codes expire after 10 minutes".
pub const CODE_TTL_MINUTES: i64 = 10;

/// Seed rule: "5 wrong attempts lock the request".
pub const MAX_ATTEMPTS: u32 = 5;

/// How long a code stays valid.
pub fn code_ttl() -> Duration {
    Duration::minutes(CODE_TTL_MINUTES)
}

/// What is stored about a request's progress (expiry is worked out from the time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    AwaitingCode,
    Verified,
    Locked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingCode => "awaiting_code",
            Status::Verified => "verified",
            Status::Locked => "locked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "awaiting_code" => Some(Status::AwaitingCode),
            "verified" => Some(Status::Verified),
            "locked" => Some(Status::Locked),
            _ => None,
        }
    }
}

/// Where a request stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    AwaitingCode,
    Verified,
    Expired,
    Locked,
}

/// The answer to one code attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The code is right: the visitor holds the contact on record.
    Verified,
    /// Wrong; `attempts_left` more are allowed before the request locks.
    WrongCode { attempts_left: u32 },
    /// The code is more than 10 minutes old.
    Expired,
    /// Five wrong codes were entered (possibly this one): nothing is accepted any more.
    Locked,
    /// The request was verified before and this is not its code.
    AlreadyUsed,
}

/// Why a new code cannot be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssueRefused {
    #[error("the request is locked after {MAX_ATTEMPTS} wrong codes")]
    Locked,
    #[error("the request was verified already")]
    Verified,
}

/// One request's code and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub hash: CodeHash,
    pub issued_at: DateTime<Utc>,
    /// Wrong codes entered so far, over every code this request was sent.
    pub attempts: u32,
    pub status: Status,
}

impl Verification {
    /// The first code of a request, issued at `now`.
    pub fn issue(hash: CodeHash, now: DateTime<Utc>) -> Self {
        Self {
            hash,
            issued_at: now,
            attempts: 0,
            status: Status::AwaitingCode,
        }
    }

    /// A new code for the same request: the 10 minutes start again, the wrong attempts stay.
    pub fn reissue(&self, hash: CodeHash, now: DateTime<Utc>) -> Result<Self, IssueRefused> {
        match self.status {
            Status::Locked => Err(IssueRefused::Locked),
            Status::Verified => Err(IssueRefused::Verified),
            Status::AwaitingCode => Ok(Self {
                hash,
                issued_at: now,
                attempts: self.attempts,
                status: Status::AwaitingCode,
            }),
        }
    }

    /// The first instant at which the code no longer works.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.issued_at + code_ttl()
    }

    pub fn attempts_left(&self) -> u32 {
        MAX_ATTEMPTS.saturating_sub(self.attempts)
    }

    pub fn state(&self, now: DateTime<Utc>) -> State {
        match self.status {
            Status::Locked => State::Locked,
            _ if now >= self.expires_at() => State::Expired,
            Status::Verified => State::Verified,
            Status::AwaitingCode => State::AwaitingCode,
        }
    }

    /// Checks one attempt at `now` and moves the state on.
    pub fn check(&mut self, code: &Code, now: DateTime<Utc>) -> CheckOutcome {
        match self.state(now) {
            State::Locked => CheckOutcome::Locked,
            State::Expired => CheckOutcome::Expired,
            // A repeated correct answer (the first reply was lost) gets the same answer.
            State::Verified if self.hash.matches(code) => CheckOutcome::Verified,
            State::Verified => CheckOutcome::AlreadyUsed,
            State::AwaitingCode if self.hash.matches(code) => {
                self.status = Status::Verified;
                CheckOutcome::Verified
            }
            State::AwaitingCode => {
                self.attempts = self.attempts.saturating_add(1);
                if self.attempts >= MAX_ATTEMPTS {
                    self.status = Status::Locked;
                    CheckOutcome::Locked
                } else {
                    CheckOutcome::WrongCode {
                        attempts_left: self.attempts_left(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
    }

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    fn fresh() -> Verification {
        Verification::issue(CodeHash::new(&code("123456"), [7; 16]), t0())
    }

    /// Seed/issue rule: "codes expire after 10 minutes and 5 wrong attempts lock the request".
    /// Each row: the attempts made in order (code, seconds after issue) and the outcomes.
    #[test]
    fn rule_codes_expire_after_10_minutes_and_5_wrong_attempts_lock_the_request() {
        use CheckOutcome::*;
        let w = |n| WrongCode { attempts_left: n };
        type Case<'a> = (&'a str, &'a [(&'a str, i64)], &'a [CheckOutcome]);
        let cases: &[Case] = &[
            ("right code at once", &[("123456", 0)], &[Verified]),
            (
                "right code a second before 10 minutes",
                &[("123456", 599)],
                &[Verified],
            ),
            (
                "right code at exactly 10 minutes",
                &[("123456", 600)],
                &[Expired],
            ),
            (
                "wrong code after expiry does not count",
                &[("000000", 601)],
                &[Expired],
            ),
            (
                "wrong codes count down",
                &[("000000", 1), ("000001", 2), ("123456", 3)],
                &[w(4), w(3), Verified],
            ),
            (
                "the fifth wrong code locks",
                &[("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 5)],
                &[w(4), w(3), w(2), w(1), Locked],
            ),
            (
                "a correct code after the lock is refused",
                &[
                    ("1", 1),
                    ("2", 2),
                    ("3", 3),
                    ("4", 4),
                    ("5", 5),
                    ("123456", 6),
                ],
                &[w(4), w(3), w(2), w(1), Locked, Locked],
            ),
            (
                "locked stays locked after the 10 minutes",
                &[
                    ("1", 1),
                    ("2", 2),
                    ("3", 3),
                    ("4", 4),
                    ("5", 5),
                    ("123456", 900),
                ],
                &[w(4), w(3), w(2), w(1), Locked, Locked],
            ),
            (
                "a repeated correct code is answered again; another code is refused",
                &[("123456", 1), ("123456", 2), ("654321", 3)],
                &[Verified, Verified, AlreadyUsed],
            ),
        ];
        for (name, attempts, want) in cases {
            let mut v = fresh();
            let got: Vec<CheckOutcome> = attempts
                .iter()
                .map(|(c, secs)| {
                    let c = if c.len() == 1 {
                        c.repeat(6)
                    } else {
                        (*c).to_owned()
                    };
                    v.check(&code(&c), t0() + Duration::seconds(*secs))
                })
                .collect();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn state_follows_status_and_time() {
        let mut v = fresh();
        assert_eq!(v.expires_at(), t0() + Duration::minutes(10));
        assert_eq!(v.state(t0()), State::AwaitingCode);
        assert_eq!(v.state(t0() + Duration::minutes(10)), State::Expired);
        v.check(&code("123456"), t0());
        assert_eq!(v.state(t0()), State::Verified);
        assert_eq!(v.status, Status::Verified);
        for s in [Status::AwaitingCode, Status::Verified, Status::Locked] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("expired"), None);
    }

    /// A new code restarts the 10 minutes but not the count of wrong attempts: sending again
    /// is no way around the lock.
    #[test]
    fn a_new_code_restarts_the_clock_but_keeps_the_wrong_attempts() {
        let mut v = fresh();
        for _ in 0..4 {
            v.check(&code("000000"), t0());
        }
        let later = t0() + Duration::minutes(11);
        assert_eq!(v.check(&code("123456"), later), CheckOutcome::Expired);
        let mut v = v
            .reissue(CodeHash::new(&code("222222"), [8; 16]), later)
            .unwrap();
        assert_eq!(v.attempts_left(), 1);
        assert_eq!(
            v.check(&code("123456"), later),
            CheckOutcome::Locked,
            "old code is gone"
        );
        assert_eq!(
            v.reissue(CodeHash::new(&code("333333"), [9; 16]), later),
            Err(IssueRefused::Locked)
        );
        let mut ok = fresh();
        ok.check(&code("123456"), t0());
        assert_eq!(
            ok.reissue(CodeHash::new(&code("333333"), [9; 16]), t0()),
            Err(IssueRefused::Verified)
        );
    }
}
