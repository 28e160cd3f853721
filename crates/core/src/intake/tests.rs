//! The intake core as tables of cases.

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::{ContactMeta, Email, PersonName, Phone};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
}

fn meta(kind: &str, primary: bool) -> ContactMeta {
    ContactMeta {
        kind: kind.into(),
        primary,
        active: true,
        start: None,
        end: None,
    }
}

fn record(
    id: &str,
    first: &str,
    last: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> Constituent {
    Constituent {
        lookup_id: id.into(),
        name: PersonName {
            first: first.into(),
            last: last.into(),
            ..PersonName::default()
        },
        birth_date: None,
        status: ConstituentStatus::Active,
        historical_names: vec![],
        emails: email
            .map(|a| Email {
                address: a.into(),
                meta: meta("Email", true),
            })
            .into_iter()
            .collect(),
        phones: phone
            .map(|p| Phone {
                number: p.into(),
                meta: meta("Home", true),
            })
            .into_iter()
            .collect(),
        addresses: vec![],
    }
}

fn visitor(first: &str, last: &str, email: Option<&str>, phone: Option<&str>) -> VisitorDetails {
    VisitorDetails {
        name: PersonName {
            first: first.into(),
            last: last.into(),
            ..PersonName::default()
        },
        email: email.map(Into::into),
        phone: phone.map(Into::into),
        address: None,
        birth_date: None,
    }
}

/// The decision's shape, for tables.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    Matched(&'static str),
    Review(&'static str),
    Ambiguous(Vec<&'static str>),
    Created,
    Incomplete,
    Refused,
}

fn shape(d: &Decision) -> Want {
    match d {
        Decision::Matched { lookup_id, .. } => Want::Matched(leak(lookup_id)),
        Decision::Review { lookup_id, .. } => Want::Review(leak(lookup_id)),
        Decision::Ambiguous { candidates } => {
            Want::Ambiguous(candidates.iter().map(|c| leak(c)).collect())
        }
        Decision::Created { .. } => Want::Created,
        Decision::Incomplete { .. } => Want::Incomplete,
        Decision::Refused { .. } => Want::Refused,
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn kinds_of(plan: &Plan) -> Vec<&'static str> {
    plan.effects
        .iter()
        .map(|e| match e {
            Effect::InsertPending(_) => "insert_pending",
            Effect::UpdateConstituent { .. } => "update",
            Effect::Enqueue(row) => row.kind().0,
        })
        .collect()
}

/// Seeds 000/001, strict: "name and email match OR name and phone match", against all active
/// emails and phones; several candidates are ambiguous, never a silent pick; "Without
/// sufficient information, a new record will be created."
#[test]
fn rule_strict_name_and_email_or_name_and_phone_match_else_create() {
    let jane = record(
        "8-1001",
        "Jane",
        "Doe",
        Some("jane@example.net"),
        Some("(555) 123-4567"),
    );
    let jane_twin = record("8-1002", "Jane", "Doe", Some("jane@example.net"), None);
    let pending = record("L-0193aa", "Ana", "Lima", Some("ana@lima.net"), None);
    type Case = (
        &'static str,
        VisitorDetails,
        Vec<Constituent>,
        Want,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "name and email",
            visitor("JANE", "doe", Some("Jane@Example.net"), None),
            vec![jane.clone()],
            Want::Matched("8-1001"),
            vec!["visitor_update"],
        ),
        (
            "name and phone after normalisation",
            visitor("Jane", "Doe", None, Some("555.123.4567")),
            vec![jane.clone()],
            Want::Matched("8-1001"),
            vec!["visitor_update"],
        ),
        (
            "name only: not sufficient information",
            visitor("Jane", "Doe", None, None),
            vec![jane.clone()],
            Want::Created,
            vec!["insert_pending", "new_constituent"],
        ),
        (
            "email without the name",
            visitor("Janet", "Doe", Some("jane@example.net"), None),
            vec![jane.clone()],
            Want::Created,
            vec!["insert_pending", "new_constituent"],
        ),
        (
            "two records match: ambiguous, nothing written",
            visitor("Jane", "Doe", Some("jane@example.net"), None),
            vec![jane_twin.clone(), jane.clone()],
            Want::Ambiguous(vec!["8-1001", "8-1002"]),
            vec![],
        ),
        (
            "a pending local record matches like any other",
            visitor("Ana", "Lima", Some("ANA@lima.net"), None),
            vec![pending.clone()],
            Want::Matched("L-0193aa"),
            vec!["visitor_update"],
        ),
        (
            "no last name",
            visitor("Jane", " ", Some("jane@example.net"), None),
            vec![jane.clone()],
            Want::Incomplete,
            vec![],
        ),
        (
            "an oversized field is refused before anything is written",
            visitor(
                "Jane",
                "Doe",
                Some(&format!("{}@example.net", "j".repeat(300))),
                None,
            ),
            vec![jane.clone()],
            Want::Refused,
            vec![],
        ),
        (
            "a new phone on a match: the update rules change the record",
            visitor(
                "Jane",
                "Doe",
                Some("jane@example.net"),
                Some("555 000 1111"),
            ),
            vec![jane.clone()],
            Want::Matched("8-1001"),
            vec!["update", "visitor_update"],
        ),
    ];
    let n = Normalizer::default();
    for (what, v, candidates, want, effects) in cases {
        let plan = decide(
            &v,
            &candidates,
            &n,
            &IntakeConfig::default(),
            "L-new",
            now(),
        );
        assert_eq!(shape(&plan.decision), want, "{what}");
        assert_eq!(kinds_of(&plan), effects, "{what}");
    }
}

/// Seed 003: "If matching constituents qualify for automatic updates (their match confidence
/// score is above the top threshold), Altru applies these rules automatically"; "If matching
/// constituents qualify for manual review (their match confidence score falls in the middle
/// range)" a person resolves them. Thresholds default to 95 and 70; below, a new record.
#[test]
fn rule_scored_above_95_automatic_middle_range_review_below_70_create() {
    let mut jane = record(
        "8-1001",
        "Jane",
        "Doe",
        Some("jane@example.net"),
        Some("(555) 123-4567"),
    );
    jane.birth_date = chrono::NaiveDate::from_ymd_opt(1980, 5, 17);
    let cases: Vec<(&str, VisitorDetails, Want, Vec<&str>)> = vec![
        (
            "name, email and phone: 100",
            visitor(
                "Jane",
                "Doe",
                Some("jane@example.net"),
                Some("555-123-4567"),
            ),
            Want::Matched("8-1001"),
            vec!["visitor_update"],
        ),
        (
            "name and email only: 80, middle range",
            visitor("Jane", "Doe", Some("jane@example.net"), None),
            Want::Review("8-1001"),
            vec!["visitor_update"],
        ),
        (
            "name alone never reaches review",
            visitor("Jane", "Doe", None, None),
            Want::Created,
            vec!["insert_pending", "new_constituent"],
        ),
    ];
    let n = Normalizer::default();
    for (what, v, want, effects) in cases {
        let plan = decide(
            &v,
            std::slice::from_ref(&jane),
            &n,
            &IntakeConfig::scored(),
            "L-new",
            now(),
        );
        assert_eq!(shape(&plan.decision), want, "{what}");
        assert_eq!(kinds_of(&plan), effects, "{what}");
    }
}

/// The review band applies nothing locally: the only effect is the row that lets the hub queue
/// the match for staff, marked not automatic, with the device's score.
#[test]
fn rule_middle_range_goes_to_review_and_is_not_applied() {
    let jane = record("8-1001", "Jane", "Doe", Some("jane@example.net"), None);
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane@example.net"),
        Some("555 000 1111"),
    );
    let plan = decide(
        &v,
        &[jane],
        &Normalizer::default(),
        &IntakeConfig::scored(),
        "L-x",
        now(),
    );
    let Decision::Review {
        score, explanation, ..
    } = &plan.decision
    else {
        panic!("{:?}", plan.decision);
    };
    assert!((70..=95).contains(score), "{score}");
    assert!(explanation.contains("email"), "{explanation}");
    let [Effect::Enqueue(row)] = plan.effects.as_slice() else {
        panic!("{:?}", plan.effects);
    };
    let crate::upstream::Upstream::VisitorUpdate(p) = row.as_ref() else {
        panic!("{row:?}");
    };
    assert!(!p.match_info.automatic);
    assert_eq!(p.match_info.confidence, *score);
    assert_eq!(p.match_info.mode, MatchModeName::Scored);
}

/// Seed 003: "If the new phone number has the same type as any existing phone number, Altru
/// makes the existing phone number inactive and updates the End date field"; "Altru makes the
/// new phone number primary only if it has the same phone type as the existing primary phone
/// number." Applied optimistically to the matched record.
#[test]
fn rule_new_phone_of_same_type_ends_the_old_and_becomes_primary() {
    let jane = record(
        "8-1001",
        "Jane",
        "Doe",
        Some("jane@example.net"),
        Some("(555) 123-4567"),
    );
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane@example.net"),
        Some("555 000 1111"),
    );
    let plan = decide(
        &v,
        &[jane],
        &Normalizer::default(),
        &IntakeConfig::default(),
        "L-x",
        now(),
    );
    let Some(Effect::UpdateConstituent {
        constituent,
        pending: false,
    }) = plan.effects.first()
    else {
        panic!("{:?}", plan.effects);
    };
    let old = &constituent.phones[0];
    assert!(!old.meta.active && !old.meta.primary);
    assert_eq!(old.meta.end, Some(now().date_naive()));
    let new = &constituent.phones[1];
    assert_eq!(new.number, "555 000 1111");
    assert!(new.meta.active && new.meta.primary);
}

/// A created record carries what the visitor gave, each entry primary ("If the existing
/// constituent has no email addresses, the primary email address in the batch is always
/// primary"); placeholder emails are left out; the payload carries the local id.
#[test]
fn rule_created_record_has_the_visitors_details_as_primaries() {
    let cases: Vec<(&str, VisitorDetails, usize, usize)> = vec![
        (
            "email and phone",
            visitor("Ana", "Lima", Some("ana@lima.net"), Some("555 222 3333")),
            1,
            1,
        ),
        (
            "placeholder email dropped",
            visitor("Ana", "Lima", Some("none@none.com"), Some("555 222 3333")),
            0,
            1,
        ),
        ("name only", visitor("Ana", "Lima", None, None), 0, 0),
    ];
    for (what, v, emails, phones) in cases {
        let plan = decide(
            &v,
            &[],
            &Normalizer::default(),
            &IntakeConfig::default(),
            "L-abc",
            now(),
        );
        let [Effect::InsertPending(c), Effect::Enqueue(row)] = plan.effects.as_slice() else {
            panic!("{what}: {:?}", plan.effects);
        };
        let crate::upstream::Upstream::NewConstituent(p) = row.as_ref() else {
            panic!("{what}: {row:?}");
        };
        assert_eq!(c.lookup_id, "L-abc", "{what}");
        assert_eq!((c.emails.len(), c.phones.len()), (emails, phones), "{what}");
        assert!(
            c.emails
                .iter()
                .chain(c.emails.iter())
                .all(|e| e.meta.primary && e.meta.active)
        );
        assert!(c.phones.iter().all(|p| p.meta.primary && p.meta.active));

        assert_eq!(p.local_id.as_deref(), Some("L-abc"), "{what}");
        assert_eq!(
            (p.first_name.as_str(), p.last_name.as_str()),
            ("Ana", "Lima")
        );
    }
}

#[test]
fn local_ids_are_recognised_and_unique() {
    let a = local_id(uuid::Uuid::now_v7());
    let b = local_id(uuid::Uuid::now_v7());
    assert!(is_local_id(&a) && is_local_id(&b) && a != b);
    assert!(!is_local_id("8-10000001"));
}

/// Issue rule: "Several candidates → ambiguous, never a silent pick (the kiosk then asks for
/// more, or creates per config)". With `on_ambiguous = "create"` a new pending record is made
/// (the hub queues the possible duplicates for staff); neither candidate is picked.
#[test]
fn several_candidates_ask_by_default_or_create_per_config() {
    let jane = record("8-1001", "Jane", "Doe", Some("jane@example.net"), None);
    let twin = record("8-1002", "Jane", "Doe", Some("jane@example.net"), None);
    let v = visitor("Jane", "Doe", Some("jane@example.net"), None);
    let n = Normalizer::default();
    let ask = decide(
        &v,
        &[jane.clone(), twin.clone()],
        &n,
        &IntakeConfig::default(),
        "L-new",
        now(),
    );
    assert_eq!(
        shape(&ask.decision),
        Want::Ambiguous(vec!["8-1001", "8-1002"])
    );
    assert!(kinds_of(&ask).is_empty());

    let mut config = IntakeConfig::default();
    config.matching.on_ambiguous = crate::matching::OnAmbiguous::Create;
    let create = decide(&v, &[jane, twin], &n, &config, "L-new", now());
    assert_eq!(shape(&create.decision), Want::Created);
    assert_eq!(kinds_of(&create), ["insert_pending", "new_constituent"]);
}
