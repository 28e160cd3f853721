//! The member check-in's screens, a part of the kiosk's [`Flow`] (one session, one idle
//! timeout, one wipe for everything a visitor does at the kiosk).
//!
//! ```text
//! Welcome ─check in─▶ CheckInFind ─id─▶ Looking ─found─▶ CheckInCard ─check in─▶ Saving ─▶ CheckedIn
//!    │ card scanned ──────────────────▶    ▲  │               │ expired                (printed, or
//!    │                  └─by name─▶ CheckInName ─several─▶ CheckInFirst             at the desk)
//!    │                                  ▲    not found / still several: says so
//!    │                                                       └─renew─▶ the checkout's membership
//! ```
//!
//! The member picks 0 to the level's guest allowance; the check-in is one command for the
//! shell (an admitted scan of the membership and one pass per guest, one transaction), then
//! the passes print. A membership that is not active today cannot be checked in; an expired
//! (or lapsed) one is offered its renewal.

use super::{
    Command, Ctx, Event, Field, Flow, Printed, Purpose, Screen, Tap, form_too_long, parse_id,
};
use crate::domain::ProductKind;
use crate::find_membership::IdError;
use crate::intake::MAX_FIELD_CHARS;
use crate::kiosk::checkin::{CardLookup, MemberQuery, Standing};

/// Which search a lookup under way came from (where its answer goes back to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookedUpBy {
    Id,
    Name,
    /// The name again, with the first name.
    FirstName,
}

/// Why a check-in step did not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInProblem {
    Id(IdError),
    /// No membership fits what was given.
    NotFound,
    /// Several members still fit the name: the desk can tell them apart.
    Several,
    LastNameMissing,
    EmailOrPhoneMissing,
    FirstNameMissing,
    TooLong,
    /// The check-in could not be saved on the kiosk.
    NotSaved,
}

impl Screen {
    /// Whether this is one of the member check-in's screens.
    pub fn is_check_in(&self) -> bool {
        matches!(
            self,
            Screen::CheckInFind { .. }
                | Screen::CheckInName { .. }
                | Screen::CheckInFirst
                | Screen::CheckInLooking { .. }
                | Screen::CheckInCard { .. }
                | Screen::CheckInSaving
                | Screen::CheckedIn { .. }
        )
    }
}

impl Flow {
    pub(super) fn start_check_in(&mut self) {
        self.session.purpose = Some(Purpose::CheckIn);
        self.session.typed_id.clear();
        self.screen = Screen::CheckInFind { problem: None };
        self.focus(Field::MemberId);
    }

    /// A card scanned: on the welcome screen or while finding a member, it starts the lookup.
    /// Whether the scan was taken.
    pub(super) fn check_in_scanned(&mut self, membership_id: &str, out: &mut Vec<Command>) -> bool {
        let finding = matches!(
            self.screen,
            Screen::Welcome
                | Screen::CheckInFind { .. }
                | Screen::CheckInName { .. }
                | Screen::CheckInFirst
        );
        let Ok(id) = parse_id(membership_id) else {
            return false;
        };
        if !finding {
            return false;
        }
        self.session.purpose = Some(Purpose::CheckIn);
        self.look_up(LookedUpBy::Id, MemberQuery::Id(id.to_owned()), out);
        true
    }

    fn look_up(&mut self, by: LookedUpBy, query: MemberQuery, out: &mut Vec<Command>) {
        self.screen = Screen::CheckInLooking { by };
        out.push(Command::FindMember(query));
    }

    fn name_query(&self, first: bool) -> MemberQuery {
        let f = &self.session.form;
        MemberQuery::Name {
            last: f.last.trim().to_owned(),
            email: f.email.trim().to_owned(),
            phone: f.phone.trim().to_owned(),
            first: first.then(|| f.first.trim().to_owned()),
        }
    }

    pub(super) fn check_in_tap(&mut self, tap: Tap, ctx: &Ctx<'_>, out: &mut Vec<Command>) {
        use Screen as S;
        let screen = self.screen.clone();
        match (&screen, tap) {
            (S::CheckInFind { .. }, Tap::Next) => match parse_id(&self.session.typed_id) {
                Ok(id) => self.look_up(LookedUpBy::Id, MemberQuery::Id(id.to_owned()), out),
                Err(e) => {
                    self.screen = S::CheckInFind {
                        problem: Some(CheckInProblem::Id(e)),
                    }
                }
            },
            (S::CheckInFind { .. }, Tap::ByName) => {
                self.screen = S::CheckInName { problem: None };
                self.focus(Field::Last);
            }
            (S::CheckInFind { .. }, Tap::Back) => self.end(out),
            (S::CheckInFind { .. }, Tap::VerifyByCode) => self.start_find_membership(),
            (S::CheckInName { .. }, Tap::Next) => {
                let f = &self.session.form;
                let problem = if form_too_long(&[&f.last, &f.email, &f.phone]) {
                    Some((CheckInProblem::TooLong, Field::Last))
                } else if f.last.trim().is_empty() {
                    Some((CheckInProblem::LastNameMissing, Field::Last))
                } else if f.email.trim().is_empty() && f.phone.trim().is_empty() {
                    Some((CheckInProblem::EmailOrPhoneMissing, Field::Email))
                } else {
                    None
                };
                match problem {
                    Some((problem, field)) => {
                        self.screen = S::CheckInName {
                            problem: Some(problem),
                        };
                        self.focus(field);
                    }
                    None => self.look_up(LookedUpBy::Name, self.name_query(false), out),
                }
            }
            (S::CheckInName { .. }, Tap::Back) => {
                self.session.form = Default::default();
                self.start_check_in();
            }
            (S::CheckInFirst, Tap::Next) => {
                let first = self.session.form.first.trim();
                if !first.is_empty() && first.chars().count() <= MAX_FIELD_CHARS {
                    self.look_up(LookedUpBy::FirstName, self.name_query(true), out);
                }
            }
            (S::CheckInFirst, Tap::Back) => {
                self.session.form.first.clear();
                self.screen = S::CheckInName { problem: None };
                self.focus(Field::Last);
            }
            (S::CheckInCard { .. }, Tap::Guests(delta)) => {
                if let Some(card) = &self.session.card
                    && card.standing == Standing::Active
                {
                    let n = self.session.guests.saturating_add_signed(delta);
                    self.session.guests = n.min(card.guest_allowance);
                    self.screen = S::CheckInCard { problem: None };
                }
            }
            (S::CheckInCard { .. }, Tap::CheckIn) => {
                if let Some(card) = &self.session.card
                    && card.standing == Standing::Active
                {
                    out.push(Command::RecordCheckIn {
                        membership_id: card.membership_id.clone(),
                        guests: self.session.guests.min(card.guest_allowance),
                    });
                    self.screen = S::CheckInSaving;
                }
            }
            (S::CheckInCard { .. }, Tap::Renew) => {
                let Some(card) = self.session.card.clone() else {
                    return;
                };
                if card.standing != Standing::Expired {
                    return;
                }
                // The same level if the kiosk sells it, else the levels on sale.
                let renewal = ctx
                    .catalog
                    .for_sale(ProductKind::Membership, ctx.now)
                    .into_iter()
                    .find(|p| p.membership.as_ref().is_some_and(|o| o.level == card.level))
                    .map(|p| p.id.clone());
                let lang = self.session.lang;
                self.session = super::Session {
                    lang,
                    purpose: Some(Purpose::Membership),
                    ..super::Session::default()
                };
                match renewal {
                    Some(level) => {
                        self.session.level = Some(level);
                        self.show_details();
                    }
                    None => self.screen = S::Levels,
                }
            }
            (S::CheckInCard { .. }, Tap::Back) => {
                self.session.card = None;
                self.session.guests = 0;
                self.start_check_in();
            }
            _ => {}
        }
    }

    pub(super) fn check_in_event(
        &mut self,
        event: Event,
        now: std::time::Instant,
        out: &mut Vec<Command>,
    ) {
        use Screen as S;
        let screen = self.screen.clone();
        match (&screen, event) {
            (&S::CheckInLooking { by }, Event::MemberCard(found)) => {
                self.last_touch = now;
                match (found, by) {
                    (CardLookup::Found(card), _) => {
                        self.session.card = Some(card);
                        self.session.guests = 0;
                        self.screen = S::CheckInCard { problem: None };
                    }
                    (CardLookup::NotFound, LookedUpBy::Id) => {
                        self.screen = S::CheckInFind {
                            problem: Some(CheckInProblem::NotFound),
                        };
                        self.focus(Field::MemberId);
                    }
                    (CardLookup::Several, LookedUpBy::Name) => {
                        self.session.form.first.clear();
                        self.screen = S::CheckInFirst;
                        self.focus(Field::First);
                    }
                    (CardLookup::Several, LookedUpBy::FirstName | LookedUpBy::Id) => {
                        self.screen = S::CheckInName {
                            problem: Some(CheckInProblem::Several),
                        };
                        self.focus(Field::Last);
                    }
                    (CardLookup::NotFound, _) => {
                        self.screen = S::CheckInName {
                            problem: Some(CheckInProblem::NotFound),
                        };
                        self.focus(Field::Last);
                    }
                }
            }
            (S::CheckInSaving, Event::CheckInRecorded { passes }) => {
                if passes > 0 {
                    out.push(Command::PrintPasses);
                } else {
                    self.last_touch = now;
                    self.screen = S::CheckedIn {
                        printed: Printed::All,
                    };
                }
            }
            (S::CheckInSaving, Event::CheckInNotRecorded) => {
                self.last_touch = now;
                self.screen = S::CheckInCard {
                    problem: Some(CheckInProblem::NotSaved),
                };
            }
            (S::CheckInSaving, Event::Printed(printed)) => {
                self.last_touch = now;
                self.screen = S::CheckedIn { printed };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
