use super::*;

fn mapping() -> Mapping {
    let raw: RawMapping = toml::from_str(DEFAULT_MAPPING).expect("the default mapping parses");
    Mapping::validate(raw).expect("the default mapping is valid")
}

const HEADER: &[&str] = &[
    "Lookup ID",
    "Title",
    "First name",
    "Last name",
    "Birth date",
    "Constituent status",
    "Email address 1",
    "Email type 1",
    "Email primary 1",
    "Email address 2",
    "Email active 2",
    "Phone number 1",
    "Phone type 1",
    "Address line 1 1",
    "City 1",
    "ZIP 1",
    "Country 1",
];

const GOOD: &[&str] = &[
    "8-1001",
    "Dr.",
    "Ana",
    "López",
    "03/14/1980",
    "Active",
    "ana@riverside-mail.com",
    "Personal",
    "Yes",
    "ana.old@riverside-mail.com",
    "No",
    "(617) 253-1000",
    "Mobile",
    "1 River Road",
    "Springfield",
    "01101",
    "",
];

#[test]
fn a_good_row_becomes_a_constituent_with_its_repeated_contacts() {
    let layout = ConstituentLayout::new(HEADER, &mapping()).unwrap();
    let c = layout.read(GOOD).unwrap();
    assert_eq!(c.lookup_id, "8-1001");
    assert_eq!(c.name.title.as_deref(), Some("Dr."));
    assert_eq!(
        (c.name.first.as_str(), c.name.last.as_str()),
        ("Ana", "López")
    );
    assert_eq!(c.birth_date, NaiveDate::from_ymd_opt(1980, 3, 14));
    assert_eq!(c.status, ConstituentStatus::Active);
    assert_eq!(c.emails.len(), 2);
    assert!(c.emails[0].meta.primary && c.emails[0].meta.active);
    assert_eq!(c.emails[0].meta.kind, "Personal");
    assert!(!c.emails[1].meta.active, "Email active 2 = No");
    assert_eq!(c.phones[0].number, "(617) 253-1000");
    assert_eq!(
        c.addresses[0].country, "US",
        "an empty country is the default"
    );
    assert_eq!(c.addresses[0].postcode.as_deref(), Some("01101"));
}

#[test]
fn each_malformed_cell_is_reported_with_its_column() {
    let layout = ConstituentLayout::new(HEADER, &mapping()).unwrap();
    // (what, column edited, new value, column reported, words in the reason)
    let cases = [
        ("no Lookup ID", "Lookup ID", "", "Lookup ID", "empty"),
        ("no last name", "Last name", " ", "Last name", "empty"),
        (
            "bad date",
            "Birth date",
            "31/02/1980",
            "Birth date",
            "not a date",
        ),
        (
            "bad status",
            "Constituent status",
            "Gone",
            "Constituent status",
            "not Active",
        ),
        (
            "bad email",
            "Email address 1",
            "ana at home",
            "Email address 1",
            "not an email",
        ),
        (
            "bad flag",
            "Email primary 1",
            "maybe",
            "Email primary 1",
            "not yes or no",
        ),
        (
            "bad phone",
            "Phone number 1",
            "n/a",
            "Phone number 1",
            "not a phone",
        ),
        ("bad country", "Country 1", "USA", "Country 1", "two-letter"),
        (
            "too long",
            "First name",
            &"A".repeat(MAX_FIELD_CHARS + 1),
            "First name",
            "longer than",
        ),
    ];
    for (what, edit, value, column, words) in cases {
        let mut row: Vec<&str> = GOOD.to_vec();
        let i = HEADER.iter().position(|h| *h == edit).unwrap();
        row[i] = value;
        let problems = layout.read(&row).expect_err(what);
        assert!(
            problems
                .iter()
                .any(|p| p.column == column && p.reason.contains(words)),
            "{what}: {problems:?}"
        );
    }
    // A file without a required column says so before any row.
    let missing = ConstituentLayout::new(&HEADER[1..], &mapping())
        .err()
        .expect("no Lookup ID column");
    assert_eq!(missing[0].column, "Lookup ID");
}

#[test]
fn memberships_read_their_members_and_refuse_bad_cells() {
    let header = [
        "Membership ID",
        "Membership level",
        "Membership status",
        "Start date",
        "Expiration date",
        "Member lookup IDs",
        "Guest allowance",
    ];
    let layout = MembershipLayout::new(&header, &mapping()).unwrap();
    let good = [
        "M1000042",
        "Family",
        "active",
        "2026-01-01",
        "12/31/2026",
        "8-1001; 8-1002",
        "2",
    ];
    let m = layout.read(&good).unwrap();
    assert_eq!(m.members, ["8-1001", "8-1002"]);
    assert_eq!(m.status, MembershipStatus::Active);
    assert_eq!(m.guest_allowance, 2);
    let cases = [
        (2, "Over", "Membership status", "not Active"),
        (
            4,
            "2025-12-31",
            "Expiration date",
            "expires before it starts",
        ),
        (3, "", "Start date", "empty"),
        (5, " ; ", "Member lookup IDs", "no Lookup ID"),
        (6, "lots", "Guest allowance", "not a number"),
    ];
    for (i, value, column, words) in cases {
        let mut row = good;
        row[i] = value;
        let problems = layout.read(&row).expect_err(column);
        assert!(
            problems
                .iter()
                .any(|p| p.column == column && p.reason.contains(words)),
            "{column}: {problems:?}"
        );
    }
}

#[test]
fn a_mapping_with_a_repeated_column_lacking_its_number_is_refused() {
    let text = DEFAULT_MAPPING.replace("\"Email address {n}\"", "\"Email address\"");
    let raw: RawMapping = toml::from_str(&text).unwrap();
    let problems = Mapping::validate(raw).unwrap_err();
    assert_eq!(problems[0].key, "constituents.emails.address");
    // Unknown keys are refused when the file is read.
    let text = format!("{DEFAULT_MAPPING}\n[catalogue]\nname = \"x\"\n");
    assert!(toml::from_str::<RawMapping>(&text).is_err());
}
