//! Why the gate admitted or refused, in a form the screen, the logs and the upstream scan
//! record can all use.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::domain::MembershipStatus;

/// Where a revocation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokedBy {
    /// The ticket's status in the replica.
    TicketStatus,
    /// The venue's block list (the gate's configured list or one the shell consulted).
    BlockList,
}

/// Why a scan is at the wrong gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum WrongGate {
    /// An entry scan at an exit-only gate.
    ExitOnlyGate,
    /// An exit scan at an entry-only gate.
    EntryOnlyGate,
    /// The ticket's product is not admitted at this gate.
    ProductNotAllowed { product_id: String },
}

/// What a validity reason is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    Membership,
    Ticket,
}

impl Validity {
    fn word(self) -> &'static str {
        match self {
            Self::Membership => "Membership",
            Self::Ticket => "Ticket",
        }
    }
}

/// Why an admission was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmitKind {
    Member,
    Ticket,
    /// A same-day re-entry after an exit scan: no use is burned.
    Reentry,
    /// An exit scan.
    Exit,
}

/// The enumerated reason of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    Admitted {
        kind: AdmitKind,
    },
    /// The credential matches nothing this gate can admit.
    Unknown {
        detail: String,
    },
    /// Validity ended (membership expiry plus grace, or a dated ticket's day passed).
    Expired {
        what: Validity,
        on: NaiveDate,
    },
    NotYetValid {
        what: Validity,
        from: NaiveDate,
    },
    /// A timed-entry ticket scanned outside its slot and the tolerances.
    OutsideTimeSlot {
        start: NaiveDateTime,
        end: NaiveDateTime,
        too_early: bool,
    },
    /// Every use of the ticket is spent.
    AlreadyUsed {
        uses_allowed: u32,
        last_used: Option<NaiveDateTime>,
    },
    /// The credential reached the gate's limit of entries per local day.
    DailyLimitReached {
        limit: u32,
    },
    /// The same credential entered within the anti-passback window and did not exit.
    AntiPassback {
        last_entry: NaiveDateTime,
        gate: String,
        wait_minutes: i64,
    },
    Revoked {
        by: RevokedBy,
    },
    WrongGate(WrongGate),
    /// The membership is not active (pending, lapsed, cancelled).
    MembershipInactive {
        status: MembershipStatus,
    },
    /// Several records claim the credential.
    Ambiguous {
        candidates: usize,
    },
    /// The party is larger than the credential allows.
    PartyTooLarge {
        requested: u32,
        allowed: u32,
    },
}

fn day(d: NaiveDate) -> String {
    d.format("%-d %b %Y").to_string()
}

fn time(t: NaiveDateTime) -> String {
    t.format("%H:%M").to_string()
}

impl Reason {
    /// A stable machine code (`snake_case`) for logs, scan records and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Admitted { .. } => "admitted",
            Self::Unknown { .. } => "unknown",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::OutsideTimeSlot { .. } => "outside_time_slot",
            Self::AlreadyUsed { .. } => "already_used",
            Self::DailyLimitReached { .. } => "daily_limit_reached",
            Self::AntiPassback { .. } => "anti_passback",
            Self::Revoked { .. } => "revoked",
            Self::WrongGate(_) => "wrong_gate",
            Self::MembershipInactive { .. } => "membership_inactive",
            Self::Ambiguous { .. } => "ambiguous",
            Self::PartyTooLarge { .. } => "party_too_large",
        }
    }

    pub fn is_admit(&self) -> bool {
        matches!(self, Self::Admitted { .. })
    }

    /// What staff at the gate should do about a refusal, in plain words (none for an admit).
    pub fn staff_action(&self) -> Option<&'static str> {
        Some(match self {
            Self::Admitted { .. } => return None,
            Self::Unknown { .. } => {
                "Ask for the booking email or another card, or look the visitor up by name."
            }
            Self::Expired {
                what: Validity::Membership,
                ..
            } => "Offer a renewal at the membership desk.",
            Self::Expired {
                what: Validity::Ticket,
                ..
            }
            | Self::NotYetValid {
                what: Validity::Ticket,
                ..
            } => "The ticket is for another day: the ticket desk can change it.",
            Self::NotYetValid {
                what: Validity::Membership,
                ..
            } => "The membership has not started: the membership desk can help.",
            Self::OutsideTimeSlot {
                too_early: true, ..
            } => "Ask the visitor to come back for the slot, or change it at the ticket desk.",
            Self::OutsideTimeSlot {
                too_early: false, ..
            } => "The slot has passed: the ticket desk can move it to a later one.",
            Self::AlreadyUsed { .. } => {
                "Check when it was used before letting the visitor in (a supervisor can override)."
            }
            Self::DailyLimitReached { .. } => {
                "Today's entries are used up: a supervisor can admit the visitor."
            }
            Self::AntiPassback { .. } => {
                "It went in minutes ago: make sure it is not being passed back."
            }
            Self::Revoked { .. } => "Keep the card and call a supervisor.",
            Self::WrongGate(WrongGate::ExitOnlyGate) => {
                "This is an exit: show the way to an entrance."
            }
            Self::WrongGate(WrongGate::EntryOnlyGate) => {
                "This is an entrance: show the way to an exit."
            }
            Self::WrongGate(WrongGate::ProductNotAllowed { .. }) => {
                "Show the way to the entrance for this ticket."
            }
            Self::MembershipInactive { .. } => "Send the visitor to the membership desk.",
            Self::Ambiguous { .. } => "Look the visitor up by name at the membership desk.",
            Self::PartyTooLarge { .. } => "Sell tickets for the extra guests at the desk.",
        })
    }

    /// The reason in plain words, for the gate's screen and for staff.
    pub fn plain_words(&self) -> String {
        match self {
            Self::Admitted { kind } => match kind {
                AdmitKind::Member => "Welcome! Membership valid".into(),
                AdmitKind::Ticket => "Welcome! Ticket valid".into(),
                AdmitKind::Reentry => "Welcome back! Re-entry".into(),
                AdmitKind::Exit => "Goodbye! Exit recorded".into(),
            },
            Self::Unknown { detail } => format!("Not recognised: {detail}. Please see staff"),
            Self::Expired { what, on } => match what {
                Validity::Membership => format!("Membership expired on {}", day(*on)),
                Validity::Ticket => format!("Ticket was valid on {} only", day(*on)),
            },
            Self::NotYetValid { what, from } => {
                format!("{} not valid until {}", what.word(), day(*from))
            }
            Self::OutsideTimeSlot {
                start,
                end,
                too_early,
            } => {
                let slot = if start.date() == end.date() {
                    format!("{} {}–{}", day(start.date()), time(*start), time(*end))
                } else {
                    format!(
                        "{} {} – {} {}",
                        day(start.date()),
                        time(*start),
                        day(end.date()),
                        time(*end)
                    )
                };
                if *too_early {
                    format!("Too early: entry slot is {slot}")
                } else {
                    format!("Entry slot {slot} has passed")
                }
            }
            Self::AlreadyUsed {
                uses_allowed,
                last_used,
            } => {
                let uses = if *uses_allowed == 1 {
                    "Ticket already used".to_owned()
                } else {
                    format!("All {uses_allowed} uses of this ticket are spent")
                };
                match last_used {
                    Some(t) => format!("{uses} (last at {} on {})", time(*t), day(t.date())),
                    None => uses,
                }
            }
            Self::DailyLimitReached { limit } => match limit {
                1 => "Already entered today".into(),
                n => format!("Already entered {n} times today (the daily limit)"),
            },
            Self::AntiPassback {
                last_entry,
                gate,
                wait_minutes,
            } => format!(
                "Already entered at {} ({gate}); try again in {wait_minutes} min or scan out first",
                time(*last_entry)
            ),
            Self::Revoked { by } => match by {
                RevokedBy::TicketStatus => "Ticket cancelled. Please see staff".into(),
                RevokedBy::BlockList => "Card blocked. Please see staff".into(),
            },
            Self::WrongGate(w) => match w {
                WrongGate::ExitOnlyGate => "This gate is exit only".into(),
                WrongGate::EntryOnlyGate => "This gate is entry only".into(),
                WrongGate::ProductNotAllowed { product_id } => {
                    format!("Ticket type {product_id} is not valid at this gate")
                }
            },
            Self::MembershipInactive { status } => {
                format!("Membership is {}. Please see staff", status.as_str())
            }
            Self::Ambiguous { candidates } => {
                format!("Matches {candidates} records. Please see staff")
            }
            Self::PartyTooLarge { requested, allowed } => {
                format!("Party of {requested} is more than the {allowed} admitted")
            }
        }
    }
}

/// Something worth telling staff about an admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// The credential's id was merged into another record; admitted as the survivor.
    AdmittedViaMerge { requested: String, survivor: String },
    /// Admitted inside the grace period after expiry.
    GracePeriod { expired_on: NaiveDate },
    /// Fewer people admitted than the party size chosen.
    PartyReduced { requested: u32, admitted: u32 },
    /// Several memberships cover the person; this one was used.
    ChoseMembership { membership_id: String, of: usize },
}

impl Note {
    pub fn plain_words(&self) -> String {
        match self {
            Self::AdmittedViaMerge {
                requested,
                survivor,
            } => format!("Record {requested} was merged into {survivor}; please update the card"),
            Self::GracePeriod { expired_on } => {
                format!("Membership expired on {}; renewal due", day(*expired_on))
            }
            Self::PartyReduced {
                requested,
                admitted,
            } => format!("Admitting {admitted} of a party of {requested}"),
            Self::ChoseMembership { membership_id, of } => {
                format!("Using membership {membership_id} (one of {of})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_for_staff() {
        let d = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        assert_eq!(
            Reason::Expired {
                what: Validity::Membership,
                on: d
            }
            .plain_words(),
            "Membership expired on 3 Oct 2026"
        );
        let start = d.and_hms_opt(10, 0, 0).unwrap();
        let end = d.and_hms_opt(11, 0, 0).unwrap();
        assert_eq!(
            Reason::OutsideTimeSlot {
                start,
                end,
                too_early: true
            }
            .plain_words(),
            "Too early: entry slot is 3 Oct 2026 10:00–11:00"
        );
        assert_eq!(
            Reason::PartyTooLarge {
                requested: 5,
                allowed: 3
            }
            .plain_words(),
            "Party of 5 is more than the 3 admitted"
        );
        assert_eq!(
            Reason::MembershipInactive {
                status: MembershipStatus::Lapsed
            }
            .plain_words(),
            "Membership is lapsed. Please see staff"
        );
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(Reason::Ambiguous { candidates: 2 }.code(), "ambiguous");
        assert_eq!(
            Reason::WrongGate(WrongGate::ExitOnlyGate).code(),
            "wrong_gate"
        );
    }

    #[test]
    fn every_refusal_tells_staff_what_to_do_and_admits_do_not() {
        let d = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        let t = d.and_hms_opt(10, 0, 0).unwrap();
        let refusals = [
            (
                Reason::Unknown { detail: "x".into() },
                "look the visitor up",
            ),
            (
                Reason::Expired {
                    what: Validity::Membership,
                    on: d,
                },
                "renewal",
            ),
            (
                Reason::Expired {
                    what: Validity::Ticket,
                    on: d,
                },
                "another day",
            ),
            (
                Reason::NotYetValid {
                    what: Validity::Ticket,
                    from: d,
                },
                "another day",
            ),
            (
                Reason::NotYetValid {
                    what: Validity::Membership,
                    from: d,
                },
                "not started",
            ),
            (
                Reason::OutsideTimeSlot {
                    start: t,
                    end: t,
                    too_early: true,
                },
                "come back",
            ),
            (
                Reason::OutsideTimeSlot {
                    start: t,
                    end: t,
                    too_early: false,
                },
                "later one",
            ),
            (
                Reason::AlreadyUsed {
                    uses_allowed: 1,
                    last_used: Some(t),
                },
                "when it was used",
            ),
            (Reason::DailyLimitReached { limit: 2 }, "supervisor"),
            (
                Reason::AntiPassback {
                    last_entry: t,
                    gate: "North".into(),
                    wait_minutes: 5,
                },
                "passed back",
            ),
            (
                Reason::Revoked {
                    by: RevokedBy::BlockList,
                },
                "Keep the card",
            ),
            (Reason::WrongGate(WrongGate::ExitOnlyGate), "an entrance"),
            (Reason::WrongGate(WrongGate::EntryOnlyGate), "an exit"),
            (
                Reason::WrongGate(WrongGate::ProductNotAllowed {
                    product_id: "P".into(),
                }),
                "entrance for this ticket",
            ),
            (
                Reason::MembershipInactive {
                    status: MembershipStatus::Lapsed,
                },
                "membership desk",
            ),
            (Reason::Ambiguous { candidates: 2 }, "by name"),
            (
                Reason::PartyTooLarge {
                    requested: 5,
                    allowed: 3,
                },
                "extra guests",
            ),
        ];
        for (reason, words) in refusals {
            let action = reason
                .staff_action()
                .unwrap_or_else(|| panic!("{reason:?}"));
            assert!(action.contains(words), "{reason:?}: {action}");
        }
        // A ticket refused for its use is not sent to the membership desk.
        for ticket in [
            Reason::AlreadyUsed {
                uses_allowed: 1,
                last_used: None,
            },
            Reason::Expired {
                what: Validity::Ticket,
                on: d,
            },
        ] {
            assert!(
                !ticket.staff_action().unwrap().contains("membership"),
                "{ticket:?}"
            );
        }
        for kind in [
            AdmitKind::Member,
            AdmitKind::Ticket,
            AdmitKind::Reentry,
            AdmitKind::Exit,
        ] {
            assert_eq!(Reason::Admitted { kind }.staff_action(), None);
        }
    }
}
