//! The CRM's constituent update rules (seed 003), rule by rule and tie-break by tie-break.
//!
//! The address, phone and email rules are one rule stated three times; the contact table runs
//! every case for each kind, quoting that kind's sentence.

use crate::common::*;
use chrono::NaiveDate;
use portico::domain::{Constituent, HistoricalName, PersonName};
use portico::matching::PostalAddress;
use portico::normalize::Normalizer;
use portico::update_rules::{
    BatchEntry, BatchOperation, Change, ContactKind, IncomingAddress, IncomingDetails,
    IncomingEmail, IncomingPhone, Rejection, UpdateMode, UpdateSource, VisitorContactTypes,
    apply_update_rules, apply_update_rules_with, rules_apply,
};
use proptest::prelude::*;

/// Where the project states the CRM's rules, quoting the CRM's own sentences.
const CRM_RULES: &str = "docs/crm-rules.md";

fn crm_rules() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CRM_RULES);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn today() -> NaiveDate {
    date(2025, 6, 1)
}

fn long_ago() -> NaiveDate {
    date(2020, 1, 1)
}

// ---------------------------------------------------------------------------------------------
// Contact entries: one table, three kinds.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum K {
    Address,
    Phone,
    Email,
}

const KINDS: [K; 3] = [K::Address, K::Phone, K::Email];

/// An existing entry: value id, type, primary, active, end date.
type Ex = (u16, &'static str, bool, bool, Option<NaiveDate>);
/// An incoming entry: value id, type, marked primary; `alt` spells the value differently.
#[derive(Debug, Clone, Copy)]
struct In {
    v: u16,
    kind: &'static str,
    primary: bool,
    alt: bool,
}

const fn inc(v: u16, kind: &'static str, primary: bool) -> In {
    In {
        v,
        kind,
        primary,
        alt: false,
    }
}

const fn alt(v: u16, kind: &'static str, primary: bool) -> In {
    In {
        v,
        kind,
        primary,
        alt: true,
    }
}

fn phone_value(v: u16, alt: bool) -> String {
    if alt {
        format!("+1 (555) 200-{v:04}")
    } else {
        format!("555 200 {v:04}")
    }
}

fn email_value(v: u16, alt: bool) -> String {
    if alt {
        format!(" P{v}@Example.NET")
    } else {
        format!("p{v}@example.net")
    }
}

fn postal_value(v: u16, alt: bool) -> PostalAddress {
    if alt {
        PostalAddress {
            line1: format!("{v} ELM ST."),
            line2: None,
            city: "SPRINGFIELD".into(),
            region: None,
            postcode: Some(format!("0{v:04}").to_lowercase()),
            country: "us".into(),
        }
    } else {
        postal(&format!("{v} Elm Street"), &format!("0{v:04}"))
    }
}

fn existing_with(k: K, entries: &[Ex]) -> Constituent {
    let mut c = person("8-1", "Jane", "Doe");
    for &(v, kind, primary, active, end) in entries {
        match k {
            K::Phone => {
                let mut p = phone(&phone_value(v, false), kind, primary, active);
                p.meta.end = end;
                c.phones.push(p);
            }
            K::Email => {
                let mut e = email(&email_value(v, false), kind, primary, active);
                e.meta.end = end;
                c.emails.push(e);
            }
            K::Address => {
                let p = postal_value(v, false);
                let mut a = address(
                    &p.line1,
                    p.postcode.as_deref().unwrap(),
                    kind,
                    primary,
                    active,
                );
                a.meta.end = end;
                c.addresses.push(a);
            }
        }
    }
    c
}

fn incoming_with(k: K, entries: &[In]) -> IncomingDetails {
    let mut d = IncomingDetails::default();
    for e in entries {
        match k {
            K::Phone => d.phones.push(IncomingPhone {
                number: phone_value(e.v, e.alt),
                kind: e.kind.into(),
                primary: e.primary,
            }),
            K::Email => d.emails.push(IncomingEmail {
                address: email_value(e.v, e.alt),
                kind: e.kind.into(),
                primary: e.primary,
            }),
            K::Address => d.addresses.push(IncomingAddress {
                address: postal_value(e.v, e.alt),
                kind: e.kind.into(),
                primary: e.primary,
            }),
        }
    }
    d
}

/// (normalised value, type, primary, active, end) of each entry of kind `k`.
type Row = (String, String, bool, bool, Option<NaiveDate>);

fn rows(c: &Constituent, k: K) -> Vec<Row> {
    let n = Normalizer::default();
    match k {
        K::Phone => c
            .phones
            .iter()
            .map(|p| {
                let m = &p.meta;
                (
                    n.phone(&p.number).unwrap(),
                    m.kind.clone(),
                    m.primary,
                    m.active,
                    m.end,
                )
            })
            .collect(),
        K::Email => c
            .emails
            .iter()
            .map(|e| {
                let m = &e.meta;
                (
                    n.email(&e.address).unwrap(),
                    m.kind.clone(),
                    m.primary,
                    m.active,
                    m.end,
                )
            })
            .collect(),
        K::Address => c
            .addresses
            .iter()
            .map(|a| {
                let m = &a.meta;
                (
                    n.address_line(&a.line1),
                    m.kind.clone(),
                    m.primary,
                    m.active,
                    m.end,
                )
            })
            .collect(),
    }
}

fn expected_rows(k: K, entries: &[Ex]) -> Vec<Row> {
    let n = Normalizer::default();
    entries
        .iter()
        .map(|&(v, kind, primary, active, end)| {
            let value = match k {
                K::Phone => n.phone(&phone_value(v, false)).unwrap(),
                K::Email => n.email(&email_value(v, false)).unwrap(),
                K::Address => n.address_line(&postal_value(v, false).line1),
            };
            (value, kind.to_owned(), primary, active, end)
        })
        .collect()
}

/// Which of the seed's sentences a case checks.
#[derive(Debug, Clone, Copy)]
enum Rule {
    AddNew,
    EndSameType,
    PrimaryOnlyIfSameType,
    TieOneSameType,
    TieSeveralOneMarked,
    TieSeveralNoneMarked,
    NoExistingBatchPrimary,
    /// A decision where the seed is silent; the string says which.
    Decision(&'static str),
}

fn quote(rule: Rule, k: K) -> &'static str {
    use K::*;
    use Rule::*;
    match (rule, k) {
        (AddNew, Address) => {
            "If addresses are different, Altru adds the incoming address as a new address to the existing constituent."
        }
        (AddNew, Phone) => {
            "If incoming phone number is not identical to any existing phone number, Altru adds it as a new number to the existing constituent."
        }
        (AddNew, Email) => {
            "If the incoming email address is not identical to any existing email address, Altru adds the incoming email address as an new email address."
        }
        (EndSameType, Address) => {
            "If the new address has the same type as any existing address, Altru makes inactive any existing addresses with the same address type as the new address and updates the End date field on the constituent for all existing addresses with that address type."
        }
        (EndSameType, Phone) => {
            "If the new phone number has the same type as any existing phone number, Altru makes the existing phone number inactive and updates the End date field on all existing phone numbers on the constituent with that phone type."
        }
        (EndSameType, Email) => {
            "If new email address has the same type as any existing email address, Altru makes inactive any existing email addresses with the same email type as the new address and updates the End date field on all existing email addresses on the constituent with that email type."
        }
        (PrimaryOnlyIfSameType, Address) => {
            "Altru makes the new address primary only if it has the same address type as the existing primary address."
        }
        (PrimaryOnlyIfSameType, Phone) => {
            "Altru makes the new phone number primary only if it has the same phone type as the existing primary phone number."
        }
        (PrimaryOnlyIfSameType, Email) => {
            "Altru makes the new email address primary only if it has the same email type as the existing primary email address."
        }
        (TieOneSameType, Address) => {
            "If there are multiple new addresses in the batch and one has the same address type as the existing primary address, it becomes primary."
        }
        (TieOneSameType, Phone) => {
            "If there are multiple new phone numbers in the batch and one has the same phone type as the existing primary phone number, it becomes primary."
        }
        (TieOneSameType, Email) => {
            "If there are multiple new email addresses in the batch and one has the same email type as the existing primary email address, it becomes primary."
        }
        (TieSeveralOneMarked, Address) => {
            "If there are multiple new addresses with the same address type as the existing primary address and one of those new addresses is marked primary, it becomes primary."
        }
        (TieSeveralOneMarked, Phone) => {
            "If there are multiple new phone numbers with the same phone type as the existing primary phone number and one of those new phone numbers is marked primary, it becomes primary."
        }
        (TieSeveralOneMarked, Email) => {
            "If there are multiple new email addresses with the same email type as the existing primary email address and one of those new email addresses is marked primary, it becomes primary."
        }
        (TieSeveralNoneMarked, Address) => {
            "If there are multiple new addresses with the same address type as the existing primary address and none of those new addresses is marked primary, the one that appears first in the batch is made primary."
        }
        (TieSeveralNoneMarked, Phone) => {
            "If there are multiple new phone numbers with the same phone type as the existing primary phone number and none of those new phone numbers is marked primary, the one that appears first in the batch is made primary."
        }
        (TieSeveralNoneMarked, Email) => {
            "If there are multiple new email addresses with the same email type as the existing primary email address and none of those new email addresses is marked primary, the email that appears first in the batch is made primary."
        }
        (NoExistingBatchPrimary, Address) => {
            "If the existing constituent has no addresses, the primary address in the batch is always primary"
        }
        (NoExistingBatchPrimary, Phone) => {
            "If the existing constituent has no phone numbers, the primary phone number in the batch is always primary."
        }
        (NoExistingBatchPrimary, Email) => {
            "If the existing constituent has no email addresses, the primary email address in the batch is always primary."
        }
        (Decision(d), _) => d,
    }
}

struct Case {
    name: &'static str,
    rule: Rule,
    existing: &'static [Ex],
    incoming: &'static [In],
    expected: &'static [Ex],
}

const T: Option<NaiveDate> = None;

/// `Some(today)`, as a const for the table.
const TODAY: Option<NaiveDate> = NaiveDate::from_ymd_opt(2025, 6, 1);
const PAST: Option<NaiveDate> = NaiveDate::from_ymd_opt(2020, 1, 1);
const FUTURE: Option<NaiveDate> = NaiveDate::from_ymd_opt(2030, 1, 1);

const CASES: &[Case] = &[
    Case {
        name: "add_new_entry_of_another_type",
        rule: Rule::AddNew,
        existing: &[(1, "Home", true, true, T)],
        incoming: &[inc(2, "Work", false)],
        expected: &[(1, "Home", true, true, T), (2, "Work", false, true, T)],
    },
    Case {
        name: "identical_entry_not_added",
        rule: Rule::AddNew,
        existing: &[(1, "Home", true, true, T)],
        incoming: &[inc(1, "Home", true)],
        expected: &[(1, "Home", true, true, T)],
    },
    Case {
        name: "identical_after_normalisation_not_added_whatever_its_type",
        rule: Rule::AddNew,
        existing: &[(1, "Home", true, true, T), (2, "Work", false, true, T)],
        incoming: &[alt(1, "Home", true), alt(2, "Mobile", true)],
        expected: &[(1, "Home", true, true, T), (2, "Work", false, true, T)],
    },
    Case {
        name: "new_entry_ends_existing_of_same_type",
        rule: Rule::EndSameType,
        existing: &[(1, "Home", true, true, T), (2, "Work", false, true, T)],
        incoming: &[inc(3, "Work", false)],
        expected: &[
            (1, "Home", true, true, T),
            (2, "Work", false, false, TODAY),
            (3, "Work", false, true, T),
        ],
    },
    Case {
        name: "all_existing_of_that_type_ended_others_untouched",
        rule: Rule::EndSameType,
        existing: &[
            (1, "Home", true, true, T),
            (2, "Home", false, true, T),
            (4, "Work", false, true, T),
        ],
        incoming: &[inc(3, "Home", false)],
        expected: &[
            (1, "Home", false, false, TODAY),
            (2, "Home", false, false, TODAY),
            (4, "Work", false, true, T),
            (3, "Home", true, true, T),
        ],
    },
    Case {
        name: "types_compared_case_insensitively",
        rule: Rule::EndSameType,
        existing: &[(1, "home", true, true, T)],
        incoming: &[inc(2, " HOME ", false)],
        expected: &[
            (1, "home", false, false, TODAY),
            (2, " HOME ", true, true, T),
        ],
    },
    Case {
        name: "no_entry_of_that_type_nothing_ended",
        rule: Rule::EndSameType,
        existing: &[(1, "Home", true, true, T)],
        incoming: &[inc(2, "Seasonal", false)],
        expected: &[(1, "Home", true, true, T), (2, "Seasonal", false, true, T)],
    },
    Case {
        name: "marked_primary_of_other_type_not_made_primary",
        rule: Rule::PrimaryOnlyIfSameType,
        existing: &[(1, "Home", true, true, T)],
        incoming: &[inc(2, "Work", true)],
        expected: &[(1, "Home", true, true, T), (2, "Work", false, true, T)],
    },
    Case {
        name: "same_type_as_old_primary_made_primary_even_unmarked",
        rule: Rule::PrimaryOnlyIfSameType,
        existing: &[(1, "Home", true, true, T), (2, "Work", false, true, T)],
        incoming: &[inc(3, "Home", false)],
        expected: &[
            (1, "Home", false, false, TODAY),
            (2, "Work", false, true, T),
            (3, "Home", true, true, T),
        ],
    },
    Case {
        name: "same_type_as_non_primary_existing_not_made_primary",
        rule: Rule::PrimaryOnlyIfSameType,
        existing: &[(1, "Home", true, true, T), (2, "Work", false, true, T)],
        incoming: &[inc(3, "Work", true)],
        expected: &[
            (1, "Home", true, true, T),
            (2, "Work", false, false, TODAY),
            (3, "Work", false, true, T),
        ],
    },
    Case {
        name: "several_new_one_of_same_type_it_becomes_primary",
        rule: Rule::TieOneSameType,
        existing: &[(1, "Home", true, true, T)],
        incoming: &[
            inc(2, "Work", true),
            inc(3, "Home", false),
            inc(4, "Other", true),
        ],
        expected: &[
            (1, "Home", false, false, TODAY),
            (2, "Work", false, true, T),
            (3, "Home", true, true, T),
            (4, "Other", false, true, T),
        ],
    },
    Case {
        name: "several_same_type_the_marked_one_becomes_primary",
        rule: Rule::TieSeveralOneMarked,
        existing: &[(1, "Home", true, true, T)],
        incoming: &[
            inc(2, "Home", false),
            inc(3, "Home", true),
            inc(4, "Work", true),
        ],
        expected: &[
            (1, "Home", false, false, TODAY),
            (2, "Home", false, true, T),
            (3, "Home", true, true, T),
            (4, "Work", false, true, T),
        ],
    },
    Case {
        name: "several_same_type_none_marked_first_in_batch_becomes_primary",
        rule: Rule::TieSeveralNoneMarked,
        existing: &[(1, "Home", true, true, T)],
        incoming: &[
            inc(4, "Work", true),
            inc(2, "Home", false),
            inc(3, "Home", false),
        ],
        expected: &[
            (1, "Home", false, false, TODAY),
            (4, "Work", false, true, T),
            (2, "Home", true, true, T),
            (3, "Home", false, true, T),
        ],
    },
    Case {
        name: "no_existing_entries_batch_primary_is_primary",
        rule: Rule::NoExistingBatchPrimary,
        existing: &[],
        incoming: &[inc(2, "Work", false), inc(3, "Home", true)],
        expected: &[(2, "Work", false, true, T), (3, "Home", true, true, T)],
    },
    Case {
        name: "no_existing_entries_none_marked_first_in_batch_is_primary",
        rule: Rule::Decision(
            "No existing entries and no entry marked primary in the batch: the first entry of the batch is primary.",
        ),
        existing: &[],
        incoming: &[inc(2, "Work", false), inc(3, "Home", false)],
        expected: &[(2, "Work", true, true, T), (3, "Home", false, true, T)],
    },
    Case {
        name: "no_existing_entries_several_marked_first_marked_is_primary",
        rule: Rule::Decision(
            "No existing entries and several entries marked primary: the first marked one is primary.",
        ),
        existing: &[],
        incoming: &[
            inc(2, "Work", false),
            inc(3, "Home", true),
            inc(4, "Other", true),
        ],
        expected: &[
            (2, "Work", false, true, T),
            (3, "Home", true, true, T),
            (4, "Other", false, true, T),
        ],
    },
    Case {
        name: "several_same_type_several_marked_first_marked_is_primary",
        rule: Rule::Decision(
            "Several new entries of the old primary's type marked primary: the first marked one is primary.",
        ),
        existing: &[(1, "Home", true, true, T)],
        incoming: &[
            inc(2, "Home", false),
            inc(3, "Home", true),
            inc(4, "Home", true),
        ],
        expected: &[
            (1, "Home", false, false, TODAY),
            (2, "Home", false, true, T),
            (3, "Home", true, true, T),
            (4, "Home", false, true, T),
        ],
    },
    Case {
        name: "identical_to_inactive_entry_is_left_alone",
        rule: Rule::Decision(
            "An incoming entry identical to an inactive existing one is not added and does not re-activate it.",
        ),
        existing: &[(1, "Home", true, true, T), (2, "Home", false, false, PAST)],
        incoming: &[alt(2, "Home", true)],
        expected: &[(1, "Home", true, true, T), (2, "Home", false, false, PAST)],
    },
    Case {
        name: "entries_but_no_active_primary_batch_primary_is_primary",
        rule: Rule::Decision(
            "Existing entries without an active primary: treated like no entries, so the batch's primary is primary.",
        ),
        existing: &[(1, "Home", false, true, T), (5, "Work", true, false, PAST)],
        incoming: &[inc(2, "Other", false)],
        expected: &[
            (1, "Home", false, true, T),
            (5, "Work", false, false, PAST),
            (2, "Other", true, true, T),
        ],
    },
    Case {
        name: "past_end_date_of_already_ended_entry_is_kept",
        rule: Rule::Decision(
            "An already-ended entry of the same type keeps an end date in the past; a later or missing one becomes today.",
        ),
        existing: &[
            (1, "Home", true, true, T),
            (2, "Home", false, false, PAST),
            (5, "Home", false, false, T),
            (6, "Home", false, true, FUTURE),
        ],
        incoming: &[inc(3, "Home", false)],
        expected: &[
            (1, "Home", false, false, TODAY),
            (2, "Home", false, false, PAST),
            (5, "Home", false, false, TODAY),
            (6, "Home", false, false, TODAY),
            (3, "Home", true, true, T),
        ],
    },
    Case {
        name: "duplicates_in_one_batch_added_once",
        rule: Rule::Decision("The same entry twice in one batch is added once."),
        existing: &[(1, "Home", true, true, T)],
        incoming: &[inc(2, "Home", false), alt(2, "Home", true)],
        expected: &[(1, "Home", false, false, TODAY), (2, "Home", true, true, T)],
    },
];

fn run_contact_table(k: K) {
    for case in CASES {
        let existing = existing_with(k, case.existing);
        let incoming = incoming_with(k, case.incoming);
        let (updated, changes) =
            apply_update_rules(&existing, &incoming, UpdateMode::Automatic, today());
        assert_eq!(
            rows(&updated, k),
            expected_rows(k, case.expected),
            "\ncase {} ({k:?})\nrule: {:?}\nseed 003: \"{}\"\nchanges: {changes:#?}",
            case.name,
            case.rule,
            quote(case.rule, k),
        );
        // Applying the same incoming details again changes nothing.
        let (again, changes_again) =
            apply_update_rules(&updated, &incoming, UpdateMode::Automatic, today());
        assert_eq!(again, updated, "idempotence: case {} ({k:?})", case.name);
        assert!(
            changes_again.iter().all(|c| !c.alters_record()),
            "case {} ({k:?}): {changes_again:?}",
            case.name
        );
    }
}

/// Seed 003, addresses: "Add incoming address as a new address" and "Only make incoming
/// address primary if the old primary address had the same type", with every tie-break.
#[test]
fn rule_address_table() {
    run_contact_table(K::Address);
}

/// Seed 003, phones: "Add incoming phone number as new phone number" and "Only make incoming
/// phone number primary if the old primary phone had the same type", with every tie-break.
#[test]
fn rule_phone_table() {
    run_contact_table(K::Phone);
}

/// Seed 003, emails: "Add incoming email address as new email address" and "Only make incoming
/// email address primary if the old primary email address had the same email type", with every
/// tie-break.
#[test]
fn rule_email_table() {
    run_contact_table(K::Email);
}

/// Runs the table's cases for one rule, for addresses, phones and emails.
fn run_rule(wanted: fn(Rule) -> bool) {
    let mut ran = 0;
    for case in CASES.iter().filter(|c| wanted(c.rule)) {
        for k in KINDS {
            let (updated, _) = apply_update_rules(
                &existing_with(k, case.existing),
                &incoming_with(k, case.incoming),
                UpdateMode::Automatic,
                today(),
            );
            assert_eq!(
                rows(&updated, k),
                expected_rows(k, case.expected),
                "case {} ({k:?}): \"{}\"",
                case.name,
                quote(case.rule, k)
            );
            ran += 1;
        }
    }
    assert!(ran >= 3, "no case for this rule");
}

/// Seed 003: "If incoming phone number is not identical to any existing phone number, Altru
/// adds it as a new number to the existing constituent." (and the same for addresses and
/// emails).
#[test]
fn rule_new_entry_added_only_when_not_identical() {
    run_rule(|r| matches!(r, Rule::AddNew));
}

/// Seed 003: "If the new phone number has the same type as any existing phone number, Altru
/// makes the existing phone number inactive and updates the End date field on all existing
/// phone numbers on the constituent with that phone type."
#[test]
fn rule_existing_entries_of_same_type_inactivated_with_end_date() {
    run_rule(|r| matches!(r, Rule::EndSameType));
}

/// Seed 003: "Altru makes the new phone number primary only if it has the same phone type as
/// the existing primary phone number."
#[test]
fn rule_new_phone_primary_only_if_old_primary_same_type() {
    run_rule(|r| matches!(r, Rule::PrimaryOnlyIfSameType));
}

/// Seed 003: "If there are multiple new phone numbers in the batch and one has the same phone
/// type as the existing primary phone number, it becomes primary."
#[test]
fn tie_break_one_new_entry_of_old_primary_type_becomes_primary() {
    run_rule(|r| matches!(r, Rule::TieOneSameType));
}

/// Seed 003: "If there are multiple new phone numbers with the same phone type as the existing
/// primary phone number and one of those new phone numbers is marked primary, it becomes
/// primary."
#[test]
fn tie_break_several_of_old_primary_type_marked_one_becomes_primary() {
    run_rule(|r| matches!(r, Rule::TieSeveralOneMarked));
}

/// Seed 003: "If there are multiple new phone numbers with the same phone type as the existing
/// primary phone number and none of those new phone numbers is marked primary, the one that
/// appears first in the batch is made primary."
#[test]
fn tie_break_several_of_old_primary_type_none_marked_first_becomes_primary() {
    run_rule(|r| matches!(r, Rule::TieSeveralNoneMarked));
}

/// Seed 003: "If the existing constituent has no phone numbers, the primary phone number in
/// the batch is always primary."
#[test]
fn rule_no_existing_entries_batch_primary_is_primary() {
    run_rule(|r| matches!(r, Rule::NoExistingBatchPrimary));
}

/// Decisions where seed 003 is silent (each case states its decision).
#[test]
fn decisions_where_the_seed_is_silent() {
    run_rule(|r| matches!(r, Rule::Decision(_)));
}

/// Every sentence the tables quote is one `docs/crm-rules.md` quotes from the CRM (the
/// project's own statement of the rules), word for word.
#[test]
fn quoted_sentences_are_those_docs_crm_rules_quotes() {
    let text = crm_rules();
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = squash(&text);
    let text = text.as_str();
    let rules = [
        Rule::AddNew,
        Rule::EndSameType,
        Rule::PrimaryOnlyIfSameType,
        Rule::TieOneSameType,
        Rule::TieSeveralOneMarked,
        Rule::TieSeveralNoneMarked,
        Rule::NoExistingBatchPrimary,
    ];
    for rule in rules {
        for k in KINDS {
            let q = quote(rule, k);
            assert!(text.contains(&squash(q)), "not in {CRM_RULES}: {q}");
        }
    }
    for q in [
        NAME_RULE,
        BIRTH_RULE,
        BIRTH_NOTE,
        BULLET_ADD_SCREEN,
        BULLET_MANUAL_BATCH,
        BULLET_IMPORTED_ADD,
        BULLET_IMPORTED_EDIT,
        BULLET_NOT_EDIT_SCREEN,
        BULLET_NOT_MANUAL_WITH_ID,
    ] {
        assert!(text.contains(&squash(q)), "not in {CRM_RULES}: {q}");
    }
}

#[test]
fn contact_changes_are_reported_for_the_audit_trail() {
    let existing = existing_with(K::Phone, &[(1, "Home", true, true, T)]);
    let mut incoming = incoming_with(K::Phone, &[inc(2, "Home", false), alt(1, "Work", false)]);
    incoming.phones.push(IncomingPhone {
        number: "123".into(),
        kind: "Home".into(),
        primary: false,
    });
    let (_, changes) = apply_update_rules(&existing, &incoming, UpdateMode::Automatic, today());
    assert_eq!(
        changes,
        vec![
            Change::AlreadyPresent {
                contact: ContactKind::Phone,
                value: phone_value(1, true),
                existing_index: 0,
                existing_active: true,
            },
            Change::Rejected {
                contact: ContactKind::Phone,
                value: "123".into(),
                reason: Rejection::UnusablePhone,
            },
            Change::Ended {
                contact: ContactKind::Phone,
                index: 0,
                value: phone_value(1, false),
                contact_type: "Home".into(),
                was_active: true,
                end: today(),
            },
            Change::Added {
                contact: ContactKind::Phone,
                index: 1,
                value: phone_value(2, false),
                contact_type: "Home".into(),
                primary: true,
            },
            Change::PrimaryMoved {
                contact: ContactKind::Phone,
                from: Some(0),
                to: 1,
            },
        ]
    );
}

#[test]
fn new_entries_start_today() {
    let (c, _) = apply_update_rules(
        &existing_with(K::Email, &[]),
        &incoming_with(K::Email, &[inc(1, "Email", true)]),
        UpdateMode::Review,
        today(),
    );
    assert_eq!(c.emails[0].meta.start, Some(today()));
    assert_eq!(c.emails[0].meta.end, None);
}

#[test]
fn unusable_incoming_entries_are_rejected() {
    let incoming = IncomingDetails {
        emails: vec![IncomingEmail {
            address: "noemail@venue.org".into(),
            kind: "Email".into(),
            primary: true,
        }],
        addresses: vec![IncomingAddress {
            address: PostalAddress::default(),
            kind: "Home".into(),
            primary: true,
        }],
        ..IncomingDetails::default()
    };
    let existing = jane();
    let (c, changes) = apply_update_rules(&existing, &incoming, UpdateMode::Automatic, today());
    assert_eq!(c, existing);
    let reasons: Vec<Rejection> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Rejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![Rejection::EmptyAddress, Rejection::UnusableEmail]
    );
}

/// Phone identity follows the venue's dialing plan.
#[test]
fn phone_identity_uses_the_venues_dialing_plan() {
    let gb = Normalizer::for_country("GB").unwrap();
    let mut existing = person("8-1", "Jane", "Doe");
    existing.phones = vec![phone("020 7946 0018", "Home", true, true)];
    let incoming = IncomingDetails {
        phones: vec![IncomingPhone {
            number: "+44 20 7946 0018".into(),
            kind: "Home".into(),
            primary: true,
        }],
        ..IncomingDetails::default()
    };
    let (c, _) = apply_update_rules_with(&existing, &incoming, UpdateMode::Automatic, today(), &gb);
    assert_eq!(c, existing);
}

// ---------------------------------------------------------------------------------------------
// Name and birth date.

const NAME_RULE: &str = "If names are different, Altru replaces the name on the existing constituent with the name from the incoming constituent and stores the existing name on the constituent record under Historical names.";
const BIRTH_RULE: &str = "If the incoming birth date is not identical to the existing birth date, Altru replaces the date on the existing constituent with the birth date from the incoming constituent.";
const BIRTH_NOTE: &str = "Birth dates update only when constituents qualify for automatic updates (their match confidence score is above the top threshold).";

fn with_name(name: PersonName) -> IncomingDetails {
    IncomingDetails {
        name: Some(name),
        ..IncomingDetails::default()
    }
}

/// Seed 003: "If names are different, Altru replaces the name on the existing constituent with
/// the name from the incoming constituent and stores the existing name on the constituent
/// record under Historical names."
#[test]
fn rule_name_replaced_and_old_name_kept_as_historical() {
    let existing = jane();
    let mut new_name = name("Jane", "Smith");
    new_name.middle = Some("Q".into());
    for mode in [UpdateMode::Automatic, UpdateMode::Review] {
        let (c, changes) =
            apply_update_rules(&existing, &with_name(new_name.clone()), mode, today());
        assert_eq!(c.name, new_name, "{NAME_RULE}");
        assert_eq!(
            c.historical_names,
            vec![HistoricalName {
                name: name("Jane", "Doe"),
                until: Some(today())
            }],
            "{NAME_RULE}"
        );
        assert_eq!(
            changes,
            vec![Change::NameReplaced {
                previous: name("Jane", "Doe"),
                current: new_name.clone()
            }]
        );
    }
}

/// Seed 003: "If names are different": names equal after normalisation (case, accents,
/// punctuation) are not different, and an incoming record without a name changes nothing.
#[test]
fn rule_name_not_replaced_when_not_different() {
    let mut existing = jane();
    existing.name = name("Zoë", "O'Brien");
    for incoming in [
        with_name(name("ZOE", "OBRIEN")),
        with_name(name("zoë", "o’brien")),
        with_name(name("", "")),
        IncomingDetails::default(),
    ] {
        let (c, changes) = apply_update_rules(&existing, &incoming, UpdateMode::Automatic, today());
        assert_eq!(c, existing, "{NAME_RULE} ({incoming:?})");
        assert!(changes.is_empty());
    }
}

/// Seed 003: "If names are different" covers every part of the name, middle name included.
#[test]
fn rule_name_difference_in_any_part_replaces() {
    let existing = jane();
    let mut incoming = name("Jane", "Doe");
    incoming.suffix = Some("Jr".into());
    let (c, _) = apply_update_rules(
        &existing,
        &with_name(incoming.clone()),
        UpdateMode::Automatic,
        today(),
    );
    assert_eq!(c.name, incoming);
    assert_eq!(c.historical_names.len(), 1);
}

/// Seed 003: "If the incoming birth date is not identical to the existing birth date, Altru
/// replaces the date on the existing constituent with the birth date from the incoming
/// constituent."
#[test]
fn rule_birth_date_replaced_on_automatic_update() {
    let mut existing = jane();
    for previous in [Some(date(1980, 5, 17)), None] {
        existing.birth_date = previous;
        let incoming = IncomingDetails {
            birth_date: Some(date(1981, 5, 17)),
            ..IncomingDetails::default()
        };
        let (c, changes) = apply_update_rules(&existing, &incoming, UpdateMode::Automatic, today());
        assert_eq!(c.birth_date, Some(date(1981, 5, 17)), "{BIRTH_RULE}");
        assert_eq!(
            changes,
            vec![Change::BirthDateReplaced {
                previous,
                current: date(1981, 5, 17)
            }]
        );
    }
}

/// Seed 003: "Birth dates update only when constituents qualify for automatic updates (their
/// match confidence score is above the top threshold)."
#[test]
fn rule_birth_date_kept_on_review() {
    let existing = jane();
    let incoming = IncomingDetails {
        birth_date: Some(date(1981, 5, 17)),
        ..IncomingDetails::default()
    };
    let (c, changes) = apply_update_rules(&existing, &incoming, UpdateMode::Review, today());
    assert_eq!(c.birth_date, existing.birth_date, "{BIRTH_NOTE}");
    assert_eq!(
        changes,
        vec![Change::BirthDateKept {
            existing: existing.birth_date,
            incoming: date(1981, 5, 17)
        }]
    );
}

/// Seed 003: "not identical": the same or a missing incoming birth date changes nothing.
#[test]
fn rule_birth_date_identical_or_missing_changes_nothing() {
    let existing = jane();
    for birth_date in [existing.birth_date, None] {
        let incoming = IncomingDetails {
            birth_date,
            ..IncomingDetails::default()
        };
        let (c, changes) = apply_update_rules(&existing, &incoming, UpdateMode::Automatic, today());
        assert_eq!(c, existing, "{BIRTH_RULE}");
        assert!(changes.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// When do rules apply?

const BULLET_ADD_SCREEN: &str = "When you add a new constituent using the Add an individual screen or the Add an organization screen and it matches an existing constituent according to your defined constituent matching settings.";
const BULLET_MANUAL_BATCH: &str = "When you add a constituent through manual Constituent Update and Enhanced Revenue batches and it matches an existing constituent according to your defined constituent matching settings.";
const BULLET_IMPORTED_ADD: &str = "When you add a constituent through imported Constituent Update and Enhanced Revenue batches and it matches an existing constituent according to your defined constituent matching settings and you exclude the constituent ID.";
const BULLET_IMPORTED_EDIT: &str = "When you edit a constituent through imported Constituent Update and Enhanced Revenue batches and you include the constituent ID.";
const BULLET_NOT_EDIT_SCREEN: &str = "When you edit a constituent using the Edit an individual screen or the Edit an organization screen.";
const BULLET_NOT_MANUAL_WITH_ID: &str = "When you add a constituent through manual Constituent Update and Enhanced Revenue batches and include the constituent ID.";

fn batch(entry: BatchEntry, operation: BatchOperation, id: bool, matches: bool) -> UpdateSource {
    UpdateSource::Batch {
        entry,
        operation,
        constituent_id_included: id,
        matches_existing: matches,
    }
}

/// Seed 003, "When do rules apply?": each bullet is one case.
#[test]
fn rule_when_rules_apply_table() {
    use BatchEntry::*;
    use BatchOperation::*;
    let cases: &[(&str, UpdateSource, bool)] = &[
        (
            BULLET_ADD_SCREEN,
            UpdateSource::AddScreen {
                matches_existing: true,
            },
            true,
        ),
        (BULLET_MANUAL_BATCH, batch(Manual, Add, false, true), true),
        (BULLET_IMPORTED_ADD, batch(Imported, Add, false, true), true),
        (
            BULLET_IMPORTED_EDIT,
            batch(Imported, Edit, true, true),
            true,
        ),
        (
            BULLET_IMPORTED_EDIT,
            batch(Imported, Edit, true, false),
            true,
        ),
        (BULLET_NOT_EDIT_SCREEN, UpdateSource::EditScreen, false),
        (
            BULLET_NOT_MANUAL_WITH_ID,
            batch(Manual, Add, true, true),
            false,
        ),
        (
            BULLET_NOT_MANUAL_WITH_ID,
            batch(Manual, Add, true, false),
            false,
        ),
        (
            "Kiosk, portal or access-control details that matched: sent like an imported add without the constituent ID.",
            UpdateSource::MatchedIncoming,
            true,
        ),
        (
            "A direct edit of an identified record: like the edit screen.",
            UpdateSource::ExplicitEdit,
            false,
        ),
        (
            "Not in the list: an add that matches nothing creates a new record.",
            UpdateSource::AddScreen {
                matches_existing: false,
            },
            false,
        ),
        (
            "Not in the list: a manual batch add that matches nothing.",
            batch(Manual, Add, false, false),
            false,
        ),
        (
            "Not in the list: an imported add that matches nothing.",
            batch(Imported, Add, false, false),
            false,
        ),
        (
            "Not in the list: an imported add that includes the constituent ID.",
            batch(Imported, Add, true, true),
            false,
        ),
        (
            "Not in the list: an imported edit without the constituent ID.",
            batch(Imported, Edit, false, true),
            false,
        ),
        (
            "Not in the list: a manual batch edit.",
            batch(Manual, Edit, true, true),
            false,
        ),
    ];
    for (quote, source, applies) in cases {
        assert_eq!(rules_apply(*source), *applies, "{source:?}: \"{quote}\"");
    }
}

#[test]
fn visitor_details_become_an_incoming_record() {
    let mut v = visitor("Jane", "Doe", Some("j@x.test"), Some("555 123 4567"));
    v.address = Some(postal("1 Elm St", "02134"));
    v.birth_date = Some(long_ago());
    let d = IncomingDetails::from_visitor(&v, &VisitorContactTypes::default());
    assert_eq!(d.name, Some(name("Jane", "Doe")));
    assert_eq!(d.birth_date, Some(long_ago()));
    assert_eq!(
        d.emails,
        vec![IncomingEmail {
            address: "j@x.test".into(),
            kind: "Email".into(),
            primary: true
        }]
    );
    assert_eq!(d.phones.len(), 1);
    assert_eq!(d.addresses.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn arb_kind() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["Home", "Work", "Mobile", "home"])
}

/// Existing entries: values from a small pool so identities collide, at most one primary.
fn arb_existing() -> impl Strategy<Value = Vec<Ex>> {
    prop::collection::vec(
        (
            0u16..6,
            arb_kind(),
            any::<bool>(),
            prop::option::of(prop::sample::select(vec![
                long_ago(),
                today(),
                date(2030, 1, 1),
            ])),
        ),
        0..5,
    )
    .prop_flat_map(|entries| {
        let len = entries.len();
        (Just(entries), prop::option::of(0..len.max(1)))
    })
    .prop_map(|(entries, primary)| {
        entries
            .into_iter()
            .enumerate()
            .map(|(i, (v, kind, active, end))| (v, kind, primary == Some(i), active, end))
            .collect()
    })
}

fn arb_incoming() -> impl Strategy<Value = Vec<In>> {
    prop::collection::vec(
        (0u16..8, arb_kind(), any::<bool>(), any::<bool>()).prop_map(|(v, kind, primary, alt)| {
            In {
                v,
                kind,
                primary,
                alt,
            }
        }),
        0..5,
    )
}

fn arb_case() -> impl Strategy<Value = (Constituent, IncomingDetails, UpdateMode)> {
    (
        arb_existing(),
        arb_existing(),
        arb_existing(),
        arb_incoming(),
        arb_incoming(),
        arb_incoming(),
        prop::option::of(prop::sample::select(vec![
            name("Jane", "Doe"),
            name("Jane", "Smith"),
            name("JANE", "DOE"),
        ])),
        prop::option::of(prop::sample::select(vec![
            date(1980, 5, 17),
            date(1990, 1, 1),
        ])),
        prop::sample::select(vec![UpdateMode::Automatic, UpdateMode::Review]),
    )
        .prop_map(|(ea, ep, ee, ia, ip, ie, nm, birth, mode)| {
            let mut c = existing_with(K::Address, &ea);
            c.phones = existing_with(K::Phone, &ep).phones;
            c.emails = existing_with(K::Email, &ee).emails;
            c.birth_date = Some(date(1980, 5, 17));
            let mut d = incoming_with(K::Address, &ia);
            d.phones = incoming_with(K::Phone, &ip).phones;
            d.emails = incoming_with(K::Email, &ie).emails;
            d.name = nm;
            d.birth_date = birth;
            (c, d, mode)
        })
}

fn primaries<M>(
    entries: &[M],
    meta: impl Fn(&M) -> &portico::domain::ContactMeta,
) -> (usize, bool) {
    let p: Vec<&portico::domain::ContactMeta> =
        entries.iter().map(&meta).filter(|m| m.primary).collect();
    (p.len(), p.iter().all(|m| m.active))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Applying the same incoming details twice gives the same result as once.
    #[test]
    fn update_rules_are_idempotent((existing, incoming, mode) in arb_case()) {
        let (once, _) = apply_update_rules(&existing, &incoming, mode, today());
        let (twice, changes) = apply_update_rules(&once, &incoming, mode, today());
        prop_assert_eq!(&twice, &once);
        prop_assert!(changes.iter().all(|c| !c.alters_record()), "{:?}", changes);
    }

    /// At most one primary per kind afterwards; exactly one, and active, for a kind that had an
    /// active primary or gained an entry.
    #[test]
    fn at_most_one_primary_per_kind((existing, incoming, mode) in arb_case()) {
        let (updated, _) = apply_update_rules(&existing, &incoming, mode, today());
        let checks = [
            (
                primaries(&existing.addresses, |a| &a.meta),
                primaries(&updated.addresses, |a| &a.meta),
                existing.addresses.iter().any(|a| a.meta.primary && a.meta.active),
                updated.addresses.len() > existing.addresses.len(),
            ),
            (
                primaries(&existing.phones, |p| &p.meta),
                primaries(&updated.phones, |p| &p.meta),
                existing.phones.iter().any(|p| p.meta.primary && p.meta.active),
                updated.phones.len() > existing.phones.len(),
            ),
            (
                primaries(&existing.emails, |e| &e.meta),
                primaries(&updated.emails, |e| &e.meta),
                existing.emails.iter().any(|e| e.meta.primary && e.meta.active),
                updated.emails.len() > existing.emails.len(),
            ),
        ];
        for ((_, _), (after, after_active), had_active_primary, gained) in checks {
            prop_assert!(after <= 1);
            if had_active_primary || gained {
                prop_assert_eq!(after, 1);
                prop_assert!(after_active);
            }
        }
    }

    /// Entries are only ever added or ended, never removed or re-activated; nothing ends later
    /// than today.
    #[test]
    fn entries_are_added_or_ended_never_removed((existing, incoming, mode) in arb_case()) {
        let (updated, _) = apply_update_rules(&existing, &incoming, mode, today());
        prop_assert!(updated.phones.len() >= existing.phones.len());
        for (before, after) in existing.phones.iter().zip(&updated.phones) {
            prop_assert_eq!(&before.number, &after.number);
            prop_assert!(before.meta.active || !after.meta.active);
            if after.meta.end != before.meta.end {
                prop_assert!(after.meta.end.is_some_and(|e| e <= today()));
            }
        }
    }
}

/// Every rule in `docs/crm-rules.md` names the tests that check it; each of them exists.
#[test]
fn every_test_docs_crm_rules_names_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = String::new();
    let mut dirs = vec![root.join("tests"), root.join("crates")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let doc = crm_rules();
    let mut named = 0;
    for line in doc.lines().filter(|l| l.trim_start().starts_with("Tests:")) {
        for name in line.split('`').skip(1).step_by(2) {
            named += 1;
            assert!(
                sources.contains(&format!("fn {name}(")),
                "{CRM_RULES} names a test that does not exist: {name}"
            );
        }
    }
    assert!(named > 40, "only {named} tests named");
}
