//! The strict rule of seeds 000 and 001, case by case.

use crate::common::*;
use portico::domain::ConstituentStatus;
use portico::matching::explain::{StrictReport, explain_strict};
use portico::matching::strict::StrictVerdict;
use portico::matching::{
    Decision, MatchConfig, MatchKey, MatchOutcome, StrictHit, decide, strict_match,
    strict_match_refs,
};
use portico::normalize::Normalizer;
use portico::update_rules::UpdateMode;

fn n() -> Normalizer {
    Normalizer::default()
}

fn matched(id: &str, via: MatchKey) -> MatchOutcome {
    MatchOutcome::Matched(StrictHit {
        lookup_id: id.to_owned(),
        via,
    })
}

/// Seed 000: "XTruLink automatically associates Kiosk customers and/or Portal Users with
/// matching constituent records in Altru (if they exist) when sufficient criteria is met (name
/// and email match OR name and phone match)."
#[test]
fn rule_name_and_email_match() {
    let v = visitor("Jane", "Doe", Some("jane.doe@example.net"), None);
    assert_eq!(
        strict_match(&v, &[jane()], &n()),
        matched("8-1001", MatchKey::Email)
    );
}

/// Seed 000: "(name and email match OR name and phone match)".
#[test]
fn rule_name_and_phone_match() {
    let v = visitor("Jane", "Doe", None, Some("+1 555 123 4567"));
    assert_eq!(
        strict_match(&v, &[jane()], &n()),
        matched("8-1001", MatchKey::Phone)
    );
}

/// Seed 000: "(name and email match OR name and phone match)": either suffices when the other
/// disagrees.
#[test]
fn rule_either_key_suffices_when_the_other_differs() {
    let by_email = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 000 0000"),
    );
    let by_phone = visitor(
        "Jane",
        "Doe",
        Some("other@example.net"),
        Some("555.123.4567"),
    );
    let both = visitor(
        "Jane",
        "Doe",
        Some("JANE.DOE@example.net"),
        Some("5551234567"),
    );
    assert_eq!(
        strict_match(&by_email, &[jane()], &n()),
        matched("8-1001", MatchKey::Email)
    );
    assert_eq!(
        strict_match(&by_phone, &[jane()], &n()),
        matched("8-1001", MatchKey::Phone)
    );
    assert_eq!(
        strict_match(&both, &[jane()], &n()),
        matched("8-1001", MatchKey::EmailAndPhone)
    );
}

/// Seed 001: "Our system requires that either name and phone or name and email match exactly
/// in order to match to a constituent record in Altru." Name alone, email alone or phone alone
/// is not enough.
#[test]
fn rule_name_plus_contact_key_required() {
    let cases = [
        (
            "name only",
            visitor("Jane", "Doe", Some("x@y.test"), Some("555 000 1111")),
        ),
        (
            "email without name",
            visitor("Janet", "Doe", Some("jane.doe@example.net"), None),
        ),
        (
            "phone without name",
            visitor("Jane", "Dough", None, Some("555-123-4567")),
        ),
        ("no contact given", visitor("Jane", "Doe", None, None)),
    ];
    for (label, v) in cases {
        assert_eq!(
            strict_match(&v, &[jane()], &n()),
            MatchOutcome::NoMatch,
            "{label}"
        );
    }
}

/// Seed 001: "name and phone or name and email match exactly": exact after normalisation, so
/// a nickname is not a strict match.
#[test]
fn rule_match_exactly_no_nicknames_or_fuzzy_names() {
    let mut c = jane();
    c.name = name("Michael", "Smith");
    for first in ["Mike", "Micheal", "M"] {
        let v = visitor(first, "Smith", Some("jane.doe@example.net"), None);
        assert_eq!(
            strict_match(&v, &[c.clone()], &n()),
            MatchOutcome::NoMatch,
            "{first}"
        );
    }
}

/// Seed 001: "match exactly" is judged on normalised forms: case, accents, punctuation,
/// email case and phone format do not matter.
#[test]
fn rule_exact_after_normalisation() {
    let mut c = jane();
    c.name = name("Zoë", "O'Brien");
    let cases = [
        visitor("ZOE", "OBRIEN", Some(" JANE.DOE@EXAMPLE.NET "), None),
        visitor("zoë", "o’brien", None, Some("1-555-123-4567 ext. 12")),
        visitor("Zoe", "O Brien", None, Some("001 555 123 4567")),
    ];
    for v in cases {
        assert!(
            matches!(
                strict_match(&v, &[c.clone()], &n()),
                MatchOutcome::Matched(_)
            ),
            "{v:?}"
        );
    }
}

/// All ACTIVE emails and phones count, not only the primary ones.
#[test]
fn rule_any_active_email_or_phone_not_only_primary() {
    let v = visitor("Jane", "Doe", None, Some("(555) 987-6543"));
    assert_eq!(
        strict_match(&v, &[jane()], &n()),
        matched("8-1001", MatchKey::Phone)
    );
    let mut c = jane();
    c.emails[0].meta.primary = false;
    c.emails.push(email("jd@work.test", "Work", false, true));
    let v = visitor("Jane", "Doe", Some("JD@work.test"), None);
    assert_eq!(
        strict_match(&v, &[c], &n()),
        matched("8-1001", MatchKey::Email)
    );
}

/// Inactive (ended) emails and phones are not match keys.
#[test]
fn rule_inactive_contact_entries_do_not_match() {
    let v = visitor("Jane", "Doe", Some("jane.old@example.net"), None);
    assert_eq!(strict_match(&v, &[jane()], &n()), MatchOutcome::NoMatch);
    let mut c = jane();
    c.phones[0].meta.active = false;
    let v = visitor("Jane", "Doe", None, Some("555-123-4567"));
    assert_eq!(strict_match(&v, &[c], &n()), MatchOutcome::NoMatch);
}

/// Seed 000: "Without sufficient information, a new record will be created."
#[test]
fn rule_without_sufficient_information_no_match() {
    let cases = [
        (
            "placeholder email",
            visitor("Jane", "Doe", Some("noemail@example.net"), None),
        ),
        (
            "unusable phone",
            visitor("Jane", "Doe", None, Some("123-4567")),
        ),
        (
            "no first name",
            visitor("", "Doe", Some("jane.doe@example.net"), None),
        ),
        (
            "no last name",
            visitor("Jane", " ", Some("jane.doe@example.net"), None),
        ),
    ];
    let mut c = jane();
    c.emails
        .push(email("noemail@example.net", "Email", false, true));
    for (label, v) in cases {
        assert_eq!(
            strict_match(&v, &[c.clone()], &n()),
            MatchOutcome::NoMatch,
            "{label}"
        );
        assert_eq!(
            decide(&v, &[c.clone()], &n(), &MatchConfig::default()),
            Decision::CreateNew,
            "{label}"
        );
    }
}

/// Seed 000: "Any duplicates created due to lack of matching criteria must be merged in
/// Altru": several matching records are reported, never silently picked.
#[test]
fn rule_several_matches_are_ambiguous() {
    let mut twin = jane();
    twin.lookup_id = "8-0999".to_owned();
    twin.phones.clear();
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    assert_eq!(
        strict_match(&v, &[jane(), twin.clone()], &n()),
        MatchOutcome::Ambiguous(vec![
            StrictHit {
                lookup_id: "8-0999".into(),
                via: MatchKey::Email
            },
            StrictHit {
                lookup_id: "8-1001".into(),
                via: MatchKey::EmailAndPhone
            },
        ])
    );
    assert_eq!(
        decide(&v, &[jane(), twin], &n(), &MatchConfig::default()),
        Decision::NeedsReview {
            candidates: vec!["8-0999".into(), "8-1001".into()]
        }
    );
}

/// The same record returned by both the email and the phone probe is one candidate.
#[test]
fn rule_same_record_twice_is_not_ambiguous() {
    let v = visitor("Jane", "Doe", Some("jane.doe@example.net"), None);
    assert_eq!(
        strict_match(&v, &[jane(), jane()], &n()),
        matched("8-1001", MatchKey::Email)
    );
}

/// Seed 000: merged records are "expired constituent records (i.e. records removed via a
/// merge in Altru)": never candidates.
#[test]
fn rule_merged_constituents_are_never_candidates() {
    let mut merged = jane();
    merged.lookup_id = "8-0001".into();
    merged.status = ConstituentStatus::Merged;
    let v = visitor("Jane", "Doe", Some("jane.doe@example.net"), None);
    assert_eq!(
        strict_match(&v, &[merged.clone()], &n()),
        MatchOutcome::NoMatch
    );
    assert_eq!(
        strict_match(&v, &[merged, jane()], &n()),
        matched("8-1001", MatchKey::Email)
    );
}

/// The candidates are whatever the index probes returned: irrelevant ones do not match.
#[test]
fn rule_irrelevant_candidates_are_ignored() {
    let mut others = vec![
        person("8-2", "John", "Doe"),
        person("8-3", "Jane", "Roe"),
        person("8-4", "Jane", "Doe"),
    ];
    others[0].emails = jane().emails;
    others[1].phones = jane().phones;
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    assert_eq!(strict_match(&v, &others, &n()), MatchOutcome::NoMatch);
    others.push(jane());
    let refs: Vec<_> = others.iter().collect();
    assert_eq!(
        strict_match_refs(&v, &refs, &n()),
        matched("8-1001", MatchKey::EmailAndPhone)
    );
    assert_eq!(strict_match(&v, &[], &n()), MatchOutcome::NoMatch);
}

/// Middle name, title and suffix are not part of the strict rule.
#[test]
fn rule_only_first_and_last_name_compared() {
    let mut c = jane();
    c.name.middle = Some("Q".into());
    c.name.title = Some("Dr".into());
    c.name.suffix = Some("III".into());
    let mut v = visitor("Jane", "Doe", Some("jane.doe@example.net"), None);
    v.name.middle = Some("Alice".into());
    assert!(matches!(
        strict_match(&v, &[c], &n()),
        MatchOutcome::Matched(_)
    ));
}

#[test]
fn strict_match_decides_automatic_update() {
    let v = visitor("Jane", "Doe", None, Some("555 123 4567"));
    assert_eq!(
        decide(&v, &[jane()], &n(), &MatchConfig::default()),
        Decision::UseExisting {
            lookup_id: "8-1001".into(),
            mode: UpdateMode::Automatic
        }
    );
}

#[test]
fn explain_strict_names_each_verdict() {
    let mut merged = jane();
    merged.lookup_id = "8-9".into();
    merged.status = ConstituentStatus::Merged;
    let cands = [
        jane(),
        person("8-2", "John", "Doe"),
        person("8-3", "Jane", "Roe"),
        person("8-4", "Jane", "Doe"),
        merged,
    ];
    let v = visitor("Jane", "Doe", Some("jane.doe@example.net"), None);
    let verdicts: Vec<StrictVerdict> = explain_strict(&v, &cands, &n())
        .into_iter()
        .map(|r: StrictReport| r.verdict)
        .collect();
    assert_eq!(
        verdicts,
        vec![
            StrictVerdict::Matches(MatchKey::Email),
            StrictVerdict::FirstNameDiffers,
            StrictVerdict::LastNameDiffers,
            StrictVerdict::NoActiveEmailOrPhoneAgrees,
            StrictVerdict::Merged,
        ]
    );
    assert_eq!(verdicts[0].to_string(), "name and email match");
    let lacking = visitor("Jane", "Doe", None, None);
    assert_eq!(
        explain_strict(&lacking, &[jane()], &n())[0].verdict,
        StrictVerdict::VisitorLacksKeys
    );
}
