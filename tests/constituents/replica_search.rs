//! Finding constituents in a real replica file: staff search and the candidate probes behind
//! matching.

use crate::common::{email, name, phone};
use portico::domain::{Constituent, ConstituentStatus, PersonName};
use portico::matching::blocking::visitor_keys;
use portico::matching::{MatchOutcome, VisitorDetails, strict_match};
use portico::normalize::Normalizer;
use portico::protocol::{Change, ConstituentDto, MergeDto};
use portico::replica::search::{SearchQuery, candidates, search};
use portico::replica::{self, Applier};

fn person(id: &str, first: &str, last: &str, emails: &[&str], phones: &[&str]) -> Constituent {
    Constituent {
        lookup_id: id.into(),
        name: name(first, last),
        birth_date: None,
        status: ConstituentStatus::Active,
        historical_names: vec![],
        emails: emails
            .iter()
            .enumerate()
            .map(|(i, e)| email(e, "Personal", i == 0, true))
            .collect(),
        phones: phones
            .iter()
            .enumerate()
            .map(|(i, p)| phone(p, "Mobile", i == 0, true))
            .collect(),
        addresses: vec![],
    }
}

fn replica_with(people: Vec<Constituent>) -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = replica::open(&dir.path().join("device.db")).unwrap();
    let changes: Vec<Change<ConstituentDto>> = people
        .into_iter()
        .map(|c| Change::Upsert {
            key: c.lookup_id.clone(),
            data: c.into(),
            changed: None,
        })
        .collect();
    let tx = conn.transaction().unwrap();
    Applier::new(Normalizer::default())
        .constituents(&tx, &changes)
        .unwrap();
    tx.commit().unwrap();
    (dir, conn)
}

fn people() -> Vec<Constituent> {
    vec![
        person(
            "8-1",
            "José",
            "Álvarez",
            &["jose@mail.example.org"],
            &["(217) 555-0101"],
        ),
        person("8-2", "Joseph", "Alvarez", &["joe@mail.example.org"], &[]),
        person(
            "8-3",
            "Mary",
            "O'Brien",
            &["mary@mail.example.org"],
            &["217-555-0199"],
        ),
        person("8-4", "Mary", "Smith-Jones", &[], &["+1 217 555 0142"]),
        person("8-5", "Zoë", "Adams", &["zoe@mail.example.org"], &[]),
        person("8-6", "Mary", "Obrien", &["mary@mail.example.org"], &[]),
    ]
}

fn ids(page: &portico::replica::search::SearchPage) -> Vec<&str> {
    page.hits.iter().map(|h| h.lookup_id.as_str()).collect()
}

/// Seed 000: "You may search using Lookup ID, First Name and/or Last Name."
#[test]
fn rule_search_by_lookup_id_first_name_and_or_last_name() {
    let (_d, conn) = replica_with(people());
    let n = Normalizer::default();
    let q = |lookup: Option<&str>, first: Option<&str>, last: Option<&str>| SearchQuery {
        lookup_id: lookup.map(Into::into),
        first: first.map(Into::into),
        last: last.map(Into::into),
    };
    let cases: &[(SearchQuery, &[&str])] = &[
        (q(Some("8-3"), None, None), &["8-3"]),
        (q(Some("8-99"), None, None), &[]),
        // Last name prefix, case- and accent-insensitive.
        (q(None, None, Some("alv")), &["8-1", "8-2"]),
        (q(None, None, Some("ÁLVAREZ")), &["8-1", "8-2"]),
        // Punctuation is ignored: O'Brien and Obrien are one name.
        (q(None, None, Some("o'bri")), &["8-3", "8-6"]),
        (q(None, None, Some("smith jones")), &["8-4"]),
        // First name only, and both.
        (q(None, Some("mar"), None), &["8-3", "8-6", "8-4"]),
        (q(None, Some("jos"), Some("alvarez")), &["8-1", "8-2"]),
        (q(None, Some("joseph"), Some("alvarez")), &["8-2"]),
        (q(None, Some("zoe"), None), &["8-5"]),
        (q(None, None, None), &[]),
    ];
    for (query, want) in cases {
        let page = search(&conn, &n, query, 50, None).unwrap();
        assert_eq!(ids(&page), *want, "{query:?}");
    }
}

#[test]
fn search_pages_are_stable_and_complete() {
    let many: Vec<Constituent> = (0..25)
        .map(|i| person(&format!("8-{i:03}"), "Ann", "Lee", &[], &[]))
        .collect();
    let (_d, conn) = replica_with(many);
    let n = Normalizer::default();
    let q = SearchQuery {
        last: Some("lee".into()),
        ..SearchQuery::default()
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = search(&conn, &n, &q, 10, after.as_ref()).unwrap();
        assert!(page.hits.len() <= 10);
        all.extend(page.hits.iter().map(|h| h.lookup_id.clone()));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(all.len(), 25);
    let mut sorted = all.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 25, "no record twice");
}

#[test]
fn a_lookup_id_search_follows_a_merge_and_name_search_hides_the_merged_record() {
    let (_d, mut conn) = replica_with(people());
    let tx = conn.transaction().unwrap();
    let a = Applier::new(Normalizer::default());
    let mut merged: ConstituentDto =
        person("8-6", "Mary", "Obrien", &["mary@mail.example.org"], &[]).into();
    merged.status = ConstituentStatus::Merged;
    a.constituents(
        &tx,
        &[Change::Upsert {
            key: "8-6".into(),
            data: merged,
            changed: None,
        }],
    )
    .unwrap();
    a.merges(
        &tx,
        &[Change::Upsert {
            key: "8-6".into(),
            data: MergeDto {
                merged_id: "8-6".into(),
                survivor_id: "8-3".into(),
                merged_at: chrono::Utc::now(),
            },
            changed: None,
        }],
    )
    .unwrap();
    tx.commit().unwrap();
    let n = Normalizer::default();
    let page = search(
        &conn,
        &n,
        &SearchQuery {
            lookup_id: Some("8-6".into()),
            ..Default::default()
        },
        10,
        None,
    )
    .unwrap();
    assert_eq!(ids(&page), ["8-3"]);
    assert_eq!(page.hits[0].merged_from.as_deref(), Some("8-6"));
    let page = search(
        &conn,
        &n,
        &SearchQuery {
            last: Some("obrien".into()),
            ..Default::default()
        },
        10,
        None,
    )
    .unwrap();
    assert_eq!(ids(&page), ["8-3"]);
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

/// Seeds 000 and 001: "name and email match OR name and phone match" — "either name and phone
/// or name and email match exactly in order to match to a constituent record".
#[test]
fn rule_strict_matching_against_the_replica_finds_candidates_by_email_and_phone() {
    let (_d, conn) = replica_with(people());
    let n = Normalizer::default();
    let outcome = |v: VisitorDetails| {
        let keys: Vec<_> = visitor_keys(&v, &n)
            .into_iter()
            .filter(|k| k.is_strict())
            .collect();
        let found = candidates(&conn, &keys, None, 50).unwrap();
        strict_match(&v, &found, &n)
    };
    let matched = |o: &MatchOutcome| match o {
        MatchOutcome::Matched(hit) => Some(hit.lookup_id.clone()),
        _ => None,
    };
    // Name + email (case and spacing differ).
    assert_eq!(
        matched(&outcome(visitor(
            "jose",
            "ALVAREZ",
            Some(" Jose@Mail.Example.org "),
            None
        )))
        .as_deref(),
        Some("8-1")
    );
    // Name + phone in another format.
    assert_eq!(
        matched(&outcome(visitor(
            "Mary",
            "Smith-Jones",
            None,
            Some("217.555.0142")
        )))
        .as_deref(),
        Some("8-4")
    );
    // A placeholder address is never a match key, even with the right name.
    assert_eq!(
        outcome(visitor(
            "Zoë",
            "Adams",
            Some("noemail@mail.example.org"),
            None
        )),
        MatchOutcome::NoMatch
    );
    // The email matches but the name does not: no match, a new record is created.
    assert_eq!(
        outcome(visitor(
            "Joan",
            "Alvarez",
            Some("jose@mail.example.org"),
            None
        )),
        MatchOutcome::NoMatch
    );
    // Two records share name and email: ambiguous, never a silent pick.
    assert!(
        matches!(outcome(visitor("Mary", "OBrien", Some("mary@mail.example.org"), None)), MatchOutcome::Ambiguous(h) if h.len() == 2)
    );
}

/// Scored mode blocks on names (surname and first initial, first name and last initial); of a
/// common surname only the people who could still reach the review threshold without a shared
/// email or phone are loaded as candidates: names judged from the index, the birth date read
/// before the record is loaded.
#[test]
fn name_candidates_are_only_those_that_could_reach_review() {
    use portico::matching::scored::{NamePrune, ScoreThresholds};
    let born = chrono::NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
    let dated = |id: &str, first: &str, last: &str, birth: chrono::NaiveDate| {
        let mut p = person(id, first, last, &[], &[]);
        p.birth_date = Some(birth);
        p
    };
    let (_d, conn) = replica_with(vec![
        dated("8-1", "John", "Smith", born),
        dated("8-2", "James", "Smith", born),
        dated("8-3", "Jon", "Smith", born),
        dated("8-4", "Jim", "Smith", born),
        dated("8-5", "Jennifer", "Smith", born),
        dated("8-6", "John", "Smyth", born),
        dated("8-7", "John", "Smith", born + chrono::Duration::days(400)),
    ]);
    let n = Normalizer::default();
    let ids = |first: &str| {
        let mut v = visitor(first, "Smith", None, None);
        v.birth_date = Some(born);
        v.address = Some(portico::matching::PostalAddress {
            line1: "1 Main Street".into(),
            city: "Springfield".into(),
            postcode: Some("01101".into()),
            country: "US".into(),
            ..Default::default()
        });
        let t = ScoreThresholds::default();
        let keys = portico::matching::scored::probe_keys(&v, &n, &t);
        let prune = NamePrune::new(&v, &n, &t);
        let mut ids: Vec<String> = candidates(&conn, &keys, Some(&prune), 50)
            .unwrap()
            .into_iter()
            .map(|c| c.lookup_id)
            .collect();
        ids.sort();
        ids
    };
    // "John": John, and Jon (similar), of the same birth date; John Smyth too (first name and
    // birth date agree: 75 with the address), found by first name and last initial. Not
    // James, Jim or Jennifer (a different first name), nor the John Smith born another year.
    assert_eq!(ids("John"), ["8-1", "8-3", "8-6"]);
    // "Jim" is a nickname of James.
    assert_eq!(ids("Jim"), ["8-2", "8-4"]);
    // An initial alone is compatible with every J of that surname and birth date.
    assert_eq!(ids("J"), ["8-1", "8-2", "8-3", "8-4", "8-5"]);
    // Without a birth date or an address, a record found by name alone cannot reach review:
    // nothing is loaded.
    let keys = visitor_keys(&visitor("John", "Smith", None, None), &n);
    let prune = NamePrune::new(
        &visitor("John", "Smith", None, None),
        &n,
        &ScoreThresholds::default(),
    );
    assert!(
        candidates(&conn, &keys, Some(&prune), 50)
            .unwrap()
            .is_empty()
    );
}
