use chrono::TimeZone;

use super::*;
use crate::domain::ProductKind;
use crate::kiosk::catalog::{Category, CategoryPrice, Slot, Text};

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 14, 30, 0).unwrap()
}

fn now_local() -> NaiveDateTime {
    local("2026-12-06 09:30")
}

/// (category, non-member, member, guest)
type Prices = &'static [(&'static str, MinorUnits, MinorUnits, Option<MinorUnits>)];

const ADMISSION: Prices = &[
    ("adult", 2400, 0, Some(1200)),
    ("child", 1400, 0, Some(700)),
    ("senior", 1900, 0, Some(950)),
    ("under3", 0, 0, Some(0)),
];

fn product(id: &str, kind: ProductKind, admission: Admission, tax: &str) -> CatalogProduct {
    CatalogProduct {
        id: id.into(),
        kind,
        names: Text::new(id, ""),
        admission,
        prices: Vec::new(),
        flat: None,
        tax_rule: tax.into(),
        currency: "USD".into(),
        sale_from: None,
        sale_until: None,
        member_benefit: false,
        ticket_uses: 0,
        membership: None,
        sort: 0,
    }
}

fn admission(id: &str, admission: Admission, tax: &str) -> CatalogProduct {
    CatalogProduct {
        prices: ADMISSION
            .iter()
            .map(|&(category, non_member, member, guest)| CategoryPrice {
                category: category.into(),
                non_member,
                member,
                guest,
            })
            .collect(),
        member_benefit: true,
        ..product(id, ProductKind::Ticket, admission, tax)
    }
}

fn flat(
    id: &str,
    kind: ProductKind,
    non_member: MinorUnits,
    member: MinorUnits,
    tax: &str,
) -> CatalogProduct {
    CatalogProduct {
        flat: Some((non_member, member)),
        ..product(id, kind, Admission::None, tax)
    }
}

fn timed() -> Admission {
    Admission::Timed {
        slot_group: "zoo".into(),
    }
}

fn catalog() -> Catalog {
    let mut day = admission("DAY", Admission::Dated, "sales");
    day.sale_until = Some(Utc.with_ymd_and_hms(2026, 12, 6, 14, 0, 0).unwrap());
    let mut euro = flat("EURO-ADDON", ProductKind::Addon, 500, 500, "sales");
    euro.currency = "EUR".into();
    let mut bad = flat("BAD", ProductKind::Addon, -1, 0, "sales");
    bad.sort = 9;
    let products = [
        admission("TIMED", timed(), "sales"),
        admission("TIMED-VAT", timed(), "vat20"),
        admission("TIMED-INCL", timed(), "incl825"),
        day,
        flat("CAROUSEL", ProductKind::Addon, 300, 300, "sales"),
        flat("PARKING", ProductKind::Addon, 1000, 0, "sales"),
        flat("MEM-FAM", ProductKind::Membership, 12500, 11500, "exempt"),
        flat(
            "HUGE",
            ProductKind::Addon,
            i64::MAX / 2,
            i64::MAX / 2,
            "sales",
        ),
        flat("NO-TAX-RULE", ProductKind::Addon, 100, 100, "missing"),
        euro,
        bad,
    ];
    let categories = [("adult", 1), ("child", 2), ("senior", 3), ("under3", 4)];
    let rules = [
        ("sales", 825, false),
        ("vat20", 2000, true),
        ("incl825", 825, true),
        ("exempt", 0, false),
    ];
    let slots = [
        ("zoo@09:00", "09:00", "zoo"),
        ("zoo@10:00", "10:00", "zoo"),
        ("giraffe@10:00", "10:00", "giraffe"),
    ];
    Catalog {
        products: products.into_iter().map(|p| (p.id.clone(), p)).collect(),
        categories: categories
            .into_iter()
            .map(|(id, sort)| {
                let c = Category {
                    id: id.into(),
                    names: Text::new(id, ""),
                    sort,
                };
                (c.id.clone(), c)
            })
            .collect(),
        tax_rules: rules
            .into_iter()
            .map(|(id, rate_bp, inclusive)| {
                let r = TaxRule {
                    id: id.into(),
                    names: Text::new(id, ""),
                    rate_bp,
                    inclusive,
                };
                (r.id.clone(), r)
            })
            .collect(),
        slots: slots
            .into_iter()
            .map(|(id, start, group)| {
                let start = local(&format!("2026-12-06 {start}"));
                let s = Slot {
                    id: id.into(),
                    group: group.into(),
                    start,
                    end: start + chrono::Duration::minutes(30),
                    capacity: 150,
                    sales_close: start,
                };
                (s.id.clone(), s)
            })
            .collect(),
    }
}

/// A cart line: `product`, then `category[@slot]×quantity` or `×quantity`.
fn line(product: &str, what: &str) -> CartLine {
    let (head, quantity) = what.split_once('×').unwrap();
    let (category, slot) = match head.split_once('@') {
        Some((c, s)) => (c, Some(s.to_owned())),
        None => (head, None),
    };
    CartLine {
        product: product.into(),
        category: (!category.is_empty()).then(|| category.to_owned()),
        slot,
        quantity: quantity.parse().unwrap(),
    }
}

const FAMILY: Option<MemberBenefit> = Some(MemberBenefit {
    covered: 2,
    guests: 2,
});
const INDIVIDUAL: Option<MemberBenefit> = Some(MemberBenefit {
    covered: 1,
    guests: 0,
});
const ONE_AND_A_GUEST: Option<MemberBenefit> = Some(MemberBenefit {
    covered: 1,
    guests: 1,
});

/// The pricing rules, one basket per row: (what it shows, basket, membership, the lines as
/// `product category kind quantity unit tax gross`, the order's gross and savings).
#[test]
fn baskets_are_priced_per_line_with_member_and_guest_prices() {
    type Case = (
        &'static str,
        Vec<CartLine>,
        Option<MemberBenefit>,
        &'static [&'static str],
        MinorUnits,
        MinorUnits,
    );
    let z = "zoo@10:00";
    let cases: Vec<Case> = vec![
        (
            "a non-member pays the non-member price; tax is added per line, half up",
            vec![
                line("TIMED", &format!("adult@{z}×2")),
                line("TIMED", &format!("child@{z}×1")),
            ],
            None,
            &[
                "TIMED adult non_member 2 2400 396 5196",
                "TIMED child non_member 1 1400 116 1516",
            ],
            6712,
            0,
        ),
        (
            "a family membership covers two adults; the child is its guest",
            vec![
                line("TIMED", &format!("adult@{z}×2")),
                line("TIMED", &format!("child@{z}×1")),
            ],
            FAMILY,
            &[
                "TIMED adult member 2 0 0 0",
                "TIMED child guest 1 700 58 758",
            ],
            758,
            2400 * 2 + 700,
        ),
        (
            "an individual membership covers the most expensive unit; no guests",
            vec![
                line("TIMED", &format!("adult@{z}×2")),
                line("TIMED", &format!("child@{z}×1")),
            ],
            INDIVIDUAL,
            &[
                "TIMED adult member 1 0 0 0",
                "TIMED adult non_member 1 2400 198 2598",
                "TIMED child non_member 1 1400 116 1516",
            ],
            4114,
            2400,
        ),
        (
            "covered first, then guests, then everyone else, most expensive first",
            vec![
                line("TIMED", &format!("child@{z}×1")),
                line("TIMED", &format!("adult@{z}×2")),
            ],
            ONE_AND_A_GUEST,
            &[
                "TIMED child non_member 1 1400 116 1516",
                "TIMED adult member 1 0 0 0",
                "TIMED adult guest 1 1200 99 1299",
            ],
            2815,
            2400 + 1200,
        ),
        (
            "tax is rounded once per line, not per unit (3 × 115.5 would be 348)",
            vec![line("TIMED", &format!("child@{z}×3"))],
            None,
            &["TIMED child non_member 3 1400 347 4547"],
            4547,
            0,
        ),
        (
            "free admissions are lines of zero",
            vec![line("TIMED", &format!("under3@{z}×2"))],
            None,
            &["TIMED under3 non_member 2 0 0 0"],
            0,
            0,
        ),
        (
            "inclusive tax is taken out of the gross price, half up (316.67)",
            vec![line("TIMED-VAT", &format!("senior@{z}×1"))],
            None,
            &["TIMED-VAT senior non_member 1 1900 317 1900"],
            1900,
            0,
        ),
        (
            "inclusive tax on a line of two",
            vec![line("TIMED-VAT", &format!("adult@{z}×2"))],
            None,
            &["TIMED-VAT adult non_member 2 2400 800 4800"],
            4800,
            0,
        ),
        (
            "inclusive 8.25 % (182.91)",
            vec![line("TIMED-INCL", &format!("adult@{z}×1"))],
            None,
            &["TIMED-INCL adult non_member 1 2400 183 2400"],
            2400,
            0,
        ),
        (
            "a membership bought by a non-member, tax exempt",
            vec![line("MEM-FAM", "×1")],
            None,
            &["MEM-FAM - non_member 1 12500 0 12500"],
            12500,
            0,
        ),
        (
            "a renewal by a member costs the member price",
            vec![line("MEM-FAM", "×1")],
            FAMILY,
            &["MEM-FAM - member 1 11500 0 11500"],
            11500,
            1000,
        ),
        (
            "add-ons take the member price; they use no allowance",
            vec![
                line("CAROUSEL", "×1"),
                line("PARKING", "×1"),
                line("TIMED", &format!("adult@{z}×1")),
            ],
            INDIVIDUAL,
            &[
                "CAROUSEL - member 1 300 25 325",
                "PARKING - member 1 0 0 0",
                "TIMED adult member 1 0 0 0",
            ],
            325,
            1000 + 2400,
        ),
        (
            "a line of none is left out",
            vec![
                line("TIMED", &format!("adult@{z}×1")),
                line("CAROUSEL", "×0"),
            ],
            None,
            &["TIMED adult non_member 1 2400 198 2598"],
            2598,
            0,
        ),
    ];
    for (what, cart, member, want, gross, savings) in cases {
        let q = quote(&cart, &catalog(), member, now(), now_local())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let got: Vec<String> = q
            .lines
            .iter()
            .map(|l| {
                let kind = serde_json::to_value(l.kind).unwrap();
                format!(
                    "{} {} {} {} {} {} {}",
                    l.product,
                    l.category.as_deref().unwrap_or("-"),
                    kind.as_str().unwrap(),
                    l.quantity,
                    l.unit,
                    l.tax,
                    l.gross
                )
            })
            .collect();
        assert_eq!(got, want, "{what}");
        assert_eq!(q.gross, gross, "{what}");
        assert_eq!(q.member_savings, savings, "{what}");
        assert_eq!(q.net + q.tax, q.gross, "{what}");
        assert_eq!(
            q.gross,
            q.lines.iter().map(|l| l.gross).sum::<MinorUnits>(),
            "{what}"
        );
        assert_eq!(q.currency, "USD");
    }
}

#[test]
fn baskets_the_catalog_cannot_price_are_refused_with_the_reason() {
    let z = "zoo@10:00";
    let unknown_category = |product: &str, category: Option<&str>| PriceError::UnknownCategory {
        product: product.into(),
        category: category.map(str::to_owned),
    };
    let wrong_slot = |slot: Option<&str>| PriceError::WrongSlot {
        product: "TIMED".into(),
        group: "zoo".into(),
        slot: slot.map(str::to_owned),
    };
    let cases: Vec<(Vec<CartLine>, PriceError)> = vec![
        (vec![], PriceError::Empty),
        (vec![line("CAROUSEL", "×0")], PriceError::Empty),
        (
            vec![line("GIFT", "×1")],
            PriceError::UnknownProduct("GIFT".into()),
        ),
        (
            vec![line("DAY", "adult×1")],
            PriceError::NotOnSale("DAY".into()),
        ),
        (
            vec![line("TIMED", &format!("student@{z}×1"))],
            unknown_category("TIMED", Some("student")),
        ),
        (vec![line("TIMED", "×1")], unknown_category("TIMED", None)),
        (
            vec![line("CAROUSEL", "adult×1")],
            unknown_category("CAROUSEL", Some("adult")),
        ),
        (vec![line("TIMED", "adult×1")], wrong_slot(None)),
        (
            vec![line("TIMED", "adult@zoo@11:00×1")],
            wrong_slot(Some("zoo@11:00")),
        ),
        (
            vec![line("TIMED", "adult@giraffe@10:00×1")],
            wrong_slot(Some("giraffe@10:00")),
        ),
        (
            vec![line("TIMED", "adult@zoo@09:00×1")],
            PriceError::SlotClosed("zoo@09:00".into()),
        ),
        (
            vec![line("CAROUSEL", &format!("@{z}×1"))],
            PriceError::NoSlotTaken("CAROUSEL".into()),
        ),
        (
            vec![line("CAROUSEL", "×60"), line("PARKING", "×40")],
            PriceError::TooMany,
        ),
        (
            vec![line("CAROUSEL", "×1"), line("EURO-ADDON", "×1")],
            PriceError::MixedCurrencies,
        ),
        (vec![line("HUGE", "×4")], PriceError::Overflow),
        (
            vec![line("NO-TAX-RULE", "×1")],
            PriceError::UnknownTaxRule("missing".into()),
        ),
        (
            vec![line("BAD", "×1")],
            PriceError::NegativePrice("BAD".into()),
        ),
    ];
    for (cart, want) in cases {
        assert_eq!(
            quote(&cart, &catalog(), None, now(), now_local()),
            Err(want.clone()),
            "{cart:?}"
        );
    }
}

#[test]
fn a_membership_benefits_a_visit_only_while_it_is_active_and_in_its_term() {
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let membership = |status, members: usize| Membership {
        membership_id: "M1".into(),
        level: "Family".into(),
        status,
        start: day(1),
        expiry: day(10),
        members: (0..members).map(|i| format!("8-1000{i}")).collect(),
        guest_allowance: 2,
    };
    let family = Some(MemberBenefit {
        covered: 2,
        guests: 2,
    });
    let cases = [
        (MembershipStatus::Active, 2, day(1), family),
        (MembershipStatus::Active, 2, day(10), family),
        (MembershipStatus::Active, 2, day(11), None),
        (
            MembershipStatus::Active,
            0,
            day(5),
            Some(MemberBenefit {
                covered: 1,
                guests: 2,
            }),
        ),
        (MembershipStatus::Lapsed, 2, day(5), None),
        (MembershipStatus::Pending, 2, day(5), None),
        (MembershipStatus::Cancelled, 2, day(5), None),
    ];
    for (status, members, visit, want) in cases {
        assert_eq!(
            MemberBenefit::for_visit(&membership(status, members), visit),
            want,
            "{status:?} {visit}"
        );
    }
}

#[test]
fn line_tax_rounds_half_up_and_keeps_net_plus_tax_equal_to_gross() {
    let cases = [
        // (amount, rate, inclusive) → (net, tax, gross)
        ((1400, 825, false), (1400, 116, 1516)),
        ((1000, 825, false), (1000, 83, 1083)),
        ((999, 825, false), (999, 82, 1081)),
        ((1, 5000, false), (1, 1, 2)),
        ((0, 825, false), (0, 0, 0)),
        ((1900, 2000, true), (1583, 317, 1900)),
        ((1083, 825, true), (1000, 83, 1083)),
        ((100, 0, true), (100, 0, 100)),
    ];
    for ((amount, rate, inclusive), want) in cases {
        assert_eq!(
            line_tax(amount, rate, inclusive),
            Ok(want),
            "{amount} {rate} {inclusive}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn any_line_splits_into_net_and_tax_that_add_up(amount in 0i64..10_000_000_000, rate in 0u32..10_000, inclusive: bool) {
        let (net, tax, gross) = line_tax(amount, rate, inclusive).unwrap();
        proptest::prop_assert_eq!(net + tax, gross);
        proptest::prop_assert!(tax >= 0 && net >= 0);
        proptest::prop_assert_eq!(if inclusive { gross } else { net }, amount);
    }
}
