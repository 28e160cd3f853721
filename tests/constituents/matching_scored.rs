//! Scored matching, its bands (seed 003's thresholds), explanations and blocking keys.

use crate::common::*;
use portico::domain::{ConstituentStatus, HistoricalName};
use portico::matching::blocking::{BlockingKey, constituent_keys, visitor_keys};
use portico::matching::explain::explain_scored;
use portico::matching::nicknames;
use portico::matching::{
    Decision, Field, FieldScore, MatchConfig, MatchMode, Reason, ScoreThresholds, ScoredOutcome,
    Street, VisitorDetails, decide, score_candidate, scored_match,
};
use portico::normalize::Normalizer;
use portico::update_rules::UpdateMode;

fn n() -> Normalizer {
    Normalizer::default()
}

fn score(
    v: &VisitorDetails,
    c: &portico::domain::Constituent,
) -> portico::matching::ScoredCandidate {
    score_candidate(v, c, &n(), &ScoreThresholds::default())
}

fn field(fields: &[FieldScore], f: Field) -> FieldScore {
    *fields.iter().find(|s| s.field == f).unwrap()
}

fn outcome(v: &VisitorDetails, cands: &[portico::domain::Constituent]) -> ScoredOutcome {
    scored_match(v, cands, &n(), &ScoreThresholds::default())
}

#[test]
fn thresholds_default_to_the_crms_95_and_70() {
    assert_eq!(
        ScoreThresholds::default(),
        ScoreThresholds {
            automatic_above: 95,
            review_from: 70
        }
    );
}

/// Seed 003: "If matching constituents qualify for automatic updates (their match confidence
/// score is above the top threshold), Altru applies these rules automatically".
#[test]
fn band_above_top_threshold_is_automatic() {
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    match outcome(&v, &[jane()]) {
        ScoredOutcome::Automatic(best) => {
            assert_eq!(best.lookup_id, "8-1001");
            assert_eq!(best.score, 100);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide(
            &v,
            &[jane()],
            &n(),
            &MatchConfig {
                mode: MatchMode::Scored(ScoreThresholds::default()),
                ..MatchConfig::default()
            }
        ),
        Decision::UseExisting {
            lookup_id: "8-1001".into(),
            mode: UpdateMode::Automatic
        }
    );
}

/// Seed 003: "above the top threshold": a score equal to it is not above it.
#[test]
fn band_score_equal_to_top_threshold_is_review() {
    // Name 45 + phone 30 + street and postcode 20 (no city given) = 95.
    let mut v = visitor("Jane", "Doe", None, Some("555 123 4567"));
    let mut home = postal("12 High St", "02134");
    home.city = String::new();
    v.address = Some(home);
    let s = score(&v, &jane());
    assert_eq!(s.score, 95);
    assert!(matches!(
        outcome(&v, &[jane()]),
        ScoredOutcome::Review { .. }
    ));
    let lower = ScoreThresholds {
        automatic_above: 94,
        review_from: 70,
    };
    assert!(matches!(
        scored_match(&v, &[jane()], &n(), &lower),
        ScoredOutcome::Automatic(_)
    ));
}

/// Seed 003: "If matching constituents qualify for manual review (their match confidence
/// score falls in the middle range), Altru prompts you to resolve the conflicts".
#[test]
fn band_middle_range_is_review() {
    let v = visitor("Jane", "Doe", Some("jane.doe@example.net"), None);
    match outcome(&v, &[jane()]) {
        ScoredOutcome::Review { best, contenders } => {
            assert_eq!(best.score, 80);
            assert!(contenders.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide(
            &v,
            &[jane()],
            &n(),
            &MatchConfig {
                mode: MatchMode::Scored(ScoreThresholds::default()),
                ..MatchConfig::default()
            }
        ),
        Decision::NeedsReview {
            candidates: vec!["8-1001".into()]
        }
    );
}

/// The middle range starts at the lower threshold itself; below it a new record is created.
#[test]
fn band_lower_threshold_is_inclusive_and_below_is_no_match() {
    // Name 45 + the whole address 25 = 70.
    let mut v = visitor("Jane", "Doe", None, None);
    v.address = Some(postal("12 High St", "02134"));
    assert_eq!(score(&v, &jane()).score, 70);
    assert!(matches!(
        outcome(&v, &[jane()]),
        ScoredOutcome::Review { .. }
    ));
    let stricter = ScoreThresholds {
        automatic_above: 95,
        review_from: 71,
    };
    assert_eq!(
        scored_match(&v, &[jane()], &n(), &stricter),
        ScoredOutcome::NoMatch
    );
    let name_only = visitor("Jane", "Doe", None, None);
    assert_eq!(outcome(&name_only, &[jane()]), ScoredOutcome::NoMatch);
    assert_eq!(
        decide(
            &name_only,
            &[jane()],
            &n(),
            &MatchConfig {
                mode: MatchMode::Scored(ScoreThresholds::default()),
                ..MatchConfig::default()
            }
        ),
        Decision::CreateNew
    );
}

#[test]
fn every_field_is_explained() {
    let mut v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    v.address = Some(postal("12 High St.", "02134"));
    v.birth_date = Some(date(1980, 5, 17));
    let s = score(&v, &jane());
    let expected = [
        (Field::FirstName, 20, 20, Reason::Equal),
        (Field::LastName, 25, 25, Reason::Equal),
        (Field::Email, 35, 35, Reason::EqualActive),
        (Field::Phone, 30, 30, Reason::EqualActive),
        (
            Field::Address,
            25,
            25,
            Reason::AddressParts {
                street: Street::Equal,
                postcode: true,
                city: true,
            },
        ),
        (Field::BirthDate, 30, 30, Reason::Equal),
    ];
    assert_eq!(s.fields.len(), expected.len());
    for (f, points, max, reason) in expected {
        assert_eq!(
            field(&s.fields, f),
            FieldScore {
                field: f,
                points,
                max,
                reason
            }
        );
    }
    assert_eq!(s.score, 100);
    let text = explain_scored(&s);
    assert!(text.starts_with("8-1001: 100/100"), "{text}");
    assert!(
        text.contains("address: +25/25 (street, postcode and city agree)"),
        "{text}"
    );
}

#[test]
fn first_name_evidence_table() {
    let mut c = jane();
    c.name = name("Michael", "Smith");
    let cases: &[(&str, i32, Reason)] = &[
        ("Michael", 20, Reason::Equal),
        ("MICHAËL", 20, Reason::Equal),
        ("Mike", 16, Reason::Nickname),
        ("Mick", 16, Reason::Nickname),
        ("M", 5, Reason::Initial),
        ("Q", -25, Reason::Different),
        ("Bill", -25, Reason::Different),
        ("", 0, Reason::Missing),
    ];
    for (first, points, reason) in cases {
        let v = visitor(first, "Smith", None, None);
        let f = field(&score(&v, &c).fields, Field::FirstName);
        assert_eq!((f.points, f.reason), (*points, *reason), "{first}");
    }
    // Typos score by Jaro-Winkler similarity.
    let f = field(
        &score(&visitor("Micheal", "Smith", None, None), &c).fields,
        Field::FirstName,
    );
    assert!(
        matches!(f.reason, Reason::Similar { percent } if percent >= 90),
        "{f:?}"
    );
    assert_eq!(f.points, 12, "{f:?}");
}

#[test]
fn nicknames_cover_the_common_pairs() {
    assert!(nicknames::pair_count() >= 60);
    for (a, b) in [
        ("mike", "michael"),
        ("bill", "william"),
        ("bob", "robert"),
        ("liz", "elizabeth"),
        ("peggy", "margaret"),
        ("ted", "edward"),
        ("jim", "james"),
        ("kate", "katherine"),
    ] {
        assert!(nicknames::are_variants(a, b), "{a} {b}");
    }
    let mut c = person("8-7", "William", "Jones");
    c.emails = vec![email("wj@example.net", "Email", true, true)];
    c.phones = vec![phone("555 222 3333", "Home", true, true)];
    let v = visitor(
        "Bill",
        "Jones",
        Some("WJ@example.net"),
        Some("555-222-3333"),
    );
    assert!(matches!(outcome(&v, &[c]), ScoredOutcome::Automatic(_)));
}

#[test]
fn last_name_evidence_table() {
    let mut c = jane();
    c.historical_names.push(HistoricalName {
        name: name("Jane", "Smith"),
        until: Some(date(2020, 1, 1)),
    });
    let cases: &[(&str, i32, Reason)] = &[
        ("Doe", 25, Reason::Equal),
        ("DOE", 25, Reason::Equal),
        ("Smith", 20, Reason::FormerName),
        ("Xu", 0, Reason::Different),
    ];
    for (last, points, reason) in cases {
        let v = visitor("Jane", last, None, None);
        let f = field(&score(&v, &c).fields, Field::LastName);
        assert_eq!((f.points, f.reason), (*points, *reason), "{last}");
    }
    let mut c = person("8-5", "Ann", "Johnson");
    c.emails = vec![email("a@b.test", "Email", true, true)];
    let f = field(
        &score(&visitor("Ann", "Jonhson", None, None), &c).fields,
        Field::LastName,
    );
    assert!(
        matches!(f.reason, Reason::Similar { .. }) && f.points > 0,
        "{f:?}"
    );
}

#[test]
fn contact_evidence_table() {
    type Evidence = (i32, Reason);
    let cases: &[(Option<&str>, Option<&str>, Evidence, Evidence)] = &[
        (
            Some("jane.doe@example.net"),
            Some("555 123 4567"),
            (35, Reason::EqualActive),
            (30, Reason::EqualActive),
        ),
        (
            Some("jane.old@example.net"),
            Some("555 987 6543"),
            (15, Reason::EqualInactive),
            (30, Reason::EqualActive),
        ),
        (
            Some("other@example.net"),
            Some("555 000 0000"),
            (0, Reason::Different),
            (0, Reason::Different),
        ),
        (
            Some("noemail@example.net"),
            None,
            (0, Reason::Missing),
            (0, Reason::Missing),
        ),
    ];
    for (e, p, want_email, want_phone) in cases {
        let v = visitor("Jane", "Doe", *e, *p);
        let s = score(&v, &jane());
        let fe = field(&s.fields, Field::Email);
        let fp = field(&s.fields, Field::Phone);
        assert_eq!((fe.points, fe.reason), *want_email, "{e:?}");
        assert_eq!((fp.points, fp.reason), *want_phone, "{p:?}");
    }
}

#[test]
fn address_and_birth_date_evidence() {
    let mut v = visitor("Jane", "Doe", None, None);
    v.address = Some(postal("5 Elm Road", "02134"));
    v.birth_date = Some(date(1999, 1, 1));
    let s = score(&v, &jane());
    assert_eq!(
        (
            field(&s.fields, Field::Address).points,
            field(&s.fields, Field::Address).reason
        ),
        (
            13,
            Reason::AddressParts {
                street: Street::Different,
                postcode: true,
                city: true
            }
        )
    );
    assert_eq!(
        (
            field(&s.fields, Field::BirthDate).points,
            field(&s.fields, Field::BirthDate).reason
        ),
        (-30, Reason::Different)
    );
    // A conflicting birth date pulls an otherwise automatic match into review.
    let mut v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    v.birth_date = Some(date(1999, 1, 1));
    assert!(matches!(
        outcome(&v, &[jane()]),
        ScoredOutcome::Review { .. }
    ));
}

/// Household members sharing email and phone are never updated automatically: a similar
/// first name goes to review, a different one does not match.
#[test]
fn shared_household_contacts_are_not_automatic() {
    let mut michael = person("8-11", "Michael", "Smith");
    michael.emails = vec![email("smiths@example.net", "Email", true, true)];
    michael.phones = vec![phone("555 444 1212", "Home", true, true)];
    let mut daniel = person("8-12", "Daniel", "Smith");
    daniel.emails = michael.emails.clone();
    daniel.phones = michael.phones.clone();
    let cases = [
        ("Michelle", &michael, "review"),
        ("Micheal", &michael, "review"),
        ("Daniela", &daniel, "review"),
        ("Sarah", &michael, "none"),
        ("Mikaela", &michael, "none"),
    ];
    // Sharing the home address too changes nothing: a resembling name is held for review.
    let mut household = daniel.clone();
    household.addresses = vec![address("4 Elm Road", "02134", "Home", true, true)];
    let mut v = visitor(
        "Daniela",
        "Smith",
        Some("smiths@example.net"),
        Some("555 444 1212"),
    );
    v.address = Some(postal("4 Elm Road", "02134"));
    assert!(matches!(
        outcome(&v, std::slice::from_ref(&household)),
        ScoredOutcome::Review { .. }
    ));
    for (first, c, want) in cases {
        let v = visitor(
            first,
            "Smith",
            Some("smiths@example.net"),
            Some("555 444 1212"),
        );
        let o = outcome(&v, std::slice::from_ref(c));
        let got = match o {
            ScoredOutcome::Automatic(_) => "automatic",
            ScoredOutcome::Review { .. } => "review",
            ScoredOutcome::NoMatch => "none",
        };
        assert_eq!(got, want, "{first}: {o:?}");
    }
}

#[test]
fn several_above_top_threshold_go_to_review_with_contenders() {
    let mut twin = jane();
    twin.lookup_id = "8-0999".into();
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    match outcome(&v, &[jane(), twin]) {
        ScoredOutcome::Review { best, contenders } => {
            assert_eq!(best.lookup_id, "8-0999");
            assert_eq!(contenders.len(), 1);
            assert_eq!(contenders[0].lookup_id, "8-1001");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn best_candidate_wins_and_weaker_ones_are_contenders() {
    let mut weaker = jane();
    weaker.lookup_id = "8-2000".into();
    weaker.phones.clear();
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    match outcome(&v, &[weaker, jane()]) {
        ScoredOutcome::Automatic(best) => assert_eq!(best.lookup_id, "8-1001"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn merged_constituents_are_never_scored_candidates() {
    let mut merged = jane();
    merged.status = ConstituentStatus::Merged;
    let v = visitor(
        "Jane",
        "Doe",
        Some("jane.doe@example.net"),
        Some("555 123 4567"),
    );
    assert_eq!(outcome(&v, &[merged]), ScoredOutcome::NoMatch);
}

#[test]
fn blocking_keys_for_a_visitor() {
    let mut v = visitor(
        "Jane",
        "O'Doe",
        Some("Jane@Example.net"),
        Some("(555) 123-4567"),
    );
    v.address = Some(postal("1 Main St", "sw1a 1aa"));
    let keys = visitor_keys(&v, &n());
    assert_eq!(
        keys,
        vec![
            BlockingKey::Email {
                email: "jane@example.net".into()
            },
            BlockingKey::Phone {
                phone: "+15551234567".into()
            },
            BlockingKey::LastNameInitial {
                last: "odoe".into(),
                initial: 'j'
            },
            BlockingKey::PostcodeLastName {
                postcode: "SW1A1AA".into(),
                last: "odoe".into()
            },
            BlockingKey::SwappedNames {
                last: "jane".into(),
                initial: 'o'
            },
            BlockingKey::FirstNameInitial {
                first: "jane".into(),
                initial: 'o'
            },
        ]
    );
    // A swapped key finds the record under its own name key.
    assert_eq!(keys[4].index_key(), "n:jane:o");
    let strict: Vec<String> = keys
        .iter()
        .filter(|k| k.is_strict())
        .map(BlockingKey::index_key)
        .collect();
    assert_eq!(strict, vec!["e:jane@example.net", "p:+15551234567"]);
    let unusable = visitor("", "", Some("none@x.com"), Some("12"));
    assert!(visitor_keys(&unusable, &n()).is_empty());
}

#[test]
fn blocking_keys_for_a_constituent_cover_every_entry_and_former_name() {
    let mut c = jane();
    c.historical_names.push(HistoricalName {
        name: name("Jane", "Smith"),
        until: None,
    });
    let keys: Vec<String> = constituent_keys(&c, &n())
        .iter()
        .map(BlockingKey::index_key)
        .collect();
    for want in [
        "e:jane.doe@example.net",
        "e:jane.old@example.net",
        "p:+15551234567",
        "p:+15559876543",
        "n:doe:j",
        "n:smith:j",
        "z:02134:doe",
        "z:02134:smith",
        "f:jane:d",
        "f:jane:s",
    ] {
        assert!(keys.iter().any(|k| k == want), "{want} in {keys:?}");
    }
    assert_eq!(keys.len(), 10);
}

/// Blocking never drops a record that could reach the review threshold: a record sharing no
/// email or phone earns at most the name points (45 exact, 36 resembling) plus the address
/// (25) and birth-date (30) points the visitor gave, so the name keys are probed only when
/// those could reach the review threshold.
#[test]
fn name_keys_are_probed_only_when_a_record_found_by_name_could_reach_review() {
    use portico::matching::blocking::Reach;
    use portico::matching::scored::probe_keys;
    let reaches = |v: &VisitorDetails, t: &ScoreThresholds| {
        let mut r: Vec<&str> = probe_keys(v, &n(), t)
            .iter()
            .map(|k| match k.reach() {
                Reach::Contact => "contact",
                Reach::ExactName => "exact",
                Reach::ResemblingName => "resembling",
            })
            .collect();
        r.dedup();
        r
    };
    let t = ScoreThresholds::default();
    let mut v = visitor("Ada", "Lovelace", Some("ada@analytical.example"), None);
    // Names alone: 45 < 70.
    assert_eq!(reaches(&v, &t), ["contact"]);
    // With an address: exact names 70 ≥ 70, resembling ones 63 < 70.
    v.address = Some(postal("12 St James's Square", "SW1Y 4JH"));
    assert_eq!(reaches(&v, &t), ["contact", "exact"]);
    // With a birth date too: 100 and 93.
    v.birth_date = Some(date(1815, 12, 10));
    assert_eq!(reaches(&v, &t), ["contact", "exact", "resembling"]);
    // A birth date without an address: 75 and 68.
    v.address = None;
    assert_eq!(reaches(&v, &t), ["contact", "exact"]);
    // A stricter review threshold probes less: 75 < 80.
    let strict = ScoreThresholds {
        automatic_above: 95,
        review_from: 80,
    };
    assert_eq!(reaches(&v, &strict), ["contact"]);
}

#[test]
fn birth_date_evidence_table() {
    let mut c = person("8-40", "Ada", "Byron");
    c.birth_date = Some(date(1980, 3, 7));
    type Ymd = (i32, u32, u32);
    let cases: &[(Option<Ymd>, i32, Reason)] = &[
        (Some((1980, 3, 7)), 30, Reason::Equal),
        // One digit apart.
        (Some((1980, 3, 8)), 12, Reason::Typo),
        (Some((1986, 3, 7)), 12, Reason::Typo),
        // Day and month swapped.
        (Some((1980, 7, 3)), 12, Reason::Typo),
        (Some((1979, 3, 7)), -30, Reason::Different),
        (Some((1980, 4, 8)), -30, Reason::Different),
        (None, 0, Reason::Missing),
    ];
    for (given, points, reason) in cases {
        let mut v = visitor("Ada", "Byron", None, None);
        v.birth_date = given.map(|(y, m, d)| date(y, m, d));
        let f = field(&score(&v, &c).fields, Field::BirthDate);
        assert_eq!((f.points, f.reason), (*points, *reason), "{given:?}");
    }
}

#[test]
fn address_evidence_table() {
    let c = jane(); // 12 High Street, Springfield 02134
    let parts = |street, postcode, city| Reason::AddressParts {
        street,
        postcode,
        city,
    };
    let cases: &[(&str, &str, &str, i32, Reason)] = &[
        (
            "12 High St.",
            "02134",
            "Springfield",
            25,
            parts(Street::Equal, true, true),
        ),
        (
            "12 Hihg Street",
            "02134",
            "Springfield",
            21,
            parts(Street::Similar, true, true),
        ),
        // Another house on the same street is not the same address.
        (
            "21 High Street",
            "02134",
            "Springfield",
            13,
            parts(Street::Different, true, true),
        ),
        (
            "12 High Street",
            "02139",
            "Springfield",
            17,
            parts(Street::Equal, false, true),
        ),
        (
            "12 High Street",
            "",
            "",
            12,
            parts(Street::Equal, false, false),
        ),
        (
            "",
            "",
            "springfield",
            5,
            parts(Street::Different, false, true),
        ),
        ("9 Elm Road", "90210", "Shelbyville", 0, Reason::Different),
    ];
    for (line1, postcode, city, points, reason) in cases {
        let mut v = visitor("Jane", "Doe", None, None);
        let mut a = postal(line1, postcode);
        a.postcode = (!postcode.is_empty()).then(|| postcode.to_string());
        a.city = city.to_string();
        v.address = Some(a);
        let f = field(&score(&v, &c).fields, Field::Address);
        assert_eq!(
            (f.points, f.reason),
            (*points, *reason),
            "{line1} {postcode} {city}"
        );
    }
    let mut v = visitor("Jane", "Doe", None, None);
    v.address = Some(postal("12 Hihg Street", "02134"));
    let text = explain_scored(&score(&v, &c));
    assert!(
        text.contains("address: +21/25 (street spelt alike; postcode and city agree)"),
        "{text}"
    );
}

/// A record entered with first and last name the wrong way round is found and scored.
#[test]
fn swapped_names_score_as_resembling() {
    let mut v = visitor("Doe", "Jane", None, None);
    v.birth_date = Some(date(1980, 5, 17));
    v.address = Some(postal("12 High Street", "02134"));
    let s = score(&v, &jane());
    assert_eq!(
        (
            field(&s.fields, Field::FirstName),
            field(&s.fields, Field::LastName)
        ),
        (
            FieldScore {
                field: Field::FirstName,
                points: 16,
                max: 20,
                reason: Reason::Swapped
            },
            FieldScore {
                field: Field::LastName,
                points: 20,
                max: 25,
                reason: Reason::Swapped
            }
        )
    );
    // 16 + 20 + 30 + 25.
    assert_eq!(s.score, 91);
    assert!(matches!(
        outcome(&v, &[jane()]),
        ScoredOutcome::Review { .. }
    ));
    assert!(explain_scored(&s).contains("first and last name swapped"));
}

/// The CRM's automatic update replaces the record's name with the incoming one (seed 003), so
/// names that only resemble the record's are never updated automatically, however much else
/// agrees: the score is held at the top threshold, whatever the venue set it to.
#[test]
fn resembling_names_are_held_at_the_top_threshold() {
    let mut michael = person("8-11", "Michael", "Smith");
    michael.emails = vec![email("smiths@riverside-mail.com", "Email", true, true)];
    michael.phones = vec![phone("555 444 1212", "Home", true, true)];
    michael.addresses = vec![address("4 Elm Road", "02134", "Home", true, true)];
    michael.birth_date = Some(date(1975, 2, 3));
    let full = |first: &str, last: &str| {
        let mut v = visitor(
            first,
            last,
            Some("smiths@riverside-mail.com"),
            Some("555 444 1212"),
        );
        v.address = Some(postal("4 Elm Road", "02134"));
        v.birth_date = Some(date(1975, 2, 3));
        v
    };
    let cases: &[(&str, &str, u8, Option<u8>, &str)] = &[
        ("Michael", "Smith", 100, None, "automatic"),
        ("Mike", "Smith", 100, None, "automatic"),
        ("Micheal", "Smith", 95, Some(95), "review"),
        ("Michael", "Smiht", 95, Some(95), "review"),
        ("M", "Smith", 95, Some(95), "review"),
        ("Smith", "Michael", 95, Some(95), "review"),
    ];
    for (first, last, want_score, want_held, want_band) in cases {
        let v = full(first, last);
        let s = score(&v, &michael);
        assert_eq!(
            (s.score, s.held_at),
            (*want_score, *want_held),
            "{first} {last}"
        );
        let band = match outcome(&v, std::slice::from_ref(&michael)) {
            ScoredOutcome::Automatic(_) => "automatic",
            ScoredOutcome::Review { .. } => "review",
            ScoredOutcome::NoMatch => "none",
        };
        assert_eq!(band, *want_band, "{first} {last}");
    }
    let held = score(&full("Micheal", "Smith"), &michael);
    assert!(
        explain_scored(&held).contains("names only resemble"),
        "{}",
        explain_scored(&held)
    );
    // A venue's lower top threshold holds the score at that threshold.
    let lower = ScoreThresholds {
        automatic_above: 90,
        review_from: 70,
    };
    let s = score_candidate(&full("Micheal", "Smith"), &michael, &n(), &lower);
    assert_eq!((s.score, s.held_at), (90, Some(90)));
    assert!(matches!(
        scored_match(
            &full("Micheal", "Smith"),
            std::slice::from_ref(&michael),
            &n(),
            &lower
        ),
        ScoredOutcome::Review { .. }
    ));
}
