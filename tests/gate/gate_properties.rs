//! Properties of the decision core: it never panics on arbitrary facts and times, and the
//! same input always gives the same decision.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use portico::domain::{Membership, MembershipStatus, Ticket, TicketStatus, TicketValidity};
use portico::gate::{
    Effect, Facts, Found, GateDirection, GatePolicy, MergeHop, Now, Outcome, PartyOverflow,
    PriorAdmission, Reentry, Scan, ScanDirection, TicketOrigin, UseHistory, decide,
};
use portico::input::credential::CredentialKind;
use proptest::prelude::*;

fn any_utc() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        // Near the present, where the rules bite.
        (1_700_000_000i64..1_900_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        // Anywhere chrono can represent.
        (-8_000_000_000_000i64..8_000_000_000_000)
            .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
    ]
}

fn any_local() -> impl Strategy<Value = NaiveDateTime> {
    any_utc().prop_map(|t| t.naive_utc())
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
        any_local().prop_map(|t| t.date()),
    ]
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..100_000).prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

fn any_membership() -> impl Strategy<Value = Membership> {
    let status = prop_oneof![
        Just(MembershipStatus::Active),
        Just(MembershipStatus::Pending),
        Just(MembershipStatus::Lapsed),
        Just(MembershipStatus::Cancelled),
    ];
    (status, any_date(), any_date(), any::<u32>(), "[0-9]{1,3}").prop_map(
        |(status, start, expiry, guests, id)| Membership {
            membership_id: id,
            level: "L".into(),
            status,
            start,
            expiry,
            members: vec![],
            guest_allowance: guests,
        },
    )
}

fn any_found() -> impl Strategy<Value = Found> {
    let validity = prop_oneof![
        Just(TicketValidity::Open),
        any_date().prop_map(|date| TicketValidity::Date { date }),
        (any_local(), any_local()).prop_map(|(start, end)| TicketValidity::Slot { start, end }),
    ];
    let ticket = (
        validity,
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
        "[A-C]{1,2}",
    )
        .prop_map(|(validity, uses, revoked, signed, product)| Found::Ticket {
            ticket: Ticket {
                secret: "S".into(),
                product_id: product,
                validity,
                uses_allowed: uses,
                status: if revoked {
                    TicketStatus::Revoked
                } else {
                    TicketStatus::Valid
                },
                holder: None,
            },
            origin: if signed {
                TicketOrigin::Signed
            } else {
                TicketOrigin::Replica
            },
        });
    prop_oneof![
        Just(Found::Nothing),
        Just(Found::Ambiguous {
            candidates: vec!["a".into(), "b".into()]
        }),
        any_membership().prop_map(|m| Found::Membership {
            membership: m,
            holder: None
        }),
        proptest::collection::vec(any_membership(), 0..4).prop_map(|ms| Found::Constituent {
            constituent: portico::gate::Person {
                lookup_id: "8-1".into(),
                name: Default::default(),
            },
            memberships: ms,
        }),
        ticket,
    ]
}

fn any_facts() -> impl Strategy<Value = Facts> {
    let admission =
        (any_utc(), any_local(), any::<u32>()).prop_map(|(at, local, uses)| PriorAdmission {
            at,
            local,
            gate: "G".into(),
            uses,
        });
    (
        any_found(),
        any::<bool>(),
        any::<u32>(),
        proptest::collection::vec(admission, 0..5),
        proptest::option::of(any_utc()),
        any::<bool>(),
    )
        .prop_map(
            |(found, merged, uses_total, admissions, last_exit, hit)| Facts {
                found,
                merge: merged.then(|| MergeHop {
                    requested: "1".into(),
                    survivor: "2".into(),
                }),
                history: UseHistory {
                    uses_total,
                    admissions,
                    last_exit,
                },
                revocation_hit: hit,
            },
        )
}

fn any_policy() -> impl Strategy<Value = GatePolicy> {
    (
        prop_oneof![
            Just(GateDirection::Entry),
            Just(GateDirection::Exit),
            Just(GateDirection::Both)
        ],
        any::<u32>(),
        any_duration(),
        any_duration(),
        any_duration(),
        prop_oneof![
            Just(Reentry::Never),
            Just(Reentry::AfterExit),
            Just(Reentry::Always)
        ],
        proptest::option::of(any::<u32>()),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                direction,
                grace_days,
                before,
                after,
                apb,
                reentry,
                daily_limit,
                party_max,
                reduce,
                restrict,
            )| {
                GatePolicy {
                    direction,
                    grace_days,
                    slot_tolerance_before: before,
                    slot_tolerance_after: after,
                    anti_passback: apb,
                    reentry,
                    daily_limit,
                    party_max,
                    party_overflow: if reduce {
                        PartyOverflow::AdmitAllowed
                    } else {
                        PartyOverflow::Deny
                    },
                    allowed_products: restrict.then(|| BTreeSet::from(["A".to_owned()])),
                    revoked: BTreeSet::from(["membership:7".to_owned()]),
                    ..GatePolicy::default()
                }
            },
        )
}

fn any_credential() -> impl Strategy<Value = CredentialKind> {
    prop_oneof![
        "[0-9]{1,2}".prop_map(|membership_id| CredentialKind::Membership { membership_id }),
        "8-[0-9]{1,2}".prop_map(|lookup_id| CredentialKind::LookupId { lookup_id }),
        "[A-Z]{1,3}".prop_map(|secret| CredentialKind::TicketSecret { secret }),
        Just(CredentialKind::Unrecognized {
            reason: portico::input::credential::Unrecognized::NoMatch
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_is_deterministic(
        cred in any_credential(),
        facts in any_facts(),
        policy in any_policy(),
        exit in any::<bool>(),
        party in any::<u32>(),
        utc in any_utc(),
        local in any_local(),
    ) {
        let scan = Scan {
            credential: &cred,
            facts: &facts,
            policy: &policy,
            direction: if exit { ScanDirection::Exit } else { ScanDirection::Entry },
            party,
            now: Now { utc, local },
        };
        let a = decide(&scan);
        let b = decide(&scan);
        prop_assert_eq!(&a, &b);
        prop_assert!(a.party.admitted <= a.party.requested);
        let opens = a.effects.iter().any(|e| matches!(e, Effect::PulseRelay { .. }));
        match a.outcome {
            Outcome::Admit => {
                prop_assert!(a.reason.is_admit());
                prop_assert!(a.party.admitted >= 1);
                prop_assert!(opens);
            }
            Outcome::Deny => {
                prop_assert!(!a.reason.is_admit());
                prop_assert_eq!(a.party.admitted, 0);
                prop_assert!(!opens);
                prop_assert_eq!(a.scan_record().unwrap().uses_burned, 0);
            }
        }
        prop_assert!(matches!(a.effects.first(), Some(Effect::PersistScan(_))));
        prop_assert!(!a.reason.plain_words().is_empty());
    }
}
