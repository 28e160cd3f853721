//! The admission decision core: facts, policy and time in; decision and effects out.
//!
//! No I/O and no clock: the shell looks up the [`Facts`] (see [`LookupPlan`]), reads the
//! time, calls [`decide`], then carries out the [`Effect`]s in order (persist first, then act).
//!
//! Rules, in the order they are applied to an entry scan:
//! 1. unrecognised or unknown credential → `Unknown`; several candidates → `Ambiguous`;
//! 2. block list (the gate's, or the shell's hit) → `Revoked`;
//! 3. an entry scan at an exit-only gate (or an exit scan at an entry-only gate) → `WrongGate`;
//! 4. party larger than the gate's `party_max` → `PartyTooLarge`;
//! 5. memberships: status active, start date reached, expiry plus grace days not passed;
//!    tickets: status, product allowed at the gate, date or slot with tolerances;
//! 6. anti-passback window (same credential entered within it and did not exit);
//! 7. tickets: same-day re-entry per the re-entry policy (free), otherwise a new use: daily
//!    limit, then remaining uses;
//!    memberships: daily limit;
//! 8. party size against what the credential allows (1 + guests for a membership, remaining
//!    uses for a ticket): deny, or admit the allowed count, per `party_overflow`.
//!
//! An exit scan of a known credential always opens (no validity checks: nobody is kept in) and
//! is recorded as an exit.

use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;

use super::facts::{Facts, Found, Person, UseHistory};
use super::plan::{CredentialKey, LookupPlan, credential_keys};
use super::policy::{GateDirection, GatePolicy, PartyOverflow, Reentry, ScanDirection};
use super::reason::{AdmitKind, Note, Reason, RevokedBy, Validity, WrongGate};
use crate::domain::{Membership, MembershipStatus, Ticket, TicketStatus, TicketValidity};
use crate::input::credential::CredentialKind;

/// The time of a scan: the instant, and the venue's local wall-clock time at that instant
/// (the shell converts with the venue's time zone; the core never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub utc: DateTime<Utc>,
    pub local: NaiveDateTime,
}

impl Now {
    pub fn today(&self) -> NaiveDate {
        self.local.date()
    }
}

/// One scan to decide.
#[derive(Debug, Clone, Copy)]
pub struct Scan<'a> {
    pub credential: &'a CredentialKind,
    pub facts: &'a Facts,
    pub policy: &'a GatePolicy,
    pub direction: ScanDirection,
    /// The party size staff chose (0 is read as 1).
    pub party: u32,
    pub now: Now,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Admit,
    Deny,
}

impl Outcome {
    /// `admit` or `deny`, as the scan log, the upload and the metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Admit => "admit",
            Outcome::Deny => "deny",
        }
    }
}

/// How many people were asked for and how many go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Party {
    pub requested: u32,
    pub admitted: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Green,
    Red,
}

/// What the gate's display shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Screen {
    pub colour: Colour,
    /// The holder's name, when known.
    pub name: Option<String>,
    pub membership_level: Option<String>,
    /// Guests the membership admits with the member.
    pub guest_allowance: Option<u32>,
    /// The reason in plain words.
    pub message: String,
    /// Notes in plain words.
    pub notes: Vec<String>,
    /// On a refusal, what staff should do (`Reason::staff_action`).
    pub staff_action: Option<String>,
    pub party: Party,
    pub display_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sound {
    Admit,
    Deny,
    /// Admitted, but staff should look (a note).
    Attention,
}

/// The scan as recorded locally and queued upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanRecord {
    /// The key the credential's uses are recorded under; `None` for credentials the gate could
    /// not identify.
    pub use_key: Option<CredentialKey>,
    pub credential_kind: &'static str,
    pub gate: String,
    pub direction: ScanDirection,
    pub outcome: Outcome,
    pub reason_code: &'static str,
    pub reason: Reason,
    pub notes: Vec<Note>,
    pub party: Party,
    /// Ticket uses burned by this scan (0 for denials, exits and re-entries). The passage
    /// tracker can still annul them when nobody goes through.
    pub uses_burned: u32,
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
}

/// What the shell does with a decision, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Record the scan (with its outbox row, in one transaction). Comes first.
    PersistScan(ScanRecord),
    /// Open the turnstile for this long.
    PulseRelay {
        duration: Duration,
    },
    ShowScreen(Screen),
    PlaySound(Sound),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: Reason,
    /// Notes for staff (admitted via merge, grace period, party reduced…), most important
    /// first.
    pub notes: Vec<Note>,
    pub party: Party,
    pub effects: Vec<Effect>,
}

impl Decision {
    /// The first note, if any.
    pub fn note(&self) -> Option<&Note> {
        self.notes.first()
    }

    pub fn is_admit(&self) -> bool {
        self.outcome == Outcome::Admit
    }

    /// Puts the membership holder's name on the screen when the decision was made without it.
    ///
    /// The holder is only shown, never decided on, so the shell looks them up after the scan
    /// is durable rather than between the credential and the relay: reading them (through any
    /// merges, then the constituent's name) would add two b-tree descents to a membership
    /// scan's three. A name already on the screen is kept.
    pub fn greet(&mut self, holder: &Person) {
        for effect in &mut self.effects {
            if let Effect::ShowScreen(screen) = effect
                && screen.name.is_none()
            {
                screen.name = Some(full_name(holder));
            }
        }
    }

    /// The scan record among the effects.
    pub fn scan_record(&self) -> Option<&ScanRecord> {
        self.effects.iter().find_map(|e| match e {
            Effect::PersistScan(r) => Some(r),
            _ => None,
        })
    }
}

/// Who the credential belongs to, for the screen.
#[derive(Default)]
struct Display {
    name: Option<String>,
    level: Option<String>,
    guests: Option<u32>,
}

/// A party size as settled when staff confirm it on the gate screen, after the member's own
/// admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PartySettlement {
    /// People the admission lets in now, the member included.
    pub party_admitted: u32,
    /// Extra turnstile openings: one for each guest beyond those already let in.
    pub guest_openings: u32,
}

/// Settles a membership admission's party: staff confirmed `confirmed` people where
/// `admitted` were let in and the membership allows `party_max` (member plus guests). The
/// party is at least the member and at most the allowance; guests beyond those already let in
/// each get an opening, and a smaller party is recorded as such (nobody is let in).
pub fn settle_party(admitted: u32, party_max: u32, confirmed: u32) -> PartySettlement {
    let party = confirmed.clamp(1, party_max.max(1));
    PartySettlement {
        party_admitted: party,
        guest_openings: party.saturating_sub(admitted),
    }
}

fn full_name(c: &Person) -> String {
    let mut s = c.name.first.trim().to_owned();
    let last = c.name.last.trim();
    if !last.is_empty() {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(last);
    }
    s
}

/// A verdict before effects are attached.
struct Verdict {
    reason: Reason,
    notes: Vec<Note>,
    admitted: u32,
    uses_burned: u32,
}

impl Verdict {
    fn deny(reason: Reason) -> Self {
        Self {
            reason,
            notes: Vec::new(),
            admitted: 0,
            uses_burned: 0,
        }
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Decides one scan. Pure and total: any input gives a decision, never a panic.
pub fn decide(scan: &Scan<'_>) -> Decision {
    let facts = scan.facts;
    let policy = scan.policy;
    let requested = scan.party.max(1);
    let mut display = Display::default();
    let mut verdict = evaluate(scan, requested, &mut display);
    if verdict.reason.is_admit()
        && let Some(m) = &facts.merge
    {
        verdict.notes.insert(
            0,
            Note::AdmittedViaMerge {
                requested: m.requested.clone(),
                survivor: m.survivor.clone(),
            },
        );
    }
    let outcome = if verdict.reason.is_admit() {
        Outcome::Admit
    } else {
        Outcome::Deny
    };
    let party = Party {
        requested,
        admitted: verdict.admitted,
    };
    let survivor = facts.merge.as_ref().map(|m| m.survivor.as_str());
    let use_key = LookupPlan::for_credential(scan.credential).history_key(survivor);
    let record = ScanRecord {
        use_key,
        credential_kind: scan.credential.name(),
        gate: policy.gate_id.clone(),
        direction: scan.direction,
        outcome,
        reason_code: verdict.reason.code(),
        reason: verdict.reason.clone(),
        notes: verdict.notes.clone(),
        party,
        uses_burned: verdict.uses_burned,
        at: scan.now.utc,
        local: scan.now.local,
    };
    let screen = Screen {
        colour: match outcome {
            Outcome::Admit => Colour::Green,
            Outcome::Deny => Colour::Red,
        },
        name: display.name,
        membership_level: display.level,
        guest_allowance: display.guests,
        message: verdict.reason.words(policy.language),
        notes: verdict
            .notes
            .iter()
            .map(|n| n.words(policy.language))
            .collect(),
        staff_action: verdict
            .reason
            .staff_action_in(policy.language)
            .map(str::to_owned),
        party,
        display_for: policy.result_display,
    };
    let sound = match (outcome, verdict.notes.is_empty()) {
        (Outcome::Deny, _) => Sound::Deny,
        (Outcome::Admit, true) => Sound::Admit,
        (Outcome::Admit, false) => Sound::Attention,
    };
    let mut effects = vec![Effect::PersistScan(record)];
    if outcome == Outcome::Admit {
        effects.push(Effect::PulseRelay {
            duration: policy.relay_pulse,
        });
    }
    effects.push(Effect::ShowScreen(screen));
    effects.push(Effect::PlaySound(sound));
    Decision {
        outcome,
        reason: verdict.reason,
        notes: verdict.notes,
        party,
        effects,
    }
}

fn evaluate(scan: &Scan<'_>, requested: u32, display: &mut Display) -> Verdict {
    let facts = scan.facts;
    let policy = scan.policy;
    if let CredentialKind::Unrecognized { reason } = scan.credential {
        return Verdict::deny(Reason::Unknown {
            detail: reason.to_string(),
        });
    }
    let survivor = facts.merge.as_ref().map(|m| m.survivor.as_str());
    let blocked = facts.revocation_hit
        || credential_keys(scan.credential, survivor)
            .iter()
            .chain(subject_key(&facts.found).iter())
            .any(|k| policy.revoked.contains(k));
    if blocked {
        return Verdict::deny(Reason::Revoked {
            by: RevokedBy::BlockList,
        });
    }
    match &facts.found {
        Found::Nothing => {
            return Verdict::deny(Reason::Unknown {
                detail: unknown_detail(scan.credential),
            });
        }
        Found::Ambiguous { candidates } => {
            return Verdict::deny(Reason::Ambiguous {
                candidates: candidates.len(),
            });
        }
        _ => {}
    }
    match (policy.direction, scan.direction) {
        (GateDirection::Exit, ScanDirection::Entry) => {
            return Verdict::deny(Reason::WrongGate(WrongGate::ExitOnlyGate));
        }
        (GateDirection::Entry, ScanDirection::Exit) => {
            return Verdict::deny(Reason::WrongGate(WrongGate::EntryOnlyGate));
        }
        _ => {}
    }
    if requested > policy.party_max {
        return Verdict::deny(Reason::PartyTooLarge {
            requested,
            allowed: policy.party_max,
        });
    }
    match &facts.found {
        Found::Membership { membership, holder } => {
            display.name = holder.as_ref().map(full_name);
            display.level = Some(membership.level.clone());
            display.guests = Some(membership.guest_allowance);
            if scan.direction == ScanDirection::Exit {
                return exit(requested);
            }
            membership_entry(scan, membership, requested, Vec::new())
        }
        Found::Constituent {
            constituent,
            memberships,
        } => {
            display.name = Some(full_name(constituent));
            let chosen = choose_membership(memberships, scan.now.today(), policy.grace_days);
            if scan.direction == ScanDirection::Exit {
                return exit(requested);
            }
            let Some((membership, valid_count)) = chosen else {
                return Verdict::deny(Reason::Unknown {
                    detail: format!("no membership for {}", constituent.lookup_id),
                });
            };
            display.level = Some(membership.level.clone());
            display.guests = Some(membership.guest_allowance);
            let notes = if valid_count > 1 {
                vec![Note::ChoseMembership {
                    membership_id: membership.membership_id.clone(),
                    of: valid_count,
                }]
            } else {
                Vec::new()
            };
            membership_entry(scan, membership, requested, notes)
        }
        Found::Ticket { ticket, .. } => {
            if scan.direction == ScanDirection::Exit {
                return exit(requested);
            }
            ticket_entry(scan, ticket, requested)
        }
        Found::Nothing | Found::Ambiguous { .. } => Verdict::deny(Reason::Unknown {
            detail: unknown_detail(scan.credential),
        }),
    }
}

fn exit(requested: u32) -> Verdict {
    Verdict {
        reason: Reason::Admitted {
            kind: AdmitKind::Exit,
        },
        notes: Vec::new(),
        admitted: requested,
        uses_burned: 0,
    }
}

fn unknown_detail(kind: &CredentialKind) -> String {
    match kind {
        CredentialKind::Membership { membership_id } => format!("no membership {membership_id}"),
        CredentialKind::LookupId { lookup_id } => format!("no member {lookup_id}"),
        CredentialKind::TicketSecret { .. } => "no such ticket".into(),
        CredentialKind::Magstripe(_) => "card not on file".into(),
        CredentialKind::RfidUid { .. } | CredentialKind::Wiegand26(_) => "card not enrolled".into(),
        CredentialKind::Gs1 { .. } => "barcode carries no admission".into(),
        CredentialKind::SignedTicket(_) => "ticket not readable".into(),
        CredentialKind::KioskTicket { claimed, .. } => {
            format!(
                "ticket of an unknown or revoked kiosk key {}",
                claimed.key_id
            )
        }
        CredentialKind::Unrecognized { reason } => reason.to_string(),
    }
}

fn subject_key(found: &Found) -> Option<CredentialKey> {
    match found {
        Found::Membership { membership, .. } => {
            Some(format!("membership:{}", membership.membership_id))
        }
        Found::Constituent { constituent, .. } => Some(format!("lookup:{}", constituent.lookup_id)),
        Found::Ticket { ticket, .. } => Some(format!("ticket:{}", ticket.secret)),
        Found::Nothing | Found::Ambiguous { .. } => None,
    }
}

fn grace_end(expiry: NaiveDate, grace_days: u32) -> NaiveDate {
    expiry
        .checked_add_days(Days::new(u64::from(grace_days)))
        .unwrap_or(NaiveDate::MAX)
}

fn membership_valid(m: &Membership, today: NaiveDate, grace_days: u32) -> bool {
    m.status == MembershipStatus::Active
        && m.start <= today
        && today <= grace_end(m.expiry, grace_days)
}

/// The membership a Lookup ID scan uses: a currently valid one first, then the most guests,
/// then the latest expiry, then the lowest id (deterministic). Returns it with the number of
/// currently valid memberships.
pub fn choose_membership(
    memberships: &[Membership],
    today: NaiveDate,
    grace_days: u32,
) -> Option<(&Membership, usize)> {
    let valid = memberships
        .iter()
        .filter(|m| membership_valid(m, today, grace_days))
        .count();
    memberships
        .iter()
        .min_by(|a, b| {
            let va = membership_valid(a, today, grace_days);
            let vb = membership_valid(b, today, grace_days);
            vb.cmp(&va)
                .then(b.guest_allowance.cmp(&a.guest_allowance))
                .then(b.expiry.cmp(&a.expiry))
                .then(a.membership_id.cmp(&b.membership_id))
        })
        .map(|m| (m, valid))
}

fn membership_entry(
    scan: &Scan<'_>,
    m: &Membership,
    requested: u32,
    mut notes: Vec<Note>,
) -> Verdict {
    let policy = scan.policy;
    let today = scan.now.today();
    if m.status != MembershipStatus::Active {
        return Verdict::deny(Reason::MembershipInactive { status: m.status });
    }
    if today < m.start {
        return Verdict::deny(Reason::NotYetValid {
            what: Validity::Membership,
            from: m.start,
        });
    }
    if today > grace_end(m.expiry, policy.grace_days) {
        return Verdict::deny(Reason::Expired {
            what: Validity::Membership,
            on: m.expiry,
        });
    }
    if today > m.expiry {
        notes.push(Note::GracePeriod {
            expired_on: m.expiry,
        });
    }
    if let Some(deny) = anti_passback(scan) {
        return deny;
    }
    if let Some(limit) = policy.daily_limit
        && entries_today(&scan.facts.history, today) >= limit
    {
        return Verdict::deny(Reason::DailyLimitReached { limit });
    }
    let allowed = m.guest_allowance.saturating_add(1);
    match fit_party(requested, allowed, policy.party_overflow, &mut notes) {
        Err(reason) => Verdict::deny(reason),
        Ok(admitted) => Verdict {
            reason: Reason::Admitted {
                kind: AdmitKind::Member,
            },
            notes,
            admitted,
            uses_burned: 0,
        },
    }
}

fn fit_party(
    requested: u32,
    allowed: u32,
    overflow: PartyOverflow,
    notes: &mut Vec<Note>,
) -> Result<u32, Reason> {
    if requested <= allowed {
        return Ok(requested);
    }
    match overflow {
        PartyOverflow::Deny => Err(Reason::PartyTooLarge { requested, allowed }),
        PartyOverflow::AdmitAllowed => {
            notes.push(Note::PartyReduced {
                requested,
                admitted: allowed,
            });
            Ok(allowed)
        }
    }
}

/// Admissions (not re-entries) on the local day `today`.
fn entries_today(h: &UseHistory, today: NaiveDate) -> u32 {
    let n = h
        .admissions
        .iter()
        .filter(|a| a.local.date() == today && a.uses > 0)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn anti_passback(scan: &Scan<'_>) -> Option<Verdict> {
    let window = to_delta(scan.policy.anti_passback);
    if window <= TimeDelta::zero() {
        return None;
    }
    let h = &scan.facts.history;
    let last = h.last_admission()?;
    if h.exited_since_last_admission() {
        return None;
    }
    let elapsed = scan
        .now
        .utc
        .signed_duration_since(last.at)
        .max(TimeDelta::zero());
    if elapsed >= window {
        return None;
    }
    let left = window - elapsed;
    let wait_minutes = (left.num_seconds() + 59) / 60;
    Some(Verdict::deny(Reason::AntiPassback {
        last_entry: last.local,
        gate: last.gate.clone(),
        wait_minutes,
    }))
}

fn ticket_entry(scan: &Scan<'_>, t: &Ticket, requested: u32) -> Verdict {
    let policy = scan.policy;
    let today = scan.now.today();
    // A signed ticket's signature is its validity, unless the hub revoked it (a refund) or
    // its signing key (a stolen kiosk): the shell marks it revoked then.
    if t.status == TicketStatus::Revoked {
        return Verdict::deny(Reason::Revoked {
            by: RevokedBy::TicketStatus,
        });
    }
    if let Some(allowed) = &policy.allowed_products
        && !allowed.contains(&t.product_id)
    {
        return Verdict::deny(Reason::WrongGate(WrongGate::ProductNotAllowed {
            product_id: t.product_id.clone(),
        }));
    }
    match &t.validity {
        TicketValidity::Open => {}
        TicketValidity::Date { date } => {
            if today < *date {
                return Verdict::deny(Reason::NotYetValid {
                    what: Validity::Ticket,
                    from: *date,
                });
            }
            if today > *date {
                return Verdict::deny(Reason::Expired {
                    what: Validity::Ticket,
                    on: *date,
                });
            }
        }
        TicketValidity::Slot { start, end } => {
            let earliest = start
                .checked_sub_signed(to_delta(policy.slot_tolerance_before))
                .unwrap_or(NaiveDateTime::MIN);
            let latest = end
                .checked_add_signed(to_delta(policy.slot_tolerance_after))
                .unwrap_or(NaiveDateTime::MAX);
            if scan.now.local < earliest || scan.now.local > latest {
                return Verdict::deny(Reason::OutsideTimeSlot {
                    start: *start,
                    end: *end,
                    too_early: scan.now.local < earliest,
                });
            }
        }
    }
    if let Some(deny) = anti_passback(scan) {
        return deny;
    }
    let h = &scan.facts.history;
    let mut notes = Vec::new();
    let today_entries: Vec<_> = h
        .admissions
        .iter()
        .filter(|a| a.local.date() == today)
        .collect();
    let reentry = !today_entries.is_empty()
        && match policy.reentry {
            Reentry::Never => false,
            Reentry::AfterExit => h.exited_since_last_admission(),
            Reentry::Always => true,
        };
    if reentry {
        // Those who came in today may come back: as many as the largest party admitted.
        let came_in = today_entries
            .iter()
            .map(|a| a.uses)
            .max()
            .unwrap_or(0)
            .max(1);
        return match fit_party(requested, came_in, policy.party_overflow, &mut notes) {
            Err(reason) => Verdict::deny(reason),
            Ok(admitted) => Verdict {
                reason: Reason::Admitted {
                    kind: AdmitKind::Reentry,
                },
                notes,
                admitted,
                uses_burned: 0,
            },
        };
    }
    if let Some(limit) = policy.daily_limit
        && entries_today(h, today) >= limit
    {
        return Verdict::deny(Reason::DailyLimitReached { limit });
    }
    let remaining = t.uses_allowed.saturating_sub(h.uses_total);
    if remaining == 0 {
        return Verdict::deny(Reason::AlreadyUsed {
            uses_allowed: t.uses_allowed,
            last_used: h.last_admission().map(|a| a.local),
        });
    }
    match fit_party(requested, remaining, policy.party_overflow, &mut notes) {
        Err(reason) => Verdict::deny(reason),
        Ok(admitted) => Verdict {
            reason: Reason::Admitted {
                kind: AdmitKind::Ticket,
            },
            notes,
            admitted,
            uses_burned: admitted,
        },
    }
}
