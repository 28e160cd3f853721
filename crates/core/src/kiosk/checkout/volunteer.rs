//! The volunteer time clock's screens, a part of the kiosk's [`Flow`].
//!
//! ```text
//! Welcome ─volunteer─▶ VolunteerFind ─badge / last name + last 4─▶ Looking ─found─▶ VolunteerDay
//!                         ▲   └─several─▶ VolunteerFirst ─▶ Looking                   │ check in / out
//!                         └──────────────── not found, still several ──────┘          ▼
//!                                                                          Saving ─▶ VolunteerDone
//! ```
//!
//! The day shows the volunteer's shifts of today with where each stands, and the day's events
//! to walk in to. The clock's rules ([`crate::volunteer`]) are applied here, with the kiosk's
//! time, before the shell is asked to write anything: a check-in too early, a shift over, an
//! event the CRM would refuse (the volunteer is sent to staff), a check-in older than 18 hours.

use chrono::NaiveDateTime;

use super::{Command, Ctx, Event, Field, Flow, LookedUpBy, Purpose, Screen, Tap};
use crate::intake::MAX_FIELD_CHARS;
use crate::volunteer::{
    self, CheckInRefused, CheckOutRefused, EventProblem, OpenClock, Shift, VolunteerEvent,
};

/// How the volunteer asked to be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolunteerQuery {
    /// A badge scanned: the volunteer's Lookup ID.
    Badge(String),
    /// Last name and the last four digits of their phone, and the first name once asked.
    Name {
        last: String,
        last4: String,
        first: Option<String>,
    },
}

/// A shift of the volunteer's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayShift {
    pub shift: Shift,
    pub event: VolunteerEvent,
    pub problem: Option<EventProblem>,
}

/// Everything the clock needs of a volunteer today, as the shell found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolunteerDay {
    /// The volunteer's Lookup ID.
    pub volunteer: String,
    /// Shown to greet them (their own record, found by their badge or details).
    pub first_name: String,
    /// The shifts of today they are scheduled for.
    pub shifts: Vec<DayShift>,
    /// The events with shifts today, to walk in to.
    pub events: Vec<(VolunteerEvent, Option<EventProblem>)>,
    pub open: Option<OpenClock>,
    /// The open check-in's event.
    pub open_event: Option<VolunteerEvent>,
}

/// What looking the volunteer up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolunteerLookup {
    Found(Box<VolunteerDay>),
    NotFound,
    Several,
}

/// A clocking recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clocked {
    In { event: String },
    Out { event: String, minutes: u32 },
}

/// Why a clocking was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockFault {
    NotSaved,
}

/// Why a volunteer step did not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolunteerProblem {
    NotFound,
    Several,
    LastNameMissing,
    /// The last four digits of the phone are asked for, four of them.
    Last4Missing,
    TooEarly {
        opens_at: NaiveDateTime,
    },
    Over,
    /// The event cannot reach the CRM: see staff.
    SeeStaff(EventProblem),
    /// Checked in more than 18 hours ago: staff settle it.
    StaffNeeded,
    /// Checked in already: check out first.
    AlreadyIn,
    NotSaved,
}

impl Screen {
    /// Whether this is one of the time clock's screens.
    pub fn is_volunteer(&self) -> bool {
        matches!(
            self,
            Screen::VolunteerFind { .. }
                | Screen::VolunteerFirst
                | Screen::VolunteerLooking { .. }
                | Screen::VolunteerDay { .. }
                | Screen::VolunteerSaving
                | Screen::VolunteerDone(_)
        )
    }
}

impl Flow {
    pub(super) fn start_volunteer(&mut self) {
        self.session.purpose = Some(Purpose::Volunteer);
        self.screen = Screen::VolunteerFind { problem: None };
        self.focus(Field::Last);
    }

    /// A badge scanned while the clock asks who the volunteer is. Whether it was taken.
    pub(super) fn volunteer_scanned(&mut self, id: &str, out: &mut Vec<Command>) -> bool {
        if !matches!(
            self.screen,
            Screen::VolunteerFind { .. } | Screen::VolunteerFirst
        ) {
            return false;
        }
        let Ok(id) = crate::find_membership::parse_id(id) else {
            return false;
        };
        self.volunteer_look_up(LookedUpBy::Id, VolunteerQuery::Badge(id.to_owned()), out);
        true
    }

    fn volunteer_look_up(&mut self, by: LookedUpBy, q: VolunteerQuery, out: &mut Vec<Command>) {
        self.screen = Screen::VolunteerLooking { by };
        out.push(Command::FindVolunteer(q));
    }

    fn volunteer_name(&self, first: bool) -> VolunteerQuery {
        let s = &self.session;
        VolunteerQuery::Name {
            last: s.form.last.trim().to_owned(),
            last4: s.typed_last4.clone(),
            first: first.then(|| s.form.first.trim().to_owned()),
        }
    }

    pub(super) fn volunteer_tap(&mut self, tap: Tap, ctx: &Ctx<'_>, out: &mut Vec<Command>) {
        use Screen as S;
        let screen = self.screen.clone();
        match (&screen, tap) {
            (S::VolunteerFind { .. }, Tap::Next) => {
                let last = self.session.form.last.trim();
                let digits = self
                    .session
                    .typed_last4
                    .chars()
                    .filter(char::is_ascii_digit);
                let problem = if last.is_empty() || last.chars().count() > MAX_FIELD_CHARS {
                    Some((VolunteerProblem::LastNameMissing, Field::Last))
                } else if digits.count() != 4 {
                    Some((VolunteerProblem::Last4Missing, Field::Last4))
                } else {
                    None
                };
                match problem {
                    Some((p, field)) => {
                        self.screen = S::VolunteerFind { problem: Some(p) };
                        self.focus(field);
                    }
                    None => {
                        self.volunteer_look_up(LookedUpBy::Name, self.volunteer_name(false), out)
                    }
                }
            }
            (S::VolunteerFind { .. }, Tap::Back) => self.end(out),
            (S::VolunteerFirst, Tap::Next) => {
                let first = self.session.form.first.trim();
                if !first.is_empty() && first.chars().count() <= MAX_FIELD_CHARS {
                    self.volunteer_look_up(LookedUpBy::FirstName, self.volunteer_name(true), out);
                }
            }
            (S::VolunteerFirst, Tap::Back) => {
                self.session.form.first.clear();
                self.screen = S::VolunteerFind { problem: None };
                self.focus(Field::Last);
            }
            (S::VolunteerDay { .. }, Tap::ClockIn { event_id, shift_id }) => {
                let Some(day) = &self.session.volunteer else {
                    return;
                };
                let shift = shift_id
                    .as_deref()
                    .and_then(|id| day.shifts.iter().find(|s| s.shift.shift_id == id));
                let (event, problem) = match (&shift_id, shift) {
                    (Some(_), Some(s)) => (s.event.clone(), s.problem.clone()),
                    (Some(_), None) => return,
                    (None, None) => match day.events.iter().find(|(e, _)| e.event_id == event_id) {
                        Some((e, p)) => (e.clone(), p.clone()),
                        None => return,
                    },
                    (None, Some(_)) => return,
                };
                let now = ctx.now_local;
                match volunteer::check_in(
                    shift.map(|s| &s.shift),
                    problem.as_ref(),
                    day.open.as_ref(),
                    now,
                    &self.cfg.clock,
                ) {
                    Ok(()) => {
                        out.push(Command::ClockIn {
                            volunteer: day.volunteer.clone(),
                            event_id: event.event_id,
                            shift_id,
                            at: now,
                        });
                        self.screen = S::VolunteerSaving;
                    }
                    Err(refused) => {
                        self.screen = S::VolunteerDay {
                            problem: Some(match refused {
                                CheckInRefused::TooEarly { opens_at } => {
                                    VolunteerProblem::TooEarly { opens_at }
                                }
                                CheckInRefused::Over => VolunteerProblem::Over,
                                CheckInRefused::Event(p) => VolunteerProblem::SeeStaff(p),
                                CheckInRefused::AlreadyIn => VolunteerProblem::AlreadyIn,
                            }),
                        }
                    }
                }
            }
            (S::VolunteerDay { .. }, Tap::ClockOut) => {
                let Some(open) = self.session.volunteer.as_ref().and_then(|d| d.open.clone())
                else {
                    return;
                };
                match volunteer::check_out(&open, ctx.now_local, &self.cfg.clock) {
                    Ok(closed) => {
                        out.push(Command::ClockOut {
                            clock_id: open.clock_id,
                            closed,
                        });
                        self.screen = S::VolunteerSaving;
                    }
                    Err(CheckOutRefused::StaffNeeded) => {
                        self.screen = S::VolunteerDay {
                            problem: Some(VolunteerProblem::StaffNeeded),
                        }
                    }
                }
            }
            (S::VolunteerDay { .. }, Tap::Back) => {
                self.session.volunteer = None;
                self.session.form = Default::default();
                self.session.typed_last4.clear();
                self.start_volunteer();
            }
            _ => {}
        }
    }

    pub(super) fn volunteer_event(
        &mut self,
        event: Event,
        now: std::time::Instant,
        _out: &mut Vec<Command>,
    ) {
        use Screen as S;
        let screen = self.screen.clone();
        match (&screen, event) {
            (&S::VolunteerLooking { by }, Event::Volunteer(found)) => {
                self.last_touch = now;
                match (found, by) {
                    (VolunteerLookup::Found(day), _) => {
                        self.session.volunteer = Some(*day);
                        self.screen = S::VolunteerDay { problem: None };
                    }
                    (VolunteerLookup::Several, LookedUpBy::Name) => {
                        self.session.form.first.clear();
                        self.screen = S::VolunteerFirst;
                        self.focus(Field::First);
                    }
                    (VolunteerLookup::Several, _) => {
                        self.screen = S::VolunteerFind {
                            problem: Some(VolunteerProblem::Several),
                        };
                        self.focus(Field::Last);
                    }
                    (VolunteerLookup::NotFound, _) => {
                        self.screen = S::VolunteerFind {
                            problem: Some(VolunteerProblem::NotFound),
                        };
                        self.focus(Field::Last);
                    }
                }
            }
            (S::VolunteerSaving, Event::Clocked(result)) => {
                self.last_touch = now;
                self.screen = match result {
                    Ok(c) => S::VolunteerDone(c),
                    Err(ClockFault::NotSaved) => S::VolunteerDay {
                        problem: Some(VolunteerProblem::NotSaved),
                    },
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
