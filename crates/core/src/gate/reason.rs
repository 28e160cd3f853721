//! Why the gate admitted or refused, in a form the screen, the logs and the upstream scan
//! record can all use.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::domain::MembershipStatus;
use crate::lang::{Lang, date_text};

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
    fn word(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::Membership, Lang::En) => "Membership",
            (Self::Ticket, Lang::En) => "Ticket",
            (Self::Membership, Lang::Es) => "La membresía",
            (Self::Ticket, Lang::Es) => "La entrada",
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

fn day(d: NaiveDate, lang: Lang) -> String {
    date_text(d, lang)
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
        self.staff_action_in(Lang::En)
    }

    /// [`Self::staff_action`] in `lang`, for the gate's screen.
    pub fn staff_action_in(&self, lang: Lang) -> Option<&'static str> {
        match lang {
            Lang::En => self.staff_action_en(),
            Lang::Es => self.staff_action_es(),
        }
    }

    fn staff_action_en(&self) -> Option<&'static str> {
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

    fn staff_action_es(&self) -> Option<&'static str> {
        Some(match self {
            Self::Admitted { .. } => return None,
            Self::Unknown { .. } => {
                "Pida el correo de la reserva u otra tarjeta, o busque al visitante por su nombre."
            }
            Self::Expired {
                what: Validity::Membership,
                ..
            } => "Ofrezca la renovación en el mostrador de socios.",
            Self::Expired {
                what: Validity::Ticket,
                ..
            }
            | Self::NotYetValid {
                what: Validity::Ticket,
                ..
            } => "La entrada es para otro día: en taquilla pueden cambiarla.",
            Self::NotYetValid {
                what: Validity::Membership,
                ..
            } => "La membresía aún no ha empezado: en el mostrador de socios pueden ayudar.",
            Self::OutsideTimeSlot {
                too_early: true, ..
            } => "Pida al visitante que vuelva a su hora, o que la cambie en taquilla.",
            Self::OutsideTimeSlot {
                too_early: false, ..
            } => "Su hora ya pasó: en taquilla pueden pasarla a una más tarde.",
            Self::AlreadyUsed { .. } => {
                "Compruebe cuándo se usó antes de dejar pasar al visitante (un supervisor puede autorizarlo)."
            }
            Self::DailyLimitReached { .. } => {
                "Ya se usaron las entradas de hoy: un supervisor puede dejar pasar al visitante."
            }
            Self::AntiPassback { .. } => {
                "Entró hace unos minutos: asegúrese de que no se la han pasado a otra persona."
            }
            Self::Revoked { .. } => "Retenga la tarjeta y llame a un supervisor.",
            Self::WrongGate(WrongGate::ExitOnlyGate) => {
                "Esta puerta es una salida: indique el camino a un acceso."
            }
            Self::WrongGate(WrongGate::EntryOnlyGate) => {
                "Esta puerta es una entrada: indique el camino a una salida."
            }
            Self::WrongGate(WrongGate::ProductNotAllowed { .. }) => {
                "Indique el camino al acceso que admite esta entrada."
            }
            Self::MembershipInactive { .. } => "Envíe al visitante al mostrador de socios.",
            Self::Ambiguous { .. } => {
                "Busque al visitante por su nombre en el mostrador de socios."
            }
            Self::PartyTooLarge { .. } => "Venda entradas en taquilla para los invitados de más.",
        })
    }

    /// The reason in plain words, for staff, the logs and the hub (English).
    pub fn plain_words(&self) -> String {
        self.words(Lang::En)
    }

    /// The reason in plain words in `lang`, for the gate's screen.
    pub fn words(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.english(),
            Lang::Es => self.spanish(),
        }
    }

    fn english(&self) -> String {
        let day = |d| day(d, Lang::En);
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
                format!("{} not valid until {}", what.word(Lang::En), day(*from))
            }
            Self::OutsideTimeSlot {
                start,
                end,
                too_early,
            } => {
                let slot = slot_text(*start, *end, Lang::En);
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

    fn spanish(&self) -> String {
        let day = |d| day(d, Lang::Es);
        match self {
            Self::Admitted { kind } => match kind {
                AdmitKind::Member => "¡Bienvenido! Membresía válida".into(),
                AdmitKind::Ticket => "¡Bienvenido! Entrada válida".into(),
                AdmitKind::Reentry => "¡Bienvenido de nuevo! Reingreso".into(),
                AdmitKind::Exit => "¡Hasta pronto! Salida registrada".into(),
            },
            // The detail is the reader's own words for staff, in English: the screen leaves
            // it to the logs.
            Self::Unknown { .. } => "No reconocido. Consulte al personal".into(),
            Self::Expired { what, on } => match what {
                Validity::Membership => format!("La membresía venció el {}", day(*on)),
                Validity::Ticket => format!("La entrada solo era válida el {}", day(*on)),
            },
            Self::NotYetValid { what, from } => {
                format!(
                    "{} no es válida hasta el {}",
                    what.word(Lang::Es),
                    day(*from)
                )
            }
            Self::OutsideTimeSlot {
                start,
                end,
                too_early,
            } => {
                let slot = slot_text(*start, *end, Lang::Es);
                if *too_early {
                    format!("Demasiado pronto: su hora de entrada es {slot}")
                } else {
                    format!("Su hora de entrada {slot} ya pasó")
                }
            }
            Self::AlreadyUsed {
                uses_allowed,
                last_used,
            } => {
                let uses = if *uses_allowed == 1 {
                    "Entrada ya usada".to_owned()
                } else {
                    format!("Ya se usaron los {uses_allowed} usos de esta entrada")
                };
                match last_used {
                    Some(t) => format!(
                        "{uses} (la última vez a las {} del {})",
                        time(*t),
                        day(t.date())
                    ),
                    None => uses,
                }
            }
            Self::DailyLimitReached { limit } => match limit {
                1 => "Ya entró hoy".into(),
                n => format!("Ya entró {n} veces hoy (el límite diario)"),
            },
            Self::AntiPassback {
                last_entry,
                gate,
                wait_minutes,
            } => format!(
                "Ya entró a las {} ({gate}); vuelva a intentarlo en {wait_minutes} min o registre antes la salida",
                time(*last_entry)
            ),
            Self::Revoked { by } => match by {
                RevokedBy::TicketStatus => "Entrada cancelada. Consulte al personal".into(),
                RevokedBy::BlockList => "Tarjeta bloqueada. Consulte al personal".into(),
            },
            Self::WrongGate(w) => match w {
                WrongGate::ExitOnlyGate => "Esta puerta es solo de salida".into(),
                WrongGate::EntryOnlyGate => "Esta puerta es solo de entrada".into(),
                WrongGate::ProductNotAllowed { product_id } => {
                    format!("El tipo de entrada {product_id} no es válido en esta puerta")
                }
            },
            Self::MembershipInactive { status } => format!(
                "La membresía está {}. Consulte al personal",
                status_es(*status)
            ),
            Self::Ambiguous { candidates } => {
                format!("Coincide con {candidates} registros. Consulte al personal")
            }
            Self::PartyTooLarge { requested, allowed } => {
                format!("Un grupo de {requested} supera los {allowed} admitidos")
            }
        }
    }
}

/// A timed-entry slot: `3 Oct 2026 10:00–11:00`, or both ends dated when it spans days.
fn slot_text(start: NaiveDateTime, end: NaiveDateTime, lang: Lang) -> String {
    if start.date() == end.date() {
        format!("{} {}–{}", day(start.date(), lang), time(start), time(end))
    } else {
        format!(
            "{} {} – {} {}",
            day(start.date(), lang),
            time(start),
            day(end.date(), lang),
            time(end)
        )
    }
}

fn status_es(status: MembershipStatus) -> &'static str {
    match status {
        MembershipStatus::Active => "activa",
        MembershipStatus::Pending => "pendiente",
        MembershipStatus::Lapsed => "vencida",
        MembershipStatus::Cancelled => "cancelada",
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
    /// The note in plain words, for staff, the logs and the hub (English).
    pub fn plain_words(&self) -> String {
        self.words(Lang::En)
    }

    /// The note in plain words in `lang`, for the gate's screen.
    pub fn words(&self, lang: Lang) -> String {
        match (self, lang) {
            (
                Self::AdmittedViaMerge {
                    requested,
                    survivor,
                },
                Lang::En,
            ) => format!("Record {requested} was merged into {survivor}; please update the card"),
            (
                Self::AdmittedViaMerge {
                    requested,
                    survivor,
                },
                Lang::Es,
            ) => format!("El registro {requested} se fusionó con {survivor}; actualice la tarjeta"),
            (Self::GracePeriod { expired_on }, Lang::En) => format!(
                "Membership expired on {}; renewal due",
                day(*expired_on, lang)
            ),
            (Self::GracePeriod { expired_on }, Lang::Es) => format!(
                "La membresía venció el {}; toca renovarla",
                day(*expired_on, lang)
            ),
            (
                Self::PartyReduced {
                    requested,
                    admitted,
                },
                Lang::En,
            ) => format!("Admitting {admitted} of a party of {requested}"),
            (
                Self::PartyReduced {
                    requested,
                    admitted,
                },
                Lang::Es,
            ) => format!("Pasan {admitted} de un grupo de {requested}"),
            (Self::ChoseMembership { membership_id, of }, Lang::En) => {
                format!("Using membership {membership_id} (one of {of})")
            }
            (Self::ChoseMembership { membership_id, of }, Lang::Es) => {
                format!("Se usa la membresía {membership_id} (una de {of})")
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

    /// One of every reason and note, with every branch of their words.
    fn every_reason() -> Vec<Reason> {
        let d = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        let t = d.and_hms_opt(10, 0, 0).unwrap();
        let mut all: Vec<Reason> = [
            AdmitKind::Member,
            AdmitKind::Ticket,
            AdmitKind::Reentry,
            AdmitKind::Exit,
        ]
        .into_iter()
        .map(|kind| Reason::Admitted { kind })
        .collect();
        for what in [Validity::Membership, Validity::Ticket] {
            all.push(Reason::Expired { what, on: d });
            all.push(Reason::NotYetValid { what, from: d });
        }
        for (end, too_early) in [(t, true), (t, false), (t + chrono::Days::new(1), true)] {
            all.push(Reason::OutsideTimeSlot {
                start: t,
                end,
                too_early,
            });
        }
        for (uses_allowed, last_used) in [(1, None), (1, Some(t)), (3, Some(t))] {
            all.push(Reason::AlreadyUsed {
                uses_allowed,
                last_used,
            });
        }
        all.extend([
            Reason::Unknown {
                detail: "no such ticket".into(),
            },
            Reason::DailyLimitReached { limit: 1 },
            Reason::DailyLimitReached { limit: 2 },
            Reason::AntiPassback {
                last_entry: t,
                gate: "North".into(),
                wait_minutes: 5,
            },
            Reason::Revoked {
                by: RevokedBy::TicketStatus,
            },
            Reason::Revoked {
                by: RevokedBy::BlockList,
            },
            Reason::WrongGate(WrongGate::ExitOnlyGate),
            Reason::WrongGate(WrongGate::EntryOnlyGate),
            Reason::WrongGate(WrongGate::ProductNotAllowed {
                product_id: "GA".into(),
            }),
            Reason::Ambiguous { candidates: 2 },
            Reason::PartyTooLarge {
                requested: 5,
                allowed: 3,
            },
        ]);
        for status in [
            MembershipStatus::Active,
            MembershipStatus::Pending,
            MembershipStatus::Lapsed,
            MembershipStatus::Cancelled,
        ] {
            all.push(Reason::MembershipInactive { status });
        }
        all
    }

    fn every_note() -> Vec<Note> {
        vec![
            Note::AdmittedViaMerge {
                requested: "L1".into(),
                survivor: "L2".into(),
            },
            Note::GracePeriod {
                expired_on: NaiveDate::from_ymd_opt(2026, 10, 3).unwrap(),
            },
            Note::PartyReduced {
                requested: 5,
                admitted: 3,
            },
            Note::ChoseMembership {
                membership_id: "M1".into(),
                of: 2,
            },
        ]
    }

    /// Words an English sentence of the gate has and a Spanish one never should.
    const ENGLISH: [&str; 12] = [
        "Please",
        "staff",
        "Ticket",
        "ticket",
        "Membership",
        "Welcome",
        "Already",
        "gate",
        "Oct",
        "entered",
        "valid ",
        "Card",
    ];

    #[test]
    fn every_reason_note_and_staff_action_reads_in_spanish() {
        let spanish: Vec<(String, String)> = every_reason()
            .iter()
            .flat_map(|r| {
                let mut texts = vec![(r.plain_words(), r.words(Lang::Es))];
                if let Some(en) = r.staff_action() {
                    let es = r.staff_action_in(Lang::Es).expect("a Spanish action");
                    texts.push((en.to_owned(), es.to_owned()));
                }
                texts
            })
            .chain(
                every_note()
                    .iter()
                    .map(|n| (n.plain_words(), n.words(Lang::Es))),
            )
            .collect();
        assert!(spanish.len() > 50, "{}", spanish.len());
        for (en, es) in &spanish {
            assert_ne!(en, es);
            for word in ENGLISH {
                assert!(!es.contains(word), "{es:?} (for {en:?}) says {word:?}");
            }
        }
        for r in every_reason() {
            assert_eq!(r.words(Lang::En), r.plain_words());
            assert_eq!(
                r.staff_action_in(Lang::Es).is_some(),
                r.staff_action().is_some(),
                "{r:?}"
            );
        }
    }

    #[test]
    fn spanish_words_for_the_screen() {
        let d = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        let t = d.and_hms_opt(10, 0, 0).unwrap();
        let cases = [
            (
                Reason::Expired {
                    what: Validity::Membership,
                    on: d,
                },
                "La membresía venció el 3 oct 2026",
            ),
            (
                Reason::OutsideTimeSlot {
                    start: t,
                    end: d.and_hms_opt(11, 0, 0).unwrap(),
                    too_early: true,
                },
                "Demasiado pronto: su hora de entrada es 3 oct 2026 10:00–11:00",
            ),
            (
                Reason::AlreadyUsed {
                    uses_allowed: 1,
                    last_used: Some(t),
                },
                "Entrada ya usada (la última vez a las 10:00 del 3 oct 2026)",
            ),
            (
                Reason::Admitted {
                    kind: AdmitKind::Member,
                },
                "¡Bienvenido! Membresía válida",
            ),
            (
                Reason::MembershipInactive {
                    status: MembershipStatus::Lapsed,
                },
                "La membresía está vencida. Consulte al personal",
            ),
        ];
        for (reason, words) in cases {
            assert_eq!(reason.words(Lang::Es), words);
        }
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
