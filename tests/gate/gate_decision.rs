//! Decision table for the admission core: every rule and every reason, with injected time
//! and the boundaries (grace day, slot tolerance, anti-passback window, N-th use, per-day
//! limit reset at local midnight).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use portico::domain::{
    Membership, MembershipStatus, PersonName, Ticket, TicketStatus, TicketValidity,
};
use portico::gate::{
    AdmitKind, Colour, Decision, Effect, Facts, Found, GateDirection, GatePolicy, LookupPlan,
    MergeHop, Note, Now, Outcome, PartyOverflow, Person, PriorAdmission, Reason, Reentry, Scan,
    ScanDirection, Screen, TicketOrigin, UseHistory, decide,
};
use portico::input::credential::{CredentialKind, Unrecognized};

/// The venue is two hours ahead of UTC in these tests, so local and UTC dates differ around
/// midnight.
const OFFSET_H: i64 = 2;

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .expect("test time")
}

fn date(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

fn at(s: &str) -> Now {
    let l = local(s);
    Now {
        utc: (l - TimeDelta::hours(OFFSET_H)).and_utc(),
        local: l,
    }
}

fn admission(s: &str, uses: u32) -> PriorAdmission {
    let n = at(s);
    PriorAdmission {
        at: n.utc,
        local: n.local,
        gate: "West".into(),
        uses,
    }
}

fn membership(status: MembershipStatus, start: &str, expiry: &str, guests: u32) -> Membership {
    Membership {
        membership_id: "10001".into(),
        level: "Family".into(),
        status,
        start: date(start),
        expiry: date(expiry),
        members: vec!["8-100".into()],
        guest_allowance: guests,
    }
}

fn member(m: Membership) -> Found {
    Found::Membership {
        membership: m,
        holder: Some(constituent("8-100")),
    }
}

fn active() -> Membership {
    membership(MembershipStatus::Active, "2026-01-01", "2026-12-31", 2)
}

fn constituent(id: &str) -> Person {
    Person {
        lookup_id: id.into(),
        name: PersonName {
            first: "Ada".into(),
            last: "Lovelace".into(),
            ..Default::default()
        },
    }
}

fn ticket(validity: TicketValidity, uses: u32) -> Ticket {
    Ticket {
        secret: "SECRET1".into(),
        product_id: "GA".into(),
        validity,
        uses_allowed: uses,
        status: TicketStatus::Valid,
        holder: None,
    }
}

fn replica_ticket(t: Ticket) -> Found {
    Found::Ticket {
        ticket: t,
        origin: TicketOrigin::Replica,
    }
}

fn card() -> CredentialKind {
    CredentialKind::Membership {
        membership_id: "10001".into(),
    }
}

fn old_card() -> CredentialKind {
    CredentialKind::Membership {
        membership_id: "10000".into(),
    }
}

fn lookup() -> CredentialKind {
    CredentialKind::LookupId {
        lookup_id: "8-100".into(),
    }
}

fn secret() -> CredentialKind {
    CredentialKind::TicketSecret {
        secret: "SECRET1".into(),
    }
}

fn policy() -> GatePolicy {
    GatePolicy {
        gate_id: "North".into(),
        direction: GateDirection::Both,
        grace_days: 0,
        slot_tolerance_before: Duration::from_secs(15 * 60),
        slot_tolerance_after: Duration::from_secs(30 * 60),
        anti_passback: Duration::from_secs(10 * 60),
        reentry: Reentry::AfterExit,
        daily_limit: None,
        party_max: 10,
        party_overflow: PartyOverflow::Deny,
        ..GatePolicy::default()
    }
}

fn hist(uses_total: u32, admissions: Vec<PriorAdmission>, exit: Option<&str>) -> UseHistory {
    UseHistory {
        uses_total,
        admissions,
        last_exit: exit.map(|e| at(e).utc),
    }
}

/// Expected result: the reason code, people admitted (0 for a denial), uses burned, and the
/// note expected first (if any).
#[derive(Debug)]
struct Expect {
    code: &'static str,
    admitted: u32,
    burned: u32,
    note: Option<&'static str>,
}

fn admit(admitted: u32, burned: u32) -> Expect {
    Expect {
        code: "admitted",
        admitted,
        burned,
        note: None,
    }
}

fn deny(code: &'static str) -> Expect {
    Expect {
        code,
        admitted: 0,
        burned: 0,
        note: None,
    }
}

impl Expect {
    fn note(mut self, n: &'static str) -> Self {
        self.note = Some(n);
        self
    }
}

struct Case {
    name: &'static str,
    cred: CredentialKind,
    facts: Facts,
    policy: GatePolicy,
    dir: ScanDirection,
    party: u32,
    now: Now,
    expect: Expect,
}

fn case(name: &'static str, cred: CredentialKind, found: Found, now: &str, e: Expect) -> Case {
    Case {
        name,
        cred,
        facts: Facts {
            found,
            ..Facts::default()
        },
        policy: policy(),
        dir: ScanDirection::Entry,
        party: 1,
        now: at(now),
        expect: e,
    }
}

impl Case {
    fn history(mut self, h: UseHistory) -> Self {
        self.facts.history = h;
        self
    }
    fn policy(mut self, f: impl FnOnce(&mut GatePolicy)) -> Self {
        f(&mut self.policy);
        self
    }
    fn party(mut self, n: u32) -> Self {
        self.party = n;
        self
    }
    fn exit(mut self) -> Self {
        self.dir = ScanDirection::Exit;
        self
    }
    fn facts(mut self, f: impl FnOnce(&mut Facts)) -> Self {
        f(&mut self.facts);
        self
    }
}

fn note_code(n: &Note) -> &'static str {
    match n {
        Note::AdmittedViaMerge { .. } => "via_merge",
        Note::GracePeriod { .. } => "grace",
        Note::PartyReduced { .. } => "party_reduced",
        Note::ChoseMembership { .. } => "chose_membership",
    }
}

fn run(c: &Case) -> Decision {
    decide(&Scan {
        credential: &c.cred,
        facts: &c.facts,
        policy: &c.policy,
        direction: c.dir,
        party: c.party,
        now: c.now,
    })
}

fn slot() -> TicketValidity {
    TicketValidity::Slot {
        start: local("2026-10-10 10:00"),
        end: local("2026-10-10 11:00"),
    }
}

fn cases() -> Vec<Case> {
    use MembershipStatus::*;
    let t = "2026-10-10 12:00";
    vec![
        // --- memberships: status, start, expiry with grace ---
        case("active member", card(), member(active()), t, admit(1, 0)),
        case(
            "pending",
            card(),
            member(membership(Pending, "2026-01-01", "2026-12-31", 0)),
            t,
            deny("membership_inactive"),
        ),
        case(
            "lapsed",
            card(),
            member(membership(Lapsed, "2026-01-01", "2026-12-31", 0)),
            t,
            deny("membership_inactive"),
        ),
        case(
            "cancelled",
            card(),
            member(membership(Cancelled, "2026-01-01", "2026-12-31", 0)),
            t,
            deny("membership_inactive"),
        ),
        case(
            "starts tomorrow",
            card(),
            member(membership(Active, "2026-10-11", "2027-10-10", 0)),
            t,
            deny("not_yet_valid"),
        ),
        case(
            "starts today",
            card(),
            member(membership(Active, "2026-10-10", "2027-10-10", 0)),
            t,
            admit(1, 0),
        ),
        case(
            "expires today",
            card(),
            member(membership(Active, "2025-10-10", "2026-10-10", 0)),
            t,
            admit(1, 0),
        ),
        case(
            "expired yesterday, no grace",
            card(),
            member(membership(Active, "2025-10-10", "2026-10-09", 0)),
            t,
            deny("expired"),
        ),
        case(
            "last grace day",
            card(),
            member(membership(Active, "2025-10-03", "2026-10-03", 0)),
            t,
            admit(1, 0).note("grace"),
        )
        .policy(|p| p.grace_days = 7),
        case(
            "day after grace",
            card(),
            member(membership(Active, "2025-10-02", "2026-10-02", 0)),
            t,
            deny("expired"),
        )
        .policy(|p| p.grace_days = 7),
        // --- party and guest allowance ---
        case(
            "member plus two guests",
            card(),
            member(active()),
            t,
            admit(3, 0),
        )
        .party(3),
        case(
            "party over allowance denied",
            card(),
            member(active()),
            t,
            deny("party_too_large"),
        )
        .party(4),
        case(
            "party over allowance reduced",
            card(),
            member(active()),
            t,
            admit(3, 0).note("party_reduced"),
        )
        .party(4)
        .policy(|p| p.party_overflow = PartyOverflow::AdmitAllowed),
        case(
            "party over gate maximum",
            card(),
            member(active()),
            t,
            deny("party_too_large"),
        )
        .party(11)
        .policy(|p| p.party_overflow = PartyOverflow::AdmitAllowed),
        case("party 0 is 1", card(), member(active()), t, admit(1, 0)).party(0),
        // --- merges ---
        case(
            "merged-away id admits as survivor",
            old_card(),
            member(active()),
            t,
            admit(1, 0).note("via_merge"),
        )
        .facts(|f| {
            f.merge = Some(MergeHop {
                requested: "10000".into(),
                survivor: "10001".into(),
            })
        }),
        // --- Lookup ID with its memberships ---
        case(
            "lookup id: lapsed and active",
            lookup(),
            Found::Constituent {
                constituent: constituent("8-100"),
                memberships: vec![membership(Lapsed, "2025-01-01", "2027-01-01", 4), active()],
            },
            t,
            admit(1, 0),
        ),
        case(
            "lookup id: two valid",
            lookup(),
            Found::Constituent {
                constituent: constituent("8-100"),
                memberships: vec![active(), membership(Active, "2026-01-01", "2027-06-30", 4)],
            },
            t,
            admit(5, 0).note("chose_membership"),
        )
        .party(5),
        case(
            "lookup id: no membership",
            lookup(),
            Found::Constituent {
                constituent: constituent("8-100"),
                memberships: vec![],
            },
            t,
            deny("unknown"),
        ),
        case(
            "lookup id: only lapsed",
            lookup(),
            Found::Constituent {
                constituent: constituent("8-100"),
                memberships: vec![membership(Lapsed, "2025-01-01", "2027-01-01", 4)],
            },
            t,
            deny("membership_inactive"),
        ),
        // --- anti-passback window edge ---
        case(
            "re-scan inside window",
            card(),
            member(active()),
            "2026-10-10 12:09:59",
            deny("anti_passback"),
        )
        .history(hist(0, vec![admission(t, 1)], None)),
        case(
            "re-scan at window end",
            card(),
            member(active()),
            "2026-10-10 12:10:00",
            admit(1, 0),
        )
        .history(hist(0, vec![admission(t, 1)], None)),
        case(
            "re-scan inside window after exit",
            card(),
            member(active()),
            "2026-10-10 12:05",
            admit(1, 0),
        )
        .history(hist(0, vec![admission(t, 1)], Some("2026-10-10 12:03"))),
        case(
            "anti-passback disabled",
            card(),
            member(active()),
            "2026-10-10 12:01",
            admit(1, 0),
        )
        .history(hist(0, vec![admission(t, 1)], None))
        .policy(|p| p.anti_passback = Duration::ZERO),
        // --- per-day limit and its reset at local midnight ---
        case(
            "daily limit reached",
            card(),
            member(active()),
            "2026-10-10 23:59",
            deny("daily_limit_reached"),
        )
        .history(hist(
            0,
            vec![admission("2026-10-10 09:00", 1)],
            Some("2026-10-10 10:00"),
        ))
        .policy(|p| p.daily_limit = Some(1)),
        case(
            "daily limit reset at local midnight",
            card(),
            member(active()),
            "2026-10-11 00:05",
            admit(1, 0),
        )
        .history(hist(0, vec![admission("2026-10-10 23:50", 1)], None))
        .policy(|p| p.daily_limit = Some(1)),
        // --- block list ---
        case(
            "membership on block list",
            card(),
            member(active()),
            t,
            deny("revoked"),
        )
        .policy(|p| p.revoked = BTreeSet::from(["membership:10001".to_owned()])),
        case(
            "merged-away id on block list",
            old_card(),
            member(active()),
            t,
            deny("revoked"),
        )
        .facts(|f| {
            f.merge = Some(MergeHop {
                requested: "10000".into(),
                survivor: "10001".into(),
            })
        })
        .policy(|p| p.revoked = BTreeSet::from(["membership:10000".to_owned()])),
        case(
            "shell block-list hit",
            card(),
            member(active()),
            t,
            deny("revoked"),
        )
        .facts(|f| f.revocation_hit = true),
        case(
            "rfid card on block list",
            CredentialKind::RfidUid {
                uid: vec![4, 0xa1],
                uid_hex: "04a1".into(),
            },
            Found::Nothing,
            t,
            deny("revoked"),
        )
        .policy(|p| p.revoked = BTreeSet::from(["rfid:04A1".to_owned()])),
        // --- direction ---
        case(
            "entry scan at exit-only gate",
            card(),
            member(active()),
            t,
            deny("wrong_gate"),
        )
        .policy(|p| p.direction = GateDirection::Exit),
        case(
            "exit scan at entry-only gate",
            card(),
            member(active()),
            t,
            deny("wrong_gate"),
        )
        .exit()
        .policy(|p| p.direction = GateDirection::Entry),
        case(
            "exit scan of an expired member opens",
            card(),
            member(membership(Active, "2025-01-01", "2025-12-31", 0)),
            t,
            admit(1, 0),
        )
        .exit()
        .policy(|p| p.direction = GateDirection::Exit),
        // --- unknown and ambiguous ---
        case("nothing found", card(), Found::Nothing, t, deny("unknown")),
        case(
            "unrecognised frame",
            CredentialKind::Unrecognized {
                reason: Unrecognized::NoMatch,
            },
            Found::Nothing,
            t,
            deny("unknown"),
        ),
        case(
            "ambiguous",
            card(),
            Found::Ambiguous {
                candidates: vec!["a".into(), "b".into()],
            },
            t,
            deny("ambiguous"),
        ),
        // --- tickets: uses ---
        case(
            "single-use ticket",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            admit(1, 1),
        ),
        case(
            "single-use ticket used",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            deny("already_used"),
        )
        .history(hist(1, vec![admission("2026-10-01 10:00", 1)], None)),
        case(
            "third of three uses",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 3)),
            t,
            admit(1, 1),
        )
        .history(hist(2, vec![admission("2026-10-08 10:00", 1)], None)),
        case(
            "fourth of three uses",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 3)),
            t,
            deny("already_used"),
        )
        .history(hist(3, vec![admission("2026-10-09 10:00", 1)], None)),
        case(
            "group ticket party",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 3)),
            t,
            admit(2, 2),
        )
        .party(2),
        case(
            "group ticket party too big",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 3)),
            t,
            deny("party_too_large"),
        )
        .party(4),
        case(
            "multi-use daily limit",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 5)),
            t,
            deny("daily_limit_reached"),
        )
        .history(hist(1, vec![admission("2026-10-10 09:00", 1)], None))
        .policy(|p| {
            p.daily_limit = Some(1);
            p.reentry = Reentry::Never;
        }),
        case(
            "multi-use, next day",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 5)),
            "2026-10-11 00:00",
            admit(1, 1),
        )
        .history(hist(1, vec![admission("2026-10-10 09:00", 1)], None))
        .policy(|p| {
            p.daily_limit = Some(1);
            p.reentry = Reentry::Never;
        }),
        // --- tickets: status, product, dates ---
        case(
            "revoked ticket",
            secret(),
            replica_ticket(Ticket {
                status: TicketStatus::Revoked,
                ..ticket(TicketValidity::Open, 1)
            }),
            t,
            deny("revoked"),
        ),
        case(
            "product not at this gate",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            deny("wrong_gate"),
        )
        .policy(|p| p.allowed_products = Some(BTreeSet::from(["VIP".to_owned()]))),
        case(
            "product at this gate",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            admit(1, 1),
        )
        .policy(|p| p.allowed_products = Some(BTreeSet::from(["GA".to_owned()]))),
        case(
            "dated ticket today",
            secret(),
            replica_ticket(ticket(
                TicketValidity::Date {
                    date: date("2026-10-10"),
                },
                1,
            )),
            t,
            admit(1, 1),
        ),
        case(
            "dated ticket tomorrow",
            secret(),
            replica_ticket(ticket(
                TicketValidity::Date {
                    date: date("2026-10-11"),
                },
                1,
            )),
            t,
            deny("not_yet_valid"),
        ),
        case(
            "dated ticket yesterday",
            secret(),
            replica_ticket(ticket(
                TicketValidity::Date {
                    date: date("2026-10-09"),
                },
                1,
            )),
            t,
            deny("expired"),
        ),
        case(
            "dated ticket, local date not UTC date",
            secret(),
            replica_ticket(ticket(
                TicketValidity::Date {
                    date: date("2026-10-11"),
                },
                1,
            )),
            "2026-10-11 01:00",
            admit(1, 1),
        ),
        // --- timed-entry slot with tolerances ---
        case(
            "slot: earliest edge",
            secret(),
            replica_ticket(ticket(slot(), 1)),
            "2026-10-10 09:45:00",
            admit(1, 1),
        ),
        case(
            "slot: one second too early",
            secret(),
            replica_ticket(ticket(slot(), 1)),
            "2026-10-10 09:44:59",
            deny("outside_time_slot"),
        ),
        case(
            "slot: latest edge",
            secret(),
            replica_ticket(ticket(slot(), 1)),
            "2026-10-10 11:30:00",
            admit(1, 1),
        ),
        case(
            "slot: one second too late",
            secret(),
            replica_ticket(ticket(slot(), 1)),
            "2026-10-10 11:30:01",
            deny("outside_time_slot"),
        ),
        // --- re-entry ---
        case(
            "re-entry after exit",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            Expect {
                code: "admitted",
                admitted: 1,
                burned: 0,
                note: None,
            },
        )
        .history(hist(
            1,
            vec![admission("2026-10-10 10:00", 1)],
            Some("2026-10-10 10:30"),
        )),
        case(
            "re-entry without exit",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            deny("already_used"),
        )
        .history(hist(1, vec![admission("2026-10-10 10:00", 1)], None)),
        case(
            "re-entry not allowed",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            deny("already_used"),
        )
        .history(hist(
            1,
            vec![admission("2026-10-10 10:00", 1)],
            Some("2026-10-10 10:30"),
        ))
        .policy(|p| p.reentry = Reentry::Never),
        case(
            "re-entry always",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            admit(1, 0),
        )
        .history(hist(1, vec![admission("2026-10-10 10:00", 1)], None))
        .policy(|p| p.reentry = Reentry::Always),
        case(
            "re-entry is same-day only",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 1)),
            t,
            deny("already_used"),
        )
        .history(hist(
            1,
            vec![admission("2026-10-09 10:00", 1)],
            Some("2026-10-09 10:30"),
        )),
        case(
            "ticket anti-passback",
            secret(),
            replica_ticket(ticket(TicketValidity::Open, 5)),
            "2026-10-10 12:02",
            deny("anti_passback"),
        )
        .history(hist(1, vec![admission(t, 1)], None)),
        // --- offline-signed tickets: signature plus local use count ---
        case(
            "signed ticket",
            secret(),
            Found::Ticket {
                ticket: ticket(TicketValidity::Open, 2),
                origin: TicketOrigin::Signed,
            },
            t,
            admit(1, 1),
        )
        .history(hist(1, vec![admission("2026-10-01 10:00", 1)], None)),
        case(
            "signed ticket used up",
            secret(),
            Found::Ticket {
                ticket: ticket(TicketValidity::Open, 2),
                origin: TicketOrigin::Signed,
            },
            t,
            deny("already_used"),
        )
        .history(hist(2, vec![admission("2026-10-01 10:00", 1)], None)),
    ]
}

#[test]
fn decision_table() {
    let mut failures = Vec::new();
    let table = cases();
    for c in &table {
        let d = run(c);
        let e = &c.expect;
        let record = d.scan_record().expect("every decision persists its scan");
        let got = (
            d.reason.code(),
            d.party.admitted,
            record.uses_burned,
            d.note().map(note_code),
        );
        if got != (e.code, e.admitted, e.burned, e.note) {
            failures.push(format!(
                "{}: expected {e:?}, got {got:?} ({:?})",
                c.name, d.reason
            ));
        }
        if (d.outcome == Outcome::Admit) != (e.code == "admitted") {
            failures.push(format!(
                "{}: outcome {:?} with reason {:?}",
                c.name, d.outcome, d.reason
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every reason code appears in the table.
    let codes: BTreeSet<_> = table.iter().map(|c| c.expect.code).collect();
    for code in [
        "admitted",
        "unknown",
        "expired",
        "not_yet_valid",
        "outside_time_slot",
        "already_used",
        "daily_limit_reached",
        "anti_passback",
        "revoked",
        "wrong_gate",
        "membership_inactive",
        "ambiguous",
        "party_too_large",
    ] {
        assert!(codes.contains(code), "no case for {code}");
    }
}

#[test]
fn a_holder_looked_up_after_the_decision_is_greeted_on_the_screen() {
    // The gate decides a membership without its holder (only shown, never decided on) and
    // names them once the scan is durable.
    fn screen_name(d: &Decision) -> Option<String> {
        d.effects.iter().find_map(|e| match e {
            Effect::ShowScreen(s) => Some(s.name.clone()),
            _ => None,
        })?
    }
    let without = Found::Membership {
        membership: active(),
        holder: None,
    };
    for (found, expect) in [
        (without.clone(), admit(1, 0)),
        (
            Found::Membership {
                membership: Membership {
                    status: MembershipStatus::Cancelled,
                    ..active()
                },
                holder: None,
            },
            deny("membership_inactive"),
        ),
    ] {
        let c = case("holder later", card(), found, "2026-10-10 12:00", expect);
        let mut d = run(&c);
        assert_eq!(screen_name(&d), None);
        let undecided = (d.outcome, d.reason.code(), d.scan_record().cloned());
        d.greet(&constituent("8-100"));
        assert_eq!(screen_name(&d).as_deref(), Some("Ada Lovelace"));
        assert_eq!(
            (d.outcome, d.reason.code(), d.scan_record().cloned()),
            undecided
        );
    }
    // A name the decision already showed is kept.
    let mut d = run(&case(
        "holder now",
        card(),
        member(active()),
        "2026-10-10 12:00",
        admit(1, 0),
    ));
    let mut other = constituent("8-200");
    other.name.first = "Grace".into();
    d.greet(&other);
    assert_eq!(screen_name(&d).as_deref(), Some("Ada Lovelace"));
}

#[test]
fn admit_effects_persist_first_then_open_show_and_sound() {
    let c = case(
        "x",
        card(),
        member(active()),
        "2026-10-10 12:00",
        admit(1, 0),
    );
    let d = run(&c);
    assert!(matches!(d.effects[0], Effect::PersistScan(_)));
    assert_eq!(
        d.effects[1],
        Effect::PulseRelay {
            duration: Duration::from_millis(800)
        }
    );
    let Effect::ShowScreen(screen) = &d.effects[2] else {
        panic!("screen third: {:?}", d.effects)
    };
    assert_eq!(screen.colour, Colour::Green);
    assert_eq!(screen.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(screen.membership_level.as_deref(), Some("Family"));
    assert_eq!(screen.guest_allowance, Some(2));
    assert!(matches!(
        d.effects[3],
        Effect::PlaySound(portico::gate::Sound::Admit)
    ));
    let r = d.scan_record().unwrap();
    assert_eq!(r.use_key.as_deref(), Some("membership:10001"));
    assert_eq!(r.gate, "North");
    assert_eq!(r.local, local("2026-10-10 12:00"));
}

/// A member whose membership expired a week ago scans their card.
fn expired_card() -> Case {
    case(
        "x",
        card(),
        member(membership(
            MembershipStatus::Active,
            "2025-10-03",
            "2026-10-03",
            0,
        )),
        "2026-10-10 12:00",
        deny("expired"),
    )
}

fn screen_of(d: &Decision) -> &Screen {
    let Some(Effect::ShowScreen(s)) = d
        .effects
        .iter()
        .find(|e| matches!(e, Effect::ShowScreen(_)))
    else {
        panic!("no screen")
    };
    s
}

#[test]
fn deny_never_opens_and_speaks_plainly() {
    let d = run(&expired_card());
    assert!(
        !d.effects
            .iter()
            .any(|e| matches!(e, Effect::PulseRelay { .. }))
    );
    let s = screen_of(&d);
    assert_eq!(s.colour, Colour::Red);
    assert_eq!(s.message, "Membership expired on 3 Oct 2026");
    assert_eq!(d.reason.plain_words(), "Membership expired on 3 Oct 2026");
}

#[test]
fn a_spanish_gate_shows_its_decision_in_spanish_and_records_it_in_english() {
    let d = run(&expired_card().policy(|p| p.language = portico::kiosk::catalog::Lang::Es));
    let s = screen_of(&d);
    assert_eq!(s.message, "La membresía venció el 3 oct 2026");
    assert_eq!(
        s.staff_action.as_deref(),
        Some("Ofrezca la renovación en el mostrador de socios.")
    );
    // The scan record, the logs and the hub read English.
    let r = d.scan_record().unwrap();
    assert_eq!(r.reason.plain_words(), "Membership expired on 3 Oct 2026");
}

#[test]
fn merge_note_names_both_ids_and_history_key_is_the_survivor() {
    let c = case(
        "x",
        old_card(),
        member(active()),
        "2026-10-10 12:00",
        admit(1, 0),
    )
    .facts(|f| {
        f.merge = Some(MergeHop {
            requested: "10000".into(),
            survivor: "10001".into(),
        })
    });
    let d = run(&c);
    assert_eq!(
        d.note(),
        Some(&Note::AdmittedViaMerge {
            requested: "10000".into(),
            survivor: "10001".into()
        })
    );
    assert_eq!(
        d.scan_record().unwrap().use_key.as_deref(),
        Some("membership:10001")
    );
    assert!(d.note().unwrap().plain_words().contains("10000"));
}

#[test]
fn anti_passback_says_how_long_to_wait() {
    let c = case(
        "x",
        card(),
        member(active()),
        "2026-10-10 12:03:30",
        deny("anti_passback"),
    )
    .history(hist(0, vec![admission("2026-10-10 12:00", 1)], None));
    let d = run(&c);
    match &d.reason {
        Reason::AntiPassback {
            wait_minutes, gate, ..
        } => {
            assert_eq!(*wait_minutes, 7);
            assert_eq!(gate, "West");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reentry_admission_kind() {
    let c = case(
        "x",
        secret(),
        replica_ticket(ticket(TicketValidity::Open, 1)),
        "2026-10-10 12:00",
        admit(1, 0),
    )
    .history(hist(
        1,
        vec![admission("2026-10-10 10:00", 1)],
        Some("2026-10-10 10:30"),
    ));
    assert_eq!(
        run(&c).reason,
        Reason::Admitted {
            kind: AdmitKind::Reentry
        }
    );
}

#[test]
fn lookup_plan_per_credential_kind() {
    assert_eq!(
        LookupPlan::for_credential(&card()),
        LookupPlan::Membership {
            membership_id: "10001".into()
        }
    );
    let plan = LookupPlan::for_credential(&lookup());
    assert_eq!(plan.resolve_id(), Some("8-100"));
    assert_eq!(
        plan.history_key(Some("8-200")).as_deref(),
        Some("lookup:8-200")
    );
    let plan = LookupPlan::for_credential(&secret());
    assert_eq!(plan.resolve_id(), None);
    assert_eq!(plan.history_key(None).as_deref(), Some("ticket:SECRET1"));
    assert_eq!(
        LookupPlan::for_credential(&CredentialKind::Unrecognized {
            reason: Unrecognized::Empty
        }),
        LookupPlan::Nothing
    );
}

#[test]
fn a_confirmed_party_is_held_between_the_member_alone_and_the_allowance() {
    use portico::gate::{PartySettlement, settle_party};
    // (let in so far, member + guests allowed, staff confirmed) → (party, extra openings)
    let cases = [
        ((1, 3, 3), (3, 2)),
        ((1, 3, 1), (1, 0)),
        ((1, 3, 9), (3, 2)),
        ((1, 3, 0), (1, 0)),
        ((3, 3, 2), (2, 0)),
        ((2, 5, 4), (4, 2)),
        ((1, 1, 4), (1, 0)),
        ((1, 0, 4), (1, 0)),
    ];
    for ((admitted, max, confirmed), (party, openings)) in cases {
        assert_eq!(
            settle_party(admitted, max, confirmed),
            PartySettlement {
                party_admitted: party,
                guest_openings: openings
            },
            "admitted {admitted}, allowed {max}, confirmed {confirmed}"
        );
    }
}
