//! Find My Membership at the kiosk, a part of the kiosk's [`Flow`]: the member types their
//! membership number, picks the masked email or phone the code goes to, types the code on a
//! number pad, and — verified — goes on to the check-in with that membership.
//!
//! The steps are Find My Membership's own state machine ([`fmm::Flow`], seed 001); this part
//! turns taps into its inputs and its hub calls into the shell's commands. No personal data is
//! shown but the masked targets. When the hub cannot be reached the member is told to try
//! again or ask at the desk.

use super::{Command, Field, Flow, LookedUpBy, Screen, Tap, fmm};
use crate::kiosk::checkin::MemberQuery;

/// Whether the screen waits for the hub (taps wait too).
pub(super) fn waiting(s: &fmm::Screen) -> bool {
    matches!(
        s,
        fmm::Screen::Locating { .. } | fmm::Screen::Sending { .. } | fmm::Screen::Verifying { .. }
    )
}

/// The field the keyboard types into on `s`, if any.
pub(super) fn field(s: &fmm::Screen) -> Option<Field> {
    match s {
        fmm::Screen::EnterId { .. } | fmm::Screen::NotFound => Some(Field::MemberId),
        fmm::Screen::EnterCode { .. } => Some(Field::Code),
        _ => None,
    }
}

impl Flow {
    pub(super) fn start_find_membership(&mut self) {
        self.screen = Screen::FindMembership(fmm::Screen::EnterId { problem: None });
        self.session.typed_code.clear();
        self.focus(Field::MemberId);
    }

    /// One input to Find My Membership's flow; its hub call, if any, for the shell.
    fn fmm_step(&mut self, input: fmm::Input, out: &mut Vec<Command>) {
        let Screen::FindMembership(screen) = &self.screen else {
            return;
        };
        let mut flow = fmm::Flow::at(screen.clone());
        let call = flow.handle(input);
        let next = flow.screen().clone();
        if let Some(f) = field(&next) {
            self.session.focus = f;
        }
        match next {
            // Verified: the check-in goes on with the membership proven.
            fmm::Screen::Verified { membership_id, .. } => {
                self.session.typed_code.clear();
                self.screen = Screen::CheckInLooking { by: LookedUpBy::Id };
                out.push(Command::FindMember(MemberQuery::Id(membership_id)));
            }
            next => {
                self.screen = Screen::FindMembership(next);
                if let Some(c) = call {
                    out.push(Command::FindMembership(c));
                }
            }
        }
    }

    pub(super) fn fmm_tap(&mut self, tap: Tap, out: &mut Vec<Command>) {
        use fmm::Screen as F;
        let Screen::FindMembership(screen) = &self.screen else {
            return;
        };
        match (screen, tap) {
            (F::EnterId { .. } | F::NotFound, Tap::Next) => {
                let id = self.session.typed_id.clone();
                self.fmm_step(fmm::Input::IdEntered(id), out);
            }
            (F::ChooseTarget { .. } | F::Expired { .. } | F::EnterCode { .. }, Tap::Target(i)) => {
                self.session.typed_code.clear();
                self.fmm_step(fmm::Input::TargetChosen(i), out);
            }
            (F::EnterCode { .. }, Tap::Next) => {
                let code = std::mem::take(&mut self.session.typed_code);
                self.fmm_step(fmm::Input::CodeEntered(code), out);
            }
            (F::Offline { .. }, Tap::Retry | Tap::Next) => self.fmm_step(fmm::Input::Retry, out),
            // Back to the check-in's first screen; the request is left to expire at the hub.
            (_, Tap::Back | Tap::Finish) => {
                self.session.typed_code.clear();
                self.start_check_in();
            }
            _ => {}
        }
    }

    /// The hub's answer, on the screen that waits for it.
    pub(super) fn fmm_answer(
        &mut self,
        answer: fmm::Input,
        now: std::time::Instant,
        out: &mut Vec<Command>,
    ) {
        if matches!(&self.screen, Screen::FindMembership(s) if waiting(s)) {
            self.last_touch = now;
            self.fmm_step(answer, out);
        }
    }
}

#[cfg(test)]
mod tests;
