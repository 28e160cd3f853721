//! The volunteer time clock's rules, sans-IO: when a shift can be clocked into, how hours are
//! counted, and what happens to a check-out that never came.
//!
//! The volunteer integration's rules (seed 002), as Portico carries them: hours reach the CRM as
//! timesheets carrying the event's name, its CRM job, the date and the hours; an event name has
//! at most 30 characters and every event needs a CRM job that exists. An event that breaks
//! either cannot be clocked into at all ([`event_problem`]): the volunteer is sent to staff and
//! the technician screen lists the event, so no hours are gathered that the CRM would refuse.
//!
//! The clock's own rules:
//! * a shift opens for check-in [`ClockRules::opens_before`] its start (1 h by default) and
//!   closes at its end; an overnight shift ends the next day;
//! * a volunteer without a shift may walk in to any of the day's events;
//! * hours run from check-in to check-out, rounded as configured ([`Rounding`]);
//! * a check-out that never came is closed by [`sweep`]: at the shift's end once
//!   [`ClockRules::checkout_grace`] has passed, or at midnight for a walk-in, and flagged for
//!   staff to approve;
//! * a check-in older than [`ClockRules::max_open`] (18 h) cannot be checked out at the clock:
//!   staff settle it.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};

/// Longest event name the CRM takes (its job occurrence field).
pub const MAX_EVENT_NAME_CHARS: usize = 30;

/// A volunteer event as the hub's feed delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolunteerEvent {
    pub event_id: String,
    pub name: String,
    /// The CRM job its hours go to.
    pub job: String,
}

/// A scheduled shift of an event, in the venue's local time. `end` is after `start`: an
/// overnight shift ends on the next day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub shift_id: String,
    pub event_id: String,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// Lookup IDs of the volunteers scheduled.
    pub volunteers: Vec<String>,
}

/// Why an event cannot be clocked into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum EventProblem {
    /// The CRM takes at most [`MAX_EVENT_NAME_CHARS`] characters.
    NameTooLong { chars: usize },
    /// The event names no job.
    NoJob,
    /// The job is not one the CRM has.
    UnknownJob { job: String },
}

impl EventProblem {
    /// Plain words for staff and the technician screen.
    pub fn words(&self) -> String {
        match self {
            Self::NameTooLong { chars } => format!(
                "the event name has {chars} characters; the CRM allows at most {MAX_EVENT_NAME_CHARS}"
            ),
            Self::NoJob => "the event has no CRM job".into(),
            Self::UnknownJob { job } => format!("job {job:?} does not exist in the CRM"),
        }
    }
}

/// What stops `event` reaching the CRM, if anything; `job_exists` says whether the CRM has a
/// job of that name.
pub fn event_problem(
    event: &VolunteerEvent,
    job_exists: &dyn Fn(&str) -> bool,
) -> Option<EventProblem> {
    let chars = event.name.trim().chars().count();
    if chars > MAX_EVENT_NAME_CHARS {
        return Some(EventProblem::NameTooLong { chars });
    }
    let job = event.job.trim();
    if job.is_empty() {
        return Some(EventProblem::NoJob);
    }
    if !job_exists(job) {
        return Some(EventProblem::UnknownJob {
            job: job.to_owned(),
        });
    }
    None
}

/// How worked time becomes hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rounding {
    /// The step, in minutes (1: exact minutes).
    pub minutes: u32,
    pub mode: RoundMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundMode {
    Nearest,
    Down,
    Up,
}

impl Default for Rounding {
    fn default() -> Self {
        Self {
            minutes: 15,
            mode: RoundMode::Nearest,
        }
    }
}

/// The clock's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockRules {
    /// A shift opens for check-in this long before its start.
    pub opens_before: TimeDelta,
    pub rounding: Rounding,
    /// A shift's check-out is still taken this long after its end; then the sweep closes it.
    pub checkout_grace: TimeDelta,
    /// A check-in older than this is settled by staff.
    pub max_open: TimeDelta,
}

impl Default for ClockRules {
    fn default() -> Self {
        Self {
            opens_before: TimeDelta::hours(1),
            rounding: Rounding::default(),
            checkout_grace: TimeDelta::hours(1),
            max_open: TimeDelta::hours(18),
        }
    }
}

/// Minutes from `from` to `to`, rounded (never below zero).
pub fn minutes(from: NaiveDateTime, to: NaiveDateTime, r: Rounding) -> u32 {
    let minutes = (to - from).num_minutes().max(0);
    let step = i64::from(r.minutes.max(1));
    let rounded = match r.mode {
        RoundMode::Down => minutes / step * step,
        RoundMode::Up => (minutes + step - 1) / step * step,
        RoundMode::Nearest => (minutes + step / 2) / step * step,
    };
    u32::try_from(rounded).unwrap_or(u32::MAX)
}

/// Hours from `from` to `to`, rounded (never below zero).
pub fn hours(from: NaiveDateTime, to: NaiveDateTime, r: Rounding) -> f64 {
    f64::from(minutes(from, to, r)) / 60.0
}

/// A check-in not yet checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenClock {
    pub clock_id: String,
    pub volunteer: String,
    pub event_id: String,
    /// `None`: a walk-in.
    pub shift_id: Option<String>,
    pub checked_in: NaiveDateTime,
}

/// Why a check-in is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckInRefused {
    /// The shift opens for check-in at this time.
    TooEarly { opens_at: NaiveDateTime },
    /// The shift is over.
    Over,
    /// The event cannot reach the CRM: staff must fix it first.
    Event(EventProblem),
    /// The volunteer is checked in already (to check out first).
    AlreadyIn,
}

/// Whether a check-in to `shift` (or a walk-in, `None`) is taken at `now`.
pub fn check_in(
    shift: Option<&Shift>,
    problem: Option<&EventProblem>,
    open: Option<&OpenClock>,
    now: NaiveDateTime,
    rules: &ClockRules,
) -> Result<(), CheckInRefused> {
    if let Some(p) = problem {
        return Err(CheckInRefused::Event(p.clone()));
    }
    if open.is_some() {
        return Err(CheckInRefused::AlreadyIn);
    }
    if let Some(s) = shift {
        let opens_at = s.start - rules.opens_before;
        if now < opens_at {
            return Err(CheckInRefused::TooEarly { opens_at });
        }
        if now >= s.end {
            return Err(CheckInRefused::Over);
        }
    }
    Ok(())
}

/// Why staff must approve a timesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalReason {
    /// Nobody checked out: closed at the shift's end (or midnight for a walk-in).
    MissedCheckOut,
}

/// A check-in closed: the timesheet's times and hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub checked_out: NaiveDateTime,
    /// The time worked, rounded, in minutes.
    pub minutes: u32,
    /// The day the hours count on (the check-in's).
    pub date: NaiveDate,
    pub needs_approval: Option<ApprovalReason>,
}

/// Why a check-out is not taken at the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutRefused {
    /// Checked in more than [`ClockRules::max_open`] ago: staff settle it.
    StaffNeeded,
}

/// The volunteer checks out at `now`.
pub fn check_out(
    open: &OpenClock,
    now: NaiveDateTime,
    rules: &ClockRules,
) -> Result<Closed, CheckOutRefused> {
    if now - open.checked_in > rules.max_open {
        return Err(CheckOutRefused::StaffNeeded);
    }
    Ok(Closed {
        checked_out: now,
        minutes: minutes(open.checked_in, now, rules.rounding),
        date: open.checked_in.date(),
        needs_approval: None,
    })
}

impl Closed {
    /// The hours the timesheet carries.
    pub fn hours(&self) -> f64 {
        f64::from(self.minutes) / 60.0
    }
}

/// A check-out that never came, closed when its time is past: a shift's at its end once the
/// grace has passed, a walk-in's at the midnight after its check-in. `shift_end` is the shift's
/// end (`None` for a walk-in). Flagged for approval.
pub fn sweep(
    open: &OpenClock,
    shift_end: Option<NaiveDateTime>,
    now: NaiveDateTime,
    rules: &ClockRules,
) -> Option<Closed> {
    let closes_at = match shift_end {
        Some(end) if now > end + rules.checkout_grace => end,
        Some(_) => return None,
        None => {
            let midnight = open.checked_in.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
            if now < midnight {
                return None;
            }
            midnight
        }
    };
    let out = closes_at.max(open.checked_in);
    Some(Closed {
        checked_out: out,
        minutes: minutes(open.checked_in, out, rules.rounding),
        date: open.checked_in.date(),
        needs_approval: Some(ApprovalReason::MissedCheckOut),
    })
}

/// Where a scheduled shift stands for its volunteer at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftState {
    /// Opens for check-in at this time.
    Later { opens_at: NaiveDateTime },
    /// Check-in is open.
    Open,
    /// The volunteer is checked in to it.
    CheckedIn { since: NaiveDateTime },
    /// Over.
    Over,
    /// The event cannot be clocked into (see staff).
    Problem(EventProblem),
}

/// The state of `shift` for a volunteer whose open check-in is `open`.
pub fn shift_state(
    shift: &Shift,
    problem: Option<&EventProblem>,
    open: Option<&OpenClock>,
    now: NaiveDateTime,
    rules: &ClockRules,
) -> ShiftState {
    if let Some(o) = open.filter(|o| o.shift_id.as_deref() == Some(shift.shift_id.as_str())) {
        return ShiftState::CheckedIn {
            since: o.checked_in,
        };
    }
    match check_in(Some(shift), problem, None, now, rules) {
        Ok(()) => ShiftState::Open,
        Err(CheckInRefused::TooEarly { opens_at }) => ShiftState::Later { opens_at },
        Err(CheckInRefused::Event(p)) => ShiftState::Problem(p),
        Err(CheckInRefused::Over | CheckInRefused::AlreadyIn) => ShiftState::Over,
    }
}

#[cfg(test)]
mod tests;
