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

mod catalog_rows {
    use super::mapping;
    use crate::domain::ProductKind;
    use crate::import::catalog::{
        CatalogLayout, PriceRow, ProductRow, assemble, parse_money, parse_percent, parse_time,
    };
    use crate::kiosk::catalog::Admission;
    use crate::protocol::SaleDto;
    use chrono::{NaiveDate, NaiveTime};

    #[test]
    fn amounts_rates_and_times_read_as_the_crm_writes_them() {
        let money: &[(&str, Result<i64, ()>)] = &[
            ("24.95", Ok(2495)),
            ("$24.95", Ok(2495)),
            ("1,024.50", Ok(102_450)),
            ("24", Ok(2400)),
            ("24.5", Ok(2450)),
            ("0", Ok(0)),
            (".99", Ok(99)),
            ("24.999", Err(())),
            ("-5", Err(())),
            ("free", Err(())),
            ("", Err(())),
        ];
        for (text, want) in money {
            assert_eq!(parse_money(text).map_err(|_| ()), *want, "{text:?}");
        }
        assert_eq!(parse_percent("8.25"), Ok(825));
        assert_eq!(parse_percent("8.25%"), Ok(825));
        assert_eq!(parse_percent("0"), Ok(0));
        assert!(parse_percent("101").is_err());
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0);
        assert_eq!(parse_time("14:30"), t(14, 30));
        assert_eq!(parse_time("14:30:00"), t(14, 30));
        assert_eq!(parse_time("2:30 PM"), t(14, 30));
        assert_eq!(parse_time("2:30 pm"), t(14, 30));
        assert_eq!(parse_time("25:00"), None);
    }

    const PRODUCT_HEADER: &[&str] = &[
        "Product ID",
        "Product",
        "Product (Spanish)",
        "Type",
        "Admission",
        "Slot group",
        "Tax rule ID",
        "Membership level",
        "Guest allowance",
        "Active",
    ];

    fn product(cells: &[&str]) -> Result<ProductRow, Vec<(String, String)>> {
        let m = mapping();
        let layout = CatalogLayout::products(PRODUCT_HEADER, &m.catalog.products, None).unwrap();
        layout
            .read(cells)
            .map_err(|ps| ps.into_iter().map(|p| (p.column, p.reason)).collect())
    }

    #[test]
    fn product_rows_and_their_problems() {
        let timed = product(&[
            "TIMED",
            "Timed entry",
            "Entrada",
            "Ticket",
            "Timed",
            "zoo",
            "sales",
            "",
            "",
            "",
        ])
        .unwrap();
        assert_eq!(timed.kind, ProductKind::Ticket);
        assert_eq!(
            timed.sale.admission,
            Admission::Timed {
                slot_group: "zoo".into()
            }
        );
        assert_eq!(timed.sale.ticket_uses, 1);
        assert_eq!(timed.sale.channels, ["kiosk"]);
        assert!(timed.active);
        let family = product(&[
            "MEM-FAM",
            "Family",
            "",
            "Membership",
            "",
            "",
            "exempt",
            "Family",
            "2",
            "yes",
        ])
        .unwrap();
        assert_eq!(family.sale.admission, Admission::None);
        assert_eq!(family.sale.ticket_uses, 0);
        let offer = family.sale.membership.unwrap();
        assert_eq!(
            (offer.level.as_str(), offer.guest_allowance, offer.months),
            ("Family", 2, 12)
        );

        // Each malformed row names its column and says why.
        let long_id = "X".repeat(33);
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["", "A", "", "Ticket", "", "", "sales", "", "", ""],
                "Product ID",
                "empty",
            ),
            (
                &[&long_id, "A", "", "Ticket", "", "", "sales", "", "", ""],
                "Product ID",
                "32",
            ),
            (
                &["P", "", "", "Ticket", "", "", "sales", "", "", ""],
                "Product",
                "empty",
            ),
            (
                &["P", "A", "", "Voucher", "", "", "sales", "", "", ""],
                "Type",
                "Ticket, Add-on or Membership",
            ),
            (
                &["P", "A", "", "Ticket", "Timed", "", "sales", "", "", ""],
                "Slot group",
                "slot group",
            ),
            (
                &["P", "A", "", "Ticket", "Sometimes", "", "sales", "", "", ""],
                "Admission",
                "Timed, Dated or None",
            ),
            (
                &["P", "A", "", "Ticket", "", "", "", "", "", ""],
                "Tax rule ID",
                "empty",
            ),
            (
                &["P", "A", "", "Membership", "", "", "exempt", "", "", ""],
                "Membership level",
                "level",
            ),
            (
                &[
                    "P",
                    "A",
                    "",
                    "Membership",
                    "",
                    "",
                    "exempt",
                    "Gold",
                    "lots",
                    "",
                ],
                "Guest allowance",
                "number of guests",
            ),
            (
                &["P", "A", "", "Ticket", "", "", "sales", "", "", "maybe"],
                "Active",
                "yes or no",
            ),
        ];
        for (cells, column, why) in cases {
            let problems = product(cells).unwrap_err();
            assert!(
                problems.iter().any(|(c, r)| c == column && r.contains(why)),
                "{cells:?}: {problems:?}"
            );
        }
    }

    fn price(product: &str, category: Option<&str>, non_member: i64, member: i64) -> PriceRow {
        PriceRow {
            product_id: product.into(),
            category: category.map(Into::into),
            non_member,
            member,
            guest: None,
        }
    }

    #[test]
    fn a_product_takes_prices_per_category_or_one_price() {
        let timed = product(&[
            "TIMED",
            "Timed entry",
            "",
            "Ticket",
            "Timed",
            "zoo",
            "sales",
            "",
            "",
            "",
        ])
        .unwrap();
        let adult = price("TIMED", Some("adult"), 2400, 0);
        let child = price("TIMED", Some("child"), 1400, 0);
        let dto = assemble(&timed, &[&adult, &child]).unwrap();
        assert_eq!((dto.non_member_price, dto.member_price), (2400, 0));
        let sale = SaleDto::read(&dto.sale.unwrap().to_string()).unwrap();
        assert_eq!(sale.prices.len(), 2);
        assert_eq!(sale.prices[1].category, "child");
        assert!(sale.flat.is_none());

        let flat = price("TIMED", None, 800, 600);
        let dto = assemble(&timed, &[&flat]).unwrap();
        let sale = SaleDto::read(&dto.sale.unwrap().to_string()).unwrap();
        assert_eq!(
            sale.flat.map(|f| (f.non_member, f.member)),
            Some((800, 600))
        );

        for (prices, why) in [
            (vec![], "no price"),
            (vec![&adult, &adult], "two prices"),
            (vec![&adult, &flat], "one or the other"),
            (vec![&flat, &flat], "one or the other"),
        ] {
            let err = assemble(&timed, &prices).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn slot_rows_and_their_problems() {
        let m = mapping();
        let header = [
            "Slot group",
            "Date",
            "Start time",
            "End time",
            "Capacity",
            "Sales close",
        ];
        let layout =
            CatalogLayout::slots(&header, &m.catalog.slots, Some("%m/%d/%Y".into())).unwrap();
        let s = layout
            .read(&["zoo", "12/24/2026", "9:00 AM", "9:30 AM", "150", ""])
            .unwrap();
        assert_eq!(s.slot_id, "zoo@2026-12-24T09:00");
        let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        assert_eq!(s.start, day.and_hms_opt(9, 0, 0).unwrap());
        assert_eq!(s.end, day.and_hms_opt(9, 30, 0).unwrap());
        assert_eq!(s.sales_close, s.start);
        assert_eq!(s.capacity, 150);
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["", "2026-12-24", "09:00", "09:30", "1", ""],
                "Slot group",
                "empty",
            ),
            (
                &["a@b", "2026-12-24", "09:00", "09:30", "1", ""],
                "Slot group",
                "@",
            ),
            (
                &["zoo", "Christmas", "09:00", "09:30", "1", ""],
                "Date",
                "not a date",
            ),
            (
                &["zoo", "2026-12-24", "nine", "09:30", "1", ""],
                "Start time",
                "time of day",
            ),
            (
                &["zoo", "2026-12-24", "09:30", "09:00", "1", ""],
                "End time",
                "ends before",
            ),
            (
                &["zoo", "2026-12-24", "09:00", "09:30", "many", ""],
                "Capacity",
                "number of visitors",
            ),
            (
                &["zoo", "2026-12-24", "09:00", "09:30", "", ""],
                "Capacity",
                "empty",
            ),
        ];
        for (cells, column, why) in cases {
            let problems = layout.read(cells).unwrap_err();
            assert!(
                problems
                    .iter()
                    .any(|p| p.column == *column && p.reason.contains(why)),
                "{cells:?}: {problems:?}"
            );
        }
        // A file without a required column is refused as a whole.
        let missing = CatalogLayout::slots(&header[..4], &m.catalog.slots, None)
            .err()
            .unwrap();
        assert_eq!(missing[0].column, "Capacity");
    }

    #[test]
    fn category_and_tax_rule_rows() {
        let m = mapping();
        let layout = CatalogLayout::categories(
            &[
                "Category ID",
                "Category",
                "Category (Spanish)",
                "Sort order",
            ],
            &m.catalog.categories,
            None,
        )
        .unwrap();
        let c = layout
            .read(&["child", "Child (3–17)", "Niño (3–17)", "2"])
            .unwrap();
        assert_eq!(
            (c.category_id.as_str(), c.names.es.as_str(), c.sort),
            ("child", "Niño (3–17)", 2)
        );
        assert!(layout.read(&["child", "", "", ""]).is_err());
        let layout = CatalogLayout::tax_rules(
            &["Tax rule ID", "Tax rule", "Rate (%)", "Included in price"],
            &m.catalog.tax_rules,
            None,
        )
        .unwrap();
        let t = layout.read(&["sales", "Sales tax", "8.25", "No"]).unwrap();
        assert_eq!((t.rate_bp, t.inclusive), (825, false));
        let problems = layout.read(&["vat", "VAT", "twenty", ""]).unwrap_err();
        assert_eq!(problems[0].column, "Rate (%)");
    }
}
